/** Puts /metrics and pushed OTLP points side by side, keyed by Prometheus series. */
import pino from 'pino';
import { expect } from 'vitest';
import type { OtlpConfig, RollupDefinition } from '../../src/config/types.js';
import { renderExposition } from '../../src/exporters/exposition.js';
import { interfaceMetricFamilies, INTERFACE_OPER_UP_METRIC, INTERFACE_SPEED_METRIC, renderInterfaceMetrics } from '../../src/exporters/interface-exposition.js';
import { resolveOtlpSettings, type ResolveOptions } from '../../src/exporters/otlp/otlp-config.js';
import { otlpNameForPrometheus, prometheusNameForOtlp } from '../../src/exporters/otlp/otlp-naming.js';
import { OtlpPusher } from '../../src/exporters/otlp/otlp-pusher.js';
import type { InterfaceCountersSnapshot } from '../../src/rollup/interface-counters.js';
import type { MeasureSnapshots } from '../../src/rollup/measure-snapshot.js';
import type { RollupSnapshot } from '../../src/rollup/snapshot.js';
import { parseExposition } from './exposition.js';
import { seriesKey, type ReceivedPoint } from './otlp-receiver.js';

export const TEST_VERSION = '9.9.9-test';
export const TEST_HOST = 'test-host';

export function otlpConfig(overrides: Partial<OtlpConfig> = {}): OtlpConfig {
  return {
    enabled: true,
    headers: {},
    tls: {},
    resourceAttributes: {},
    // Exports are driven by flush() in tests; the timer stays out of the way.
    intervalMs: 60_000,
    timeoutMs: 2_000,
    ...overrides,
  };
}

export function makePusher(
  snapshots: () => readonly RollupSnapshot[],
  cfg: OtlpConfig,
  rollups: readonly RollupDefinition[],
  resolve: ResolveOptions = {},
  measures?: (rollups: readonly RollupSnapshot[]) => MeasureSnapshots,
  interfaces?: () => InterfaceCountersSnapshot,
): OtlpPusher {
  const settings = resolveOtlpSettings(cfg, { env: {}, hostname: TEST_HOST, version: TEST_VERSION, ...resolve });
  return new OtlpPusher({
    settings,
    snapshots,
    measures,
    interfaces,
    largestBudget: Math.max(...rollups.map((r) => r.budget)),
    logger: pino({ level: 'silent' }),
    version: TEST_VERSION,
  });
}

/** The rollup counter sample names /metrics has for these rollups. */
export function counterSampleNames(rollups: readonly { name: string }[]): Set<string> {
  const out = new Set<string>();
  for (const r of rollups) for (const what of ['bytes', 'packets', 'flows']) out.add(`${r.name}_${what}_total`);
  return out;
}

/** The interface sample names of /metrics (sFlow counter samples): counters with `_total`, gauges. */
export function interfaceSampleNames(): Set<string> {
  const gauges = new Set([INTERFACE_SPEED_METRIC, INTERFACE_OPER_UP_METRIC]);
  return new Set(interfaceMetricFamilies().map((f) => (gauges.has(f) ? f : `${f}_total`)));
}

/**
 * Every /metrics sample name the OTLP push carries: rollup counters, histograms, gauges, info
 * series, and the interface metrics.
 */
export function exportedSampleNames(rollups: readonly { name: string }[], measures?: MeasureSnapshots): Set<string> {
  const out = counterSampleNames(rollups);
  for (const name of interfaceSampleNames()) out.add(name);
  for (const h of measures?.histograms ?? []) for (const suffix of ['_bucket', '_sum', '_count']) out.add(h.name + suffix);
  for (const g of measures?.gauges ?? []) out.add(g.name);
  for (const i of measures?.infos ?? []) out.add(`${i.name}_info`);
  return out;
}

/** A bucket bound in one spelling whichever way it was written ("1", "1.0", "1e0"). */
function canonicalLabels(labels: Record<string, string>): Record<string, string> {
  if (labels.le === undefined || labels.le === '+Inf') return labels;
  return { ...labels, le: String(Number(labels.le)) };
}

