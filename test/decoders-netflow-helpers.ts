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

// ---------------------------------------------------------------------------------------------
// Hand-built NetFlow v9 / IPFIX messages for cases the corpus does not cover.

export class Writer {
  private readonly a: number[] = [];
  u8(...v: number[]): this {
    for (const x of v) this.a.push(x & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8, v);
  }
  u32(v: number): this {
    return this.u8(v >>> 24, v >>> 16, v >>> 8, v);
  }
  u64(v: number): this {
    return this.u32(Math.floor(v / 4294967296)).u32(v % 4294967296);
  }
  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.a.push(b[i] & 0xff);
    return this;
  }
  ipv4(text: string): this {
    return this.u8(...text.split('.').map(Number));
  }
  /** Text, NUL-padded to `len` when given. */
  text(s: string, len?: number): this {
    const b = new TextEncoder().encode(s);
    this.bytes(b);
    for (let i = b.length; i < (len ?? b.length); i++) this.a.push(0);
    return this;
  }
  /** IPFIX variable-length encoding (1-byte length, or 255 + 2-byte length). */
  varText(s: string, long = false): this {
    const b = new TextEncoder().encode(s);
    if (long || b.length >= 255) this.u8(255).u16(b.length);
    else this.u8(b.length);
    return this.bytes(b);
  }
  get length(): number {
    return this.a.length;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.a);
  }
}

/** [element id, length] or [element id, length, enterprise number]. */
export type FieldDef = [number, number] | [number, number, number];

export function set(id: number, body: Uint8Array, pad = 0): Uint8Array {
  return new Writer()
    .u16(id)
    .u16(4 + body.length + pad)
    .bytes(body)
    .bytes(new Array(pad).fill(0))
    .done();
}

function fieldSpecs(w: Writer, fields: FieldDef[]): void {
  for (const [id, len, ent] of fields) {
    if (ent) w.u16(id | 0x8000).u16(len).u32(ent);
    else w.u16(id).u16(len);
  }
}

export function ipfixTemplate(id: number, fields: FieldDef[]): Uint8Array {
  const w = new Writer().u16(id).u16(fields.length);
  fieldSpecs(w, fields);
  return w.done();
}

export function ipfixOptionsTemplate(id: number, scopeCount: number, fields: FieldDef[]): Uint8Array {
  const w = new Writer().u16(id).u16(fields.length).u16(scopeCount);
  fieldSpecs(w, fields);
  return w.done();
}

export function v9Template(id: number, fields: FieldDef[]): Uint8Array {
  const w = new Writer().u16(id).u16(fields.length);
  fieldSpecs(w, fields);
  return w.done();
}

export function v9OptionsTemplate(id: number, scope: FieldDef[], fields: FieldDef[]): Uint8Array {
  const w = new Writer().u16(id).u16(scope.length * 4).u16(fields.length * 4);
  fieldSpecs(w, scope);
  fieldSpecs(w, fields);
  return w.done();
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const w = new Writer();
  for (const p of parts) w.bytes(p);
  return w.done();
}

export function ipfixMessage(h: { domain?: number; seq?: number; exportSecs?: number }, ...sets: Uint8Array[]): Uint8Array {
  const body = concat(...sets);
  return new Writer()
    .u16(10)
    .u16(16 + body.length)
    .u32(h.exportSecs ?? 1_700_000_100)
    .u32(h.seq ?? 0)
    .u32(h.domain ?? 0)
    .bytes(body)
    .done();
}

export function v9Packet(
  h: { sourceId?: number; seq?: number; uptimeMs?: number; unixSecs?: number; count?: number },
  ...sets: Uint8Array[]
): Uint8Array {
  return new Writer()
    .u16(9)
    .u16(h.count ?? 0)
    .u32(h.uptimeMs ?? 100_000)
    .u32(h.unixSecs ?? 1_700_000_100)
    .u32(h.seq ?? 1)
    .u32(h.sourceId ?? 0)
    .bytes(concat(...sets))
    .done();
}
