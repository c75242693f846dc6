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
 *
 * Interface counters (sFlow counter samples) are absolute device counters: their value includes
 * everything the device counted before flowgauge saw the interface, at a time nobody knows. So a
 * row follows the OTel data model's "unknown start time" rule instead: cumulative, its first point
 * has `startTime` equal to its time (a reset point whose rate contribution is zero) and later points
 * keep that start; delta, the first collection that sees it takes its values as the baseline and
 * sends nothing, and later points carry the increases since. A backend never sees a device's
 * lifetime total as traffic of one interval.
 */
import { ValueType } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type GaugeMetricData,
  type Histogram,
  type HistogramMetricData,
  type MetricData,
  type MetricProducer,
  type ResourceMetrics,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import type { GaugeSnapshot, HistogramSnapshot, InfoSnapshot, MeasureSnapshots } from '../../rollup/measure-snapshot.js';
import type { InterfaceCountersSnapshot } from '../../rollup/interface-counters.js';
import type { RollupSnapshot } from '../../rollup/snapshot.js';
import { INTERFACE_ATTRIBUTE_NAMES, INTERFACE_SUM_STREAMS, interfaceAttributeValues, interfaceGauges } from './interface-families.js';
import {
  COUNTER_STREAMS,
  otlpCounterDescription,
  otlpCounterName,
  otlpDescription,
  otlpInfoName,
  otlpUnitForName,
  type OtlpSumStream,
} from './otlp-naming.js';

export type OtlpTemporality = 'cumulative' | 'delta';

export interface RollupMetricProducerOptions {
  /** Current snapshots of every rollup (the same call /metrics makes). */
  snapshots: () => readonly RollupSnapshot[];
  /** Histograms, gauges and info series rendered beside those rollups on /metrics. */
  measures?: (rollups: readonly RollupSnapshot[]) => MeasureSnapshots;
  /** Interface metrics from sFlow counter samples (the snapshot /metrics renders). */
  interfaces?: () => InterfaceCountersSnapshot;
  temporality: OtlpTemporality;
  scope: { name: string; version?: string };
  /** Start time (ms since epoch) of the series that exist at the first collection. Default: now. */
  startTimeMs?: number;
  /** Clock in ms since epoch; tests replace it. */
  now?: () => number;
}

/** Per series row of a family: when it started and what has been delivered (delta). */
interface RowState {
  startMs: number;
  /** Collection generation that last saw the row; rows not seen are dropped after a collection. */
  seen: number;
  /** Collection generation that created the row. */
  created: number;
  /**
   * Delta only: the delivered cumulative values. Counters: one per stream (bytes, packets, flows).
   * Histograms: the cumulative bucket counts, then sum, then count.
   */
  acked: Float64Array;
  /** Time of the delivered values, per stream (histograms have one). */
  ackedMs: Float64Array;
}

/** What acknowledge() needs to know about a delta point it created. */
interface PendingPoint {
  row: RowState;
  stream: number;
  /** Counter: the stream's cumulative value; histogram: all values of the row (see RowState). */
  cumulative: number | Float64Array;
  timeMs: number;
}

/** A family of monotonic counters: one Sum per stream, one point per row and stream. */
interface SumFamily {
  /** Key of the family's row states. */
  key: string;
  labelNames: readonly string[];
  labelValues: ReadonlyArray<readonly string[]>;
  streams: readonly OtlpSumStream[];
  /** Cumulative value of a row's stream. */
  value: (row: number, stream: number) => number;
  /** The counters did not start at zero when the rows appeared (see the header comment). */
  unknownStart: boolean;
}

/** Row state key of the interface counters; rollup counters use "c:", histograms "h:". */
const INTERFACE_FAMILY = 'i:interfaces';
/** Smallest value an OTLP int (sfixed64) cannot carry. */
const INT64_LIMIT = 2 ** 63;

export class RollupMetricProducer implements MetricProducer {
  readonly temporality: OtlpTemporality;
  private readonly snapshots: () => readonly RollupSnapshot[];
  private readonly measures: ((rollups: readonly RollupSnapshot[]) => MeasureSnapshots) | undefined;
  private readonly interfaces: (() => InterfaceCountersSnapshot) | undefined;
  private readonly scope: { name: string; version?: string };
  private readonly now: () => number;
  private readonly firstStartMs: number;
  private lastCollectMs: number | undefined;
  private generation = 0;
  /** Per family ("c:" rollup, "h:" histogram, "i:" interfaces): row key -> state. Bounded by the budgets (stale rows are dropped). */
  private readonly rows = new Map<string, Map<string, RowState>>();
  /** Delta points awaiting the exporter's verdict; weak so that dropped batches cost nothing. */
  private readonly pending = new WeakMap<object, PendingPoint>();

  constructor(options: RollupMetricProducerOptions) {
    this.snapshots = options.snapshots;
    this.measures = options.measures;
    this.interfaces = options.interfaces;
    this.temporality = options.temporality;
    this.scope = options.scope;
    this.now = options.now ?? Date.now;
    this.firstStartMs = options.startTimeMs ?? this.now();
  }

