/**
 * The decode hot path allocates nothing per record: millions of records from the corpus datagrams
 * (templates learned) trigger no garbage collection.
 */
import { describe, expect, it } from 'vitest';
import { decodeNetflowDatagram } from '../src/decoders/netflow.js';
import type { FlowRecord } from '../src/record.js';
import {
  edgePayloads,
  ipfixMessage,
  ipfixTemplate,
  makeDecoder,
  set,
  Writer,
  type FieldDef,
} from './decoders-netflow-helpers.js';
import { gcCountDuring } from './helpers/gc.js';

/** IPFIX with variable-length text, nProbe latency and sampler id: the slow-looking paths. */
function syntheticIpfix(): Uint8Array[] {
  const fields: FieldDef[] = [
    [8, 4],
    [12, 4],
    [1, 8],
    [2, 8],
    [152, 8],
    [153, 8],
    [96, 65535],
    [119, 65535, 35632],
    [123, 4, 35632],
    [124, 4, 35632],
    [48, 1],
  ];
  const rec = (w: Writer, i: number): Writer =>
    w
      .ipv4('10.0.0.1')
      .ipv4(`192.0.2.${i}`)
      .u64(3_000_000_000 + i)
      .u64(10)
      .u64(1_700_000_000_123)
      .u64(1_700_000_009_456)
      .varText(i % 2 ? 'https' : 'https')
      .varText('TLS.Google')
      .u32(12)
      .u32(30)
      .u8(1);
  const data = new Writer();
  for (let i = 0; i < 8; i++) rec(data, i);
  const first = ipfixMessage({}, set(2, ipfixTemplate(256, fields)), set(256, data.done()));
  return [first, ipfixMessage({ seq: 8 }, set(256, data.done()))];
}

describe('NetFlow / IPFIX decode hot path', () => {
  it.each([
    ['softflowd-v5', 29],
    ['softflowd-v9', 23],
    ['pmacctd-nfprobe-ipfix', 6],
    ['pmacctd-nfprobe-v9-s10', 6],
    ['pmacctd-nfprobe-v9-large', 6],
    ['softflowd-ipfix-s10', 22],
    ['synthetic IPFIX with text and vendor fields', 8],
  ])('%s: no GC while decoding 3M records', async (name) => {
    const p = name.startsWith('synthetic') ? syntheticIpfix() : edgePayloads(name);
    const dec = makeDecoder();
    dec.decode(p[0]);
    const data = p.slice(1);
    // Sums live in a typed array: a double in a closure variable would itself allocate.
    const acc = new Float64Array(2);
    const sink = (r: FlowRecord): void => {
      acc[0]++;
      acc[1] += r.bytes * r.samplingRate;
    };
    const run = (n: number): void => {
      acc[0] = 0;
      for (let i = 0; acc[0] < n; i++) decodeNetflowDatagram(data[i % data.length], dec.ctx, sink);
    };
    run(100_000);
    const collections = await gcCountDuring(() => {
      run(3_000_000);
    });
    // A few bytes per record would fill the young generation many times over.
    expect(collections).toBeLessThanOrEqual(1);
    expect(acc[1]).toBeGreaterThan(0);
  });
});
