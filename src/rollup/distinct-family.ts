/**
 * Distinct peers and distinct peer ports per device over a sliding window: one pair of
 * SlidingHyperLogLog sketches per device with a series, rendered as the gauges
 * `flow_device_distinct_peers{device}` and `flow_device_distinct_ports{device}`. A device whose
 * distinct counts jump (an IoT device scanning, or contacting many new hosts) shows it at once.
 *
 * Bounded like every family: at most `budget` devices (the `other` row included, whose slot is
 * reserved). A device without a slot folds into `other`, whose sketches hold the union of every
 * folded device. Because these are gauges over a window, a device that has been silent for the
 * whole window gives its slot up to a new device (its series disappears), found in O(1) through a
 * least-recently-seen list; a device still inside the window is never evicted.
 *
 * Time is whatever the caller passes (the record's receive time, and a scrape time): no timers.
 */
import type { DistinctSettings } from '../config/types.js';
import {
  HyperLogLog,
  SlidingHyperLogLog,
  checkPrecision,
  checkWindow,
  hashAddress,
  hashPort,
  hllStandardError,
} from './hyperloglog.js';
import type { GaugeSnapshot, MeasureStats } from './measure-snapshot.js';
import { type FlowLabels, OTHER } from './types.js';

export const DEFAULT_DISTINCT: Readonly<DistinctSettings> = Object.freeze({
  budget: 500,
  windowSeconds: 300,
  subWindows: 5,
  precision: 10,
});

export const DISTINCT_PEERS_METRIC = 'flow_device_distinct_peers';
export const DISTINCT_PORTS_METRIC = 'flow_device_distinct_ports';

/** No list link. */
const NIL = -1;

/** IP protocols whose records carry real ports: TCP, UDP, DCCP, UDP-Lite, SCTP. */
export function hasPorts(protocol: number): boolean {
  return protocol === 6 || protocol === 17 || protocol === 33 || protocol === 136 || protocol === 132;
}

export class DistinctFamily {
  readonly budget: number;
  readonly windowMs: number;
  readonly subWindows: number;
  readonly precision: number;
  /** Relative standard error of each estimate. */
  readonly standardError: number;

  private readonly sliceMs: number;
  private readonly bySlot: string[] = [];
  private readonly peers: SlidingHyperLogLog[] = [];
  private readonly ports: SlidingHyperLogLog[] = [];
  private readonly slotOf = new Map<string, number>();
  /** Least-recently-seen list over device slots (not the `other` slot): head = most recent. */
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private head = NIL;
  private tail = NIL;
  private otherSlot = NIL;
  private readonly scratch: HyperLogLog;
  /**
   * Sub-windows are numbered from the first one seen, so that the hot path handles small
   * integers only (a millisecond time passed between functions may be boxed on the heap).
   */
  private originEpoch = NaN;
  /** Sub-window of the records being fed (set by setTime). */
  private epoch = 0;
  private newestEpoch = 0;

  /** Bumped whenever a slot passes to another device (see recordHashCached). */
  private generation = 0;
  private admissions = 0;
  private evictions = 0;
  private folded = 0;
  /** Observations older than the window, ignored. */
  late = 0;

  constructor(settings: DistinctSettings) {
    const budget = settings.budget;
    if (!Number.isSafeInteger(budget) || budget < 1) {
      throw new Error(`distinct: budget must be an integer of at least 1 (the "other" row), got ${String(budget)}`);
    }
    checkPrecision(settings.precision);
    this.windowMs = settings.windowSeconds * 1000;
    checkWindow(this.windowMs, settings.subWindows);
    this.budget = budget;
    this.subWindows = settings.subWindows;
    this.sliceMs = this.windowMs / settings.subWindows;
    this.precision = settings.precision;
    this.standardError = hllStandardError(settings.precision);
    this.scratch = new HyperLogLog(settings.precision);
  }

  /** Sets the time (ms) of the records that follow, typically once per received datagram. */
  setTime(tMs: number): void {
    const abs = Math.floor(tMs / this.sliceMs);
    if (!Number.isFinite(abs)) return;
    if (Number.isNaN(this.originEpoch)) this.originEpoch = abs;
    this.epoch = (abs - this.originEpoch) | 0;
    if (this.epoch > this.newestEpoch) this.newestEpoch = this.epoch;
  }

