/**
 * InterfaceCounterStore: device counters exposed as they are, never decreasing across a device reset
 * or a 32-bit wrap, repeated and late samples ignored, a hard budget of interfaces; the rendering of
 * the families; the `interfaces.budget` config key.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config/defaults.js';
import { parseConfig } from '../src/config/load.js';
import { createInterfaceCounters, type InterfaceCounters } from '../src/decoders/sflow.js';
import { interfaceMetricFamilies, renderInterfaceMetrics } from '../src/exporters/interface-exposition.js';
import { DEFAULT_INTERFACE_BUDGET, INTERFACE_COUNTERS, InterfaceCounterStore } from '../src/rollup/interface-counters.js';
import { renderMetrics } from '../src/exporters/http-server.js';
import { createSelfMetrics } from '../src/exporters/self-metrics.js';
import { FlowPipeline } from '../src/pipeline.js';
import { counterSample, datagram, ethernet, flowSample, genericInterface, ipv4, rawHeader, udp } from './decoders-sflow-builder.js';
import { parseExposition, sumOf } from './helpers/exposition.js';

const IN_BYTES = INTERFACE_COUNTERS.findIndex((d) => d.name === 'flow_interface_in_bytes');
const IN_UCAST = INTERFACE_COUNTERS.findIndex((d) => d.name === 'flow_interface_in_unicast_packets');
const OUT_ERRORS = INTERFACE_COUNTERS.findIndex((d) => d.name === 'flow_interface_out_errors');

/** A counter record like the decoder's (one reused object): the store must copy what it keeps. */
function record(fields: Partial<InterfaceCounters>): InterfaceCounters {
  return Object.assign(createInterfaceCounters(), { agent: '192.0.2.1', ifIndex: 7, sourceIdIndex: 7, ifSpeed: 1e9, ifOperUp: true }, fields);
}

/** Minor GCs while fn runs (allocation on a hot path shows up as young-generation collections). */
async function collectionsDuring(fn: () => void): Promise<number> {
  let n = 0;
  const obs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) n++;
  });
  obs.observe({ entryTypes: ['gc'] });
  fn();
  await new Promise((resolve) => setTimeout(resolve, 50));
  obs.disconnect();
  return n;
}

function row(store: InterfaceCounterStore, exporter = '192.0.2.1', ifIndex = 7) {
  const r = store.snapshot().rows.find((x) => x.exporter === exporter && x.ifIndex === ifIndex);
  if (!r) throw new Error(`no row for ${exporter} ${ifIndex}`);
  return r;
}

