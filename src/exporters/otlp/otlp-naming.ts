/**
 * How rollup counters are named in OTLP, and how those names map back to the Prometheus names that
 * /metrics serves.
 *
 * A rollup counter is the OTLP metric `<rollup>_<what>` (a monotonic Sum) with an OTel unit:
 * `flow_peer_bytes` in `By`, `flow_peer_packets` in `{packet}`, `flow_peer_flows` in `{flow}`.
 * Prometheus-compatible OTLP ingestion (Prometheus, Mimir, the Collector's prometheus exporters)
 * appends `_total` to monotonic sums and a unit suffix only when the name lacks it, so these names
 * arrive as exactly the `<rollup>_<what>_total` that /metrics serves. The names keep underscores
 * (no dots) so that every translation strategy, including none, gives the same name.
 */

export type CounterWhat = 'bytes' | 'packets' | 'flows';

export interface CounterStream {
  what: CounterWhat;
  /** UCUM unit as OTel semantic conventions write it. */
  unit: string;
  /** Appended to the rollup help to describe the stream; the same words as the /metrics HELP. */
  describes: string;
}

/** The three counters of every rollup, in snapshot column order. */
export const COUNTER_STREAMS: readonly CounterStream[] = Object.freeze([
  { what: 'bytes', unit: 'By', describes: 'bytes, scaled by the sampling rate' },
  { what: 'packets', unit: '{packet}', describes: 'packets, scaled by the sampling rate' },
  { what: 'flows', unit: '{flow}', describes: 'flow records' },
]);

/** One monotonic Sum of a counter family as OTLP carries it. */
export interface OtlpSumStream {
  /** OTLP metric name: the /metrics sample name without `_total`. */
  name: string;
  /** Equal to the /metrics HELP text. */
  description: string;
  /** OTel unit; `By`, or a curly-brace annotation that adds no suffix in Prometheus. */
  unit: string;
}

const TOTAL_SUFFIX = '_total';

/** OTLP name of a rollup counter: `flow_peer` + `bytes` -> `flow_peer_bytes`. */
export function otlpCounterName(rollup: string, what: CounterWhat): string {
  return `${rollup}_${what}`;
}

/** Description of a rollup counter; equal to the HELP text of the same counter on /metrics. */
export function otlpCounterDescription(rollupHelp: string, stream: CounterStream): string {
  return `${rollupHelp}: ${stream.describes}.`;
}

/** The /metrics sample name an OTLP metric arrives as: monotonic sums gain `_total`. */
export function prometheusNameForOtlp(otlpName: string, monotonicSum: boolean): string {
  return monotonicSum && !otlpName.endsWith(TOTAL_SUFFIX) ? otlpName + TOTAL_SUFFIX : otlpName;
}

/** The OTLP metric name behind a /metrics counter sample name: `_total` dropped. */
export function otlpNameForPrometheus(sampleName: string): string {
  return sampleName.endsWith(TOTAL_SUFFIX) ? sampleName.slice(0, -TOTAL_SUFFIX.length) : sampleName;
}

/** OTel unit of a histogram or gauge whose Prometheus name ends in a unit word. */
export function otlpUnitForName(name: string): string {
  if (name.endsWith('_seconds')) return 's';
  if (name.endsWith('_bytes_per_second')) return 'By/s';
  if (name.endsWith('_bytes')) return 'By';
  return '';
}

/** Description of a histogram, gauge or info family; equal to its /metrics HELP text. */
export function otlpDescription(help: string): string {
  return help.endsWith('.') ? help : help + '.';
}

/** OTLP gauge name of an info family (`flow_device` -> `flow_device_info`, value 1 per label set). */
export function otlpInfoName(family: string): string {
  return `${family}_info`;
}
