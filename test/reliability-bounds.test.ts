/**
 * State keyed by network data stays bounded whatever arrives, and each bound that bites is counted
 * in flowgauge_limit_reached_total{limit}: exporters, NetFlow/IPFIX domains, templates, fields and
 * held data sets, sFlow agents and data sources, the enrich address cache, the rollups. The memory
 * an exporter can make the daemon hold is measured against the bound docs/reliability.md states.
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, defaultConfig } from '../src/config/defaults.js';
import { parseConfig } from '../src/config/load.js';
import { DEFAULT_NETFLOW_LIMITS } from '../src/decoders/netflow-state.js';
import { IE } from '../src/decoders/information-elements.js';
import { createSelfMetrics } from '../src/exporters/self-metrics.js';
import { FlowPipeline, PIPELINE_SFLOW_LIMITS } from '../src/pipeline.js';
import { ipfixMessage, set, v9Packet, Writer } from './decoders-netflow-helpers.js';
import { datagram, flowSample, sampledIp } from './decoders-sflow-builder.js';
import { parseExposition, sumOf } from './helpers/exposition.js';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function heapUsed(): number {
  gc();
  gc();
  return v8.getHeapStatistics().used_heap_size;
}

/** One IPFIX message with `count` templates of `fields` fields each. */
function ipfixTemplates(domain: number, firstId: number, count: number, fields: number): Uint8Array {
  const w = new Writer();
  for (let t = 0; t < count; t++) {
    w.u16(firstId + t).u16(fields);
    for (let f = 0; f < fields; f++) w.u16(1 + (f % 200)).u16(f % 2 ? 4 : 8);
  }
  return ipfixMessage({ domain }, set(2, w.done()));
}

/** A v9 data set for a template that never comes. */
function v9Orphan(sourceId: number, templateId: number, bytes: number): Uint8Array {
  return v9Packet({ sourceId, seq: 1 }, set(templateId, new Uint8Array(bytes)));
}

async function selfMetricSamples(p: FlowPipeline) {
  const m = createSelfMetrics({ pipeline: p, listeners: () => [] }, false);
  return parseExposition(await m.prometheus.metrics());
}

const limits = DEFAULT_NETFLOW_LIMITS;

describe('NetFlow/IPFIX state of one exporter', () => {
  it('a template flood over many domains stays within the domain, template and field bounds, in about 1.5 MB', async () => {
    const p = new FlowPipeline(DEFAULT_CONFIG);
    const before = heapUsed();
    // 100 domains x 3 datagrams x 40 templates of 128 fields (and 8 of 300 fields, too wide).
    for (let d = 0; d < 100; d++) {
      for (let k = 0; k < 3; k++) p.handleDatagram(ipfixTemplates(d, 256 + k * 40, 40, 128), '192.0.2.1', 1000 + d);
      p.handleDatagram(ipfixTemplates(d, 1000, 8, 300), '192.0.2.1', 2000);
    }
    const st = p.exporters.get('192.0.2.1')!.netflow!;
    const grown = heapUsed() - before;
    const templates = st.templates();
    expect(st.templateFields()).toBeLessThanOrEqual(limits.maxTemplateFieldsPerExporter);
    expect(st.templateFields()).toBe(templates.reduce((a, t) => a + t.fields.length, 0));
    expect(new Set(templates.map((t) => t.domain)).size).toBeLessThanOrEqual(limits.maxDomains);
    expect(Math.max(...templates.map((t) => t.fields.length))).toBeLessThanOrEqual(limits.maxFieldsPerTemplate);
    expect(grown).toBeLessThan(4 * 1024 * 1024);
    // The state still takes a refresh of a template it holds.
    const held = templates[0];
    p.handleDatagram(ipfixTemplates(held.domain, held.id, 1, 128), '192.0.2.1', 3000);
    expect(st.templateFields()).toBeLessThanOrEqual(limits.maxTemplateFieldsPerExporter);
    const counts = p.limitCounts();
    expect(counts.netflow_templates).toBeGreaterThan(0);
    const samples = await selfMetricSamples(p);
    expect(sumOf(samples, 'flowgauge_limit_reached_total', { limit: 'netflow_templates' })).toBe(counts.netflow_templates);
  });

  it('withdrawals give their fields back, so a refreshed layout is never refused for fields it freed', () => {
    const p = new FlowPipeline(DEFAULT_CONFIG);
    // 128 templates of 128 fields = 16384 fields: full (in four messages, each under 64 KiB).
    for (let k = 0; k < 4; k++) p.handleDatagram(ipfixTemplates(0, 256 + k * 32, 32, 128), '192.0.2.2', 1);
    const st = p.exporters.get('192.0.2.2')!.netflow!;
    expect(st.templateFields()).toBe(16_384);
    p.handleDatagram(ipfixTemplates(0, 500, 1, 10), '192.0.2.2', 2);
    expect(st.templates().some((t) => t.id === 500)).toBe(false);
    // Withdraw all data templates (template id 2, field count 0), then learn again.
    p.handleDatagram(ipfixMessage({ domain: 0 }, set(2, new Writer().u16(2).u16(0).done())), '192.0.2.2', 3);
    expect(st.templateFields()).toBe(0);
    p.handleDatagram(ipfixTemplates(0, 500, 1, 10), '192.0.2.2', 4);
    expect(st.templateFields()).toBe(10);
  });

  it('data sets waiting for templates that never come are held within the set and byte bounds, the rest counted', async () => {
    const p = new FlowPipeline(DEFAULT_CONFIG);
    for (let i = 0; i < 5000; i++) p.handleDatagram(v9Orphan(i % 8, 256 + (i % 300), 200 + (i % 700)), '192.0.2.3', 10_000 + i);
    const st = p.exporters.get('192.0.2.3')!.netflow!;
    expect(st.pending.count).toBeLessThanOrEqual(DEFAULT_CONFIG.netflow.pendingRecordsPerExporter);
    expect(st.pending.bytes).toBeLessThanOrEqual(limits.maxPendingBytes);
    const counts = p.limitCounts();
    expect(counts.netflow_pending).toBeGreaterThan(4000);
    expect(p.exporters.get('192.0.2.3')!.counters.templateMisses).toBeGreaterThanOrEqual(counts.netflow_pending);
    expect(sumOf(await selfMetricSamples(p), 'flowgauge_limit_reached_total', { limit: 'netflow_pending' })).toBe(counts.netflow_pending);
  });
});

