/**
 * Turns rollup snapshots into OTLP metric data for the OTel SDK's metric reader.
 *
 * It is a MetricProducer rather than a set of SDK instruments on purpose:
 * - the pushed numbers are the snapshot columns themselves, the same ones /metrics renders, so the
 *   two outputs cannot disagree;
 * - no SDK aggregation sits in between, so the SDK's cardinality limit cannot fold rollup series
 *   into `otel.metric.overflow`; the rollup budget is the only limit;
 * - a series evicted from a rollup is simply absent from the next snapshot and stops being
 *   reported (SDK observable instruments in cumulative mode would keep re-sending its last value).
 *
 * Temporality:
 * - cumulative: each point is the counter's value since the series started (`startTime` is the
 *   collection before the series was first seen, or the producer's start for series already there).
 * - delta: each point is the increase since the last *delivered* point of that series. The
 *   baseline moves only when the exporter confirms delivery (acknowledge()), so a failed export is
 *   not a loss: the next point covers the whole undelivered interval. Series with no increase
 *   send no point.
 */
import { ValueType } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type MetricData,
  type MetricProducer,
  type ResourceMetrics,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import type { RollupSnapshot } from '../../rollup/snapshot.js';
import { COUNTER_STREAMS, otlpCounterDescription, otlpCounterName } from './otlp-naming.js';

export type OtlpTemporality = 'cumulative' | 'delta';

export interface RollupMetricProducerOptions {
  /** Current snapshots of every rollup (the same call /metrics makes). */
  snapshots: () => readonly RollupSnapshot[];
  temporality: OtlpTemporality;
  scope: { name: string; version?: string };
  /** Start time (ms since epoch) of the series that exist at the first collection. Default: now. */
  startTimeMs?: number;
  /** Clock in ms since epoch; tests replace it. */
  now?: () => number;
}

/** Per series row of a rollup: when it started and what has been delivered (delta). */
interface RowState {
  startMs: number;
  /** Collection generation that last saw the row; rows not seen are dropped after a collection. */
  seen: number;
  /** Delta only: delivered cumulative value and its time, per counter stream. */
  acked: Float64Array;
  ackedMs: Float64Array;
}

/** What acknowledge() needs to know about a delta point it created. */
interface PendingPoint {
  row: RowState;
  stream: number;
  cumulative: number;
  timeMs: number;
}

const STREAMS = COUNTER_STREAMS.length;

export class RollupMetricProducer implements MetricProducer {
  readonly temporality: OtlpTemporality;
  private readonly snapshots: () => readonly RollupSnapshot[];
  private readonly scope: { name: string; version?: string };
  private readonly now: () => number;
  private readonly firstStartMs: number;
  private lastCollectMs: number | undefined;
  private generation = 0;
  /** Per rollup name: row key -> state. Bounded by the rollup budgets (stale rows are dropped). */
  private readonly rows = new Map<string, Map<string, RowState>>();
  /** Delta points awaiting the exporter's verdict; weak so that dropped batches cost nothing. */
  private readonly pending = new WeakMap<object, PendingPoint>();

  constructor(options: RollupMetricProducerOptions) {
    this.snapshots = options.snapshots;
    this.temporality = options.temporality;
    this.scope = options.scope;
    this.now = options.now ?? Date.now;
    this.firstStartMs = options.startTimeMs ?? this.now();
  }

