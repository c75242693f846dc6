/**
 * Longest-prefix match over the 16-byte address buffers of FlowRecord.
 *
 * One binary trie per family, stored in flat Int32Arrays (no node objects), so a lookup walks at
 * most 32 / 128 array slots and allocates nothing. It stops at the first missing child, which for
 * the usual handful of configured networks means a few steps. Measured against one hash map per
 * configured prefix length (IPv4 keys as numbers, longest length first): the trie was about twice
 * as fast with the default local networks and about eight times as fast with 2000 prefixes of
 * mixed lengths, because the maps pay one probe per distinct length on every miss.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up in the IPv4 trie, and IPv6 prefixes
 * inside ::ffff:0:0/96 are stored there too, so either spelling of a network matches either
 * spelling of an address.
 */
import { parseAddress } from '../util/address.js';

export class InvalidCidrError extends Error {
  constructor(
    readonly cidr: string,
    reason: string,
  ) {
    super(`invalid CIDR "${cidr}": ${reason}`);
    this.name = 'InvalidCidrError';
  }
}

export interface ParsedPrefix {
  af: 4 | 6;
  /** 16 bytes, host bits cleared; IPv4 in bytes 0..3. */
  bytes: Uint8Array;
  length: number;
  /** True when the text was a bare address (a /32 or /128). */
  host: boolean;
}

/**
 * Parses "a.b.c.d/n", "x:y::/n" or a bare address (host prefix). Host bits below the prefix
 * length are cleared rather than rejected: "192.168.1.5/24" means 192.168.1.0/24.
 */
export function parsePrefix(cidr: string): ParsedPrefix {
  if (typeof cidr !== 'string') throw new InvalidCidrError(String(cidr), 'not a string');
  const text = cidr.trim();
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const bytes = new Uint8Array(16);
  const af = parseAddress(addrText, bytes);
  if (af === 0) throw new InvalidCidrError(cidr, `"${addrText}" is not an IPv4 or IPv6 address`);
  const max = af === 4 ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) throw new InvalidCidrError(cidr, `prefix length "${lenText}" is not a number`);
    length = Number(lenText);
    if (length > max) throw new InvalidCidrError(cidr, `prefix length ${length} exceeds ${max} for IPv${af}`);
  }
  maskBytes(bytes, length);
  return { af, bytes, length, host: slash < 0 || length === max };
}

/** Clears every bit at or after `length`. */
function maskBytes(b: Uint8Array, length: number): void {
  for (let i = 0; i < 16; i++) {
    const keep = length - i * 8;
    if (keep >= 8) continue;
    b[i] = keep <= 0 ? 0 : b[i] & (0xff << (8 - keep));
  }
}

/** True for ::ffff:0:0/96 addresses (IPv4-mapped IPv6). */
export function isIPv4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Binary trie in flat arrays; node 0 is the root, child index 0 means "no child". */
class BitTrie {
  private zero = new Int32Array(64);
  private one = new Int32Array(64);
  /** Index into the owner's value array, -1 when the node holds no prefix. */
  private slot = new Int32Array(64).fill(-1);
  private nodes = 1;

  /** Returns the value slot for the prefix, creating nodes as needed. */
  node(b: Uint8Array, off: number, length: number): number {
    let n = 0;
    for (let i = 0; i < length; i++) {
      const bit = (b[off + (i >> 3)] >> (7 - (i & 7))) & 1;
      let next = bit ? this.one[n] : this.zero[n];
      if (next === 0) {
        next = this.grow();
        if (bit) this.one[n] = next;
        else this.zero[n] = next;
      }
      n = next;
    }
    return n;
  }

  getSlot(n: number): number {
    return this.slot[n];
  }

  setSlot(n: number, s: number): void {
    this.slot[n] = s;
  }

  /** Slot of the longest prefix covering the `bits`-bit address at b[off], or -1. */
  match(b: Uint8Array, off: number, bits: number): number {
    const zero = this.zero;
    const one = this.one;
    const slot = this.slot;
    let best = slot[0];
    let n = 0;
    for (let i = 0; i < bits; i++) {
      n = (b[off + (i >> 3)] >> (7 - (i & 7))) & 1 ? one[n] : zero[n];
      if (n === 0) break;
      if (slot[n] >= 0) best = slot[n];
    }
    return best;
  }

  private grow(): number {
    if (this.nodes === this.zero.length) {
      const cap = this.nodes * 2;
      const z = new Int32Array(cap);
      z.set(this.zero);
      const o = new Int32Array(cap);
      o.set(this.one);
      const s = new Int32Array(cap).fill(-1);
      s.set(this.slot);
      this.zero = z;
      this.one = o;
      this.slot = s;
    }
    return this.nodes++;
  }
}

export class PrefixTable<T> {
  private readonly v4 = new BitTrie();
  private readonly v6 = new BitTrie();
  private readonly values: T[] = [];

  /** Number of distinct prefixes stored. */
  get size(): number {
    return this.values.length;
  }

  /**
   * Adds a prefix ("10.0.0.0/8", "fd00::/8", or a bare address). Inserting the same prefix again
   * replaces its value. Throws InvalidCidrError naming the text when it is not a valid prefix.
   */
  insert(cidr: string, value: T): void {
    const p = parsePrefix(cidr);
    this.insertPrefix(p.af, p.bytes, p.length, value);
  }

  insertPrefix(af: 4 | 6, bytes: Uint8Array, length: number, value: T): void {
    let trie = af === 4 ? this.v4 : this.v6;
    let off = 0;
    if (af === 6 && length >= 96 && isIPv4Mapped(bytes)) {
      trie = this.v4;
      off = 12;
      length -= 96;
    }
    const n = trie.node(bytes, off, length);
    const s = trie.getSlot(n);
    if (s >= 0) {
      this.values[s] = value;
    } else {
      trie.setSlot(n, this.values.length);
      this.values.push(value);
    }
  }

  /** Value of the longest prefix containing the address, or undefined. Allocates nothing. */
  lookup(af: number, addr: Uint8Array): T | undefined {
    let s = -1;
    if (af === 4) {
      s = this.v4.match(addr, 0, 32);
    } else if (af === 6) {
      if (isIPv4Mapped(addr)) s = this.v4.match(addr, 12, 32);
      if (s < 0) s = this.v6.match(addr, 0, 128);
    }
    return s < 0 ? undefined : this.values[s];
  }
}