describe('sFlow state of one UDP source', () => {
  it('agents and data sources are tracked up to their bounds; further samples still decode and are counted', async () => {
    const p = new FlowPipeline(DEFAULT_CONFIG);
    let samples = 0;
    for (let a = 0; a < 40; a++) {
      const batch = [];
      for (let s = 0; s < 60; s++) {
        batch.push(flowSample({ sourceIdIndex: a * 1000 + s, records: [sampledIp({ length: 100, protocol: 6, src: '10.0.0.1', dst: '192.0.2.9', srcPort: 1, dstPort: 443 })] }));
      }
      samples += batch.length;
      p.handleDatagram(datagram({ agent: `10.9.0.${a}`, samples: batch }), '192.0.2.4', 1);
    }
    // One agent with more data sources than its bound.
    for (let k = 0; k < 30; k++) {
      const batch = [];
      for (let s = 0; s < 50; s++) batch.push(flowSample({ sourceIdIndex: k * 50 + s, records: [] }));
      samples += batch.length;
      p.handleDatagram(datagram({ agent: '10.9.0.0', samples: batch }), '192.0.2.4', 2);
    }
    const e = p.exporters.get('192.0.2.4')!;
    const agents = e.sflow!.agents();
    expect(agents.length).toBe(PIPELINE_SFLOW_LIMITS.maxAgents);
    expect(Math.max(...agents.map((a) => a.sources))).toBe(PIPELINE_SFLOW_LIMITS.maxSourcesPerAgent);
    expect(e.counters.records).toBe(samples);
    const counts = p.limitCounts();
    expect(counts.sflow_agents).toBe(40 - PIPELINE_SFLOW_LIMITS.maxAgents);
    expect(counts.sflow_sources).toBeGreaterThan(0);
    const m = await selfMetricSamples(p);
    expect(sumOf(m, 'flowgauge_limit_reached_total', { limit: 'sflow_agents' })).toBe(counts.sflow_agents);
    expect(sumOf(m, 'flowgauge_limit_reached_total', { limit: 'sflow_sources' })).toBe(counts.sflow_sources);
  });
});

