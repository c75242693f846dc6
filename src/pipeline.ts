/**
 * The ingest pipeline shared by the daemon and `flowgauge replay`: one export datagram in, records
 * decoded (protocol chosen from the header), enriched, and added to the rollups. Owns the per-exporter
 * decoder state; sockets and files stay in the sources.
 */
import type { FlowgaugeConfig } from './config/types.js';
import { decodeCloudFlowLog, type CloudKind } from './decoders/cloud-flow-log.js';
import { createCloudDecodeCounters, type CloudDecodeCounters, type CloudDecodeOptions } from './decoders/cloud-types.js';
import { decodeNetflowDatagram, type NetflowDecodeContext } from './decoders/netflow.js';
import { NetflowExporterState } from './decoders/netflow-state.js';
import {
  decodeSflowDatagram,
  isSflowDatagram,
  type InterfaceCounters,
  type SflowDecodeContext,
} from './decoders/sflow.js';
import { SflowAgentState } from './decoders/sflow-state.js';
import { countError, createDecodeCounters, DecodeError, type DecodeCounters } from './decoders/types.js';
import { Enricher } from './enrich/enricher.js';
import { FlowKeyCache } from './flow-key-cache.js';
import type { FlowRecord } from './record.js';
import { InterfaceCounterStore } from './rollup/interface-counters.js';
import type { MeasureSnapshots } from './rollup/measure-snapshot.js';
import { RollupEngine } from './rollup/rollup-engine.js';
import type { RollupSnapshot } from './rollup/snapshot.js';
import { createFlowLabels, type FlowLabels } from './rollup/types.js';

export type ExportProtocol = 'netflow5' | 'netflow9' | 'ipfix' | 'sflow' | 'unknown';

/** What the pipeline knows about one exporter (one UDP source address). */
export class ExporterEntry {
  readonly address: string;
  readonly counters: DecodeCounters = createDecodeCounters();
  /** Datagrams seen per detected protocol. */
  readonly datagramsByProtocol = new Map<ExportProtocol, number>();
  netflow: NetflowExporterState | undefined;
  sflow: SflowAgentState | undefined;
  firstSeenMs: number;
  lastSeenMs: number;
  lastProtocol: ExportProtocol = 'unknown';
  readonly netflowCtx: NetflowDecodeContext;
  readonly sflowCtx: SflowDecodeContext;

  constructor(address: string, nowMs: number, defaultSamplingRate: number, samplingRateOverride: number | undefined) {
    this.address = address;
    this.firstSeenMs = nowMs;
    this.lastSeenMs = nowMs;
    this.netflowCtx = {
      exporter: address,
      nowMs,
      state: undefined as unknown as NetflowExporterState,
      counters: this.counters,
      defaultSamplingRate,
      samplingRateOverride,
    };
    this.sflowCtx = { exporter: address, nowMs, state: undefined as unknown as SflowAgentState, counters: this.counters };
  }
}

export interface PipelineOptions {
  /** Exporters tracked with their own state and self-metric labels; more are refused and counted. */
  maxExporters?: number;
  /**
   * When maxExporters is reached, a new exporter takes the place of the one silent longest if that
   * one has been silent this long (ms); 0 never. Default: config limits.exporterIdleSeconds.
   */
  exporterIdleMs?: number;
  /** Called with the address of each exporter forgotten to make room (see exporterIdleMs). */
  onExporterRetired?: (address: string) => void;
  /** Also called for every sFlow generic interface counter record (after the pipeline's own store). */
  onInterfaceCounters?: (c: InterfaceCounters) => void;
  /**
   * Hands each enriched record here instead of counting it: an ingest worker decodes and enriches,
   * and the thread that owns the rollups counts (countEnriched). Record and labels are reused.
   * `labelSetId`: the flow key cache entry holding the labels (FlowKeyCache.lastEntry), -1 for a
   * record that bypasses the cache; `labelSetChanged`: that entry was (re)filled for this record.
   */
  onEnriched?: (record: FlowRecord, labels: FlowLabels, labelSetId: number, labelSetChanged: boolean) => void;
  /** Entries of the flow key cache (default: config.ingest.flowKeyCacheEntries, else DEFAULT_FLOW_KEY_CACHE_ENTRIES). */
  flowKeyCacheEntries?: number;
}

