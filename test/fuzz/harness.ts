/**
 * One decoder under fuzzing, with the checks every input must pass:
 * - nothing but DecodeError escapes the decoder;
 * - each datagram decodes within a time budget, and the records it yields are bounded by its bytes
 *   (plus the bytes of held sets it may release), so no loop runs on a claimed count;
 * - every record is sane (finite, non-negative counts, a real address family, ports and protocol
 *   in range) and goes through the real enrich and rollup stages, whose sums must stay exact;
 * - the exporter state never grows past its limits, however many inputs it has seen.
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_CONFIG } from '../../src/config/defaults.js';
import { decodeNetflowDatagram, type NetflowDecodeContext } from '../../src/decoders/netflow.js';
import { NetflowExporterState, type NetflowStateLimits } from '../../src/decoders/netflow-state.js';
import { decodeSflowDatagram, type InterfaceCounters, type SflowDecodeContext } from '../../src/decoders/sflow.js';
import { SflowAgentState, type SflowAgentStateOptions } from '../../src/decoders/sflow-state.js';
import { SequenceTracker } from '../../src/decoders/sequence.js';
import { DomainState } from '../../src/decoders/template-cache.js';
import { createDecodeCounters, DecodeError, type DecodeCounters, type DecodeErrorReason } from '../../src/decoders/types.js';
import { Enricher } from '../../src/enrich/enricher.js';
import { PIPELINE_SFLOW_LIMITS } from '../../src/pipeline.js';
import type { FlowRecord } from '../../src/record.js';
import { RollupEngine } from '../../src/rollup/rollup-engine.js';
import { createFlowLabels } from '../../src/rollup/types.js';
import type { FuzzProtocol } from './seeds.js';

export type FailureKind = 'exception' | 'slow' | 'work' | 'record' | 'bounds' | 'conservation' | 'wedged';

/** A violated property; the engine records it with the input that caused it. */
export class FuzzFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(`${kind}: ${message}`);
    this.name = 'FuzzFailure';
  }
}

/** Error reasons in a fixed order, for the outcome signature. */
export const REASONS: readonly DecodeErrorReason[] = [
  'truncated_header',
  'unknown_version',
  'bad_length',
  'bad_set',
  'bad_template',
  'template_limit',
  'truncated_record',
  'bad_sample',
  'bad_record',
  'too_many_samples',
  'unsupported',
];

export interface HarnessOptions {
  /** A datagram taking longer than this fails the run (generous: GC pauses must not trip it). */
  maxMsPerDatagram?: number;
  /** NetFlow/IPFIX and sFlow limits; default: what the pipeline uses. */
  netflowLimits?: Partial<NetflowStateLimits>;
  sflowLimits?: SflowAgentStateOptions;
}

export interface StateSize {
  /** NetFlow: (protocol, domain) pairs, v5 engines, templates, largest template, held sets/bytes. */
  domains: number;
  v5Engines: number;
  templates: number;
  /** Fields over all templates (the exporter-wide template budget). */
  templateFields: number;
  maxTemplatesInDomain: number;
  maxFieldsInTemplate: number;
  maxSamplersInDomain: number;
  pendingSets: number;
  pendingBytes: number;
  /** sFlow: agents and data sources tracked. */
  agents: number;
  sources: number;
  maxSourcesInAgent: number;
}

/**
 * The maps inside a NetFlow state, found by what they hold rather than by their (private) names:
 * every domain state, and every v5 engine's sequence tracker.
 */
function netflowInternals(st: NetflowExporterState): { domains: DomainState[]; v5Engines: number } {
  const domains: DomainState[] = [];
  let v5Engines = 0;
  for (const v of Object.values(st)) {
    if (!(v instanceof Map)) continue;
    for (const x of v.values()) {
      if (x instanceof DomainState) domains.push(x);
      else if (x instanceof SequenceTracker) v5Engines++;
    }
  }
  return { domains, v5Engines };
}

/** The limits the pipeline gives each exporter's NetFlow state (see FlowPipeline). */
export function pipelineNetflowLimits(): Partial<NetflowStateLimits> {
  return { maxPendingRecords: DEFAULT_CONFIG.netflow.pendingRecordsPerExporter };
}

