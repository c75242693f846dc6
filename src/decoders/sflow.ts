/**
 * sFlow version 5 decoder (sflow.org sFlow v5, datagram and standard data formats).
 *
 * Pure: bytes plus the UDP source's SflowAgentState in, FlowRecords (one per flow sample) and
 * generic interface counters out through synchronous sinks. One FlowRecord and one InterfaceCounters
 * object, kept in the state, are reused for every sample: sinks must copy what they keep.
 *
 * Decoded: flow samples (0:1) and expanded flow samples (0:3) with raw packet header (0:1), sampled
 * IPv4 (0:3) / IPv6 (0:4), extended switch (0:1001), router (0:1002) and gateway (0:1003) records;
 * counter samples (0:2) and expanded counter samples (0:4) with the generic interface record (0:1).
 * Every other sample type and record format (any enterprise != 0 included) is skipped by its length.
 *
 * Bad input: a datagram whose header cannot be read throws DecodeError. Inside a datagram, problems
 * are counted with countError and decoding goes on where the lengths allow: a sample or record whose
 * length stays inside its container is skipped by that length; one whose length runs past it ends
 * the container. Every loop is bounded by the bytes left, whatever count the datagram claims.
 */
import { resetFlowRecord, createFlowRecord, Action, type FlowRecord, type RecordSink } from '../record.js';
import { formatIPv4, formatIPv6 } from '../util/address.js';
import { decodePacketHeader } from './packet-header.js';
import type { SflowAgentEntry, SflowAgentState } from './sflow-state.js';
import { countError, DecodeError, type DecodeCounters } from './types.js';

export interface SflowDecodeContext {
  /** UDP source address as text; records carry the sFlow agent address instead (this one only for agent type 0). */
  exporter: string;
  nowMs: number;
  /** Per UDP source: sequence tracking per (agent, sub-agent), sample_pool / drops per data source. */
  state: SflowAgentState;
  counters: DecodeCounters;
  /** Report the inner packet of GRE / VXLAN / IP-in-IP tunnels instead of the outer one (default false). */
  decapsulate?: boolean;
}

/**
 * One generic interface counter record (sFlow counters 0:1). The decoder reuses one object per
 * SflowAgentState for every record: a sink must copy what it keeps. 64-bit counters become numbers
 * (exact up to 2^53).
 */
export interface InterfaceCounters {
  agent: string;
  subAgentId: number;
  sourceIdType: number;
  sourceIdIndex: number;
  /** The counter sample's sequence number (per data source): tells a late or repeated sample from a newer one. */
  sampleSequence: number;
  ifIndex: number;
  ifType: number;
  /** Bits per second. */
  ifSpeed: number;
  /** 0 unknown, 1 full duplex, 2 half duplex, 3 in, 4 out. */
  ifDirection: number;
  ifAdminUp: boolean;
  ifOperUp: boolean;
  inOctets: number;
  inUcastPkts: number;
  inMulticastPkts: number;
  inBroadcastPkts: number;
  inDiscards: number;
  inErrors: number;
  inUnknownProtos: number;
  outOctets: number;
  outUcastPkts: number;
  outMulticastPkts: number;
  outBroadcastPkts: number;
  outDiscards: number;
  outErrors: number;
  /** ifPromiscuousMode: 1 true, 2 false, 0 unknown (as on the wire). */
  promiscuous: number;
}

export type InterfaceCounterSink = (c: InterfaceCounters) => void;

/**
 * The interface value meaning "the device itself" (traffic it originates or terminates): the compact
 * encoding's 0x3FFFFFFF; the expanded encoding's 0xFFFFFFFF is normalized to it.
 */
export const SFLOW_IF_INTERNAL = 0x3fffffff;

const SAMPLE_FLOW = 1;
const SAMPLE_COUNTERS = 2;
const SAMPLE_FLOW_EXPANDED = 3;
const SAMPLE_COUNTERS_EXPANDED = 4;

const FLOW_RAW_HEADER = 1;
const FLOW_SAMPLED_IPV4 = 3;
const FLOW_SAMPLED_IPV6 = 4;
const FLOW_EXT_SWITCH = 1001;
const FLOW_EXT_ROUTER = 1002;
const FLOW_EXT_GATEWAY = 1003;

const COUNTERS_GENERIC_IF = 1;
const GENERIC_IF_LENGTH = 88;

const IF_FORMAT_SINGLE = 0;
const IF_FORMAT_DISCARDED = 1;

