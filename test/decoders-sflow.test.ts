/**
 * The sFlow decoder against real pmacctd sfprobe captures, compared with the corpus oracle (sfcapd /
 * nfdump totals): per 5-tuple, per host pair and in total, raw and scaled by the sampling rate.
 */
import { describe, expect, it } from 'vitest';
import { decodeSflowDatagram, isSflowDatagram, SFLOW_IF_INTERNAL, type InterfaceCounters } from '../src/decoders/sflow.js';
import { SflowAgentState } from '../src/decoders/sflow-state.js';
import { createDecodeCounters } from '../src/decoders/types.js';
import type { FlowRecord } from '../src/record.js';
import { formatAddress } from '../src/util/address.js';
import { corpusDatagrams, corpusOracle, type OracleRow } from './helpers/corpus.js';

interface Sums {
  samples: number;
  packets: number;
  bytes: number;
  packetsScaled: number;
  bytesScaled: number;
}

function add(map: Map<string, Sums>, key: string, r: FlowRecord): void {
  let s = map.get(key);
  if (!s) map.set(key, (s = { samples: 0, packets: 0, bytes: 0, packetsScaled: 0, bytesScaled: 0 }));
  s.samples += 1;
  s.packets += r.packets;
  s.bytes += r.bytes;
  s.packetsScaled += r.packets * r.samplingRate;
  s.bytesScaled += r.bytes * r.samplingRate;
}

const isIcmp = (proto: number) => proto === 1 || proto === 58;

/** ICMP rows are compared on (src, dst, proto): the oracle cannot give pmacct's type/code. */
function tupleKey(src: string, dst: string, proto: number, srcPort: number, dstPort: number): string {
  return isIcmp(proto) ? `${src} ${dst} ${proto}` : `${src} ${dst} ${proto} ${srcPort} ${dstPort}`;
}

function decodeFile(name: string) {
  const datagrams = corpusDatagrams(`edge/${name}.pcap`);
  const state = new SflowAgentState();
  const counters = createDecodeCounters();
  const byPair = new Map<string, Sums>();
  const byHostPair = new Map<string, Sums>();
  const total: Sums = { samples: 0, packets: 0, bytes: 0, packetsScaled: 0, bytesScaled: 0 };
  const interfaceCounters: InterfaceCounters[] = [];
  const seen = { exporters: new Set<string>(), domains: new Set<number>(), rates: new Set<number>(), inputIf: new Set<number>(), outputIf: new Set<number>(), vlans: new Set<number>(), macsSet: true, nonIp: 0 };
  for (const d of datagrams) {
    expect(isSflowDatagram(d.payload)).toBe(true);
    decodeSflowDatagram(
      d.payload,
      { exporter: formatAddress(d.af, d.srcAddr), nowMs: d.timeMs, state, counters },
      (r) => {
        if (r.af === 0) seen.nonIp++;
        const src = formatAddress(r.af, r.src);
        const dst = formatAddress(r.af, r.dst);
        add(byPair, tupleKey(src, dst, r.protocol, r.srcPort, r.dstPort), r);
        add(byHostPair, `${src} ${dst}`, r);
        total.samples++;
        total.packets += r.packets;
        total.bytes += r.bytes;
        total.packetsScaled += r.packets * r.samplingRate;
        total.bytesScaled += r.bytes * r.samplingRate;
        seen.exporters.add(r.exporter);
        seen.domains.add(r.observationDomain);
        seen.rates.add(r.samplingRate);
        seen.inputIf.add(r.inputIf);
        seen.outputIf.add(r.outputIf);
        seen.vlans.add(r.vlan);
        if (!r.hasSrcMac || !r.hasDstMac) seen.macsSet = false;
        expect(r.sourceKind).toBe('sflow');
        expect(r.timeStartMs).toBe(d.timeMs);
        expect(r.timeEndMs).toBe(d.timeMs);
        expect(r.flows).toBe(1);
        if (isIcmp(r.protocol)) expect(r.srcPort).toBe(0);
      },
      (c) => interfaceCounters.push({ ...c }),
    );
  }
  return { datagrams, state, counters, byPair, byHostPair, total, interfaceCounters, seen };
}

function oracleMap(rows: OracleRow[], keyOf: (r: OracleRow) => string): Map<string, Sums> {
  const m = new Map<string, Sums>();
  for (const r of rows) {
    const key = keyOf(r);
    expect(m.has(key), `oracle key ${key} is unique`).toBe(false);
    m.set(key, {
      samples: r.samples!,
      packets: r.packets,
      bytes: r.bytes,
      packetsScaled: r.packets_scaled!,
      bytesScaled: r.bytes_scaled!,
    });
  }
  return m;
}

