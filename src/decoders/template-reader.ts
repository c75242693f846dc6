/**
 * Compiled record readers: one per NetFlow v9 / IPFIX template.
 *
 * At template time every field is turned into a setter closure chosen by (enterprise, element id,
 * length), with its byte offset precomputed when the template has no variable-length field. The
 * record loop then only runs `setters[i](buf, offset[i], length[i], record, scratch)` and one
 * `finish` closure: no lookup or switch on element ids per record, no allocation per record (a
 * text field allocates a string only when its bytes differ from the previous record's).
 *
 * A fixed-length template that keeps being used (GENERATE_AFTER_RECORDS) is then turned into one
 * generated function with every offset as a literal: one monomorphic call per record instead of a
 * megamorphic call per field, which V8 compiles to straight-line loads and stores. Only offsets,
 * lengths and snippets written here go into the generated text, never bytes from the wire; fields
 * without a snippet still call their setter. Waiting for real use keeps an exporter that churns
 * templates from paying (or forcing) a compile per template.
 */
import { Direction, type FlowRecord } from '../record.js';
import { CISCO_ART, IE, NTOP, NTOP_V9_BASE, NTP_UNIX_OFFSET_S, PEN, VARIABLE_LENGTH } from './information-elements.js';
import { rateFromInterval, rateFromPacketSpacing, rateFromPopulation, type DomainSampling } from './sampling.js';

export interface FieldSpec {
  /** Element id without the enterprise bit. */
  id: number;
  /** Private enterprise number; 0 for IANA elements and for every NetFlow v9 field. */
  enterprise: number;
  /** Bytes on the wire; 65535 = IPFIX variable length. */
  length: number;
}

export type TemplateKind = 'data' | 'options';
export type ExportProtocolVersion = 9 | 10;

/** Domain-level values a record's finish step may read (kept by the domain state). */
export interface DomainTimeBase {
  /** IPFIX systemInitTimeMilliseconds (160) learned from options data; NaN until then. */
  systemInitMs: number;
}

/**
 * Per-exporter scratch space shared by all readers: the header context of the set being decoded
 * and the raw values of the record being decoded that need a second step (uptimes, sampler ids).
 * Plain numeric fields, reused for every record.
 */
export class RecordScratch {
  // Context, set per data set.
  /** NetFlow v9 header sysUptime (ms). */
  headerUptimeMs = 0;
  /** NetFlow v9 header unix_secs in ms (or the receive time when the exporter sent 0). */
  headerUnixMs = 0;
  /** Export time in ms (IPFIX header export time; v9 unix_secs). */
  exportMs = 0;
  overrideRate = 0;
  defaultRate = 1;
  sampling: DomainSampling | undefined = undefined;
  timeBase: DomainTimeBase = { systemInitMs: NaN };
  maxSamplers = 0;
  /** Set when an options record could not store a sampler (table full). */
  samplerLimitHit = false;

  // Raw per-record values.
  startUptime = 0;
  endUptime = 0;
  startDeltaUs = 0;
  endDeltaUs = 0;
  samplerId = 0;
  interval = 0;
  packetInterval = 0;
  packetSpace = 0;
  sampleSize = 0;
  samplePopulation = 0;
  systemInitMs = 0;
  clientLatencyMs = 0;
  serverLatencyMs = 0;
  artConnections = 0;
  artNetworkSum = 0;
  artClientSum = 0;
  artServerSum = 0;
}

export type FieldSetter = (b: Uint8Array, off: number, len: number, r: FlowRecord, s: RecordScratch) => void;
export type RecordFinisher = (r: FlowRecord, s: RecordScratch) => void;

export interface CompiledReader {
  readonly kind: TemplateKind;
  /** True when a field has IPFIX variable length: offsets are then found while reading. */
  readonly variable: boolean;
  /** Record length for fixed templates; 0 for variable ones. */
  readonly fixedLength: number;
  /** Smallest possible record (variable fields count their 1-byte length prefix). */
  readonly minLength: number;
  /** Fixed templates: one step per field that has a setter. Variable: one step per field. */
  readonly setters: FieldSetter[];
  readonly offsets: Int32Array;
  /** Variable templates: the wire length per field (65535 = read the length prefix). */
  readonly lengths: Int32Array;
  readonly finish: RecordFinisher;
  /** Fixed templates: records read so far through the setters, until the generated reader exists. */
  uses: number;
  /** Fixed templates: the generated whole-record reader, once the template has earned it. */
  generated: GeneratedRecordReader | undefined;
}

/** Reads one fixed-length record at `off`: every field, then the finish step. */
export type GeneratedRecordReader = (b: Uint8Array, off: number, r: FlowRecord, s: RecordScratch) => void;

/** Records a fixed template reads through its setters before its generated reader is built. */
export const GENERATE_AFTER_RECORDS = 64;

// ---------------------------------------------------------------------------------------------
// Unsigned big-endian readers, picked by length at compile time. Up to 2^53 exact (8-byte
// counters go through Number: exact for every real counter value).

