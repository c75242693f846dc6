/**
 * Loss detection from sequence numbers: a datagram dropped from a real capture is reported with
 * the right size, under each exporter's counting convention; late datagrams and restarts are not
 * losses.
 */
import { describe, expect, it } from 'vitest';
import { SequenceTracker } from '../src/decoders/sequence.js';
import { edgePayloads, ipfixMessage, ipfixTemplate, makeDecoder, set, Writer } from './decoders-netflow-helpers.js';

/** Decodes a capture without datagram `drop`; returns the counters and the records of `drop`. */
function decodeWithout(name: string, drop: number[]): { gapsDatagrams: number; gapsRecords: number; dropped: number } {
  const p = edgePayloads(name);
  const full = makeDecoder();
  let dropped = 0;
  p.forEach((d, i) => {
    const before = full.ctx.counters.records;
    full.decode(d);
    if (drop.includes(i)) dropped += full.ctx.counters.records - before;
  });
  const dec = makeDecoder();
  p.forEach((d, i) => {
    if (!drop.includes(i)) dec.decode(d);
  });
  return { gapsDatagrams: dec.ctx.counters.sequenceGapDatagrams, gapsRecords: dec.ctx.counters.sequenceGapRecords, dropped };
}

describe('a datagram dropped from a corpus capture', () => {
  it('NetFlow v9 (sequence counts datagrams): one and two lost datagrams', () => {
    expect(decodeWithout('pmacctd-nfprobe-v9', [3])).toMatchObject({ gapsDatagrams: 1, gapsRecords: 0 });
    expect(decodeWithout('pmacctd-nfprobe-v9-large', [5, 6, 20])).toMatchObject({ gapsDatagrams: 3, gapsRecords: 0 });
    expect(decodeWithout('softflowd-v9', [1])).toMatchObject({ gapsDatagrams: 1 });
  });

  it('NetFlow v5 (flow_sequence counts records before the datagram)', () => {
    const r = decodeWithout('softflowd-v5-s10', [1]);
    expect(r.dropped).toBe(29);
    expect(r).toMatchObject({ gapsRecords: 29, gapsDatagrams: 0 });
  });

  it('IPFIX, RFC 7011 convention (pmacctd: records before this message)', () => {
    const r = decodeWithout('pmacctd-nfprobe-ipfix', [3]);
    expect(r.dropped).toBe(6);
    expect(r.gapsRecords).toBe(6);
    const two = decodeWithout('pmacctd-nfprobe-ipfix', [2, 5]);
    expect(two.gapsRecords).toBe(two.dropped);
  });

  it('IPFIX, softflowd convention (records including this message)', () => {
    const a = decodeWithout('softflowd-ipfix', [1]);
    expect([a.dropped, a.gapsRecords]).toEqual([23, 23]);
    const b = decodeWithout('softflowd-ipfix-s10', [3]);
    expect([b.dropped, b.gapsRecords]).toEqual([24, 24]);
    const c = decodeWithout('softflowd-ipfix-s10', [2, 4]);
    expect(c.gapsRecords).toBe(c.dropped);
  });
});

describe('not a loss', () => {
  it('a late (reordered) datagram adds nothing and does not disturb what follows', () => {
    const p = edgePayloads('pmacctd-nfprobe-v9');
    const dec = makeDecoder();
    // 0 1 2 4 3 5 6 7: datagram 3 looks lost when 4 comes first; its late arrival changes nothing.
    for (const i of [0, 1, 2, 4]) dec.decode(p[i]);
    expect(dec.ctx.counters.sequenceGapDatagrams).toBe(1);
    for (const i of [3, 5, 6, 7]) dec.decode(p[i]);
    expect(dec.ctx.counters.sequenceGapDatagrams).toBe(1);
    expect(dec.records).toHaveLength(44);
  });

  it('an exporter restart (sequence back to the start) is not a loss', () => {
    const p = edgePayloads('pmacctd-nfprobe-ipfix');
    const dec = makeDecoder();
    for (const d of [...p, ...p]) dec.decode(d);
    expect(dec.ctx.counters.sequenceGapRecords).toBe(0);
    const v5 = makeDecoder();
    for (const d of [...edgePayloads('softflowd-v5'), ...edgePayloads('softflowd-v5')]) v5.decode(d);
    expect(v5.ctx.counters.sequenceGapRecords).toBe(0);
  });

  it('sequence numbers wrap around 2^32', () => {
    const t = new SequenceTracker();
    expect(t.checkDatagrams(4294967294)).toBe(0);
    expect(t.checkDatagrams(4294967295)).toBe(0);
    expect(t.checkDatagrams(0)).toBe(0);
    expect(t.checkDatagrams(2)).toBe(1);
    const r = new SequenceTracker();
    expect(r.checkRecordsBefore(4294967290, 10)).toBe(0);
    expect(r.checkRecordsBefore(4, 10)).toBe(0);
    expect(r.checkRecordsBefore(20, 1)).toBe(6);
  });

  it('a corrupted number far ahead is taken as a restart, not billions of lost records', () => {
    const dec = makeDecoder();
    const tpl = set(2, ipfixTemplate(256, [[1, 4]]));
    const rec = set(256, new Writer().u32(1).done());
    dec.decode(ipfixMessage({ seq: 0 }, tpl, rec));
    dec.decode(ipfixMessage({ seq: 1 }, rec));
    dec.decode(ipfixMessage({ seq: 2_000_000_000 }, rec));
    dec.decode(ipfixMessage({ seq: 2_000_000_001 }, rec));
    expect(dec.ctx.counters.sequenceGapRecords).toBe(0);
    dec.decode(ipfixMessage({ seq: 2_000_000_005 }, rec));
    expect(dec.ctx.counters.sequenceGapRecords).toBe(3);
  });

  it('IPFIX domains keep separate sequences', () => {
    const dec = makeDecoder();
    const rec = set(256, new Writer().u32(1).done());
    for (const domain of [1, 2]) dec.decode(ipfixMessage({ domain, seq: 0 }, set(2, ipfixTemplate(256, [[1, 4]])), rec));
    dec.decode(ipfixMessage({ domain: 1, seq: 1 }, rec));
    dec.decode(ipfixMessage({ domain: 2, seq: 1 }, rec));
    expect(dec.ctx.counters.sequenceGapRecords).toBe(0);
  });
});