/**
 * sFlow tracking per UDP source: agents behind it and data sources per agent (~170 bytes each, so at
 * most ~2.8 MB per exporter). Samples beyond these still decode; only their sequence and pool
 * statistics are not kept.
 */
export const PIPELINE_SFLOW_LIMITS = Object.freeze({ maxAgents: 16, maxSourcesPerAgent: 1024 });

/** How often each bound on network-keyed state refused or dropped something (flowgauge_limit_reached_total). */
export interface LimitCounts {
  /** Datagrams from new exporters beyond limits.max_exporters. */
  exporters: number;
  /** NetFlow/IPFIX domains, templates per domain, fields per template or per exporter, samplers. */
  netflow_templates: number;
  /** Data sets waiting for a template, dropped by the pending buffer's set or byte bound. */
  netflow_pending: number;
  /** sFlow datagrams from agents beyond the per-exporter agent bound. */
  sflow_agents: number;
  /** sFlow samples from data sources beyond the per-agent source bound. */
  sflow_sources: number;
}

/** Flow key cache lookups: served from the cache, or enriched and filled (flow-key-cache.ts). */
export interface KeyCacheCounts {
  hits: number;
  misses: number;
}

export interface PipelineDropCounters {
  /** Datagrams from exporters outside exporter_allowlist. */
  notAllowed: number;
  /** Datagrams from new exporters once maxExporters is reached. */
  exporterLimit: number;
  /** Datagrams rejected whole by a decoder (also counted per exporter by reason). */
  decodeFailed: number;
}

export class FlowPipeline {
  readonly rollups: RollupEngine;
  readonly enricher: Enricher;
  /** Labels and rollup rows per flow key, so repeated keys skip enrichment and lookups. */
  readonly keyCache: FlowKeyCache;
  /** Interface metrics from sFlow counter samples, per (agent, ifIndex). */
  readonly interfaces: InterfaceCounterStore;
  readonly exporters = new Map<string, ExporterEntry>();
  readonly drops: PipelineDropCounters = { notAllowed: 0, exporterLimit: 0, decodeFailed: 0 };
  private readonly labels: FlowLabels = createFlowLabels();
  private readonly maxExporters: number;
  private readonly exporterIdleMs: number;
  private readonly onExporterRetired: ((address: string) => void) | undefined;
  /** Exporters forgotten to make room for new ones (flowgauge_exporters_expired_total). */
  exportersExpired = 0;
  /** The same in ingest workers, where their exporters live; set from their reports. */
  workerExportersExpired = 0;
  /** What forgotten exporters had added to limitCounts(), which must never go down. */
  private readonly retiredLimits: LimitCounts = { exporters: 0, netflow_templates: 0, netflow_pending: 0, sflow_agents: 0, sflow_sources: 0 };
  /**
   * No exporter can have been silent for exporterIdleMs before this receive time: a flood of new
   * source addresses against a full table then costs no scan per datagram.
   */
  private noIdleExporterBefore = -Infinity;
  /** Receive time of the datagram being decoded (for the interface counters it carries). */
  private datagramMs = 0;
  /** Cloud flow logs decoded so far, per cloud: records counted, lines or entries skipped by reason. */
  readonly cloud = new Map<CloudKind, CloudDecodeCounters>();
  private cloudSink: ((r: FlowRecord) => void) | undefined;
  private cloudReceivedMs = 0;
  private readonly config: FlowgaugeConfig;
  private readonly onInterfaceCounters: (c: InterfaceCounters) => void;
  private readonly sink = (r: FlowRecord): void => this.addRecord(r);
  private readonly onEnriched: PipelineOptions['onEnriched'];
  /** Flow key cache lookups in ingest workers, where those caches live; keyCacheCounts() adds them. */
  readonly workerKeyCache: KeyCacheCounts = { hits: 0, misses: 0 };
  /** State bounds hit in ingest workers, where that state lives; limitCounts() adds them. */
  readonly workerLimits: LimitCounts = { exporters: 0, netflow_templates: 0, netflow_pending: 0, sflow_agents: 0, sflow_sources: 0 };
  private lastReceiveTime = NaN;
  /** Bumped whenever a template is learned or withdrawn, so the state file is rewritten. */
  templateGeneration = 0;
  /** Newest receive time so far, and the monotonic clock reading when it arrived. */
  private newestReceivedMs = -Infinity;
  private newestReceivedAt = 0;