type UintReader = (b: Uint8Array, o: number) => number;
const u8: UintReader = (b, o) => b[o];
const u16: UintReader = (b, o) => (b[o] << 8) | b[o + 1];
const u24: UintReader = (b, o) => (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
const u32: UintReader = (b, o) => b[o] * 16777216 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
const u64: UintReader = (b, o) => u32(b, o) * 4294967296 + u32(b, o + 4);

function uintReader(len: number): UintReader {
  switch (len) {
    case 1:
      return u8;
    case 2:
      return u16;
    case 3:
      return u24;
    case 4:
      return u32;
    case 8:
      return u64;
    default:
      return (b, o) => readUintN(b, o, len);
  }
}

// ---------------------------------------------------------------------------------------------
// Source snippets for generated readers. `off` is the field's byte offset in the record; the
// generated function has the parameters (b, o, r, s) of a setter, and `src`/`dst` bound to r.src
// and r.dst.

type Emit = (off: number) => string;
const setterCode = new WeakMap<FieldSetter, Emit>();

/** Marks a setter as expressible as source text in a generated reader. */
function coded(fn: FieldSetter, emit: Emit): FieldSetter {
  setterCode.set(fn, emit);
  return fn;
}

const at = (off: number): string => `b[o + ${off}]`;

/** Source of an unsigned big-endian read of 1..8 bytes, mirroring uintReader. */
function uintSource(len: number, off: number): string {
  switch (len) {
    case 1:
      return at(off);
    case 2:
      return `((${at(off)} << 8) | ${at(off + 1)})`;
    case 3:
      return `((${at(off)} << 16) | (${at(off + 1)} << 8) | ${at(off + 2)})`;
    case 4:
      return `(${at(off)} * 16777216 + ((${at(off + 1)} << 16) | (${at(off + 2)} << 8) | ${at(off + 3)}))`;
    case 8:
      return `(${uintSource(4, off)} * 4294967296 + ${uintSource(4, off + 4)})`;
    default: {
      let v = '0';
      for (let i = 0; i < len; i++) v = `(${v} * 256 + ${at(off + i)})`;
      return v;
    }
  }
}

function copySource(target: 'src' | 'dst' | 'r.srcMac' | 'r.dstMac', n: number, off: number): string {
  let code = '';
  for (let i = 0; i < n; i++) code += `${target}[${i}] = ${at(off + i)}; `;
  return code;
}

/** Any length up to 8 bytes (used for reduced-size encodings and variable-length fields). */
export function readUintN(b: Uint8Array, o: number, len: number): number {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + b[o + i];
  return v;
}

const NTP_FRACTION = 4294967296;
const NTP_UNIX_OFFSET_MS = NTP_UNIX_OFFSET_S * 1000;

/** NTP 64-bit timestamp (seconds since 1900 + 32-bit fraction) as Unix ms. */
function ntpToUnixMs(b: Uint8Array, o: number): number {
  const sec = u32(b, o);
  const frac = u32(b, o + 4);
  if (sec === 0 && frac === 0) return 0;
  return sec * 1000 - NTP_UNIX_OFFSET_MS + (frac * 1000) / NTP_FRACTION;
}

// ---------------------------------------------------------------------------------------------
// Text fields: trailing NULs (fixed-length padding) dropped; the string is reused while the bytes
// stay the same, which is the common case (one application per template stream is typical).

const utf8 = new TextDecoder('utf-8', { fatal: false });

function textSetter(assign: (r: FlowRecord, text: string) => void): FieldSetter {
  let cacheBytes = new Uint8Array(0);
  let cacheText = '';
  return (b, o, len, r) => {
    let n = len;
    while (n > 0 && b[o + n - 1] === 0) n--;
    if (n === cacheBytes.length) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (cacheBytes[i] !== b[o + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        assign(r, cacheText);
        return;
      }
    }
    cacheBytes = b.slice(o, o + n);
    cacheText = utf8.decode(cacheBytes);
    assign(r, cacheText);
  };
}

// ---------------------------------------------------------------------------------------------
// Setter selection (compile time only).

function key(enterprise: number, id: number): number {
  return enterprise * 65536 + id;
}

interface FieldPresence {
  has(enterprise: number, id: number): boolean;
}

/** Choices shared between the setters and the finish step of one template. */
interface DataPlan {
  startKind: 'none' | 'absolute' | 'uptime' | 'delta';
  endKind: 'none' | 'absolute' | 'uptime' | 'delta';
  /** The start/end source elements picked (the most precise one when several are present). */
  startIe: number;
  endIe: number;
  recordInterval: boolean;
  recordSpacing: boolean;
  recordPopulation: boolean;
  samplerId: boolean;
  ntopLatency: boolean;
  ciscoArt: 'none' | 'network' | 'client_server';
}

const START_PRIORITY = [
  IE.flowStartMilliseconds,
  IE.flowStartNanoseconds,
  IE.flowStartMicroseconds,
  IE.flowStartSeconds,
  IE.flowStartSysUpTime,
  IE.flowStartDeltaMicroseconds,
];
const END_PRIORITY = [
  IE.flowEndMilliseconds,
  IE.flowEndNanoseconds,
  IE.flowEndMicroseconds,
  IE.flowEndSeconds,
  IE.flowEndSysUpTime,
  IE.flowEndDeltaMicroseconds,
];

function timeKind(ie: number): DataPlan['startKind'] {
  if (ie < 0) return 'none';
  if (ie === IE.flowStartSysUpTime || ie === IE.flowEndSysUpTime) return 'uptime';
  if (ie === IE.flowStartDeltaMicroseconds || ie === IE.flowEndDeltaMicroseconds) return 'delta';
  return 'absolute';
}

/** Time element lengths that are meaningful; other lengths are skipped. */
function timeLengthOk(ie: number, len: number): boolean {
  switch (ie) {
    case IE.flowStartMilliseconds:
    case IE.flowEndMilliseconds:
      return len >= 4 && len <= 8;
    case IE.flowStartMicroseconds:
    case IE.flowEndMicroseconds:
    case IE.flowStartNanoseconds:
    case IE.flowEndNanoseconds:
      return len === 8;
    default:
      return len >= 1 && len <= 4;
  }
}

function planData(fields: FieldSpec[], p: FieldPresence): DataPlan {
  const pick = (prio: number[]): number => {
    for (const ie of prio) {
      const f = fields.find((x) => x.enterprise === 0 && x.id === ie);
      if (f && timeLengthOk(ie, f.length)) return ie;
    }
    return -1;
  };
  const startIe = pick(START_PRIORITY);
  const endIe = pick(END_PRIORITY);
  const ntopV9 = (id: number): boolean => p.has(0, NTOP_V9_BASE + id);
  const ntopIpfix = (id: number): boolean => p.has(PEN.ntop, id);
  const hasCisco = (id: number): boolean => p.has(PEN.cisco, id);
  let ciscoArt: DataPlan['ciscoArt'] = 'none';
  if (hasCisco(CISCO_ART.countNewConnections)) {
    if (hasCisco(CISCO_ART.networkTimeSum)) ciscoArt = 'network';
    else if (hasCisco(CISCO_ART.clientNetworkTimeSum) || hasCisco(CISCO_ART.serverNetworkTimeSum)) ciscoArt = 'client_server';
  }
  return {
    startKind: timeKind(startIe),
    endKind: timeKind(endIe),
    startIe,
    endIe,
    recordInterval: p.has(0, IE.samplingInterval) || p.has(0, IE.samplerRandomInterval),
    recordSpacing: p.has(0, IE.samplingPacketInterval) && p.has(0, IE.samplingPacketSpace),
    recordPopulation: p.has(0, IE.samplingSize) && p.has(0, IE.samplingPopulation),
    samplerId: p.has(0, IE.samplerId) || p.has(0, IE.selectorId),
    ntopLatency:
      ntopV9(NTOP.clientNwLatencyMs) ||
      ntopV9(NTOP.serverNwLatencyMs) ||
      ntopIpfix(NTOP.clientNwLatencyMs) ||
      ntopIpfix(NTOP.serverNwLatencyMs),
    ciscoArt,
  };
}

type NumericScratchField = 'interval' | 'packetInterval' | 'packetSpace' | 'sampleSize' | 'samplePopulation' | 'samplerId' | 'systemInitMs' | 'startUptime' | 'endUptime' | 'startDeltaUs' | 'endDeltaUs';

/*
 * The setters below store through a static property name and compute the value inline from the
 * `len` argument. A keyed store (`r[field]`), or a value returned by a reader shared by several
 * lengths, would box every value beyond 31 bits (8-byte counters, ms timestamps) into a new heap
 * number whenever V8 cannot inline the call. Generated readers use the snippets instead.
 */
const SCRATCH_UINT: Record<NumericScratchField, FieldSetter> = {
  interval: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.interval = v;
  },
  packetInterval: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.packetInterval = v;
  },
  packetSpace: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.packetSpace = v;
  },
  sampleSize: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.sampleSize = v;
  },
  samplePopulation: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.samplePopulation = v;
  },
  samplerId: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.samplerId = v;
  },
  systemInitMs: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.systemInitMs = v;
  },
  startUptime: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.startUptime = v;
  },
  endUptime: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.endUptime = v;
  },
  startDeltaUs: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.startDeltaUs = v;
  },
  endDeltaUs: (b, o, l, _r, s) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    s.endDeltaUs = v;
  },
};

