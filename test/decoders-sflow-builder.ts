/**
 * Builds sFlow v5 datagrams and sampled packets byte by byte for the decoder tests. Written from the
 * sFlow v5 structure definitions (XDR: big-endian 32-bit words, opaque data padded to 4 bytes).
 */
import { parseAddress } from '../src/util/address.js';

export class Xdr {
  private readonly bytes: number[] = [];
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v);
  }
  u64(v: number): this {
    return this.u32(Math.floor(v / 0x100000000)).u32(v % 0x100000000);
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i] & 0xff);
    return this;
  }
  /** XDR variable-length opaque: length word, bytes, zero padding to 4. */
  opaque(b: ArrayLike<number>): this {
    this.u32(b.length).raw(b);
    while (this.bytes.length % 4) this.bytes.push(0);
    return this;
  }
  get length(): number {
    return this.bytes.length;
  }
  build(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const x = new Xdr();
  for (const p of parts) x.raw(p);
  return x.build();
}

export function ipBytes(text: string): Uint8Array {
  const out = new Uint8Array(16);
  const af = parseAddress(text, out);
  if (af === 0) throw new Error(`bad address ${text}`);
  return af === 4 ? out.slice(0, 4) : out;
}

/** sFlow address: type 1 (IPv4) or 2 (IPv6) + bytes; '' = type 0 (unknown). */
export function sflowAddress(text: string): Uint8Array {
  const x = new Xdr();
  if (text === '') return x.u32(0).build();
  const b = ipBytes(text);
  return x.u32(b.length === 4 ? 1 : 2).raw(b).build();
}

/** Tagged structure: data_format (enterprise << 12 | format), length, body. */
export function tagged(enterprise: number, format: number, body: Uint8Array): Uint8Array {
  return new Xdr().u32(enterprise * 4096 + format).u32(body.length).raw(body).build();
}

export interface DatagramSpec {
  agent?: string;
  subAgentId?: number;
  sequence?: number;
  uptimeMs?: number;
  samples: Uint8Array[];
  /** Declared sample count; defaults to samples.length. */
  sampleCount?: number;
  version?: number;
}

export function datagram(spec: DatagramSpec): Uint8Array {
  const x = new Xdr()
    .u32(spec.version ?? 5)
    .raw(sflowAddress(spec.agent ?? '192.0.2.1'))
    .u32(spec.subAgentId ?? 0)
    .u32(spec.sequence ?? 1)
    .u32(spec.uptimeMs ?? 1000)
    .u32(spec.sampleCount ?? spec.samples.length);
  for (const s of spec.samples) x.raw(s);
  return x.build();
}

export interface FlowSampleSpec {
  expanded?: boolean;
  sequence?: number;
  sourceIdType?: number;
  sourceIdIndex?: number;
  samplingRate?: number;
  samplePool?: number;
  drops?: number;
  /** Compact: the whole 32-bit interface word. Expanded: the value (format below). */
  input?: number;
  output?: number;
  inputFormat?: number;
  outputFormat?: number;
  records: Uint8Array[];
  recordCount?: number;
}

export function flowSample(s: FlowSampleSpec): Uint8Array {
  const x = new Xdr().u32(s.sequence ?? 1);
  if (s.expanded) x.u32(s.sourceIdType ?? 0).u32(s.sourceIdIndex ?? 1);
  else x.u32(((s.sourceIdType ?? 0) << 24) | (s.sourceIdIndex ?? 1));
  x.u32(s.samplingRate ?? 1).u32(s.samplePool ?? 1).u32(s.drops ?? 0);
  if (s.expanded) x.u32(s.inputFormat ?? 0).u32(s.input ?? 0).u32(s.outputFormat ?? 0).u32(s.output ?? 0);
  else x.u32(s.input ?? 0).u32(s.output ?? 0);
  x.u32(s.recordCount ?? s.records.length);
  for (const r of s.records) x.raw(r);
  return tagged(0, s.expanded ? 3 : 1, x.build());
}

export function rawHeader(header: Uint8Array, frameLength: number, headerProtocol = 1, stripped = 4): Uint8Array {
  return tagged(0, 1, new Xdr().u32(headerProtocol).u32(frameLength).u32(stripped).opaque(header).build());
}

export interface SampledIpSpec {
  length: number;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  tcpFlags?: number;
  tos?: number;
}

export function sampledIp(s: SampledIpSpec): Uint8Array {
  const src = ipBytes(s.src);
  const body = new Xdr()
    .u32(s.length)
    .u32(s.protocol)
    .raw(src)
    .raw(ipBytes(s.dst))
    .u32(s.srcPort)
    .u32(s.dstPort)
    .u32(s.tcpFlags ?? 0)
    .u32(s.tos ?? 0)
    .build();
  return tagged(0, src.length === 4 ? 3 : 4, body);
}

export function extendedSwitch(srcVlan: number, dstVlan = 0): Uint8Array {
  return tagged(0, 1001, new Xdr().u32(srcVlan).u32(0).u32(dstVlan).u32(0).build());
}

export function extendedRouter(nextHop: string, srcMask = 24, dstMask = 16): Uint8Array {
  return tagged(0, 1002, new Xdr().raw(sflowAddress(nextHop)).u32(srcMask).u32(dstMask).build());
}

export function extendedGateway(nextHop: string, myAs: number, srcAs: number, srcPeerAs: number, path: number[][], communities: number[] = [], localPref = 100): Uint8Array {
  const x = new Xdr().raw(sflowAddress(nextHop)).u32(myAs).u32(srcAs).u32(srcPeerAs).u32(path.length);
  for (const seg of path) {
    x.u32(2).u32(seg.length);
    for (const as of seg) x.u32(as);
  }
  x.u32(communities.length);
  for (const c of communities) x.u32(c);
  x.u32(localPref);
  return tagged(0, 1003, x.build());
}

