/**
 * Weighted Space-Saving (Metwally, Agrawal, El Abbadi, 2005) over a fixed number of counters, with
 * an optional filter in front (Filtered Space-Saving, Homem and Carvalho, 2010).
 *
 * Plain: every key offered is either tracked by one counter or was never heavy: a new key takes
 * the counter of the currently smallest one and inherits its count as its possible overestimate
 * (`error`). So for any tracked key, count − error ≤ true weight ≤ count, and every key whose
 * weight exceeds (total weight) / capacity is tracked.
 *
 * Filtered: a key that is not tracked first adds its weight to one of `filterCells` cells (chosen
 * by its hash). A cell is always at least the weight of every untracked key that hashes to it
 * (it only grows, and a key that loses its counter raises its cell to that counter's count). The
 * key takes a counter only when its cell reaches the smallest count, with count = cell (an upper
 * bound) and error = cell − this weight. The bounds above still hold, and an untracked key still
 * weighs less than the smallest count; but a flood of light keys only touches the filter, not the
 * heap, which keeps the per-record cost flat however many keys arrive.
 *
 * Weights are the caller's: here bytes grown by forward decay, which makes the sketch follow
 * recent traffic.
 *
 * The smallest counter is found with a binary min-heap (weights are arbitrary reals, so the unit
 * increment bucket list of the original paper does not apply); keys are located through a
 * fixed-size hash index on their 64-bit hash. Memory is fixed at construction; nothing allocates
 * per offer.
 */
import { HashIndex } from './key-hash.js';

export class SpaceSaving {
  readonly capacity: number;
  /** Upper bound of each tracked key's weight. */
  readonly count: Float64Array;
  /** How much of `count` may belong to keys that held the counter before. */
  readonly error: Float64Array;
  readonly key1: Int32Array;
  readonly key2: Int32Array;
  /**
   * Multiplier applied to every offered amount (the forward-decay growth factor). A field rather
   * than an argument: a fractional argument to a call that is not inlined would be boxed per call.
   */
  weight = 1;
  /** Set by `offer`: whether the returned counter was just (re)assigned to the offered key. */
  lastWasNew = false;

  private readonly index: HashIndex;
  private readonly filter: Float64Array | undefined;
  private readonly filterMask: number;
  /** heap[i] = counter at heap position i; heap order on `count`, smallest first. */
  private readonly heap: Int32Array;
  /** Heap position of each counter, -1 when the counter is free. */
  private readonly pos: Int32Array;
  private readonly free: Int32Array;
  private freeTop: number;
  private used = 0;

