/**
 * AWS VPC Flow Logs and Transit Gateway Flow Logs: text in, FlowRecords out.
 *
 * Accepted objects (sniffed from the text):
 * - S3 delivery text: an optional header line naming the fields (the S3 files carry one), then one
 *   space-separated record per line. Without a header: `options.awsFormat` (`${version} ${account-id}`
 *   or `version account-id` spelling), else the default version 2 format. A header line found later
 *   in the text (concatenated objects) switches the layout from there on.
 * - CloudWatch Logs subscription payloads: `{"messageType":"DATA_MESSAGE", ..., "logEvents":[{"message"}]}`,
 *   one record per message in `options.awsFormat` or the default format; CONTROL_MESSAGE emits nothing.
 *   Several JSON documents back to back (one per line, or concatenated as Firehose writes them) are
 *   decoded one after the other; `{"message":"..."}` documents are read as one record each.
 *
 * Field mapping (fields are found by name, in any order; '-' means absent):
 *
 * | source field                          | FlowRecord                                                       |
 * |---------------------------------------|------------------------------------------------------------------|
 * | srcaddr / dstaddr                     | src / dst, af (4 or 6; both ends must agree, else bad_value)      |
 * | pkt-srcaddr / pkt-dstaddr             | src / dst only where srcaddr / dstaddr are '-' or not logged      |
 * | srcport / dstport                     | srcPort / dstPort ('-' -> 0)                                      |
 * | protocol                              | protocol (already the IANA number)                                |
 * | packets / bytes                       | packets / bytes ('-' -> 0)                                        |
 * | start / end                           | timeStartMs / timeEndMs (Unix seconds * 1000; '-' -> 0)           |
 * | action ACCEPT / REJECT                | action accept / reject ('-' or not logged -> unknown)             |
 * | log-status OK                         | the record is emitted                                             |
 * | log-status NODATA / SKIPDATA          | skipped, reason 'no_data'                                         |
 * | flow-direction ingress / egress       | direction ingress / egress (VPC logs only; otherwise unknown)     |
 * | tcp-flags                             | tcpFlags (AWS ORs the flags seen in the window)                   |
 * | interface-id, else tgw-id, else account-id | exporter (else 'aws')                                        |
 * | region                                | meta.region                                                       |
 * | vpc-id, else tgw-src-vpc-id, else tgw-dst-vpc-id | meta.vpc                                               |
 * | az-id, else tgw-src-az-id, else tgw-dst-az-id    | meta.zone                                              |
 * | everything else (version, resource-type, subnet/instance ids, type, sublocation-*, pkt-*-aws-service, traffic-path, ecs-*, reject-reason, tgw-*-subnet/eni/account, tgw-pair-attachment-id, packets-lost-*) | not used: flowgauge labels only region/vpc/zone, and lost packets are not traffic |
 *
 * sourceKind 'aws', flows 1, samplingRate 1 (flow logs are not sampled). meta is undefined when none
 * of region/vpc/zone is known; one meta object is shared by consecutive records with the same values.
 *
 * Skips: a line whose field count differs from the layout -> 'bad_record'; a value that does not parse
 * (address, port > 65535, protocol > 255, counter, time, unknown action/log-status/direction, an IPv4
 * source with an IPv6 destination) -> 'bad_value'; a JSON document that does not parse or is not a
 * CloudWatch Logs payload -> 'bad_format'; a log event without a string message -> 'bad_record'.
 */
import type { CloudDecodeCounters, CloudDecodeOptions } from './cloud-types.js';
import { countSkip } from './cloud-types.js';
import { Action, createFlowRecord, Direction, resetFlowRecord, type FlowRecord, type RecordSink } from '../record.js';
import { parseAddress } from '../util/address.js';

