/**
 * Azure Network Watcher flow logs: NSG flow logs (version 1 and 2) and virtual network (VNet) flow
 * logs (version 4), the JSON blobs (`PT1H.json`) Network Watcher writes to a storage account.
 *
 * Accepted shapes, sniffed from the JSON: `{"records":[record, ...]}` (the blob), a bare record, an
 * array of records, and newline-delimited records or wrappers (one JSON value per line). A record
 * carrying `flowRecords.flows` is a VNet flow log record, one carrying `properties.flows` an NSG one.
 *
 * Field mapping (one flow tuple string -> up to two FlowRecords):
 *
 * | source                                        | FlowRecord                                        |
 * |-----------------------------------------------|---------------------------------------------------|
 * | (constant)                                    | sourceKind 'azure', samplingRate 1                 |
 * | NSG `resourceId` last path segment (NSG name) | exporter                                          |
 * | VNet `targetResourceID` last path segment     | exporter (VNet, subnet or NIC name)               |
 * | neither: NSG `flows[].mac` / VNet `macAddress`| exporter (the MAC as written), else 'unknown'     |
 * | tuple 0 time stamp                            | timeStartMs = timeEndMs; 13 digits are taken as   |
 * |                                               | milliseconds, 10 as seconds (by magnitude)        |
 * | tuple 1, 2 source / destination IP            | src / dst, af 4 or 6                              |
 * | tuple 3, 4 source / destination port          | srcPort / dstPort (empty -> 0)                    |
 * | tuple 5 protocol: NSG T/U, VNet IANA number   | protocol (T -> 6, U -> 17)                        |
 * | tuple 6 direction I/O (relative to the NIC)   | direction: I -> ingress, O -> egress              |
 * | NSG tuple 7 decision A/D                      | action accept / reject                            |
 * | VNet tuple 7 state D (denied), else B/C/E     | action reject / accept                            |
 * | NSG tuple 8 state, VNet tuple 8 encryption    | not kept (state decides what is emitted, below)   |
 * | tuple 9, 10 packets / bytes src -> dst        | packets / bytes of the forward record             |
 * | tuple 11, 12 packets / bytes dst -> src       | packets / bytes of the reverse record: src/dst    |
 * |                                               | and ports swapped, direction flipped              |
 * | NIC MAC (`mac` / `macAddress`)                | srcMac on egress records, dstMac on ingress ones  |
 * | VNet name from a `.../virtualNetworks/<name>` | meta.vpc                                          |
 * | resource id                                   |                                                   |
 * | record `location`, else the region of a       | meta.region (e.g. eastus2euap)                    |
 * | default-named `NetworkWatcher_<region>` in    |                                                   |
 * | `flowLogResourceID`                           |                                                   |
 *
 * Counters: per Microsoft's docs, the packets and bytes of a C (continuing) or E (end) tuple count
 * the traffic since the previous tuple of that flow, so they are added as they are (no deltas).
 * Each direction of travel becomes its own record, so bytes land on the side that sent them: the
 * forward record (src -> dst) when it has packets or bytes, the reverse record likewise. The first
 * record of a tuple carries flows = 1, the second flows = 0, so one tuple counts one flow report.
 *
 * Emitted and skipped, per tuple:
 * - allowed, state B (begin): no counters by design, its traffic comes in later C/E tuples ->
 *   skipped as 'no_data'; allowed C/E with zero counts both ways -> 'no_data'.
 * - denied (NSG decision D, VNet state D): a denied flow gets no later tuple, so this tuple is its
 *   only report: one forward record with action reject, flows 1 and the counts it carries (usually
 *   none: 0 bytes, 0 packets), plus a reverse record if the reverse side has packets or bytes.
 * - NSG version 1 tuples (8 fields, no state and no counters) -> 'unsupported'.
 * - a tuple with a field count other than 13 (or 8 for NSG), or not a string -> 'bad_record';
 *   a field that does not parse (address, port, protocol, direction, decision, state, counter,
 *   time; C/E without counters) -> 'bad_value'.
 * - a record, rule or group whose structure is not the documented one -> 'bad_record'; a record of
 *   another diagnostic category -> 'unsupported'; text that is not JSON at all -> one 'bad_format'.
 */