/** A setter storing an unsigned field into the scratch space. */
function scratchSetter(field: NumericScratchField, len: number): FieldSetter {
  const base = SCRATCH_UINT[field];
  // A function object of its own, so that the snippet registered for it is this length's.
  return coded((b, o, l, r, s) => base(b, o, l, r, s), (off) => `s.${field} = ${uintSource(len, off)};`);
}

type NumericRecordField = 'bytes' | 'packets' | 'inputIf' | 'outputIf' | 'timeStartMs' | 'timeEndMs';

const RECORD_UINT: Record<NumericRecordField, FieldSetter> = {
  bytes: (b, o, l, r) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    r.bytes = v;
  },
  packets: (b, o, l, r) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    r.packets = v;
  },
  inputIf: (b, o, l, r) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    r.inputIf = v;
  },
  outputIf: (b, o, l, r) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    r.outputIf = v;
  },
  timeStartMs: (b, o, l, r) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    r.timeStartMs = v;
  },
  timeEndMs: (b, o, l, r) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    r.timeEndMs = v;
  },
};

/** flowStart/EndSeconds: seconds to ms. */
const SECONDS_TO_MS: Record<'timeStartMs' | 'timeEndMs', FieldSetter> = {
  timeStartMs: (b, o, l, r) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    r.timeStartMs = v * 1000;
  },
  timeEndMs: (b, o, l, r) => {
    let v = 0;
    for (let i = 0; i < l; i++) v = v * 256 + b[o + i];
    r.timeEndMs = v * 1000;
  },
};

