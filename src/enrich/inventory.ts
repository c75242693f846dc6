/**
 * The device inventory: address, CIDR or MAC -> device name, type, site.
 *
 * Precedence for one end of a flow: an exact address entry, then a MAC entry (a DHCP device keeps
 * its name when its address changes), then the longest CIDR entry containing the address.
 */
import type { InventoryEntry } from '../config/types.js';
import { InvalidCidrError, PrefixTable, parsePrefix } from './prefix-table.js';

export interface DeviceInfo {
  name: string;
  /** '' when the entry has none. */
  type: string;
  site: string;
  /** The entry's `match` text as configured. */
  match: string;
  kind: 'address' | 'network' | 'mac';
}

export class InventoryError extends Error {
  constructor(
    readonly index: number,
    readonly match: string,
    reason: string,
  ) {
    super(`inventory[${index}] (match "${match}"): ${reason}`);
    this.name = 'InventoryError';
  }
}

const MAC_COLON = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;
const MAC_DOTTED = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/i;
const MAC_BARE = /^[0-9a-f]{12}$/i;

/**
 * Parses aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff (any case) into the
 * 48-bit number used as the MAC key; undefined when the text is not a MAC address.
 */
export function parseMac(text: string): number | undefined {
  const t = text.trim();
  let hex: string;
  const colon = MAC_COLON.exec(t);
  if (colon) {
    // One separator style per address: "aa:bb-cc..." is a typo, not a MAC.
    if (new Set(t.replace(/[0-9a-f]/gi, '')).size !== 1) return undefined;
    hex = colon.slice(1).join('');
  } else {
    const dotted = MAC_DOTTED.exec(t);
    if (dotted) hex = dotted.slice(1).join('');
    else if (MAC_BARE.test(t)) hex = t;
    else return undefined;
  }
  return parseInt(hex, 16);
}

/** The 48-bit key of a 6-byte MAC buffer, without allocating. */
export function macKey(b: Uint8Array): number {
  return (b[0] * 0x10000 + ((b[1] << 8) | b[2])) * 0x1000000 + ((b[3] << 16) | (b[4] << 8) | b[5]);
}

function optionalText(v: unknown): string {
  return typeof v === 'string' ? v.trim() : '';
}

export class DeviceInventory {
  private readonly byAddress = new PrefixTable<DeviceInfo>();
  /**
   * MAC entries by the MAC's upper 24 bits, then its lower 24 bits: both halves are small integers,
   * so a lookup boxes nothing (a 48-bit key is a heap number, allocated on every Map.get).
   */
  private readonly byMac = new Map<number, Map<number, DeviceInfo>>();
  readonly entries: readonly DeviceInfo[];

  /** Throws InventoryError naming the entry for an unparseable match, an empty name or a duplicate. */
  constructor(entries: readonly InventoryEntry[] = []) {
    const seen = new Map<string, string>();
    const infos: DeviceInfo[] = [];
    entries.forEach((e, index) => {
      const match = typeof e?.match === 'string' ? e.match : String(e?.match);
      const name = optionalText(e?.name);
      if (!name) throw new InventoryError(index, match, 'name is empty');
      const mac = parseMac(match);
      if (mac !== undefined) {
        // All-zero MACs are what exporters send when they have none (and what lo carries).
        if (mac === 0) throw new InventoryError(index, match, 'the all-zero MAC address cannot identify a device');
        const key = `mac ${mac}`;
        const earlier = seen.get(key);
        if (earlier !== undefined) throw new InventoryError(index, match, `same MAC as the earlier entry "${earlier}"`);
        seen.set(key, match);
        const info: DeviceInfo = { name, type: optionalText(e.type), site: optionalText(e.site), match, kind: 'mac' };
        const hi = Math.floor(mac / 0x1000000);
        let group = this.byMac.get(hi);
        if (group === undefined) this.byMac.set(hi, (group = new Map()));
        group.set(mac % 0x1000000, info);
        infos.push(info);
        return;
      }
      let p;
      try {
        p = parsePrefix(match);
      } catch (err) {
        const why = err instanceof InvalidCidrError ? err.message : String(err);
        throw new InventoryError(index, match, `not an IP address, CIDR or MAC address (${why})`);
      }
      const key = `${p.af} ${p.length} ${p.bytes.join('.')}`;
      const earlier = seen.get(key);
      if (earlier !== undefined) throw new InventoryError(index, match, `same address or network as the earlier entry "${earlier}"`);
      seen.set(key, match);
      const info: DeviceInfo = {
        name,
        type: optionalText(e.type),
        site: optionalText(e.site),
        match,
        kind: p.host ? 'address' : 'network',
      };
      this.byAddress.insertPrefix(p.af, p.bytes, p.length, info);
      infos.push(info);
    });
    this.entries = infos;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Address and CIDR entries only: the exact address or the longest network containing it. */
  lookupAddress(af: number, addr: Uint8Array): DeviceInfo | undefined {
    return this.byAddress.lookup(af, addr);
  }

  lookupMac(mac: Uint8Array): DeviceInfo | undefined {
    if (this.byMac.size === 0) return undefined;
    // The all-zero MAC (no MAC) is never an entry: the constructor refuses it.
    return this.byMac.get((mac[0] << 16) | (mac[1] << 8) | mac[2])?.get((mac[3] << 16) | (mac[4] << 8) | mac[5]);
  }

  /**
   * The device at one end of a flow: exact address, then MAC (when `mac` is given), then CIDR.
   * Pass the MAC only when it belongs to that end (see the enricher: never for a remote end,
   * whose MAC in a routed flow is the router's).
   */
  lookup(af: number, addr: Uint8Array, mac?: Uint8Array): DeviceInfo | undefined {
    const byAddr = this.byAddress.lookup(af, addr);
    if (byAddr !== undefined && byAddr.kind === 'address') return byAddr;
    if (mac !== undefined) {
      const byMac = this.lookupMac(mac);
      if (byMac !== undefined) return byMac;
    }
    return byAddr;
  }
}