import { Action, Direction, createFlowRecord, resetFlowRecord, type FlowRecord, type RecordSink } from '../record.js';
import { parseAddress } from '../util/address.js';
import { countSkip, type CloudDecodeCounters, type CloudDecodeOptions, type CloudSkipReason } from './cloud-types.js';

/** Wrappers nest at most this deep (`records` inside a record appears in one of Microsoft's samples). */
const MAX_DEPTH = 4;
/** Time stamps at or above this are milliseconds (1e11 s would be the year 5138). */
const MS_THRESHOLD = 1e11;
const TUPLE_FIELDS = 13;
const NSG_V1_FIELDS = 8;
const NOT_A_NUMBER = -1;

type Layout = 'nsg' | 'vnet';
type Meta = Record<string, string>;

export function decodeAzureFlowLog(
  text: string,
  counters: CloudDecodeCounters,
  sink: RecordSink,
  _options?: CloudDecodeOptions,
): void {
  const decoder = new AzureDecoder(counters, sink);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let doc: unknown;
  let parsed = false;
  try {
    doc = JSON.parse(body);
    parsed = true;
  } catch {
    // Not one JSON value: newline-delimited records, or not JSON at all.
  }
  if (parsed) {
    if (doc === null || typeof doc !== 'object') countSkip(counters, 'bad_format');
    else decoder.visit(doc, 0);
    return;
  }
  decodeLines(body, decoder, counters);
}

/** One JSON value per line; a text where no line is a JSON object is not this format at all. */
function decodeLines(body: string, decoder: AzureDecoder, counters: CloudDecodeCounters): void {
  const values: object[] = [];
  let badLines = 0;
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf('\n', start);
    if (end < 0) end = body.length;
    const line = body.slice(start, end).trim();
    start = end + 1;
    if (line.length === 0) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (v !== null && typeof v === 'object') values.push(v);
      else badLines++;
    } catch {
      badLines++;
    }
  }
  if (values.length === 0) {
    countSkip(counters, 'bad_format');
    return;
  }
  if (badLines > 0) countSkip(counters, 'bad_record', badLines);
  for (const v of values) decoder.visit(v, 0);
}

class AzureDecoder {
  private readonly rec: FlowRecord = createFlowRecord();
  /** Start and end offsets of the fields of the tuple being read. */
  private readonly starts = new Int32Array(TUPLE_FIELDS + 1);
  private readonly ends = new Int32Array(TUPLE_FIELDS + 1);
  private readonly mac = new Uint8Array(6);
  private hasMac = false;
  private exporter = 'unknown';
  private meta: Meta | undefined;
  /** The last meta object built, reused while the next records carry the same values. */
  private lastMeta: Meta | undefined;

  constructor(
    private readonly counters: CloudDecodeCounters,
    private readonly sink: RecordSink,
  ) {}

  visit(value: object, depth: number): void {
    if (Array.isArray(value)) {
      for (const item of value) {
        if (item !== null && typeof item === 'object' && depth < MAX_DEPTH) this.visit(item as object, depth + 1);
        else this.skip('bad_record');
      }
      return;
    }
    const obj = value as Record<string, unknown>;
    if (Array.isArray(obj.records)) {
      if (depth < MAX_DEPTH) this.visit(obj.records, depth + 1);
      else this.skip('bad_record');
      return;
    }
    this.record(obj);
  }

  private record(r: Record<string, unknown>): void {
    const flowRecords = asObject(r.flowRecords);
    if (flowRecords && Array.isArray(flowRecords.flows)) {
      this.vnetRecord(r, flowRecords.flows);
      return;
    }
    const props = asObject(r.properties);
    if (props && Array.isArray(props.flows)) {
      this.nsgRecord(r, props.flows);
      return;
    }
    const category = r.category;
    const known = category === 'NetworkSecurityGroupFlowEvent' || category === 'FlowLogFlowEvent';
    this.skip(typeof category === 'string' && !known ? 'unsupported' : 'bad_record');
  }

