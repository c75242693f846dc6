/**
 * The set walk shared by NetFlow v9 (RFC 3954) and IPFIX (RFC 7011): template and options-template
 * sets, data sets through compiled readers, data held until its template arrives.
 *
 * Sets are parsed until the end of the message, never up to the v9 header `count` (softflowd puts
 * the number of data records there, RFC 3954 the number of all records). Every length is checked
 * against the bytes present before it is used, so malformed input ends the walk instead of
 * reading out of bounds or looping: a set shorter than its 4-byte header or longer than what is
 * left stops the datagram; a bad template set or a record cut short skips to the next set.
 */
import { resetFlowRecord, type RecordSink, type SourceKind } from '../record.js';
import type { NetflowDecodeContext } from './netflow.js';
import type { IntList, NetflowExporterState, PendingSet } from './netflow-state.js';
import type { DomainState, Template } from './template-cache.js';
import {
  readFixedRecord,
  readVariableRecord,
  type ExportProtocolVersion,
  type FieldSpec,
  type TemplateKind,
} from './template-reader.js';
import { countError } from './types.js';

/** What one walk decoded from the message itself (not from released pending sets). */
export interface SetWalkCounts {
  data: number;
  options: number;
  /** False when some data set of the message could not be counted (no template, cut short). */
  known: boolean;
}

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => b[o] * 16777216 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);

/** Sets the per-message context of the shared scratch space. */
export function prepareScratch(
  st: NetflowExporterState,
  dom: DomainState,
  ctx: NetflowDecodeContext,
  headerUptimeMs: number,
  headerUnixMs: number,
  exportMs: number,
): void {
  const s = st.scratch;
  s.headerUptimeMs = headerUptimeMs;
  s.headerUnixMs = headerUnixMs;
  s.exportMs = exportMs;
  s.sampling = dom.sampling;
  s.timeBase = dom;
  s.maxSamplers = st.limits.maxSamplersPerDomain;
  s.overrideRate = ctx.samplingRateOverride !== undefined && ctx.samplingRateOverride >= 1 ? ctx.samplingRateOverride : 0;
  s.defaultRate = ctx.defaultSamplingRate >= 1 ? ctx.defaultSamplingRate : 1;
}

/** Drops held sets that waited too long; keeps the pending gauge current. */
export function expirePending(st: NetflowExporterState, ctx: NetflowDecodeContext): void {
  if (st.pending.count > 0) {
    ctx.counters.templateMisses += st.pending.expire(ctx.nowMs, st.limits.maxPendingAgeMs);
    ctx.counters.pendingRecords = st.pending.count;
  }
}

/**
 * Walks the sets of one message in two passes, so that the order of sets inside a message does not
 * matter: pass 1 learns templates and options templates and decodes options data (sampling rates,
 * system init time); then the sets that were waiting for a template learned here are decoded
 * (options first); pass 2 decodes the flow data sets, or holds those whose template is unknown.
 */
