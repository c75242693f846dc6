/**
 * The families beside the traffic counters, fed from the same enriched records: latency and
 * duration histograms, distinct peers/ports per device, and the info series. RollupEngine holds
 * one MeasureSet; the pipeline calls observe() after counting each record.
 */
import type { DistinctSettings, HistogramDefinition, InfoSettings, InventoryEntry } from '../config/types.js';
import { isCloudSource } from '../enrich/orientation.js';
import { Direction, type FlowRecord } from '../record.js';
import { DEFAULT_DISTINCT, DISTINCT_PEERS_METRIC, DISTINCT_PORTS_METRIC, DistinctFamily } from './distinct-family.js';
import { hashAddress } from './hyperloglog.js';
import { DEFAULT_HISTOGRAMS, HistogramFamily, histogramMetricNames } from './histogram-family.js';
import { DEFAULT_INFO, DEVICE_INFO, DeviceInfo, EXPORTER_INFO, type InfoSeries, createExporterInfo } from './info-series.js';
import type { MeasureSnapshots, MeasureStats } from './measure-snapshot.js';
import type { RollupSnapshot } from './snapshot.js';
import type { FlowLabels } from './types.js';

export interface MeasureSetOptions {
  /** Default: flow_rtt_seconds per device and flow_duration_seconds per app. */
  histograms?: readonly HistogramDefinition[];
  /** Default: DEFAULT_DISTINCT; a budget of 0 turns the gauges off. */
  distinct?: DistinctSettings;
  /** Default: DEFAULT_INFO; a budget of 0 turns that info family off. */
  info?: InfoSettings;
  /** Inventory entries, each one flow_device_info row. */
  inventory?: readonly InventoryEntry[];
}

/**
 * The device end as the enricher chose it (orientation.ts): the destination for ingress, and for
 * a cloud record reported by its receiver whose sender is local too.
 */
function deviceEndIsDst(r: FlowRecord, labels: FlowLabels): boolean {
  const dir = labels.direction;
  return dir === 'ingress' || (dir === 'internal' && r.direction === Direction.ingress && isCloudSource(r.sourceKind));
}

export class MeasureSet {
  readonly histograms: readonly HistogramFamily[];
  readonly distinct: DistinctFamily | undefined;
  readonly deviceInfo: DeviceInfo | undefined;
  readonly exporterInfo: InfoSeries | undefined;
  private readonly exporterScratch: string[] = ['', '', ''];
  private lastExporter = '';
  private lastSource = '';

  /** Throws an Error naming the family when a definition is invalid or two families share a name. */
  constructor(options: MeasureSetOptions = {}) {
    const defs = options.histograms ?? DEFAULT_HISTOGRAMS;
    const seen = new Set<string>();
    for (const d of defs) {
      if (seen.has(d.name)) throw new Error(`histogram "${d.name}" is defined twice; histogram names must be unique`);
      seen.add(d.name);
    }
    this.histograms = defs.map((d) => new HistogramFamily(d));
    const distinct = options.distinct ?? DEFAULT_DISTINCT;
    this.distinct = distinct.budget > 0 ? new DistinctFamily(distinct) : undefined;
    const info = options.info ?? DEFAULT_INFO;
    this.deviceInfo = info.deviceBudget > 0 ? new DeviceInfo(info.deviceBudget, options.inventory ?? []) : undefined;
    this.exporterInfo = info.exporterBudget > 0 ? createExporterInfo(info.exporterBudget) : undefined;
    const names = this.metricNames();
    const owners = new Map<string, string>();
    for (const [metric, owner] of names) {
      const prev = owners.get(metric);
      if (prev !== undefined && prev !== owner) throw new Error(`${prev} and ${owner} both produce metric "${metric}"`);
      owners.set(metric, owner);
    }
  }

  /** Sets the receive time (ms) of the records that follow: once per datagram, not per record. */
  setTime(receivedMs: number): void {
    this.distinct?.setTime(receivedMs);
  }

  /**
   * Feeds one enriched record (labels filled by the enricher for this record), received at the
   * time of the last setTime. Allocation-free for label sets and devices that already have rows.
   */
  observe(r: FlowRecord, labels: FlowLabels): void {
    this.noteExporter(r);
    const histograms = this.histograms;
    for (let i = 0; i < histograms.length; i++) histograms[i].observeRecord(r, labels);
    const distinct = this.distinct;
    const af = r.af;
    if (distinct !== undefined && (af === 4 || af === 6)) {
      const deviceIsDst = deviceEndIsDst(r, labels);
      distinct.record(labels.device, af, deviceIsDst ? r.src : r.dst, r.protocol, deviceIsDst ? r.srcPort : r.dstPort);
    }
  }

