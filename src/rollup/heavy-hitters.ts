/**
 * Selection by recent traffic: which label sets of a rollup get rows of their own once its budget
 * is full, and which kept rows give their place up.
 *
 * - Kept rows carry their exact decayed byte count (forward decay, decayed-rate.ts), updated per
 *   record. Label sets without a row are watched by a weighted Space-Saving sketch of
 *   `sketchFactor × budget` counters over the same decayed bytes, keyed by a 64-bit hash of the
 *   label values: state is O(budget) whatever the number of keys seen. Above
 *   sketchRecordsPerSecond records without a row, the sketch sees a weighted random sample, so a
 *   flood of new keys costs a bounded amount of work.
 * - Hysteresis. A watched key is a *challenger* while its guaranteed decayed count (count − error:
 *   never more than its true count) beats the weakest evictable row by the margin plus a lead of
 *   a few average records (so sparse keys do not swap on noise); a row is *weak* while the best
 *   challenger beats it the same way. Once a second (tickMs), challengers strong for
 *   admitAfterMs are paired, strongest first, with rows weak for evictAfterMs, weakest first; the
 *   swap happens on the challenger's next record (a key that went quiet causes no churn). At most
 *   maxSwapsPerTick swaps are cleared per tick.
 * - Eviction leaves a tombstone (hash and expiry): the label set cannot get a row again for
 *   readmitHoldoffMs, so Prometheus has long marked the old series stale when it returns as a new
 *   series. Tombstones are bounded by tombstoneCapacity; while all are live, no row is evicted.
 *
 * Time only comes in through advance() (the record or receive time the family is given), so
 * tests and benchmarks can simulate hours in seconds; no timers, nothing allocated per record.
 */
import type { AdmissionHost, AdmissionPolicy } from './admission.js';
import { ForwardDecay } from './decayed-rate.js';
import { HashIndex, LabelSetHasher } from './key-hash.js';
import { SpaceSaving } from './space-saving.js';

export interface SelectionOptions {
  /** Half-life of the decayed byte rate that ranks keys. Default 10 minutes. */
  halfLifeMs?: number;
  /** A challenger must beat a row by this factor (0.5 = by 50%). Default 0.5. */
  margin?: number;
  /**
   * ... and by at least this many records of the rollup's average size (decayed), so that keys
   * seen a handful of times do not swap on noise when traffic is sparse. Default 5.
   */
  minLeadRecords?: number;
  /** How long a challenger must stay strong before it may take a row. Default 30 seconds. */
  admitAfterMs?: number;
  /** How long a row must stay weak before it may be given up. Default 1 minute. */
  evictAfterMs?: number;
  /** An evicted label set gets no row again for this long. Default 10 minutes. */
  readmitHoldoffMs?: number;
  /** Sketch counters per budget row. Default 4. */
  sketchFactor?: number;
  /**
   * Filter cells per sketch counter in front of the counters (Filtered Space-Saving); 0 for plain
   * Space-Saving. Default 1.
   */
  filterFactor?: number;
  /** How often challengers and weak rows are re-evaluated. Default 1 second. */
  tickMs?: number;
  /**
   * Records without a row the sketch looks at per second, at most. Above this rate it sees a
   * random sample, each sampled record weighted by the inverse of the sampling probability (an
   * unbiased estimate), so a flood of new keys costs a bounded amount of sketch work. Default
   * 5,000: a key with 1/budget of the traffic is still sampled at least 5,000 / budget times a
   * second (750 times per half-life at the flow_peer budget), whatever the flood. Infinity
   * disables sampling.
   */
  sketchRecordsPerSecond?: number;
  /** Swaps cleared per tick at most. Default max(1, ceil(budget / 100)). */
  maxSwapsPerTick?: number;
  /** Tombstones kept at most. Default: the budget. */
  tombstoneCapacity?: number;
  /** Fixed seed (tests, benchmarks): the label-set hash and the sampling draws. */
  seed?: number;
}

export const SELECTION_DEFAULTS = {
  halfLifeMs: 600_000,
  margin: 0.5,
  minLeadRecords: 5,
  admitAfterMs: 30_000,
  evictAfterMs: 60_000,
  readmitHoldoffMs: 600_000,
  sketchFactor: 4,
  filterFactor: 1,
  tickMs: 1000,
  sketchRecordsPerSecond: 5_000,
} as const;

