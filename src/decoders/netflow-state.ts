/**
 * Everything learned from one exporter address: per (protocol, observation domain) templates,
 * sampling announcements, IPFIX system init time and sequence trackers; NetFlow v5 sequence
 * trackers per engine; and the bounded buffer of data sets waiting for their template.
 *
 * The decoders receive this object through their context; it holds no I/O and no timers.
 */
import { createFlowRecord, type FlowRecord } from '../record.js';
import { elementName, VARIABLE_LENGTH } from './information-elements.js';
import { DomainSampling } from './sampling.js';
import { SequenceTracker } from './sequence.js';
import { checkTemplate, DomainState } from './template-cache.js';
import { RecordScratch, type ExportProtocolVersion, type FieldSpec, type TemplateKind } from './template-reader.js';

export interface NetflowStateLimits {
  /** (protocol, observation domain / source id) pairs kept per exporter; also v5 engines. */
  maxDomains: number;
  maxTemplatesPerDomain: number;
  maxFieldsPerTemplate: number;
  /** Sampler ids remembered per domain. */
  maxSamplersPerDomain: number;
  /**
   * Data sets held while their template is unknown. A set's record count cannot be known before
   * its template arrives, so sets are the unit of this bound and of the pending/miss counters.
   */
  maxPendingRecords: number;
  /** Bytes of held data sets. */
  maxPendingBytes: number;
  /** A held set older than this is dropped (counted as a template miss). */
  maxPendingAgeMs: number;
  /**
   * Fields over all templates of the exporter (every domain): what a template costs in memory
   * (~80 bytes per field with its compiled reader), so this bounds the exporter's template memory
   * whatever mix of domains, templates and fields it sends.
   */
  maxTemplateFieldsPerExporter: number;
}

export const DEFAULT_NETFLOW_LIMITS: Readonly<NetflowStateLimits> = Object.freeze({
  maxDomains: 64,
  maxTemplatesPerDomain: 256,
  maxFieldsPerTemplate: 128,
  maxSamplersPerDomain: 64,
  // Measured on the corpus (docs/decoders.md): one template refresh cycle of softflowd (16
  // datagrams of ~1400 bytes, ~5 sets each) is ~21 KB / ~75 sets; of pmacctd (18 x <=512 bytes)
  // ~7 KB / ~34 sets.
  maxPendingRecords: 128,
  maxPendingBytes: 64 * 1024,
  maxPendingAgeMs: 5 * 60_000,
  // nProbe with every element is ~100 fields per template; 16384 is dozens of such templates.
  maxTemplateFieldsPerExporter: 16_384,
});

/** A data set copied aside until its template arrives, with the header context it needs. */
export interface PendingSet {
  version: ExportProtocolVersion;
  domain: number;
  templateId: number;
  body: Uint8Array;
  headerUptimeMs: number;
  headerUnixMs: number;
  exportMs: number;
  arrivedMs: number;
}

/** Bounded FIFO of pending sets; the oldest go first when a bound bites. */
export class PendingSets {
  private entries: PendingSet[] = [];
  bytes = 0;
  /** Sets dropped or refused because a bound (sets or bytes) was reached: the limit biting. */
  evicted = 0;

  get count(): number {
    return this.entries.length;
  }

  /** Adds a set; returns how many older sets were evicted to make room (or 1 if it did not fit). */
  add(p: PendingSet, maxSets: number, maxBytes: number): number {
    if (maxSets <= 0 || p.body.length > maxBytes) {
      this.evicted++;
      return 1;
    }
    let evicted = 0;
    while (this.entries.length >= maxSets || this.bytes + p.body.length > maxBytes) {
      const old = this.entries.shift() as PendingSet;
      this.bytes -= old.body.length;
      evicted++;
    }
    this.entries.push(p);
    this.bytes += p.body.length;
    this.evicted += evicted;
    return evicted;
  }