/** A setter storing an unsigned field into the record (`scale` 1000: seconds stored as ms). */
function recordSetter(field: NumericRecordField, len: number, scale: 1 | 1000 = 1): FieldSetter {
  if (scale === 1000 && (field === 'timeStartMs' || field === 'timeEndMs')) {
    const seconds = SECONDS_TO_MS[field];
    return coded((b, o, l, r, s) => seconds(b, o, l, r, s), (off) => `r.${field} = ${uintSource(len, off)} * 1000;`);
  }
  const base = RECORD_UINT[field];
  return coded((b, o, l, r, s) => base(b, o, l, r, s), (off) => `r.${field} = ${uintSource(len, off)};`);
}

/** Setters for the sampling / init-time elements, shared by data and options templates. */
function samplingSetter(f: FieldSpec, p: FieldPresence): FieldSetter | undefined {
  if (f.enterprise !== 0 || f.length < 1 || f.length > 8) return undefined;
  const len = f.length;
  switch (f.id) {
    case IE.samplingInterval:
      return scratchSetter('interval', len);
    case IE.samplerRandomInterval:
      // samplingInterval wins when both are present.
      if (p.has(0, IE.samplingInterval)) return undefined;
      return scratchSetter('interval', len);
    case IE.samplingPacketInterval:
      return scratchSetter('packetInterval', len);
    case IE.samplingPacketSpace:
      return scratchSetter('packetSpace', len);
    case IE.samplingSize:
      return scratchSetter('sampleSize', len);
    case IE.samplingPopulation:
      return scratchSetter('samplePopulation', len);
    case IE.samplerId:
      return scratchSetter('samplerId', len);
    case IE.selectorId:
      if (p.has(0, IE.samplerId)) return undefined;
      return scratchSetter('samplerId', len);
    default:
      return undefined;
  }
}