  constructor(config: FlowgaugeConfig, options: PipelineOptions = {}) {
    this.config = config;
    this.rollups = new RollupEngine(
      config.rollups,
      (def) => (def.selection ? { selection: { ...def.selection } } : {}),
      { histograms: config.histograms, distinct: config.distinct, info: config.info, inventory: config.inventory },
    );
    this.enricher = new Enricher(config);
    this.keyCache = new FlowKeyCache(
      this.enricher,
      options.onEnriched === undefined ? this.rollups : undefined,
      options.flowKeyCacheEntries ?? config.ingest?.flowKeyCacheEntries,
    );
    this.maxExporters = options.maxExporters ?? config.limits?.maxExporters ?? 1000;
    this.exporterIdleMs = options.exporterIdleMs ?? (config.limits?.exporterIdleSeconds ?? 0) * 1000;
    this.onExporterRetired = options.onExporterRetired;
    this.interfaces = new InterfaceCounterStore({
      budget: config.interfaces?.budget,
      idleMs: (config.interfaces?.idleSeconds ?? 0) * 1000,
    });
    this.onEnriched = options.onEnriched;
    const store = this.interfaces;
    const also = options.onInterfaceCounters;
    this.onInterfaceCounters =
      also === undefined
        ? (c) => void store.add(c, this.datagramMs)
        : (c) => {
            store.add(c, this.datagramMs);
            also(c);
          };
  }

  /** Decodes one export datagram. Never throws for bad input: failures are counted. */
  handleDatagram(buf: Uint8Array, exporterAddress: string, nowMs: number): void {
    this.datagramMs = nowMs;
    let entry = this.exporters.get(exporterAddress);
    if (entry === undefined) {
      if (this.exporters.size >= this.maxExporters && !this.expireIdleExporter(nowMs)) {
        this.drops.exporterLimit++;
        return;
      }
      entry = this.createExporter(exporterAddress, nowMs);
    }
    entry.lastSeenMs = nowMs;
    this.rollups.setReceiveTime(nowMs);
    if (nowMs >= this.newestReceivedMs) {
      this.newestReceivedMs = nowMs;
      this.newestReceivedAt = performance.now();
    }
    const protocol = detectProtocol(buf);
    if (protocol !== 'unknown') this.rollups.measures.exporterSeen(exporterAddress, exporterAddress, protocol);
    entry.lastProtocol = protocol;
    entry.datagramsByProtocol.set(protocol, (entry.datagramsByProtocol.get(protocol) ?? 0) + 1);
    const templatesBefore = entry.counters.templatesReceived + entry.counters.templatesWithdrawn;
    try {
      if (protocol === 'sflow') {
        entry.sflow ??= new SflowAgentState(PIPELINE_SFLOW_LIMITS);
        entry.sflowCtx.state = entry.sflow;
        entry.sflowCtx.nowMs = nowMs;
        decodeSflowDatagram(buf, entry.sflowCtx, this.sink, this.onInterfaceCounters);
      } else {
        entry.netflow ??= this.newNetflowState();
        entry.netflowCtx.state = entry.netflow;
        entry.netflowCtx.nowMs = nowMs;
        decodeNetflowDatagram(buf, entry.netflowCtx, this.sink);
      }
    } catch (err) {
      this.drops.decodeFailed++;
      if (err instanceof DecodeError) countError(entry.counters, err.reason);
      else countError(entry.counters, 'unsupported');
    }
    if (entry.counters.templatesReceived + entry.counters.templatesWithdrawn !== templatesBefore) {
      this.templateGeneration++;
    }
  }

  /**
   * Decodes one cloud flow-log object of `kind` (the text of an S3 object, a blob, a batch of log
   * entries, decompressed) and counts its records. The windows and the heavy-hitter selection
   * follow each record's end time (flow logs arrive minutes after the traffic, in batches), or
   * `receivedMs` for a record without one. Lines or entries that cannot be read are counted by
   * reason in `cloud`, never thrown. Returns the records counted.
   */
  handleCloudFlowLog(kind: CloudKind, text: string, receivedMs: number, options?: CloudDecodeOptions): number {
    let counters = this.cloud.get(kind);
    if (counters === undefined) {
      counters = createCloudDecodeCounters();
      this.cloud.set(kind, counters);
    }
    const before = counters.records;
    this.cloudReceivedMs = receivedMs;
    decodeCloudFlowLog(kind, text, counters, this.cloudSink ??= (r) => {
      this.enrichedReceiveTime(r.timeEndMs > 0 ? r.timeEndMs : this.cloudReceivedMs);
      this.addRecord(r);
    }, options);
    return counters.records - before;
  }