  /** Removes and returns the sets waiting for (version, domain, template id), oldest first. */
  take(version: ExportProtocolVersion, domain: number, templateId: number): PendingSet[] | undefined {
    let out: PendingSet[] | undefined;
    for (const e of this.entries) {
      if (e.templateId === templateId && e.domain === domain && e.version === version) (out ??= []).push(e);
    }
    if (out) {
      this.entries = this.entries.filter((e) => !out.includes(e));
      for (const e of out) this.bytes -= e.body.length;
    }
    return out;
  }

  /** Drops sets older than maxAgeMs; returns how many. */
  expire(nowMs: number, maxAgeMs: number): number {
    let n = 0;
    while (this.entries.length > 0 && nowMs - this.entries[0].arrivedMs > maxAgeMs) {
      const old = this.entries.shift() as PendingSet;
      this.bytes -= old.body.length;
      n++;
    }
    return n;
  }

  clear(): void {
    this.entries = [];
    this.bytes = 0;
  }
}

/**
 * A reusable list of small integers. (Setting a JS array's length to 0 frees its storage, so a
 * plain array reused per datagram would allocate again on every push.)
 */
export class IntList {
  items = new Int32Array(16);
  length = 0;

  push(v: number): void {
    if (this.length === this.items.length) {
      const grown = new Int32Array(this.items.length * 2);
      grown.set(this.items);
      this.items = grown;
    }
    this.items[this.length++] = v;
  }

  clear(): void {
    this.length = 0;
  }
}

export interface TemplateInfo {
  protocol: 'netflow9' | 'ipfix';
  domain: number;
  id: number;
  kind: TemplateKind;
  scopeFields: number;
  fields: Array<{ id: number; enterprise: number; length: number; name: string }>;
  lastSeenMs: number;
}

export interface SamplingInfo {
  protocol: 'netflow9' | 'ipfix';
  domain: number;
  rate: number;
  samplers: Array<{ id: number; rate: number }>;
}

const STATE_FORMAT = 1;
const TWO32 = 4294967296;

export class NetflowExporterState {
  readonly limits: Readonly<NetflowStateLimits>;
  /** The one record every decode of this exporter fills and hands to the sink. */
  readonly record: FlowRecord = createFlowRecord();
  readonly scratch = new RecordScratch();
  readonly pending = new PendingSets();
  /** What the last v9 / IPFIX set walk decoded from its message (for sequence accounting). */
  readonly walkCounts = { data: 0, options: 0, known: true };
  /** Reused by the set walk: offsets of sets decoded in its first pass, templates it learned. */
  readonly walkHandled = new IntList();
  readonly walkLearned = new IntList();
  /** Per protocol, keyed by domain id (two maps keep the keys small integers: no boxing per lookup). */
  private readonly v9Domains = new Map<number, DomainState>();
  private readonly ipfixDomains = new Map<number, DomainState>();
  private readonly v5Engines = new Map<number, SequenceTracker>();

  constructor(limits?: Partial<NetflowStateLimits>) {
    const l = { ...DEFAULT_NETFLOW_LIMITS };
    for (const [k, v] of Object.entries(limits ?? {})) {
      if (v === undefined) continue;
      if (!(k in l)) throw new Error(`unknown NetFlow state limit "${k}"`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`NetFlow state limit ${k} must be a number >= 0`);
      (l as Record<string, number>)[k] = v;
    }
    this.limits = Object.freeze(l);
  }

  /** The domain's state, created on first use; undefined when maxDomains is reached. */
  domain(version: ExportProtocolVersion, domain: number): DomainState | undefined {
    const map = version === 9 ? this.v9Domains : this.ipfixDomains;
    let d = map.get(domain);
    if (d === undefined) {
      if (this.v9Domains.size + this.ipfixDomains.size >= this.limits.maxDomains) return undefined;
      d = new DomainState(version, domain);
      map.set(domain, d);
    }
    return d;
  }

  /** NetFlow v5 sequence tracker per (engine_type, engine_id); undefined when maxDomains is reached. */
  v5Sequence(engine: number): SequenceTracker | undefined {
    let t = this.v5Engines.get(engine);
    if (t === undefined) {
      if (this.v5Engines.size >= this.limits.maxDomains) return undefined;
      t = new SequenceTracker();
      this.v5Engines.set(engine, t);
    }
    return t;
  }

