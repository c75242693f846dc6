/**
 * GCP VPC Flow Logs: Cloud Logging LogEntry objects whose logName ends in `%2Fvpc_flows`
 * (`compute.googleapis.com%2Fvpc_flows` for subnet-configured logs, `networkmanagement.googleapis.com%2Fvpc_flows`
 * for logs configured through the Network Management API; both carry the same jsonPayload).
 *
 * Shapes of one object's text (sniffed, no option needed):
 * - one JSON LogEntry; a JSON array of entries; newline-delimited JSON, one entry per line (GCS sinks);
 * - a JSON object holding entries in `entries` (Logging API entries.list), `events` (Elastic pipeline
 *   tests) or `receivedMessages` (Pub/Sub pull);
 * - any entry may be wrapped: `{"json": LogEntry}` (Elastic), `{"message": "<LogEntry as a JSON string>"}`,
 *   `{"message": {"data": "<base64 LogEntry>"}}` (Pub/Sub push/pull), nested up to 4 levels.
 *
 * | source field (jsonPayload.)                  | FlowRecord             | notes |
 * |----------------------------------------------|------------------------|-------|
 * | connection.src_ip / dest_ip                  | af, src, dst           | both required, same family, else bad_value (missing: bad_record) |
 * | connection.src_port / dest_port              | srcPort, dstPort       | absent (ICMP and other portless protocols) -> 0 |
 * | connection.protocol                          | protocol               | IANA number; required |
 * | bytes_sent, packets_sent (int64 strings)     | bytes, packets         | JSON numbers accepted too; absent -> 0 |
 * | start_time, end_time (RFC 3339, ns)          | timeStartMs, timeEndMs | fraction truncated to ms; one absent -> the other; both -> the LogEntry `timestamp` |
 * | rtt_msec (string; a number in some exports)  | rttMs                  | else round_trip_time.median_msec; else NaN. GCP fills it for TCP only; kept as given |
 * | reporter SRC / DEST                          | direction              | SRC: the reporting VM sent it -> egress; DEST: it received it -> ingress; else unknown |
 * | (none)                                       | action = accept        | VPC Flow Logs sample accepted traffic only; denied packets appear in Firewall Rules Logging, a different log |
 * | reporter's {src,dest}_instance.vm_name       | exporter               | else that instance's project_id, that side's vpc project_id, resource.labels.project_id, the project in logName; else 'gcp' |
 * | reporter's {src,dest}_instance.region / zone | meta.region, meta.zone | region falls back to the reporter's vpc subnetwork_region |
 * | reporter's {src,dest}_vpc.vpc_name           | meta.vpc               | meta holds only region / vpc / zone; undefined when none is known |
 * | (none)                                       | flows = 1, samplingRate = 1, sourceKind = 'gcp' | |
 *
 * Not read: *_location, *_gke_details, *_google_service, *_gateway, internet_routing_details,
 * load_balancing, psc, network_service: they describe the ends, not the counters, and the enricher
 * reads only region / vpc / zone. There is no sampling rate in the entry: GCP's sampling is applied
 * before logging and the counts are the sampled packets, so samplingRate stays 1.
 *
 * A flow between two VMs that both log is reported twice, once per reporter (reporter SRC from the
 * sender, DEST from the receiver), each with its own counters. That is what GCP sends and this
 * decoder emits both: it does not deduplicate (each reporter is a separate device).
 *
 * Skips (counted, never thrown): text that is no JSON at all -> one 'bad_format'; an NDJSON line or
 * a wrapped message string that is no JSON -> 'bad_format'; an entry that is no LogEntry (not an object,
 * no logName, no jsonPayload or connection, no addresses or protocol) -> 'bad_record'; a LogEntry of
 * another log (firewall, audit, ...) -> 'unsupported'; an unreadable address, port, protocol, count or
 * time -> 'bad_value'. Empty (or blank) text is an object with no entries: nothing emitted, nothing counted.
 */
import { parseAddress } from '../util/address.js';
import { Action, createFlowRecord, Direction, resetFlowRecord, type FlowRecord, type RecordSink } from '../record.js';
import { countSkip, type CloudDecodeCounters, type CloudDecodeOptions } from './cloud-types.js';

type Json = Record<string, unknown>;

/** How deep wrappers ({json: ...}, {message: ...}) may nest around one LogEntry. */
const MAX_WRAP_DEPTH = 4;

