/**
 * Histogram families (flow_rtt_seconds, flow_duration_seconds): per label set, fixed bucket counts
 * in one Float64Array, a sum and a count, under the same cardinality contract as the counters:
 * - hard cap on label sets (`other` rows included), fold to `other` when a key has no row;
 * - conservation: every observation lands in exactly one row, so the `_count`s sum to the number
 *   of observations (and the `_sum`s to their total, up to floating-point rounding);
 * - never reset: rows are kept for the life of the process and their buckets only grow.
 * Observing allocates nothing for a label set that already has a row.
 */
import type { HistogramDefinition, HistogramValue } from '../config/types.js';
import type { FlowRecord } from '../record.js';
import { LabelSlots } from './label-slots.js';
import type { HistogramSnapshot, MeasureStats } from './measure-snapshot.js';
import type { FlowLabels } from './types.js';

/** Round-trip / network latency: 1 ms to 5 s. */
export const DEFAULT_RTT_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Flow duration: 100 ms to 1 h. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Most finite buckets a histogram may have (each is one series per label set). */
export const MAX_HISTOGRAM_BUCKETS = 64;

export const DEFAULT_HISTOGRAMS: readonly HistogramDefinition[] = [
  {
    name: 'flow_rtt_seconds',
    value: 'rtt',
    labels: ['device'],
    budget: 500,
    buckets: [...DEFAULT_RTT_BUCKETS],
    help: 'Round-trip or network latency reported by the flow source, per local device',
  },
  {
    name: 'flow_duration_seconds',
    value: 'duration',
    labels: ['app'],
    budget: 200,
    buckets: [...DEFAULT_DURATION_BUCKETS],
    help: 'Duration of flow records (end minus start) from sources with real flow times, per application',
  },
];

/** Fresh copies of the defaults. */
export function defaultHistograms(): HistogramDefinition[] {
  return DEFAULT_HISTOGRAMS.map((d) => ({ ...d, labels: [...d.labels], buckets: [...d.buckets] }));
}

export const HISTOGRAM_VALUES: readonly HistogramValue[] = ['rtt', 'duration'];

/** Sample names a histogram puts into the exposition (and its OpenMetrics family name). */
export function histogramMetricNames(name: string): string[] {
  return [name, `${name}_bucket`, `${name}_sum`, `${name}_count`, `${name}_created`];
}

/** Throws an Error naming the histogram when its buckets or value are invalid. */
export function validateHistogramBuckets(name: string, buckets: unknown): void {
  const where = `histogram "${name}"`;
  if (!Array.isArray(buckets) || buckets.length === 0) throw new Error(`${where}: buckets must be a non-empty list of upper bounds in seconds`);
  if (buckets.length > MAX_HISTOGRAM_BUCKETS) throw new Error(`${where}: at most ${MAX_HISTOGRAM_BUCKETS} buckets, got ${buckets.length}`);
  let prev = -Infinity;
  buckets.forEach((b, i) => {
    if (typeof b !== 'number' || !Number.isFinite(b) || b < 0) {
      throw new Error(`${where}: bucket ${i} (${String(b)}) must be a finite number of seconds, 0 or more (+Inf is implied)`);
    }
    if (!(b > prev)) throw new Error(`${where}: buckets must be strictly increasing, but ${b} follows ${prev}`);
    prev = b;
  });
}

const INITIAL_CAPACITY = 16;

export class HistogramFamily {
  readonly name: string;
  readonly value: HistogramValue;
  readonly help: string;
  readonly budget: number;
  readonly labelNames: readonly string[];
  readonly bounds: readonly number[];
  private readonly slots: LabelSlots;
  private readonly boundsArray: Float64Array;
  /** Buckets per row: the finite bounds plus +Inf. */
  private readonly width: number;
  /** Non-cumulative bucket counts, `width` per row; cumulated in snapshots. */
  private counts: Float64Array;
  private sums: Float64Array;
  private capacity: number;
  /** The value being added: passed through a typed array so that it is never boxed on the heap. */
  private readonly value1 = new Float64Array(1);
  /** Observations and their sum. */
  private readonly totals = new Float64Array(2);
  /** Observations refused: negative, infinite or NaN values. */
  rejected = 0;

  constructor(def: HistogramDefinition) {
    if (!(HISTOGRAM_VALUES as readonly string[]).includes(def.value)) {
      throw new Error(`histogram "${def.name}": value must be one of ${HISTOGRAM_VALUES.join(', ')}, got ${String(def.value)}`);
    }
    validateHistogramBuckets(def.name, def.buckets);
    this.slots = new LabelSlots(def);
    this.name = def.name;
    this.value = def.value;
    this.budget = def.budget;
    this.labelNames = this.slots.labelNames;
    this.help = def.help ?? `Distribution of ${def.value} per ${def.labels.join(' and ')}`;
    this.bounds = Object.freeze([...def.buckets]);
    this.boundsArray = Float64Array.from(def.buckets);
    this.width = def.buckets.length + 1;
    this.capacity = Math.min(this.budget, INITIAL_CAPACITY);
    this.counts = new Float64Array(this.capacity * this.width);
    this.sums = new Float64Array(this.capacity);
  }

