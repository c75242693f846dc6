/**
 * The enrich stage: one normalized FlowRecord in, every rollup label filled in place.
 *
 * Built once from the config; `enrich` allocates nothing on its own (prefix lookups walk typed
 * arrays, names are precomputed strings) except when an address or interface number is seen for
 * the first time since its cache slot was last reused, and then only its text.
 */
import type { FlowgaugeConfig, PeerNetwork } from '../config/types.js';
import { Direction, type FlowRecord } from '../record.js';
import type { FlowLabels } from '../rollup/types.js';
import { AddressTextCache, DEFAULT_ADDRESS_CACHE_SLOTS, NumberTextCache } from './address-text.js';
import { AppCatalogue, EMPTY_APP_CODE, PROTOCOL_LABELS } from './app-catalogue.js';
import { DeviceInventory, type DeviceInfo } from './inventory.js';
import { ORIENTATION_DIRECTION, LocalNetworks, deviceIsDst, isCloudSource, orient } from './orientation.js';
import { InvalidCidrError, PrefixTable, parsePrefix } from './prefix-table.js';

export type EnricherConfig = Pick<FlowgaugeConfig, 'localNetworks' | 'inventory' | 'apps' | 'peerNetworks'>;

export interface EnricherOptions {
  /** Address text cache slots per address family (rounded up to a power of two). */
  addressCacheSlots?: number;
}

/** Label for the device and peer of a record without IP addresses. */
export const UNKNOWN_ENDPOINT = 'unknown';

const ACTION_LABELS: readonly string[] = ['', 'accept', 'reject'];