/** The fields this decoder reads; every other field name is a column it steps over. */
const F = {
  accountId: 0,
  interfaceId: 1,
  srcaddr: 2,
  dstaddr: 3,
  srcport: 4,
  dstport: 5,
  protocol: 6,
  packets: 7,
  bytes: 8,
  start: 9,
  end: 10,
  action: 11,
  logStatus: 12,
  vpcId: 13,
  azId: 14,
  region: 15,
  tcpFlags: 16,
  pktSrcaddr: 17,
  pktDstaddr: 18,
  flowDirection: 19,
  tgwId: 20,
  tgwSrcVpcId: 21,
  tgwDstVpcId: 22,
  tgwSrcAzId: 23,
  tgwDstAzId: 24,
} as const;
const FIELD_SLOTS = 25;

const USED_FIELDS: ReadonlyMap<string, number> = new Map([
  ['account-id', F.accountId],
  ['interface-id', F.interfaceId],
  ['srcaddr', F.srcaddr],
  ['dstaddr', F.dstaddr],
  ['srcport', F.srcport],
  ['dstport', F.dstport],
  ['protocol', F.protocol],
  ['packets', F.packets],
  ['bytes', F.bytes],
  ['start', F.start],
  ['end', F.end],
  ['action', F.action],
  ['log-status', F.logStatus],
  ['vpc-id', F.vpcId],
  ['az-id', F.azId],
  ['region', F.region],
  ['tcp-flags', F.tcpFlags],
  ['pkt-srcaddr', F.pktSrcaddr],
  ['pkt-dstaddr', F.pktDstaddr],
  ['flow-direction', F.flowDirection],
  ['tgw-id', F.tgwId],
  ['tgw-src-vpc-id', F.tgwSrcVpcId],
  ['tgw-dst-vpc-id', F.tgwDstVpcId],
  ['tgw-src-az-id', F.tgwSrcAzId],
  ['tgw-dst-az-id', F.tgwDstAzId],
]);

/** Every field name AWS documents for VPC (v2..v8) and Transit Gateway flow logs: what a header line is made of. */
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  ...USED_FIELDS.keys(),
  'version', 'subnet-id', 'instance-id', 'type', 'sublocation-type', 'sublocation-id',
  'pkt-src-aws-service', 'pkt-dst-aws-service', 'traffic-path', 'reject-reason',
  'ecs-cluster-arn', 'ecs-cluster-name', 'ecs-container-instance-arn', 'ecs-container-instance-id',
  'ecs-container-id', 'ecs-second-container-id', 'ecs-service-name', 'ecs-task-definition-arn',
  'ecs-task-arn', 'ecs-task-id',
  'resource-type', 'tgw-attachment-id', 'tgw-src-vpc-account-id', 'tgw-dst-vpc-account-id',
  'tgw-src-subnet-id', 'tgw-dst-subnet-id', 'tgw-src-eni', 'tgw-dst-eni', 'tgw-pair-attachment-id',
  'packets-lost-no-route', 'packets-lost-blackhole', 'packets-lost-mtu-exceeded', 'packets-lost-ttl-expired',
]);

/** The AWS default VPC flow log format (version 2). */
export const AWS_DEFAULT_FORMAT =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';

/** A compiled field list: the column of each used field (-1 when not logged) and the column count. */
interface Layout {
  columns: number;
  at: Int16Array;
  /** Transit Gateway records: the reporter is a gateway between the ends, not one of them. */
  transitGateway: boolean;
}

/**
 * Why `format` (a flow log's field list, `${name}` or `name` spelling) cannot be used, or undefined
 * when it can: the decoder would otherwise fall back to the default format without a word.
 */
export function checkAwsFormat(format: string): string | undefined {
  const names = format.replace(/\$\{([^}]*)\}/g, '$1').trim().split(/\s+/).filter((n) => n !== '');
  if (names.length === 0) return 'the AWS flow log format is empty: give its field list, e.g. "${version} ${account-id} ${interface-id} ..."';
  const unknown = names.filter((n) => !KNOWN_FIELDS.has(n));
  if (unknown.length > 0) {
    return `the AWS flow log format names unknown field(s) ${unknown.map((n) => `"${n}"`).join(', ')}; fields are AWS's names, e.g. ${AWS_DEFAULT_FORMAT}`;
  }
  return undefined;
}

