/**
 * Identity of a label set that has no row: a 64-bit hash (two 32-bit words) of its values,
 * computed without allocating. The heavy-hitter sketch and the eviction tombstones key on it, so
 * their state does not hold one string per key ever seen.
 *
 * Two words make collisions negligible (about n²/2^65 for n keys alive at once); the seeds are
 * random per process by default, so a sender cannot precompute label values that pile onto one
 * probe chain.
 */
import { randomBytes } from 'node:crypto';

export class LabelSetHasher {
  /** First word of the last hash. */
  h1 = 0;
  /** Second word of the last hash. */
  h2 = 0;
  private readonly seed1: number;
  private readonly seed2: number;

  constructor(seed?: number) {
    if (seed === undefined) {
      const b = randomBytes(8);
      this.seed1 = b.readInt32LE(0);
      this.seed2 = b.readInt32LE(4);
    } else {
      this.seed1 = (seed ^ 0x811c9dc5) | 0;
      this.seed2 = Math.imul(seed ^ 0x3c6ef372, 0x9e3779b1) | 0;
    }
  }

  /** Hashes the first `n` values into `h1`, `h2`. */
  hash(values: readonly string[], n: number): void {
    let a = this.seed1;
    let b = this.seed2;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      const len = v.length;
      for (let j = 0; j < len; j++) {
        const c = v.charCodeAt(j);
        a = Math.imul(a ^ c, 0x01000193);
        b = Math.imul(b ^ c, 0x5bd1e995);
        b ^= b >>> 15;
      }
      // A separator above any UTF-16 code unit, so ["ab", "c"] and ["a", "bc"] differ.
      a = Math.imul(a ^ (0x10000 + len), 0x01000193);
      b = Math.imul(b ^ (0x10000 + len), 0x5bd1e995);
      b ^= b >>> 15;
    }
    // Signed 32-bit words stay small integers in V8: passing them around never allocates.
    this.h1 = fmix32(a) | 0;
    this.h2 = fmix32(b ^ n) | 0;
  }
}

/** MurmurHash3's finaliser: spreads every input bit over the word (the index uses the low bits). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * Fixed-capacity map from a 64-bit key (two signed 32-bit words) to a non-negative int, open addressing with
 * linear probing and backward-shift deletion (no tombstone slots, so probe chains never rot).
 * Never grows: the owner sizes it for the most keys it will ever hold.
 */
export class HashIndex {
  private readonly mask: number;
  private readonly k1: Int32Array;
  private readonly k2: Int32Array;
  /** Value + 1; 0 marks an empty slot. */
  private readonly val: Int32Array;
  size = 0;
  readonly maxKeys: number;

  constructor(maxKeys: number) {
    let cap = 8;
    while (cap < maxKeys * 2) cap *= 2;
    this.mask = cap - 1;
    this.maxKeys = maxKeys;
    this.k1 = new Int32Array(cap);
    this.k2 = new Int32Array(cap);
    this.val = new Int32Array(cap);
  }

  /** The value stored for the key, or -1. */
  get(h1: number, h2: number): number {
    const mask = this.mask;
    let i = h1 & mask;
    for (;;) {
      const v = this.val[i];
      if (v === 0) return -1;
      if (this.k1[i] === h1 && this.k2[i] === h2) return v - 1;
      i = (i + 1) & mask;
    }
  }

  /** Stores or replaces the key's value. Throws past maxKeys (a sizing bug, never input-driven). */
  set(h1: number, h2: number, value: number): void {
    const mask = this.mask;
    let i = h1 & mask;
    for (;;) {
      const v = this.val[i];
      if (v === 0) break;
      if (this.k1[i] === h1 && this.k2[i] === h2) {
        this.val[i] = value + 1;
        return;
      }
      i = (i + 1) & mask;
    }
    if (this.size >= this.maxKeys) throw new Error(`HashIndex full (${this.maxKeys} keys)`);
    this.k1[i] = h1;
    this.k2[i] = h2;
    this.val[i] = value + 1;
    this.size++;
  }

  /** Removes the key; returns whether it was present. */
  delete(h1: number, h2: number): boolean {
    const mask = this.mask;
    let i = h1 & mask;
    for (;;) {
      const v = this.val[i];
      if (v === 0) return false;
      if (this.k1[i] === h1 && this.k2[i] === h2) break;
      i = (i + 1) & mask;
    }
    // Backward shift: pull later entries of the chain into the hole when their home allows it.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (this.val[j] === 0) break;
      const home = this.k1[j] & mask;
      // The entry at j may move to the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      this.k1[hole] = this.k1[j];
      this.k2[hole] = this.k2[j];
      this.val[hole] = this.val[j];
      hole = j;
    }
    this.val[hole] = 0;
    this.size--;
    return true;
  }

  clear(): void {
    this.val.fill(0);
    this.size = 0;
  }
}
