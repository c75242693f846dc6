/**
 * Interface metrics from sFlow counter samples: one row per (exporter, ifIndex), under a budget of
 * its own. The device sends absolute counters; a row exposes the device's value as long as the
 * device counts up, and keeps counting up across a device counter reset or a 32-bit wrap by adding
 * the increase since the last sample, so an exposed counter never decreases.
 *
 * Beyond the budget a new interface gets no row (there is no meaningful "other" row for absolute
 * counters: summing different devices' lifetime counters into one series would go up and down as
 * interfaces came and went); its records are counted instead, unless the interface silent longest
 * has sent no sample for `idleMs`: then that row goes (its series ends) and the new interface takes
 * its place, so a fleet whose agents come and go keeps its interface metrics.
 */
import type { InterfaceCounters } from '../decoders/sflow.js';

export const DEFAULT_INTERFACE_BUDGET = 2000;

/** A counter of the generic interface record, as the exposition names it. */
export interface InterfaceCounterDef {
  /** Family name; the samples carry `_total`. */
  name: string;
  /** OpenMetrics unit (the name ends with it), if any. */
  unit: 'bytes' | undefined;
  help: string;
  read: (c: InterfaceCounters) => number;
}

/** Column order of InterfaceCountersSnapshot.counters. */
export const INTERFACE_COUNTERS: readonly InterfaceCounterDef[] = [
  { name: 'flow_interface_in_bytes', unit: 'bytes', help: 'Octets received on the interface (ifInOctets).', read: (c) => c.inOctets },
  { name: 'flow_interface_in_unicast_packets', unit: undefined, help: 'Unicast packets received (ifInUcastPkts).', read: (c) => c.inUcastPkts },
  { name: 'flow_interface_in_multicast_packets', unit: undefined, help: 'Multicast packets received (ifInMulticastPkts).', read: (c) => c.inMulticastPkts },
  { name: 'flow_interface_in_broadcast_packets', unit: undefined, help: 'Broadcast packets received (ifInBroadcastPkts).', read: (c) => c.inBroadcastPkts },
  { name: 'flow_interface_in_discards', unit: undefined, help: 'Received packets discarded without an error (ifInDiscards).', read: (c) => c.inDiscards },
  { name: 'flow_interface_in_errors', unit: undefined, help: 'Received packets with errors (ifInErrors).', read: (c) => c.inErrors },
  { name: 'flow_interface_out_bytes', unit: 'bytes', help: 'Octets sent on the interface (ifOutOctets).', read: (c) => c.outOctets },
  { name: 'flow_interface_out_unicast_packets', unit: undefined, help: 'Unicast packets sent (ifOutUcastPkts).', read: (c) => c.outUcastPkts },
  { name: 'flow_interface_out_multicast_packets', unit: undefined, help: 'Multicast packets sent (ifOutMulticastPkts).', read: (c) => c.outMulticastPkts },
  { name: 'flow_interface_out_broadcast_packets', unit: undefined, help: 'Broadcast packets sent (ifOutBroadcastPkts).', read: (c) => c.outBroadcastPkts },
  { name: 'flow_interface_out_discards', unit: undefined, help: 'Packets to send discarded without an error (ifOutDiscards).', read: (c) => c.outDiscards },
  { name: 'flow_interface_out_errors', unit: undefined, help: 'Packets that could not be sent because of errors (ifOutErrors).', read: (c) => c.outErrors },
];

const COUNTER_COUNT = INTERFACE_COUNTERS.length;
const TWO_POW_31 = 0x80000000;
const TWO_POW_32 = 0x100000000;
/**
 * A counter sample at most this far behind the last one's sequence number is a repeat or a late
 * arrival and is ignored. Counter samples of one source are a polling interval (typically 20-30 s)
 * apart, so a real late arrival is at most one or two behind; further behind is an agent restart.
 */
const REORDER_WINDOW = 2;

export interface InterfaceCounterStoreOptions {
  /** Interfaces (exporter, ifIndex) with a row; 0 turns interface metrics off. Default 2000. */
  budget?: number;
  /**
   * With the budget full, a new interface takes the row of the interface silent longest if that
   * one has had no sample for this long (ms); 0 (the default) never.
   */
  idleMs?: number;
}