describe('exporters, self-metric label sets, enrich cache and rollups', () => {
  it('limits.max_exporters bounds the exporters tracked and every self-metric label set keyed by exporter', async () => {
    const parsed = parseConfig('limits:\n  max_exporters: 50\n', 'limits.yaml');
    expect(parsed.errors).toEqual([]);
    expect(parsed.config!.limits.maxExporters).toBe(50);
    expect(parseConfig('limits:\n  max_exporter: 5\n', 'x.yaml').errors[0].toString()).toContain('did you mean "max_exporters"');
    const p = new FlowPipeline(parsed.config!);
    const v5 = new Writer().u16(5).u16(0).u32(0).u32(0).u32(0).u32(0).u32(0).done();
    for (let i = 0; i < 80; i++) p.handleDatagram(v5, `198.51.100.${i}`, i);
    expect(p.exporters.size).toBe(50);
    expect(p.drops.exporterLimit).toBe(30);
    const m = await selfMetricSamples(p);
    expect(sumOf(m, 'flowgauge_limit_reached_total', { limit: 'exporters' })).toBe(30);
    const exporterLabels = new Set(m.filter((s) => s.labels.exporter !== undefined).map((s) => s.labels.exporter));
    expect(exporterLabels.size).toBe(50);
    expect(defaultConfig().limits.maxExporters).toBe(1000);
  });

  it('limits.exporter_idle_seconds: a new exporter takes the place of the one silent longest, once silent that long', async () => {
    const parsed = parseConfig(
      'limits:\n  max_exporters: 3\n  exporter_idle_seconds: 60\nnetflow:\n  pending_records_per_exporter: 2\n',
      'limits.yaml',
    );
    expect(parsed.errors).toEqual([]);
    expect(parsed.config!.limits).toEqual({ maxExporters: 3, exporterIdleSeconds: 60 });
    expect(defaultConfig().limits.exporterIdleSeconds).toBe(3600);
    expect(parseConfig('limits:\n  exporter_idle_seconds: -1\n', 'x.yaml').errors[0].toString()).toContain('exporter_idle_seconds');
    const p = new FlowPipeline(parsed.config!);
    const v5 = new Writer().u16(5).u16(0).u32(0).u32(0).u32(0).u32(0).u32(0).done();
    const s = 1000;
    // A overflows its pending buffer (3 of 5 orphan sets evicted), so the limit counter has
    // something that must stay counted after A is forgotten.
    for (let i = 0; i < 5; i++) p.handleDatagram(v9Orphan(1, 300 + i, 40), 'A', 0);
    p.handleDatagram(v5, 'B', 0);
    p.handleDatagram(v5, 'C', 0);
    const pendingBefore = p.limitCounts().netflow_pending;
    expect(pendingBefore).toBe(3);

    p.handleDatagram(v5, 'D', 30 * s); // nobody silent for 60 s yet
    expect(p.drops.exporterLimit).toBe(1);
    p.handleDatagram(v5, 'B', 45 * s);
    p.handleDatagram(v5, 'D', 61 * s); // A and C silent since 0: A (first in the table) goes
    expect([...p.exporters.keys()]).toEqual(['B', 'C', 'D']);
    p.handleDatagram(v5, 'E', 62 * s); // then C
    expect([...p.exporters.keys()]).toEqual(['B', 'D', 'E']);
    p.handleDatagram(v5, 'F', 63 * s); // B spoke at 45 s: no room
    for (let i = 0; i < 100; i++) p.handleDatagram(v5, `flood-${i}`, 64 * s + i);
    expect(p.drops.exporterLimit).toBe(102);
    expect(p.exportersExpired).toBe(2);
    expect(p.limitCounts().netflow_pending).toBe(pendingBefore);

    // A comes back after B has been silent for a minute: A is a new exporter, its state gone.
    p.handleDatagram(v5, 'A', 106 * s);
    expect([...p.exporters.keys()]).toEqual(['D', 'E', 'A']);
    expect(p.exporters.get('A')!.counters.datagrams).toBe(1);
    expect(p.exporters.get('A')!.netflow!.pending.count).toBe(0);
    expect(p.exporters.get('A')!.counters.templateMisses).toBe(0);

    const m = await selfMetricSamples(p);
    expect(sumOf(m, 'flowgauge_exporters_expired_total')).toBe(3);
    expect(sumOf(m, 'flowgauge_limit_reached_total', { limit: 'netflow_pending' })).toBe(3);
    expect(sumOf(m, 'flowgauge_limit_reached_total', { limit: 'exporters' })).toBe(102);
    const exporterLabels = new Set(m.filter((x) => x.labels.exporter !== undefined).map((x) => x.labels.exporter));
    expect([...exporterLabels].sort()).toEqual(['A', 'D', 'E']);

    // 0 keeps every exporter for good, as before.
    const never = new FlowPipeline(parseConfig('limits:\n  max_exporters: 1\n  exporter_idle_seconds: 0\n', 'n.yaml').config!);
    never.handleDatagram(v5, 'A', 0);
    never.handleDatagram(v5, 'B', 1e12);
    expect([...never.exporters.keys()]).toEqual(['A']);
    expect(never.drops.exporterLimit).toBe(1);
  });

  it('a scan of random addresses keeps the address cache and every rollup within their bounds, and conserves the counts', () => {
    const p = new FlowPipeline(DEFAULT_CONFIG);
    const tpl = new Writer()
      .u16(256)
      .u16(4)
      .u16(IE.sourceIPv4Address).u16(4)
      .u16(IE.destinationIPv4Address).u16(4)
      .u16(IE.destinationTransportPort).u16(2)
      .u16(IE.octetDeltaCount).u16(4)
      .done();
    p.handleDatagram(ipfixMessage({}, set(2, tpl)), '192.0.2.5', 1);
    let x = 12345;
    let records = 0;
    for (let d = 0; d < 2000; d++) {
      const w = new Writer();
      for (let r = 0; r < 100; r++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        w.u8(10, x & 255, (x >>> 8) & 255, (x >>> 16) & 255).u32(x ^ 0x5bd1e995).u16(x & 0xffff).u32(100);
        records++;
      }
      p.handleDatagram(ipfixMessage({ seq: d * 100 }, set(256, w.done())), '192.0.2.5', 2 + d);
    }
    const cache = p.enricher.addressText;
    expect(cache.size).toBeLessThanOrEqual(2 * cache.slots);
    for (const f of p.rollups.families()) {
      const snap = f.snapshot();
      expect(snap.labelValues.length).toBeLessThanOrEqual(f.budget);
      expect(snap.flows.reduce((a, b) => a + b, 0)).toBe(records);
      expect(snap.bytes.reduce((a, b) => a + b, 0)).toBe(records * 100);
    }
  });
});