/** Bounded set of recently evicted label-set hashes, expiring in eviction order. */
export class EvictionTombstones {
  readonly capacity: number;
  private readonly index: HashIndex;
  private readonly key1: Int32Array;
  private readonly key2: Int32Array;
  private readonly until: Float64Array;
  private head = 0;
  private count = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity);
    this.index = new HashIndex(this.capacity);
    this.key1 = new Int32Array(this.capacity);
    this.key2 = new Int32Array(this.capacity);
    this.until = new Float64Array(this.capacity);
  }

  get size(): number {
    return this.count;
  }

  get free(): number {
    return this.capacity - this.count;
  }

  /** Records a tombstone until `untilMs`; false when every slot is still live. */
  add(h1: number, h2: number, untilMs: number): boolean {
    if (this.count === this.capacity) return false;
    const at = (this.head + this.count) % this.capacity;
    this.key1[at] = h1;
    this.key2[at] = h2;
    this.until[at] = untilMs;
    this.count++;
    // A key tombstoned twice points at its latest slot; the older slot expires without effect.
    this.index.set(h1, h2, at);
    return true;
  }

  has(h1: number, h2: number, nowMs: number): boolean {
    const at = this.index.get(h1, h2);
    return at >= 0 && this.until[at] > nowMs;
  }

  expire(nowMs: number): void {
    while (this.count > 0 && this.until[this.head] <= nowMs) {
      const h = this.head;
      if (this.index.get(this.key1[h], this.key2[h]) === h) this.index.delete(this.key1[h], this.key2[h]);
      this.head = (h + 1) % this.capacity;
      this.count--;
    }
  }
}

export class HeavyHitterSelection implements AdmissionPolicy {
  readonly halfLifeMs: number;
  readonly margin: number;
  readonly minLeadRecords: number;
  readonly admitAfterMs: number;
  readonly evictAfterMs: number;
  readonly readmitHoldoffMs: number;
  readonly tickMs: number;
  readonly sketchRecordsPerSecond: number;

  private readonly options: SelectionOptions;
  private readonly decay: ForwardDecay;
  private readonly hasher: LabelSetHasher;
  private host: AdmissionHost | undefined;
  private budget = 0;
  private labelCount = 0;
  private maxSwaps = 1;
  private sketch!: SpaceSaving;
  private tombstones!: EvictionTombstones;

  // Per row slot (slots are below the budget).
  private rowCount!: Float64Array;
  private rowWeakSince!: Float64Array;
  private rowGen!: Int32Array;
  private rowLive!: Uint8Array;

  // Per sketch counter.
  private strongSince!: Float64Array;
  private clearedVictim!: Int32Array;
  private clearedGen!: Int32Array;
  private clearedList!: Int32Array;
  private clearedCount = 0;
  private candidates!: Int32Array;
  private victims!: Int32Array;

  /** Decayed bytes and records of the whole family (forward-decay units): the average record. */
  private decayedBytes = 0;
  private decayedRecords = 0;
  /** The lead a challenger needs on top of the margin, in forward-decay units; set per tick. */
  private lead = 0;
  /** Probability that a record without a row is shown to the sketch; set per tick. */
  private sampling = 1;
  /** sampling × 2^32, compared with a random unsigned 32-bit draw. */
  private sampleBelow = 4294967296;
  private rng: number;
  /** Records without a row since the last tick (sampled or not). */
  private unkeptRecords = 0;

  private now = Number.NaN;
  private nextTick = Number.NaN;
  /** Set by challenge() when it names a victim: the counter whose key takes the freed row. */
  private pendingCounter = -1;
  private pendingCount = 0;