  /** Counts a datagram refused by the exporter allowlist. */
  countNotAllowed(): void {
    this.drops.notAllowed++;
  }

  private addRecord(r: FlowRecord): void {
    if (r.meta !== undefined) {
      // Labels that also come from the record's metadata bag: not cached (flow-key-cache.ts).
      const labels = this.labels;
      this.enricher.enrich(r, labels);
      if (this.onEnriched !== undefined) this.onEnriched(r, labels, -1, false);
      else this.count(r, labels);
      return;
    }
    const keys = this.keyCache;
    const labels = keys.resolve(r);
    if (this.onEnriched !== undefined) {
      this.onEnriched(r, labels, keys.lastEntry, keys.lastFilled);
    } else if (keys.routeBase < 0) {
      this.count(r, labels);
    } else {
      const rate = r.samplingRate >= 1 ? r.samplingRate : 1;
      this.rollups.countRoutedAt(keys.cells, keys.routeBase, r, labels, r.bytes * rate, r.packets * rate, r.flows);
    }
  }

  /** Counts one record an ingest worker decoded and enriched, as handleDatagram counts its own. */
  countEnriched(r: FlowRecord, labels: FlowLabels, receivedMs: number): void {
    this.enrichedReceiveTime(receivedMs);
    this.count(r, labels);
  }

  /**
   * countEnriched for a record whose label set has a route (RollupEngine.newRoute) that the caller
   * keeps per label set of one flow key, as the single-thread path keeps one per cache entry.
   */
  countEnrichedRouted(r: FlowRecord, labels: FlowLabels, route: Int32Array, receivedMs: number): void {
    this.enrichedReceiveTime(receivedMs);
    const rate = r.samplingRate >= 1 ? r.samplingRate : 1;
    this.rollups.countRouted(route, r, labels, r.bytes * rate, r.packets * rate, r.flows);
  }

  private enrichedReceiveTime(receivedMs: number): void {
    if (receivedMs !== this.lastReceiveTime) {
      this.lastReceiveTime = receivedMs;
      this.rollups.setReceiveTime(receivedMs);
      if (receivedMs >= this.newestReceivedMs) {
        this.newestReceivedMs = receivedMs;
        this.newestReceivedAt = performance.now();
      }
    }
  }

  private count(r: FlowRecord, labels: FlowLabels): void {
    const rate = r.samplingRate >= 1 ? r.samplingRate : 1;
    this.rollups.add(labels, r.bytes * rate, r.packets * rate, r.flows);
    this.rollups.observe(r, labels);
  }

  /**
   * "Now" for the sliding windows at a scrape: the newest receive time, advanced by the real time
   * elapsed since that datagram arrived. Live, that is the wall clock; in a replay, the end of the
   * capture (its datagrams carry capture times). Never needs a timer.
   */
  measureNowMs(): number {
    if (this.newestReceivedMs === -Infinity) return Date.now();
    return this.newestReceivedMs + (performance.now() - this.newestReceivedAt);
  }

  /** Histograms, distinct-count gauges and info series for one render, beside `rollups` (its traffic snapshots). */
  measureSnapshots(rollups: readonly RollupSnapshot[]): MeasureSnapshots {
    return this.rollups.measureSnapshots(this.measureNowMs(), rollups);
  }

  private createExporter(address: string, nowMs: number): ExporterEntry {
    const nf = this.config.netflow;
    const entry = new ExporterEntry(address, nowMs, nf.defaultSamplingRate, nf.samplingRateOverrides[address]);
    this.exporters.set(address, entry);
    return entry;
  }

  private newNetflowState(): NetflowExporterState {
    return new NetflowExporterState({ maxPendingRecords: this.config.netflow.pendingRecordsPerExporter });
  }

