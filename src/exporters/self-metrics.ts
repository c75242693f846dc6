/**
 * flowgauge_* self-metrics. The pipeline keeps plain-number counters on its hot path; prom-client
 * reads them at scrape time through collect() callbacks, so ingestion never touches a label map.
 */
import client from 'prom-client';
import type { FlowPipeline } from '../pipeline.js';
import type { UdpListener } from '../sources/udp-listener.js';
import { readUdpDrops } from '../sources/kernel-udp-stats.js';
import { registerProcessMetrics } from './process-metrics.js';

export interface SelfMetricsSources {
  pipeline: FlowPipeline;
  listeners: () => UdpListener[];
  interfaceSeries?: () => number;
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

  // Rollup health: how full each budget is and how much traffic folded into "other" rows.
  const perRollup = (kind: 'gauge' | 'counter', name: string, help: string, read: (s: RollupStatsView) => number): void => {
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
        },
      });
    } else {
      new client.Counter({
        ...opts,
        collect() {
          this.reset();
          for (const f of pipeline.rollups.families()) this.inc({ rollup: f.definition.name }, read(f.stats()));
        },
      });
    }
  };
  perRollup('gauge', 'flowgauge_rollup_series', 'Label sets in use by each rollup (each is one bytes, packets and flows series).', (s) => s.seriesInUse);
  perRollup('gauge', 'flowgauge_rollup_budget', 'Label sets each rollup may use.', (s) => s.budget);
  perRollup('counter', 'flowgauge_rollup_folded_records_total', 'Records counted in a coarser (other) row because their key had no series.', (s) => s.foldedRecords);
  perRollup('counter', 'flowgauge_rollup_folded_bytes_total', 'Bytes counted in a coarser (other) row because their key had no series.', (s) => s.foldedBytes);
  perRollup('counter', 'flowgauge_rollup_admissions_total', 'Keys given a series of their own.', (s) => s.admissions);
  perRollup('counter', 'flowgauge_rollup_evictions_total', 'Keys whose series was withdrawn.', (s) => s.evictions);

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
}
