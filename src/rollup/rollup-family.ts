/**
 * One rollup: bytes, packets and flows counters per label set, under a hard budget of label sets.
 *
 * The cardinality contract (docs/metrics.md) holds whatever arrives:
 * - hard cap: rows (label sets, `other` rows included) never exceed the budget;
 * - conservation: every record lands in exactly one row, and a row that is evicted hands its totals
 *   to its fallback row, so the column sums always equal the totals;
 * - graceful overflow: a label set that cannot get a row folds into a coarser row, the least
 *   important label first, down to the all-`other` row, whose slot is always reserved;
 * - counters stay counters: a row is never reset or decreased while it exists; an evicted row
 *   leaves the exposition and its label set cannot get a row again for the policy's hold-off.
 *
 * Which label sets get rows is the admission policy's choice (default: HeavyHitterSelection, by
 * recent traffic with hysteresis); the family only asks it among choices that keep the contract.
 *
 * Fold levels: level k means the first k labels of the fallback order read `other`. A row's level
 * follows from its values alone (a real value "other" is the same label set as a folded one, so it
 * must be the same row). Each partial level (1..n-1) and the all-`other` level (n) hold a reserve of
 * the budget; a row may be created only if the reserves still unused by the other levels stay
 * available afterwards. So the all-`other` row always fits and the cap is never exceeded.
 */
import type { RollupDefinition, RollupLabel } from '../config/types.js';
import type { AdmissionHost, AdmissionPolicy } from './admission.js';
import { HeavyHitterSelection, type SelectionOptions } from './heavy-hitters.js';
import { compileLabelReader, type LabelReader } from './label-reader.js';
import { type LabelTrie, trieInsert } from './label-trie.js';
import type { RollupSnapshot, RollupStats } from './snapshot.js';
import { type FlowLabels, OTHER, createFlowLabels } from './types.js';

/** The value an empty label reads as. */
export const UNKNOWN = 'unknown';

export interface RollupFamilyOptions {
  /**
   * Selection among label sets the budget can hold, and of rows to give up; default a
   * HeavyHitterSelection with `selection` options. One policy instance per family.
   */
  policy?: AdmissionPolicy;
  /** Options of the default HeavyHitterSelection (ignored when `policy` is given). */
  selection?: SelectionOptions;
  /**
   * Clock read when the family is never given time through advanceTime() (every 1024 records);
   * default Date.now. Once advanceTime() is called, the family follows only the time it is given.
   */
  clock?: () => number;
  /**
   * Share of the budget (0..1) held back for partially folded rows such as (device, other), split
   * evenly between the partial levels, at least one row each. Default 0.25. Only a reserve: rows
   * of any level may use free budget beyond it.
   */
  partialReserveShare?: number;
}

// Module-local copy: the fold path reads it per overflowing record.
const FOLDED = OTHER;
const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const KNOWN_LABELS: ReadonlySet<string> = new Set(Object.keys(createFlowLabels()));
const MAX_COUNT = Number.MAX_SAFE_INTEGER;
const INITIAL_CAPACITY = 64;

/** Path of label values to a row index; the last level maps to the row index. */
type Trie = LabelTrie;

/** Smallest budget a rollup with `labelCount` labels accepts: one row per partial level + all-`other`. */
export function minimumBudget(labelCount: number): number {
  return labelCount;
}

/** The labels in the order they fold to `other`: the explicit fallback, then the rest from last to first. */
export function foldOrder(def: RollupDefinition): RollupLabel[] {
  const order: RollupLabel[] = [...(def.fallback ?? [])];
  for (let i = def.labels.length - 1; i >= 0; i--) {
    if (!order.includes(def.labels[i])) order.push(def.labels[i]);
  }
  return order;
}