export function decodeGcpVpcFlowLog(
  text: string,
  counters: CloudDecodeCounters,
  sink: RecordSink,
  _options?: CloudDecodeOptions,
): void {
  const decoder = new GcpEntryDecoder(counters, sink);
  let start = 0;
  // A UTF-8 byte order mark and leading blanks are not part of the JSON.
  if (text.charCodeAt(0) === 0xfeff) start = 1;
  while (start < text.length && isBlank(text.charCodeAt(start))) start++;
  if (start >= text.length) return;

  const body = start === 0 ? text : text.slice(start);
  let whole: unknown;
  let parsed = false;
  try {
    // For NDJSON this fails at the end of the first line, so trying it first costs little.
    whole = JSON.parse(body);
    parsed = true;
  } catch {
    parsed = false;
  }
  if (parsed) {
    decoder.top(whole);
    return;
  }
  decodeLines(body, decoder, counters);
}

/** Newline-delimited JSON: each line is decoded on its own, a bad line does not stop the rest. */
function decodeLines(body: string, decoder: GcpEntryDecoder, counters: CloudDecodeCounters): void {
  let badLines = 0;
  let objectLines = 0;
  let nonObjectLines = 0;
  let pos = 0;
  const n = body.length;
  while (pos < n) {
    let end = body.indexOf('\n', pos);
    if (end < 0) end = n;
    let a = pos;
    let b = end;
    while (a < b && isBlank(body.charCodeAt(a))) a++;
    while (b > a && isBlank(body.charCodeAt(b - 1))) b--;
    pos = end + 1;
    if (a === b) continue;
    // Only a line that opens an object or array can be an entry; anything else (a fragment of
    // pretty-printed JSON, a stray number) is not this format.
    const c = body.charCodeAt(a);
    if (c !== 0x7b /* { */ && c !== 0x5b /* [ */) {
      badLines++;
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(body.slice(a, b));
    } catch {
      badLines++;
      continue;
    }
    if (isObject(value) || Array.isArray(value)) {
      objectLines++;
      decoder.top(value);
    } else {
      nonObjectLines++;
    }
  }
  // Nothing readable at all: the object is not this format, counted once rather than per line.
  if (objectLines === 0) {
    countSkip(counters, 'bad_format');
    return;
  }
  if (badLines > 0) countSkip(counters, 'bad_format', badLines);
  if (nonObjectLines > 0) countSkip(counters, 'bad_record', nonObjectLines);
}

/** Per-call state: the reused record and the last meta object (shared while its values repeat). */
class GcpEntryDecoder {
  private readonly record: FlowRecord = createFlowRecord();
  private metaRegion: string | undefined = undefined;
  private metaVpc: string | undefined = undefined;
  private metaZone: string | undefined = undefined;
  private meta: Record<string, string> | undefined = undefined;

  constructor(
    private readonly counters: CloudDecodeCounters,
    private readonly sink: RecordSink,
  ) {}

