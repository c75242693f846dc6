/**
 * The interface metrics (sFlow counter samples) in the shapes the OTLP producer emits: one
 * monotonic Sum per counter column and two gauges, with the names, descriptions and attributes of
 * the series /metrics renders (src/exporters/interface-exposition.ts).
 *
 * Names are the /metrics sample names without `_total`; units are `By` for the octet counters and
 * `{packet}` for the packet counts (curly-brace units add no suffix), `By/s` for the speed. So
 * Prometheus-compatible OTLP ingestion gives back exactly `flow_interface_in_bytes_total{exporter,
 * if_index}` and the rest. `if_index` is a string attribute, as the label is on /metrics: an int
 * attribute would arrive as the same label text in Prometheus but as a different attribute type in
 * backends that keep types.
 */
import { INTERFACE_COUNTERS, type InterfaceCountersSnapshot } from '../../rollup/interface-counters.js';
import type { GaugeSnapshot } from '../../rollup/measure-snapshot.js';
import {
  INTERFACE_OPER_UP_HELP,
  INTERFACE_OPER_UP_METRIC,
  INTERFACE_SPEED_HELP,
  INTERFACE_SPEED_METRIC,
  interfaceCounterHelp,
} from '../interface-exposition.js';
import { otlpDescription, type OtlpSumStream } from './otlp-naming.js';

/** Attribute names of every interface point, as the /metrics labels. */
export const INTERFACE_ATTRIBUTE_NAMES: readonly string[] = Object.freeze(['exporter', 'if_index']);

/** The counter columns of InterfaceCountersSnapshot rows, in the same order. */
export const INTERFACE_SUM_STREAMS: readonly OtlpSumStream[] = Object.freeze(
  INTERFACE_COUNTERS.map((def) => ({
    name: def.name,
    description: otlpDescription(interfaceCounterHelp(def)),
    // Every counter that is not octets counts packets (unicast, multicast, broadcast, discards, errors).
    unit: def.unit === 'bytes' ? 'By' : '{packet}',
  })),
);

/** Attribute values per row: the exporter and the ifIndex as /metrics writes it. */
export function interfaceAttributeValues(snap: InterfaceCountersSnapshot): string[][] {
  return snap.rows.map((r) => [r.exporter, String(r.ifIndex)]);
}

/** Speed (bytes per second) and operational status, one value per row. */
export function interfaceGauges(snap: InterfaceCountersSnapshot, labelValues: ReadonlyArray<readonly string[]>): GaugeSnapshot[] {
  const n = snap.rows.length;
  const speed = new Float64Array(n);
  const up = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    speed[r] = snap.rows[r].speedBitsPerSecond / 8;
    up[r] = snap.rows[r].operUp ? 1 : 0;
  }
  return [
    { name: INTERFACE_SPEED_METRIC, help: INTERFACE_SPEED_HELP, labelNames: INTERFACE_ATTRIBUTE_NAMES, labelValues, values: speed },
    { name: INTERFACE_OPER_UP_METRIC, help: INTERFACE_OPER_UP_HELP, labelNames: INTERFACE_ATTRIBUTE_NAMES, labelValues, values: up },
  ];
}