/** Bytes of the fixed part before the record count, per sample type. */
const FLOW_FIXED = 32;
const FLOW_EXPANDED_FIXED = 44;
const COUNTERS_FIXED = 12;
const COUNTERS_EXPANDED_FIXED = 16;

function u32(b: Uint8Array, o: number): number {
  return b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
}

function u64(b: Uint8Array, o: number): number {
  return u32(b, o) * 0x100000000 + u32(b, o + 4);
}

/** True when the first 32-bit word is 5 (NetFlow v5 has 0x0005 in its first 16 bits only). */
export function isSflowDatagram(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0 && buf[1] === 0 && buf[2] === 0 && buf[3] === 5;
}

/**
 * Decodes one sFlow v5 datagram. Calls `sink` once per flow sample (records counted in
 * counters.records) and `counterSink` once per generic interface counter record. Throws DecodeError
 * for a datagram it must reject (truncated header, version != 5, bad agent address type); the caller
 * counts that error. counters.datagrams counts every datagram handed in, rejected ones included.
 */
export function decodeSflowDatagram(
  buf: Uint8Array,
  ctx: SflowDecodeContext,
  sink: RecordSink,
  counterSink?: InterfaceCounterSink,
): void {
  const counters = ctx.counters;
  const state = ctx.state;
  counters.datagrams++;
  const end = buf.length;
  if (end < 8) throw new DecodeError('truncated_header', `sFlow datagram of ${end} bytes is shorter than its header`);
  const version = u32(buf, 0);
  if (version !== 5) throw new DecodeError('unknown_version', `sFlow datagram version ${version} (only 5 is supported)`);
  const addressType = u32(buf, 4);
  let addressLength: number;
  if (addressType === 1) addressLength = 4;
  else if (addressType === 2) addressLength = 16;
  else if (addressType === 0) addressLength = 0;
  else throw new DecodeError('unsupported', `sFlow agent address type ${addressType} (expected 0, 1 or 2)`);
  const headerEnd = 8 + addressLength + 16;
  if (end < headerEnd) throw new DecodeError('truncated_header', `sFlow datagram of ${end} bytes is shorter than its ${headerEnd}-byte header`);

  let p = 8 + addressLength;
  const subAgentId = u32(buf, p);
  const sequence = u32(buf, p + 4);
  const uptimeMs = u32(buf, p + 8);
  const sampleCount = u32(buf, p + 12);
  p = headerEnd;

  const agent = state.agentFor(buf, 8, addressType, subAgentId, ctx.exporter);
  counters.sequenceGapDatagrams += state.noteDatagram(agent, sequence, uptimeMs);

  // Each sample needs at least its 8-byte format + length: a larger count cannot be true.
  let countReported = false;
  if (sampleCount > (end - p) / 8) {
    countError(counters, 'too_many_samples');
    countReported = true;
  }
  let i = 0;
  for (; i < sampleCount; i++) {
    if (end - p < 8) {
      if (!countReported) countError(counters, 'too_many_samples');
      return;
    }
    const format = u32(buf, p);
    const length = u32(buf, p + 4);
    const body = p + 8;
    if (length > end - body) {
      // Cannot know where the next sample starts: stop here.
      countError(counters, 'truncated_record');
      return;
    }
    const sampleEnd = body + length;
    // The top 20 bits are the enterprise: only enterprise 0 formats are ours.
    switch (format) {
      case SAMPLE_FLOW:
      case SAMPLE_FLOW_EXPANDED:
        decodeFlowSample(buf, body, sampleEnd, format === SAMPLE_FLOW_EXPANDED, agent, ctx, sink);
        break;
      case SAMPLE_COUNTERS:
      case SAMPLE_COUNTERS_EXPANDED:
        decodeCounterSample(buf, body, sampleEnd, format === SAMPLE_COUNTERS_EXPANDED, agent, ctx, counterSink);
        break;
      default:
        break; // unknown sample type: skipped by its length
    }
    p = sampleEnd;
  }
  if (p !== end) countError(counters, 'bad_length'); // bytes after the last declared sample
}

function scratchRecord(state: SflowAgentState): FlowRecord {
  let r = state.scratchRecord;
  if (r === undefined) {
    r = createFlowRecord();
    r.sourceKind = 'sflow';
    state.scratchRecord = r;
  }
  return r;
}