  constructor(options: SelectionOptions = {}) {
    const o = { ...SELECTION_DEFAULTS, ...stripUndefined(options) };
    const nonNegative = (name: string, v: number): void => {
      if (!(v >= 0 && Number.isFinite(v))) throw new Error(`selection ${name} must be a non-negative number, got ${v}`);
    };
    nonNegative('margin', o.margin);
    nonNegative('minLeadRecords', o.minLeadRecords);
    nonNegative('admitAfterMs', o.admitAfterMs);
    nonNegative('evictAfterMs', o.evictAfterMs);
    nonNegative('readmitHoldoffMs', o.readmitHoldoffMs);
    if (!(o.tickMs > 0 && Number.isFinite(o.tickMs))) throw new Error(`selection tickMs must be positive, got ${o.tickMs}`);
    if (!(o.sketchRecordsPerSecond > 0)) {
      throw new Error(`selection sketchRecordsPerSecond must be positive, got ${o.sketchRecordsPerSecond}`);
    }
    if (!(Number.isInteger(o.sketchFactor) && o.sketchFactor >= 1)) {
      throw new Error(`selection sketchFactor must be an integer of at least 1, got ${o.sketchFactor}`);
    }
    if (!(Number.isInteger(o.filterFactor) && o.filterFactor >= 0)) {
      throw new Error(`selection filterFactor must be a non-negative integer, got ${o.filterFactor}`);
    }
    this.options = options;
    this.halfLifeMs = o.halfLifeMs;
    this.margin = o.margin;
    this.minLeadRecords = o.minLeadRecords;
    this.admitAfterMs = o.admitAfterMs;
    this.evictAfterMs = o.evictAfterMs;
    this.readmitHoldoffMs = o.readmitHoldoffMs;
    this.tickMs = o.tickMs;
    this.sketchRecordsPerSecond = o.sketchRecordsPerSecond;
    this.rng = (options.seed ?? 0x5eed) | 1;
    this.decay = new ForwardDecay(o.halfLifeMs);
    this.hasher = new LabelSetHasher(options.seed);
  }

  attach(host: AdmissionHost): void {
    if (this.host !== undefined) throw new Error('a HeavyHitterSelection serves one rollup family');
    this.host = host;
    const budget = host.budget;
    this.budget = budget;
    this.labelCount = host.labelCount;
    const o = this.options;
    this.maxSwaps = Math.max(1, o.maxSwapsPerTick ?? Math.ceil(budget / 100));
    const counters = Math.max(16, (o.sketchFactor ?? SELECTION_DEFAULTS.sketchFactor) * budget);
    this.sketch = new SpaceSaving(counters, (o.filterFactor ?? SELECTION_DEFAULTS.filterFactor) * counters);
    this.tombstones = new EvictionTombstones(o.tombstoneCapacity ?? budget);
    this.rowCount = new Float64Array(budget);
    this.rowWeakSince = new Float64Array(budget).fill(Number.NaN);
    this.rowGen = new Int32Array(budget);
    this.rowLive = new Uint8Array(budget);
    this.strongSince = new Float64Array(counters).fill(Number.NaN);
    this.clearedVictim = new Int32Array(counters).fill(-1);
    this.clearedGen = new Int32Array(counters);
    this.clearedList = new Int32Array(this.maxSwaps);
    this.candidates = new Int32Array(this.maxSwaps);
    this.victims = new Int32Array(this.maxSwaps);
  }

  // ---- per record -------------------------------------------------------------------------

  credited(slot: number, bytes: number): void {
    const w = this.decay.weight;
    this.rowCount[slot] += bytes * w;
    // Every record of the family lands in some row, so these are the family's decayed totals.
    this.decayedBytes += bytes * w;
    this.decayedRecords += w;
  }

  admit(values: readonly string[], level: number, bytes: number): boolean {
    this.pendingCounter = -1;
    if (this.tombstones.size === 0) return true;
    const h = this.hasher;
    h.hash(values, this.labelCount);
    if (!this.tombstones.has(h.h1, h.h2, this.now)) return true;
    // Held off: watch its traffic anyway, so it can compete once the tombstone expires.
    if (level === 0 && bytes > 0) {
      this.unkeptRecords++;
      if (this.sampled()) this.offer(h.h1, h.h2, bytes);
    }
    return false;
  }