/** Compiles a field list (header line or format string, `${name}` or `name` spelling); null when it names no field. */
function compileLayout(format: string): Layout | null {
  const names = format.replace(/\$\{([^}]*)\}/g, '$1').trim().split(/\s+/);
  if (names.length === 0 || names[0] === '') return null;
  const at = new Int16Array(FIELD_SLOTS).fill(-1);
  let transitGateway = false;
  let known = 0;
  names.forEach((name, column) => {
    const slot = USED_FIELDS.get(name);
    if (slot !== undefined && at[slot] < 0) at[slot] = column;
    if (KNOWN_FIELDS.has(name)) known++;
    if (name.startsWith('tgw-') || name === 'resource-type') transitGateway = true;
  });
  return known > 0 ? { columns: names.length, at, transitGateway } : null;
}

const DEFAULT_LAYOUT = compileLayout(AWS_DEFAULT_FORMAT) as Layout;

/** Per call: the reused record, the token positions of the current line, and the label caches. */
class DecodeState {
  readonly record: FlowRecord = createFlowRecord();
  /** Token i of the current line is text[starts[i], ends[i]). */
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  tokens = 0;
  exporter = 'aws';
  meta: Record<string, string> | undefined = undefined;
  metaRegion = '';
  metaVpc = '';
  metaZone = '';
  constructor(
    readonly counters: CloudDecodeCounters,
    readonly sink: RecordSink,
  ) {
    this.record.sourceKind = 'aws';
  }
}

const SPACE = 32;
const TAB = 9;
const CR = 13;
const LF = 10;
const DASH = 45;

/** Splits text[from, to) on runs of blanks; stops counting positions past `limit` tokens (the line is bad then anyway). */
function tokenize(st: DecodeState, text: string, from: number, to: number, limit: number): void {
  let n = 0;
  let i = from;
  while (i < to) {
    let c = text.charCodeAt(i);
    while (i < to && (c === SPACE || c === TAB || c === CR)) c = text.charCodeAt(++i);
    if (i >= to) break;
    const s = i;
    while (i < to && c !== SPACE && c !== TAB && c !== CR) c = text.charCodeAt(++i);
    if (n < limit) {
      if (n === st.starts.length) {
        const grownStarts = new Int32Array(n * 2);
        grownStarts.set(st.starts);
        st.starts = grownStarts;
        const grownEnds = new Int32Array(n * 2);
        grownEnds.set(st.ends);
        st.ends = grownEnds;
      }
      st.starts[n] = s;
      st.ends[n] = i;
    }
    n++;
  }
  st.tokens = n;
}

function isDash(text: string, s: number, e: number): boolean {
  return e - s === 1 && text.charCodeAt(s) === DASH;
}

function tokenEquals(text: string, s: number, e: number, word: string): boolean {
  return e - s === word.length && text.startsWith(word, s);
}

/** A decimal integer of at most 15 digits (exact in a double); '-' is `absent`; -1 when not a number. */
function parseCount(text: string, s: number, e: number, absent: number): number {
  if (isDash(text, s, e)) return absent;
  if (e <= s || e - s > 15) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Dotted-quad IPv4 straight from the characters into out[0..3]; false when text[s, e) is not one. */
function parseIPv4(text: string, s: number, e: number, out: Uint8Array): boolean {
  let octet = 0;
  let digits = 0;
  let k = 0;
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // A leading zero followed by more digits is not a dotted quad (isIP rejects it too).
      if (digits === 1 && octet === 0) return false;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return false;
    } else if (c === 46 && digits > 0 && k < 3) {
      out[k++] = octet;
      octet = 0;
      digits = 0;
    } else return false;
  }
  if (k !== 3 || digits === 0) return false;
  out[3] = octet;
  return true;
}