  /** Fields over the templates of every domain (bounded by maxTemplateFieldsPerExporter). */
  templateFields(): number {
    let n = 0;
    for (const d of this.v9Domains.values()) n += d.fieldCount;
    for (const d of this.ipfixDomains.values()) n += d.fieldCount;
    return n;
  }

  private allDomains(): DomainState[] {
    return [...this.v9Domains.values(), ...this.ipfixDomains.values()];
  }

  /** Every template known, for the status page. */
  templates(): TemplateInfo[] {
    const out: TemplateInfo[] = [];
    for (const d of this.allDomains()) {
      for (const t of d.templates.values()) {
        out.push({
          protocol: d.version === 9 ? 'netflow9' : 'ipfix',
          domain: d.domain,
          id: t.id,
          kind: t.kind,
          scopeFields: t.scopeCount,
          fields: t.fields.map((f) => ({ id: f.id, enterprise: f.enterprise, length: f.length, name: elementName(f.id, f.enterprise) })),
          lastSeenMs: t.lastSeenMs,
        });
      }
    }
    return out;
  }

  /** Sampling announced per domain (domains that announced nothing are left out). */
  sampling(): SamplingInfo[] {
    const out: SamplingInfo[] = [];
    for (const d of this.allDomains()) {
      if (d.sampling.effective === 0 && d.sampling.samplers.size === 0) continue;
      out.push({
        protocol: d.version === 9 ? 'netflow9' : 'ipfix',
        domain: d.domain,
        rate: d.sampling.effective,
        samplers: [...d.sampling.samplers].map(([id, rate]) => ({ id, rate })),
      });
    }
    return out;
  }

  /** Templates (data and options), learned sampling and system init times, for state_dir. */
  toJSON(): unknown {
    const domains = [];
    for (const d of this.allDomains()) {
      if (d.templates.size === 0 && d.sampling.samplers.size === 0 && d.sampling.rate === 0 && Number.isNaN(d.systemInitMs)) continue;
      domains.push({
        protocol: d.version,
        domain: d.domain,
        systemInitMs: Number.isNaN(d.systemInitMs) ? null : d.systemInitMs,
        sampling: d.sampling.toJSON(),
        templates: [...d.templates.values()].map((t) => ({
          id: t.id,
          kind: t.kind,
          scopeFields: t.scopeCount,
          fields: t.fields.map((f) => [f.id, f.enterprise, f.length]),
          lastSeenMs: t.lastSeenMs,
        })),
      });
    }
    return { format: STATE_FORMAT, domains };
  }

