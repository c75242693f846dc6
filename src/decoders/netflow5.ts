/**
 * NetFlow v5: 24-byte header + fixed 48-byte records, IPv4 only.
 *
 * Times: First/Last are sysUptime ms; epoch = unix_secs/unix_nsecs - (sysUptime - value), with a
 * signed 32-bit difference so a wrapped uptime still gives the right answer. Sampling: the low 14
 * bits of the header's sampling_interval (the top 2 bits are the mode). Sequence: flow_sequence
 * counts records sent before this datagram, per (engine_type, engine_id).
 */
import { resetFlowRecord, type RecordSink } from '../record.js';
import type { NetflowDecodeContext } from './netflow.js';
import { countError, DecodeError } from './types.js';

export const NETFLOW5_HEADER_LENGTH = 24;
export const NETFLOW5_RECORD_LENGTH = 48;

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => b[o] * 16777216 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);

export function decodeNetflow5(buf: Uint8Array, ctx: NetflowDecodeContext, sink: RecordSink): void {
  if (buf.length < NETFLOW5_HEADER_LENGTH) {
    throw new DecodeError('truncated_header', `NetFlow v5 header needs ${NETFLOW5_HEADER_LENGTH} bytes, datagram has ${buf.length}`);
  }
  const count = u16(buf, 2);
  const sysUptimeMs = u32(buf, 4);
  const unixSecs = u32(buf, 8);
  const unixNsecs = u32(buf, 12);
  const sequence = u32(buf, 16);
  const engine = (buf[20] << 8) | buf[21];
  const interval = u16(buf, 22) & 0x3fff;
  const counters = ctx.counters;
  const st = ctx.state;

  const fit = Math.floor((buf.length - NETFLOW5_HEADER_LENGTH) / NETFLOW5_RECORD_LENGTH);
  const n = count < fit ? count : fit;
  if (count > fit) countError(counters, 'truncated_record');

  const seq = st.v5Sequence(engine);
  if (seq !== undefined) counters.sequenceGapRecords += seq.checkRecordsBefore(sequence, count);

  const override = ctx.samplingRateOverride;
  let rate: number;
  if (override !== undefined && override >= 1) rate = override;
  else if (interval >= 1) rate = interval;
  else rate = ctx.defaultSamplingRate >= 1 ? ctx.defaultSamplingRate : 1;

  const unixMs = unixSecs > 0 ? unixSecs * 1000 + unixNsecs / 1e6 : ctx.nowMs;
  const r = st.record;
  const exporter = ctx.exporter;
  for (let i = 0; i < n; i++) {
    const o = NETFLOW5_HEADER_LENGTH + i * NETFLOW5_RECORD_LENGTH;
    resetFlowRecord(r);
    r.sourceKind = 'netflow5';
    r.exporter = exporter;
    r.observationDomain = engine;
    r.af = 4;
    const src = r.src;
    const dst = r.dst;
    src[0] = buf[o];
    src[1] = buf[o + 1];
    src[2] = buf[o + 2];
    src[3] = buf[o + 3];
    dst[0] = buf[o + 4];
    dst[1] = buf[o + 5];
    dst[2] = buf[o + 6];
    dst[3] = buf[o + 7];
    r.inputIf = u16(buf, o + 12);
    r.outputIf = u16(buf, o + 14);
    r.packets = u32(buf, o + 16);
    r.bytes = u32(buf, o + 20);
    r.timeStartMs = unixMs - ((sysUptimeMs - u32(buf, o + 24)) | 0);
    r.timeEndMs = unixMs - ((sysUptimeMs - u32(buf, o + 28)) | 0);
    r.srcPort = u16(buf, o + 32);
    r.dstPort = u16(buf, o + 34);
    r.tcpFlags = buf[o + 37];
    r.protocol = buf[o + 38];
    r.samplingRate = rate;
    counters.records++;
    sink(r);
  }
}
