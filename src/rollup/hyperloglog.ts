/**
 * HyperLogLog distinct counting, a sliding-window variant over a ring of sub-window sketches, and
 * the 32-bit hashes that feed them from the record's address buffers without allocating.
 *
 * The sketch has m = 2^precision one-byte registers. Each hashed item picks a register with its
 * top `precision` bits and stores the position of the first 1-bit among the remaining bits, if
 * larger than what the register holds. The estimate uses Ertl's improved raw estimator
 * ("New cardinality estimation algorithms for HyperLogLog sketches", 2017), which is unbiased
 * from 0 to far beyond a million items without empirical bias tables or a switch to linear
 * counting; its relative standard error is 1.04 / sqrt(m) (3.25 % at precision 10).
 */

export const HLL_MIN_PRECISION = 4;
export const HLL_MAX_PRECISION = 16;

/** Relative standard error of the estimate for a sketch of 2^precision registers. */
export function hllStandardError(precision: number): number {
  return 1.04 / Math.sqrt(2 ** precision);
}

export function checkPrecision(precision: number): void {
  if (!Number.isInteger(precision) || precision < HLL_MIN_PRECISION || precision > HLL_MAX_PRECISION) {
    throw new Error(`HyperLogLog precision must be an integer from ${HLL_MIN_PRECISION} to ${HLL_MAX_PRECISION}, got ${precision}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Hashing: a MurmurHash3-style 32-bit mix over whole words (our own code, same constants).

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
// Distinct seeds keep IPv4, IPv6 and port items from sharing hash values by construction.
const SEED_V4 = 0x3c6ef372;
const SEED_V6 = 0x9e3779b9;
const SEED_PORT = 0x5bd1e995;

function mixWord(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * Final avalanche: every input bit affects every output bit. Returns the 32 bits as a signed
 * int32 (a small integer to the engine, never a heap number, wherever it is passed).
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Hash of an address in a 16-byte buffer (IPv4 in bytes 0..3). No allocation. */
export function hashAddress(af: number, b: Uint8Array): number {
  const words = af === 6 ? 4 : 1;
  let h = af === 6 ? SEED_V6 : SEED_V4;
  for (let i = 0, o = 0; i < words; i++, o += 4) {
    h = mixWord(h, (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
  }
  return fmix32(h ^ (words * 4));
}

/** Hash of a (protocol, port) pair. */
export function hashPort(protocol: number, port: number): number {
  return fmix32(mixWord(SEED_PORT, ((protocol & 0xff) << 16) | (port & 0xffff)) ^ 4);
}

// ---------------------------------------------------------------------------------------------
// Estimation

const ALPHA_INF = 0.5 / Math.LN2;

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let prev: number;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (z !== prev);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let prev: number;
  do {
    x = Math.sqrt(x);
    prev = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z !== prev);
  return z / 3;
}

/**
 * Ertl's improved estimator from the register histogram: counts[k] = registers holding k, for
 * k = 0..q+1 where q = 32 - precision (rank bits of the 32-bit hash).
 */
export function estimateFromHistogram(counts: ArrayLike<number>, m: number, q: number): number {
  let z = m * tau(1 - counts[q + 1] / m);
  for (let k = q; k >= 1; k--) z = 0.5 * (z + counts[k]);
  z += m * sigma(counts[0] / m);
  return (ALPHA_INF * m * m) / z;
}

// ---------------------------------------------------------------------------------------------

/** One HyperLogLog sketch. */
export class HyperLogLog {
  readonly precision: number;
  /** Number of registers, 2^precision. */
  readonly m: number;
  readonly registers: Uint8Array;
  private readonly shift: number;
  private readonly maxRank: number;
  private readonly histogram: Int32Array;

  constructor(precision = 10) {
    checkPrecision(precision);
    this.precision = precision;
    this.m = 1 << precision;
    this.registers = new Uint8Array(this.m);
    this.shift = 32 - precision;
    this.maxRank = 33 - precision;
    this.histogram = new Int32Array(this.maxRank + 1);
  }

  /** Adds an item by its 32-bit hash (from hashAddress, hashPort or fmix32; signed or unsigned). */
  addHash(hash: number): void {
    const idx = hash >>> this.shift;
    const rank = Math.min(Math.clz32(hash << this.precision) + 1, this.maxRank);
    if (rank > this.registers[idx]) this.registers[idx] = rank;
  }

  /** Register-wise maximum with another sketch of the same precision: the union of both sets. */
  merge(other: HyperLogLog): void {
    if (other.precision !== this.precision) throw new Error('cannot merge HyperLogLog sketches of different precision');
    mergeRegisters(this.registers, other.registers, 0);
  }

  mergeRegisters(source: Uint8Array, offset: number): void {
    mergeRegisters(this.registers, source, offset);
  }

  clear(): void {
    this.registers.fill(0);
  }

  estimate(): number {
    const h = this.histogram;
    h.fill(0);
    const r = this.registers;
    for (let i = 0; i < r.length; i++) h[r[i]]++;
    return estimateFromHistogram(h, this.m, this.shift);
  }
}

function mergeRegisters(into: Uint8Array, source: Uint8Array, offset: number): void {
  for (let i = 0; i < into.length; i++) {
    const v = source[offset + i];
    if (v > into[i]) into[i] = v;
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Distinct items over a sliding time window: a ring of `slices + 1` sub-window sketches of
 * window / slices each. An item counts from the moment it is added until at least `windowMs` and
 * at most `windowMs + windowMs / slices` later. Time only moves with the timestamps passed in
 * (no timers); items older than the window relative to the newest one seen are ignored.
 */
export class SlidingHyperLogLog {
  readonly precision: number;
  readonly windowMs: number;
  readonly slices: number;
  readonly sliceMs: number;
  private readonly m: number;
  private readonly shift: number;
  private readonly maxRank: number;
  private readonly ring: number;
  /** ring × m registers, slice i at offset i·m. */
  private readonly registers: Uint8Array;
  /** Sub-window number held by each ring position; -Infinity when unused. */
  private readonly epochs: Float64Array;
  private newestEpoch = -Infinity;

  constructor(precision: number, windowMs: number, slices: number) {
    checkPrecision(precision);
    checkWindow(windowMs, slices);
    this.precision = precision;
    this.windowMs = windowMs;
    this.slices = slices;
    this.sliceMs = windowMs / slices;
    this.m = 1 << precision;
    this.shift = 32 - precision;
    this.maxRank = 33 - precision;
    this.ring = slices + 1;
    this.registers = new Uint8Array(this.ring * this.m);
    this.epochs = new Float64Array(this.ring).fill(-Infinity);
  }

  /** The sub-window number of a time: what the *At methods take. */
  epochOf(tMs: number): number {
    return Math.floor(tMs / this.sliceMs);
  }

  /** Adds an item at time `tMs`; returns false when it is older than the window (ignored). */
  addHash(hash: number, tMs: number): boolean {
    return this.addHashAt(hash, Math.floor(tMs / this.sliceMs));
  }

  /**
   * Adds an item in sub-window `epoch` (see epochOf; any consistent numbering works, such as
   * epochs relative to an origin). Hot paths pass small integer epochs rather than millisecond
   * times: a non-integer number crossing a call boundary may be boxed on the heap.
   */
  /** Whether addHashAt() would take an item in sub-window `epoch` (it is not older than the window). */
  acceptsAt(epoch: number): boolean {
    return epoch >= this.newestEpoch - this.slices;
  }

  addHashAt(hash: number, epoch: number): boolean {
    if (!(epoch >= this.newestEpoch - this.slices)) return false; // also refuses NaN
    const pos = ((epoch % this.ring) + this.ring) % this.ring;
    const base = pos * this.m;
    if (this.epochs[pos] !== epoch) {
      // The ring position holds a sub-window that has left the window: reuse it.
      this.registers.fill(0, base, base + this.m);
      this.epochs[pos] = epoch;
    }
    if (epoch > this.newestEpoch) this.newestEpoch = epoch;
    const idx = base + (hash >>> this.shift);
    const rank = Math.min(Math.clz32(hash << this.precision) + 1, this.maxRank);
    if (rank > this.registers[idx]) this.registers[idx] = rank;
    return true;
  }

  /** True when nothing added is still inside the window at `nowMs`. */
  isIdle(nowMs: number): boolean {
    return this.isIdleAt(Math.floor(nowMs / this.sliceMs));
  }

  isIdleAt(epoch: number): boolean {
    return this.newestEpoch < epoch - this.slices;
  }

  /** Merges the sub-windows live at `nowMs` into `into` (cleared first; same precision). */
  mergeInto(into: HyperLogLog, nowMs: number): void {
    this.mergeIntoAt(into, Math.floor(nowMs / this.sliceMs));
  }

  mergeIntoAt(into: HyperLogLog, epoch: number): void {
    if (into.precision !== this.precision) throw new Error('cannot merge HyperLogLog sketches of different precision');
    into.clear();
    const oldest = epoch - this.slices;
    for (let pos = 0; pos < this.ring; pos++) {
      if (this.epochs[pos] >= oldest) into.mergeRegisters(this.registers, pos * this.m);
    }
  }

  /** Distinct items in the window ending at `nowMs`; `scratch` avoids an allocation per call. */
  estimate(nowMs: number, scratch: HyperLogLog = new HyperLogLog(this.precision)): number {
    return this.estimateAt(Math.floor(nowMs / this.sliceMs), scratch);
  }

  estimateAt(epoch: number, scratch: HyperLogLog = new HyperLogLog(this.precision)): number {
    this.mergeIntoAt(scratch, epoch);
    return scratch.estimate();
  }

  clear(): void {
    this.registers.fill(0);
    this.epochs.fill(-Infinity);
    this.newestEpoch = -Infinity;
  }

  /** Bytes of register memory, for sizing budgets. */
  get byteLength(): number {
    return this.registers.byteLength;
  }
}

export function checkWindow(windowMs: number, slices: number): void {
  if (!(Number.isFinite(windowMs) && windowMs > 0)) throw new Error(`sliding window must be a positive number of milliseconds, got ${windowMs}`);
  if (!Number.isInteger(slices) || slices < 1 || slices > 60) {
    throw new Error(`sliding window sub-windows must be an integer from 1 to 60, got ${slices}`);
  }
}