  /** `filterCells` is rounded up to a power of two; 0 means plain Space-Saving. */
  constructor(capacity: number, filterCells = 0) {
    if (!(Number.isSafeInteger(capacity) && capacity >= 1)) throw new Error(`Space-Saving capacity must be a positive integer, got ${capacity}`);
    if (!(Number.isSafeInteger(filterCells) && filterCells >= 0)) throw new Error(`filter cells must be a non-negative integer, got ${filterCells}`);
    this.capacity = capacity;
    let cells = 0;
    if (filterCells > 0) {
      cells = 1;
      while (cells < filterCells) cells *= 2;
    }
    this.filter = cells > 0 ? new Float64Array(cells) : undefined;
    this.filterMask = cells - 1;
    this.count = new Float64Array(capacity);
    this.error = new Float64Array(capacity);
    this.key1 = new Int32Array(capacity);
    this.key2 = new Int32Array(capacity);
    this.index = new HashIndex(capacity);
    this.heap = new Int32Array(capacity);
    this.pos = new Int32Array(capacity).fill(-1);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  /** Counters in use. */
  get size(): number {
    return this.used;
  }

  /** The counter at heap position i (0 ≤ i < size): lets a caller walk all tracked keys. */
  at(i: number): number {
    return this.heap[i];
  }

  /** The counter tracking the key, or -1. */
  find(h1: number, h2: number): number {
    return this.index.get(h1, h2);
  }

  /** Lower bound of the key's weight. */
  guaranteed(c: number): number {
    return this.count[c] - this.error[c];
  }

  /** Smallest tracked count (0 while counters are free). */
  minCount(): number {
    return this.used < this.capacity ? 0 : this.count[this.heap[0]];
  }

  /**
   * Adds `amount` (≥ 0) × `weight` to the key and returns its counter, or -1 when the key stays
   * in the filter; `lastWasNew` tells whether the counter was just (re)assigned to it.
   */
  offer(h1: number, h2: number, amount: number): number {
    const weight = amount * this.weight;
    let c = this.index.get(h1, h2);
    if (c >= 0) {
      this.lastWasNew = false;
      this.count[c] += weight;
      this.siftDown(this.pos[c]);
      return c;
    }
    // Upper bound of the key's weight and how much of it may be other keys'.
    let bound = weight;
    const filter = this.filter;
    if (filter !== undefined) {
      const cell = h2 & this.filterMask;
      bound = filter[cell] + weight;
      filter[cell] = bound;
      if (this.freeTop === 0 && bound < this.count[this.heap[0]]) {
        this.lastWasNew = false;
        return -1;
      }
    }
    this.lastWasNew = true;
    if (this.freeTop > 0) {
      c = this.free[--this.freeTop];
      this.count[c] = bound;
      this.error[c] = bound - weight;
      this.key1[c] = h1;
      this.key2[c] = h2;
      this.index.set(h1, h2, c);
      const p = this.used++;
      this.heap[p] = c;
      this.pos[c] = p;
      this.siftUp(p);
      return c;
    }
    // Take over the smallest counter.
    c = this.heap[0];
    this.index.delete(this.key1[c], this.key2[c]);
    const min = this.count[c];
    if (filter !== undefined) {
      // The key losing the counter becomes untracked: its cell must stay an upper bound of it.
      const cell = this.key2[c] & this.filterMask;
      if (filter[cell] < min) filter[cell] = min;
      this.error[c] = bound - weight;
      this.count[c] = bound;
    } else {
      // Its count becomes this key's possible overestimate.
      this.error[c] = min;
      this.count[c] = min + weight;
    }
    this.key1[c] = h1;
    this.key2[c] = h2;
    this.index.set(h1, h2, c);
    this.siftDown(0);
    return c;
  }

  /** Stops tracking the key of counter c (it got a row of its own). */
  remove(c: number): void {
    const p = this.pos[c];
    if (p < 0) return;
    this.index.delete(this.key1[c], this.key2[c]);
    const lastPos = --this.used;
    const last = this.heap[lastPos];
    this.pos[c] = -1;
    this.free[this.freeTop++] = c;
    if (p !== lastPos) {
      this.heap[p] = last;
      this.pos[last] = p;
      this.siftDown(p);
      this.siftUp(this.pos[last]);
    }
  }

  /** Multiplies every count by `factor` > 0 (forward-decay renormalisation); order is unchanged. */
  scale(factor: number): void {
    for (let i = 0; i < this.used; i++) {
      const c = this.heap[i];
      this.count[c] *= factor;
      this.error[c] *= factor;
    }
    const filter = this.filter;
    if (filter !== undefined) for (let i = 0; i < filter.length; i++) filter[i] *= factor;
  }

  private siftUp(p: number): void {
    const heap = this.heap;
    const count = this.count;
    const c = heap[p];
    const v = count[c];
    while (p > 0) {
      const parent = (p - 1) >> 1;
      const pc = heap[parent];
      if (count[pc] <= v) break;
      heap[p] = pc;
      this.pos[pc] = p;
      p = parent;
    }
    heap[p] = c;
    this.pos[c] = p;
  }

  private siftDown(p: number): void {
    const heap = this.heap;
    const count = this.count;
    const n = this.used;
    const c = heap[p];
    const v = count[c];
    for (;;) {
      let child = 2 * p + 1;
      if (child >= n) break;
      let cc = heap[child];
      let cv = count[cc];
      const right = child + 1;
      if (right < n) {
        const rc = heap[right];
        const rv = count[rc];
        if (rv < cv) {
          child = right;
          cc = rc;
          cv = rv;
        }
      }
      if (cv >= v) break;
      heap[p] = cc;
      this.pos[cc] = p;
      p = child;
    }
    heap[p] = c;
    this.pos[c] = p;
  }
}