export function walkSets(
  buf: Uint8Array,
  start: number,
  end: number,
  version: ExportProtocolVersion,
  dom: DomainState,
  st: NetflowExporterState,
  ctx: NetflowDecodeContext,
  sink: RecordSink,
  out: SetWalkCounts,
): void {
  out.data = 0;
  out.options = 0;
  out.known = true;
  const handled = st.walkHandled;
  const learned = st.walkLearned;
  handled.clear();
  learned.clear();
  const templateSetId = version === 9 ? 0 : 2;
  const optionsSetId = version === 9 ? 1 : 3;

  // Pass 1. Fewer than 4 bytes left at the end: padding, ignored.
  let off = start;
  while (off + 4 <= end) {
    const setId = u16(buf, off);
    const setLen = u16(buf, off + 2);
    if (setLen < 4) {
      // A length below the set header cannot advance: the rest of the message is unreadable.
      countError(ctx.counters, 'bad_set');
      out.known = false;
      break;
    }
    const setEnd = off + setLen;
    if (setEnd > end) {
      countError(ctx.counters, 'bad_length');
      out.known = false;
      break;
    }
    const body = off + 4;
    if (setId === templateSetId) {
      if (version === 9) parseV9Templates(buf, body, setEnd, dom, st, ctx);
      else parseIpfixTemplates(buf, body, setEnd, 'data', dom, st, ctx);
    } else if (setId === optionsSetId) {
      if (version === 9) parseV9OptionsTemplates(buf, body, setEnd, dom, st, ctx);
      else parseIpfixTemplates(buf, body, setEnd, 'options', dom, st, ctx);
    } else if (setId >= 256) {
      const tpl = dom.templates.get(setId);
      if (tpl !== undefined && tpl.kind === 'options') {
        const n = decodeRecords(tpl, buf, body, setEnd, version, dom, st, ctx, sink);
        if (n < 0) out.known = false;
        else out.options += n;
        handled.push(off);
      }
    } else {
      // Reserved set ids (v9: 2..255, IPFIX: 0, 1, 4..255).
      countError(ctx.counters, 'bad_set');
    }
    off = setEnd;
  }
  const stop = off;

  if (learned.length > 0 && st.pending.count > 0) {
    releaseLearned(learned, 'options', version, dom, st, ctx, sink);
    releaseLearned(learned, 'data', version, dom, st, ctx, sink);
  }

  // Pass 2: flow data (every set up to `stop` has been validated by pass 1).
  let h = 0;
  for (off = start; off < stop; ) {
    const setId = u16(buf, off);
    const setEnd = off + u16(buf, off + 2);
    if (setId >= 256) {
      if (h < handled.length && handled.items[h] === off) {
        h++;
      } else {
        const tpl = dom.templates.get(setId);
        if (tpl === undefined) {
          holdSet(buf, off + 4, setEnd, version, dom, setId, st, ctx);
          out.known = false;
        } else {
          const n = decodeRecords(tpl, buf, off + 4, setEnd, version, dom, st, ctx, sink);
          if (n < 0) out.known = false;
          else if (tpl.kind === 'data') out.data += n;
          else out.options += n;
        }
      }
    }
    off = setEnd;
  }
  ctx.counters.pendingRecords = st.pending.count;
}

/**
 * Decodes the records of one data set. Stops when fewer bytes than the smallest record remain
 * (set padding). Returns the number of records, or -1 when a record was cut short.
 */
function decodeRecords(
  tpl: Template,
  buf: Uint8Array,
  start: number,
  end: number,
  version: ExportProtocolVersion,
  dom: DomainState,
  st: NetflowExporterState,
  ctx: NetflowDecodeContext,
  sink: RecordSink,
): number {
  const rd = tpl.reader;
  const r = st.record;
  const s = st.scratch;
  const counters = ctx.counters;
  const isData = tpl.kind === 'data';
  const sourceKind: SourceKind = version === 9 ? 'netflow9' : 'ipfix';
  const exporter = ctx.exporter;
  const domain = dom.domain;
  let n = 0;
  if (!rd.variable) {
    const len = rd.fixedLength;
    for (let o = start; o + len <= end; o += len) {
      if (isData) {
        resetFlowRecord(r);
        r.sourceKind = sourceKind;
        r.exporter = exporter;
        r.observationDomain = domain;
        readFixedRecord(rd, buf, o, r, s);
        counters.records++;
        sink(r);
      } else {
        readFixedRecord(rd, buf, o, r, s);
        counters.optionsRecords++;
      }
      n++;
    }
  } else {
    const min = rd.minLength;
    let o = start;
    while (o + min <= end) {
      if (isData) {
        resetFlowRecord(r);
        r.sourceKind = sourceKind;
        r.exporter = exporter;
        r.observationDomain = domain;
      }
      const next = readVariableRecord(rd, buf, o, end, r, s);
      if (next < 0) {
        countError(counters, 'truncated_record');
        n = -1;
        break;
      }
      if (isData) {
        counters.records++;
        sink(r);
      } else {
        counters.optionsRecords++;
      }
      n++;
      o = next;
    }
  }
  if (!isData && s.samplerLimitHit) {
    s.samplerLimitHit = false;
    countError(counters, 'template_limit');
  }
  return n;
}

