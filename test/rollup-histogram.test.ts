/**
 * Histogram families: bucket placement, the cardinality contract (hard cap, fold to `other`,
 * conservation of observations, buckets cumulative and never decreasing) over random and
 * adversarial streams, no allocation per observation, and the exposition in both formats checked
 * by promtool.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults.js';
import { parseConfig } from '../src/config/load.js';
import type { HistogramDefinition, RollupLabel } from '../src/config/types.js';
import { formatBucketBound, renderExposition } from '../src/exporters/exposition.js';
import {
  DEFAULT_DURATION_BUCKETS,
  DEFAULT_HISTOGRAMS,
  DEFAULT_RTT_BUCKETS,
  HistogramFamily,
  defaultHistograms,
} from '../src/rollup/histogram-family.js';
import type { HistogramSnapshot } from '../src/rollup/measure-snapshot.js';
import { FlowPipeline } from '../src/pipeline.js';
import { RollupEngine } from '../src/rollup/rollup-engine.js';
import { type FlowLabels, createFlowLabels } from '../src/rollup/types.js';
import { parseExposition } from './helpers/exposition.js';
import { gcCountDuring } from './helpers/gc.js';

const havePromtool = spawnSync('promtool', ['--version']).error === undefined;
const skipPromtool = !havePromtool && !process.env.CI;

function def(over: Partial<HistogramDefinition> = {}): HistogramDefinition {
  return { name: 'h_seconds', value: 'rtt', labels: ['device'], budget: 10, buckets: [0.1, 1, 10], ...over };
}

function labels(values: Partial<FlowLabels>): FlowLabels {
  return Object.assign(createFlowLabels(), values);
}

/** Row of a snapshot as { key: [cumulative buckets..., sum] }. */
function rowsOf(s: HistogramSnapshot): Map<string, { buckets: number[]; sum: number; count: number }> {
  const w = s.bounds.length + 1;
  const out = new Map<string, { buckets: number[]; sum: number; count: number }>();
  s.labelValues.forEach((v, r) => {
    out.set(v.join('|'), { buckets: Array.from(s.buckets.subarray(r * w, (r + 1) * w)), sum: s.sums[r], count: s.counts[r] });
  });
  return out;
}

