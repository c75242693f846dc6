/** The enrich stage: orientation, device inventory, app catalogue, peer networks. */
export { Enricher, UNKNOWN_ENDPOINT, type EnricherConfig, type EnricherOptions } from './enricher.js';
export {
  DEFAULT_LOCAL_NETWORKS,
  LocalNetworks,
  ORIENTATION_DIRECTION,
  Orientation,
  deviceIsDst,
  isCloudSource,
  orient,
} from './orientation.js';
export { DeviceInventory, InventoryError, macKey, parseMac, type DeviceInfo } from './inventory.js';
export { AppCatalogue, AppRuleError, BUILTIN_APPS, PROTOCOL_LABELS, sanitizeAppName } from './app-catalogue.js';
export { InvalidCidrError, PrefixTable, isIPv4Mapped, parsePrefix, type ParsedPrefix } from './prefix-table.js';
export { AddressTextCache, NumberTextCache, DEFAULT_ADDRESS_CACHE_SLOTS } from './address-text.js';