/** Decoder + state + real enrich/rollup sink for one protocol. */
export class DecoderHarness {
  readonly protocol: FuzzProtocol;
  readonly maxMs: number;
  private readonly netflowLimits: Partial<NetflowStateLimits>;
  private readonly sflowLimits: SflowAgentStateOptions;
  counters: DecodeCounters = createDecodeCounters();
  netflow: NetflowExporterState;
  sflow: SflowAgentState;
  private readonly nfCtx: NetflowDecodeContext;
  private readonly sfCtx: SflowDecodeContext;
  private readonly enricher = new Enricher(DEFAULT_CONFIG);
  rollups = new RollupEngine(DEFAULT_CONFIG.rollups);
  private readonly labels = createFlowLabels();
  /** Records that reached the rollups (to check conservation). */
  recordsSunk = 0;
  interfaceRecords = 0;
  /** Slowest datagram so far, in ms. */
  maxMsSeen = 0;
  /** Datagrams over the time budget once but not when decoded again (the thread was paused). */
  pauses = 0;
  private readonly errorsBefore = new Float64Array(REASONS.length);
  private readonly sink = (r: FlowRecord): void => this.onRecord(r);
  private readonly counterSink = (c: InterfaceCounters): void => this.onCounters(c);

  constructor(protocol: FuzzProtocol, options: HarnessOptions = {}) {
    this.protocol = protocol;
    this.maxMs = options.maxMsPerDatagram ?? 250;
    this.netflowLimits = options.netflowLimits ?? pipelineNetflowLimits();
    this.sflowLimits = options.sflowLimits ?? PIPELINE_SFLOW_LIMITS;
    this.netflow = new NetflowExporterState(this.netflowLimits);
    this.sflow = new SflowAgentState(this.sflowLimits);
    this.nfCtx = {
      exporter: '192.0.2.77',
      nowMs: 1_700_000_100_000,
      state: this.netflow,
      counters: this.counters,
      defaultSamplingRate: 1,
    };
    this.sfCtx = { exporter: '192.0.2.77', nowMs: 1_700_000_100_000, state: this.sflow, counters: this.counters };
  }

  /** Forgets everything learned: a new exporter. The rollups and their totals stay. */
  resetState(): void {
    this.netflow = new NetflowExporterState(this.netflowLimits);
    this.sflow = new SflowAgentState(this.sflowLimits);
    this.counters = createDecodeCounters();
    this.nfCtx.state = this.netflow;
    this.nfCtx.counters = this.counters;
    this.sfCtx.state = this.sflow;
    this.sfCtx.counters = this.counters;
  }

  /**
   * Decodes one datagram and checks it. Returns a signature of what happened (error reasons seen,
   * rejection reason, records yielded, templates learned, sets held), for the engine's feedback.
   * Throws FuzzFailure when a property is violated.
   */
  feed(buf: Uint8Array, nowMs: number): number {
    const c = this.counters;
    for (let i = 0; i < REASONS.length; i++) this.errorsBefore[i] = c.errors.get(REASONS[i]) ?? 0;
    const recordsBefore = c.records + c.optionsRecords;
    const interfaceBefore = this.interfaceRecords;
    const templatesBefore = c.templatesReceived + c.templatesWithdrawn;
    const pendingBefore = c.pendingRecords;
    const heldBytes = this.netflow.pending.bytes;
    let thrown = 0;
    const started = performance.now();
    try {
      if (this.protocol === 'sflow') {
        this.sfCtx.nowMs = nowMs;
        decodeSflowDatagram(buf, this.sfCtx, this.sink, this.counterSink);
      } else {
        this.nfCtx.nowMs = nowMs;
        decodeNetflowDatagram(buf, this.nfCtx, this.sink);
      }
    } catch (err) {
      if (err instanceof FuzzFailure) throw err;
      if (!(err instanceof DecodeError)) {
        const e = err as Error;
        throw new FuzzFailure('exception', `${e?.name ?? 'non-Error'} escaped the decoder: ${e?.message ?? String(err)}\n${e?.stack ?? ''}`);
      }
      thrown = 1 + REASONS.indexOf(err.reason);
    }
    const ms = performance.now() - started;
    if (ms > this.maxMsSeen) this.maxMsSeen = ms;
    if (ms > this.maxMs) this.confirmSlow(buf, nowMs, ms);

    const yielded = c.records + c.optionsRecords - recordsBefore;
    const interfaces = this.interfaceRecords - interfaceBefore;
    // Every record consumes at least one byte of the datagram or of a held set it released (sFlow:
    // at least an 8-byte tagged header); a decoder looping on a claimed count would break this.
    const bound = this.protocol === 'sflow' ? Math.floor(buf.length / 8) : buf.length + heldBytes;
    if (yielded + interfaces > bound) {
      throw new FuzzFailure('work', `${yielded + interfaces} records from a ${buf.length}-byte datagram (${heldBytes} bytes held before)`);
    }

    let mask = 0;
    for (let i = 0; i < REASONS.length; i++) if ((c.errors.get(REASONS[i]) ?? 0) > this.errorsBefore[i]) mask |= 1 << i;
    const bucket = yielded === 0 ? 0 : Math.min(7, 1 + Math.floor(Math.log2(yielded)));
    const templates = c.templatesReceived + c.templatesWithdrawn > templatesBefore ? 1 : 0;
    const pending = c.pendingRecords > pendingBefore ? 1 : c.pendingRecords < pendingBefore ? 2 : 0;
    const ifs = interfaces > 0 ? 1 : 0;
    return mask | (thrown << 11) | (bucket << 15) | (templates << 18) | (pending << 19) | (ifs << 21) | (buf.length > 0 ? buf[0] === 0 ? 0 : 1 : 0) << 22;
  }

