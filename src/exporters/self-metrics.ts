/**
 * flowgauge_* self-metrics. The pipeline keeps plain-number counters on its hot path; prom-client
 * reads them at scrape time through collect() callbacks, so ingestion never touches a label map.
 */
import client from 'prom-client';
import type { SflowSourceStats } from '../decoders/sflow-state.js';
import type { FlowPipeline } from '../pipeline.js';
import type { CloudFlowLogPoller } from '../sources/cloud/cloud-flow-log-poller.js';
import type { UdpListener } from '../sources/udp-listener.js';
import { readUdpDrops } from '../sources/kernel-udp-stats.js';
import { registerProcessMetrics } from './process-metrics.js';

export interface SelfMetricsSources {
  pipeline: FlowPipeline;
  listeners: () => UdpListener[];
  interfaceSeries?: () => number;
  /** The cloud flow-log pollers (`cloud_flow_logs:`). */
  cloudPollers?: () => readonly CloudFlowLogPoller[];
  /** OTLP export outcomes; given only when the OTLP push is configured. */
  otlpExports?: () => { success: number; failure: number; dropped: number } | undefined;
}

export interface SelfMetrics {
  prometheus: client.Registry;
  openmetrics: client.Registry<'application/openmetrics-text; version=1.0.0; charset=utf-8'>;
  observeRender(seconds: number): void;
}