export function validateRollupDefinition(def: RollupDefinition): void {
  const name = typeof def?.name === 'string' ? def.name : String(def?.name);
  const where = `rollup "${name}"`;
  if (!METRIC_NAME.test(name) || name.startsWith('__')) {
    throw new Error(`${where}: name must be a Prometheus metric name ([a-zA-Z_][a-zA-Z0-9_]*, no leading "__")`);
  }
  if (!Array.isArray(def.labels) || def.labels.length === 0) {
    throw new Error(`${where}: labels must be a non-empty list`);
  }
  const seen = new Set<string>();
  for (const l of def.labels) {
    if (!KNOWN_LABELS.has(l)) {
      throw new Error(`${where}: unknown label "${String(l)}" (known: ${[...KNOWN_LABELS].join(', ')})`);
    }
    if (seen.has(l)) throw new Error(`${where}: label "${l}" is listed twice`);
    seen.add(l);
  }
  if (def.fallback !== undefined) {
    if (!Array.isArray(def.fallback)) throw new Error(`${where}: fallback must be a list of its labels`);
    const fseen = new Set<string>();
    for (const l of def.fallback) {
      if (!seen.has(l)) throw new Error(`${where}: fallback label "${String(l)}" is not one of its labels`);
      if (fseen.has(l)) throw new Error(`${where}: fallback label "${l}" is listed twice`);
      fseen.add(l);
    }
  }
  const min = minimumBudget(def.labels.length);
  if (!Number.isSafeInteger(def.budget) || def.budget < min) {
    const partial = def.labels.length - 1;
    throw new Error(
      `${where}: budget ${String(def.budget)} cannot hold its own "other" rows: ` +
        `with ${def.labels.length} label(s) it needs an integer of at least ${min} ` +
        `(${partial} partially folded row(s) + 1 all-"other" row)`,
    );
  }
}

/** Whether rounded counts can be added: finite, not negative, safe integers (counters never decrease). */
export function validCounts(bytes: number, packets: number, flows: number): boolean {
  return bytes >= 0 && bytes <= MAX_COUNT && packets >= 0 && packets <= MAX_COUNT && flows >= 0 && flows <= MAX_COUNT;
}

/** Records between two reads of the fallback clock. */
const CLOCK_POLL_MASK = 1023;

export class RollupFamily implements AdmissionHost {
  /** The validated definition, with the effective help and fallback order filled in. */
  readonly definition: Readonly<RollupDefinition>;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly RollupLabel[];
  readonly labelCount: number;
  readonly budget: number;
  /** Labels in the order they fold to `other`. */
  readonly fallbackOrder: readonly RollupLabel[];
  /** The admission policy in use (a HeavyHitterSelection unless one was given). */
  readonly policy: AdmissionPolicy;

  private readonly n: number;
  /** Index into labelNames of the k-th label to fold. */
  private readonly foldPositions: Int32Array;
  /** Rows held back per fold level (0..n); level 0 has none, level n exactly one. */
  private readonly reserve: Int32Array;
  private readonly usedByLevel: Int32Array;
  /** Sum over levels of max(0, reserve - used): budget that rows of other levels cannot take. */
  private outstanding: number;
  /** Reused per record: the record's label values, folded in place when it overflows. */
  private readonly scratch: string[];
  /** Fills `scratch` from a record's labels (generated per family, see label-reader.ts). */
  private readonly readLabels: LabelReader;
  /** Reused per eviction: the evicted row's values, folded towards its fallback row. */
  private readonly evictScratch: string[];
  /** Reused per eviction: the trie nodes on the evicted row's path. */
  private readonly triePath: Trie[];
  private readonly root: Trie = new Map();
  /** Set by a lookup that misses: the depth of the first label not found, and the node it was missing from. */
  private missDepth = 0;
  private missNode: Trie = this.root;

  /** Live rows. Slots of evicted rows are reused, so live rows are not contiguous. */
  private rows = 0;
  /** Slots ever handed out (live or free); every slot is below the budget. */
  private slotsUsed = 0;
  private readonly freeSlots: Int32Array;
  private freeCount = 0;
  private rowValues: Array<readonly string[] | undefined> = [];
  private rowLevel: Int32Array;
  private bytes: Float64Array;
  private packets: Float64Array;
  private flows: Float64Array;

  private readonly clock: () => number;
  private now = Number.NaN;
  private explicitTime = false;
  private clockPoll = 0;