function holdSet(
  buf: Uint8Array,
  start: number,
  end: number,
  version: ExportProtocolVersion,
  dom: DomainState,
  templateId: number,
  st: NetflowExporterState,
  ctx: NetflowDecodeContext,
): void {
  const s = st.scratch;
  const pending: PendingSet = {
    version,
    domain: dom.domain,
    templateId,
    body: buf.slice(start, end),
    headerUptimeMs: s.headerUptimeMs,
    headerUnixMs: s.headerUnixMs,
    exportMs: s.exportMs,
    arrivedMs: ctx.nowMs,
  };
  ctx.counters.templateMisses += st.pending.add(pending, st.limits.maxPendingRecords, st.limits.maxPendingBytes);
}

/** Decodes the held sets waiting for the templates of `kind` learned by this message, oldest first. */
function releaseLearned(
  learned: IntList,
  kind: TemplateKind,
  version: ExportProtocolVersion,
  dom: DomainState,
  st: NetflowExporterState,
  ctx: NetflowDecodeContext,
  sink: RecordSink,
): void {
  const s = st.scratch;
  const uptime = s.headerUptimeMs;
  const unix = s.headerUnixMs;
  const exp = s.exportMs;
  try {
    for (let i = 0; i < learned.length; i++) {
      const id = learned.items[i];
      const tpl = dom.templates.get(id);
      if (tpl === undefined || tpl.kind !== kind) continue;
      const held = st.pending.take(version, dom.domain, id);
      if (held === undefined) continue;
      for (const p of held) {
        s.headerUptimeMs = p.headerUptimeMs;
        s.headerUnixMs = p.headerUnixMs;
        s.exportMs = p.exportMs;
        decodeRecords(tpl, p.body, 0, p.body.length, version, dom, st, ctx, sink);
      }
    }
  } finally {
    s.headerUptimeMs = uptime;
    s.headerUnixMs = unix;
    s.exportMs = exp;
  }
}

function learn(
  id: number,
  kind: TemplateKind,
  scopeCount: number,
  fields: FieldSpec[],
  version: ExportProtocolVersion,
  dom: DomainState,
  st: NetflowExporterState,
  ctx: NetflowDecodeContext,
): void {
  const lim = st.limits;
  const budget = lim.maxTemplateFieldsPerExporter - st.templateFields();
  const problem = dom.learn(id, kind, scopeCount, fields, ctx.nowMs, lim.maxTemplatesPerDomain, lim.maxFieldsPerTemplate, budget);
  if (problem) {
    countError(ctx.counters, problem);
    return;
  }
  ctx.counters.templatesReceived++;
  st.walkLearned.push(id);
}

/**
 * Template refreshes come every few datagrams: when the stored template has exactly the field
 * specifiers on the wire, refresh it in place without building a field list. Returns the offset
 * after the specifiers, or -1 when they differ (or run past `end`: the full parse reports that).
 */
function refreshIfSame(
  id: number,
  kind: TemplateKind,
  scopeCount: number,
  count: number,
  buf: Uint8Array,
  p: number,
  end: number,
  ipfix: boolean,
  dom: DomainState,
  st: NetflowExporterState,
  ctx: NetflowDecodeContext,
): number {
  const tpl = dom.templates.get(id);
  if (tpl === undefined || tpl.kind !== kind || tpl.scopeCount !== scopeCount || tpl.fields.length !== count) return -1;
  const fields = tpl.fields;
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) return -1;
    const raw = u16(buf, p);
    const f = fields[i];
    if (f.length !== u16(buf, p + 2)) return -1;
    p += 4;
    if (ipfix && raw & 0x8000) {
      if (p + 4 > end || f.id !== (raw & 0x7fff) || f.enterprise !== u32(buf, p)) return -1;
      p += 4;
    } else if (f.id !== raw || f.enterprise !== 0) {
      return -1;
    }
  }
  tpl.lastSeenMs = ctx.nowMs;
  ctx.counters.templatesReceived++;
  st.walkLearned.push(id);
  return p;
}

/** NetFlow v9 template flowset: records of (template id, field count, count x (type, length)). */
function parseV9Templates(
  buf: Uint8Array,
  start: number,
  end: number,
  dom: DomainState,
  st: NetflowExporterState,
  ctx: NetflowDecodeContext,
): void {
  let o = start;
  while (o + 4 <= end) {
    const id = u16(buf, o);
    const count = u16(buf, o + 2);
    if (id === 0 && count === 0) return; // padding
    const fieldsEnd = o + 4 + count * 4;
    if (id < 256 || count === 0 || fieldsEnd > end) {
      countError(ctx.counters, 'bad_template');
      return;
    }
    o = fieldsEnd;
    if (refreshIfSame(id, 'data', 0, count, buf, fieldsEnd - count * 4, end, false, dom, st, ctx) >= 0) continue;
    const fields: FieldSpec[] = new Array(count);
    for (let i = 0, p = fieldsEnd - count * 4; i < count; i++, p += 4) fields[i] = { id: u16(buf, p), enterprise: 0, length: u16(buf, p + 2) };
    learn(id, 'data', 0, fields, 9, dom, st, ctx);
  }
}