  /**
   * Counts one record of `device` at the time of the last setTime: `peer` is the peer's address
   * (16-byte buffer, IPv4 in bytes 0..3), `peerPort` its port of the flow (0 when none).
   * Only small integers and objects cross the call, so nothing is boxed per record.
   */
  record(device: string, af: number, peer: Uint8Array, protocol: number, peerPort: number): void {
    let slot = this.slotOf.get(device);
    if (slot === undefined) slot = this.place(device);
    else if (slot !== this.otherSlot) this.touch(slot);
    this.addAt(slot, hashAddress(af, peer), protocol, peerPort);
  }

  /**
   * record() of labels.device for a caller that keeps three cells per (device, peer address)
   * pair, all -1 at first, and passes the peer address hashed (hashAddress); `labels` is read only
   * when the cells do not answer. `cells[k]` remembers the device's own slot
   * (-1 when unknown or when the device counts in `other`), `cells[k + 1]` the generation it was
   * learned at, so later records skip the lookup while no slot has changed hands; `cells[k + 2]`
   * the sub-window in which the peer was last added to that slot's sketch: adding it again within
   * the same sub-window is skipped (a register keeps its maximum, so it would change nothing).
   */
  recordHashCached(labels: FlowLabels, peerHash: number, protocol: number, peerPort: number, cells: Int32Array, k: number): void {
    let slot = cells[k];
    if (slot >= 0 && cells[k + 1] === this.generation) {
      this.touch(slot);
      if (cells[k + 2] === this.epoch) {
        if (!this.peers[slot].acceptsAt(this.epoch)) {
          this.late++;
          return;
        }
        if (peerPort > 0 && hasPorts(protocol)) this.ports[slot].addHashAt(hashPort(protocol, peerPort), this.epoch);
        return;
      }
    } else {
      // Only a route that changed reads the labels (a known key's labels are not even loaded).
      const device = labels.device;
      const known = this.slotOf.get(device);
      if (known === undefined) slot = this.place(device);
      else {
        slot = known;
        if (slot !== this.otherSlot) this.touch(slot);
      }
      cells[k] = slot === this.otherSlot ? -1 : slot;
      cells[k + 1] = this.generation;
    }
    if (this.addAt(slot, peerHash, protocol, peerPort) && cells[k] === slot) cells[k + 2] = this.epoch;
  }

  /** False when the record is older than the window (counted in `late`). */
  private addAt(slot: number, peerHash: number, protocol: number, peerPort: number): boolean {
    if (!this.peers[slot].addHashAt(peerHash, this.epoch)) {
      this.late++;
      return false;
    }
    if (peerPort > 0 && hasPorts(protocol)) this.ports[slot].addHashAt(hashPort(protocol, peerPort), this.epoch);
    return true;
  }

  /** Counts one item pair by hash, at `tMs`: for tests and callers with their own hashes. */
  observeHashes(device: string, tMs: number, peerHash: number, portHash: number | undefined): void {
    this.setTime(tMs);
    let slot = this.slotOf.get(device);
    if (slot === undefined) slot = this.place(device);
    else if (slot !== this.otherSlot) this.touch(slot);
    if (!this.peers[slot].addHashAt(peerHash, this.epoch)) {
      this.late++;
      return;
    }
    if (portHash !== undefined) this.ports[slot].addHashAt(portHash, this.epoch);
  }

  /** Devices holding a series of their own (without `other`), most recently seen first. */
  keptDevices(): string[] {
    const out: string[] = [];
    for (let s = this.head; s !== NIL; s = this.next[s]) out.push(this.bySlot[s]);
    return out;
  }