/**
 * Sets inputIf / outputIf from an interface (format, value) pair. Format 0 is an ifIndex (the
 * "internal" value normalized to SFLOW_IF_INTERNAL); format 1 (output only) is a discarded packet:
 * action reject, no output interface; format 2 (multiple output interfaces) and anything else give 0.
 */
function setInterface(rec: FlowRecord, format: number, value: number, output: boolean, expanded: boolean): void {
  let ifIndex = 0;
  if (format === IF_FORMAT_SINGLE) ifIndex = expanded && value === 0xffffffff ? SFLOW_IF_INTERNAL : value;
  else if (format === IF_FORMAT_DISCARDED && output) rec.action = Action.reject;
  if (output) rec.outputIf = ifIndex;
  else rec.inputIf = ifIndex;
}

function decodeFlowSample(
  b: Uint8Array,
  p: number,
  end: number,
  expanded: boolean,
  agent: SflowAgentEntry,
  ctx: SflowDecodeContext,
  sink: RecordSink,
): void {
  const counters = ctx.counters;
  const fixed = expanded ? FLOW_EXPANDED_FIXED : FLOW_FIXED;
  if (end - p < fixed) {
    countError(counters, 'bad_sample');
    return;
  }
  const sequence = u32(b, p);
  let sourceIdType: number;
  let sourceIdIndex: number;
  let q: number;
  if (expanded) {
    sourceIdType = u32(b, p + 4);
    sourceIdIndex = u32(b, p + 8);
    q = p + 12;
  } else {
    const sourceId = u32(b, p + 4);
    sourceIdType = sourceId >>> 24;
    sourceIdIndex = sourceId & 0xffffff;
    q = p + 8;
  }
  const samplingRate = u32(b, q);
  const samplePool = u32(b, q + 4);
  const drops = u32(b, q + 8);
  q += 12;

  const rec = scratchRecord(ctx.state);
  resetFlowRecord(rec);
  rec.sourceKind = 'sflow';
  rec.exporter = agent.text;
  rec.observationDomain = agent.subAgentId;
  rec.timeStartMs = ctx.nowMs;
  rec.timeEndMs = ctx.nowMs;
  rec.packets = 1;
  rec.flows = 1;
  // A rate of 0 is meaningless; 1 keeps the sample counted rather than scaled to nothing.
  rec.samplingRate = samplingRate === 0 ? 1 : samplingRate;
  if (expanded) {
    setInterface(rec, u32(b, q), u32(b, q + 4), false, true);
    setInterface(rec, u32(b, q + 8), u32(b, q + 12), true, true);
    q += 16;
  } else {
    const input = u32(b, q);
    const output = u32(b, q + 4);
    setInterface(rec, input >>> 30, input & 0x3fffffff, false, false);
    setInterface(rec, output >>> 30, output & 0x3fffffff, true, false);
    q += 8;
  }
  const recordCount = u32(b, q);
  q += 4;

  let headerSeen = false; // a raw header decoded to IP outranks sampled IPv4/IPv6 records
  let bytesFromHeader = false;
  let switchVlan = 0;
  let j = 0;
  for (; j < recordCount && end - q >= 8; j++) {
    const format = u32(b, q);
    const length = u32(b, q + 4);
    const r = q + 8;
    if (length > end - r) break; // overruns the sample: counted below, sample dropped
    const recEnd = r + length;
    switch (format) {
      case FLOW_RAW_HEADER: {
        if (length < 16) {
          countError(counters, 'bad_record');
          break;
        }
        const headerProtocol = u32(b, r);
        const frameLength = u32(b, r + 4);
        const headerLength = u32(b, r + 12);
        if (headerLength > length - 16) {
          countError(counters, 'bad_record');
          break;
        }
        rec.bytes = frameLength;
        bytesFromHeader = true;
        if (decodePacketHeader(b, r + 16, r + 16 + headerLength, headerProtocol, rec, ctx.decapsulate === true) >= 2) {
          headerSeen = true;
        }
        break;
      }
      case FLOW_SAMPLED_IPV4:
        if (length < 32) {
          countError(counters, 'bad_record');
          break;
        }
        if (!headerSeen) sampledIp(b, r, 4, rec, !bytesFromHeader);
        break;
      case FLOW_SAMPLED_IPV6:
        if (length < 56) {
          countError(counters, 'bad_record');
          break;
        }
        if (!headerSeen) sampledIp(b, r, 6, rec, !bytesFromHeader);
        break;
      case FLOW_EXT_SWITCH:
        if (length < 16) {
          countError(counters, 'bad_record');
          break;
        }
        switchVlan = u32(b, r);
        break;
      case FLOW_EXT_ROUTER:
        if (!extendedRouter(b, r, recEnd, rec)) countError(counters, 'bad_record');
        break;
      case FLOW_EXT_GATEWAY:
        if (!extendedGateway(b, r, recEnd, rec)) countError(counters, 'bad_record');
        break;
      default:
        break; // other formats and enterprises: skipped by length
    }
    q = recEnd;
  }
  if (j < recordCount) {
    // The records do not fit in the sample: its contents cannot be trusted.
    countError(counters, 'bad_sample');
    return;
  }
  if (q !== end) countError(counters, 'bad_sample'); // bytes after the declared records; records stand
  if (rec.vlan === 0 && switchVlan > 0 && switchVlan <= 4095) rec.vlan = switchVlan;
  ctx.state.noteFlowSample(agent, sourceIdType, sourceIdIndex, sequence, samplingRate, samplePool, drops);
  counters.records++;
  sink(rec);
}