function dataSetter(f: FieldSpec, p: FieldPresence, plan: DataPlan, version: ExportProtocolVersion): FieldSetter | undefined {
  const len = f.length;
  if (len === VARIABLE_LENGTH) return variableDataSetter(f, version);
  if (f.enterprise === PEN.ntop) return ntopSetter(f.id, len, p);
  if (f.enterprise === PEN.cisco) return ciscoSetter(f.id, len, plan);
  if (f.enterprise !== 0) return undefined;
  if (version === 9 && f.id > NTOP_V9_BASE && f.id < NTOP_V9_BASE + 32768) {
    return ntopSetter(f.id - NTOP_V9_BASE, len, p);
  }
  const sampling = samplingSetter(f, p);
  if (sampling) return sampling;
  const uint = len <= 8 ? uintReader(len) : undefined;
  switch (f.id) {
    case IE.octetDeltaCount:
      if (!uint) return undefined;
      return recordSetter('bytes', len);
    case IE.octetTotalCount:
      if (!uint || p.has(0, IE.octetDeltaCount)) return undefined;
      return recordSetter('bytes', len);
    case IE.packetDeltaCount:
      if (!uint) return undefined;
      return recordSetter('packets', len);
    case IE.packetTotalCount:
      if (!uint || p.has(0, IE.packetDeltaCount)) return undefined;
      return recordSetter('packets', len);
    case IE.protocolIdentifier:
      if (len !== 1) return undefined;
      return coded(
        (b, o, _l, r) => {
          r.protocol = b[o];
        },
        (off) => `r.protocol = ${at(off)};`,
      );
    case IE.tcpControlBits:
      if (len > 2) return undefined;
      return len === 1
        ? coded(
            (b, o, _l, r) => {
              r.tcpFlags = b[o];
            },
            (off) => `r.tcpFlags = ${at(off)};`,
          )
        : coded(
            (b, o, _l, r) => {
              r.tcpFlags = u16(b, o);
            },
            (off) => `r.tcpFlags = ${uintSource(2, off)};`,
          );
    case IE.sourceTransportPort:
      if (len !== 2) return undefined;
      return coded(
        (b, o, _l, r) => {
          r.srcPort = (b[o] << 8) | b[o + 1];
        },
        (off) => `r.srcPort = ${uintSource(2, off)};`,
      );
    case IE.destinationTransportPort:
      if (len !== 2) return undefined;
      return coded(
        (b, o, _l, r) => {
          r.dstPort = (b[o] << 8) | b[o + 1];
        },
        (off) => `r.dstPort = ${uintSource(2, off)};`,
      );
    case IE.icmpTypeCodeIPv4:
    case IE.icmpTypeCodeIPv6:
      // Type*256+code goes where NetFlow v5 and most collectors put it: the destination port.
      if (len !== 2 || p.has(0, IE.destinationTransportPort)) return undefined;
      return coded(
        (b, o, _l, r) => {
          r.dstPort = (b[o] << 8) | b[o + 1];
        },
        (off) => `r.dstPort = ${uintSource(2, off)};`,
      );
    case IE.sourceIPv4Address:
      if (len !== 4) return undefined;
      return coded(
        (b, o, _l, r) => {
          r.af = 4;
          const a = r.src;
          a[0] = b[o];
          a[1] = b[o + 1];
          a[2] = b[o + 2];
          a[3] = b[o + 3];
        },
        (off) => `r.af = 4; ${copySource('src', 4, off)}`,
      );
    case IE.destinationIPv4Address:
      if (len !== 4) return undefined;
      return coded(
        (b, o, _l, r) => {
          r.af = 4;
          const a = r.dst;
          a[0] = b[o];
          a[1] = b[o + 1];
          a[2] = b[o + 2];
          a[3] = b[o + 3];
        },
        (off) => `r.af = 4; ${copySource('dst', 4, off)}`,
      );
    case IE.sourceIPv6Address:
      if (len !== 16) return undefined;
      return coded(
        (b, o, _l, r) => {
          r.af = 6;
          const a = r.src;
          for (let i = 0; i < 16; i++) a[i] = b[o + i];
        },
        (off) => `r.af = 6; ${copySource('src', 16, off)}`,
      );
    case IE.destinationIPv6Address:
      if (len !== 16) return undefined;
      return coded(
        (b, o, _l, r) => {
          r.af = 6;
          const a = r.dst;
          for (let i = 0; i < 16; i++) a[i] = b[o + i];
        },
        (off) => `r.af = 6; ${copySource('dst', 16, off)}`,
      );
    case IE.ingressInterface:
      if (!uint) return undefined;
      return recordSetter('inputIf', len);
    case IE.egressInterface:
      if (!uint) return undefined;
      return recordSetter('outputIf', len);
    case IE.flowDirection:
      if (len !== 1) return undefined;
      return coded(
        (b, o, _l, r) => {
          const v = b[o];
          r.direction = v === 0 ? Direction.ingress : v === 1 ? Direction.egress : Direction.unknown;
        },
        (off) =>
          `r.direction = ${at(off)} === 0 ? ${Direction.ingress} : ${at(off)} === 1 ? ${Direction.egress} : ${Direction.unknown};`,
      );
    case IE.sourceMacAddress:
    case IE.postSourceMacAddress:
      if (len !== 6 || (f.id === IE.postSourceMacAddress && p.has(0, IE.sourceMacAddress))) return undefined;
      return coded(
        (b, o, _l, r) => {
          const m = r.srcMac;
          for (let i = 0; i < 6; i++) m[i] = b[o + i];
          r.hasSrcMac = true;
        },
        (off) => `${copySource('r.srcMac', 6, off)}r.hasSrcMac = true;`,
      );
    case IE.destinationMacAddress:
    case IE.postDestinationMacAddress:
      if (len !== 6 || (f.id === IE.postDestinationMacAddress && p.has(0, IE.destinationMacAddress))) return undefined;
      return coded(
        (b, o, _l, r) => {
          const m = r.dstMac;
          for (let i = 0; i < 6; i++) m[i] = b[o + i];
          r.hasDstMac = true;
        },
        (off) => `${copySource('r.dstMac', 6, off)}r.hasDstMac = true;`,
      );
    case IE.vlanId:
    case IE.postVlanId:
    case IE.dot1qVlanId: {
      if (len !== 2) return undefined;
      if (f.id === IE.postVlanId && p.has(0, IE.vlanId)) return undefined;
      if (f.id === IE.dot1qVlanId && (p.has(0, IE.vlanId) || p.has(0, IE.postVlanId))) return undefined;
      return coded(
        (b, o, _l, r) => {
          r.vlan = ((b[o] << 8) | b[o + 1]) & 0x0fff;
        },
        (off) => `r.vlan = ${uintSource(2, off)} & 0x0fff;`,
      );
    }
    case IE.applicationId:
      if (len > 8) return undefined;
      return (b, o, l, r) => {
        r.appId = readUintN(b, o, l);
      };
    case IE.applicationName:
      return textSetter((r, t) => {
        r.appName = t;
      });
    case IE.applicationDescription:
      if (p.has(0, IE.applicationName) || hasNtopName(p)) return undefined;
      return textSetter((r, t) => {
        r.appName = t;
      });
    default:
      return timeSetter(f, plan);
  }
}