export function createSelfMetrics(src: SelfMetricsSources, collectProcessMetrics = true): SelfMetrics {
  const prometheus = new client.Registry();
  const openmetrics = new client.Registry<client.OpenMetricsContentType>();
  openmetrics.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
  const registers = [prometheus, openmetrics];
  const { pipeline } = src;

  const perExporter = (
    name: string,
    help: string,
    read: (e: import('../pipeline.js').ExporterEntry) => number,
  ): void => {
    new client.Counter({
      name,
      help,
      labelNames: ['exporter'] as const,
      registers,
      collect() {
        this.reset();
        for (const e of pipeline.exporters.values()) this.inc({ exporter: e.address }, read(e));
      },
    });
  };

  new client.Counter({
    name: 'flowgauge_datagrams_total',
    help: 'Export datagrams received from each exporter, by detected protocol.',
    labelNames: ['exporter', 'protocol'] as const,
    registers,
    collect() {
      this.reset();
      for (const e of pipeline.exporters.values()) {
        for (const [protocol, n] of e.datagramsByProtocol) this.inc({ exporter: e.address, protocol }, n);
      }
    },
  });
  perExporter('flowgauge_records_total', 'Flow records and flow samples decoded from each exporter.', (e) => e.counters.records);
  new client.Counter({
    name: 'flowgauge_decode_errors_total',
    help: 'Decode problems by exporter and reason (a rejected datagram, or a bad part of one).',
    labelNames: ['exporter', 'reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const e of pipeline.exporters.values()) {
        for (const [reason, n] of e.counters.errors) this.inc({ exporter: e.address, reason }, n);
      }
    },
  });
  perExporter(
    'flowgauge_template_misses_total',
    'Data records dropped because their template never arrived in time.',
    (e) => e.counters.templateMisses,
  );
  new client.Gauge({
    name: 'flowgauge_pending_records',
    help: 'Data records held back waiting for their template.',
    labelNames: ['exporter'] as const,
    registers,
    collect() {
      this.reset();
      for (const e of pipeline.exporters.values()) this.set({ exporter: e.address }, e.counters.pendingRecords);
    },
  });
  perExporter(
    'flowgauge_sequence_gap_datagrams_total',
    'Export datagrams lost in transit, from sequence numbers (NetFlow v9, sFlow).',
    (e) => e.counters.sequenceGapDatagrams,
  );
  perExporter(
    'flowgauge_sequence_gap_records_total',
    'Flow records lost in transit, from sequence numbers (NetFlow v5, IPFIX).',
    (e) => e.counters.sequenceGapRecords,
  );
  perExporter('flowgauge_templates_received_total', 'Templates and options templates received.', (e) => e.counters.templatesReceived);
  perExporter('flowgauge_templates_withdrawn_total', 'IPFIX templates withdrawn.', (e) => e.counters.templatesWithdrawn);
  perExporter('flowgauge_options_records_total', 'Options data records received (sampling, interface names).', (e) => e.counters.optionsRecords);
  new client.Gauge({
    name: 'flowgauge_exporters',
    help: 'Exporters currently tracked.',
    registers,
    collect() {
      this.set(pipeline.exporters.size);
    },
  });
  new client.Counter({
    name: 'flowgauge_exporters_expired_total',
    help: 'Exporters forgotten to make room for a new one, after limits.exporter_idle_seconds of silence with limits.max_exporters reached.',
    registers,
    collect() {
      this.reset();
      this.inc(pipeline.exportersExpired + pipeline.workerExportersExpired);
    },
  });
  new client.Counter({
    name: 'flowgauge_datagrams_dropped_total',
    help: 'Datagrams dropped before decoding or rejected whole, by reason.',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset();
      this.inc({ reason: 'not_allowed' }, pipeline.drops.notAllowed);
      this.inc({ reason: 'exporter_limit' }, pipeline.drops.exporterLimit);
      this.inc({ reason: 'decode_failed' }, pipeline.drops.decodeFailed);
    },
  });
  new client.Counter({
    name: 'flowgauge_flow_key_cache_lookups_total',
    help: 'Records looked up in the flow key cache, by result: hit (labels and rows reused) or miss (enriched and cached).',
    labelNames: ['result'] as const,
    registers,
    collect() {
      this.reset();
      const c = pipeline.keyCacheCounts();
      this.inc({ result: 'hit' }, c.hits);
      this.inc({ result: 'miss' }, c.misses);
    },
  });
  new client.Counter({
    name: 'flowgauge_limit_reached_total',
    help: 'Times a bound on state keyed by network data refused or dropped something, by limit (docs/reliability.md).',
    labelNames: ['limit'] as const,
    registers,
    collect() {
      this.reset();
      for (const [limit, n] of Object.entries(pipeline.limitCounts())) this.inc({ limit }, n);
    },
  });

  // Rollup health: how full each budget is and how much traffic folded into "other" rows.
  // Histogram, distinct-gauge and info families report under the same `rollup` label (their name).
  const perRollup = (
    kind: 'gauge' | 'counter',
    name: string,
    help: string,
    read: (s: RollupStatsView) => number,
    withMeasures = true,
  ): void => {
    const opts = {
      name,
      help,
      labelNames: ['rollup'] as const,
      registers,
    };
    if (kind === 'gauge') {
      new client.Gauge({
        ...opts,
        collect() {
          for (const f of pipeline.rollups.families()) this.set({ rollup: f.definition.name }, read(f.stats()));
          if (withMeasures) for (const s of pipeline.rollups.measureStats()) this.set({ rollup: s.name }, read(s));
        },
      });
    } else {
      new client.Counter({
        ...opts,
        collect() {
          this.reset();
          for (const f of pipeline.rollups.families()) this.inc({ rollup: f.definition.name }, read(f.stats()));
          if (withMeasures) for (const s of pipeline.rollups.measureStats()) this.inc({ rollup: s.name }, read(s));
        },
      });
    }
  };
  perRollup(
    'gauge',
    'flowgauge_rollup_series',
    'Label sets in use by each rollup (a traffic label set is one bytes, packets and flows series), histogram, gauge and info family.',
    (s) => s.seriesInUse,
  );
  perRollup('gauge', 'flowgauge_rollup_budget', 'Label sets each rollup, histogram, gauge and info family may use.', (s) => s.budget);
  perRollup('counter', 'flowgauge_rollup_folded_records_total', 'Records counted in a coarser (other) row because their key had no series.', (s) => s.foldedRecords);
  perRollup('counter', 'flowgauge_rollup_folded_bytes_total', 'Bytes counted in a coarser (other) row because their key had no series.', (s) => s.foldedBytes, false);
  perRollup('counter', 'flowgauge_rollup_admissions_total', 'Keys given a series of their own.', (s) => s.admissions);
  perRollup('counter', 'flowgauge_rollup_evictions_total', 'Keys whose series was withdrawn.', (s) => s.evictions);
  // What evicted rows handed to their fallback rows: subtract its rate to remove the jump (docs/metrics.md).
  for (const what of ['bytes', 'packets', 'flows'] as const) {
    const field = what === 'bytes' ? 'evictedBytes' : what === 'packets' ? 'evictedPackets' : 'evictedFlows';
    perRollup(
      'counter',
      `flowgauge_rollup_evicted_${what}_total`,
      `The ${what} counts that evicted series handed to their fallback (other) series when they were withdrawn.`,
      (s) => s[field] ?? 0,
      false,
    );
  }

  // sFlow sampling, per agent and data source, from each UDP source's SflowAgentState (bounded by
  // its maxAgents / maxSourcesPerAgent). Sources that sent no flow sample have no rate.
  const sflowSources = (): SflowSourceStats[] => {
    const out: SflowSourceStats[] = [];
    for (const e of pipeline.exporters.values()) if (e.sflow) for (const s of e.sflow.sources()) if (s.flowSamples > 0) out.push(s);
    return out;
  };
  const sourceLabels = (s: { agent: string; subAgentId: number; sourceIdType: number; sourceIdIndex: number }) => ({
    exporter: s.agent,
    sub_agent: String(s.subAgentId),
    source_id: `${s.sourceIdType}:${s.sourceIdIndex}`,
  });
  new client.Gauge({
    name: 'flowgauge_sflow_sampling_rate',
    help: 'Sampling rate (1 in N) announced by the last flow sample of each sFlow data source.',
    labelNames: ['exporter', 'sub_agent', 'source_id'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of sflowSources()) this.set(sourceLabels(s), s.samplingRate);
    },
  });
  new client.Gauge({
    name: 'flowgauge_sflow_effective_sampling_rate',
    help: 'Packets each received sFlow flow sample stands for (growth of sample_pool / samples received), lost samples included.',
    labelNames: ['exporter', 'sub_agent', 'source_id'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of sflowSources()) if (s.poolSamples > 0) this.set(sourceLabels(s), s.effectiveRate);
    },
  });
  new client.Counter({
    name: 'flowgauge_sflow_samples_lost_total',
    help: 'sFlow flow samples lost per agent: gaps in the flow-sample sequence numbers plus the drops the agent reports.',
    labelNames: ['exporter'] as const,
    registers,
    collect() {
      this.reset();
      const byAgent = new Map<string, number>();
      for (const s of sflowSources()) byAgent.set(s.agent, (byAgent.get(s.agent) ?? 0) + s.samplesLost);
      for (const [exporter, n] of byAgent) this.inc({ exporter }, n);
    },
  });

  // Interface metrics (sFlow counter samples): budget use and what did not get a series.
  new client.Gauge({
    name: 'flowgauge_interface_series',
    help: 'Interfaces (exporter, ifIndex) with interface metrics.',
    registers,
    collect() {
      this.set(pipeline.interfaces.size);
    },
  });
  new client.Gauge({
    name: 'flowgauge_interface_budget',
    help: 'Interfaces that may have interface metrics.',
    registers,
    collect() {
      this.set(pipeline.interfaces.budget);
    },
  });
  new client.Counter({
    name: 'flowgauge_interface_records_ignored_total',
    help: 'sFlow interface counter records not applied: over_budget (the interface has no series, budget full) or stale (repeated or late sample).',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset();
      const s = pipeline.interfaces.stats();
      this.inc({ reason: 'over_budget' }, s.recordsOverBudget);
      this.inc({ reason: 'stale' }, s.recordsStale);
    },
  });
  // Cloud flow logs (pollers and replay): records counted and lines or entries skipped.
  new client.Counter({
    name: 'flowgauge_cloud_records_total',
    help: 'Flow records decoded from cloud flow logs, per cloud.',
    labelNames: ['source'] as const,
    registers,
    collect() {
      this.reset();
      for (const [source, c] of pipeline.cloud) this.inc({ source }, c.records);
    },
  });
  new client.Counter({
    name: 'flowgauge_cloud_records_skipped_total',
    help: 'Cloud flow-log lines or entries not counted, per cloud and reason (bad_format, bad_record, bad_value, no_data, unsupported).',
    labelNames: ['source', 'reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const [source, c] of pipeline.cloud) for (const [reason, n] of c.skipped) this.inc({ source, reason }, n);
    },
  });
  registerCloudPollerMetrics(registers, src.cloudPollers ?? (() => []));
  new client.Counter({
    name: 'flowgauge_interface_series_expired_total',
    help: 'Interface series ended to give their place to a new interface, after interfaces.idle_seconds without a sample with the budget full.',
    registers,
    collect() {
      this.reset();
      this.inc(pipeline.interfaces.stats().expired);
    },
  });
  new client.Counter({
    name: 'flowgauge_interface_decreases_total',
    help: 'Device interface counter values that went down: reset (counted on from zero) or wrap (32-bit wrap).',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      this.reset();
      const s = pipeline.interfaces.stats();
      this.inc({ kind: 'reset' }, s.resets);
      this.inc({ kind: 'wrap' }, s.wraps);
    },
  });

  new client.Gauge({
    name: 'flowgauge_udp_receive_buffer_bytes',
    help: 'Socket receive buffer granted by the kernel for each UDP listener.',
    labelNames: ['listener'] as const,
    registers,
    collect() {
      this.reset();
      for (const l of src.listeners()) this.set({ listener: l.label }, l.receiveBufferBytes);
    },
  });
  new client.Counter({
    name: 'flowgauge_udp_kernel_drops_total',
    help: 'Datagrams the kernel dropped on each UDP listener socket (receive buffer full), from /proc/net/udp.',
    labelNames: ['listener'] as const,
    registers,
    collect() {
      this.reset();
      const listeners = src.listeners();
      if (listeners.length === 0) return;
      const drops = readUdpDrops();
      for (const l of listeners) {
        const d = drops.get(l.boundPort);
        if (d !== undefined) this.inc({ listener: l.label }, d);
      }
    },
  });
  if (src.otlpExports) {
    const read = src.otlpExports;
    new client.Counter({
      name: 'flowgauge_otlp_exports_total',
      help: 'OTLP export requests by result (dropped: not sent because one was still in flight or the push was stopping).',
      labelNames: ['result'] as const,
      registers,
      collect() {
        this.reset();
        const counts = read();
        if (counts === undefined) return;
        this.inc({ result: 'success' }, counts.success);
        this.inc({ result: 'failure' }, counts.failure);
        this.inc({ result: 'dropped' }, counts.dropped);
      },
    });
  }
  const render = new client.Histogram({
    name: 'flowgauge_scrape_render_seconds',
    help: 'Time to render the /metrics exposition.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });

  if (collectProcessMetrics) registerProcessMetrics(registers);

  return {
    prometheus,
    openmetrics,
    observeRender(seconds: number) {
      render.observe(seconds);
    },
  };
}

interface RollupStatsView {
  seriesInUse: number;
  budget: number;
  foldedRecords: number;
  foldedBytes: number;
  admissions: number;
  evictions: number;
  evictedBytes?: number;
  evictedPackets?: number;
  evictedFlows?: number;
}

/** Per poller: polls, problems by reason, what it read, how far behind the newest object is. */
function registerCloudPollerMetrics(registers: Array<client.Registry<client.RegistryContentType>>, pollers: () => readonly CloudFlowLogPoller[]): void {
  const perPoller = (name: string, help: string, read: (p: CloudFlowLogPoller) => number, gauge = false): void => {
    const config = {
      name,
      help,
      labelNames: ['poller', 'format'] as const,
      registers,
    };
    if (gauge) {
      new client.Gauge({
        ...config,
        collect() {
          this.reset();
          for (const p of pollers()) {
            const v = read(p);
            if (Number.isFinite(v)) this.set({ poller: p.name, format: p.kind }, v);
          }
        },
      });
    } else {
      new client.Counter({
        ...config,
        collect() {
          this.reset();
          for (const p of pollers()) this.inc({ poller: p.name, format: p.kind }, read(p));
        },
      });
    }
  };
  new client.Counter({
    name: 'flowgauge_cloud_polls_total',
    help: 'Polls of each cloud flow-log source, by result (failure: listing or reading failed; retried at the next poll).',
    labelNames: ['poller', 'format', 'result'] as const,
    registers,
    collect() {
      this.reset();
      for (const p of pollers()) {
        this.inc({ poller: p.name, format: p.kind, result: 'success' }, p.counters.polls - p.counters.failedPolls);
        this.inc({ poller: p.name, format: p.kind, result: 'failure' }, p.counters.failedPolls);
      }
    },
  });
  new client.Counter({
    name: 'flowgauge_cloud_poll_errors_total',
    help: 'Problems while polling cloud flow logs, by reason (store, gzip, too_large, rewritten, checkpoint, decode); the log says which object.',
    labelNames: ['poller', 'format', 'reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const p of pollers()) for (const [reason, n] of p.counters.errors) this.inc({ poller: p.name, format: p.kind, reason }, n);
    },
  });
  perPoller('flowgauge_cloud_objects_read_total', 'Flow-log objects (or new parts of grown Azure blobs) read and counted.', (p) => p.counters.objects);
  perPoller('flowgauge_cloud_read_bytes_total', 'Bytes read from cloud storage, as stored (before gunzip).', (p) => p.counters.bytes);
  perPoller('flowgauge_cloud_poll_records_total', 'Flow records counted from the objects each poller read.', (p) => p.counters.records);
  perPoller('flowgauge_cloud_objects_tracked', 'Objects of the look-back window in the checkpoint.', (p) => p.counters.tracked, true);
  perPoller(
    'flowgauge_cloud_last_success_timestamp_seconds',
    'End of the last poll that listed and read without a storage error (Unix seconds).',
    (p) => p.counters.lastSuccessMs / 1000,
    true,
  );
  perPoller(
    'flowgauge_cloud_lag_seconds',
    'Age of the newest flow-log object counted (now minus its last-modified time): how far behind the metrics are.',
    (p) => (Date.now() - p.counters.newestObjectMs) / 1000,
    true,
  );
}