function buildPeerNetworks(networks: readonly PeerNetwork[]): PrefixTable<string> {
  const table = new PrefixTable<string>();
  const seen = new Map<string, string>();
  networks.forEach((n, i) => {
    const name = typeof n?.name === 'string' ? n.name.trim() : '';
    const match = typeof n?.match === 'string' ? n.match : String(n?.match);
    if (!name) throw new Error(`peer_networks[${i}] (match "${match}"): name is empty`);
    let p;
    try {
      p = parsePrefix(match);
    } catch (err) {
      const why = err instanceof InvalidCidrError ? err.message : String(err);
      throw new Error(`peer_networks[${i}] ("${name}"): ${why}`);
    }
    const key = `${p.af} ${p.length} ${p.bytes.join('.')}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new Error(`peer_networks[${i}] ("${name}"): same network as the earlier entry "${earlier}"`);
    seen.set(key, name);
    table.insertPrefix(p.af, p.bytes, p.length, name);
  });
  return table;
}

export class Enricher {
  readonly localNetworks: LocalNetworks;
  readonly inventory: DeviceInventory;
  readonly catalogue: AppCatalogue;
  readonly peerNetworks: PrefixTable<string>;
  readonly addressText: AddressTextCache;
  private readonly interfaceText = new NumberTextCache();
  /** Whether the inventory has address/CIDR entries, and MAC entries: without them their lookups are skipped. */
  private readonly inventoryHasAddresses: boolean;
  private readonly inventoryHasMacs: boolean;

  /** Throws an error naming the config key and entry when a network, inventory entry or app rule is invalid. */
  constructor(config: EnricherConfig, options: EnricherOptions = {}) {
    this.localNetworks = new LocalNetworks(config.localNetworks ?? []);
    this.inventory = new DeviceInventory(config.inventory ?? []);
    this.inventoryHasAddresses = this.inventory.entries.some((e) => e.kind !== 'mac');
    this.inventoryHasMacs = this.inventory.entries.some((e) => e.kind === 'mac');
    this.catalogue = new AppCatalogue(config.apps ?? []);
    this.peerNetworks = buildPeerNetworks(config.peerNetworks ?? []);
    this.addressText = new AddressTextCache(options.addressCacheSlots ?? DEFAULT_ADDRESS_CACHE_SLOTS);
  }

  /** Local = inside local_networks or covered by an inventory address/CIDR entry. */
  isLocal(af: number, addr: Uint8Array): boolean {
    return this.inventory.lookupAddress(af, addr) !== undefined || this.localNetworks.contains(af, addr);
  }

  /** The app label of a record: from the exporter's name, the ports or the protocol ('' for none). */
  appLabel(r: FlowRecord): string {
    const proto = r.protocol;
    return r.af === 0 && proto === 0 ? '' : this.catalogue.appFor(proto, r.srcPort, r.dstPort, r.appName);
  }

  /**
   * appLabel() as a number when it follows from the protocol and ports alone (AppCatalogue
   * lookupCode); -1 when the exporter named the application, whose label is then only text.
   */
  appCode(r: FlowRecord): number {
    const proto = r.protocol;
    if (r.af === 0 && proto === 0) return EMPTY_APP_CODE;
    if (r.appName !== '') return -1;
    return this.catalogue.lookupCode(proto, r.srcPort, r.dstPort);
  }

  enrich(r: FlowRecord, out: FlowLabels): void {
    out.exporter = r.exporter;
    out.source = r.sourceKind;
    const proto = r.protocol;
    out.protocol = proto >= 0 && proto <= 255 ? PROTOCOL_LABELS[proto] : '';
    out.app = this.appLabel(r);
    out.action = ACTION_LABELS[r.action] ?? '';
    out.input_interface = r.inputIf > 0 ? this.interfaceText.text(r.inputIf) : '';
    out.output_interface = r.outputIf > 0 ? this.interfaceText.text(r.outputIf) : '';
    const meta = r.meta;
    if (meta === undefined) {
      out.region = '';
      out.vpc = '';
      out.zone = '';
    } else {
      out.region = meta.region ?? '';
      out.vpc = meta.vpc ?? '';
      out.zone = meta.zone ?? '';
    }

    const af = r.af;
    if (af !== 4 && af !== 6) {
      out.device = UNKNOWN_ENDPOINT;
      out.peer = UNKNOWN_ENDPOINT;
      out.direction = '';
      out.site = '';
      out.type = '';
      return;
    }

    const src = r.src;
    const dst = r.dst;
    let srcEntry: DeviceInfo | undefined;
    let dstEntry: DeviceInfo | undefined;
    let srcLocal: boolean;
    let dstLocal: boolean;
    if (this.inventoryHasAddresses) {
      const inv = this.inventory;
      srcEntry = inv.lookupAddress(af, src);
      dstEntry = inv.lookupAddress(af, dst);
      srcLocal = srcEntry !== undefined || this.localNetworks.contains(af, src);
      dstLocal = dstEntry !== undefined || this.localNetworks.contains(af, dst);
    } else {
      srcLocal = this.localNetworks.contains(af, src);
      dstLocal = this.localNetworks.contains(af, dst);
    }
    const reported = isCloudSource(r.sourceKind) ? r.direction : Direction.unknown;
    const o = orient(srcLocal, dstLocal, reported);
    out.direction = ORIENTATION_DIRECTION[o];

    let devAddr: Uint8Array, devEntry: DeviceInfo | undefined;
    let peerAddr: Uint8Array, peerEntry: DeviceInfo | undefined;
    if (deviceIsDst(o)) {
      devAddr = dst;
      devEntry = dstEntry;
      peerAddr = src;
      peerEntry = srcEntry;
      if (this.inventoryHasMacs) {
        devEntry = this.withMac(dstEntry, dstLocal, r.hasDstMac, r.dstMac);
        peerEntry = this.withMac(srcEntry, srcLocal, r.hasSrcMac, r.srcMac);
      }
    } else {
      devAddr = src;
      devEntry = srcEntry;
      peerAddr = dst;
      peerEntry = dstEntry;
      if (this.inventoryHasMacs) {
        devEntry = this.withMac(srcEntry, srcLocal, r.hasSrcMac, r.srcMac);
        peerEntry = this.withMac(dstEntry, dstLocal, r.hasDstMac, r.dstMac);
      }
    }

    if (devEntry !== undefined) {
      out.device = devEntry.name;
      out.site = devEntry.site;
      out.type = devEntry.type;
    } else {
      out.device = this.addressText.text(af, devAddr);
      out.site = '';
      out.type = '';
    }
    // peerNetworks is public and could gain entries later, so its size is read per record.
    const peerNet = this.peerNetworks.size === 0 ? undefined : this.peerNetworks.lookup(af, peerAddr);
    out.peer = peerNet ?? (peerEntry !== undefined ? peerEntry.name : this.addressText.text(af, peerAddr));
  }

  /**
   * Inventory entry for one end: the exact-address entry, else the MAC entry, else the CIDR one.
   * The MAC counts only for a local end: in a routed flow the far end's MAC is the router's, and
   * the router's inventory name must not become the name of every remote host.
   */
  private withMac(byAddr: DeviceInfo | undefined, local: boolean, hasMac: boolean, mac: Uint8Array): DeviceInfo | undefined {
    if (!hasMac || !local || byAddr?.kind === 'address') return byAddr;
    return this.inventory.lookupMac(mac) ?? byAddr;
  }
}