  private nsgRecord(r: Record<string, unknown>, rules: unknown[]): void {
    const resourceId = stringOf(r.resourceId) ?? stringOf(r.resourceID) ?? '';
    const nsgName = lastSegment(resourceId);
    this.meta = this.metaFor(stringOf(r.location), undefined, resourceId);
    for (const ruleEntry of rules) {
      const rule = asObject(ruleEntry);
      if (!rule || !Array.isArray(rule.flows)) {
        this.skip('bad_record');
        continue;
      }
      for (const groupEntry of rule.flows) {
        const group = asObject(groupEntry);
        if (!group || !Array.isArray(group.flowTuples)) {
          this.skip('bad_record');
          continue;
        }
        const mac = stringOf(group.mac);
        this.setMac(mac);
        this.exporter = nsgName || mac || 'unknown';
        for (const t of group.flowTuples) this.tuple(t, 'nsg');
      }
    }
  }

  private vnetRecord(r: Record<string, unknown>, acls: unknown[]): void {
    const target = stringOf(r.targetResourceID) ?? stringOf(r.targetResourceId) ?? '';
    const flowLogId = stringOf(r.flowLogResourceID) ?? stringOf(r.flowLogResourceId) ?? '';
    const mac = stringOf(r.macAddress);
    this.setMac(mac);
    this.exporter = lastSegment(target) || mac || 'unknown';
    this.meta = this.metaFor(stringOf(r.location) ?? watcherRegion(flowLogId), target, flowLogId);
    for (const aclEntry of acls) {
      const acl = asObject(aclEntry);
      if (!acl || !Array.isArray(acl.flowGroups)) {
        this.skip('bad_record');
        continue;
      }
      for (const groupEntry of acl.flowGroups) {
        const group = asObject(groupEntry);
        if (!group || !Array.isArray(group.flowTuples)) {
          this.skip('bad_record');
          continue;
        }
        for (const t of group.flowTuples) this.tuple(t, 'vnet');
      }
    }
  }

  /** Reads one flow tuple string and emits its records (see the table at the top of the file). */
  private tuple(t: unknown, layout: Layout): void {
    if (typeof t !== 'string') {
      this.skip('bad_record');
      return;
    }
    const n = this.split(t);
    if (n !== TUPLE_FIELDS) {
      this.skip(layout === 'nsg' && n === NSG_V1_FIELDS ? 'unsupported' : 'bad_record');
      return;
    }
    const { starts, ends } = this;

    const ts = parseUint(t, starts[0], ends[0]);
    // Protocols without ports (ICMP) may leave them empty.
    const srcPort = portOf(t, starts[3], ends[3]);
    const dstPort = portOf(t, starts[4], ends[4]);
    const protocol = layout === 'nsg' ? nsgProtocol(t, starts[5], ends[5]) : parseUint(t, starts[5], ends[5]);
    const dirChar = charOf(t, starts[6], ends[6]);
    if (ts <= 0 || srcPort > 65535 || dstPort > 65535 || protocol < 0 || protocol > 255 || srcPort < 0 || dstPort < 0) {
      this.skip('bad_value');
      return;
    }
    if (dirChar !== 0x49 /* I */ && dirChar !== 0x4f /* O */) {
      this.skip('bad_value');
      return;
    }

    // State and verdict: NSG has a decision (A/D) and a state (B/C/E); VNet folds the denial into
    // the state (B/C/E/D) and puts the encryption status where NSG has the state.
    let denied: boolean;
    let state: number;
    if (layout === 'nsg') {
      const decision = charOf(t, starts[7], ends[7]);
      state = charOf(t, starts[8], ends[8]);
      if ((decision !== 0x41 /* A */ && decision !== 0x44) /* D */ || !isNsgState(state)) {
        this.skip('bad_value');
        return;
      }
      denied = decision === 0x44;
    } else {
      state = charOf(t, starts[7], ends[7]);
      if (!isNsgState(state) && state !== 0x44 /* D */) {
        this.skip('bad_value');
        return;
      }
      denied = state === 0x44;
    }

    const fwdPackets = parseOptionalUint(t, starts[9], ends[9]);
    const fwdBytes = parseOptionalUint(t, starts[10], ends[10]);
    const revPackets = parseOptionalUint(t, starts[11], ends[11]);
    const revBytes = parseOptionalUint(t, starts[12], ends[12]);
    if (fwdPackets < NOT_A_NUMBER || fwdBytes < NOT_A_NUMBER || revPackets < NOT_A_NUMBER || revBytes < NOT_A_NUMBER) {
      this.skip('bad_value');
      return;
    }
    const missing = fwdPackets === NOT_A_NUMBER || fwdBytes === NOT_A_NUMBER || revPackets === NOT_A_NUMBER || revBytes === NOT_A_NUMBER;
    const isBegin = state === 0x42; /* B */
    if (missing && !isBegin && !denied) {
      // C and E tuples must carry their statistics.
      this.skip('bad_value');
      return;
    }
    const fp = fwdPackets > 0 ? fwdPackets : 0;
    const fb = fwdBytes > 0 ? fwdBytes : 0;
    const rp = revPackets > 0 ? revPackets : 0;
    const rb = revBytes > 0 ? revBytes : 0;
    const forward = fp > 0 || fb > 0;
    const reverse = rp > 0 || rb > 0;
    if (!denied && (isBegin || (!forward && !reverse))) {
      this.skip('no_data');
      return;
    }

    const rec = this.rec;
    resetFlowRecord(rec);
    const af = this.address(t, starts[1], ends[1], rec.src);
    if (af === 0 || this.address(t, starts[2], ends[2], rec.dst) !== af) {
      this.skip('bad_value');
      return;
    }
    const timeMs = ts >= MS_THRESHOLD ? ts : ts * 1000;
    const inbound = dirChar === 0x49;
    const action = denied ? Action.reject : Action.accept;

    let flows = 1;
    if (forward || denied) {
      this.fill(rec, af, timeMs, protocol, action);
      rec.srcPort = srcPort;
      rec.dstPort = dstPort;
      rec.packets = fp;
      rec.bytes = fb;
      rec.flows = flows;
      this.orient(rec, inbound);
      this.emit(rec);
      flows = 0;
    }
    if (reverse) {
      // Re-read the addresses swapped rather than keeping copies: nothing allocated per tuple.
      resetFlowRecord(rec);
      this.address(t, starts[2], ends[2], rec.src);
      this.address(t, starts[1], ends[1], rec.dst);
      this.fill(rec, af, timeMs, protocol, action);
      rec.srcPort = dstPort;
      rec.dstPort = srcPort;
      rec.packets = rp;
      rec.bytes = rb;
      rec.flows = flows;
      this.orient(rec, !inbound);
      this.emit(rec);
    }
  }

