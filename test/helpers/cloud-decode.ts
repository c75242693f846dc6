/** What decoding a cloud flow-log text directly gives: the reference the poller tests compare with. */
import { decodeCloudFlowLog, type CloudKind } from '../../src/decoders/cloud-flow-log.js';
import { createCloudDecodeCounters } from '../../src/decoders/cloud-types.js';

export interface DecodedTotals {
  records: number;
  bytes: number;
  packets: number;
}

export function decodedTotals(kind: CloudKind, text: string): DecodedTotals {
  const t = { records: 0, bytes: 0, packets: 0 };
  const c = createCloudDecodeCounters();
  decodeCloudFlowLog(kind, text, c, (r) => {
    t.bytes += r.bytes;
    t.packets += r.packets;
  });
  t.records = c.records;
  return t;
}
