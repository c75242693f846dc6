/**
 * Every NetFlow / IPFIX capture of the edge corpus, decoded datagram by datagram, gives exactly the
 * third-party oracle's numbers (nfdump, cross-checked with tshark): in total, per host pair, per
 * 5-tuple, with the sampling rate the exporter announced, no sequence gap and no decode error.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { corpusOracle, corpusPath } from './helpers/corpus.js';
import {
  addTo,
  dst,
  edgePayloads,
  isIcmp,
  makeDecoder,
  NETFLOW_FILES,
  pairKey,
  src,
  totals,
  type Sum,
} from './decoders-netflow-helpers.js';

const structure = JSON.parse(readFileSync(corpusPath('edge/export-structure.json'), 'utf8')) as Record<
  string,
  { flow_time_range?: { min_start: number; max_end: number } }
>;

/** The README: pmacctd v5 sysUptime runs on the wall clock while flow times are 2023 pcap times. */
const TIMES_UNUSABLE = new Set(['pmacctd-nfprobe-v5']);

const EXPECTED_SOURCE: Record<number, string> = { 5: 'netflow5', 9: 'netflow9', 10: 'ipfix' };

describe.each(NETFLOW_FILES)('%s', (name) => {
  const oracle = corpusOracle(`edge/${name}.json`);
  const dec = makeDecoder();
  const payloads = edgePayloads(name);
  for (const p of payloads) dec.decode(p);
  const records = dec.records;
  const c = dec.ctx.counters;

  it('decodes every datagram without errors, gaps or misses', () => {
    expect(payloads.length).toBe(oracle.datagrams);
    expect(c.datagrams).toBe(oracle.datagrams);
    expect(Object.fromEntries(c.errors)).toEqual({});
    expect(c.sequenceGapDatagrams).toBe(0);
    expect(c.sequenceGapRecords).toBe(0);
    expect(c.templateMisses).toBe(0);
    expect(c.pendingRecords).toBe(0);
    expect(c.records).toBe(records.length);
    for (const r of records) {
      expect(r.sourceKind).toBe(EXPECTED_SOURCE[Number(oracle.version)]);
      expect(r.exporter).toBe('127.0.0.1');
      expect(r.flows).toBe(1);
    }
  });

  it('totals equal the oracle', () => {
    expect(totals(records)).toEqual(oracle.totals);
  });

  it('per host pair equals the oracle', () => {
    const got = new Map<string, Sum>();
    for (const r of records) addTo(got, `${src(r)} ${dst(r)}`, r);
    const want = new Map<string, Sum>();
    for (const row of oracle.by_host_pair) {
      want.set(`${row.src} ${row.dst}`, { packets: row.packets, bytes: row.bytes, flows: row.flows ?? 0 });
    }
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
  });

  it('per 5-tuple equals the oracle (ICMP on src, dst, proto)', () => {
    const got = new Map<string, Sum>();
    for (const r of records) addTo(got, pairKey(r), r);
    const want = new Map<string, Sum>();
    for (const row of oracle.by_pair) {
      const proto = row.proto as number;
      const k = isIcmp(proto)
        ? `${row.src} ${row.dst} ${proto}`
        : `${row.src} ${row.dst} ${proto} ${row.src_port} ${row.dst_port}`;
      const cur = want.get(k) ?? { packets: 0, bytes: 0, flows: 0 };
      cur.packets += row.packets;
      cur.bytes += row.bytes;
      cur.flows += row.flows ?? 0;
      want.set(k, cur);
    }
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
  });

  it('carries the announced sampling rate, unscaled', () => {
    const rates = new Set(records.map((r) => r.samplingRate));
    expect([...rates]).toEqual([oracle.sampling_rate]);
    if (oracle.sampling_rate > 1) {
      let packets = 0;
      let bytes = 0;
      for (const r of records) {
        packets += r.packets * r.samplingRate;
        bytes += r.bytes * r.samplingRate;
      }
      expect({ packets, bytes }).toEqual({ packets: oracle.totals_scaled?.packets, bytes: oracle.totals_scaled?.bytes });
    }
  });

  it.skipIf(TIMES_UNUSABLE.has(name))('flow times fall in the documented range', () => {
    const range = structure[`${name}.pcap`].flow_time_range;
    expect(range).toBeDefined();
    const min = (range?.min_start ?? 0) * 1000;
    const max = (range?.max_end ?? 0) * 1000;
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of records) {
      expect(r.timeStartMs).toBeLessThanOrEqual(r.timeEndMs);
      lo = Math.min(lo, r.timeStartMs);
      hi = Math.max(hi, r.timeEndMs);
    }
    // The range is the exporter's own numbers; allow 1 ms for float rounding of ns fractions.
    expect(Math.abs(lo - min)).toBeLessThan(1);
    expect(Math.abs(hi - max)).toBeLessThan(1);
  });
});