/** IPv4 without allocating, IPv6 (anything with a colon) through parseAddress; 0 when invalid. */
function parseAddr(text: string, s: number, e: number, out: Uint8Array): 0 | 4 | 6 {
  if (parseIPv4(text, s, e, out)) {
    for (let j = 4; j < 16; j++) out[j] = 0;
    return 4;
  }
  for (let i = s; i < e; i++) if (text.charCodeAt(i) === 58) return parseAddress(text.slice(s, e), out);
  return 0;
}

/** The exporter label: reuses the previous string while the id is the same. */
function exporterOf(st: DecodeState, text: string, s: number, e: number): string {
  if (!tokenEquals(text, s, e, st.exporter)) st.exporter = text.slice(s, e);
  return st.exporter;
}

/** Whether column `col` (-1 = not logged, '-' = absent) holds `prev` ('' standing for absent). */
function sameValue(st: DecodeState, text: string, col: number, prev: string): boolean {
  if (col < 0 || isDash(text, st.starts[col], st.ends[col])) return prev === '';
  return tokenEquals(text, st.starts[col], st.ends[col], prev);
}

function valueAt(st: DecodeState, text: string, col: number): string {
  return col < 0 || isDash(text, st.starts[col], st.ends[col]) ? '' : text.slice(st.starts[col], st.ends[col]);
}

/** One meta object for consecutive records with the same region/vpc/zone; undefined when none is known. */
function metaOf(st: DecodeState, text: string, region: number, vpc: number, zone: number): Record<string, string> | undefined {
  if (sameValue(st, text, region, st.metaRegion) && sameValue(st, text, vpc, st.metaVpc) && sameValue(st, text, zone, st.metaZone)) {
    return st.meta;
  }
  st.metaRegion = valueAt(st, text, region);
  st.metaVpc = valueAt(st, text, vpc);
  st.metaZone = valueAt(st, text, zone);
  // Ids are kept as logged, non-ASCII characters included: they are labels, not addresses.
  const meta: Record<string, string> = {};
  if (st.metaRegion !== '') meta.region = st.metaRegion;
  if (st.metaVpc !== '') meta.vpc = st.metaVpc;
  if (st.metaZone !== '') meta.zone = st.metaZone;
  st.meta = st.metaRegion === '' && st.metaVpc === '' && st.metaZone === '' ? undefined : meta;
  return st.meta;
}

/** The first logged, non-'-' column of a preference list; -1 when none. */
function firstPresent(st: DecodeState, text: string, a: number, b: number, c = -1): number {
  if (a >= 0 && !isDash(text, st.starts[a], st.ends[a])) return a;
  if (b >= 0 && !isDash(text, st.starts[b], st.ends[b])) return b;
  if (c >= 0 && !isDash(text, st.starts[c], st.ends[c])) return c;
  return -1;
}