describe('HistogramFamily', () => {
  it('puts each value in the first bucket whose bound is >= it (le is inclusive), cumulative in snapshots', () => {
    const h = new HistogramFamily(def());
    const l = labels({ device: 'd1' });
    for (const v of [0, 0.1, 0.10000001, 1, 5, 10, 10.5, 1e9]) h.observe(l, v);
    const row = rowsOf(h.snapshot()).get('d1')!;
    expect(row.buckets).toEqual([2, 4, 6, 8]);
    expect(row.count).toBe(8);
    expect(row.sum).toBeCloseTo(0 + 0.1 + 0.10000001 + 1 + 5 + 10 + 10.5 + 1e9, 6);
  });

  it('refuses negative, infinite and NaN values and counts them; never touches a row for them', () => {
    const h = new HistogramFamily(def());
    const l = labels({ device: 'd1' });
    for (const v of [-1, -0.001, Infinity, -Infinity, NaN]) h.observe(l, v);
    expect(h.rejected).toBe(5);
    expect(h.snapshot().labelValues).toHaveLength(0);
    expect(h.snapshot().totalCount).toBe(0);
  });

  it('reads an empty label as "unknown" and folds keys past the budget into "other"', () => {
    const h = new HistogramFamily(def({ budget: 3 }));
    for (const d of ['a', '', 'b', 'c', 'd', 'a']) h.observe(labels({ device: d }), 1);
    const rows = rowsOf(h.snapshot());
    expect([...rows.keys()]).toEqual(['a', 'unknown', 'other']);
    expect(rows.get('a')!.count).toBe(2);
    expect(rows.get('other')!.count).toBe(3); // b, c, d
    expect(h.stats()).toMatchObject({ seriesInUse: 3, budget: 3, foldedRecords: 3, admissions: 3, kind: 'histogram' });
  });

  it('folds the least important label first for two labels: (device, app) -> (device, other) -> (other, other)', () => {
    const h = new HistogramFamily(def({ labels: ['device', 'app'], budget: 4 }));
    h.observe(labels({ device: 'd1', app: 'dns' }), 0.05);
    h.observe(labels({ device: 'd1', app: 'https' }), 0.05); // the last free full-key row
    h.observe(labels({ device: 'd1', app: 'ssh' }), 0.05); // -> (d1, other), the reserved partial row
    h.observe(labels({ device: 'd2', app: 'ssh' }), 0.05); // -> (d2, other) has no room -> (other, other)
    const rows = rowsOf(h.snapshot());
    expect([...rows.keys()].sort()).toEqual(['d1|dns', 'd1|https', 'd1|other', 'other|other']);
    expect(h.snapshot().labelValues.length).toBeLessThanOrEqual(4);
  });

  it('validates buckets, value and budget with errors that name the histogram', () => {
    expect(() => new HistogramFamily(def({ buckets: [] }))).toThrow(/histogram "h_seconds": buckets must be a non-empty list/);
    expect(() => new HistogramFamily(def({ buckets: [1, 1] }))).toThrow(/strictly increasing, but 1 follows 1/);
    expect(() => new HistogramFamily(def({ buckets: [1, 0.5] }))).toThrow(/strictly increasing/);
    expect(() => new HistogramFamily(def({ buckets: [Infinity] }))).toThrow(/finite number of seconds/);
    expect(() => new HistogramFamily(def({ buckets: [-1] }))).toThrow(/0 or more/);
    expect(() => new HistogramFamily(def({ value: 'latency' as never }))).toThrow(/value must be one of rtt, duration/);
    expect(() => new HistogramFamily(def({ labels: ['device', 'app'], budget: 1 }))).toThrow(/cannot hold its own "other" rows/);
    expect(() => new HistogramFamily(def({ labels: ['nope' as RollupLabel] }))).toThrow(/unknown label "nope"/);
  });

  it('ships the documented defaults', () => {
    expect(DEFAULT_RTT_BUCKETS).toEqual([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
    expect(DEFAULT_DURATION_BUCKETS).toEqual([0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]);
    expect(DEFAULT_HISTOGRAMS.map((d) => [d.name, d.value, d.labels, d.budget])).toEqual([
      ['flow_rtt_seconds', 'rtt', ['device'], 500],
      ['flow_duration_seconds', 'duration', ['app'], 200],
    ]);
    const copy = defaultHistograms();
    copy[0].buckets.push(99);
    expect(DEFAULT_HISTOGRAMS[0].buckets).toHaveLength(12);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const POOL: RollupLabel[] = ['device', 'app', 'peer'];

const arbDef: fc.Arbitrary<HistogramDefinition> = fc
  .record({
    labels: fc.shuffledSubarray(POOL, { minLength: 1, maxLength: 3 }),
    extra: fc.nat(30),
    buckets: fc.uniqueArray(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 8 }),
  })
  .map(({ labels: ls, extra, buckets }) => ({
    name: 'h',
    value: 'duration' as const,
    labels: ls,
    budget: ls.length + extra,
    buckets: [...buckets].sort((a, b) => a - b),
  }));

const arbValue = fc.oneof(fc.double({ min: 0, max: 200, noNaN: true }), fc.constantFrom(0, 0.1, 1, 5, 1e6));
const arbKey = fc.oneof(fc.constantFrom('a', 'b', 'c', '', 'other', 'unknown', 'x"y'), fc.string({ maxLength: 3 }));

interface Obs {
  values: string[];
  v: number;
}

/** Random keys, a port-scan (first label fixed, the rest new each time), and a new key per observation. */
const arbStream: fc.Arbitrary<Obs[]> = fc.oneof(
  fc.array(fc.record({ values: fc.array(arbKey, { minLength: 3, maxLength: 3 }), v: arbValue }), { maxLength: 200 }),
  fc.array(arbValue, { maxLength: 200 }).map((vs) => vs.map((v, i) => ({ values: ['scanner', `k${i}`, `p${i}`], v }))),
  fc.array(arbValue, { maxLength: 200 }).map((vs) => vs.map((v, i) => ({ values: [`d${i}`, `a${i}`, `p${i}`], v }))),
);

describe('histogram cardinality contract (property tests)', () => {
  it('label sets <= budget, sum of _count = observations, buckets cumulative, nothing decreases between snapshots', () => {
    fc.assert(
      fc.property(arbDef, arbStream, fc.integer({ min: 1, max: 20 }), (d, stream, every) => {
        const h = new HistogramFamily(d);
        const l = createFlowLabels();
        let prev = new Map<string, { buckets: number[]; sum: number; count: number }>();
        let sumOfValues = 0;
        const check = (): void => {
          const s = h.snapshot();
          expect(s.labelValues.length).toBeLessThanOrEqual(d.budget);
          let count = 0;
          const w = d.buckets.length + 1;
          s.labelValues.forEach((_, r) => {
            for (let b = 1; b < w; b++) expect(s.buckets[r * w + b]).toBeGreaterThanOrEqual(s.buckets[r * w + b - 1]);
            expect(s.buckets[r * w + w - 1]).toBe(s.counts[r]);
            count += s.counts[r];
          });
          expect(count).toBe(s.totalCount);
          const rows = rowsOf(s);
          for (const [key, old] of prev) {
            const now = rows.get(key);
            expect(now).toBeDefined(); // rows are never withdrawn
            now!.buckets.forEach((c, b) => expect(c).toBeGreaterThanOrEqual(old.buckets[b]));
            expect(now!.sum).toBeGreaterThanOrEqual(old.sum);
          }
          prev = rows;
        };
        stream.forEach((o, i) => {
          POOL.forEach((name, j) => (l[name] = o.values[j]));
          h.observe(l, o.v);
          sumOfValues += o.v;
          if (i % every === 0) check();
        });
        check();
        const s = h.snapshot();
        expect(s.totalCount).toBe(stream.length);
        let sums = 0;
        for (const x of s.sums) sums += x;
        expect(sums).toBeCloseTo(sumOfValues, 6);
        expect(s.totalSum).toBeCloseTo(sumOfValues, 6);
      }),
      { numRuns: 300 },
    );
  });
});

describe('histogram hot path', () => {
  it('allocates nothing per observation, for kept label sets and for folded ones (no GC in 4M observations)', async () => {
    const engine = new RollupEngine([], {}, { histograms: defaultHistograms(), distinct: { budget: 0, windowSeconds: 300, subWindows: 5, precision: 10 } });
    const [rtt, duration] = engine.measures.histograms;
    const devices = Array.from({ length: 50 }, (_, i) => `device-${i}`);
    const scan = Array.from({ length: 100_000 }, (_, i) => `198.51.${i >> 8}.${i & 255}`);
    const l = createFlowLabels();
    l.app = 'https';
    const run = (n: number, fold: boolean): void => {
      for (let i = 0; i < n; i++) {
        l.device = fold ? scan[i % 100_000] : devices[i % 50];
        rtt.observe(l, (i % 1000) / 1000);
        duration.observe(l, i % 4000);
      }
    };
    run(10_000, false);
    run(10_000, true); // fills the rtt budget: from here on new devices only fold
    const collections = await gcCountDuring(() => {
      run(1_000_000, false);
      run(1_000_000, true);
    });
    expect(collections).toBeLessThanOrEqual(1);
    expect(rtt.snapshot().totalCount).toBe(2_020_000);
    expect(rtt.snapshot().labelValues).toHaveLength(500);
  });
});

// ---------------------------------------------------------------------------------------------
// Exposition

function histogramSnapshots(): HistogramSnapshot[] {
  const rtt = new HistogramFamily({ ...defaultHistograms()[0], budget: 4 });
  const dur = new HistogramFamily({ ...defaultHistograms()[1] });
  const odd = new HistogramFamily({ name: 'odd_bounds', value: 'rtt', labels: ['device', 'app'], budget: 5, buckets: [0, 1e-7, 0.0001, 1, 123456, 1e6], help: 'Odd "bounds" \\ here' });
  for (const [d, v] of [['thermostat-1', 0.004], ['cam"1', 0.2], ['new\nline', 7], ['x', 0.0011], ['y', 0.0011]] as const) {
    rtt.observe(labels({ device: d }), v);
    odd.observe(labels({ device: d, app: 'mqtt' }), v);
  }
  dur.observe(labels({ app: 'dns' }), 0.011);
  dur.observe(labels({ app: 'dns' }), 3600);
  dur.observe(labels({ app: 'ssh' }), 7200);
  return [rtt.snapshot(), dur.snapshot(), odd.snapshot()];
}

describe('histogram exposition', () => {
  it('renders cumulative _bucket series with le, +Inf, _sum and _count in the text format', () => {
    const hs = histogramSnapshots();
    const text = renderExposition([], 'prometheus', '', { histograms: hs, gauges: [], infos: [] });
    expect(text).toContain('# HELP flow_rtt_seconds Round-trip or network latency reported by the flow source, per local device.\n# TYPE flow_rtt_seconds histogram\n');
    expect(text).toContain('flow_rtt_seconds_bucket{device="thermostat-1",le="0.0025"} 0\n');
    expect(text).toContain('flow_rtt_seconds_bucket{device="thermostat-1",le="0.005"} 1\n');
    expect(text).toContain('flow_rtt_seconds_bucket{device="thermostat-1",le="+Inf"} 1\n');
    expect(text).toContain('flow_rtt_seconds_bucket{device="new\\nline",le="5"} 0\n');
    expect(text).toContain('flow_duration_seconds_bucket{app="dns",le="3600"} 2\n');
    expect(text).toContain('flow_duration_seconds_bucket{app="ssh",le="+Inf"} 1\n');
    expect(text).toContain('flow_duration_seconds_sum{app="dns"} 3600.011\n');
    expect(text).toContain('odd_bounds_bucket{device="thermostat-1",app="mqtt",le="1e-07"} 0\n');
    expect(text).toContain('odd_bounds_bucket{device="thermostat-1",app="mqtt",le="123456"} 1\n');
    expect(text).toContain('odd_bounds_bucket{device="thermostat-1",app="mqtt",le="1e+06"} 1\n');
    const samples = parseExposition(text);
    const count = samples.filter((s) => s.name === 'flow_rtt_seconds_count').reduce((a, s) => a + s.value, 0);
    expect(count).toBe(5);
    // The budget of 4 label sets held three devices and "other".
    expect(new Set(samples.filter((s) => s.name === 'flow_rtt_seconds_count').map((s) => s.labels.device))).toEqual(
      new Set(['thermostat-1', 'cam"1', 'new\nline', 'other']),
    );
  });

  it('renders le in the OpenMetrics canonical form and a seconds unit', () => {
    const text = renderExposition([], 'openmetrics', '', { histograms: histogramSnapshots(), gauges: [], infos: [] });
    expect(text).toContain('# TYPE flow_rtt_seconds histogram\n# UNIT flow_rtt_seconds seconds\n# HELP flow_rtt_seconds ');
    expect(text).toContain('flow_duration_seconds_bucket{app="dns",le="3600.0"} 2\n');
    expect(text).toContain('odd_bounds_bucket{device="thermostat-1",app="mqtt",le="0.0"} 0\n');
    expect(text).toContain('odd_bounds_bucket{device="thermostat-1",app="mqtt",le="1.0"} 1\n');
    expect(text).not.toContain('# UNIT odd_bounds');
    expect(text.endsWith('\n# EOF\n')).toBe(true);
  });

  it('formats bucket bounds like the OpenMetrics canonical examples', () => {
    const om = [0, 0.001, 0.002, 0.01, 0.1, 0.9, 0.95, 0.99, 0.999, 1, 1.7, 10].map((v) => formatBucketBound(v, 'openmetrics'));
    expect(om).toEqual(['0.0', '0.001', '0.002', '0.01', '0.1', '0.9', '0.95', '0.99', '0.999', '1.0', '1.7', '10.0']);
    const powers = [1e-10, 1e-9, 1e-5, 1e-4, 0.1, 1, 1e5, 1e6, 1e10].map((v) => formatBucketBound(v, 'openmetrics'));
    expect(powers).toEqual(['1e-10', '1e-09', '1e-05', '0.0001', '0.1', '1.0', '100000.0', '1e+06', '1e+10']);
    expect([0.0025, 1, 3600, 1.5e6, Infinity].map((v) => formatBucketBound(v, 'prometheus'))).toEqual(['0.0025', '1', '3600', '1.5e+06', '+Inf']);
  });

  it.skipIf(skipPromtool)('passes promtool check metrics (text format)', () => {
    const text = renderExposition([], 'prometheus', '', { histograms: histogramSnapshots(), gauges: [], infos: [] });
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });

  it.skipIf(skipPromtool)("is accepted by Prometheus's OpenMetrics parser (promtool tsdb create-blocks-from openmetrics)", () => {
    const text = renderExposition([], 'openmetrics', '', { histograms: histogramSnapshots(), gauges: [], infos: [] });
    const stamped = text
      .split('\n')
      .map((line) => (line === '' || line.startsWith('#') ? line : `${line} 1700000000`))
      .join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'flowgauge-hist-om-'));
    try {
      writeFileSync(join(dir, 'metrics.om'), stamped);
      const r = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'metrics.om'), join(dir, 'blocks')], { encoding: 'utf8' });
      const output = `${r.stdout}${r.stderr}`;
      expect(output).not.toMatch(/error/i);
      expect(r.status).toBe(0);
      const sampleLines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
      expect(output).toMatch(new RegExp(`\\b${sampleLines}\\b`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Configuration: histograms, distinct, info

describe('config sections histograms, distinct and info', () => {
  const errorsOf = (text: string): string[] => {
    const r = parseConfig(text, 'test.yaml', {});
    expect(r.config).toBeUndefined();
    return r.errors.map(String);
  };

  it('defaults: both histograms, distinct gauges and info series on', () => {
    const cfg = defaultConfig();
    expect(cfg.histograms.map((h) => [h.name, h.value, h.labels, h.budget, h.buckets.length])).toEqual([
      ['flow_rtt_seconds', 'rtt', ['device'], 500, 12],
      ['flow_duration_seconds', 'duration', ['app'], 200, 12],
    ]);
    expect(cfg.distinct).toEqual({ budget: 500, windowSeconds: 300, subWindows: 5, precision: 10 });
    expect(cfg.info).toEqual({ deviceBudget: 2000, exporterBudget: 500 });
  });

  it('reads the sections, with default buckets per value kind', () => {
    const r = parseConfig(
      [
        'histograms:',
        '  - { name: rtt_by_site_seconds, value: rtt, labels: [site, device], budget: 50, buckets: [0.01, 0.1, 1], fallback: [device] }',
        '  - { name: dur_seconds, value: duration, labels: [app], budget: 20 }',
        'distinct: { budget: 100, window_seconds: 600, sub_windows: 10, precision: 12 }',
        'info: { device_budget: 0, exporter_budget: 7 }',
      ].join('\n'),
      'test.yaml',
      {},
    );
    expect(r.errors.map(String)).toEqual([]);
    expect(r.config!.histograms).toEqual([
      { name: 'rtt_by_site_seconds', value: 'rtt', labels: ['site', 'device'], budget: 50, buckets: [0.01, 0.1, 1], fallback: ['device'] },
      { name: 'dur_seconds', value: 'duration', labels: ['app'], budget: 20, buckets: [...DEFAULT_DURATION_BUCKETS] },
    ]);
    expect(r.config!.distinct).toEqual({ budget: 100, windowSeconds: 600, subWindows: 10, precision: 12 });
    expect(r.config!.info).toEqual({ deviceBudget: 0, exporterBudget: 7 });
    expect(parseConfig('histograms: []\n', 't', {}).config!.histograms).toEqual([]);
    // The pipeline builds from it.
    expect(() => new FlowPipeline(r.config!)).not.toThrow();
  });

  it('reports each problem with its key and line', () => {
    const errors = errorsOf(
      [
        'histograms:',
        '  - name: h_seconds',
        '    value: rtt',
        '    labels: [device, app]',
        '    budget: 1',
        '    buckets: [0.1, 1, 0.5]',
        '    fallback: [peer]',
        '  - { name: flow_peer_bytes, value: duration, labels: [app], budget: 5 }',
        '  - { name: h_seconds_count, value: duration, labels: [app], budget: 5 }',
        '  - { name: flow_device_info, value: latency, labels: [app], budget: 5 }',
        'distinct: { precision: 20, sub_windows: 0 }',
        'info: { device_budget: -1 }',
      ].join('\n') + '\n',
    );
    const has = (re: RegExp): void => expect(errors.some((e) => re.test(e)), `${re} in\n${errors.join('\n')}`).toBe(true);
    has(/test\.yaml:5:\d+: histograms\[0\]\.budget: budget 1 cannot hold its own "other" rows/);
    has(/test\.yaml:6:\d+: histograms\[0\]\.buckets\[2\]: buckets must be strictly increasing, but 0\.5 follows 1/);
    has(/test\.yaml:7:\d+: histograms\[0\]\.fallback\[0\]: "peer" is not one of this histogram's labels/);
    has(/test\.yaml:8:\d+: histograms\[1\]\.name: "flow_peer_bytes" would produce metric "flow_peer_bytes", which rollup "flow_peer"/);
    has(/test\.yaml:9:\d+: histograms\[2\]\.name: "h_seconds_count" ends in a suffix/);
    has(/test\.yaml:10:\d+: histograms\[3\]\.name: "flow_device_info" would produce metric "flow_device_info", which the flow_device_info series/);
    has(/test\.yaml:10:\d+: histograms\[3\]\.value/);
    has(/test\.yaml:11:\d+: distinct\.precision/);
    has(/test\.yaml:11:\d+: distinct\.sub_windows/);
    has(/test\.yaml:12:\d+: info\.device_budget/);
  });

  it('refuses two histograms with the same name and a histogram named like a user rollup metric', () => {
    const errors = errorsOf(
      [
        'rollups: [{ name: flow_x, labels: [device], budget: 5 }]',
        'histograms:',
        '  - { name: h_seconds, value: rtt, labels: [device], budget: 5 }',
        '  - { name: h_seconds, value: duration, labels: [app], budget: 5 }',
        '  - { name: flow_x_flows, value: duration, labels: [app], budget: 5 }',
      ].join('\n'),
    );
    expect(errors.some((e) => /histograms\[1\]\.name: "h_seconds" would produce metric "h_seconds", which histogram "h_seconds" \(histograms\[0\]\)/.test(e))).toBe(true);
    expect(errors.some((e) => /histograms\[2\]\.name: .*rollup "flow_x" \(rollups\[0\]\)/.test(e))).toBe(true);
  });
});
