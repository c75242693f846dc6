/**
 * What every decoder shares: the typed error for a datagram it must reject, and the counters it
 * bumps for what it saw. Decoders are pure: bytes (plus the exporter's state, passed in) in,
 * records out through a sink, counts in a DecodeCounters owned by the caller.
 */

/** Stable reason labels for flowgauge_decode_errors_total{reason}. */
export type DecodeErrorReason =
  | 'truncated_header'
  | 'unknown_version'
  | 'bad_length'
  | 'bad_set'
  | 'bad_template'
  | 'template_limit'
  | 'truncated_record'
  | 'bad_sample'
  | 'bad_record'
  | 'too_many_samples'
  | 'unsupported';

/** Thrown for a datagram (or the rest of it) that cannot be decoded; records already emitted stand. */
export class DecodeError extends Error {
  readonly reason: DecodeErrorReason;
  constructor(reason: DecodeErrorReason, message: string) {
    super(message);
    this.name = 'DecodeError';
    this.reason = reason;
  }
}

/**
 * Counters a decoder increments. One instance per exporter (the source keeps them and exposes them
 * as flowgauge_* self-metrics). Plain numbers so the hot path does no label lookups.
 */
export interface DecodeCounters {
  datagrams: number;
  /** Flow records (or flow samples) emitted to the sink. */
  records: number;
  /** Errors by reason, including non-fatal ones (a bad set skipped inside a good datagram). */
  errors: Map<DecodeErrorReason, number>;
  /** Data records that arrived before their template and could not be decoded (dropped for good). */
  templateMisses: number;
  /** Data records held back waiting for their template. */
  pendingRecords: number;
  /** Export datagrams lost according to sequence numbers (v9 / sFlow count datagrams). */
  sequenceGapDatagrams: number;
  /** Flow records lost according to sequence numbers (v5 / IPFIX count records). */
  sequenceGapRecords: number;
  /** Templates and options templates learned (including refreshes). */
  templatesReceived: number;
  templatesWithdrawn: number;
  /** Options data records (sampling info, interface names, ...). */
  optionsRecords: number;
}

export function createDecodeCounters(): DecodeCounters {
  return {
    datagrams: 0,
    records: 0,
    errors: new Map(),
    templateMisses: 0,
    pendingRecords: 0,
    sequenceGapDatagrams: 0,
    sequenceGapRecords: 0,
    templatesReceived: 0,
    templatesWithdrawn: 0,
    optionsRecords: 0,
  };
}

export function countError(c: DecodeCounters, reason: DecodeErrorReason, n = 1): void {
  c.errors.set(reason, (c.errors.get(reason) ?? 0) + n);
}