/** sampled_ipv4 (32 bytes) / sampled_ipv6 (56 bytes): length, protocol, addresses, ports, tcp flags. */
function sampledIp(b: Uint8Array, r: number, af: 4 | 6, rec: FlowRecord, setBytes: boolean): void {
  const n = af === 4 ? 4 : 16;
  const src = rec.src;
  const dst = rec.dst;
  src.fill(0);
  dst.fill(0);
  for (let i = 0; i < n; i++) {
    src[i] = b[r + 8 + i];
    dst[i] = b[r + 8 + n + i];
  }
  rec.af = af;
  if (setBytes) rec.bytes = u32(b, r); // IP packet length: the only size this record gives
  rec.protocol = u32(b, r + 4) & 0xff;
  const t = r + 8 + 2 * n;
  rec.srcPort = u32(b, t) & 0xffff;
  rec.dstPort = u32(b, t + 4) & 0xffff;
  rec.tcpFlags = u32(b, t + 8) & 0xff;
}

/** End of the sFlow address (type + 0, 4 or 16 bytes) starting at r, or -1 when it does not fit. */
function addressEnd(b: Uint8Array, r: number, end: number): number {
  if (end - r < 4) return -1;
  const type = u32(b, r);
  const n = type === 1 ? 4 : type === 2 ? 16 : type === 0 ? 0 : -1;
  if (n < 0 || end - r - 4 < n) return -1;
  return r + 4 + n;
}

/** meta.nextHop from an address that addressEnd accepted (nothing for the unknown type). */
function setNextHop(b: Uint8Array, r: number, rec: FlowRecord): void {
  const type = u32(b, r);
  if (type === 1) (rec.meta ??= {}).nextHop = formatIPv4(b, r + 4);
  else if (type === 2) (rec.meta ??= {}).nextHop = formatIPv6(b, r + 4);
}

/** extended_router: next hop (into meta.nextHop), source and destination mask lengths. */
function extendedRouter(b: Uint8Array, r: number, end: number, rec: FlowRecord): boolean {
  const q = addressEnd(b, r, end);
  if (q < 0 || end - q < 8) return false;
  setNextHop(b, r, rec);
  return true;
}

/**
 * extended_gateway: BGP next hop, own AS, source AS, source peer AS, destination AS path segments,
 * communities, local preference. Every count is checked against the bytes left before anything is
 * used; meta gets nextHop, srcAs and dstAs (the last AS of the path, 0 when the path is empty).
 */
function extendedGateway(b: Uint8Array, r: number, end: number, rec: FlowRecord): boolean {
  let q = addressEnd(b, r, end);
  if (q < 0 || end - q < 16) return false;
  const srcAs = u32(b, q + 4);
  const segments = u32(b, q + 12);
  q += 16;
  let dstAs = 0;
  for (let s = 0; s < segments; s++) {
    if (end - q < 8) return false;
    const count = u32(b, q + 4);
    q += 8;
    if (count > (end - q) / 4) return false;
    if (count > 0) dstAs = u32(b, q + (count - 1) * 4);
    q += count * 4;
  }
  if (end - q < 4) return false;
  const communities = u32(b, q);
  q += 4;
  // The communities, then the 4-byte local preference.
  if (communities > (end - q - 4) / 4) return false;
  setNextHop(b, r, rec);
  const meta = (rec.meta ??= {});
  meta.srcAs = String(srcAs);
  meta.dstAs = String(dstAs);
  return true;
}

