/**
 * Data that arrives before its template: held in the bounded per-exporter buffer and decoded when
 * the template comes (oracle totals still exact); what the bounds or the age limit push out is
 * counted as template misses.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_NETFLOW_LIMITS } from '../src/decoders/netflow-state.js';
import { corpusOracle } from './helpers/corpus.js';
import {
  edgePayloads,
  ipfixMessage,
  ipfixTemplate,
  makeDecoder,
  NETFLOW_FILES,
  set,
  totals,
  Writer,
} from './decoders-netflow-helpers.js';

const TEMPLATED = NETFLOW_FILES.filter((n) => !n.includes('v5'));

/** Data sets of a v9 / IPFIX message: [template id, body length]. */
function dataSets(buf: Uint8Array): Array<[number, number]> {
  const v9 = buf[1] === 9;
  const out: Array<[number, number]> = [];
  for (let o = v9 ? 20 : 16; o + 4 <= buf.length; ) {
    const id = (buf[o] << 8) | buf[o + 1];
    const len = (buf[o + 2] << 8) | buf[o + 3];
    if (id >= 256) out.push([id, len - 4]);
    o += len;
  }
  return out;
}

describe.each(TEMPLATED)('%s with the template datagram moved to the end', (name) => {
  it('holds the data, decodes it when the templates arrive, and matches the oracle', () => {
    const p = edgePayloads(name);
    const oracle = corpusOracle(`edge/${name}.json`);
    const dec = makeDecoder();
    for (const d of [...p.slice(1), p[0]]) {
      dec.decode(d);
      expect(dec.ctx.counters.pendingRecords).toBe(dec.ctx.state.pending.count);
    }
    expect(totals(dec.records)).toEqual(oracle.totals);
    expect(new Set(dec.records.map((r) => r.samplingRate))).toEqual(new Set([oracle.sampling_rate]));
    const c = dec.ctx.counters;
    expect([c.templateMisses, c.pendingRecords, c.sequenceGapDatagrams, c.sequenceGapRecords]).toEqual([0, 0, 0, 0]);
    expect(Object.fromEntries(c.errors)).toEqual({});
  });
});

describe('pending buffer bounds', () => {
  it('with room for 2 sets, the older sets are evicted and counted as template misses', () => {
    const p = edgePayloads('pmacctd-nfprobe-v9');
    // Record length per template, from a state that has seen the templates.
    const ref = makeDecoder();
    ref.decode(p[0]);
    const recLen = new Map(ref.ctx.state.templates().map((t) => [t.id, t.fields.reduce((a, f) => a + f.length, 0)]));
    const held = p.slice(1).flatMap(dataSets);
    const kept = held.slice(-2);
    const keptRecords = kept.reduce((a, [id, len]) => a + Math.floor(len / (recLen.get(id) as number)), 0);

    const dec = makeDecoder({ limits: { maxPendingRecords: 2 } });
    for (const d of p.slice(1)) dec.decode(d);
    expect(dec.ctx.counters.pendingRecords).toBe(2);
    expect(dec.ctx.counters.templateMisses).toBe(held.length - 2);
    dec.decode(p[0]);
    expect(dec.ctx.counters.pendingRecords).toBe(0);
    expect(dec.records.length).toBe(ref.records.length + keptRecords);
    expect(held.length).toBeGreaterThan(4);
  });

  it('the byte bound holds and counts what it pushes out', () => {
    const p = edgePayloads('softflowd-ipfix-s10');
    const dec = makeDecoder({ limits: { maxPendingBytes: 600 } });
    let misses = 0;
    for (const d of p.slice(1)) {
      dec.decode(d);
      expect(dec.ctx.state.pending.bytes).toBeLessThanOrEqual(600);
      expect(dec.ctx.counters.templateMisses).toBeGreaterThanOrEqual(misses);
      misses = dec.ctx.counters.templateMisses;
    }
    const held = p.slice(1).flatMap(dataSets).length;
    expect(misses + dec.ctx.state.pending.count).toBe(held);
    expect(misses).toBeGreaterThan(0);
  });

  it('sets older than maxPendingAgeMs expire as template misses', () => {
    const dec = makeDecoder({ limits: { maxPendingAgeMs: 1000 } });
    const data = set(256, new Writer().u32(1).done());
    dec.decode(ipfixMessage({}, data), 10_000);
    dec.decode(ipfixMessage({}, data), 10_900);
    expect([dec.ctx.counters.pendingRecords, dec.ctx.counters.templateMisses]).toEqual([2, 0]);
    dec.decode(ipfixMessage({}, set(2, ipfixTemplate(300, [[1, 4]]))), 11_500);
    expect([dec.ctx.counters.pendingRecords, dec.ctx.counters.templateMisses]).toEqual([1, 1]);
    dec.decode(ipfixMessage({}, set(2, ipfixTemplate(256, [[1, 4]]))), 11_600);
    expect(dec.records.map((r) => r.bytes)).toEqual([1]);
    expect([dec.ctx.counters.pendingRecords, dec.ctx.counters.templateMisses]).toEqual([0, 1]);
  });

  it('with no buffer at all, every early set is a miss', () => {
    const dec = makeDecoder({ limits: { maxPendingRecords: 0 } });
    for (const d of edgePayloads('pmacctd-nfprobe-v9').slice(1)) dec.decode(d);
    expect(dec.ctx.counters.pendingRecords).toBe(0);
    expect(dec.ctx.counters.templateMisses).toBeGreaterThan(0);
  });

  it('default limits hold a whole pmacctd refresh cycle (17 datagrams before the templates come again)', () => {
    const p = edgePayloads('pmacctd-nfprobe-v9-large');
    const oracle = corpusOracle('edge/pmacctd-nfprobe-v9-large.json');
    const first = makeDecoder();
    first.decode(p[0]);
    const dec = makeDecoder();
    let peakSets = 0;
    let peakBytes = 0;
    for (const d of p.slice(1)) {
      dec.decode(d);
      peakSets = Math.max(peakSets, dec.ctx.state.pending.count);
      peakBytes = Math.max(peakBytes, dec.ctx.state.pending.bytes);
    }
    const t = totals(dec.records);
    const f = totals(first.records);
    expect({ packets: t.packets + f.packets, bytes: t.bytes + f.bytes, flows: t.flows + f.flows }).toEqual(oracle.totals);
    expect(dec.ctx.counters.templateMisses).toBe(0);
    // The numbers quoted in docs/decoders.md.
    expect([peakSets, peakBytes]).toEqual([29, 6700]);
    expect(peakSets).toBeLessThanOrEqual(DEFAULT_NETFLOW_LIMITS.maxPendingRecords);
    expect(peakBytes).toBeLessThanOrEqual(DEFAULT_NETFLOW_LIMITS.maxPendingBytes);
  });
});