/** Decodes one record line text[from, to) in `layout`; counts and emits or skips it. */
function decodeRecord(st: DecodeState, text: string, from: number, to: number, layout: Layout): void {
  const { counters } = st;
  tokenize(st, text, from, to, layout.columns + 1);
  if (st.tokens === 0) return;
  if (st.tokens !== layout.columns) {
    countSkip(counters, 'bad_record');
    return;
  }
  const at = layout.at;
  const s = st.starts;
  const e = st.ends;

  // NODATA / SKIPDATA first: such lines carry '-' in most fields. (The synthetic Elastic samples put
  // counts on NODATA/SKIPDATA lines as well; AWS says the window has no usable data, so they are skipped.)
  const ls = at[F.logStatus];
  if (ls >= 0 && !isDash(text, s[ls], e[ls]) && !tokenEquals(text, s[ls], e[ls], 'OK')) {
    if (tokenEquals(text, s[ls], e[ls], 'NODATA') || tokenEquals(text, s[ls], e[ls], 'SKIPDATA')) countSkip(counters, 'no_data');
    else countSkip(counters, 'bad_value');
    return;
  }

  const rec = st.record;
  resetFlowRecord(rec);

  // srcaddr/dstaddr are the interface's view of the flow (for a NAT gateway or a TGW ENI they name the
  // interface itself where pkt-* name the original hosts): that is what flow-direction and the
  // device/peer orientation refer to. pkt-* stand in only where srcaddr/dstaddr are not logged.
  const srcCol = firstPresent(st, text, at[F.srcaddr], at[F.pktSrcaddr]);
  const dstCol = firstPresent(st, text, at[F.dstaddr], at[F.pktDstaddr]);
  let srcAf = 0;
  let dstAf = 0;
  if (srcCol >= 0 && (srcAf = parseAddr(text, s[srcCol], e[srcCol], rec.src)) === 0) return badValue(st);
  if (dstCol >= 0 && (dstAf = parseAddr(text, s[dstCol], e[dstCol], rec.dst)) === 0) return badValue(st);
  // One flow has one address family; the synthetic Elastic ECS samples pair IPv4 with IPv6.
  if (srcAf !== 0 && dstAf !== 0 && srcAf !== dstAf) return badValue(st);
  rec.af = (srcAf || dstAf) as 0 | 4 | 6;

  let col = at[F.srcport];
  if (col >= 0 && (rec.srcPort = parseCount(text, s[col], e[col], 0)) > 65535) return badValue(st);
  col = at[F.dstport];
  if (col >= 0 && (rec.dstPort = parseCount(text, s[col], e[col], 0)) > 65535) return badValue(st);
  col = at[F.protocol];
  if (col >= 0 && (rec.protocol = parseCount(text, s[col], e[col], 0)) > 255) return badValue(st);
  col = at[F.tcpFlags];
  if (col >= 0 && (rec.tcpFlags = parseCount(text, s[col], e[col], 0)) > 255) return badValue(st);
  col = at[F.packets];
  if (col >= 0) rec.packets = parseCount(text, s[col], e[col], 0);
  col = at[F.bytes];
  if (col >= 0) rec.bytes = parseCount(text, s[col], e[col], 0);
  col = at[F.start];
  if (col >= 0) rec.timeStartMs = parseCount(text, s[col], e[col], 0) * 1000;
  col = at[F.end];
  if (col >= 0) rec.timeEndMs = parseCount(text, s[col], e[col], 0) * 1000;
  if (
    rec.srcPort < 0 || rec.dstPort < 0 || rec.protocol < 0 || rec.tcpFlags < 0 ||
    rec.packets < 0 || rec.bytes < 0 || rec.timeStartMs < 0 || rec.timeEndMs < 0
  ) {
    return badValue(st);
  }

  col = at[F.action];
  if (col >= 0 && !isDash(text, s[col], e[col])) {
    if (tokenEquals(text, s[col], e[col], 'ACCEPT')) rec.action = Action.accept;
    else if (tokenEquals(text, s[col], e[col], 'REJECT')) rec.action = Action.reject;
    else return badValue(st);
  }

  col = at[F.flowDirection];
  if (col >= 0 && !isDash(text, s[col], e[col])) {
    let direction: Direction;
    if (tokenEquals(text, s[col], e[col], 'ingress')) direction = Direction.ingress;
    else if (tokenEquals(text, s[col], e[col], 'egress')) direction = Direction.egress;
    else return badValue(st);
    // A transit gateway's ingress/egress is about its attachment, which is neither end of the flow:
    // claiming it would make the orientation pick the wrong device, so TGW records stay unknown.
    if (!layout.transitGateway) rec.direction = direction;
  }

  const exporterCol = firstPresent(st, text, at[F.interfaceId], at[F.tgwId], at[F.accountId]);
  rec.exporter = exporterCol >= 0 ? exporterOf(st, text, s[exporterCol], e[exporterCol]) : 'aws';
  rec.meta = metaOf(
    st,
    text,
    at[F.region],
    firstPresent(st, text, at[F.vpcId], at[F.tgwSrcVpcId], at[F.tgwDstVpcId]),
    firstPresent(st, text, at[F.azId], at[F.tgwSrcAzId], at[F.tgwDstAzId]),
  );
  rec.sourceKind = 'aws';
  counters.records++;
  st.sink(rec);
}