  async collect(): Promise<CollectionResult> {
    const nowMs = this.now();
    const endTime = millisToHrTime(nowMs);
    const newRowStartMs = this.lastCollectMs ?? this.firstStartMs;
    const gen = ++this.generation;
    const delta = this.temporality === 'delta';
    const metrics: MetricData[] = [];
    const seenRollups = new Set<string>();

    for (const snap of this.snapshots()) {
      seenRollups.add(snap.name);
      let rows = this.rows.get(snap.name);
      if (rows === undefined) {
        rows = new Map();
        this.rows.set(snap.name, rows);
      }
      const columns = [snap.bytes, snap.packets, snap.flows];
      const points: Array<Array<DataPoint<number>>> = [[], [], []];
      const n = snap.labelValues.length;
      for (let r = 0; r < n; r++) {
        const values = snap.labelValues[r];
        const key = rowKey(values);
        let row = rows.get(key);
        if (row === undefined) {
          row = {
            startMs: Math.min(newRowStartMs, nowMs),
            seen: gen,
            acked: new Float64Array(STREAMS),
            ackedMs: new Float64Array(STREAMS),
          };
          row.ackedMs.fill(row.startMs);
          rows.set(key, row);
        }
        row.seen = gen;
        const attributes = attributesOf(snap.labelNames, values);
        for (let s = 0; s < STREAMS; s++) {
          const cumulative = columns[s][r];
          if (!delta) {
            points[s].push({ startTime: millisToHrTime(row.startMs), endTime, attributes, value: cumulative });
            continue;
          }
          const increase = cumulative - row.acked[s];
          if (increase <= 0) continue;
          const point: DataPoint<number> = {
            startTime: millisToHrTime(row.ackedMs[s]),
            endTime,
            attributes,
            value: increase,
          };
          this.pending.set(point, { row, stream: s, cumulative, timeMs: nowMs });
          points[s].push(point);
        }
      }
      for (const [key, row] of rows) if (row.seen !== gen) rows.delete(key);
      for (let s = 0; s < STREAMS; s++) {
        if (points[s].length === 0) continue;
        const stream = COUNTER_STREAMS[s];
        const metric: SumMetricData = {
          descriptor: {
            name: otlpCounterName(snap.name, stream.what),
            description: otlpCounterDescription(snap.help, stream),
            unit: stream.unit,
            valueType: ValueType.INT,
          },
          aggregationTemporality: delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.SUM,
          isMonotonic: true,
          dataPoints: points[s],
        };
        metrics.push(metric);
      }
    }
    for (const name of this.rows.keys()) if (!seenRollups.has(name)) this.rows.delete(name);
    this.lastCollectMs = nowMs;

    return {
      resourceMetrics: {
        resource: emptyResource(),
        scopeMetrics: metrics.length === 0 ? [] : [{ scope: this.scope, metrics }],
      },
      errors: [],
    };
  }

  /**
   * The exporter delivered these metrics: in delta mode, their points become the new baselines.
   * Points of other producers, and points already superseded, are ignored.
   */
  acknowledge(metrics: ResourceMetrics): void {
    if (this.temporality !== 'delta') return;
    for (const scope of metrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints as ReadonlyArray<DataPoint<unknown>>) {
          const p = this.pending.get(point);
          if (p === undefined) continue;
          this.pending.delete(point);
          if (p.timeMs < p.row.ackedMs[p.stream]) continue;
          p.row.acked[p.stream] = p.cumulative;
          p.row.ackedMs[p.stream] = p.timeMs;
        }
      }
    }
  }

  /** Series rows tracked (all rollups); bounded by the sum of the rollup budgets. */
  trackedRows(): number {
    let n = 0;
    for (const rows of this.rows.values()) n += rows.size;
    return n;
  }

  /**
   * Delta only: counts collected but not yet delivered, summed per stream over every series
   * (what a stop right now would lose). Zero in cumulative mode.
   */
  undelivered(): { bytes: number; packets: number; flows: number } {
    const out = { bytes: 0, packets: 0, flows: 0 };
    if (this.temporality !== 'delta') return out;
    for (const snap of this.snapshots()) {
      const rows = this.rows.get(snap.name);
      const columns = [snap.bytes, snap.packets, snap.flows];
      for (let r = 0; r < snap.labelValues.length; r++) {
        const row = rows?.get(rowKey(snap.labelValues[r]));
        out.bytes += columns[0][r] - (row?.acked[0] ?? 0);
        out.packets += columns[1][r] - (row?.acked[1] ?? 0);
        out.flows += columns[2][r] - (row?.acked[2] ?? 0);
      }
    }
    return out;
  }
}

/** Unambiguous key of a label value list (values may contain any character). */
function rowKey(values: readonly string[]): string {
  let key = '';
  for (const v of values) key += v.length + ':' + v;
  return key;
}

function attributesOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) out[names[i]] = values[i];
  return out;
}

