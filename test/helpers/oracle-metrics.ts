/** Oracle expectations for the edge corpus, as they must appear in the rollups. */
import { expect } from 'vitest';
import type { Oracle } from './corpus.js';
import { sumOf, type Sample } from './exposition.js';

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