  /** Rebuilds a state saved by toJSON(); throws an Error naming the bad part. */
  static fromJSON(data: unknown, limits?: Partial<NetflowStateLimits>): NetflowExporterState {
    const st = new NetflowExporterState(limits);
    const lim = st.limits;
    if (data === null || typeof data !== 'object') throw new Error('NetFlow state: expected an object');
    const doc = data as { format?: unknown; domains?: unknown };
    if (doc.format !== STATE_FORMAT) throw new Error(`NetFlow state: unsupported format ${String(doc.format)} (expected ${STATE_FORMAT})`);
    if (!Array.isArray(doc.domains)) throw new Error('NetFlow state: "domains" must be an array');
    if (doc.domains.length > lim.maxDomains) {
      throw new Error(`NetFlow state: ${doc.domains.length} domains exceed the limit of ${lim.maxDomains}`);
    }
    doc.domains.forEach((raw: unknown, di: number) => {
      const where = `NetFlow state: domains[${di}]`;
      if (raw === null || typeof raw !== 'object') throw new Error(`${where}: expected an object`);
      const dj = raw as Record<string, unknown>;
      if (dj.protocol !== 9 && dj.protocol !== 10) throw new Error(`${where}: protocol must be 9 or 10`);
      if (!isUint32(dj.domain)) throw new Error(`${where}: domain must be an integer 0..4294967295`);
      const version = dj.protocol;
      if ((version === 9 ? st.v9Domains : st.ipfixDomains).has(dj.domain)) throw new Error(`${where}: duplicate domain ${dj.domain}`);
      const d = st.domain(version, dj.domain) as DomainState;
      if (dj.systemInitMs !== null && dj.systemInitMs !== undefined) {
        if (typeof dj.systemInitMs !== 'number' || !Number.isFinite(dj.systemInitMs) || dj.systemInitMs < 0) {
          throw new Error(`${where}: systemInitMs must be null or a number >= 0`);
        }
        d.systemInitMs = dj.systemInitMs;
      }
      const sampling = DomainSampling.fromJSON(dj.sampling, where, lim.maxSamplersPerDomain);
      d.sampling.rate = sampling.rate;
      d.sampling.lastSamplerRate = sampling.lastSamplerRate;
      d.sampling.effective = sampling.effective;
      for (const [id, rate] of sampling.samplers) d.sampling.samplers.set(id, rate);
      if (!Array.isArray(dj.templates)) throw new Error(`${where}: templates must be an array`);
      dj.templates.forEach((rt: unknown, ti: number) => {
        const tw = `${where}.templates[${ti}]`;
        if (rt === null || typeof rt !== 'object') throw new Error(`${tw}: expected an object`);
        const tj = rt as Record<string, unknown>;
        if (!Number.isInteger(tj.id) || (tj.id as number) < 256 || (tj.id as number) > 65535) {
          throw new Error(`${tw}: id must be an integer 256..65535`);
        }
        if (tj.kind !== 'data' && tj.kind !== 'options') throw new Error(`${tw}: kind must be "data" or "options"`);
        const scope = tj.scopeFields ?? 0;
        if (!Number.isInteger(scope) || (scope as number) < 0) throw new Error(`${tw}: scopeFields must be an integer >= 0`);
        if (!Array.isArray(tj.fields)) throw new Error(`${tw}: fields must be an array`);
        const fields: FieldSpec[] = tj.fields.map((f: unknown, fi: number) => {
          if (!Array.isArray(f) || f.length !== 3) throw new Error(`${tw}.fields[${fi}]: expected [id, enterprise, length]`);
          const [id, enterprise, length] = f as unknown[];
          const maxId = version === 10 && enterprise !== 0 ? 32767 : 65535;
          if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > maxId) throw new Error(`${tw}.fields[${fi}]: bad element id`);
          if (!isUint32(enterprise) || (version === 9 && enterprise !== 0)) throw new Error(`${tw}.fields[${fi}]: bad enterprise number`);
          if (!Number.isInteger(length) || (length as number) < 1 || (length as number) > VARIABLE_LENGTH) {
            throw new Error(`${tw}.fields[${fi}]: length must be 1..65535`);
          }
          return { id: id as number, enterprise, length: length as number };
        });
        const lastSeen = tj.lastSeenMs ?? 0;
        if (typeof lastSeen !== 'number' || !Number.isFinite(lastSeen)) throw new Error(`${tw}: lastSeenMs must be a number`);
        const problem = checkTemplate(fields, tj.kind, scope as number, version, lim.maxFieldsPerTemplate);
        if (problem) throw new Error(`${tw}: ${problem === 'template_limit' ? 'too many fields for the limit' : 'invalid template'}`);
        if (d.templates.has(tj.id as number)) throw new Error(`${tw}: duplicate template id ${String(tj.id)}`);
        const budget = lim.maxTemplateFieldsPerExporter - st.templateFields();
        const refused = d.learn(tj.id as number, tj.kind, scope as number, fields, lastSeen, lim.maxTemplatesPerDomain, lim.maxFieldsPerTemplate, budget);
        if (refused) {
          if (d.templates.size >= lim.maxTemplatesPerDomain) throw new Error(`${tw}: template count exceeds the limit of ${lim.maxTemplatesPerDomain}`);
          throw new Error(`${tw}: template fields exceed the limit of ${lim.maxTemplateFieldsPerExporter} per exporter`);
        }
      });
    });
    return st;
  }
}

function isUint32(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) < TWO32;
}