function badValue(st: DecodeState): void {
  countSkip(st.counters, 'bad_value');
}

/** A header line: only name-shaped tokens ([a-z][a-z0-9-]*), the first one a documented field name. */
function headerLayout(st: DecodeState, text: string, from: number, to: number): Layout | null {
  const c0 = text.charCodeAt(from);
  if (c0 < 97 || c0 > 122) return null;
  // Data lines of a custom format can start lower case too (eni-..., i-...): look at the first token only first.
  let firstEnd = from;
  while (firstEnd < to) {
    const c = text.charCodeAt(firstEnd);
    if (c === SPACE || c === TAB || c === CR) break;
    firstEnd++;
  }
  if (!KNOWN_FIELDS.has(text.slice(from, firstEnd))) return null;
  tokenize(st, text, from, to, 1 << 16);
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const nameChar = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === DASH || c === SPACE || c === TAB || c === CR;
    if (!nameChar) return null;
  }
  for (let t = 0; t < st.tokens; t++) if (isDash(text, st.starts[t], st.ends[t])) return null;
  return compileLayout(text.slice(from, to));
}

/** S3 delivery text: header (optional) and record lines. */
function decodeLines(st: DecodeState, text: string, configured: Layout, start: number): void {
  let layout = configured;
  let from = start;
  const n = text.length;
  while (from < n) {
    let to = text.indexOf('\n', from);
    if (to < 0) to = n;
    let first = from;
    while (first < to) {
      const c = text.charCodeAt(first);
      if (c !== SPACE && c !== TAB && c !== CR) break;
      first++;
    }
    if (first < to) {
      const header = headerLayout(st, text, first, to);
      if (header) layout = header;
      else decodeRecord(st, text, first, to, layout);
    }
    from = to + 1;
  }
}

/**
 * Splits text into its top-level JSON values (one document, NDJSON, or documents back to back as
 * Firehose concatenates them) by tracking braces outside strings. Returns [start, end) pairs; an
 * unterminated value runs to the end of the text (JSON.parse then rejects it).
 */
function jsonDocuments(text: string, start: number): number[] {
  const spans: number[] = [];
  let depth = 0;
  let inString = false;
  let docStart = -1;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
      continue;
    }
    if (depth === 0 && docStart < 0) {
      if (c === SPACE || c === TAB || c === CR || c === LF) continue;
      docStart = i;
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) depth--;
    if (depth <= 0 && (c === 125 || c === 93 || depth < 0)) {
      spans.push(docStart, i + 1);
      docStart = -1;
      depth = 0;
    }
  }
  if (docStart >= 0) spans.push(docStart, text.length);
  return spans;
}

function decodeJson(st: DecodeState, text: string, start: number, layout: Layout): void {
  const spans = jsonDocuments(text, start);
  for (let k = 0; k < spans.length; k += 2) {
    let doc: unknown;
    try {
      doc = JSON.parse(text.slice(spans[k], spans[k + 1]));
    } catch {
      countSkip(st.counters, 'bad_format');
      continue;
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      countSkip(st.counters, 'bad_format');
      continue;
    }
    const o = doc as Record<string, unknown>;
    // CloudWatch Logs checks the subscription with a CONTROL_MESSAGE: it carries no flow records.
    if (o.messageType === 'CONTROL_MESSAGE') continue;
    if (Array.isArray(o.logEvents)) {
      for (const event of o.logEvents as unknown[]) {
        const message = event !== null && typeof event === 'object' ? (event as Record<string, unknown>).message : undefined;
        if (typeof message !== 'string') countSkip(st.counters, 'bad_record');
        else decodeMessage(st, message, layout);
      }
    } else if (typeof o.message === 'string') {
      decodeMessage(st, o.message, layout);
    } else {
      countSkip(st.counters, 'bad_format');
    }
  }
}

