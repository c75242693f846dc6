/** Puts /metrics and pushed OTLP points side by side, keyed by Prometheus series. */
import pino from 'pino';
import { expect } from 'vitest';
import type { OtlpConfig, RollupDefinition } from '../../src/config/types.js';
import { renderExposition } from '../../src/exporters/exposition.js';
import { resolveOtlpSettings, type ResolveOptions } from '../../src/exporters/otlp/otlp-config.js';
import { otlpNameForPrometheus, prometheusNameForOtlp } from '../../src/exporters/otlp/otlp-naming.js';
import { OtlpPusher } from '../../src/exporters/otlp/otlp-pusher.js';
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
): OtlpPusher {
  const settings = resolveOtlpSettings(cfg, { env: {}, hostname: TEST_HOST, version: TEST_VERSION, ...resolve });
  return new OtlpPusher({
    settings,
    snapshots,
    largestBudget: Math.max(...rollups.map((r) => r.budget)),
    logger: pino({ level: 'silent' }),
    version: TEST_VERSION,
  });
}

/** The rollup counter sample names /metrics has for these rollups. */
export function counterSampleNames(rollups: readonly RollupDefinition[]): Set<string> {
  const out = new Set<string>();
  for (const r of rollups) for (const what of ['bytes', 'packets', 'flows']) out.add(`${r.name}_${what}_total`);
  return out;
}

/** Rollup counter series of a /metrics text: series key -> value. */
export function metricsSeries(text: string, rollups: readonly RollupDefinition[]): Map<string, number> {
  const names = counterSampleNames(rollups);
  const out = new Map<string, number>();
  for (const s of parseExposition(text)) if (names.has(s.name)) out.set(seriesKey(s.name, s.labels), s.value);
  return out;
}

/** The rollup part of /metrics for snapshots, as the HTTP server renders it. */
export function renderRollups(snapshots: readonly RollupSnapshot[]): string {
  return renderExposition(snapshots, 'prometheus');
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

/** Cumulative points: the latest value of each series, keyed by the Prometheus name it maps to. */
export function latestCumulative(points: readonly ReceivedPoint[]): Map<string, number> {
  const latest = new Map<string, ReceivedPoint>();
  for (const p of points) {
    expect(p.temporality).toBe(2);
    const key = seriesKey(prometheusNameForOtlp(p.metric, p.kind === 'sum' && p.isMonotonic), p.attributes);
    const prev = latest.get(key);
    if (prev === undefined || p.timeUnixNano >= prev.timeUnixNano) latest.set(key, p);
  }
  return new Map([...latest].map(([k, p]) => [k, p.value]));
}

/** Delta points: the sum of every delivered delta per series. */
export function summedDeltas(points: readonly ReceivedPoint[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of points) {
    expect(p.temporality).toBe(1);
    const key = seriesKey(prometheusNameForOtlp(p.metric, p.kind === 'sum' && p.isMonotonic), p.attributes);
    out.set(key, (out.get(key) ?? 0) + p.value);
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
  const otlpNames = new Set(points.map((p) => p.metric));
  for (const name of otlpNames) expect(samples.has(prometheusNameForOtlp(name, true)), name).toBe(true);
  for (const sample of samples) expect(otlpNames.has(otlpNameForPrometheus(sample)), sample).toBe(true);
}