  /**
   * A datagram over the time budget is decoded once more against the same state: slow again means
   * the decoder's work is out of bounds; fast means the thread was paused (GC, a busy machine), and
   * is only counted.
   */
  private confirmSlow(buf: Uint8Array, nowMs: number, ms: number): void {
    const started = performance.now();
    try {
      if (this.protocol === 'sflow') decodeSflowDatagram(buf, this.sfCtx, this.sink, this.counterSink);
      else decodeNetflowDatagram(buf, this.nfCtx, this.sink);
    } catch (err) {
      if (err instanceof FuzzFailure || !(err instanceof DecodeError)) throw err;
    }
    const again = performance.now() - started;
    if (again > this.maxMs) {
      throw new FuzzFailure('slow', `a ${buf.length}-byte datagram took ${ms.toFixed(1)} ms, then ${again.toFixed(1)} ms (budget ${this.maxMs} ms)`);
    }
    this.pauses++;
    this.nfCtx.nowMs = nowMs;
  }

  private onRecord(r: FlowRecord): void {
    const bad = recordProblem(r);
    if (bad !== undefined) throw new FuzzFailure('record', bad);
    this.enricher.enrich(r, this.labels);
    const rate = r.samplingRate >= 1 ? r.samplingRate : 1;
    this.rollups.add(this.labels, r.bytes * rate, r.packets * rate, r.flows);
    this.recordsSunk++;
  }

  private onCounters(c: InterfaceCounters): void {
    if (!Number.isFinite(c.inOctets) || !Number.isFinite(c.outOctets) || c.inOctets < 0 || c.outOctets < 0) {
      throw new FuzzFailure('record', `interface counters out of range: in ${c.inOctets}, out ${c.outOctets}`);
    }
    this.interfaceRecords++;
  }

  size(): StateSize {
    const nf = netflowInternals(this.netflow);
    let templates = 0;
    let maxTemplatesInDomain = 0;
    let maxFieldsInTemplate = 0;
    let maxSamplersInDomain = 0;
    for (const d of nf.domains) {
      templates += d.templates.size;
      maxTemplatesInDomain = Math.max(maxTemplatesInDomain, d.templates.size);
      maxSamplersInDomain = Math.max(maxSamplersInDomain, d.sampling.samplers.size);
      for (const t of d.templates.values()) maxFieldsInTemplate = Math.max(maxFieldsInTemplate, t.fields.length);
    }
    const agents = this.sflow.agents();
    let sources = 0;
    let maxSourcesInAgent = 0;
    for (const a of agents) {
      sources += a.sources;
      maxSourcesInAgent = Math.max(maxSourcesInAgent, a.sources);
    }
    return {
      domains: nf.domains.length,
      v5Engines: nf.v5Engines,
      templates,
      templateFields: this.netflow.templateFields(),
      maxTemplatesInDomain,
      maxFieldsInTemplate,
      maxSamplersInDomain,
      pendingSets: this.netflow.pending.count,
      pendingBytes: this.netflow.pending.bytes,
      agents: agents.length,
      sources,
      maxSourcesInAgent,
    };
  }

