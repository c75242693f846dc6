/**
 * Renders rollup snapshots as Prometheus text 0.0.4 or OpenMetrics 1.0 text, straight from the
 * snapshot columns (no client-library objects per series), and merges the self-metrics text that
 * prom-client renders in the same format.
 */
import type { GaugeSnapshot, HistogramSnapshot, InfoSnapshot, MeasureSnapshots } from '../rollup/measure-snapshot.js';
import type { RollupSnapshot } from '../rollup/snapshot.js';
import type { ExpositionFormat } from './content-negotiation.js';

export {
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  type ExpositionFormat,
  type NegotiatedFormat,
} from './content-negotiation.js';

const EOF_LINE = '# EOF';
const LABEL_VALUE_SPECIAL = /[\\"\n]/;
const LABEL_VALUE_SPECIAL_ALL = /[\\"\n]/g;
const HELP_SPECIAL_PROMETHEUS = /[\\\n]/g;
const HELP_SPECIAL_OPENMETRICS = /[\\"\n]/g;

function escapeChar(c: string): string {
  return c === '\n' ? '\\n' : '\\' + c;
}

/** Label values escape backslash, double quote and line feed, the same in both formats. */
export function escapeLabelValue(value: string): string {
  return LABEL_VALUE_SPECIAL.test(value) ? value.replace(LABEL_VALUE_SPECIAL_ALL, escapeChar) : value;
}

/** HELP text: 0.0.4 escapes backslash and line feed only (a `\"` there is an error); OpenMetrics also escapes `"`. */
export function escapeHelp(help: string, format: ExpositionFormat): string {
  return help.replace(format === 'openmetrics' ? HELP_SPECIAL_OPENMETRICS : HELP_SPECIAL_PROMETHEUS, escapeChar);
}

interface CounterKind {
  suffix: 'bytes' | 'packets' | 'flows';
  unit: string | undefined;
  what: string;
  column: (s: RollupSnapshot) => Float64Array;
}

const COUNTERS: readonly CounterKind[] = [
  { suffix: 'bytes', unit: 'bytes', what: 'bytes, scaled by the sampling rate', column: (s) => s.bytes },
  { suffix: 'packets', unit: undefined, what: 'packets, scaled by the sampling rate', column: (s) => s.packets },
  { suffix: 'flows', unit: undefined, what: 'flow records', column: (s) => s.flows },
];

function renderLabelSets(snap: RollupSnapshot): string[] {
  const names = snap.labelNames;
  const rows = snap.labelValues;
  const out = new Array<string>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const values = rows[r];
    let s = '{';
    for (let i = 0; i < names.length; i++) {
      if (i > 0) s += ',';
      s += names[i] + '="' + escapeLabelValue(values[i]) + '"';
    }
    out[r] = s + '}';
  }
  return out;
}

function formatValue(v: number): string {
  // Counters are integers; anything else still renders as a valid float literal.
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

/**
 * Drops `# EOF` lines and blank lines (prom-client separates text-format families with blank lines,
 * which OpenMetrics forbids) and makes the text end in a line feed, or be empty.
 */
function normalizeExtra(extra: string): string {
  if (extra === '') return '';
  let text = '';
  for (const line of extra.split('\n')) {
    if (line.trim() === '' || line.trimEnd() === EOF_LINE) continue;
    text += line + '\n';
  }
  return text;
}

/**
 * A bucket bound as the `le` label value: Go's shortest `%g` rendering (exponent below 1e-4 and
 * from 1e+06, at least two exponent digits), which the OpenMetrics canonical form extends with
 * `.0` on integral values ("1.0", "0.0"). The text format keeps the plain `%g` form ("1"), as
 * the Go client does.
 */
export function formatBucketBound(v: number, format: ExpositionFormat): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  let s: string;
  const [mantissa, expText] = v.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    s = mantissa + 'e' + (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
  } else {
    s = String(v); // plain decimal with the shortest digits in this range
  }
  if (format === 'openmetrics' && !/[.e]/.test(s)) s += '.0';
  return s;
}

function labelPairs(names: readonly string[], values: readonly string[]): string {
  let s = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) s += ',';
    s += names[i] + '="' + escapeLabelValue(values[i]) + '"';
  }
  return s;
}

function sentence(help: string): string {
  return help.endsWith('.') ? help : help + '.';
}

