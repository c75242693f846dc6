/**
 * NetFlow v9 (RFC 3954). Header: version, count, sysUptime (ms), unix_secs, sequence (datagrams),
 * source id. The header count is not used: sets are parsed until the end of the datagram.
 */
import type { RecordSink } from '../record.js';
import { expirePending, prepareScratch, walkSets } from './flowsets.js';
import type { NetflowDecodeContext } from './netflow.js';
import { countError, DecodeError } from './types.js';

export const NETFLOW9_HEADER_LENGTH = 20;

const u32 = (b: Uint8Array, o: number): number => b[o] * 16777216 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);

export function decodeNetflow9(buf: Uint8Array, ctx: NetflowDecodeContext, sink: RecordSink): void {
  if (buf.length < NETFLOW9_HEADER_LENGTH) {
    throw new DecodeError('truncated_header', `NetFlow v9 header needs ${NETFLOW9_HEADER_LENGTH} bytes, datagram has ${buf.length}`);
  }
  const sysUptimeMs = u32(buf, 4);
  const unixSecs = u32(buf, 8);
  const sequence = u32(buf, 12);
  const sourceId = u32(buf, 16);
  const st = ctx.state;
  expirePending(st, ctx);
  const dom = st.domain(9, sourceId);
  if (dom === undefined) {
    countError(ctx.counters, 'template_limit');
    return;
  }
  ctx.counters.sequenceGapDatagrams += dom.sequence.checkDatagrams(sequence);
  // Exporters without a clock send unix_secs 0: the receive time is the best anchor left.
  const unixMs = unixSecs > 0 ? unixSecs * 1000 : ctx.nowMs;
  prepareScratch(st, dom, ctx, sysUptimeMs, unixMs, unixMs);
  walkSets(buf, NETFLOW9_HEADER_LENGTH, buf.length, 9, dom, st, ctx, sink, st.walkCounts);
}
