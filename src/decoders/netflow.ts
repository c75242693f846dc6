/**
 * NetFlow v5 / v9 / IPFIX entry point: dispatches on the 16-bit version at the start of the
 * datagram. Pure: the exporter's learned state and the counters come in through the context.
 */
import type { RecordSink } from '../record.js';
import { decodeIpfix } from './ipfix.js';
import { decodeNetflow5 } from './netflow5.js';
import { decodeNetflow9 } from './netflow9.js';
import type { NetflowExporterState } from './netflow-state.js';
import { DecodeError, type DecodeCounters } from './types.js';

export interface NetflowDecodeContext {
  /** Exporter label, e.g. "127.0.0.1" (the UDP source address as text). */
  exporter: string;
  /** Receive time (ms since epoch): fallback anchor for clockless exporters, pending-set ages, template ages. */
  nowMs: number;
  /** Everything learned from this exporter address (all its domains). */
  state: NetflowExporterState;
  counters: DecodeCounters;
  /** Rate for records when the exporter never announces one. */
  defaultSamplingRate: number;
  /** Forces the rate for this exporter, whatever it announces. */
  samplingRateOverride?: number;
}

/**
 * Decodes one export datagram and hands each flow record to `sink` (one reused record: copy what
 * you keep). Throws DecodeError for a datagram that cannot be decoded at all (too short for its
 * header, unknown version, IPFIX length beyond the datagram); the caller counts those. Problems
 * inside a datagram are counted in ctx.counters.errors and decoding goes on where it safely can.
 */
export function decodeNetflowDatagram(buf: Uint8Array, ctx: NetflowDecodeContext, sink: RecordSink): void {
  ctx.counters.datagrams++;
  if (buf.length < 2) throw new DecodeError('truncated_header', `datagram of ${buf.length} byte(s) has no version field`);
  const version = (buf[0] << 8) | buf[1];
  switch (version) {
    case 5:
      decodeNetflow5(buf, ctx, sink);
      return;
    case 9:
      decodeNetflow9(buf, ctx, sink);
      return;
    case 10:
      decodeIpfix(buf, ctx, sink);
      return;
    default:
      throw new DecodeError('unknown_version', `unknown NetFlow/IPFIX version ${version}`);
  }
}