  /** A parsed top-level value: an array of entries, a container of entries, or one entry. */
  top(value: unknown): void {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) this.entry(value[i], 0);
      return;
    }
    if (isObject(value) && value.logName === undefined && value.jsonPayload === undefined) {
      const list = Array.isArray(value.entries)
        ? value.entries
        : Array.isArray(value.events)
          ? value.events
          : Array.isArray(value.receivedMessages)
            ? value.receivedMessages
            : undefined;
      if (list !== undefined) {
        for (let i = 0; i < list.length; i++) this.entry(list[i], 0);
        return;
      }
    }
    this.entry(value, 0);
  }

  /** One entry, possibly wrapped. */
  private entry(value: unknown, depth: number): void {
    const counters = this.counters;
    if (!isObject(value)) {
      countSkip(counters, 'bad_record');
      return;
    }
    if (value.logName !== undefined || value.jsonPayload !== undefined) {
      this.logEntry(value);
      return;
    }
    if (depth >= MAX_WRAP_DEPTH) {
      countSkip(counters, 'bad_record');
      return;
    }
    const inner = value.json !== undefined ? value.json : value.message;
    if (inner === undefined) {
      countSkip(counters, 'bad_record');
      return;
    }
    if (typeof inner === 'string') {
      const parsed = parseJson(inner);
      if (parsed === undefined) countSkip(counters, 'bad_format');
      else this.entry(parsed, depth + 1);
      return;
    }
    // Pub/Sub: {"message": {"data": "<base64 of the LogEntry JSON>", "attributes": ...}}.
    if (isObject(inner) && typeof inner.data === 'string' && inner.logName === undefined) {
      const parsed = parseJson(Buffer.from(inner.data, 'base64').toString('utf8'));
      if (parsed === undefined) countSkip(counters, 'bad_format');
      else this.entry(parsed, depth + 1);
      return;
    }
    this.entry(inner, depth + 1);
  }

  private logEntry(e: Json): void {
    const counters = this.counters;
    const logName = e.logName;
    if (typeof logName !== 'string') {
      countSkip(counters, 'bad_record');
      return;
    }
    if (!isVpcFlowsLogName(logName)) {
      countSkip(counters, 'unsupported');
      return;
    }
    const p = e.jsonPayload;
    if (!isObject(p)) {
      countSkip(counters, 'bad_record');
      return;
    }
    const conn = p.connection;
    if (!isObject(conn)) {
      countSkip(counters, 'bad_record');
      return;
    }
    const srcIp = conn.src_ip;
    const dstIp = conn.dest_ip;
    if (typeof srcIp !== 'string' || typeof dstIp !== 'string' || conn.protocol === undefined) {
      countSkip(counters, 'bad_record');
      return;
    }

    const r = this.record;
    resetFlowRecord(r);
    const af = parseAddress(srcIp, r.src);
    if (af === 0 || parseAddress(dstIp, r.dst) !== af) {
      countSkip(counters, 'bad_value');
      return;
    }
    const protocol = readUint(conn.protocol);
    const srcPort = conn.src_port === undefined ? 0 : readUint(conn.src_port);
    const dstPort = conn.dest_port === undefined ? 0 : readUint(conn.dest_port);
    const bytes = p.bytes_sent === undefined ? 0 : readUint(p.bytes_sent);
    const packets = p.packets_sent === undefined ? 0 : readUint(p.packets_sent);
    if (protocol < 0 || protocol > 255 || srcPort < 0 || srcPort > 65535 || dstPort < 0 || dstPort > 65535 || bytes < 0 || packets < 0) {
      countSkip(counters, 'bad_value');
      return;
    }

    let startMs = p.start_time === undefined ? 0 : readTime(p.start_time);
    let endMs = p.end_time === undefined ? 0 : readTime(p.end_time);
    if (Number.isNaN(startMs) || Number.isNaN(endMs)) {
      countSkip(counters, 'bad_value');
      return;
    }
    if (startMs === 0) startMs = endMs;
    if (endMs === 0) endMs = startMs;
    if (startMs === 0) {
      // Neither end of the interval: the time GCP wrote the entry is the best left.
      const ts = e.timestamp === undefined ? NaN : readTime(e.timestamp);
      if (Number.isNaN(ts) || ts === 0) {
        countSkip(counters, 'bad_value');
        return;
      }
      startMs = ts;
      endMs = ts;
    }

    r.sourceKind = 'gcp';
    r.af = af;
    r.srcPort = srcPort;
    r.dstPort = dstPort;
    r.protocol = protocol;
    r.bytes = bytes;
    r.packets = packets;
    r.timeStartMs = startMs;
    r.timeEndMs = endMs;
    r.flows = 1;
    r.samplingRate = 1;
    // VPC Flow Logs record accepted connections only (firewall denials go to Firewall Rules Logging).
    r.action = Action.accept;
    r.rttMs = readRtt(p);

    const reporter = p.reporter;
    let instance: unknown;
    let vpc: unknown;
    if (reporter === 'SRC') {
      r.direction = Direction.egress;
      instance = p.src_instance;
      vpc = p.src_vpc;
    } else if (reporter === 'DEST') {
      r.direction = Direction.ingress;
      instance = p.dest_instance;
      vpc = p.dest_vpc;
    } else {
      r.direction = Direction.unknown;
    }
    const inst = isObject(instance) ? instance : undefined;
    const net = isObject(vpc) ? vpc : undefined;

    r.exporter =
      nonEmpty(inst?.vm_name) ?? nonEmpty(inst?.project_id) ?? nonEmpty(net?.project_id) ?? resourceProject(e) ?? logNameProject(logName) ?? 'gcp';
    r.meta = this.metaFor(
      nonEmpty(inst?.region) ?? nonEmpty(net?.subnetwork_region),
      nonEmpty(net?.vpc_name),
      nonEmpty(inst?.zone),
    );

    counters.records++;
    this.sink(r);
  }

  /** The meta object for these values, shared with the previous record when they repeat; never mutated. */
  private metaFor(region: string | undefined, vpc: string | undefined, zone: string | undefined): Record<string, string> | undefined {
    if (region === undefined && vpc === undefined && zone === undefined) return undefined;
    if (this.meta !== undefined && region === this.metaRegion && vpc === this.metaVpc && zone === this.metaZone) return this.meta;
    const meta: Record<string, string> = {};
    if (region !== undefined) meta.region = region;
    if (vpc !== undefined) meta.vpc = vpc;
    if (zone !== undefined) meta.zone = zone;
    this.metaRegion = region;
    this.metaVpc = vpc;
    this.metaZone = zone;
    this.meta = meta;
    return meta;
  }
}

