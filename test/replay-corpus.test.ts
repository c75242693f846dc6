/**
 * Every edge capture of the corpus, replayed offline through the whole pipeline (decode, enrich,
 * rollup, exposition), gives the third-party oracle's numbers exactly: in total (exporter rollup) and
 * per host pair (peer rollup, oriented device -> peer).
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config/defaults.js';
import { runReplay } from '../src/replay.js';
import { corpusOracle, corpusPath, type Oracle } from './helpers/corpus.js';
import { parseExposition, sumOf, type Sample } from './helpers/exposition.js';

export const EDGE_FILES = [
  'softflowd-v5',
  'softflowd-v9',
  'softflowd-ipfix',
  'pmacctd-nfprobe-v5',
  'pmacctd-nfprobe-v9',
  'pmacctd-nfprobe-ipfix',
  'softflowd-v5-s10',
  'softflowd-ipfix-s10',
  'pmacctd-nfprobe-v9-s10',
  'pmacctd-nfprobe-v9-large',
  'pmacctd-sfprobe-rate1',
  'pmacctd-sfprobe-rate10',
];

const LOCAL = /^(192\.168\.|10\.|fd)/;

export interface Expected {
  bytes: number;
  packets: number;
  flows: number;
  /** device -> peer -> [bytes, packets] */
  pairs: Map<string, [number, number]>;
}

/** What the rollups must show for a corpus file, from its oracle JSON only. */
export function expectedFromOracle(o: Oracle): Expected {
  const rate = o.sampling_rate;
  const isSflow = o.totals.samples !== undefined;
  const pairs = new Map<string, [number, number]>();
  for (const row of o.by_host_pair) {
    const [device, peer] = LOCAL.test(row.src) ? [row.src, row.dst] : [row.dst, row.src];
    const key = `${device} ${peer}`;
    const bytes = row.bytes_scaled ?? row.bytes * rate;
    const packets = row.packets_scaled ?? row.packets * rate;
    const cur = pairs.get(key) ?? [0, 0];
    pairs.set(key, [cur[0] + bytes, cur[1] + packets]);
  }
  return {
    bytes: o.totals_scaled?.bytes ?? o.totals.bytes * rate,
    packets: o.totals_scaled?.packets ?? o.totals.packets * rate,
    // A flow record counts 1; an sFlow sample is one record.
    flows: isSflow ? (o.totals.samples as number) : o.totals.flows,
    pairs,
  };
}

export function assertMetricsMatch(samples: Sample[], exp: Expected): void {
  expect(sumOf(samples, 'flow_exporter_bytes_total')).toBe(exp.bytes);
  expect(sumOf(samples, 'flow_exporter_packets_total')).toBe(exp.packets);
  expect(sumOf(samples, 'flow_exporter_flows_total')).toBe(exp.flows);
  // Conservation: every rollup sums to the same totals.
  for (const family of ['flow_device', 'flow_app', 'flow_peer']) {
    expect(sumOf(samples, `${family}_bytes_total`)).toBe(exp.bytes);
    expect(sumOf(samples, `${family}_packets_total`)).toBe(exp.packets);
    expect(sumOf(samples, `${family}_flows_total`)).toBe(exp.flows);
  }
  const got = new Map<string, [number, number]>();
  for (const s of samples) {
    if (s.name !== 'flow_peer_bytes_total' && s.name !== 'flow_peer_packets_total') continue;
    const key = `${s.labels.device} ${s.labels.peer}`;
    const cur = got.get(key) ?? [0, 0];
    if (s.name === 'flow_peer_bytes_total') cur[0] += s.value;
    else cur[1] += s.value;
    got.set(key, cur);
  }
  for (const [k, v] of got) if (v[0] === 0 && v[1] === 0) got.delete(k);
  expect(Object.fromEntries(got)).toEqual(Object.fromEntries(exp.pairs));
}

async function replayToText(files: string[]): Promise<string> {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  const code = await runReplay({ ...DEFAULT_CONFIG }, files, out);
  expect(code).toBe(0);
  return text;
}

describe('flowgauge replay on the edge corpus', () => {
  for (const name of EDGE_FILES) {
    it(`${name}: totals and per-host-pair counters equal the oracle`, async () => {
      const oracle = corpusOracle(`edge/${name}.json`);
      const samples = parseExposition(await replayToText([corpusPath(`edge/${name}.pcap`)]));
      assertMetricsMatch(samples, expectedFromOracle(oracle));
      // Nothing was lost or rejected on the way.
      expect(sumOf(samples, 'flowgauge_decode_errors_total')).toBe(0);
      expect(sumOf(samples, 'flowgauge_sequence_gap_datagrams_total')).toBe(0);
      expect(sumOf(samples, 'flowgauge_sequence_gap_records_total')).toBe(0);
      expect(sumOf(samples, 'flowgauge_template_misses_total')).toBe(0);
      expect(sumOf(samples, 'flowgauge_datagrams_total')).toBe(oracle.datagrams);
    });
  }
});