function renderHistogram(h: HistogramSnapshot, format: ExpositionFormat): string {
  const om = format === 'openmetrics';
  const help = escapeHelp(sentence(h.help), format);
  let out = '';
  if (om) {
    out += '# TYPE ' + h.name + ' histogram\n';
    if (h.unit !== undefined && h.name.endsWith('_' + h.unit)) out += '# UNIT ' + h.name + ' ' + h.unit + '\n';
    out += '# HELP ' + h.name + ' ' + help + '\n';
  } else {
    out += '# HELP ' + h.name + ' ' + help + '\n';
    out += '# TYPE ' + h.name + ' histogram\n';
  }
  const les = h.bounds.map((b) => 'le="' + formatBucketBound(b, format) + '"');
  les.push('le="+Inf"');
  const w = les.length;
  for (let r = 0; r < h.labelValues.length; r++) {
    const pairs = labelPairs(h.labelNames, h.labelValues[r]);
    const sep = pairs === '' ? '' : ',';
    for (let b = 0; b < w; b++) {
      out += h.name + '_bucket{' + pairs + sep + les[b] + '} ' + formatValue(h.buckets[r * w + b]) + '\n';
    }
    const braces = pairs === '' ? '' : '{' + pairs + '}';
    out += h.name + '_sum' + braces + ' ' + formatValue(h.sums[r]) + '\n';
    out += h.name + '_count' + braces + ' ' + formatValue(h.counts[r]) + '\n';
  }
  return out;
}

function renderGauge(g: GaugeSnapshot, format: ExpositionFormat): string {
  const help = escapeHelp(sentence(g.help), format);
  let out =
    format === 'openmetrics'
      ? '# TYPE ' + g.name + ' gauge\n# HELP ' + g.name + ' ' + help + '\n'
      : '# HELP ' + g.name + ' ' + help + '\n# TYPE ' + g.name + ' gauge\n';
  for (let r = 0; r < g.labelValues.length; r++) {
    const pairs = labelPairs(g.labelNames, g.labelValues[r]);
    out += g.name + (pairs === '' ? '' : '{' + pairs + '}') + ' ' + formatValue(g.values[r]) + '\n';
  }
  return out;
}

/** Info series: OpenMetrics type info (family without `_info`); in the text format a gauge `<name>_info`. */
function renderInfo(info: InfoSnapshot, format: ExpositionFormat): string {
  const sample = info.name + '_info';
  const help = escapeHelp(sentence(info.help), format);
  let out =
    format === 'openmetrics'
      ? '# TYPE ' + info.name + ' info\n# HELP ' + info.name + ' ' + help + '\n'
      : '# HELP ' + sample + ' ' + help + '\n# TYPE ' + sample + ' gauge\n';
  for (const values of info.labelValues) {
    const pairs = labelPairs(info.labelNames, values);
    out += sample + (pairs === '' ? '' : '{' + pairs + '}') + ' 1\n';
  }
  return out;
}

/** Histograms, gauges and info series, in that order, without `# EOF`. */
export function renderMeasures(measures: MeasureSnapshots, format: ExpositionFormat): string {
  let out = '';
  for (const h of measures.histograms) out += renderHistogram(h, format);
  for (const g of measures.gauges) out += renderGauge(g, format);
  for (const i of measures.infos) out += renderInfo(i, format);
  return out;
}

/**
 * The exposition of all rollups, then `measures` (histograms, gauges, info series) when given,
 * then `extra` (self-metrics in the same format). For OpenMetrics, each counter is a family
 * `<name>_<what>` of type counter with `_total` samples, bytes carry `# UNIT`, and exactly one
 * `# EOF` ends the text.
 */
export function renderExposition(
  snapshots: readonly RollupSnapshot[],
  format: ExpositionFormat,
  extra = '',
  measures?: MeasureSnapshots,
): string {
  const om = format === 'openmetrics';
  let out = '';
  for (const snap of snapshots) {
    const labelSets = renderLabelSets(snap);
    for (const kind of COUNTERS) {
      const family = snap.name + '_' + kind.suffix;
      const sample = family + '_total';
      const help = escapeHelp(snap.help + ': ' + kind.what + '.', format);
      if (om) {
        out += '# TYPE ' + family + ' counter\n';
        if (kind.unit !== undefined) out += '# UNIT ' + family + ' ' + kind.unit + '\n';
        out += '# HELP ' + family + ' ' + help + '\n';
      } else {
        out += '# HELP ' + sample + ' ' + help + '\n';
        out += '# TYPE ' + sample + ' counter\n';
      }
      const column = kind.column(snap);
      for (let r = 0; r < labelSets.length; r++) {
        out += sample + labelSets[r] + ' ' + formatValue(column[r]) + '\n';
      }
    }
  }
  if (measures !== undefined) out += renderMeasures(measures, format);
  out += normalizeExtra(extra);
  if (om) out += EOF_LINE + '\n';
  return out;
}
