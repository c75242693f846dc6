import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  escapeHelp,
  escapeLabelValue,
  negotiateFormat,
  renderExposition,
} from '../src/exporters/exposition.js';
import { RollupEngine } from '../src/rollup/rollup-engine.js';
import type { RollupSnapshot } from '../src/rollup/snapshot.js';
import { createFlowLabels } from '../src/rollup/types.js';

const havePromtool = spawnSync('promtool', ['--version']).error === undefined;
// In CI promtool is installed by the CI script; a missing one must fail there, not skip.
const skipPromtool = !havePromtool && !process.env.CI;

const NASTY = ['back\\slash', 'quo"te', 'new\nline', 'trail\\', 'gerät-ü ✓', '{a="b"},c=d', '\\"\\n', 'other', ''];

function snapshots(): RollupSnapshot[] {
  const engine = new RollupEngine([
    { name: 'flow_peer', labels: ['device', 'peer'], budget: 12, help: 'Traffic per "device" and \\ peer\nsecond line' },
    { name: 'flow_device', labels: ['device', 'direction'], budget: 5 },
    { name: 'flow_empty', labels: ['app'], budget: 3 },
  ]);
  const l = createFlowLabels();
  NASTY.forEach((v, i) => {
    l.device = v;
    l.peer = NASTY[(i + 3) % NASTY.length];
    l.direction = i % 2 ? 'egress' : 'ingress';
    engine.add(l, 1000 * (i + 1), i + 1, 1);
  });
  l.device = 'big';
  engine.add(l, 2 ** 52 + 3, 2 ** 40, 7);
  const snaps = engine.snapshot();
  return [snaps[0], snaps[1], new RollupEngine([{ name: 'flow_empty', labels: ['app'], budget: 3 }]).snapshot()[0]];
}