  /** Int32 cells observeCached() needs per label set. */
  get cacheCells(): number {
    return 2 * this.histograms.length + 6;
  }

  /**
   * observe() that remembers rows per label set in `cells[k .. k + cacheCells)` (all -1 at first;
   * see HistogramFamily.observeRecordCached and DistinctFamily.recordHashCached): the same counts,
   * without the lookups, for a caller that keeps one cell block per label set.
   */
  observeCached(r: FlowRecord, labels: FlowLabels, cells: Int32Array, k: number): void {
    this.noteExporter(r);
    const histograms = this.histograms;
    for (let i = 0; i < histograms.length; i++) histograms[i].observeRecordCached(r, labels, cells, k + 2 * i);
    const distinct = this.distinct;
    const af = r.af;
    if (distinct !== undefined && (af === 4 || af === 6)) {
      // Which end is the device, and the peer's address, are part of the flow key: remembered
      // with the rows, so that a record of a known key does not read its labels at all.
      const c = k + 2 * histograms.length;
      if (cells[c + 3] !== 1) {
        const dst = deviceEndIsDst(r, labels);
        cells[c + 4] = hashAddress(af, dst ? r.src : r.dst);
        cells[c + 5] = dst ? 1 : 0;
        cells[c + 3] = 1;
      }
      const deviceIsDst = cells[c + 5] === 1;
      distinct.recordHashCached(labels, cells[c + 4], r.protocol, deviceIsDst ? r.srcPort : r.dstPort, cells, c);
    }
  }

  /**
   * The exporter of each record too, so that flow_exporter_info also covers records counted away
   * from the datagram path (ingest workers, cloud pollers); looked up only when it changes.
   */
  private noteExporter(r: FlowRecord): void {
    if (r.exporter !== this.lastExporter || r.sourceKind !== this.lastSource) {
      this.lastExporter = r.exporter;
      this.lastSource = r.sourceKind;
      if (r.exporter !== '') this.exporterSeen(r.exporter, r.exporter, r.sourceKind);
    }
  }

  /** An exporter sent a datagram of `source` kind (netflow5, ipfix, sflow, aws...). */
  exporterSeen(exporter: string, address: string, source: string): void {
    const info = this.exporterInfo;
    if (info === undefined) return;
    const s = this.exporterScratch;
    s[0] = exporter;
    s[1] = address;
    s[2] = source;
    info.add(s);
  }

  /**
   * Snapshots at `nowMs` (the end of the distinct-count window). `rollups` are the traffic
   * snapshots of the same render: devices with rows there get flow_device_info rows.
   */
  snapshot(nowMs: number, rollups: readonly RollupSnapshot[] = []): MeasureSnapshots {
    const out: MeasureSnapshots = { histograms: this.histograms.map((h) => h.snapshot()), gauges: [], infos: [] };
    if (this.distinct !== undefined) {
      const g = this.distinct.snapshot(nowMs);
      out.gauges.push(g.peers, g.ports);
    }
    if (this.deviceInfo !== undefined) out.infos.push(this.deviceInfo.snapshot(this.keptDevices(rollups)));
    if (this.exporterInfo !== undefined) out.infos.push(this.exporterInfo.snapshot());
    return out;
  }

  stats(): MeasureStats[] {
    const out = this.histograms.map((h) => h.stats());
    if (this.distinct !== undefined) out.push(...this.distinct.stats());
    if (this.deviceInfo !== undefined) out.push(this.deviceInfo.stats());
    if (this.exporterInfo !== undefined) out.push(this.exporterInfo.stats());
    return out;
  }

  /** [metric or OpenMetrics family name, owning family] for every name these families expose. */
  metricNames(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const h of this.histograms) for (const m of histogramMetricNames(h.name)) out.push([m, `histogram "${h.name}"`]);
    if (this.distinct !== undefined) {
      for (const m of [DISTINCT_PEERS_METRIC, DISTINCT_PORTS_METRIC]) out.push([m, `the ${m} gauge`]);
    }
    for (const name of [this.deviceInfo ? DEVICE_INFO : undefined, this.exporterInfo ? EXPORTER_INFO : undefined]) {
      if (name !== undefined) out.push([name, `the ${name}_info series`], [`${name}_info`, `the ${name}_info series`]);
    }
    return out;
  }

  private *keptDevices(rollups: readonly RollupSnapshot[]): Generator<string> {
    for (const snap of rollups) {
      const i = snap.labelNames.indexOf('device');
      if (i < 0) continue;
      for (const values of snap.labelValues) yield values[i];
    }
    if (this.distinct !== undefined) yield* this.distinct.keptDevices();
  }
}