/** Pushed series of a /metrics text: series key -> value. */
export function metricsSeries(text: string, rollups: readonly { name: string }[], measures?: MeasureSnapshots): Map<string, number> {
  const names = exportedSampleNames(rollups, measures);
  const out = new Map<string, number>();
  for (const s of parseExposition(text)) if (names.has(s.name)) out.set(seriesKey(s.name, canonicalLabels(s.labels)), s.value);
  return out;
}

/**
 * /metrics for these snapshots (rollups, then histograms, gauges, info series, then the interface
 * metrics when given), as the server renders it.
 */
export function renderRollups(snapshots: readonly RollupSnapshot[], measures?: MeasureSnapshots, interfaces?: InterfaceCountersSnapshot): string {
  return renderExposition(snapshots, 'prometheus', interfaces ? renderInterfaceMetrics(interfaces, 'prometheus') : '', measures);
}

/** `# HELP` texts of a /metrics text by sample name. */
export function helpTexts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/** The /metrics samples an OTLP point stands for (a histogram point is buckets, sum and count). */
function samplesOf(p: ReceivedPoint): Array<[string, number]> {
  if (p.kind === 'histogram') {
    const out: Array<[string, number]> = [];
    let cumulative = 0;
    const bounds = p.explicitBounds ?? [];
    (p.bucketCounts ?? []).forEach((n, b) => {
      cumulative += n;
      const le = b < bounds.length ? String(bounds[b]) : '+Inf';
      out.push([seriesKey(`${p.metric}_bucket`, { ...p.attributes, le }), cumulative]);
    });
    out.push([seriesKey(`${p.metric}_sum`, p.attributes), p.sum ?? 0]);
    out.push([seriesKey(`${p.metric}_count`, p.attributes), p.count ?? 0]);
    return out;
  }
  return [[seriesKey(prometheusNameForOtlp(p.metric, p.kind === 'sum' && p.isMonotonic), p.attributes), p.value]];
}

/** Cumulative points: the latest value of each series, keyed by the Prometheus series it maps to. */
export function latestCumulative(points: readonly ReceivedPoint[]): Map<string, number> {
  const latest = new Map<string, { time: bigint; value: number }>();
  for (const p of points) {
    if (p.kind !== 'gauge') expect(p.temporality).toBe(2);
    for (const [key, value] of samplesOf(p)) {
      const prev = latest.get(key);
      if (prev === undefined || p.timeUnixNano >= prev.time) latest.set(key, { time: p.timeUnixNano, value });
    }
  }
  return new Map([...latest].map(([k, v]) => [k, v.value]));
}

/** Delta points summed per series (gauges and info series, which have no temporality: the latest). */
export function summedDeltas(points: readonly ReceivedPoint[]): Map<string, number> {
  const gauges = latestCumulative(points.filter((p) => p.kind === 'gauge'));
  const out = new Map<string, number>(gauges);
  for (const p of points) {
    if (p.kind === 'gauge') continue;
    expect(p.temporality).toBe(1);
    for (const [key, value] of samplesOf(p)) out.set(key, (out.get(key) ?? 0) + value);
  }
  return out;
}

/** Every /metrics series has the pushed value and nothing else was pushed. */
export function expectSameSeries(pushed: Map<string, number>, metrics: Map<string, number>): void {
  expect(metrics.size).toBeGreaterThan(0);
  const missing = [...metrics.keys()].filter((k) => !pushed.has(k));
  const extra = [...pushed.keys()].filter((k) => !metrics.has(k));
  expect(missing, 'series on /metrics but not pushed').toEqual([]);
  expect(extra, 'series pushed but not on /metrics').toEqual([]);
  const differ = [...metrics].filter(([k, v]) => pushed.get(k) !== v).map(([k, v]) => `${k}: /metrics ${v}, OTLP ${pushed.get(k)}`);
  expect(differ).toEqual([]);
}

/** Names map both ways: each OTLP metric to a /metrics sample and each /metrics sample back. */
export function expectNamesMapBothWays(points: readonly ReceivedPoint[], rollups: readonly RollupDefinition[]): void {
  const samples = counterSampleNames(rollups);
  const otlpNames = new Set(points.filter((p) => p.kind === 'sum').map((p) => p.metric));
  for (const name of otlpNames) expect(samples.has(prometheusNameForOtlp(name, true)), name).toBe(true);
  for (const sample of samples) expect(otlpNames.has(otlpNameForPrometheus(sample)), sample).toBe(true);
}
