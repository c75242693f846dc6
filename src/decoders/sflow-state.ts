/**
 * What the sFlow decoder remembers about one UDP source between datagrams: the datagram sequence
 * per (agent, sub-agent), and per data source (agent, sub-agent, source id) the flow-sample sequence,
 * sample_pool and drops, from which it estimates the effective sampling rate and the samples lost.
 *
 * One instance per UDP source, owned by the caller (the decoder keeps no globals). It also holds the
 * decoder's scratch objects (the reused FlowRecord and InterfaceCounters), so decoding allocates
 * nothing per sample. Memory is bounded: at most `maxAgents` agents and `maxSourcesPerAgent` data
 * sources per agent are tracked; further ones still decode but are not tracked (counted in
 * `untrackedAgentDatagrams` / `untrackedSamples`).
 */
import type { FlowRecord } from '../record.js';
import { formatIPv4, formatIPv6 } from '../util/address.js';
import type { InterfaceCounters } from './sflow.js';

export interface SflowAgentStateOptions {
  /** Agents (address + sub-agent) tracked per UDP source; default 256. */
  maxAgents?: number;
  /** Data sources tracked per agent; default 4096. */
  maxSourcesPerAgent?: number;
  /**
   * A sequence number at most this far behind the last one is a late (reordered) datagram or sample
   * and is ignored; further behind means the agent restarted. Default 64.
   */
  reorderWindow?: number;
}

/** Snapshot of one data source's sampling statistics. */
export interface SflowSourceStats {
  agent: string;
  subAgentId: number;
  sourceIdType: number;
  sourceIdIndex: number;
  /** Last sampling_rate announced by a flow sample (the nominal 1-in-N). */
  samplingRate: number;
  flowSamples: number;
  counterSamples: number;
  /** Packets the sample_pool grew by, summed over consecutive flow samples. */
  samplePoolDelta: number;
  /** Flow samples received that those deltas cover (every sample after a baseline). */
  poolSamples: number;
  /**
   * samplePoolDelta / poolSamples: packets each received sample stands for, lost samples and the
   * sampler's randomness included. NaN until two samples have been seen.
   */
  effectiveRate: number;
  /** Flow samples missing from the flow-sample sequence numbers (lost on the way, or discarded). */
  sequenceGapSamples: number;
  /** Growth of the drops counter: samples the agent could not generate (lack of resources). */
  drops: number;
  /** sequenceGapSamples + drops. */
  samplesLost: number;
  /** Times the sequence number, pool or drops went backwards (agent or source reset). */
  restarts: number;
}

/** Snapshot of one agent's datagram statistics. */
export interface SflowAgentStats {
  agent: string;
  subAgentId: number;
  datagrams: number;
  sequenceGapDatagrams: number;
  lastSequence: number;
  lastUptimeMs: number;
  restarts: number;
  sources: number;
}

const TWO_POW_31 = 0x80000000;
/** How far back a late datagram's uptime may be before it means a restart. */
const UPTIME_SLACK_MS = 60_000;
/** A forward jump larger than this is taken for a reset, not for millions of lost datagrams. */
const MAX_GAP = 0x1000000;

/** @internal Per data source tracking (exported for the decoder). */
export class SflowSourceEntry {
  readonly sourceIdType: number;
  readonly sourceIdIndex: number;
  samplingRate = 0;
  flowSamples = 0;
  counterSamples = 0;
  hasFlowBaseline = false;
  lastSequence = 0;
  lastPool = 0;
  lastDrops = 0;
  samplePoolDelta = 0;
  poolSamples = 0;
  sequenceGapSamples = 0;
  drops = 0;
  restarts = 0;

  constructor(sourceIdType: number, sourceIdIndex: number) {
    this.sourceIdType = sourceIdType;
    this.sourceIdIndex = sourceIdIndex;
  }
}

/** @internal Per (agent address, sub-agent) tracking (exported for the decoder). */
export class SflowAgentEntry {
  addressType = 0;
  readonly address = new Uint8Array(16);
  subAgentId = 0;
  /** Agent address as text: the `exporter` of every record from this agent. */
  text = '';
  tracked = true;
  datagrams = 0;
  hasSequence = false;
  lastSequence = 0;
  lastUptimeMs = 0;
  sequenceGapDatagrams = 0;
  restarts = 0;
  readonly sources = new Map<number, SflowSourceEntry>();
  /** The source of the last sample: agents usually send runs of samples from one source. */
  lastSource: SflowSourceEntry | undefined;
}

function sourceKey(type: number, index: number): number {
  // Source types are 0-3 in practice; the clamp keeps the key an exact integer for any input.
  return Math.min(type, 0x1fffff) * 0x100000000 + index;
}