  private fill(rec: FlowRecord, af: 4 | 6, timeMs: number, protocol: number, action: Action): void {
    rec.sourceKind = 'azure';
    rec.exporter = this.exporter;
    rec.af = af;
    rec.timeStartMs = timeMs;
    rec.timeEndMs = timeMs;
    rec.protocol = protocol;
    rec.action = action;
    rec.samplingRate = 1;
    rec.meta = this.meta;
  }

  /** Inbound: the NIC received it (it is the destination); outbound: the NIC sent it. */
  private orient(rec: FlowRecord, inbound: boolean): void {
    rec.direction = inbound ? Direction.ingress : Direction.egress;
    if (!this.hasMac) return;
    const target = inbound ? rec.dstMac : rec.srcMac;
    for (let i = 0; i < 6; i++) target[i] = this.mac[i];
    if (inbound) rec.hasDstMac = true;
    else rec.hasSrcMac = true;
  }

  private emit(rec: FlowRecord): void {
    this.counters.records++;
    this.sink(rec);
  }

  private skip(reason: CloudSkipReason): void {
    countSkip(this.counters, reason);
  }

  /**
   * Records the field offsets of a tuple; returns the field count (stops counting past 13, which is
   * already wrong). No substrings: the fields are read in place.
   */
  private split(t: string): number {
    let n = 0;
    let start = 0;
    for (;;) {
      const comma = t.indexOf(',', start);
      const end = comma < 0 ? t.length : comma;
      if (n <= TUPLE_FIELDS) {
        this.starts[n] = start;
        this.ends[n] = end;
      }
      n++;
      if (comma < 0 || n > TUPLE_FIELDS) return comma < 0 ? n : n + 1;
      start = comma + 1;
    }
  }

  /** IPv4 parsed in place; IPv6 (rare in these logs) through the shared parser. */
  private address(t: string, start: number, end: number, out: Uint8Array): 0 | 4 | 6 {
    if (parseIPv4(t, start, end, out)) return 4;
    if (t.indexOf(':', start) < 0 || t.indexOf(':', start) >= end) return 0;
    return parseAddress(t.slice(start, end), out) === 6 ? 6 : 0;
  }

  private setMac(mac: string | undefined): void {
    this.hasMac = mac !== undefined && parseMac(mac, this.mac);
  }