function decodeCounterSample(
  b: Uint8Array,
  p: number,
  end: number,
  expanded: boolean,
  agent: SflowAgentEntry,
  ctx: SflowDecodeContext,
  counterSink: InterfaceCounterSink | undefined,
): void {
  const counters = ctx.counters;
  const fixed = expanded ? COUNTERS_EXPANDED_FIXED : COUNTERS_FIXED;
  if (end - p < fixed) {
    countError(counters, 'bad_sample');
    return;
  }
  let sourceIdType: number;
  let sourceIdIndex: number;
  let q: number;
  if (expanded) {
    sourceIdType = u32(b, p + 4);
    sourceIdIndex = u32(b, p + 8);
    q = p + 12;
  } else {
    const sourceId = u32(b, p + 4);
    sourceIdType = sourceId >>> 24;
    sourceIdIndex = sourceId & 0xffffff;
    q = p + 8;
  }
  const recordCount = u32(b, q);
  q += 4;
  ctx.state.noteCounterSample(agent, sourceIdType, sourceIdIndex);
  let j = 0;
  for (; j < recordCount && end - q >= 8; j++) {
    const format = u32(b, q);
    const length = u32(b, q + 4);
    const r = q + 8;
    if (length > end - r) break;
    if (format === COUNTERS_GENERIC_IF) {
      if (length < GENERIC_IF_LENGTH) countError(counters, 'bad_record');
      else if (counterSink !== undefined) {
        counterSink(genericInterface(b, r, agent, sourceIdType, sourceIdIndex, u32(b, p), ctx.state));
      }
    }
    q = r + length;
  }
  if (j < recordCount) countError(counters, 'bad_sample');
  else if (q !== end) countError(counters, 'bad_sample');
}

function genericInterface(
  b: Uint8Array,
  r: number,
  agent: SflowAgentEntry,
  sourceIdType: number,
  sourceIdIndex: number,
  sampleSequence: number,
  state: SflowAgentState,
): InterfaceCounters {
  const c = (state.scratchCounters ??= createInterfaceCounters());
  c.agent = agent.text;
  c.subAgentId = agent.subAgentId;
  c.sourceIdType = sourceIdType;
  c.sourceIdIndex = sourceIdIndex;
  c.sampleSequence = sampleSequence;
  c.ifIndex = u32(b, r);
  c.ifType = u32(b, r + 4);
  c.ifSpeed = u64(b, r + 8);
  c.ifDirection = u32(b, r + 16);
  const status = u32(b, r + 20);
  c.ifAdminUp = (status & 1) !== 0;
  c.ifOperUp = (status & 2) !== 0;
  c.inOctets = u64(b, r + 24);
  c.inUcastPkts = u32(b, r + 32);
  c.inMulticastPkts = u32(b, r + 36);
  c.inBroadcastPkts = u32(b, r + 40);
  c.inDiscards = u32(b, r + 44);
  c.inErrors = u32(b, r + 48);
  c.inUnknownProtos = u32(b, r + 52);
  c.outOctets = u64(b, r + 56);
  c.outUcastPkts = u32(b, r + 64);
  c.outMulticastPkts = u32(b, r + 68);
  c.outBroadcastPkts = u32(b, r + 72);
  c.outDiscards = u32(b, r + 76);
  c.outErrors = u32(b, r + 80);
  c.promiscuous = u32(b, r + 84);
  return c;
}

/** A zeroed InterfaceCounters (the decoder's reused object starts as one). */
export function createInterfaceCounters(): InterfaceCounters {
  return {
    agent: '',
    subAgentId: 0,
    sourceIdType: 0,
    sourceIdIndex: 0,
    sampleSequence: 0,
    ifIndex: 0,
    ifType: 0,
    ifSpeed: 0,
    ifDirection: 0,
    ifAdminUp: false,
    ifOperUp: false,
    inOctets: 0,
    inUcastPkts: 0,
    inMulticastPkts: 0,
    inBroadcastPkts: 0,
    inDiscards: 0,
    inErrors: 0,
    inUnknownProtos: 0,
    outOctets: 0,
    outUcastPkts: 0,
    outMulticastPkts: 0,
    outBroadcastPkts: 0,
    outDiscards: 0,
    outErrors: 0,
    promiscuous: 0,
  };
}