  async collect(): Promise<CollectionResult> {
    const nowMs = this.now();
    const c: Collection = {
      nowMs,
      endTime: millisToHrTime(nowMs),
      newRowStartMs: Math.min(this.lastCollectMs ?? this.firstStartMs, nowMs),
      gen: ++this.generation,
      metrics: [],
      families: new Set(),
    };
    const snapshots = this.snapshots();
    for (const snap of snapshots) this.collectCounters(c, snap);
    if (this.measures !== undefined) {
      const measures = this.measures(snapshots);
      for (const h of measures.histograms) this.collectHistogram(c, h);
      for (const g of measures.gauges) this.collectGauge(c, g);
      for (const i of measures.infos) this.collectInfo(c, i);
    }
    if (this.interfaces !== undefined) this.collectInterfaces(c, this.interfaces());
    for (const name of this.rows.keys()) if (!c.families.has(name)) this.rows.delete(name);
    this.lastCollectMs = nowMs;

    return {
      resourceMetrics: {
        resource: emptyResource(),
        scopeMetrics: c.metrics.length === 0 ? [] : [{ scope: this.scope, metrics: c.metrics }],
      },
      errors: [],
    };
  }

  private rowsOf(c: Collection, family: string): Map<string, RowState> {
    c.families.add(family);
    let rows = this.rows.get(family);
    if (rows === undefined) {
      rows = new Map();
      this.rows.set(family, rows);
    }
    return rows;
  }

  private rowFor(
    c: Collection,
    rows: Map<string, RowState>,
    values: readonly string[],
    width: number,
    streams: number,
    startMs = c.newRowStartMs,
  ): RowState {
    const key = rowKey(values);
    let row = rows.get(key);
    if (row === undefined) {
      row = { startMs, seen: c.gen, created: c.gen, acked: new Float64Array(width), ackedMs: new Float64Array(streams) };
      row.ackedMs.fill(row.startMs);
      rows.set(key, row);
    }
    row.seen = c.gen;
    return row;
  }

  private dropUnseen(c: Collection, rows: Map<string, RowState>): void {
    for (const [key, row] of rows) if (row.seen !== c.gen) rows.delete(key);
  }

  private collectCounters(c: Collection, snap: RollupSnapshot): void {
    const columns = [snap.bytes, snap.packets, snap.flows];
    this.collectSums(c, {
      key: 'c:' + snap.name,
      labelNames: snap.labelNames,
      labelValues: snap.labelValues,
      streams: COUNTER_STREAMS.map((stream) => ({
        name: otlpCounterName(snap.name, stream.what),
        description: otlpCounterDescription(snap.help, stream),
        unit: stream.unit,
      })),
      value: (r, s) => columns[s][r],
      unknownStart: false,
    });
  }

  /** Interface counters as monotonic Sums, speed and operational status as gauges. */
  private collectInterfaces(c: Collection, snap: InterfaceCountersSnapshot): void {
    const labelValues = interfaceAttributeValues(snap);
    this.collectSums(c, {
      key: INTERFACE_FAMILY,
      labelNames: INTERFACE_ATTRIBUTE_NAMES,
      labelValues,
      streams: INTERFACE_SUM_STREAMS,
      value: (r, s) => snap.rows[r].counters[s],
      unknownStart: true,
    });
    for (const g of interfaceGauges(snap, labelValues)) this.collectGauge(c, g);
  }

  private collectSums(c: Collection, f: SumFamily): void {
    const delta = this.temporality === 'delta';
    const rows = this.rowsOf(c, f.key);
    const n = f.streams.length;
    const points: Array<Array<DataPoint<number>>> = f.streams.map(() => []);
    // Int unless a value is beyond what sfixed64 carries (an agent's all-ones "unknown" 64-bit counter).
    const fitsInt = f.streams.map(() => true);
    for (let r = 0; r < f.labelValues.length; r++) {
      const values = f.labelValues[r];
      const row = this.rowFor(c, rows, values, n, n, f.unknownStart ? c.nowMs : c.newRowStartMs);
      const baselineOnly = delta && f.unknownStart && row.created === c.gen;
      const attributes = attributesOf(f.labelNames, values);
      for (let s = 0; s < n; s++) {
        const cumulative = f.value(r, s);
        if (baselineOnly) {
          // What the device counted before this collection has no known interval: not a delta.
          row.acked[s] = cumulative;
          row.ackedMs[s] = c.nowMs;
          continue;
        }
        if (!delta) {
          points[s].push({ startTime: millisToHrTime(row.startMs), endTime: c.endTime, attributes, value: cumulative });
          if (fitsInt[s] && !isInt64(cumulative)) fitsInt[s] = false;
          continue;
        }
        const increase = cumulative - row.acked[s];
        if (increase <= 0) continue;
        const point: DataPoint<number> = { startTime: millisToHrTime(row.ackedMs[s]), endTime: c.endTime, attributes, value: increase };
        this.pending.set(point, { row, stream: s, cumulative, timeMs: c.nowMs });
        points[s].push(point);
        if (fitsInt[s] && !isInt64(increase)) fitsInt[s] = false;
      }
    }
    this.dropUnseen(c, rows);
    for (let s = 0; s < n; s++) {
      if (points[s].length === 0) continue;
      const stream = f.streams[s];
      const metric: SumMetricData = {
        descriptor: {
          name: stream.name,
          description: stream.description,
          unit: stream.unit,
          valueType: fitsInt[s] ? ValueType.INT : ValueType.DOUBLE,
        },
        aggregationTemporality: delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: points[s],
      };
      c.metrics.push(metric);
    }
  }