  /** Throws FuzzFailure when the state is over a limit or the rollups lost a record. */
  check(): void {
    const s = this.size();
    const nl = this.netflow.limits;
    const over: string[] = [];
    if (s.domains > nl.maxDomains) over.push(`${s.domains} domains > ${nl.maxDomains}`);
    if (s.v5Engines > nl.maxDomains) over.push(`${s.v5Engines} v5 engines > ${nl.maxDomains}`);
    if (s.maxTemplatesInDomain > nl.maxTemplatesPerDomain) over.push(`${s.maxTemplatesInDomain} templates in a domain > ${nl.maxTemplatesPerDomain}`);
    if (s.maxFieldsInTemplate > nl.maxFieldsPerTemplate) over.push(`${s.maxFieldsInTemplate} fields in a template > ${nl.maxFieldsPerTemplate}`);
    if (s.templateFields > nl.maxTemplateFieldsPerExporter) over.push(`${s.templateFields} template fields > ${nl.maxTemplateFieldsPerExporter}`);
    let fields = 0;
    for (const d of netflowInternals(this.netflow).domains) for (const t of d.templates.values()) fields += t.fields.length;
    if (fields !== s.templateFields) over.push(`template field count drifted: ${s.templateFields} counted, ${fields} held`);
    if (s.maxSamplersInDomain > nl.maxSamplersPerDomain) over.push(`${s.maxSamplersInDomain} samplers in a domain > ${nl.maxSamplersPerDomain}`);
    if (s.pendingSets > nl.maxPendingRecords) over.push(`${s.pendingSets} held sets > ${nl.maxPendingRecords}`);
    if (s.pendingBytes > nl.maxPendingBytes) over.push(`${s.pendingBytes} held bytes > ${nl.maxPendingBytes}`);
    if (s.agents > this.sflow.maxAgents) over.push(`${s.agents} sFlow agents > ${this.sflow.maxAgents}`);
    if (s.maxSourcesInAgent > this.sflow.maxSourcesPerAgent) over.push(`${s.maxSourcesInAgent} sFlow sources > ${this.sflow.maxSourcesPerAgent}`);
    if (over.length > 0) throw new FuzzFailure('bounds', over.join('; '));

    for (const f of this.rollups.families()) {
      const st = f.stats();
      const snap = f.snapshot();
      let flows = 0;
      for (let i = 0; i < snap.flows.length; i++) flows += snap.flows[i];
      if (st.totalFlows + st.rejectedRecords !== this.recordsSunk || flows !== st.totalFlows) {
        throw new FuzzFailure(
          'conservation',
          `rollup ${f.name}: rows sum to ${flows} flows, total ${st.totalFlows} + ${st.rejectedRecords} refused, ${this.recordsSunk} records sunk`,
        );
      }
      if (snap.flows.length > f.budget) throw new FuzzFailure('bounds', `rollup ${f.name}: ${snap.flows.length} rows > budget ${f.budget}`);
    }
  }
}

/** Why a decoded record is not sane, or undefined. */
export function recordProblem(r: FlowRecord): string | undefined {
  if (!(r.bytes >= 0 && Number.isFinite(r.bytes))) return `bytes ${r.bytes}`;
  if (!(r.packets >= 0 && Number.isFinite(r.packets))) return `packets ${r.packets}`;
  if (r.flows !== 1) return `flows ${r.flows}`;
  if (!(r.samplingRate >= 1 && Number.isFinite(r.samplingRate))) return `sampling rate ${r.samplingRate}`;
  if (r.af !== 0 && r.af !== 4 && r.af !== 6) return `address family ${String(r.af)}`;
  if (r.src.length !== 16 || r.dst.length !== 16) return 'address buffer replaced';
  if (!isPort(r.srcPort) || !isPort(r.dstPort)) return `ports ${r.srcPort} ${r.dstPort}`;
  if (!(Number.isInteger(r.protocol) && r.protocol >= 0 && r.protocol <= 255)) return `protocol ${r.protocol}`;
  if (!Number.isFinite(r.timeStartMs) || !Number.isFinite(r.timeEndMs)) return `times ${r.timeStartMs} ${r.timeEndMs}`;
  if (!Number.isFinite(r.inputIf) || !Number.isFinite(r.outputIf) || r.inputIf < 0 || r.outputIf < 0) return `interfaces ${r.inputIf} ${r.outputIf}`;
  if (typeof r.appName !== 'string' || r.appName.length > 65535) return 'application name';
  return undefined;
}

function isPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}