/** NetFlow v9 options template flowset: (id, scope bytes, option bytes, scope fields, option fields). */
function parseV9OptionsTemplates(
  buf: Uint8Array,
  start: number,
  end: number,
  dom: DomainState,
  st: NetflowExporterState,
  ctx: NetflowDecodeContext,
): void {
  let o = start;
  while (o + 6 <= end) {
    const id = u16(buf, o);
    const scopeLen = u16(buf, o + 2);
    const optLen = u16(buf, o + 4);
    if (id === 0 && scopeLen === 0 && optLen === 0) return; // padding
    const fieldsEnd = o + 6 + scopeLen + optLen;
    if (id < 256 || scopeLen % 4 !== 0 || optLen % 4 !== 0 || scopeLen + optLen === 0 || fieldsEnd > end) {
      countError(ctx.counters, 'bad_template');
      return;
    }
    const count = (scopeLen + optLen) / 4;
    const first = o + 6;
    o = fieldsEnd;
    if (refreshIfSame(id, 'options', scopeLen / 4, count, buf, first, end, false, dom, st, ctx) >= 0) continue;
    const fields: FieldSpec[] = new Array(count);
    for (let i = 0, p = first; i < count; i++, p += 4) fields[i] = { id: u16(buf, p), enterprise: 0, length: u16(buf, p + 2) };
    learn(id, 'options', scopeLen / 4, fields, 9, dom, st, ctx);
  }
}

/**
 * IPFIX template set (kind 'data', set id 2) or options template set ('options', set id 3).
 * Field specifiers with the enterprise bit carry a 4-byte enterprise number. A record with field
 * count 0 withdraws its template; template id 2 / 3 with count 0 withdraws all of that kind.
 */
function parseIpfixTemplates(
  buf: Uint8Array,
  start: number,
  end: number,
  kind: TemplateKind,
  dom: DomainState,
  st: NetflowExporterState,
  ctx: NetflowDecodeContext,
): void {
  const counters = ctx.counters;
  const setId = kind === 'data' ? 2 : 3;
  let o = start;
  while (o + 4 <= end) {
    const id = u16(buf, o);
    const count = u16(buf, o + 2);
    if (count === 0) {
      if (id === 0) return; // padding
      if (id === setId) counters.templatesWithdrawn += dom.withdrawAll(kind);
      else if (id >= 256) {
        if (dom.withdraw(id)) counters.templatesWithdrawn++;
      } else {
        countError(counters, 'bad_template');
        return;
      }
      o += 4;
      continue;
    }
    if (id < 256) {
      countError(counters, 'bad_template');
      return;
    }
    let p = o + 4;
    let scopeCount = 0;
    if (kind === 'options') {
      if (p + 2 > end) {
        countError(counters, 'bad_template');
        return;
      }
      scopeCount = u16(buf, p);
      p += 2;
    }
    const refreshed = refreshIfSame(id, kind, scopeCount, count, buf, p, end, true, dom, st, ctx);
    if (refreshed >= 0) {
      o = refreshed;
      continue;
    }
    const fields: FieldSpec[] = [];
    for (let i = 0; i < count; i++) {
      if (p + 4 > end) {
        countError(counters, 'bad_template');
        return;
      }
      const raw = u16(buf, p);
      const length = u16(buf, p + 2);
      p += 4;
      let enterprise = 0;
      if (raw & 0x8000) {
        if (p + 4 > end) {
          countError(counters, 'bad_template');
          return;
        }
        enterprise = u32(buf, p);
        p += 4;
      }
      fields.push({ id: raw & 0x7fff, enterprise, length });
    }
    o = p;
    learn(id, kind, scopeCount, fields, 10, dom, st, ctx);
  }
}