/** One interface's row in a snapshot. */
export interface InterfaceRow {
  exporter: string;
  ifIndex: number;
  /** Values in INTERFACE_COUNTERS order. */
  counters: Float64Array;
  /** ifSpeed in bits per second, as the device reports it. */
  speedBitsPerSecond: number;
  operUp: boolean;
}

export interface InterfaceCountersSnapshot {
  budget: number;
  rows: InterfaceRow[];
}

export interface InterfaceCounterStats {
  interfaces: number;
  budget: number;
  /** Counter records applied to a row. */
  records: number;
  /** Counter records of interfaces that got no row because the budget was full. */
  recordsOverBudget: number;
  /** Counter records ignored because an equal or newer sample of the source had been seen. */
  recordsStale: number;
  /** Counters that went down and were taken as a device reset (counting on from zero). */
  resets: number;
  /** 32-bit counters that went down and were taken as a wrap at 2^32. */
  wraps: number;
  /** Rows given up to a new interface after idleMs without a sample. */
  expired: number;
}

class InterfaceEntry {
  readonly exporter: string;
  readonly ifIndex: number;
  /** The device's values at the last sample. */
  readonly device = new Float64Array(COUNTER_COUNT);
  /** What is exposed: the first device values plus every increase since. */
  readonly exposed = new Float64Array(COUNTER_COUNT);
  speedBitsPerSecond = 0;
  operUp = false;
  sourceIdType = 0;
  sourceIdIndex = 0;
  lastSequence = 0;
  /** Time (ms) of the last sample of this interface, applied or not. */
  lastSeenMs = 0;

  constructor(exporter: string, ifIndex: number) {
    this.exporter = exporter;
    this.ifIndex = ifIndex;
  }
}

/**
 * How a device counter got from `last` to `now`: 0 it went up; otherwise it wrapped or was reset.
 * When its last value fits in 32 bits and it fell by more than half of the 32-bit range, it is a
 * wrap at 2^32 (1: the counter is, or is filled from, a 32-bit one); any other fall is a reset (2:
 * device reboot, counters cleared), and the new value is what the device counted since.
 */
function increaseKind(last: number, now: number): 0 | 1 | 2 {
  if (now >= last) return 0;
  return last < TWO_POW_32 && last - now > TWO_POW_31 ? 1 : 2;
}

/** The increase from `last` to `now` for the case increaseKind found. */
function increaseOf(last: number, now: number, kind: 0 | 1 | 2): number {
  return kind === 0 ? now - last : kind === 1 ? now + TWO_POW_32 - last : now;
}

export class InterfaceCounterStore {
  readonly budget: number;
  readonly idleMs: number;
  private readonly byExporter = new Map<string, Map<number, InterfaceEntry>>();
  private expired = 0;
  private lastNowMs = 0;
  /** No row can have been silent for idleMs before this time (no rescan per record of a flood). */
  private noIdleRowBefore = -Infinity;
  private count = 0;
  private records = 0;
  private recordsOverBudget = 0;
  private recordsStale = 0;
  private resets = 0;
  private wraps = 0;

  constructor(options: InterfaceCounterStoreOptions = {}) {
    const budget = options.budget ?? DEFAULT_INTERFACE_BUDGET;
    if (!Number.isInteger(budget) || budget < 0) throw new Error(`interface budget must be a non-negative integer, got ${budget}`);
    this.budget = budget;
    const idleMs = options.idleMs ?? 0;
    if (!(idleMs >= 0 && Number.isFinite(idleMs))) throw new Error(`interface idle time must be a non-negative number of ms, got ${idleMs}`);
    this.idleMs = idleMs;
  }

  /** Interfaces with a row. */
  get size(): number {
    return this.count;
  }