  /**
   * A histogram row as OTLP wants it: per-bucket (not cumulative) counts over the same bounds,
   * sum and count. In delta mode, the increase over the delivered values.
   */
  private collectHistogram(c: Collection, h: HistogramSnapshot): void {
    const delta = this.temporality === 'delta';
    const rows = this.rowsOf(c, 'h:' + h.name);
    const w = h.bounds.length + 1;
    const points: Array<DataPoint<Histogram>> = [];
    for (let r = 0; r < h.labelValues.length; r++) {
      const values = h.labelValues[r];
      const row = this.rowFor(c, rows, values, w + 2, 1);
      // Cumulative-over-time values of the row: buckets (cumulative over le), sum, count.
      const current = new Float64Array(w + 2);
      current.set(h.buckets.subarray(r * w, r * w + w));
      current[w] = h.sums[r];
      current[w + 1] = h.counts[r];
      const base = delta ? row.acked : undefined;
      const count = current[w + 1] - (base?.[w + 1] ?? 0);
      if (delta && count <= 0) continue;
      const counts = new Array<number>(w);
      let below = 0;
      for (let b = 0; b < w; b++) {
        const le = current[b] - (base?.[b] ?? 0);
        counts[b] = le - below;
        below = le;
      }
      const point: DataPoint<Histogram> = {
        startTime: millisToHrTime(delta ? row.ackedMs[0] : row.startMs),
        endTime: c.endTime,
        attributes: attributesOf(h.labelNames, values),
        value: {
          buckets: { boundaries: [...h.bounds], counts },
          sum: current[w] - (base?.[w] ?? 0),
          count,
        },
      };
      if (delta) this.pending.set(point, { row, stream: 0, cumulative: current, timeMs: c.nowMs });
      points.push(point);
    }
    this.dropUnseen(c, rows);
    if (points.length === 0) return;
    const metric: HistogramMetricData = {
      descriptor: { name: h.name, description: otlpDescription(h.help), unit: otlpUnitForName(h.name), valueType: ValueType.DOUBLE },
      aggregationTemporality: delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: points,
    };
    c.metrics.push(metric);
  }

  /** Gauges are instantaneous: the same points in either temporality. */
  private collectGauge(c: Collection, g: GaugeSnapshot): void {
    const points: Array<DataPoint<number>> = [];
    for (let r = 0; r < g.labelValues.length; r++) {
      points.push({ startTime: c.endTime, endTime: c.endTime, attributes: attributesOf(g.labelNames, g.labelValues[r]), value: g.values[r] });
    }
    if (points.length > 0) c.metrics.push(gaugeMetric(g.name, g.help, points, ValueType.DOUBLE));
  }

  /** Info series: a gauge of 1 per label set, as Prometheus reads `_info` series. */
  private collectInfo(c: Collection, info: InfoSnapshot): void {
    const points: Array<DataPoint<number>> = info.labelValues.map((values) => ({
      startTime: c.endTime,
      endTime: c.endTime,
      attributes: attributesOf(info.labelNames, values),
      value: 1,
    }));
    if (points.length > 0) c.metrics.push(gaugeMetric(otlpInfoName(info.name), info.help, points, ValueType.INT));
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
          if (typeof p.cumulative === 'number') p.row.acked[p.stream] = p.cumulative;
          else p.row.acked.set(p.cumulative);
          p.row.ackedMs[p.stream] = p.timeMs;
        }
      }
    }
  }

  /** Series rows tracked (all rollups and interfaces); bounded by the rollup and interface budgets. */
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
      const rows = this.rows.get('c:' + snap.name);
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

/** State of one collect() call. */
interface Collection {
  nowMs: number;
  endTime: ReturnType<typeof millisToHrTime>;
  /** Start time given to rows first seen in this collection. */
  newRowStartMs: number;
  gen: number;
  metrics: MetricData[];
  /** Families seen in this collection; the state of the others is dropped. */
  families: Set<string>;
}

function gaugeMetric(name: string, help: string, dataPoints: Array<DataPoint<number>>, valueType: ValueType): GaugeMetricData {
  return {
    descriptor: { name, description: otlpDescription(help), unit: otlpUnitForName(name), valueType },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.GAUGE,
    dataPoints,
  };
}

/** Unambiguous key of a label value list (values may contain any character). */
function rowKey(values: readonly string[]): string {
  let key = '';
  for (const v of values) key += v.length + ':' + v;
  return key;
}

function isInt64(v: number): boolean {
  return Number.isInteger(v) && v < INT64_LIMIT;
}

function attributesOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) out[names[i]] = values[i];
  return out;
}

