/**
 * The `histograms:`, `distinct:` and `info:` config sections: the checks the JSON Schema cannot
 * express (bucket order, budgets that hold their own `other` rows, names that collide with other
 * families), and the conversion from the YAML's snake_case to the config types.
 */
import type { DistinctSettings, FlowgaugeConfig, HistogramDefinition, InfoSettings, RollupLabel } from '../config/types.js';
import { DISTINCT_PEERS_METRIC, DISTINCT_PORTS_METRIC } from './distinct-family.js';
import { DEFAULT_DURATION_BUCKETS, DEFAULT_RTT_BUCKETS, histogramMetricNames } from './histogram-family.js';
import { DEVICE_INFO, EXPORTER_INFO } from './info-series.js';
import { rollupMetricNames } from './rollup-engine.js';
import { DEFAULT_ROLLUPS } from './defaults.js';

type Path = Array<string | number>;
type Report = (path: Path, message: string) => void;

const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Reports every problem of the three sections; only looks at values of the right type. */
export function checkMeasureConfig(raw: Record<string, unknown>, report: Report): void {
  const taken = new Map<string, string>();
  const rollups = Array.isArray(raw.rollups) ? raw.rollups : DEFAULT_ROLLUPS;
  rollups.forEach((r, i) => {
    const name = asObject(r)?.name;
    if (typeof name === 'string') for (const m of rollupMetricNames(name)) taken.set(m, `rollup "${name}" (rollups[${i}])`);
  });
  const distinctBudget = asObject(raw.distinct)?.budget;
  if (distinctBudget !== 0) for (const m of [DISTINCT_PEERS_METRIC, DISTINCT_PORTS_METRIC]) taken.set(m, `the ${m} gauge`);
  for (const name of [DEVICE_INFO, EXPORTER_INFO]) {
    taken.set(name, `the ${name}_info series`);
    taken.set(`${name}_info`, `the ${name}_info series`);
  }

  if (!Array.isArray(raw.histograms)) return;
  raw.histograms.forEach((entry, i) => {
    const h = asObject(entry);
    if (!h) return;
    const at = (...rest: Path): Path => ['histograms', i, ...rest];
    if (typeof h.name === 'string' && h.name !== '') {
      if (!METRIC_NAME.test(h.name)) {
        report(at('name'), `"${h.name}" is not a valid Prometheus metric name; use letters, digits and underscores, not starting with a digit (like "flow_rtt_seconds")`);
      } else if (h.name.startsWith('flowgauge_')) {
        report(at('name'), `"${h.name}": the flowgauge_ prefix is reserved for flowgauge's own metrics; pick another name`);
      } else if (/_(bucket|sum|count|total|created)$/.test(h.name)) {
        report(at('name'), `"${h.name}" ends in a suffix the exposition appends itself (_bucket, _sum, _count); drop it`);
      } else {
        for (const m of histogramMetricNames(h.name)) {
          const owner = taken.get(m);
          if (owner !== undefined) {
            report(at('name'), `"${h.name}" would produce metric "${m}", which ${owner} already produces; pick another name`);
            break;
          }
        }
        for (const m of histogramMetricNames(h.name)) taken.set(m, `histogram "${h.name}" (histograms[${i}])`);
      }
    }
    const labels = Array.isArray(h.labels) ? h.labels.filter((l): l is string => typeof l === 'string') : [];
    if (Number.isInteger(h.budget) && labels.length > 0 && (h.budget as number) < labels.length) {
      report(
        at('budget'),
        `budget ${String(h.budget)} cannot hold its own "other" rows: with ${labels.length} label(s) it needs at least ${labels.length} ` +
          `(${labels.length - 1} partially folded row(s) + 1 all-"other" row)`,
      );
    }
    if (Array.isArray(h.fallback)) {
      h.fallback.forEach((l, j) => {
        if (typeof l === 'string' && !labels.includes(l)) {
          report(at('fallback', j), `"${l}" is not one of this histogram's labels (${labels.join(', ')}); fallback can only fold labels the histogram has`);
        }
      });
    }
    if (Array.isArray(h.buckets)) {
      let prev = -Infinity;
      h.buckets.forEach((b, j) => {
        if (typeof b !== 'number') return;
        if (!(b > prev)) report(at('buckets', j), `buckets must be strictly increasing, but ${b} follows ${prev}`);
        prev = b;
      });
    }
  });
}

interface RawHistogram {
  name: string;
  value: 'rtt' | 'duration';
  labels: RollupLabel[];
  budget: number;
  buckets?: number[];
  fallback?: RollupLabel[];
  help?: string;
}

/** Copies the three sections of a valid raw config onto `cfg` (keys left out keep their defaults). */
export function applyMeasureConfig(raw: Record<string, unknown>, cfg: FlowgaugeConfig): void {
  if (Array.isArray(raw.histograms)) {
    cfg.histograms = (raw.histograms as RawHistogram[]).map((h) => {
      const out: HistogramDefinition = {
        name: h.name,
        value: h.value,
        labels: [...h.labels],
        budget: h.budget,
        buckets: [...(h.buckets ?? (h.value === 'rtt' ? DEFAULT_RTT_BUCKETS : DEFAULT_DURATION_BUCKETS))],
      };
      if (h.fallback) out.fallback = [...h.fallback];
      if (h.help !== undefined) out.help = h.help;
      return out;
    });
  }
  const d = asObject(raw.distinct);
  if (d) {
    const distinct: DistinctSettings = cfg.distinct;
    if (typeof d.budget === 'number') distinct.budget = d.budget;
    if (typeof d.window_seconds === 'number') distinct.windowSeconds = d.window_seconds;
    if (typeof d.sub_windows === 'number') distinct.subWindows = d.sub_windows;
    if (typeof d.precision === 'number') distinct.precision = d.precision;
  }
  const info = asObject(raw.info);
  if (info) {
    const out: InfoSettings = cfg.info;
    if (typeof info.device_budget === 'number') out.deviceBudget = info.device_budget;
    if (typeof info.exporter_budget === 'number') out.exporterBudget = info.exporter_budget;
  }
}