  /**
   * Bumped whenever a row is removed (its slot may then hold another label set): a slot learned
   * from lastOwnSlot stays the same label set's row while the generation is unchanged.
   */
  generation = 0;
  /** After add()/addCounts(): the slot if the record landed in its own label set's row, else -1. */
  lastOwnSlot = -1;
  /** Set by place(): whether the row it returned is the record's own (created for it). */
  private placedOwn = false;

  private admissions = 0;
  private evictions = 0;
  private evictedBytes = 0;
  private evictedPackets = 0;
  private evictedFlows = 0;
  private foldedRecords = 0;
  private foldedBytes = 0;
  private rejectedRecords = 0;
  private totalBytes = 0;
  private totalPackets = 0;
  private totalFlows = 0;

  constructor(def: RollupDefinition, options: RollupFamilyOptions = {}) {
    validateRollupDefinition(def);
    const share = options.partialReserveShare ?? 0.25;
    if (!(share >= 0 && share <= 1)) {
      throw new Error(`rollup "${def.name}": partialReserveShare must be between 0 and 1, got ${share}`);
    }
    this.name = def.name;
    this.labelNames = Object.freeze([...def.labels]);
    this.help = def.help ?? `Traffic per ${def.labels.join(' and ')}`;
    this.budget = def.budget;
    this.n = def.labels.length;
    this.labelCount = this.n;
    this.fallbackOrder = Object.freeze(foldOrder(def));
    this.foldPositions = Int32Array.from(this.fallbackOrder, (l) => def.labels.indexOf(l));
    this.definition = Object.freeze({
      name: this.name,
      labels: [...this.labelNames],
      budget: this.budget,
      fallback: [...this.fallbackOrder],
      help: this.help,
    });

    const n = this.n;
    this.reserve = new Int32Array(n + 1);
    this.reserve[n] = 1;
    if (n > 1) {
      const perLevel = Math.max(1, Math.floor(((this.budget - 1) * share) / (n - 1)));
      for (let k = 1; k < n; k++) this.reserve[k] = perLevel;
    }
    this.usedByLevel = new Int32Array(n + 1);
    this.outstanding = 0;
    for (let k = 0; k <= n; k++) this.outstanding += this.reserve[k];
    // Validation guarantees budget >= n, and perLevel*(n-1) <= (budget-1) when perLevel > 1.
    if (this.outstanding > this.budget) throw new Error(`rollup "${def.name}": reserves exceed the budget`);

    this.scratch = new Array<string>(n).fill(UNKNOWN);
    this.readLabels = compileLabelReader(this.labelNames, UNKNOWN);
    this.evictScratch = new Array<string>(n).fill(UNKNOWN);
    this.triePath = new Array<Trie>(n).fill(this.root);
    this.freeSlots = new Int32Array(this.budget);
    const cap = Math.min(this.budget, INITIAL_CAPACITY);
    this.rowLevel = new Int32Array(cap);
    this.bytes = new Float64Array(cap);
    this.packets = new Float64Array(cap);
    this.flows = new Float64Array(cap);

    this.clock = options.clock ?? Date.now;
    try {
      this.policy = options.policy ?? new HeavyHitterSelection(options.selection);
      this.policy.attach?.(this);
    } catch (err) {
      throw new Error(`rollup "${def.name}": ${(err as Error).message}`);
    }
  }

  /**
   * Count one record. Counts are rounded to integers; a record with a negative, NaN or unsafe count
   * is refused whole (counted in `rejectedRecords`) so that counters never decrease.
   * Allocation-free unless the record creates or evicts a row.
   */
  add(labels: FlowLabels, bytes: number, packets: number, flows: number): void {
    bytes = Math.round(bytes);
    packets = Math.round(packets);
    flows = Math.round(flows);
    if (!validCounts(bytes, packets, flows)) {
      this.rejectedRecords++;
      this.lastOwnSlot = -1;
      return;
    }
    this.addCounts(labels, bytes, packets, flows);
  }