  /** Adds one observation, in seconds, to the row of `labels` (or the row it folds into). */
  observe(labels: FlowLabels, seconds: number): void {
    this.value1[0] = seconds;
    this.addValue(labels);
  }

  /**
   * Observes what this histogram measures in a record, if the record carries it: `rtt` when the
   * source reported a latency (rttMs not NaN); `duration` when both flow times are set and the
   * source has real flow times (not sFlow, whose samples are stamped with the receive time).
   * Only objects cross the call: the value stays unboxed on the hot path.
   */
  observeRecord(r: FlowRecord, labels: FlowLabels): void {
    if (this.takeValue(r)) this.addValue(labels);
  }

  /**
   * observeRecord() that remembers the row in `cells[k]` (slot, -1 until known) and `cells[k + 1]`
   * (1 when that row is a coarser one the label set folded into), so that later records of the
   * same label set skip the lookup. Rows are never removed and a label set that folded once
   * always folds to the same row (the budget only fills up), so the remembered row stays right.
   */
  observeRecordCached(r: FlowRecord, labels: FlowLabels, cells: Int32Array, k: number): void {
    if (!this.takeValue(r)) return;
    if (!this.validValue()) return;
    let slot = cells[k];
    if (slot < 0) {
      const folded = this.slots.folded;
      slot = this.slots.slotOf(labels);
      cells[k] = slot;
      cells[k + 1] = this.slots.folded !== folded ? 1 : 0;
    } else if (cells[k + 1] === 1) {
      this.slots.folded++;
    }
    this.addAt(slot);
  }

  /** Puts what this histogram measures of `r` into value1[0]; false when the record has none. */
  private takeValue(r: FlowRecord): boolean {
    if (this.value === 'rtt') {
      const ms = r.rttMs;
      if (ms !== ms) return false; // NaN: the source says nothing about latency
      this.value1[0] = ms / 1000;
    } else {
      if (r.sourceKind === 'sflow' || !(r.timeStartMs > 0 && r.timeEndMs > 0)) return false;
      this.value1[0] = (r.timeEndMs - r.timeStartMs) / 1000;
    }
    return true;
  }

  /** Whether value1[0] can be observed; counts it as rejected if not. */
  private validValue(): boolean {
    const seconds = this.value1[0];
    if (seconds >= 0 && seconds < Infinity) return true;
    this.rejected++;
    return false;
  }

  /** Adds the value in value1[0]. */
  private addValue(labels: FlowLabels): void {
    const seconds = this.value1[0];
    if (!(seconds >= 0 && seconds < Infinity)) {
      this.rejected++;
      return;
    }
    this.addAt(this.slots.slotOf(labels));
  }

  /** Adds the (valid) value in value1[0] to the row at `slot`. */
  private addAt(slot: number): void {
    const seconds = this.value1[0];
    if (slot >= this.capacity) this.grow();
    const b = this.boundsArray;
    let i = 0;
    while (i < b.length && seconds > b[i]) i++;
    this.counts[slot * this.width + i]++;
    this.sums[slot] += seconds;
    this.totals[0]++;
    this.totals[1] += seconds;
  }

  snapshot(): HistogramSnapshot {
    const rows = this.slots.rows;
    const w = this.width;
    const buckets = new Float64Array(rows * w);
    const counts = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let i = 0; i < w; i++) {
        acc += this.counts[r * w + i];
        buckets[r * w + i] = acc;
      }
      counts[r] = acc;
    }
    return {
      name: this.name,
      help: this.help,
      unit: this.name.endsWith('_seconds') ? 'seconds' : undefined,
      labelNames: this.labelNames,
      labelValues: this.slots.rowValues.slice(0, rows),
      bounds: this.bounds,
      buckets,
      sums: this.sums.slice(0, rows),
      counts,
      budget: this.budget,
      totalCount: this.totals[0],
      totalSum: this.totals[1],
    };
  }

  stats(): MeasureStats {
    return {
      name: this.name,
      kind: 'histogram',
      labels: [...this.labelNames],
      seriesInUse: this.slots.rows,
      budget: this.budget,
      admissions: this.slots.admissions,
      evictions: 0,
      foldedRecords: this.slots.folded,
      foldedBytes: 0,
    };
  }

  private grow(): void {
    const cap = Math.min(this.budget, this.capacity * 2);
    const counts = new Float64Array(cap * this.width);
    counts.set(this.counts);
    const sums = new Float64Array(cap);
    sums.set(this.sums);
    this.counts = counts;
    this.sums = sums;
    this.capacity = cap;
  }
}
