/**
 * What exporters see of the families beside the traffic counters: histograms, gauges and info
 * series. Point-in-time copies, detached from the live state like RollupSnapshot.
 */

export interface HistogramSnapshot {
  /** Metric name: samples are `<name>_bucket`, `<name>_sum`, `<name>_count`. */
  name: string;
  help: string;
  /** Unit for OpenMetrics `# UNIT` (only when the name ends in `_<unit>`). */
  unit: string | undefined;
  labelNames: readonly string[];
  /** One entry per label set, values in labelNames order, never ''. Shared: do not modify. */
  labelValues: ReadonlyArray<readonly string[]>;
  /** Upper bounds of the finite buckets, increasing; the `+Inf` bucket is implied. */
  bounds: readonly number[];
  /**
   * Cumulative bucket counts, `bounds.length + 1` per row (the last one is `+Inf` and equals the
   * row's count): row r, bucket b at index r * (bounds.length + 1) + b.
   */
  buckets: Float64Array;
  sums: Float64Array;
  counts: Float64Array;
  budget: number;
  /** Everything observed; equals the sum of `counts` exactly. */
  totalCount: number;
  totalSum: number;
}

export interface GaugeSnapshot {
  name: string;
  help: string;
  labelNames: readonly string[];
  labelValues: ReadonlyArray<readonly string[]>;
  values: Float64Array;
}

/** An info family: `<name>_info{...} 1` per label set. */
export interface InfoSnapshot {
  /** Family name without the `_info` suffix. */
  name: string;
  help: string;
  labelNames: readonly string[];
  labelValues: ReadonlyArray<readonly string[]>;
}

export interface MeasureSnapshots {
  histograms: HistogramSnapshot[];
  gauges: GaugeSnapshot[];
  infos: InfoSnapshot[];
}

/** Budget use of one non-counter family, in the shape the per-rollup self-metrics report. */
export interface MeasureStats {
  /** The family's name as the `rollup` label of the self-metrics. */
  name: string;
  kind: 'histogram' | 'gauge' | 'info';
  labels: string[];
  /** Label sets in use. */
  seriesInUse: number;
  budget: number;
  admissions: number;
  /** Label sets withdrawn (gauges whose window emptied and whose slot went to another key). */
  evictions: number;
  /** Observations (or, for info series, label sets) that had no row of their own. */
  foldedRecords: number;
  /** Always 0: these families count no bytes. Present so the per-rollup self-metrics read alike. */
  foldedBytes: number;
}

export function emptyMeasureSnapshots(): MeasureSnapshots {
  return { histograms: [], gauges: [], infos: [] };
}