export class SflowAgentState {
  readonly maxAgents: number;
  readonly maxSourcesPerAgent: number;
  readonly reorderWindow: number;
  /** Datagrams from agents beyond maxAgents (decoded, but their sequence is not tracked). */
  untrackedAgentDatagrams = 0;
  /** Samples from data sources beyond maxSourcesPerAgent (decoded, not tracked). */
  untrackedSamples = 0;

  /** @internal The decoder's reused record and counter objects. */
  scratchRecord: FlowRecord | undefined;
  /** @internal */
  scratchCounters: InterfaceCounters | undefined;

  private readonly agentList: SflowAgentEntry[] = [];
  private lastAgent: SflowAgentEntry | undefined;
  /** Reused for agents beyond the limit; its text is rebuilt for each datagram. */
  private readonly overflowAgent = new SflowAgentEntry();

  constructor(options: SflowAgentStateOptions = {}) {
    this.maxAgents = options.maxAgents ?? 256;
    this.maxSourcesPerAgent = options.maxSourcesPerAgent ?? 4096;
    this.reorderWindow = options.reorderWindow ?? 64;
    this.overflowAgent.tracked = false;
  }

  /**
   * @internal The entry for the agent whose address (type 0/1/2) starts at buf[off]. Type 0 (unknown)
   * takes `fallbackText` (the UDP source) as its text. Allocates only for a new agent.
   */
  agentFor(buf: Uint8Array, off: number, addressType: number, subAgentId: number, fallbackText: string): SflowAgentEntry {
    const len = addressType === 1 ? 4 : addressType === 2 ? 16 : 0;
    const last = this.lastAgent;
    if (last !== undefined && sameAgent(last, buf, off, len, addressType, subAgentId, fallbackText)) return last;
    for (const a of this.agentList) {
      if (sameAgent(a, buf, off, len, addressType, subAgentId, fallbackText)) {
        this.lastAgent = a;
        return a;
      }
    }
    const full = this.agentList.length >= this.maxAgents;
    if (full) {
      this.untrackedAgentDatagrams++;
      const o = this.overflowAgent;
      if (o.text !== '' && sameAgent(o, buf, off, len, addressType, subAgentId, fallbackText)) return o;
    }
    const a = full ? this.overflowAgent : new SflowAgentEntry();
    a.addressType = addressType;
    a.address.fill(0);
    for (let i = 0; i < len; i++) a.address[i] = buf[off + i];
    a.subAgentId = subAgentId;
    a.text = addressType === 1 ? formatIPv4(a.address) : addressType === 2 ? formatIPv6(a.address) : fallbackText;
    if (full) return a;
    this.agentList.push(a);
    this.lastAgent = a;
    return a;
  }

  /** @internal Records a datagram's sequence number; returns the datagrams missing before it. */
  noteDatagram(a: SflowAgentEntry, sequence: number, uptimeMs: number): number {
    a.datagrams++;
    if (!a.tracked) return 0;
    if (!a.hasSequence) {
      a.hasSequence = true;
      a.lastSequence = sequence;
      a.lastUptimeMs = uptimeMs;
      return 0;
    }
    const ahead = (sequence - a.lastSequence) >>> 0;
    if (ahead === 0) return 0; // duplicate
    // Uptime falling well below the last one means the agent restarted and its sequence starts over;
    // a late datagram is older too, but only by the time it spent in flight.
    const restarted = uptimeMs + UPTIME_SLACK_MS < a.lastUptimeMs;
    if (!restarted) {
      if (ahead < TWO_POW_31) {
        if (ahead <= MAX_GAP) {
          const gap = ahead - 1;
          a.sequenceGapDatagrams += gap;
          a.lastSequence = sequence;
          a.lastUptimeMs = uptimeMs;
          return gap;
        }
      } else if (((a.lastSequence - sequence) >>> 0) <= this.reorderWindow) {
        return 0; // late datagram: already counted as missing when the sequence jumped past it
      }
    }
    a.restarts++;
    a.lastSequence = sequence;
    a.lastUptimeMs = uptimeMs;
    return 0;
  }

  private sourceFor(a: SflowAgentEntry, type: number, index: number): SflowSourceEntry | undefined {
    if (!a.tracked) return undefined;
    // Skips the map lookup (and its key, a double beyond the small-integer range) for a repeat source.
    const last = a.lastSource;
    if (last !== undefined && last.sourceIdIndex === index && last.sourceIdType === type) return last;
    const key = sourceKey(type, index);
    let s = a.sources.get(key);
    if (s === undefined) {
      if (a.sources.size >= this.maxSourcesPerAgent) {
        this.untrackedSamples++;
        return undefined;
      }
      s = new SflowSourceEntry(type, index);
      a.sources.set(key, s);
    }
    a.lastSource = s;
    return s;
  }

