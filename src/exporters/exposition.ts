/**
 * Renders rollup snapshots as Prometheus text 0.0.4 or OpenMetrics 1.0 text, straight from the
 * snapshot columns (no client-library objects per series), and merges the self-metrics text that
 * prom-client renders in the same format.
 */
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
 * The exposition of all rollups, then `extra` (self-metrics in the same format). For OpenMetrics,
 * each counter is a family `<name>_<what>` of type counter with `_total` samples, bytes carry
 * `# UNIT`, and exactly one `# EOF` ends the text.
 */
export function renderExposition(snapshots: readonly RollupSnapshot[], format: ExpositionFormat, extra = ''): string {
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
  out += normalizeExtra(extra);
  if (om) out += EOF_LINE + '\n';
  return out;
}
