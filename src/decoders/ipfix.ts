/**
 * IPFIX (RFC 7011). Header: version 10, message length, export time (s), sequence (data records),
 * observation domain id. Bytes after the announced message length are ignored.
 */
import type { RecordSink } from '../record.js';
import { expirePending, prepareScratch, walkSets } from './flowsets.js';
import type { NetflowDecodeContext } from './netflow.js';
import { countError, DecodeError } from './types.js';

export const IPFIX_HEADER_LENGTH = 16;

const u32 = (b: Uint8Array, o: number): number => b[o] * 16777216 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);

export function decodeIpfix(buf: Uint8Array, ctx: NetflowDecodeContext, sink: RecordSink): void {
  if (buf.length < IPFIX_HEADER_LENGTH) {
    throw new DecodeError('truncated_header', `IPFIX header needs ${IPFIX_HEADER_LENGTH} bytes, datagram has ${buf.length}`);
  }
  const length = (buf[2] << 8) | buf[3];
  if (length < IPFIX_HEADER_LENGTH || length > buf.length) {
    throw new DecodeError('bad_length', `IPFIX message length ${length} does not fit the ${buf.length}-byte datagram`);
  }
  const exportSecs = u32(buf, 4);
  const sequence = u32(buf, 8);
  const domainId = u32(buf, 12);
  const st = ctx.state;
  expirePending(st, ctx);
  const dom = st.domain(10, domainId);
  if (dom === undefined) {
    countError(ctx.counters, 'template_limit');
    return;
  }
  const exportMs = exportSecs > 0 ? exportSecs * 1000 : ctx.nowMs;
  prepareScratch(st, dom, ctx, 0, exportMs, exportMs);
  const counts = st.walkCounts;
  walkSets(buf, IPFIX_HEADER_LENGTH, length, 10, dom, st, ctx, sink, counts);
  ctx.counters.sequenceGapRecords += dom.sequence.checkIpfix(sequence, counts.known ? counts.data : -1, counts.options);
}