  challenge(values: readonly string[], bytes: number): number {
    this.pendingCounter = -1;
    this.unkeptRecords++;
    // Unsampled records skip the sketch (and the hash); a cleared challenger is heavy, so one of
    // its next records is sampled soon enough.
    if (!this.sampled()) return -1;
    const h = this.hasher;
    h.hash(values, this.labelCount);
    const c = bytes > 0 ? this.offer(h.h1, h.h2, bytes) : this.sketch.find(h.h1, h.h2);
    if (c < 0) return -1;
    const v = this.clearedVictim[c];
    if (v < 0) return -1;
    this.clearedVictim[c] = -1;
    // The pairing was decided at the last tick: check it still holds.
    if (this.rowLive[v] === 0 || this.rowGen[v] !== this.clearedGen[c] || !this.host!.evictable(v)) return -1;
    const strength = this.sketch.guaranteed(c);
    if (!(strength > (1 + this.margin) * this.rowCount[v] + this.lead) || this.tombstones.free === 0) return -1;
    this.pendingCounter = c;
    this.pendingCount = strength;
    return v;
  }

  admitted(slot: number, values: readonly string[], level: number): void {
    this.rowLive[slot] = 1;
    this.rowWeakSince[slot] = Number.NaN;
    this.rowCount[slot] = 0;
    if (level !== 0) return;
    let c = this.pendingCounter;
    if (c >= 0) {
      this.pendingCounter = -1;
      // Carry the challenger's guaranteed count, so the new row does not start as the weakest.
      this.rowCount[slot] = this.pendingCount;
    } else if (this.sketch.size > 0) {
      this.hasher.hash(values, this.labelCount);
      c = this.sketch.find(this.hasher.h1, this.hasher.h2);
      if (c >= 0) this.rowCount[slot] = this.sketch.guaranteed(c);
    }
    if (c >= 0) this.dropCounter(c);
  }

  evicted(slot: number, values: readonly string[]): void {
    this.rowLive[slot] = 0;
    this.rowGen[slot]++;
    this.rowCount[slot] = 0;
    this.rowWeakSince[slot] = Number.NaN;
    this.hasher.hash(values, this.labelCount);
    this.tombstones.add(this.hasher.h1, this.hasher.h2, this.now + this.readmitHoldoffMs);
  }

  advance(nowMs: number): void {
    if (Number.isNaN(this.now)) {
      this.now = nowMs;
      this.decay.advance(nowMs);
      this.nextTick = nowMs + this.tickMs;
      return;
    }
    if (!(nowMs > this.now)) return;
    this.now = nowMs;
    const factor = this.decay.advance(nowMs);
    if (factor !== 1) this.rescale(factor);
    if (nowMs >= this.nextTick) {
      this.adjustSampling(nowMs - (this.nextTick - this.tickMs));
      this.tick();
      this.nextTick = nowMs + this.tickMs;
    }
    // A sampled record stands for 1 / sampling records.
    this.sketch.weight = this.decay.weight / this.sampling;
  }

  // ---- inspection -------------------------------------------------------------------------

  /** Decayed byte rate (bytes/s) of the row at `slot`, as the selection sees it. */
  rowRate(slot: number): number {
    return this.decay.ratePerSecond(this.rowCount[slot]);
  }

  /** Label sets watched by the sketch, its fixed number of counters, tombstones, sampling. */
  sketchUse(): { watched: number; counters: number; tombstones: number; tombstoneCapacity: number; sampling: number } {
    return {
      watched: this.sketch.size,
      counters: this.sketch.capacity,
      tombstones: this.tombstones.size,
      tombstoneCapacity: this.tombstones.capacity,
      sampling: this.sampling,
    };
  }

  /** Whether `values` (a full label set) is held off after an eviction. */
  heldOff(values: readonly string[]): boolean {
    this.hasher.hash(values, this.labelCount);
    return this.tombstones.has(this.hasher.h1, this.hasher.h2, this.now);
  }

  // ---- internals --------------------------------------------------------------------------

  /** Draws whether this record without a row is shown to the sketch (xorshift32). */
  private sampled(): boolean {
    if (this.sampling === 1) return true;
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    return x >>> 0 < this.sampleBelow;
  }

  private offer(h1: number, h2: number, bytes: number): number {
    const c = this.sketch.offer(h1, h2, bytes);
    if (this.sketch.lastWasNew) {
      this.strongSince[c] = Number.NaN;
      this.clearedVictim[c] = -1;
    }
    return c;
  }

  /** Sets the sampling probability for the next tick from the rate of records without a row. */
  private adjustSampling(elapsedMs: number): void {
    const perSecond = (this.unkeptRecords * 1000) / Math.max(elapsedMs, this.tickMs);
    this.unkeptRecords = 0;
    const p = perSecond > this.sketchRecordsPerSecond ? this.sketchRecordsPerSecond / perSecond : 1;
    this.sampling = p;
    this.sampleBelow = p * 4294967296;
  }

