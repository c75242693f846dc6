/**
 * Address -> label text, cached. Formatting an address is the one allocation enrichment cannot
 * avoid, so each distinct address is formatted once and the string reused while it stays hot.
 *
 * The cache is direct-mapped, like a CPU cache: a hash of the address picks one slot, the slot
 * keeps the address words and the string, and a different address hashing to the same slot
 * replaces it. That bounds memory by construction (no eviction bookkeeping, no Map growth), and a
 * hit costs a hash and one to four integer compares with no allocation (a Map would need a key
 * string built per IPv6 lookup).
 */
export const DEFAULT_ADDRESS_CACHE_SLOTS = 65536;

/*
 * The miss path's own formatters: the text of formatIPv4 / formatIPv6 (util/address.ts; the tests
 * hold them equal), built from per-byte strings. A miss costs what formatting allocates and what
 * the collector then copies, so fewer intermediate strings count: on a sweep of a million IPv4
 * peers this took a miss from about 170 to about 100 ns, and an IPv6 miss is about a fifth cheaper.
 */
const DOTTED = Array.from({ length: 256 }, (_, i) => `${i}.`);
const DECIMAL = Array.from({ length: 256 }, (_, i) => String(i));
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16));
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** Reused by ipv6Text: join() of it makes one flat string, where `+=` would leave a tree of pieces. */
const PARTS: string[] = [];

function ipv4Text(b: Uint8Array, off: number): string {
  return DOTTED[b[off]] + DOTTED[b[off + 1]] + (DOTTED[b[off + 2]] + DECIMAL[b[off + 3]]);
}

/** RFC 5952: lower case, no leading zeros, the first longest run of two or more zero groups as "::". */
function ipv6Text(b: Uint8Array): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if ((b[2 * i] | b[2 * i + 1]) !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && (b[2 * j] | b[2 * j + 1]) === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // IPv4-mapped addresses keep their dotted tail, as formatIPv6 writes them.
  if (bestStart === 0 && bestLen === 5 && b[10] === 0xff && b[11] === 0xff) return '::ffff:' + ipv4Text(b, 12);
  const parts = PARTS;
  let n = 0;
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      // Empty parts around the run become "::" in the join.
      parts[n++] = i === 0 ? ':' : '';
      i += bestLen - 1;
      if (i === 7) parts[n++] = '';
      continue;
    }
    const hi = b[2 * i];
    const lo = b[2 * i + 1];
    parts[n++] = hi === 0 ? HEX[lo] : HEX[hi] + HEX2[lo];
  }
  parts.length = n;
  return parts.join(':');
}

function word(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

export class AddressTextCache {
  readonly slots: number;
  private readonly shift: number;
  private readonly v4Keys: Int32Array;
  private readonly v4Text: Array<string | undefined>;
  private readonly v6Keys: Int32Array;
  private readonly v6Text: Array<string | undefined>;
  private v4Used = 0;
  private v6Used = 0;
  /** Lookups that had to format (for tests and self-metrics). */
  misses = 0;

  /** `slots` per family, rounded up to a power of two (at least 16). */
  constructor(slots = DEFAULT_ADDRESS_CACHE_SLOTS) {
    let bits = 4;
    while (1 << bits < slots && bits < 24) bits++;
    this.slots = 1 << bits;
    this.shift = 32 - bits;
    this.v4Keys = new Int32Array(this.slots);
    this.v4Text = new Array<string | undefined>(this.slots).fill(undefined);
    this.v6Keys = new Int32Array(this.slots * 4);
    this.v6Text = new Array<string | undefined>(this.slots).fill(undefined);
  }

  /** Cached strings held right now, over both families; never more than 2 * slots. */
  get size(): number {
    return this.v4Used + this.v6Used;
  }

  /** Text form of the address (dotted quad, RFC 5952); '' for af 0. */
  text(af: number, b: Uint8Array): string {
    if (af === 4) {
      const w = word(b, 0);
      const i = Math.imul(w, 0x9e3779b1) >>> this.shift;
      const hit = this.v4Text[i];
      if (hit !== undefined && this.v4Keys[i] === w) return hit;
      const s = ipv4Text(b, 0);
      this.misses++;
      if (hit === undefined) this.v4Used++;
      this.v4Keys[i] = w;
      this.v4Text[i] = s;
      return s;
    }
    if (af === 6) {
      const w0 = word(b, 0);
      const w1 = word(b, 4);
      const w2 = word(b, 8);
      const w3 = word(b, 12);
      let h = Math.imul(w0, 0x9e3779b1) ^ w1;
      h = Math.imul(h, 0x85ebca6b) ^ w2;
      h = Math.imul(h, 0xc2b2ae35) ^ w3;
      h = Math.imul(h ^ (h >>> 15), 0x9e3779b1);
      const i = h >>> this.shift;
      const k = i * 4;
      const keys = this.v6Keys;
      const hit = this.v6Text[i];
      if (hit !== undefined && keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) {
        return hit;
      }
      const s = ipv6Text(b);
      this.misses++;
      if (hit === undefined) this.v6Used++;
      keys[k] = w0;
      keys[k + 1] = w1;
      keys[k + 2] = w2;
      keys[k + 3] = w3;
      this.v6Text[i] = s;
      return s;
    }
    return '';
  }
}

/** Non-negative integers (interface indexes) -> decimal text, cached the same direct-mapped way. */
export class NumberTextCache {
  private readonly shift: number;
  private readonly keys: Float64Array;
  private readonly texts: Array<string | undefined>;

  constructor(slots = 4096) {
    let bits = 4;
    while (1 << bits < slots && bits < 20) bits++;
    this.shift = 32 - bits;
    this.keys = new Float64Array(1 << bits);
    this.texts = new Array<string | undefined>(1 << bits).fill(undefined);
  }

  text(v: number): string {
    const i = Math.imul(v | 0, 0x9e3779b1) >>> this.shift;
    const hit = this.texts[i];
    if (hit !== undefined && this.keys[i] === v) return hit;
    const s = String(v);
    this.keys[i] = v;
    this.texts[i] = s;
    return s;
  }
}