function sortedEntries(m: Map<string, Sums>): [string, Sums][] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe.each(['pmacctd-sfprobe-rate1', 'pmacctd-sfprobe-rate10'])('%s against the sfcapd oracle', (name) => {
  const oracle = corpusOracle(`edge/${name}.json`);
  const got = decodeFile(name);
  const rate = oracle.sampling_rate;

  it('decodes every datagram with no error and no sequence gap', () => {
    expect(got.datagrams.length).toBe(oracle.datagrams);
    expect(got.counters.datagrams).toBe(oracle.datagrams);
    expect(got.counters.errors.size).toBe(0);
    expect(got.counters.sequenceGapDatagrams).toBe(0);
    expect(got.counters.records).toBe(oracle.totals.samples);
    const agents = got.state.agents();
    expect(agents).toHaveLength(1);
    expect(agents[0]).toMatchObject({ agent: '127.0.0.1', subAgentId: 1, datagrams: oracle.datagrams, sequenceGapDatagrams: 0, restarts: 0 });
  });

  it('matches the oracle totals, raw and scaled', () => {
    const scaled = oracle.totals_scaled!;
    expect(got.total.samples).toBe(oracle.totals.samples);
    expect(got.total.packets).toBe(oracle.totals.packets);
    expect(got.total.bytes).toBe(oracle.totals.bytes);
    expect(got.total.packetsScaled).toBe(scaled.packets);
    expect(got.total.bytesScaled).toBe(scaled.bytes);
    expect(got.byPair.size).toBe(oracle.totals.flows);
    // frame_length = IP length + 14 (Ethernet) + 4 (FCS) for these untagged frames.
    const l3 = oracle.totals_l3 as { bytes: number; bytes_scaled: number };
    expect(got.total.bytes - 18 * got.total.samples).toBe(l3.bytes);
    expect(got.total.bytesScaled - 18 * got.total.samples * rate).toBe(l3.bytes_scaled);
    expect(got.seen.nonIp).toBe(0);
  });

  it('matches the oracle per 5-tuple (ICMP on src, dst, proto)', () => {
    const want = oracleMap(oracle.by_pair, (r) => tupleKey(r.src, r.dst, r.proto!, r.src_port!, r.dst_port!));
    expect(sortedEntries(got.byPair)).toEqual(sortedEntries(want));
  });

  it('matches the oracle per host pair', () => {
    const want = oracleMap(oracle.by_host_pair, (r) => `${r.src} ${r.dst}`);
    expect(sortedEntries(got.byHostPair)).toEqual(sortedEntries(want));
  });

  it('fills the record from the datagram and sample headers', () => {
    expect([...got.seen.exporters]).toEqual(['127.0.0.1']);
    expect([...got.seen.domains]).toEqual([1]);
    expect([...got.seen.rates]).toEqual([rate]);
    expect([...got.seen.inputIf]).toEqual([SFLOW_IF_INTERNAL]);
    expect([...got.seen.outputIf]).toEqual([SFLOW_IF_INTERNAL]);
    expect([...got.seen.vlans]).toEqual([0]);
    expect(got.seen.macsSet).toBe(true);
  });

  it('delivers the counter samples to the counter sink', () => {
    expect(got.interfaceCounters).toHaveLength(oracle.counter_samples as number);
    for (const c of got.interfaceCounters) {
      expect(c).toMatchObject({
        agent: '127.0.0.1',
        subAgentId: 1,
        sourceIdType: 0,
        sourceIdIndex: 1,
        ifIndex: SFLOW_IF_INTERNAL,
        ifType: 6,
        ifSpeed: 100_000_000,
        ifDirection: 1,
        ifAdminUp: true,
        ifOperUp: true,
      });
      expect(c.inOctets).toBeGreaterThan(0);
      expect(c.inUcastPkts).toBeGreaterThan(0);
    }
  });

  it('tracks the sample pool: effective rate and no lost samples', () => {
    const sources = got.state.sources();
    expect(sources).toHaveLength(1);
    const s = sources[0];
    expect(s).toMatchObject({
      agent: '127.0.0.1',
      subAgentId: 1,
      sourceIdType: 0,
      sourceIdIndex: 1,
      samplingRate: rate,
      flowSamples: oracle.totals.samples,
      counterSamples: oracle.counter_samples,
      poolSamples: oracle.totals.samples! - 1,
      sequenceGapSamples: 0,
      drops: 0,
      samplesLost: 0,
      restarts: 0,
    });
    expect(got.state.samplesLost).toBe(0);
    expect(got.state.effectiveRate('127.0.0.1', 1, 0, 1)).toBe(s.effectiveRate);
    if (rate === 1) {
      expect(s.effectiveRate).toBe(1); // every packet sampled: the pool grows by exactly one per sample
    } else {
      // sfprobe skips a random 1..2N-1 packets: the estimate is near N, not equal to it.
      expect(s.effectiveRate).toBeGreaterThan(rate * 0.8);
      expect(s.effectiveRate).toBeLessThan(rate * 1.2);
    }
  });
});