/** `projects/P/logs/compute.googleapis.com%2Fvpc_flows` (URL-encoded, as Logging writes it) or decoded. */
function isVpcFlowsLogName(name: string): boolean {
  const n = name.length;
  if (n >= 10 && name.endsWith('/vpc_flows')) return true;
  if (n < 12 || !name.endsWith('vpc_flows')) return false;
  const pct = n - 12;
  return name.charCodeAt(pct) === 0x25 /* % */ && name.charCodeAt(pct + 1) === 0x32 /* 2 */ && (name.charCodeAt(pct + 2) | 0x20) === 0x66 /* f */;
}

function logNameProject(name: string): string | undefined {
  if (!name.startsWith('projects/')) return undefined;
  const end = name.indexOf('/', 9);
  return end > 9 ? name.slice(9, end) : undefined;
}

function resourceProject(e: Json): string | undefined {
  const res = e.resource;
  if (!isObject(res)) return undefined;
  const labels = res.labels;
  return isObject(labels) ? nonEmpty(labels.project_id) : undefined;
}

/** rtt_msec (int64 as a string, or a number), else round_trip_time.median_msec; NaN when absent or unreadable. */
function readRtt(p: Json): number {
  let v = p.rtt_msec;
  if (v === undefined) {
    const rtt = p.round_trip_time;
    if (isObject(rtt)) v = rtt.median_msec;
  }
  if (v === undefined) return NaN;
  const n = readUint(v);
  return n < 0 ? NaN : n;
}

/**
 * A non-negative integer from a JSON number or a decimal string (proto3 JSON writes int64 as a
 * string); -1 when it is neither or exceeds 2^53.
 */
function readUint(v: unknown): number {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : -1;
  if (typeof v !== 'string') return -1;
  const n = v.length;
  if (n === 0 || n > 16) return -1;
  let x = 0;
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    x = x * 10 + d;
  }
  return Number.isSafeInteger(x) ? x : -1;
}

/** RFC 3339 (`2025-09-27T21:34:39.250342106Z`, any fraction length, Z or ±hh:mm) -> ms since the epoch; NaN when invalid. */
function readTime(v: unknown): number {
  if (typeof v !== 'string') return NaN;
  const s = v;
  const n = s.length;
  if (n < 20) return NaN;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  const t = s.charCodeAt(10) | 0x20;
  if (
    s.charCodeAt(4) !== 0x2d ||
    s.charCodeAt(7) !== 0x2d ||
    (t !== 0x74 /* t */ && t !== 0x20) ||
    s.charCodeAt(13) !== 0x3a ||
    s.charCodeAt(16) !== 0x3a ||
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour > 23 ||
    minute > 59 ||
    second > 60 ||
    hour < 0 ||
    minute < 0 ||
    second < 0
  ) {
    return NaN;
  }
  let i = 19;
  let ms = 0;
  if (s.charCodeAt(i) === 0x2e /* . */) {
    i++;
    const fracStart = i;
    while (i < n) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      // Only milliseconds are kept: the rest of the fraction is truncated.
      if (i - fracStart < 3) ms = ms * 10 + d;
      i++;
    }
    const len = i - fracStart;
    if (len === 0) return NaN;
    if (len === 1) ms *= 100;
    else if (len === 2) ms *= 10;
  }
  let offsetMin = 0;
  const z = s.charCodeAt(i);
  if ((z | 0x20) === 0x7a /* z */ && i + 1 === n) {
    // UTC
  } else if ((z === 0x2b || z === 0x2d) && i + 6 === n && s.charCodeAt(i + 3) === 0x3a) {
    const oh = digits(s, i + 1, 2);
    const om = digits(s, i + 4, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return NaN;
    offsetMin = (z === 0x2d ? -1 : 1) * (oh * 60 + om);
  } else {
    return NaN;
  }
  // Date.UTC would roll an impossible day (Feb 30) into the next month: reject it instead.
  if (day > daysInMonth(year, month)) return NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second) + ms - offsetMin * 60000;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function digits(s: string, at: number, len: number): number {
  let x = 0;
  for (let i = at; i < at + len; i++) {
    const d = s.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    x = x * 10 + d;
  }
  return x;
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