  /**
   * add() for counts already rounded and checked (validCounts). Afterwards lastOwnSlot says
   * whether the record landed in the row of its own label set, which addAt() can reuse.
   */
  addCounts(labels: FlowLabels, bytes: number, packets: number, flows: number): void {
    if (!this.explicitTime && (++this.clockPoll & CLOCK_POLL_MASK) === 1) this.setTime(this.clock());
    const s = this.scratch;
    this.readLabels(labels, s);
    let slot = this.lookup(s);
    if (slot >= 0) {
      this.lastOwnSlot = slot;
    } else {
      slot = this.place(bytes);
      // A new row of its own, or a coarser row it folded into.
      this.lastOwnSlot = this.placedOwn ? slot : -1;
    }
    this.credit(slot, bytes, packets, flows);
  }

  /**
   * Counts a record into `slot`, which an earlier add()/addCounts() reported as the record's own
   * row (lastOwnSlot) while `generation` was what it still is: the same as addCounts() would do,
   * without looking the label set up again. Counts must be rounded and checked (validCounts).
   */
  addAt(slot: number, bytes: number, packets: number, flows: number): void {
    if (!this.explicitTime && (++this.clockPoll & CLOCK_POLL_MASK) === 1) this.setTime(this.clock());
    this.credit(slot, bytes, packets, flows);
  }

  private credit(slot: number, bytes: number, packets: number, flows: number): void {
    this.bytes[slot] += bytes;
    this.packets[slot] += packets;
    this.flows[slot] += flows;
    this.totalBytes += bytes;
    this.totalPackets += packets;
    this.totalFlows += flows;
    this.policy.credited?.(slot, bytes, packets, flows);
  }

  /**
   * Moves the family's clock to `nowMs` (the receive or record time of what follows). Earlier
   * times are ignored, so the clock never runs backwards. From the first call on, the fallback
   * clock is no longer read.
   */
  advanceTime(nowMs: number): void {
    this.explicitTime = true;
    this.setTime(nowMs);
  }

  /** The family's current time (ms), NaN before any. */
  currentTime(): number {
    return this.now;
  }

  /** A copy of the live rows and counters, detached from the live state. */
  snapshot(): RollupSnapshot {
    const rows = this.rows;
    const labelValues = new Array<readonly string[]>(rows);
    const bytes = new Float64Array(rows);
    const packets = new Float64Array(rows);
    const flows = new Float64Array(rows);
    let r = 0;
    for (let slot = 0; slot < this.slotsUsed; slot++) {
      const v = this.rowValues[slot];
      if (v === undefined) continue;
      labelValues[r] = v;
      bytes[r] = this.bytes[slot];
      packets[r] = this.packets[slot];
      flows[r] = this.flows[slot];
      r++;
    }
    return {
      name: this.name,
      help: this.help,
      labelNames: this.labelNames,
      labelValues,
      bytes,
      packets,
      flows,
      budget: this.budget,
      totalBytes: this.totalBytes,
      totalPackets: this.totalPackets,
      totalFlows: this.totalFlows,
    };
  }

  stats(): RollupStats {
    return {
      name: this.name,
      seriesInUse: this.rows,
      budget: this.budget,
      admissions: this.admissions,
      evictions: this.evictions,
      evictedBytes: this.evictedBytes,
      evictedPackets: this.evictedPackets,
      evictedFlows: this.evictedFlows,
      foldedRecords: this.foldedRecords,
      foldedBytes: this.foldedBytes,
      rejectedRecords: this.rejectedRecords,
      totalBytes: this.totalBytes,
      totalPackets: this.totalPackets,
      totalFlows: this.totalFlows,
    };
  }

  /** Rows held back for fold level k (0 = full label set, labelNames.length = all `other`). */
  reservedRows(level: number): number {
    return this.reserve[level] ?? 0;
  }

  /** Rows in use at fold level k. */
  rowsAtLevel(level: number): number {
    return this.usedByLevel[level] ?? 0;
  }

  /** The slot of the row for exactly these label values (in labelNames order), or -1. */
  slotOf(values: readonly string[]): number {
    return values.length === this.n ? this.lookup(values) : -1;
  }