  private dropCounter(c: number): void {
    this.sketch.remove(c);
    this.strongSince[c] = Number.NaN;
    this.clearedVictim[c] = -1;
  }

  private rescale(factor: number): void {
    this.sketch.scale(factor);
    this.decayedBytes *= factor;
    this.decayedRecords *= factor;
    this.lead *= factor;
    const counts = this.rowCount;
    for (let s = 0; s < counts.length; s++) counts[s] *= factor;
  }

  /**
   * Re-evaluates challengers and weak rows and clears up to maxSwaps pairs, strongest challenger
   * with weakest row. O(budget + counters + maxSwaps × (candidates + victims)) at worst; only
   * challengers and weak rows that passed their dwell enter the selection.
   */
  private tick(): void {
    const now = this.now;
    const host = this.host!;
    const sketch = this.sketch;
    const factor = 1 + this.margin;
    this.tombstones.expire(now);
    for (let i = 0; i < this.clearedCount; i++) this.clearedVictim[this.clearedList[i]] = -1;
    this.clearedCount = 0;
    // One average record arriving now, in forward-decay units.
    const averageRecord = this.decayedRecords > 0 ? (this.decayedBytes / this.decayedRecords) * this.decay.weight : 0;
    // Counted in records the sketch saw: sampling makes each of them stand for 1 / sampling.
    const lead = (this.minLeadRecords * averageRecord) / this.sampling;
    this.lead = lead;

    let weakest = Number.POSITIVE_INFINITY;
    for (let s = 0; s < this.budget; s++) {
      if (this.rowLive[s] === 1 && this.rowCount[s] < weakest && host.evictable(s)) weakest = this.rowCount[s];
    }
    const threshold = weakest * factor + lead;

    let best = 0;
    let ready = 0;
    const maxSwaps = Math.min(this.maxSwaps, this.tombstones.free);
    const cands = this.candidates;
    for (let i = 0; i < sketch.size; i++) {
      const c = sketch.at(i);
      const g = sketch.guaranteed(c);
      if (g > threshold && !this.tombstones.has(sketch.key1[c], sketch.key2[c], now)) {
        if (Number.isNaN(this.strongSince[c])) this.strongSince[c] = now;
        if (g > best) best = g;
        if (now - this.strongSince[c] >= this.admitAfterMs && maxSwaps > 0) {
          // Keep the maxSwaps strongest, sorted strongest first (insertion into a short list).
          if (ready < maxSwaps) ready++;
          else if (g <= sketch.guaranteed(cands[ready - 1])) continue;
          let k = ready - 1;
          while (k > 0 && sketch.guaranteed(cands[k - 1]) < g) {
            cands[k] = cands[k - 1];
            k--;
          }
          cands[k] = c;
        }
      } else {
        this.strongSince[c] = Number.NaN;
      }
    }

    let weak = 0;
    const victims = this.victims;
    const counts = this.rowCount;
    for (let s = 0; s < this.budget; s++) {
      if (this.rowLive[s] === 1 && counts[s] * factor + lead < best && host.evictable(s)) {
        if (Number.isNaN(this.rowWeakSince[s])) this.rowWeakSince[s] = now;
        if (now - this.rowWeakSince[s] >= this.evictAfterMs && maxSwaps > 0) {
          // Keep the maxSwaps weakest, weakest first.
          const v = counts[s];
          if (weak < maxSwaps) weak++;
          else if (v >= counts[victims[weak - 1]]) continue;
          let k = weak - 1;
          while (k > 0 && counts[victims[k - 1]] > v) {
            victims[k] = victims[k - 1];
            k--;
          }
          victims[k] = s;
        }
      } else {
        this.rowWeakSince[s] = Number.NaN;
      }
    }

    const pairs = Math.min(ready, weak);
    for (let i = 0; i < pairs; i++) {
      const c = cands[i];
      const v = victims[i];
      if (!(sketch.guaranteed(c) > factor * counts[v] + lead)) break;
      this.clearedVictim[c] = v;
      this.clearedGen[c] = this.rowGen[v];
      this.clearedList[this.clearedCount++] = c;
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
