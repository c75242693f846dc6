/**
 * What exporters see of a rollup: a point-in-time copy, detached from the live counters so that
 * rendering (Prometheus text, OTLP) can run off the ingest path.
 */
import type { RollupLabel } from '../config/types.js';

export interface RollupSnapshot {
  /** Metric name prefix: `<name>_bytes_total`, `<name>_packets_total`, `<name>_flows_total`. */
  name: string;
  /** Describes the rollup (one sentence, no trailing unit); renderers add what each counter counts. */
  help: string;
  labelNames: readonly RollupLabel[];
  /**
   * One entry per label set (series row), values in `labelNames` order, never '' (empty labels
   * read "unknown"). The inner arrays are frozen and shared with the family: do not modify them.
   */
  labelValues: ReadonlyArray<readonly string[]>;
  /** Counters per row, same index as `labelValues`; integers stored as doubles. */
  bytes: Float64Array;
  packets: Float64Array;
  flows: Float64Array;
  budget: number;
  /** Everything the family has counted; equals the column sums exactly (conservation). */
  totalBytes: number;
  totalPackets: number;
  totalFlows: number;
}

export interface RollupStats {
  name: string;
  /** Label sets (rows) in use, `other` rows included; each is three series in the exposition. */
  seriesInUse: number;
  budget: number;
  /** Rows ever created (fallback rows included). */
  admissions: number;
  /** Rows ever removed (their traffic goes to their fallback row from then on). */
  evictions: number;
  /**
   * Totals that evicted rows handed to their fallback rows when they were removed (conservation).
   * A fallback row's counter jumps by these amounts at eviction; subtracting their rate from a
   * rollup's summed rate gives the traffic rate without those jumps (docs/metrics.md).
   */
  evictedBytes: number;
  evictedPackets: number;
  evictedFlows: number;
  /** Records that landed in a coarser row than their own label set. */
  foldedRecords: number;
  foldedBytes: number;
  /** Records refused because a count was negative, NaN or not a safe integer after rounding. */
  rejectedRecords: number;
  totalBytes: number;
  totalPackets: number;
  totalFlows: number;
}