function hasNtopName(p: FieldPresence): boolean {
  return p.has(PEN.ntop, NTOP.l7ProtoName) || p.has(0, NTOP_V9_BASE + NTOP.l7ProtoName);
}

function timeSetter(f: FieldSpec, plan: DataPlan): FieldSetter | undefined {
  const id = f.id;
  const isStart = id === plan.startIe;
  const isEnd = id === plan.endIe;
  if (!isStart && !isEnd) return undefined;
  const len = f.length;
  // The plan checked the length of the first field with this element; a template may repeat the
  // element with another length (a 200-byte end time read as a number is Infinity).
  if (!timeLengthOk(id, len)) return undefined;
  switch (id) {
    case IE.flowStartMilliseconds:
    case IE.flowEndMilliseconds:
      return recordSetter(isStart ? 'timeStartMs' : 'timeEndMs', len);
    case IE.flowStartSeconds:
    case IE.flowEndSeconds:
      return recordSetter(isStart ? 'timeStartMs' : 'timeEndMs', len, 1000);
    case IE.flowStartMicroseconds:
    case IE.flowEndMicroseconds:
    case IE.flowStartNanoseconds:
    case IE.flowEndNanoseconds:
      return isStart
        ? (b, o, _l, r) => {
            r.timeStartMs = ntpToUnixMs(b, o);
          }
        : (b, o, _l, r) => {
            r.timeEndMs = ntpToUnixMs(b, o);
          };
    case IE.flowStartSysUpTime:
    case IE.flowEndSysUpTime:
      return scratchSetter(isStart ? 'startUptime' : 'endUptime', len);
    case IE.flowStartDeltaMicroseconds:
    case IE.flowEndDeltaMicroseconds:
      return scratchSetter(isStart ? 'startDeltaUs' : 'endDeltaUs', len);
    default:
      return undefined;
  }
}

/** nProbe elements (IPFIX PEN 35632, or NetFlow v9 id - 57472). */
function ntopSetter(id: number, len: number, p: FieldPresence): FieldSetter | undefined {
  switch (id) {
    case NTOP.l7ProtoName:
      return textSetter((r, t) => {
        r.appName = t;
      });
    case NTOP.l7Proto:
      // applicationId (95) wins when both are present.
      if (len < 1 || len > 4 || p.has(0, IE.applicationId)) return undefined;
      return (b, o, l, r) => {
        r.appId = readUintN(b, o, l);
      };
    case NTOP.clientNwLatencyMs:
    case NTOP.serverNwLatencyMs: {
      if (len < 1 || len > 8) return undefined;
      const rd = uintReader(len);
      return id === NTOP.clientNwLatencyMs
        ? (b, o, _l, _r, s) => {
            s.clientLatencyMs = rd(b, o);
          }
        : (b, o, _l, _r, s) => {
            s.serverLatencyMs = rd(b, o);
          };
    }
    default:
      return undefined;
  }
}

function ciscoSetter(id: number, len: number, plan: DataPlan): FieldSetter | undefined {
  if (plan.ciscoArt === 'none' || len < 1 || len > 8) return undefined;
  const rd = uintReader(len);
  switch (id) {
    case CISCO_ART.countNewConnections:
      return (b, o, _l, _r, s) => {
        s.artConnections = rd(b, o);
      };
    case CISCO_ART.networkTimeSum:
      return (b, o, _l, _r, s) => {
        s.artNetworkSum = rd(b, o);
      };
    case CISCO_ART.clientNetworkTimeSum:
      return (b, o, _l, _r, s) => {
        s.artClientSum = rd(b, o);
      };
    case CISCO_ART.serverNetworkTimeSum:
      return (b, o, _l, _r, s) => {
        s.artServerSum = rd(b, o);
      };
    default:
      return undefined;
  }
}