  evictable(slot: number): boolean {
    if (slot < 0 || slot >= this.slotsUsed || this.rowValues[slot] === undefined) return false;
    const level = this.rowLevel[slot];
    if (level === this.n) return false;
    return level === 0 || this.usedByLevel[level] > this.reserve[level];
  }

  private setTime(nowMs: number): void {
    if (!(nowMs > this.now) && !Number.isNaN(this.now)) return;
    if (!Number.isFinite(nowMs)) return;
    this.now = nowMs;
    this.policy.advance?.(nowMs);
  }

  /** Finds a row; on a miss, records the depth of the missing label and the node reached. */
  private lookup(values: readonly string[]): number {
    return this.lookupFrom(values, 0, this.root);
  }

  private lookupFrom(values: readonly string[], depth: number, from: Trie): number {
    let node = from;
    const last = this.n - 1;
    for (let i = depth; i < last; i++) {
      const next = node.get(values[i]);
      if (next === undefined) {
        this.missDepth = i;
        this.missNode = node;
        return -1;
      }
      node = next as Trie;
    }
    const slot = node.get(values[last]);
    if (slot === undefined) {
      this.missDepth = last;
      this.missNode = node;
      return -1;
    }
    return slot as number;
  }

  /**
   * Looks up the record's label set after folding, reusing the miss of its own label set: labels
   * before `prefix` (the first folded position) are unchanged, so if the own lookup missed after
   * that point it ends the same way, and if it missed right there it continues from that node.
   * Valid only while the trie is unchanged since the own lookup.
   */
  private lookupFolded(values: readonly string[], prefix: number, missDepth: number, missNode: Trie): number {
    if (prefix > missDepth) return -1;
    if (prefix === missDepth) return this.lookupFrom(values, missDepth, missNode);
    return this.lookup(values);
  }

  /** Finds or creates the row for a label set that has none: its own if admitted, else a coarser one. */
  private place(bytes: number): number {
    const s = this.scratch;
    const n = this.n;
    let level = this.levelOf(s, 0);
    this.placedOwn = true;
    if (level === n || this.hasRoom(level)) {
      if (level === n || this.policy.admit(s, level, bytes)) return this.createRow(s, level);
    } else if (level === 0 && this.policy.challenge !== undefined) {
      const victim = this.policy.challenge(s, bytes);
      if (victim >= 0 && this.evictable(victim)) {
        this.evict(victim);
        // Evicting a row never takes budget from the free pool (see fallbackTarget), so this fits.
        if (!this.hasRoom(0)) throw new Error(`rollup "${this.name}": no room after an eviction (accounting broken)`);
        return this.createRow(s, 0);
      }
    }
    // From here on the scratch values fold: whatever row is found is a coarser one.
    this.placedOwn = false;
    this.foldedRecords++;
    this.foldedBytes += bytes;
    // Where the record's own lookup (in add) missed; nothing below changes the trie before a return.
    const missDepth = this.missDepth;
    const missNode = this.missNode;
    // The common overflow (a new peer of a known device): the label that folds first is the last
    // one and the one the lookup missed, so its `other` row, if any, is in the node it reached.
    if (missDepth === n - 1 && this.foldPositions[0] === missDepth) {
      const sibling = missNode.get(FOLDED);
      if (sibling !== undefined) return sibling as number;
    }
    let prefix = n;
    while (level < n) {
      const pos = this.foldPositions[level];
      s[pos] = FOLDED;
      if (pos < prefix) prefix = pos;
      // Labels further down the order may already read "other": skip those levels.
      level = this.levelOf(s, level + 1);
      let slot = this.lookupFolded(s, prefix, missDepth, missNode);
      if (slot >= 0) return slot;
      slot = this.tryCreate(s, level, bytes);
      if (slot >= 0) return slot;
    }
    // The all-other row is reserved from construction, so it is found or created above.
    throw new Error(`rollup "${this.name}": all-"other" row unavailable (reservation broken)`);
  }

  /** Fold level of a label set: how many labels, in fold order, read `other` from the start. */
  private levelOf(values: readonly string[], from: number): number {
    let k = from;
    while (k < this.n && values[this.foldPositions[k]] === FOLDED) k++;
    return k;
  }