  /** Flow key cache lookups of this pipeline and of the ingest workers it mirrors. */
  keyCacheCounts(): KeyCacheCounts {
    return { hits: this.keyCache.hits + this.workerKeyCache.hits, misses: this.keyCache.misses + this.workerKeyCache.misses };
  }

  /**
   * Forgets an exporter: its templates, sequence and sFlow state and its self-metric series. What it
   * added to limitCounts() stays counted. Returns false when the address is not tracked.
   */
  retireExporter(address: string): boolean {
    const e = this.exporters.get(address);
    if (e === undefined) return false;
    const r = this.retiredLimits;
    r.netflow_templates += e.counters.errors.get('template_limit') ?? 0;
    if (e.netflow) r.netflow_pending += e.netflow.pending.evicted;
    if (e.sflow) {
      r.sflow_agents += e.sflow.untrackedAgentDatagrams;
      r.sflow_sources += e.sflow.untrackedSamples;
    }
    this.exporters.delete(address);
    this.onExporterRetired?.(address);
    return true;
  }

  /**
   * Makes room for a new exporter in a full table by forgetting the one silent longest, if it has
   * been silent for exporterIdleMs. O(exporters), and only when a new exporter finds the table full
   * and one could qualify by now.
   */
  private expireIdleExporter(nowMs: number): boolean {
    if (!(this.exporterIdleMs > 0) || nowMs < this.noIdleExporterBefore) return false;
    let oldest: ExporterEntry | undefined;
    for (const e of this.exporters.values()) if (oldest === undefined || e.lastSeenMs < oldest.lastSeenMs) oldest = e;
    if (oldest === undefined) return false;
    if (nowMs - oldest.lastSeenMs < this.exporterIdleMs) {
      // Receive times only grow, so none qualifies before the oldest one does.
      this.noIdleExporterBefore = oldest.lastSeenMs + this.exporterIdleMs;
      return false;
    }
    this.exportersExpired++;
    this.retireExporter(oldest.address);
    return true;
  }

  /** Times each state bound bit, summed over exporters (read at scrape time, not on the hot path). */
  limitCounts(): LimitCounts {
    const w = this.workerLimits;
    const r = this.retiredLimits;
    const out: LimitCounts = {
      exporters: this.drops.exporterLimit,
      netflow_templates: r.netflow_templates,
      netflow_pending: w.netflow_pending + r.netflow_pending,
      sflow_agents: w.sflow_agents + r.sflow_agents,
      sflow_sources: w.sflow_sources + r.sflow_sources,
    };
    for (const e of this.exporters.values()) {
      out.netflow_templates += e.counters.errors.get('template_limit') ?? 0;
      if (e.netflow) out.netflow_pending += e.netflow.pending.evicted;
      if (e.sflow) {
        out.sflow_agents += e.sflow.untrackedAgentDatagrams;
        out.sflow_sources += e.sflow.untrackedSamples;
      }
    }
    return out;
  }

  /** Templates of every exporter, for the state file. */
  saveTemplates(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [address, entry] of this.exporters) {
      if (entry.netflow) out[address] = entry.netflow.toJSON();
    }
    return out;
  }

  /** Restores templates saved by saveTemplates(); returns the exporters that could not be restored. */
  restoreTemplates(saved: Record<string, unknown>, nowMs: number): string[] {
    const failed: string[] = [];
    for (const [address, data] of Object.entries(saved)) {
      if (this.exporters.size >= this.maxExporters) break;
      try {
        const state = NetflowExporterState.fromJSON(data, {
          maxPendingRecords: this.config.netflow.pendingRecordsPerExporter,
        });
        const entry = this.exporters.get(address) ?? this.createExporter(address, nowMs);
        entry.netflow = state;
      } catch {
        failed.push(address);
      }
    }
    return failed;
  }
}

/**
 * The protocol of an export datagram from its first bytes: sFlow starts with the 32-bit version 5;
 * NetFlow v5/v9 and IPFIX with a 16-bit version 5, 9 or 10.
 */
export function detectProtocol(buf: Uint8Array): ExportProtocol {
  if (buf.length >= 4 && isSflowDatagram(buf)) return 'sflow';
  if (buf.length < 2) return 'unknown';
  const v = (buf[0] << 8) | buf[1];
  if (v === 5) return 'netflow5';
  if (v === 9) return 'netflow9';
  if (v === 10) return 'ipfix';
  return 'unknown';
}