/** IPFIX variable-length fields we read: text and octet-array application elements. */
function variableDataSetter(f: FieldSpec, version: ExportProtocolVersion): FieldSetter | undefined {
  if (version !== 10) return undefined;
  if (f.enterprise === PEN.ntop && f.id === NTOP.l7ProtoName) {
    return textSetter((r, t) => {
      r.appName = t;
    });
  }
  if (f.enterprise !== 0) return undefined;
  switch (f.id) {
    case IE.applicationName:
    case IE.applicationDescription:
      return textSetter((r, t) => {
        if (f.id === IE.applicationName || r.appName === '') r.appName = t;
      });
    case IE.applicationId:
      return (b, o, l, r) => {
        if (l >= 1 && l <= 8) r.appId = readUintN(b, o, l);
      };
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Finish steps.

function uptimeToMs(s: RecordScratch, version: ExportProtocolVersion, uptime: number, anchorUptime: number): number {
  if (version === 9) {
    // Signed 32-bit difference: a flow may end a little after the header's uptime was taken, and the
    // uptime counter wraps after 49.7 days.
    return s.headerUnixMs - ((s.headerUptimeMs - uptime) | 0);
  }
  const init = s.timeBase.systemInitMs;
  if (init === init) return init + uptime; // not NaN
  // IPFIX without systemInitTimeMilliseconds yet: anchor the flow's latest uptime at the export time.
  return s.exportMs - ((anchorUptime - uptime) | 0);
}

function makeDataFinish(plan: DataPlan, version: ExportProtocolVersion): RecordFinisher {
  const { startKind, endKind, recordInterval, recordSpacing, recordPopulation, samplerId, ntopLatency, ciscoArt } = plan;
  const startUp = startKind === 'uptime';
  const endUp = endKind === 'uptime';
  const startDelta = startKind === 'delta';
  const endDelta = endKind === 'delta';
  const noStart = startKind === 'none';
  const noEnd = endKind === 'none';
  const anyRecordRate = recordInterval || recordSpacing || recordPopulation;
  return (r, s) => {
    if (startUp) r.timeStartMs = uptimeToMs(s, version, s.startUptime, endUp ? s.endUptime : s.startUptime);
    else if (startDelta) r.timeStartMs = s.exportMs - s.startDeltaUs / 1000;
    if (endUp) r.timeEndMs = uptimeToMs(s, version, s.endUptime, s.endUptime);
    else if (endDelta) r.timeEndMs = s.exportMs - s.endDeltaUs / 1000;
    if (noStart) r.timeStartMs = r.timeEndMs;
    else if (noEnd) r.timeEndMs = r.timeStartMs;

    let rate = s.overrideRate;
    if (rate === 0 && anyRecordRate) {
      if (recordInterval) rate = rateFromInterval(s.interval);
      if (rate === 0 && recordSpacing) rate = rateFromPacketSpacing(s.packetInterval, s.packetSpace);
      if (rate === 0 && recordPopulation) rate = rateFromPopulation(s.sampleSize, s.samplePopulation);
    }
    const sampling = s.sampling;
    if (rate === 0 && sampling !== undefined) {
      if (samplerId) rate = sampling.samplers.get(s.samplerId) ?? 0;
      if (rate === 0) rate = sampling.effective;
    }
    if (rate === 0) rate = s.defaultRate;
    r.samplingRate = rate >= 1 ? rate : 1;

    if (ntopLatency) {
      // Each is half the RTT on its side of the probe; together they are the end-to-end RTT.
      r.rttMs = s.clientLatencyMs + s.serverLatencyMs;
      s.clientLatencyMs = 0;
      s.serverLatencyMs = 0;
    } else if (ciscoArt !== 'none') {
      const n = s.artConnections;
      if (n > 0) r.rttMs = (ciscoArt === 'network' ? s.artNetworkSum : s.artClientSum + s.artServerSum) / n;
      s.artClientSum = 0;
      s.artServerSum = 0;
    }
  };
}

function makeOptionsFinish(p: FieldPresence): RecordFinisher {
  const hasInterval = p.has(0, IE.samplingInterval) || p.has(0, IE.samplerRandomInterval);
  const hasSpacing = p.has(0, IE.samplingPacketInterval) && p.has(0, IE.samplingPacketSpace);
  const hasPopulation = p.has(0, IE.samplingSize) && p.has(0, IE.samplingPopulation);
  const hasSampler = p.has(0, IE.samplerId) || p.has(0, IE.selectorId);
  const hasInit = p.has(0, IE.systemInitTimeMilliseconds);
  return (_r, s) => {
    let rate = 0;
    if (hasInterval) rate = rateFromInterval(s.interval);
    if (rate === 0 && hasSpacing) rate = rateFromPacketSpacing(s.packetInterval, s.packetSpace);
    if (rate === 0 && hasPopulation) rate = rateFromPopulation(s.sampleSize, s.samplePopulation);
    if (rate > 0 && s.sampling !== undefined) {
      if (!s.sampling.announce(hasSampler ? s.samplerId : -1, rate, s.maxSamplers)) s.samplerLimitHit = true;
    }
    if (hasInit && s.systemInitMs > 0) s.timeBase.systemInitMs = s.systemInitMs;
  };
}

function optionsSetter(f: FieldSpec, p: FieldPresence): FieldSetter | undefined {
  if (f.enterprise !== 0) return undefined;
  if (f.id === IE.systemInitTimeMilliseconds && f.length >= 4 && f.length <= 8) {
    return scratchSetter('systemInitMs', f.length);
  }
  return samplingSetter(f, p);
}

// ---------------------------------------------------------------------------------------------

/**
 * Compiles a validated template (every length 1..65535, 65535 only for IPFIX) into a reader.
 * `scopeCount` leading fields of an options template are scope fields: in NetFlow v9 their types
 * are scope types (1 System, 2 Interface...), not elements, so they are only skipped.
 */
export function compileReader(
  fields: readonly FieldSpec[],
  kind: TemplateKind,
  scopeCount: number,
  version: ExportProtocolVersion,
): CompiledReader {
  const present = new Set<number>();
  fields.forEach((f, i) => {
    if (!(kind === 'options' && version === 9 && i < scopeCount)) present.add(key(f.enterprise, f.id));
  });
  const p: FieldPresence = { has: (e, id) => present.has(key(e, id)) };
  const plan = kind === 'data' ? planData(fields as FieldSpec[], p) : undefined;
  const variable = fields.some((f) => f.length === VARIABLE_LENGTH);
  const pickSetter = (f: FieldSpec, i: number): FieldSetter | undefined => {
    if (kind === 'options') {
      if (version === 9 && i < scopeCount) return undefined;
      if (f.length === VARIABLE_LENGTH) return undefined;
      return optionsSetter(f, p);
    }
    return dataSetter(f, p, plan as DataPlan, version);
  };

  const setters: FieldSetter[] = [];
  const offs: number[] = [];
  const lens: number[] = [];
  let off = 0;
  let minLength = 0;
  fields.forEach((f, i) => {
    const setter = pickSetter(f, i);
    if (variable) {
      setters.push(setter ?? skipField);
      lens.push(f.length);
      minLength += f.length === VARIABLE_LENGTH ? 1 : f.length;
    } else if (setter) {
      setters.push(setter);
      offs.push(off);
      lens.push(f.length);
    }
    if (f.length !== VARIABLE_LENGTH) off += f.length;
  });
  if (!variable) minLength = off;
  const finish = kind === 'data' ? makeDataFinish(plan as DataPlan, version) : makeOptionsFinish(p);
  return {
    kind,
    variable,
    fixedLength: variable ? 0 : off,
    minLength,
    setters,
    offsets: Int32Array.from(offs),
    lengths: Int32Array.from(lens),
    finish,
    uses: 0,
    generated: undefined,
  };
}

/**
 * The generated reader of a fixed-length template: the same steps as its setters, in the same
 * order, as one function. Text is built only from offsets, lengths and the snippets above.
 */
export function generateRecordReader(rd: CompiledReader): GeneratedRecordReader {
  if (rd.variable) throw new Error('only fixed-length templates get a generated reader');
  let body = '';
  for (let i = 0; i < rd.setters.length; i++) {
    const emit = setterCode.get(rd.setters[i]);
    const off = rd.offsets[i];
    body += emit !== undefined ? `  ${emit(off)}\n` : `  S[${i}](b, o + ${off}, ${rd.lengths[i]}, r, s);\n`;
  }
  const source =
    `"use strict";\nreturn function readRecord(b, o, r, s) {\n  const src = r.src, dst = r.dst;\n${body}  F(r, s);\n};`;
  const make = new Function('S', 'F', source) as (setters: FieldSetter[], finish: RecordFinisher) => GeneratedRecordReader;
  return make(rd.setters, rd.finish);
}

const skipField: FieldSetter = () => undefined;

/** Runs a fixed-length reader over the record at `off` (the caller checked the bounds). */
export function readFixedRecord(rd: CompiledReader, b: Uint8Array, off: number, r: FlowRecord, s: RecordScratch): void {
  const generated = rd.generated;
  if (generated !== undefined) {
    generated(b, off, r, s);
    return;
  }
  if (++rd.uses >= GENERATE_AFTER_RECORDS) rd.generated = generateRecordReader(rd);
  const setters = rd.setters;
  const offsets = rd.offsets;
  const lengths = rd.lengths;
  for (let i = 0; i < setters.length; i++) setters[i](b, off + offsets[i], lengths[i], r, s);
  rd.finish(r, s);
}

/**
 * Runs a variable-length reader from `off`; returns the offset after the record, or -1 when the
 * record does not fit before `end` (nothing is finished then).
 */
export function readVariableRecord(
  rd: CompiledReader,
  b: Uint8Array,
  off: number,
  end: number,
  r: FlowRecord,
  s: RecordScratch,
): number {
  const setters = rd.setters;
  const lengths = rd.lengths;
  let o = off;
  for (let i = 0; i < setters.length; i++) {
    let len = lengths[i];
    if (len === VARIABLE_LENGTH) {
      if (o >= end) return -1;
      len = b[o++];
      if (len === 255) {
        // RFC 7011 7: 255 announces a 3-byte form (255, then a 16-bit length).
        if (o + 2 > end) return -1;
        len = (b[o] << 8) | b[o + 1];
        o += 2;
      }
    }
    if (o + len > end) return -1;
    setters[i](b, o, len, r, s);
    o += len;
  }
  rd.finish(r, s);
  return o;
}