  private hasRoom(level: number): boolean {
    if (this.usedByLevel[level] < this.reserve[level]) return true;
    return this.rows + 1 + this.outstanding <= this.budget;
  }

  private tryCreate(values: readonly string[], level: number, bytes: number): number {
    if (!this.hasRoom(level)) return -1;
    if (level < this.n && !this.policy.admit(values, level, bytes)) return -1;
    return this.createRow(values, level);
  }

  private createRow(values: readonly string[], level: number): number {
    let slot: number;
    if (this.freeCount > 0) {
      slot = this.freeSlots[--this.freeCount];
    } else {
      slot = this.slotsUsed++;
      if (slot === this.bytes.length) this.grow();
    }
    const kept = Object.freeze(values.slice());
    this.rowValues[slot] = kept;
    this.rowLevel[slot] = level;
    trieInsert(this.root, kept, this.n, slot);
    if (this.usedByLevel[level] < this.reserve[level]) this.outstanding--;
    this.usedByLevel[level]++;
    this.rows++;
    this.admissions++;
    this.policy.admitted?.(slot, kept, level);
    return slot;
  }

  /**
   * Removes a row and moves its totals into its fallback row, so that the sum over the rows stays
   * the total (conservation) and no exposed counter decreases (the fallback row only grows).
   */
  private evict(slot: number): void {
    const values = this.rowValues[slot]!;
    const level = this.rowLevel[slot];
    const b = this.bytes[slot];
    const p = this.packets[slot];
    const f = this.flows[slot];
    this.removeFromTrie(values);
    this.generation++;
    this.rowValues[slot] = undefined;
    this.bytes[slot] = 0;
    this.packets[slot] = 0;
    this.flows[slot] = 0;
    this.usedByLevel[level]--;
    if (this.usedByLevel[level] < this.reserve[level]) this.outstanding++;
    this.rows--;
    this.freeSlots[this.freeCount++] = slot;
    this.evictions++;
    this.evictedBytes += b;
    this.evictedPackets += p;
    this.evictedFlows += f;
    this.policy.evicted?.(slot, values, level);
    const target = this.fallbackTarget(values, level);
    this.bytes[target] += b;
    this.packets[target] += p;
    this.flows[target] += f;
  }

  /**
   * Where an evicted row's totals go: the finest coarser row that exists, or that its level's
   * reserve can still create. Never the free pool, so the freed slot stays for the row that
   * replaces it; the all-`other` row always qualifies. Later records of the evicted label set fold
   * into this row or a finer one created since.
   */
  private fallbackTarget(values: readonly string[], level: number): number {
    const s = this.evictScratch;
    const n = this.n;
    for (let i = 0; i < n; i++) s[i] = values[i];
    let lv = level;
    while (lv < n) {
      s[this.foldPositions[lv]] = FOLDED;
      lv = this.levelOf(s, lv + 1);
      const slot = this.lookup(s);
      if (slot >= 0) return slot;
      if (this.usedByLevel[lv] < this.reserve[lv]) return this.createRow(s, lv);
    }
    throw new Error(`rollup "${this.name}": all-"other" row unavailable (reservation broken)`);
  }

  private removeFromTrie(values: readonly string[]): void {
    const path = this.triePath;
    const last = this.n - 1;
    let node: Trie = this.root;
    for (let i = 0; i < last; i++) {
      path[i] = node;
      node = node.get(values[i]) as Trie;
    }
    node.delete(values[last]);
    // Drop inner maps left empty, deepest first.
    for (let i = last - 1; i >= 0 && node.size === 0; i--) {
      path[i].delete(values[i]);
      node = path[i];
    }
    path.fill(this.root);
  }

  private grow(): void {
    const cap = Math.min(this.budget, this.bytes.length * 2);
    const l = new Int32Array(cap);
    const b = new Float64Array(cap);
    const p = new Float64Array(cap);
    const f = new Float64Array(cap);
    l.set(this.rowLevel);
    b.set(this.bytes);
    p.set(this.packets);
    f.set(this.flows);
    this.rowLevel = l;
    this.bytes = b;
    this.packets = p;
    this.flows = f;
  }
}