export interface CounterSampleSpec {
  expanded?: boolean;
  sequence?: number;
  sourceIdType?: number;
  sourceIdIndex?: number;
  records: Uint8Array[];
  recordCount?: number;
}

export function counterSample(s: CounterSampleSpec): Uint8Array {
  const x = new Xdr().u32(s.sequence ?? 1);
  if (s.expanded) x.u32(s.sourceIdType ?? 0).u32(s.sourceIdIndex ?? 1);
  else x.u32(((s.sourceIdType ?? 0) << 24) | (s.sourceIdIndex ?? 1));
  x.u32(s.recordCount ?? s.records.length);
  for (const r of s.records) x.raw(r);
  return tagged(0, s.expanded ? 4 : 2, x.build());
}

export interface GenericIfSpec {
  ifIndex: number;
  ifType?: number;
  ifSpeed: number;
  ifDirection?: number;
  ifStatus?: number;
  inOctets?: number;
  inUcastPkts?: number;
  outOctets?: number;
  outUcastPkts?: number;
  inErrors?: number;
  outDiscards?: number;
  promiscuous?: number;
}

export function genericInterface(s: GenericIfSpec): Uint8Array {
  const body = new Xdr()
    .u32(s.ifIndex)
    .u32(s.ifType ?? 6)
    .u64(s.ifSpeed)
    .u32(s.ifDirection ?? 1)
    .u32(s.ifStatus ?? 3)
    .u64(s.inOctets ?? 0)
    .u32(s.inUcastPkts ?? 0)
    .u32(11) // in multicast
    .u32(12) // in broadcast
    .u32(13) // in discards
    .u32(s.inErrors ?? 0)
    .u32(15) // in unknown protos
    .u64(s.outOctets ?? 0)
    .u32(s.outUcastPkts ?? 0)
    .u32(21) // out multicast
    .u32(22) // out broadcast
    .u32(s.outDiscards ?? 0)
    .u32(24) // out errors
    .u32(s.promiscuous ?? 2)
    .build();
  return tagged(0, 1, body);
}

// ---- sampled packets ----

export const MAC_A = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
export const MAC_B = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];

export interface VlanTag {
  tpid: number;
  vid: number;
  pcp?: number;
}

export function ethernet(ethertype: number, payload: Uint8Array, tags: VlanTag[] = [], dst = MAC_B, src = MAC_A): Uint8Array {
  const x = new Xdr().raw(dst).raw(src);
  for (const t of tags) x.u16(t.tpid).u16(((t.pcp ?? 0) << 13) | t.vid);
  return x.u16(ethertype).raw(payload).build();
}

export function mpls(labels: number[], payload: Uint8Array): Uint8Array {
  const x = new Xdr();
  labels.forEach((label, i) => x.u32((label << 12) | (i === labels.length - 1 ? 0x100 : 0) | 64));
  return x.raw(payload).build();
}

export function ipv4(src: string, dst: string, protocol: number, payload: Uint8Array, opts: { fragmentOffset?: number; options?: number[] } = {}): Uint8Array {
  const optionBytes = opts.options ?? [];
  const ihl = 5 + optionBytes.length / 4;
  return new Xdr()
    .u8(0x40 | ihl)
    .u8(0)
    .u16(ihl * 4 + payload.length)
    .u16(0x1234)
    .u16(opts.fragmentOffset ?? 0)
    .u8(64)
    .u8(protocol)
    .u16(0) // checksum: not checked by the decoder
    .raw(ipBytes(src))
    .raw(ipBytes(dst))
    .raw(optionBytes)
    .raw(payload)
    .build();
}

/** An IPv6 extension header: next header, length in 8-byte units beyond the first 8, padding. */
export interface ExtHeader {
  type: number;
  /** Total length in bytes (multiple of 8; AH: multiple of 4). */
  length: number;
  /** Fragment header only. */
  fragmentOffset?: number;
}

export function ipv6(src: string, dst: string, nextHeader: number, payload: Uint8Array, ext: ExtHeader[] = []): Uint8Array {
  const chain = new Xdr();
  ext.forEach((h, i) => {
    const next = i + 1 < ext.length ? ext[i + 1].type : nextHeader;
    if (h.type === 44) {
      chain.u8(next).u8(0).u16((h.fragmentOffset ?? 0) << 3).u32(0xabcd);
    } else {
      const lenField = h.type === 51 ? h.length / 4 - 2 : h.length / 8 - 1;
      chain.u8(next).u8(lenField);
      for (let k = 2; k < h.length; k++) chain.u8(0);
    }
  });
  const first = ext.length > 0 ? ext[0].type : nextHeader;
  const ch = chain.build();
  return new Xdr()
    .u32(0x60000000)
    .u16(ch.length + payload.length)
    .u8(first)
    .u8(64)
    .raw(ipBytes(src))
    .raw(ipBytes(dst))
    .raw(ch)
    .raw(payload)
    .build();
}

export function tcp(srcPort: number, dstPort: number, flags: number, payloadLength = 0): Uint8Array {
  const x = new Xdr().u16(srcPort).u16(dstPort).u32(1).u32(0).u8(0x50).u8(flags).u16(65535).u16(0).u16(0);
  for (let i = 0; i < payloadLength; i++) x.u8(i);
  return x.build();
}

export function udp(srcPort: number, dstPort: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  return new Xdr().u16(srcPort).u16(dstPort).u16(8 + payload.length).u16(0).raw(payload).build();
}

export function icmp(type: number, code: number): Uint8Array {
  return new Xdr().u8(type).u8(code).u16(0).u32(0x00010001).build();
}