describe('InterfaceCounterStore: counters', () => {
  it('exposes the device values as they are while the device counts up', () => {
    const store = new InterfaceCounterStore();
    const c = record({ sampleSequence: 1, inOctets: 2 ** 40 + 5, inUcastPkts: 100, outErrors: 3 });
    expect(store.add(c)).toBe(true);
    // The store copied the values: changing the reused object changes nothing.
    c.inOctets = 0;
    expect(row(store).counters[IN_BYTES]).toBe(2 ** 40 + 5);
    store.add(record({ sampleSequence: 2, inOctets: 2 ** 40 + 1005, inUcastPkts: 110, outErrors: 3 }));
    const r = row(store);
    expect(r.counters[IN_BYTES]).toBe(2 ** 40 + 1005);
    expect(r.counters[IN_UCAST]).toBe(110);
    expect(r.counters[OUT_ERRORS]).toBe(3);
    expect(store.stats()).toMatchObject({ interfaces: 1, records: 2, resets: 0, wraps: 0 });
  });

  it('a device reset (value goes down) counts on from zero: the exposed counter never decreases', () => {
    const store = new InterfaceCounterStore();
    store.add(record({ sampleSequence: 10, inOctets: 5_000_000, inUcastPkts: 4000 }));
    // Device rebooted: counters start over; its counter sample sequence too.
    store.add(record({ sampleSequence: 1, inOctets: 1200, inUcastPkts: 9 }));
    let r = row(store);
    expect(r.counters[IN_BYTES]).toBe(5_000_000 + 1200);
    expect(r.counters[IN_UCAST]).toBe(4000 + 9);
    store.add(record({ sampleSequence: 2, inOctets: 1500, inUcastPkts: 12 }));
    r = row(store);
    expect(r.counters[IN_BYTES]).toBe(5_000_000 + 1500);
    expect(r.counters[IN_UCAST]).toBe(4000 + 12);
    expect(store.stats().resets).toBe(2);
  });

  it('a 32-bit counter that wraps adds what it counted across 2^32', () => {
    const store = new InterfaceCounterStore();
    store.add(record({ sampleSequence: 1, inUcastPkts: 4_294_967_000 }));
    store.add(record({ sampleSequence: 2, inUcastPkts: 500 }));
    expect(row(store).counters[IN_UCAST]).toBe(4_294_967_000 + 296 + 500);
    // A 64-bit octet counter filled from a 32-bit one wraps the same way.
    store.add(record({ sampleSequence: 3, inUcastPkts: 600, inOctets: 4_294_000_000 }));
    store.add(record({ sampleSequence: 4, inUcastPkts: 700, inOctets: 1_000 }));
    expect(row(store).counters[IN_BYTES]).toBe(4_294_000_000 + 967_296 + 1_000);
    expect(store.stats()).toMatchObject({ wraps: 2, resets: 0 });
  });

  it('a 64-bit counter beyond 2^32 that goes down is a reset, never a wrap', () => {
    const store = new InterfaceCounterStore();
    store.add(record({ sampleSequence: 1, inOctets: 2 ** 33 }));
    store.add(record({ sampleSequence: 2, inOctets: 10 }));
    expect(row(store).counters[IN_BYTES]).toBe(2 ** 33 + 10);
    expect(store.stats()).toMatchObject({ wraps: 0, resets: 1 });
  });

  it('ignores a repeated or late counter sample instead of reading it as a reset', () => {
    const store = new InterfaceCounterStore();
    store.add(record({ sampleSequence: 100, inOctets: 1000 }));
    store.add(record({ sampleSequence: 101, inOctets: 2000 }));
    expect(store.add(record({ sampleSequence: 101, inOctets: 2000 }))).toBe(false); // repeated
    expect(store.add(record({ sampleSequence: 100, inOctets: 1000 }))).toBe(false); // late
    expect(row(store).counters[IN_BYTES]).toBe(2000);
    expect(store.stats()).toMatchObject({ recordsStale: 2, resets: 0 });
    // Far behind: the agent restarted and counts again from its own zero.
    expect(store.add(record({ sampleSequence: 1, inOctets: 300 }))).toBe(true);
    expect(row(store).counters[IN_BYTES]).toBe(2300);
    // Sequence numbers wrap at 2^32 like the agent's.
    const wrapStore = new InterfaceCounterStore();
    wrapStore.add(record({ sampleSequence: 0xffffffff, inOctets: 1 }));
    expect(wrapStore.add(record({ sampleSequence: 0, inOctets: 2 }))).toBe(true);
    expect(row(wrapStore).counters[IN_BYTES]).toBe(2);
  });

  it('never decreases, and equals the device value while it only counts up (property)', () => {
    const step = fc.record({
      value: fc.oneof(fc.nat({ max: 0xffffffff }), fc.nat({ max: Number.MAX_SAFE_INTEGER })),
      sequenceStep: fc.integer({ min: -3, max: 5 }),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const store = new InterfaceCounterStore();
        let sequence = 1000;
        let exposed = -1;
        let deviceMonotonic = true;
        let lastApplied = -1;
        for (const s of steps) {
          sequence = (sequence + s.sequenceStep) >>> 0;
          const applied = store.add(record({ sampleSequence: sequence, inOctets: s.value, outErrors: s.value % 7 }));
          const now = row(store).counters[IN_BYTES];
          expect(now).toBeGreaterThanOrEqual(exposed);
          if (applied) {
            if (s.value < lastApplied) deviceMonotonic = false;
            lastApplied = s.value;
            if (deviceMonotonic) expect(now).toBe(s.value);
          }
          exposed = now;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the gauges of the newest sample: speed and oper status', () => {
    const store = new InterfaceCounterStore();
    store.add(record({ sampleSequence: 1, ifSpeed: 1e9, ifOperUp: true }));
    store.add(record({ sampleSequence: 2, ifSpeed: 1e8, ifOperUp: false }));
    expect(row(store)).toMatchObject({ speedBitsPerSecond: 1e8, operUp: false });
  });

  it('treats negative or non-finite values (never produced by the decoder) as zero', () => {
    const store = new InterfaceCounterStore();
    store.add(record({ sampleSequence: 1, inOctets: Number.NaN, inUcastPkts: -5 }));
    expect(row(store).counters[IN_BYTES]).toBe(0);
    expect(row(store).counters[IN_UCAST]).toBe(0);
  });
});

describe('InterfaceCounterStore: budget', () => {
  it('gives rows to the first interfaces up to the budget; later ones are counted, not exposed', () => {
    const store = new InterfaceCounterStore({ budget: 3 });
    for (let i = 1; i <= 5; i++) store.add(record({ agent: i <= 2 ? '192.0.2.1' : '2001:db8::1', ifIndex: i, sourceIdIndex: i, sampleSequence: 1, inOctets: i }));
    // Interfaces with rows keep being updated; the others keep being refused.
    store.add(record({ agent: '192.0.2.1', ifIndex: 1, sourceIdIndex: 1, sampleSequence: 2, inOctets: 50 }));
    store.add(record({ agent: '2001:db8::1', ifIndex: 5, sourceIdIndex: 5, sampleSequence: 2, inOctets: 50 }));
    const snap = store.snapshot();
    expect(snap.rows.map((r) => [r.exporter, r.ifIndex, r.counters[IN_BYTES]])).toEqual([
      ['192.0.2.1', 1, 50],
      ['192.0.2.1', 2, 2],
      ['2001:db8::1', 3, 3],
    ]);
    expect(store.stats()).toMatchObject({ interfaces: 3, budget: 3, records: 4, recordsOverBudget: 3 });
  });

  it('with idleMs, a new interface takes the row of the one silent longest, once silent that long', () => {
    const s = 1000;
    const store = new InterfaceCounterStore({ budget: 2, idleMs: 60 * s });
    const at = (agent: string, ifIndex: number, seq: number, inOctets: number, t: number) =>
      store.add(record({ agent, ifIndex, sourceIdIndex: ifIndex, sampleSequence: seq, inOctets }), t);
    expect(at('192.0.2.1', 1, 1, 100, 0)).toBe(true);
    expect(at('192.0.2.1', 2, 1, 200, 0)).toBe(true);
    expect(at('192.0.2.9', 1, 1, 900, 30 * s)).toBe(false); // nobody silent for a minute yet
    expect(at('192.0.2.1', 2, 2, 250, 40 * s)).toBe(true);
    // A repeated sample still says the interface is there.
    expect(at('192.0.2.1', 2, 2, 250, 70 * s)).toBe(false);
    expect(at('192.0.2.9', 1, 2, 950, 61 * s)).toBe(true); // 192.0.2.1/1 silent since 0: it goes
    expect(store.snapshot().rows.map((r) => [r.exporter, r.ifIndex, r.counters[IN_BYTES]])).toEqual([
      ['192.0.2.1', 2, 250],
      ['192.0.2.9', 1, 950],
    ]);
    for (let i = 0; i < 50; i++) expect(at('198.51.100.1', i, 1, 1, 62 * s + i)).toBe(false);
    expect(store.stats()).toMatchObject({ interfaces: 2, expired: 1, recordsOverBudget: 51 });
    // The interface that went comes back as a new row: the device's values as they are now.
    expect(at('192.0.2.1', 1, 5, 5000, 131 * s)).toBe(true); // 192.0.2.9/1 silent since 61 s
    expect(store.snapshot().rows.map((r) => [r.exporter, r.ifIndex, r.counters[IN_BYTES]])).toEqual([
      ['192.0.2.1', 1, 5000],
      ['192.0.2.1', 2, 250],
    ]);
    expect(store.stats().expired).toBe(2);
    // Without idleMs, rows are kept for good.
    const keep = new InterfaceCounterStore({ budget: 1 });
    keep.add(record({ ifIndex: 1, sampleSequence: 1 }), 0);
    expect(keep.add(record({ ifIndex: 2, sampleSequence: 1 }), 1e12)).toBe(false);
    expect(() => new InterfaceCounterStore({ idleMs: -1 })).toThrow(/idle/);
  });

  it('the same ifIndex on two exporters is two interfaces', () => {
    const store = new InterfaceCounterStore({ budget: 10 });
    store.add(record({ agent: '192.0.2.1', sampleSequence: 1, inOctets: 1 }));
    store.add(record({ agent: '192.0.2.2', sampleSequence: 1, inOctets: 2 }));
    expect(store.size).toBe(2);
  });

  it('budget 0 turns interface metrics off; the default is 2000; a bad budget is refused', () => {
    const off = new InterfaceCounterStore({ budget: 0 });
    expect(off.add(record({}))).toBe(false);
    expect(off.snapshot().rows).toHaveLength(0);
    expect(new InterfaceCounterStore().budget).toBe(DEFAULT_INTERFACE_BUDGET);
    expect(DEFAULT_INTERFACE_BUDGET).toBe(2000);
    expect(() => new InterfaceCounterStore({ budget: -1 })).toThrow(/budget/);
    expect(() => new InterfaceCounterStore({ budget: 1.5 })).toThrow(/budget/);
  });

  it('allocates nothing per record once an interface has its row', async () => {
    const store = new InterfaceCounterStore();
    const c = record({});
    for (let i = 0; i < 10_000; i++) {
      c.sampleSequence = i;
      store.add(c);
    }
    // Two million updates: a 16-byte allocation each would force several young-generation collections.
    const gcs = await collectionsDuring(() => {
      for (let i = 10_000; i < 2_010_000; i++) {
        c.sampleSequence = i;
        c.inOctets = i * 1000;
        store.add(c);
      }
    });
    expect(gcs).toBeLessThanOrEqual(1);
    expect(row(store).counters[IN_BYTES]).toBe(2_009_999_000);
  });
});

describe('interface exposition', () => {
  it('renders every family with exporter and if_index labels, nothing when empty', () => {
    const store = new InterfaceCounterStore();
    expect(renderInterfaceMetrics(store.snapshot(), 'prometheus')).toBe('');
    store.add(record({ agent: 'fe80::1', ifIndex: 3, sampleSequence: 1, ifSpeed: 1e10, ifOperUp: false, inOctets: 42, outErrors: 1 }));
    const text = renderInterfaceMetrics(store.snapshot(), 'prometheus');
    const samples = parseExposition(text);
    const labels = { exporter: 'fe80::1', if_index: '3' };
    expect(samples).toHaveLength(INTERFACE_COUNTERS.length + 2);
    expect(samples).toContainEqual({ name: 'flow_interface_in_bytes_total', labels, value: 42 });
    expect(samples).toContainEqual({ name: 'flow_interface_out_errors_total', labels, value: 1 });
    expect(samples).toContainEqual({ name: 'flow_interface_speed_bytes_per_second', labels, value: 1.25e9 });
    expect(samples).toContainEqual({ name: 'flow_interface_oper_up', labels, value: 0 });
    expect(text).toContain('# TYPE flow_interface_in_bytes_total counter\n');
    expect(text).toContain('# TYPE flow_interface_oper_up gauge\n');
    const om = renderInterfaceMetrics(store.snapshot(), 'openmetrics');
    expect(om).toContain('# TYPE flow_interface_in_bytes counter\n# UNIT flow_interface_in_bytes bytes\n');
    expect(om).toContain('# UNIT flow_interface_speed_bytes_per_second bytes_per_second\n');
    expect(om).not.toContain('# EOF');
    expect(interfaceMetricFamilies()).toHaveLength(INTERFACE_COUNTERS.length + 2);
  });
});

describe('config: interfaces.budget', () => {
  it('defaults to 2000, takes a value, and the pipeline uses it', () => {
    expect(DEFAULT_CONFIG.interfaces).toEqual({ budget: 2000, idleSeconds: 3600 });
    const r = parseConfig('interfaces:\n  budget: 5\n  idle_seconds: 120\n', 'test.yaml', {});
    expect(r.errors).toEqual([]);
    expect(r.config!.interfaces).toEqual({ budget: 5, idleSeconds: 120 });
    expect(new FlowPipeline(r.config!).interfaces.budget).toBe(5);
    expect(new FlowPipeline(r.config!).interfaces.idleMs).toBe(120_000);
    expect(parseConfig('interfaces: { budget: 0 }\n', 'test.yaml', {}).config!.interfaces.budget).toBe(0);
  });

  it('refuses a negative budget or an unknown key, naming the key and line', () => {
    const bad = parseConfig('log: { level: info }\ninterfaces:\n  budget: -1\n', 'test.yaml', {});
    expect(bad.config).toBeUndefined();
    expect(bad.errors.map(String)).toEqual([expect.stringMatching(/^test\.yaml:3:\d+: interfaces\.budget: .*>= 0/)]);
    const typo = parseConfig('interfaces:\n  budjet: 10\n', 'test.yaml', {});
    expect(typo.config).toBeUndefined();
    expect(typo.errors.map(String)).toEqual([expect.stringMatching(/^test\.yaml:2:\d+: interfaces\.budjet: unknown key/)]);
  });
});

describe('through the pipeline and /metrics', () => {
  const frame = ethernet(0x0800, ipv4('192.168.1.10', '203.0.113.5', 17, udp(5000, 53, new Uint8Array(20))));
  const flow = (sequence: number, samplePool: number, drops: number) =>
    flowSample({ sequence, sourceIdIndex: 3, samplingRate: 8, samplePool, drops, records: [rawHeader(frame, frame.length + 4)] });
  const counters = (sequence: number, ifIndex: number, inOctets: number, ifStatus = 3) =>
    counterSample({ sequence, sourceIdIndex: ifIndex, records: [genericInterface({ ifIndex, ifSpeed: 10_000_000_000, ifStatus, inOctets, inUcastPkts: inOctets / 100 })] });

  async function scrape(pipeline: FlowPipeline) {
    const selfMetrics = createSelfMetrics({ pipeline, listeners: () => [] }, false);
    return parseExposition(await renderMetrics(pipeline, selfMetrics, 'prometheus'));
  }

  it('hands the series of an interface silent for interfaces.idle_seconds to a new one, by datagram receive time', async () => {
    const config = { ...DEFAULT_CONFIG, interfaces: { budget: 1, idleSeconds: 60 } };
    const pipeline = new FlowPipeline(config);
    const send = (agent: string, sequence: number, ifIndex: number, inOctets: number, atMs: number) =>
      pipeline.handleDatagram(datagram({ agent, sequence, samples: [counters(sequence, ifIndex, inOctets)] }), agent, atMs);
    send('192.0.2.1', 1, 1, 1_000, 0);
    send('192.0.2.2', 1, 2, 2_000, 30_000); // 192.0.2.1 was heard 30 s ago: no room
    let samples = await scrape(pipeline);
    expect(sumOf(samples, 'flow_interface_in_bytes_total', { exporter: '192.0.2.1', if_index: '1' })).toBe(1_000);
    expect(sumOf(samples, 'flowgauge_interface_records_ignored_total', { reason: 'over_budget' })).toBe(1);
    send('192.0.2.2', 2, 2, 2_500, 61_000);
    samples = await scrape(pipeline);
    expect(samples.filter((x) => x.name === 'flow_interface_in_bytes_total').map((x) => [x.labels.exporter, x.value])).toEqual([['192.0.2.2', 2_500]]);
    expect(sumOf(samples, 'flowgauge_interface_series_expired_total')).toBe(1);
    expect(sumOf(samples, 'flowgauge_interface_series')).toBe(1);
  });

  it('feeds counter samples to the interface families and flow samples to the sampling self-metrics', async () => {
    const seen: number[] = [];
    const config = { ...DEFAULT_CONFIG, interfaces: { budget: 2 } };
    const pipeline = new FlowPipeline(config, { onInterfaceCounters: (c) => void seen.push(c.ifIndex) });
    const agent = '2001:db8::7';
    const send = (sequence: number, samples: Uint8Array[]) =>
      pipeline.handleDatagram(datagram({ agent, subAgentId: 2, sequence, uptimeMs: 1000 * sequence, samples }), '198.51.100.1', 1000 * sequence);
    send(1, [flow(1, 8, 0), counters(1, 5, 10_000)]);
    send(2, [flow(2, 16, 0), counters(1, 6, 500)]);
    // Flow sample 3 never arrives; the agent also reports 5 samples it could not make.
    send(3, [flow(4, 40, 5), counters(2, 5, 900), counters(1, 7, 1)]); // ifIndex 5 reset; 7 over budget
    send(4, [counters(3, 5, 1_000, 1)]);

    const samples = await scrape(pipeline);
    expect(seen).toEqual([5, 6, 5, 7, 5]);
    const if5 = { exporter: agent, if_index: '5' };
    expect(sumOf(samples, 'flow_interface_in_bytes_total', if5)).toBe(10_000 + 1_000);
    expect(sumOf(samples, 'flow_interface_in_unicast_packets_total', if5)).toBe(100 + 10);
    expect(sumOf(samples, 'flow_interface_in_bytes_total', { exporter: agent, if_index: '6' })).toBe(500);
    expect(samples.filter((s) => s.name === 'flow_interface_in_bytes_total')).toHaveLength(2);
    expect(sumOf(samples, 'flow_interface_speed_bytes_per_second', if5)).toBe(1.25e9);
    expect(sumOf(samples, 'flow_interface_oper_up', if5)).toBe(0); // last status: admin up, oper down
    expect(sumOf(samples, 'flow_interface_oper_up', { exporter: agent, if_index: '6' })).toBe(1);
    expect(sumOf(samples, 'flowgauge_interface_series')).toBe(2);
    expect(sumOf(samples, 'flowgauge_interface_budget')).toBe(2);
    expect(sumOf(samples, 'flowgauge_interface_records_ignored_total', { reason: 'over_budget' })).toBe(1);
    expect(sumOf(samples, 'flowgauge_interface_decreases_total', { kind: 'reset' })).toBe(2); // octets and packets

    const source = { exporter: agent, sub_agent: '2', source_id: '0:3' };
    expect(sumOf(samples, 'flowgauge_sflow_sampling_rate', source)).toBe(8);
    // (40 - 8) packets over the 2 samples after the first.
    expect(sumOf(samples, 'flowgauge_sflow_effective_sampling_rate', source)).toBe(16);
    expect(sumOf(samples, 'flowgauge_sflow_samples_lost_total', { exporter: agent })).toBe(1 + 5);
    // Flow samples still count as traffic, scaled by their rate.
    expect(sumOf(samples, 'flow_exporter_packets_total')).toBe(3 * 8);
  });
});