/** One CloudWatch log event: one record, never a header. */
function decodeMessage(st: DecodeState, message: string, layout: Layout): void {
  const nl = message.indexOf('\n');
  const to = nl < 0 ? message.length : nl;
  tokenize(st, message, 0, to, 1);
  if (st.tokens === 0) {
    countSkip(st.counters, 'bad_record');
    return;
  }
  decodeRecord(st, message, 0, to, layout);
}

/**
 * Decodes one AWS VPC / Transit Gateway flow-log object (S3 text or a CloudWatch Logs subscription
 * payload, already decompressed). Emits through `sink` one reused record (copy what you keep);
 * never throws for bad input: bad lines are counted in `counters.skipped` and skipped.
 */
/** Whether a line is a flow-log header (as the decoder reads one): field names only, the first a known one. */
function isHeaderLine(text: string, from: number, to: number): boolean {
  const c0 = text.charCodeAt(from);
  if (c0 < 97 || c0 > 122) return false;
  // Data lines can start lower case too (eni-...): the first token decides most lines cheaply.
  let firstEnd = from;
  while (firstEnd < to && text.charCodeAt(firstEnd) !== SPACE && text.charCodeAt(firstEnd) !== TAB && text.charCodeAt(firstEnd) !== CR) firstEnd++;
  if (!KNOWN_FIELDS.has(text.slice(from, firstEnd))) return false;
  return text
    .slice(from, to)
    .trim()
    .split(/[ \t]+/)
    .every((t) => /^[a-z0-9][a-z0-9-]*$/.test(t));
}

/**
 * Cuts S3-delivery text into pieces of about `maxChars` at line ends, so that a caller can decode
 * a large object piece by piece (and let other work run in between) with the same result as
 * decoding it whole: every piece after the first starts with the header line in force where it
 * begins (the object's own, or a later one of concatenated objects), if there is one. JSON
 * (CloudWatch Logs payloads) and text within `maxChars` come back whole.
 */
export function splitAwsFlowLogText(text: string, maxChars: number): string[] {
  if (text.length <= maxChars) return [text];
  let lead = 0;
  while (lead < text.length && (text.charCodeAt(lead) === SPACE || text.charCodeAt(lead) === 10 || text.charCodeAt(lead) === CR || text.charCodeAt(lead) === TAB)) lead++;
  const c = text.charCodeAt(lead);
  if (c === 0x7b || c === 0x5b) return [text];
  const pieces: string[] = [];
  let header: string | undefined;
  let from = 0;
  while (from < text.length) {
    let to = Math.min(text.length, from + maxChars);
    if (to < text.length) {
      const nl = text.indexOf('\n', to - 1);
      to = nl < 0 ? text.length : nl + 1;
    }
    const piece = text.slice(from, to);
    pieces.push(header === undefined ? piece : `${header}\n${piece}`);
    // The header in force after this piece: its last header line, else the one before.
    for (let line = from; line < to; ) {
      let end = text.indexOf('\n', line);
      if (end < 0 || end > to) end = to;
      if (isHeaderLine(text, line, end)) header = text.slice(line, end).replace(/\r$/, '');
      line = end + 1;
    }
    from = to;
  }
  return pieces;
}

export function decodeAwsVpcFlowLog(text: string, counters: CloudDecodeCounters, sink: RecordSink, options?: CloudDecodeOptions): void {
  const st = new DecodeState(counters, sink);
  const layout = (options?.awsFormat !== undefined ? compileLayout(options.awsFormat) : null) ?? DEFAULT_LAYOUT;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== TAB && c !== CR && c !== LF) break;
    i++;
  }
  if (i >= text.length) return;
  const c = text.charCodeAt(i);
  if (c === 123 || c === 91) decodeJson(st, text, i, layout);
  else decodeLines(st, text, layout, i);
}
