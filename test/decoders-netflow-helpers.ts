/** Shared by the NetFlow / IPFIX decoder tests: decode datagrams into copied records and sum them. */
import { decodeNetflowDatagram, type NetflowDecodeContext } from '../src/decoders/netflow.js';
import { NetflowExporterState, type NetflowStateLimits } from '../src/decoders/netflow-state.js';
import { createDecodeCounters, type DecodeCounters } from '../src/decoders/types.js';
import { cloneFlowRecord, type FlowRecord } from '../src/record.js';
import { formatAddress } from '../src/util/address.js';
import { corpusDatagrams } from './helpers/corpus.js';

export const NETFLOW_FILES = [
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
] as const;

export function edgePayloads(name: string): Uint8Array[] {
  return corpusDatagrams(`edge/${name}.pcap`).map((d) => d.payload);
}

export interface Decoder {
  ctx: NetflowDecodeContext;
  records: FlowRecord[];
  decode(buf: Uint8Array, nowMs?: number): void;
}

export function makeDecoder(
  opts: {
    limits?: Partial<NetflowStateLimits>;
    state?: NetflowExporterState;
    counters?: DecodeCounters;
    defaultSamplingRate?: number;
    samplingRateOverride?: number;
  } = {},
): Decoder {
  const records: FlowRecord[] = [];
  const ctx: NetflowDecodeContext = {
    exporter: '127.0.0.1',
    nowMs: 1_700_000_100_000,
    state: opts.state ?? new NetflowExporterState(opts.limits),
    counters: opts.counters ?? createDecodeCounters(),
    defaultSamplingRate: opts.defaultSamplingRate ?? 1,
    samplingRateOverride: opts.samplingRateOverride,
  };
  const sink = (r: FlowRecord): void => {
    records.push(cloneFlowRecord(r));
  };
  return {
    ctx,
    records,
    decode(buf, nowMs) {
      if (nowMs !== undefined) ctx.nowMs = nowMs;
      decodeNetflowDatagram(buf, ctx, sink);
    },
  };
}

export interface Sum {
  packets: number;
  bytes: number;
  flows: number;
}

export function addTo(m: Map<string, Sum>, k: string, r: FlowRecord): void {
  const cur = m.get(k) ?? { packets: 0, bytes: 0, flows: 0 };
  cur.packets += r.packets;
  cur.bytes += r.bytes;
  cur.flows += r.flows;
  m.set(k, cur);
}

export function totals(records: FlowRecord[]): Sum {
  const t = { packets: 0, bytes: 0, flows: 0 };
  for (const r of records) {
    t.packets += r.packets;
    t.bytes += r.bytes;
    t.flows += r.flows;
  }
  return t;
}

export const src = (r: FlowRecord): string => formatAddress(r.af, r.src);
export const dst = (r: FlowRecord): string => formatAddress(r.af, r.dst);
export const isIcmp = (proto: number): boolean => proto === 1 || proto === 58;

export function pairKey(r: FlowRecord): string {
  return isIcmp(r.protocol)
    ? `${src(r)} ${dst(r)} ${r.protocol}`
    : `${src(r)} ${dst(r)} ${r.protocol} ${r.srcPort} ${r.dstPort}`;
}