  /** @internal Records a flow sample's sequence number, sample_pool and drops. */
  noteFlowSample(a: SflowAgentEntry, type: number, index: number, sequence: number, rate: number, pool: number, drops: number): void {
    const s = this.sourceFor(a, type, index);
    if (s === undefined) return;
    s.flowSamples++;
    s.samplingRate = rate;
    if (s.hasFlowBaseline) {
      const ahead = (sequence - s.lastSequence) >>> 0;
      if (ahead === 0) return; // duplicate sample
      const poolDelta = (pool - s.lastPool) >>> 0;
      const dropsDelta = (drops - s.lastDrops) >>> 0;
      if (ahead < TWO_POW_31 && ahead <= MAX_GAP && poolDelta < TWO_POW_31 && dropsDelta < TWO_POW_31) {
        s.sequenceGapSamples += ahead - 1;
        s.samplePoolDelta += poolDelta;
        s.poolSamples++;
        s.drops += dropsDelta;
      } else if (ahead >= TWO_POW_31 && ((s.lastSequence - sequence) >>> 0) <= this.reorderWindow) {
        return; // late sample: keep the newer baseline
      } else {
        s.restarts++;
      }
    }
    s.hasFlowBaseline = true;
    s.lastSequence = sequence;
    s.lastPool = pool;
    s.lastDrops = drops;
  }

  /** @internal */
  noteCounterSample(a: SflowAgentEntry, type: number, index: number): void {
    const s = this.sourceFor(a, type, index);
    if (s !== undefined) s.counterSamples++;
  }

  /** Datagram statistics per agent. */
  agents(): SflowAgentStats[] {
    return this.agentList.map((a) => ({
      agent: a.text,
      subAgentId: a.subAgentId,
      datagrams: a.datagrams,
      sequenceGapDatagrams: a.sequenceGapDatagrams,
      lastSequence: a.lastSequence,
      lastUptimeMs: a.lastUptimeMs,
      restarts: a.restarts,
      sources: a.sources.size,
    }));
  }

  /** Sampling statistics of every tracked data source. */
  sources(): SflowSourceStats[] {
    const out: SflowSourceStats[] = [];
    for (const a of this.agentList) for (const s of a.sources.values()) out.push(sourceStats(a, s));
    return out;
  }

  /** Sampling statistics of one data source (agent address text, sub-agent, source id type/index). */
  source(agent: string, subAgentId: number, sourceIdType: number, sourceIdIndex: number): SflowSourceStats | undefined {
    for (const a of this.agentList) {
      if (a.text !== agent || a.subAgentId !== subAgentId) continue;
      const s = a.sources.get(sourceKey(sourceIdType, sourceIdIndex));
      return s === undefined ? undefined : sourceStats(a, s);
    }
    return undefined;
  }

  /** Effective sampling rate of one data source (see SflowSourceStats.effectiveRate); NaN if unknown. */
  effectiveRate(agent: string, subAgentId: number, sourceIdType: number, sourceIdIndex: number): number {
    return this.source(agent, subAgentId, sourceIdType, sourceIdIndex)?.effectiveRate ?? NaN;
  }

  /** Flow samples lost over every tracked data source: sequence gaps plus agent drops. */
  get samplesLost(): number {
    let n = 0;
    for (const a of this.agentList) for (const s of a.sources.values()) n += s.sequenceGapSamples + s.drops;
    return n;
  }
}

function sameAgent(a: SflowAgentEntry, buf: Uint8Array, off: number, len: number, type: number, subAgentId: number, fallbackText: string): boolean {
  if (a.addressType !== type || a.subAgentId !== subAgentId) return false;
  if (type === 0) return a.text === fallbackText;
  const addr = a.address;
  for (let i = 0; i < len; i++) if (addr[i] !== buf[off + i]) return false;
  return true;
}

function sourceStats(a: SflowAgentEntry, s: SflowSourceEntry): SflowSourceStats {
  return {
    agent: a.text,
    subAgentId: a.subAgentId,
    sourceIdType: s.sourceIdType,
    sourceIdIndex: s.sourceIdIndex,
    samplingRate: s.samplingRate,
    flowSamples: s.flowSamples,
    counterSamples: s.counterSamples,
    samplePoolDelta: s.samplePoolDelta,
    poolSamples: s.poolSamples,
    effectiveRate: s.poolSamples > 0 ? s.samplePoolDelta / s.poolSamples : NaN,
    sequenceGapSamples: s.sequenceGapSamples,
    drops: s.drops,
    samplesLost: s.sequenceGapSamples + s.drops,
    restarts: s.restarts,
  };
}