  /** Shared by all the records of an object while the values stay the same. */
  private metaFor(region: string | undefined, vnetSource: string | undefined, otherId: string): Meta | undefined {
    const vpc = virtualNetworkOf(vnetSource ?? '') ?? virtualNetworkOf(otherId);
    if (region === undefined && vpc === undefined) return undefined;
    const last = this.lastMeta;
    if (last && last.region === region && last.vpc === vpc) return last;
    const meta: Meta = {};
    if (region !== undefined) meta.region = region;
    if (vpc !== undefined) meta.vpc = vpc;
    this.lastMeta = meta;
    return meta;
  }
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function stringOf(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function lastSegment(resourceId: string): string {
  let end = resourceId.length;
  while (end > 0 && resourceId.charCodeAt(end - 1) === 0x2f /* / */) end--;
  const slash = resourceId.lastIndexOf('/', end - 1);
  return resourceId.slice(slash + 1, end);
}

/** The segment after `virtualNetworks/` in an ARM resource id (any case), if it names one. */
function virtualNetworkOf(resourceId: string): string | undefined {
  const parts = resourceId.split('/');
  for (let i = 0; i + 1 < parts.length; i++) {
    if (parts[i].toLowerCase() === 'virtualnetworks' && parts[i + 1].length > 0) return parts[i + 1];
  }
  return undefined;
}

/**
 * Network Watcher is one resource per region, created by Azure as `NetworkWatcher_<region>`, and a
 * flow log lives in its target's region; so that name, when it has this form, gives the region.
 */
function watcherRegion(flowLogId: string): string | undefined {
  const parts = flowLogId.split('/');
  for (let i = 0; i + 1 < parts.length; i++) {
    if (parts[i].toLowerCase() !== 'networkwatchers') continue;
    const name = parts[i + 1];
    const prefix = 'networkwatcher_';
    if (name.length > prefix.length && name.slice(0, prefix.length).toLowerCase() === prefix) {
      const region = name.slice(prefix.length).toLowerCase();
      if (/^[a-z0-9]+$/.test(region)) return region;
    }
    return undefined;
  }
  return undefined;
}

/** 12 hex digits, with or without '-' / ':' separators; false when it is not a MAC. */
function parseMac(s: string, out: Uint8Array): boolean {
  let nibbles = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2d || c === 0x3a) continue;
    const v = hexValue(c);
    if (v < 0 || nibbles >= 12) return false;
    const byte = nibbles >> 1;
    out[byte] = nibbles & 1 ? (out[byte] << 4) | v : v;
    nibbles++;
  }
  return nibbles === 12;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function charOf(t: string, start: number, end: number): number {
  return end - start === 1 ? t.charCodeAt(start) : 0;
}

function isNsgState(c: number): boolean {
  return c === 0x42 /* B */ || c === 0x43 /* C */ || c === 0x45 /* E */;
}

function nsgProtocol(t: string, start: number, end: number): number {
  const c = charOf(t, start, end);
  if (c === 0x54 /* T */) return 6;
  if (c === 0x55 /* U */) return 17;
  return -2;
}

/** A decimal integer in t[start, end); -2 when empty or not digits (or beyond 2^53). */
function parseUint(t: string, start: number, end: number): number {
  if (end <= start) return -2;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = t.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -2;
    v = v * 10 + d;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -2;
}

/** Like parseUint, but an empty field is NOT_A_NUMBER (-1): absent, not malformed. */
function parseOptionalUint(t: string, start: number, end: number): number {
  return end <= start ? NOT_A_NUMBER : parseUint(t, start, end);
}

function portOf(t: string, start: number, end: number): number {
  const v = parseOptionalUint(t, start, end);
  return v === NOT_A_NUMBER ? 0 : v;
}

function parseIPv4(t: string, start: number, end: number, out: Uint8Array): boolean {
  let octet = 0;
  let digits = 0;
  let index = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? t.charCodeAt(i) : 0x2e;
    if (c === 0x2e /* . */) {
      if (digits === 0 || index > 3) return false;
      out[index++] = octet;
      octet = 0;
      digits = 0;
      continue;
    }
    const d = c - 0x30;
    if (d < 0 || d > 9 || digits === 3) return false;
    octet = octet * 10 + d;
    if (octet > 255) return false;
    digits++;
  }
  return index === 4;
}