  /** Both gauges at `nowMs` (default: the newest time fed). Rows in slot order. */
  snapshot(nowMs?: number): { peers: GaugeSnapshot; ports: GaugeSnapshot } {
    const epoch = nowMs === undefined || Number.isNaN(this.originEpoch) ? this.newestEpoch : Math.floor(nowMs / this.sliceMs) - this.originEpoch;
    const rows = this.bySlot.length;
    const peerValues = new Float64Array(rows);
    const portValues = new Float64Array(rows);
    for (let s = 0; s < rows; s++) {
      peerValues[s] = Math.round(this.peers[s].estimateAt(epoch, this.scratch));
      portValues[s] = Math.round(this.ports[s].estimateAt(epoch, this.scratch));
    }
    const labelValues = this.bySlot.map((d) => Object.freeze([d]));
    const minutes = this.windowMs / 60_000;
    const window = Number.isInteger(minutes) ? `${minutes} min` : `${this.windowMs / 1000} s`;
    const error = `${(this.standardError * 100).toFixed(1)} % standard error`;
    return {
      peers: {
        name: DISTINCT_PEERS_METRIC,
        help: `Distinct peer addresses each local device exchanged flows with in the last ${window} (HyperLogLog estimate, ${error}).`,
        labelNames: ['device'],
        labelValues,
        values: peerValues,
      },
      ports: {
        name: DISTINCT_PORTS_METRIC,
        help: `Distinct peer-side (protocol, port) pairs of each local device's TCP, UDP, SCTP, DCCP and UDP-Lite flows in the last ${window} (HyperLogLog estimate, ${error}).`,
        labelNames: ['device'],
        labelValues,
        values: portValues,
      },
    };
  }

  stats(): MeasureStats[] {
    const base = {
      kind: 'gauge' as const,
      seriesInUse: this.bySlot.length,
      budget: this.budget,
      admissions: this.admissions,
      evictions: this.evictions,
      foldedRecords: this.folded,
      foldedBytes: 0,
    };
    return [
      { name: DISTINCT_PEERS_METRIC, ...base, labels: ['device'] },
      { name: DISTINCT_PORTS_METRIC, ...base, labels: ['device'] },
    ];
  }

  /** Slot for a device seen for the first time (or again after losing its slot). */
  private place(device: string): number {
    // One slot is always left for `other`.
    const deviceSlots = this.bySlot.length - (this.otherSlot === NIL ? 0 : 1);
    if (device !== OTHER && deviceSlots < this.budget - 1) {
      const slot = this.newSlot(device);
      this.linkFront(slot);
      this.admissions++;
      return slot;
    }
    // Reuse the slot of the least recently seen device if its window has emptied.
    const t = this.tail;
    if (device !== OTHER && t !== NIL && this.peers[t].isIdleAt(this.epoch) && this.ports[t].isIdleAt(this.epoch)) {
      this.slotOf.delete(this.bySlot[t]);
      this.generation++;
      this.peers[t].clear();
      this.ports[t].clear();
      this.bySlot[t] = device;
      this.slotOf.set(device, t);
      this.unlink(t);
      this.linkFront(t);
      this.evictions++;
      this.admissions++;
      return t;
    }
    if (device !== OTHER) this.folded++;
    if (this.otherSlot === NIL) this.otherSlot = this.newSlot(OTHER);
    return this.otherSlot;
  }

  private newSlot(device: string): number {
    const slot = this.bySlot.length;
    this.bySlot.push(device);
    this.peers.push(new SlidingHyperLogLog(this.precision, this.windowMs, this.subWindows));
    this.ports.push(new SlidingHyperLogLog(this.precision, this.windowMs, this.subWindows));
    this.slotOf.set(device, slot);
    if (slot >= this.prev.length) {
      const cap = Math.min(this.budget, Math.max(16, this.prev.length * 2));
      const p = new Int32Array(cap).fill(NIL);
      const n = new Int32Array(cap).fill(NIL);
      p.set(this.prev);
      n.set(this.next);
      this.prev = p;
      this.next = n;
    }
    return slot;
  }

  private touch(slot: number): void {
    if (this.head === slot) return;
    this.unlink(slot);
    this.linkFront(slot);
  }

  private linkFront(slot: number): void {
    this.prev[slot] = NIL;
    this.next[slot] = this.head;
    if (this.head !== NIL) this.prev[this.head] = slot;
    this.head = slot;
    if (this.tail === NIL) this.tail = slot;
  }

  private unlink(slot: number): void {
    const p = this.prev[slot];
    const n = this.next[slot];
    if (p !== NIL) this.next[p] = n;
    else this.head = n;
    if (n !== NIL) this.prev[n] = p;
    else this.tail = p;
    this.prev[slot] = NIL;
    this.next[slot] = NIL;
  }
}