  /**
   * Applies one generic interface counter record (the decoder's reused object: nothing of it is
   * kept), received at `nowMs` (default: the time of the previous call, or 0). Returns false when the
   * interface has no row (budget full) or the sample is stale. Allocates only when an interface gets
   * its row.
   */
  add(c: InterfaceCounters, nowMs = this.lastNowMs): boolean {
    this.lastNowMs = nowMs;
    let rows = this.byExporter.get(c.agent);
    let e = rows?.get(c.ifIndex);
    if (e === undefined) {
      if (this.count >= this.budget && !this.expireIdle(nowMs)) {
        this.recordsOverBudget++;
        return false;
      }
      // expireIdle may have removed this exporter's last row, and its map with it.
      rows = this.byExporter.get(c.agent);
      if (rows === undefined) {
        rows = new Map();
        this.byExporter.set(c.agent, rows);
      }
      e = new InterfaceEntry(c.agent, c.ifIndex);
      e.lastSeenMs = nowMs;
      rows.set(c.ifIndex, e);
      this.count++;
      // The device's counters as they are: they count since the device's own start.
      for (let i = 0; i < COUNTER_COUNT; i++) {
        const v = nonNegative(INTERFACE_COUNTERS[i].read(c));
        e.device[i] = v;
        e.exposed[i] = v;
      }
    } else {
      if (nowMs > e.lastSeenMs) e.lastSeenMs = nowMs;
      if (isStale(e, c)) {
        this.recordsStale++;
        return false;
      }
      for (let i = 0; i < COUNTER_COUNT; i++) {
        const now = nonNegative(INTERFACE_COUNTERS[i].read(c));
        const last = e.device[i];
        const kind = increaseKind(last, now);
        if (kind === 1) this.wraps++;
        else if (kind === 2) this.resets++;
        e.exposed[i] += increaseOf(last, now, kind);
        e.device[i] = now;
      }
    }
    e.sourceIdType = c.sourceIdType;
    e.sourceIdIndex = c.sourceIdIndex;
    e.lastSequence = c.sampleSequence;
    e.speedBitsPerSecond = c.ifSpeed;
    e.operUp = c.ifOperUp;
    this.records++;
    return true;
  }

  /**
   * Frees the row of the interface silent longest, if silent for idleMs. O(rows), and only when a
   * new interface finds the budget full and a row could qualify by now.
   */
  private expireIdle(nowMs: number): boolean {
    if (!(this.idleMs > 0) || nowMs < this.noIdleRowBefore) return false;
    let oldest: InterfaceEntry | undefined;
    for (const rows of this.byExporter.values()) {
      for (const e of rows.values()) if (oldest === undefined || e.lastSeenMs < oldest.lastSeenMs) oldest = e;
    }
    if (oldest === undefined) return false;
    if (nowMs - oldest.lastSeenMs < this.idleMs) {
      this.noIdleRowBefore = oldest.lastSeenMs + this.idleMs;
      return false;
    }
    const rows = this.byExporter.get(oldest.exporter)!;
    rows.delete(oldest.ifIndex);
    if (rows.size === 0) this.byExporter.delete(oldest.exporter);
    this.count--;
    this.expired++;
    return true;
  }

  /** A point-in-time copy for rendering, rows ordered by exporter then ifIndex. */
  snapshot(): InterfaceCountersSnapshot {
    const rows: InterfaceRow[] = [];
    const exporters = [...this.byExporter.keys()].sort();
    for (const exporter of exporters) {
      const byIf = this.byExporter.get(exporter)!;
      const indexes = [...byIf.keys()].sort((a, b) => a - b);
      for (const ifIndex of indexes) {
        const e = byIf.get(ifIndex)!;
        rows.push({
          exporter,
          ifIndex,
          counters: Float64Array.from(e.exposed),
          speedBitsPerSecond: e.speedBitsPerSecond,
          operUp: e.operUp,
        });
      }
    }
    return { budget: this.budget, rows };
  }

  stats(): InterfaceCounterStats {
    return {
      interfaces: this.count,
      budget: this.budget,
      records: this.records,
      recordsOverBudget: this.recordsOverBudget,
      recordsStale: this.recordsStale,
      resets: this.resets,
      wraps: this.wraps,
      expired: this.expired,
    };
  }
}

/**
 * A repeated sample (same sequence number) or one that arrived after a newer one (at most
 * REORDER_WINDOW behind) of the same data source. Applying it would read as a counter reset.
 */
function isStale(e: InterfaceEntry, c: InterfaceCounters): boolean {
  if (c.sourceIdType !== e.sourceIdType || c.sourceIdIndex !== e.sourceIdIndex) return false;
  const behind = (e.lastSequence - c.sampleSequence) >>> 0;
  return behind <= REORDER_WINDOW;
}

function nonNegative(v: number): number {
  return Number.isFinite(v) && v > 0 ? v : 0;
}
