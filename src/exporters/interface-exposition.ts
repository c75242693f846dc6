/**
 * Renders the interface metrics (sFlow counter samples) as Prometheus text 0.0.4 or OpenMetrics,
 * from an InterfaceCounterStore snapshot. Nothing is rendered while no interface has a row.
 */
import { INTERFACE_COUNTERS, type InterfaceCounterDef, type InterfaceCountersSnapshot } from '../rollup/interface-counters.js';
import type { ExpositionFormat } from './content-negotiation.js';
import { escapeHelp, escapeLabelValue } from './exposition.js';

export const INTERFACE_SPEED_METRIC = 'flow_interface_speed_bytes_per_second';
export const INTERFACE_OPER_UP_METRIC = 'flow_interface_oper_up';
/** HELP texts of the two gauges (the OTLP push uses them as descriptions). */
export const INTERFACE_SPEED_HELP = 'Interface speed (ifSpeed / 8) from sFlow counter samples.';
export const INTERFACE_OPER_UP_HELP = 'Whether the interface is operationally up (1) or not (0), from sFlow counter samples.';

/** HELP text of an interface counter family (the OTLP push uses it as the description). */
export function interfaceCounterHelp(def: InterfaceCounterDef): string {
  return `${def.help} From sFlow counter samples; never decreases across device counter resets.`;
}

/** Every metric family name the interface exposition uses (counters without `_total`). */
export function interfaceMetricFamilies(): string[] {
  return [...INTERFACE_COUNTERS.map((d) => d.name), INTERFACE_SPEED_METRIC, INTERFACE_OPER_UP_METRIC];
}

function header(out: string[], family: string, type: 'counter' | 'gauge', unit: string | undefined, help: string, format: ExpositionFormat): void {
  const text = escapeHelp(help, format);
  if (format === 'openmetrics') {
    out.push(`# TYPE ${family} ${type}`);
    if (unit !== undefined) out.push(`# UNIT ${family} ${unit}`);
    out.push(`# HELP ${family} ${text}`);
  } else {
    const sample = type === 'counter' ? family + '_total' : family;
    out.push(`# HELP ${sample} ${text}`, `# TYPE ${sample} ${type}`);
  }
}

/** The interface families, one line per entry, ending in a line feed; '' when there are no rows. */
export function renderInterfaceMetrics(snap: InterfaceCountersSnapshot, format: ExpositionFormat): string {
  const rows = snap.rows;
  if (rows.length === 0) return '';
  const labels = rows.map((r) => `{exporter="${escapeLabelValue(r.exporter)}",if_index="${r.ifIndex}"}`);
  const out: string[] = [];
  INTERFACE_COUNTERS.forEach((def, column) => {
    header(out, def.name, 'counter', def.unit, interfaceCounterHelp(def), format);
    const sample = def.name + '_total';
    for (let r = 0; r < rows.length; r++) out.push(`${sample}${labels[r]} ${rows[r].counters[column]}`);
  });
  header(out, INTERFACE_SPEED_METRIC, 'gauge', 'bytes_per_second', INTERFACE_SPEED_HELP, format);
  for (let r = 0; r < rows.length; r++) out.push(`${INTERFACE_SPEED_METRIC}${labels[r]} ${rows[r].speedBitsPerSecond / 8}`);
  header(out, INTERFACE_OPER_UP_METRIC, 'gauge', undefined, INTERFACE_OPER_UP_HELP, format);
  for (let r = 0; r < rows.length; r++) out.push(`${INTERFACE_OPER_UP_METRIC}${labels[r]} ${rows[r].operUp ? 1 : 0}`);
  return out.join('\n') + '\n';
}