async function selfMetrics(format: 'prometheus' | 'openmetrics'): Promise<string> {
  const registry =
    format === 'openmetrics' ? new client.Registry(client.Registry.OPENMETRICS_CONTENT_TYPE) : new client.Registry();
  const c = new client.Counter({ name: 'flowgauge_records_received_total', help: 'Records received.', labelNames: ['exporter'], registers: [registry] });
  c.inc({ exporter: '192.0.2.1' }, 42);
  const g = new client.Gauge({ name: 'flowgauge_rollup_series', help: 'Series in use.', labelNames: ['rollup'], registers: [registry] });
  g.set({ rollup: 'flow_peer' }, 9);
  const h = new client.Histogram({ name: 'flowgauge_render_seconds', help: 'Render time.', buckets: [0.01, 0.1], registers: [registry] });
  h.observe(0.02);
  return registry.metrics();
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader for both formats: metadata lines, then samples whose label values may hold only
 * the three escapes. Throws on anything else; returns samples and metadata per family.
 */
function parseStrict(text: string, format: 'prometheus' | 'openmetrics'): { samples: Sample[]; meta: Map<string, Record<string, string>> } {
  const lines = text.split('\n');
  expect(lines.pop()).toBe(''); // ends with a line feed
  if (format === 'openmetrics') expect(lines.pop()).toBe('# EOF');
  const samples: Sample[] = [];
  const meta = new Map<string, Record<string, string>>();
  const finished = new Set<string>();
  let current = '';
  const familyOf = (name: string): string => {
    for (const suffix of ['_total', '_created', '_bucket', '_sum', '_count']) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && meta.has(base)) return base;
    }
    return name;
  };
  for (const line of lines) {
    const m = /^# (HELP|TYPE|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      if (format === 'prometheus') expect(m[1]).not.toBe('UNIT');
      if (m[2] !== current) {
        if (finished.has(m[2]) || meta.has(m[2])) throw new Error(`metadata of ${m[2]} repeated or split: ${line}`);
        if (current) finished.add(current);
        current = m[2];
        meta.set(current, {});
      }
      meta.get(current)![m[1]] = m[3];
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment line: ${JSON.stringify(line)}`);
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$/.exec(line);
    if (!s) throw new Error(`malformed sample line: ${JSON.stringify(line)}`);
    const family = familyOf(s[1]);
    if (family !== current) throw new Error(`sample ${s[1]} outside its family block (${current})`);
    const labels: Record<string, string> = {};
    for (const lm of (s[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: s[1], labels, value: Number(s[3]) });
  }
  return { samples, meta };
}

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('renderExposition: Prometheus text 0.0.4', () => {
  it.skipIf(skipPromtool)('passes promtool check metrics with escaping-heavy label values and self-metrics', async () => {
    const text = renderExposition(snapshots(), 'prometheus', await selfMetrics('prometheus'));
    const r = promtool(['check', 'metrics'], text);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('round-trips every label value and counter exactly', async () => {
    const snaps = snapshots();
    const text = renderExposition(snaps, 'prometheus', await selfMetrics('prometheus'));
    const { samples, meta } = parseStrict(text, 'prometheus');
    expect(text).not.toContain('# EOF');
    for (const snap of snaps) {
      for (const what of ['bytes', 'packets', 'flows'] as const) {
        const name = `${snap.name}_${what}_total`;
        expect(meta.get(name)?.TYPE).toBe('counter');
        const got = samples.filter((s) => s.name === name);
        expect(got).toHaveLength(snap.labelValues.length);
        snap.labelValues.forEach((values, i) => {
          const want = Object.fromEntries(snap.labelNames.map((n, j) => [n, values[j]]));
          const match = got.find((s) => JSON.stringify(s.labels) === JSON.stringify(want));
          expect(match?.value).toBe(snap[what][i]);
        });
      }
    }
    // Values that needed escaping came back intact.
    const devices = new Set(samples.filter((s) => s.name === 'flow_peer_bytes_total').map((s) => s.labels.device));
    for (const v of NASTY) expect(devices.has(v === '' ? 'unknown' : v)).toBe(true);
    expect(samples.find((s) => s.name === 'flow_peer_bytes_total' && s.labels.device === 'big')?.value).toBe(2 ** 52 + 3);
    expect(meta.get('flow_peer_bytes_total')?.HELP).toBe('Traffic per "device" and \\\\ peer\\nsecond line: bytes, scaled by the sampling rate.');
    expect(samples.find((s) => s.name === 'flowgauge_records_received_total')?.value).toBe(42);
  });

  it('renders HELP and TYPE for a rollup without rows and nothing else for an empty list', () => {
    const empty = snapshots()[2];
    expect(renderExposition([empty], 'prometheus')).toBe(
      [
        '# HELP flow_empty_bytes_total Traffic per app: bytes, scaled by the sampling rate.',
        '# TYPE flow_empty_bytes_total counter',
        '# HELP flow_empty_packets_total Traffic per app: packets, scaled by the sampling rate.',
        '# TYPE flow_empty_packets_total counter',
        '# HELP flow_empty_flows_total Traffic per app: flow records.',
        '# TYPE flow_empty_flows_total counter',
        '',
      ].join('\n'),
    );
    expect(renderExposition([], 'prometheus')).toBe('');
    expect(renderExposition([], 'prometheus', 'x_total 1')).toBe('x_total 1\n');
    expect(renderExposition([], 'prometheus', 'x_total 1\n# EOF\n')).toBe('x_total 1\n');
  });
});

describe('renderExposition: OpenMetrics 1.0', () => {
  it('has counter families with _total samples, a bytes unit, and exactly one # EOF at the end', async () => {
    const snaps = snapshots();
    const extra = await selfMetrics('openmetrics');
    expect(extra.endsWith('# EOF\n')).toBe(true);
    const text = renderExposition(snaps, 'openmetrics', extra);
    expect(text.match(/^# EOF$/gm)).toHaveLength(1);
    expect(text.endsWith('\n# EOF\n')).toBe(true);
    const { samples, meta } = parseStrict(text, 'openmetrics');
    expect(meta.get('flow_peer_bytes')).toEqual({
      TYPE: 'counter',
      UNIT: 'bytes',
      HELP: 'Traffic per \\"device\\" and \\\\ peer\\nsecond line: bytes, scaled by the sampling rate.',
    });
    expect(meta.get('flow_peer_packets')).toEqual({ TYPE: 'counter', HELP: expect.stringContaining('packets') });
    expect(meta.get('flow_peer_flows')?.UNIT).toBeUndefined();
    for (const [family, m] of meta) {
      if (m.UNIT !== undefined) expect(family.endsWith(`_${m.UNIT}`)).toBe(true);
    }
    const peerBytes = samples.filter((s) => s.name === 'flow_peer_bytes_total');
    expect(peerBytes).toHaveLength(snaps[0].labelValues.length);
    expect(peerBytes.reduce((a, s) => a + s.value, 0)).toBe(snaps[0].totalBytes);
    expect(samples.some((s) => s.name.startsWith('flowgauge_render_seconds_bucket'))).toBe(true);
    expect(renderExposition([], 'openmetrics')).toBe('# EOF\n');
    expect(renderExposition([], 'openmetrics', '# EOF')).toBe('# EOF\n');
  });

  it.skipIf(skipPromtool)("is accepted by Prometheus's own OpenMetrics parser (promtool tsdb create-blocks-from openmetrics)", async () => {
    const text = renderExposition(snapshots(), 'openmetrics', await selfMetrics('openmetrics'));
    // The importer needs a timestamp on every sample; everything else is the text as served.
    const stamped = text
      .split('\n')
      .map((line) => (line === '' || line.startsWith('#') ? line : `${line} 1700000000`))
      .join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'flowgauge-om-'));
    try {
      writeFileSync(join(dir, 'metrics.om'), stamped);
      const r = promtool(['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'metrics.om'), join(dir, 'blocks')]);
      expect(r.output).not.toMatch(/error/i);
      expect(r.status).toBe(0);
      // The number of samples the parser read equals the sample lines we rendered.
      const sampleLines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
      expect(r.output).toMatch(new RegExp(`\\b${sampleLines}\\b`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('escaping', () => {
  it('escapes label values and HELP text as each format requires', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeLabelValue('plain')).toBe('plain');
    expect(escapeHelp('a\\b"c\nd', 'prometheus')).toBe('a\\\\b"c\\nd');
    expect(escapeHelp('a\\b"c\nd', 'openmetrics')).toBe('a\\\\b\\"c\\nd');
  });
});

describe('negotiateFormat', () => {
  const prom = { format: 'prometheus', contentType: PROMETHEUS_CONTENT_TYPE };
  const om = { format: 'openmetrics', contentType: OPENMETRICS_CONTENT_TYPE };
  it.each([
    ['no header', undefined, prom],
    ['empty header', '', prom],
    ['curl', '*/*', prom],
    [
      'Prometheus 2 scrape',
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      om,
    ],
    [
      'Prometheus 3 scrape',
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1',
      om,
    ],
    ['Prometheus configured for text first', 'text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.8', prom],
    ['q-values honoured regardless of order', 'text/plain;q=0.2, application/openmetrics-text; version=1.0.0; q=0.7', om],
    ['OpenMetrics without version', 'application/openmetrics-text', om],
    ['OpenMetrics 0.0.1', 'application/openmetrics-text; version=0.0.1', om],
    ['unsupported OpenMetrics version', 'application/openmetrics-text; version=2.0.0', prom],
    ['OpenMetrics refused with q=0', 'application/openmetrics-text;q=0, */*', prom],
    ['invalid q is not acceptable', 'application/openmetrics-text;q=high, text/plain;q=0.1', prom],
    ['exact type beats wildcard at equal q', '*/*;q=0.5, application/openmetrics-text;q=0.5', om],
    ['earlier wins at equal q and specificity', 'text/plain;q=0.5, application/openmetrics-text;q=0.5', prom],
    ['case-insensitive media types', 'Application/OpenMetrics-Text; Version=1.0.0', om],
    ['protobuf only', 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited', prom],
    ['browser', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', prom],
    ['header given twice', ['text/plain;q=0.1', 'application/openmetrics-text'], om],
  ] as const)('%s', (_name, header, want) => {
    expect(negotiateFormat(header as string | string[] | undefined)).toEqual(want);
  });
});
