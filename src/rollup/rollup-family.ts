/**
 * One rollup: bytes, packets and flows counters per label set, under a hard budget of label sets.
 *
 * The cardinality contract (docs/metrics.md) holds whatever arrives:
 * - hard cap: rows (label sets, `other` rows included) never exceed the budget;
 * - conservation: every record lands in exactly one row, so the column sums equal the totals;
 * - graceful overflow: a label set that cannot get a row folds into a coarser row, the least
 *   important label first, down to the all-`other` row, whose slot is always reserved;
 * - counters stay counters: a row is never reset or decreased.
 *
 * Fold levels: level k means the first k labels of the fallback order read `other`. A row's level
 * follows from its values alone (a real value "other" is the same label set as a folded one, so it
 * must be the same row). Each partial level (1..n-1) and the all-`other` level (n) hold a reserve of
 * the budget; a row may be created only if the reserves still unused by the other levels stay
 * available afterwards. So the all-`other` row always fits and the cap is never exceeded.
 */
import type { RollupDefinition, RollupLabel } from '../config/types.js';
import { type AdmissionPolicy, FirstComeAdmission } from './admission.js';
import type { RollupSnapshot, RollupStats } from './snapshot.js';
import { type FlowLabels, OTHER, createFlowLabels } from './types.js';

/** The value an empty label reads as. */
export const UNKNOWN = 'unknown';

export interface RollupFamilyOptions {
  /** Selection among label sets the budget can hold; default first come, first kept. */
  policy?: AdmissionPolicy;
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
type Trie = Map<string, Trie | number>;

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

export class RollupFamily {
  /** The validated definition, with the effective help and fallback order filled in. */
  readonly definition: Readonly<RollupDefinition>;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly RollupLabel[];
  readonly budget: number;
  /** Labels in the order they fold to `other`. */
  readonly fallbackOrder: readonly RollupLabel[];

  private readonly n: number;
  private readonly policy: AdmissionPolicy;
  /** Index into labelNames of the k-th label to fold. */
  private readonly foldPositions: Int32Array;
  /** Rows held back per fold level (0..n); level 0 has none, level n exactly one. */
  private readonly reserve: Int32Array;
  private readonly usedByLevel: Int32Array;
  /** Sum over levels of max(0, reserve - used): budget that rows of other levels cannot take. */
  private outstanding: number;
  /** Reused per record: the record's label values, folded in place when it overflows. */
  private readonly scratch: string[];
  private readonly root: Trie = new Map();

  private rows = 0;
  private rowValues: Array<readonly string[]> = [];
  private bytes: Float64Array;
  private packets: Float64Array;
  private flows: Float64Array;

  private admissions = 0;
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
    this.fallbackOrder = Object.freeze(foldOrder(def));
    this.foldPositions = Int32Array.from(this.fallbackOrder, (l) => def.labels.indexOf(l));
    this.policy = options.policy ?? new FirstComeAdmission();
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
    const cap = Math.min(this.budget, INITIAL_CAPACITY);
    this.bytes = new Float64Array(cap);
    this.packets = new Float64Array(cap);
    this.flows = new Float64Array(cap);
  }

  /**
   * Count one record. Counts are rounded to integers; a record with a negative, NaN or unsafe count
   * is refused whole (counted in `rejectedRecords`) so that counters never decrease.
   * Allocation-free unless the record creates a row.
   */
  add(labels: FlowLabels, bytes: number, packets: number, flows: number): void {
    bytes = Math.round(bytes);
    packets = Math.round(packets);
    flows = Math.round(flows);
    if (
      !(bytes >= 0 && bytes <= MAX_COUNT && packets >= 0 && packets <= MAX_COUNT && flows >= 0 && flows <= MAX_COUNT)
    ) {
      this.rejectedRecords++;
      return;
    }
    const s = this.scratch;
    const names = this.labelNames;
    for (let i = 0; i < this.n; i++) {
      const v = labels[names[i]];
      s[i] = v === '' || v === undefined ? UNKNOWN : v;
    }
    let slot = this.lookup(s);
    if (slot < 0) slot = this.place(bytes);
    this.bytes[slot] += bytes;
    this.packets[slot] += packets;
    this.flows[slot] += flows;
    this.totalBytes += bytes;
    this.totalPackets += packets;
    this.totalFlows += flows;
    this.policy.credited?.(slot, bytes, packets, flows);
  }

  /** A copy of the rows and counters, detached from the live state. */
  snapshot(): RollupSnapshot {
    const rows = this.rows;
    return {
      name: this.name,
      help: this.help,
      labelNames: this.labelNames,
      labelValues: this.rowValues.slice(0, rows),
      bytes: this.bytes.slice(0, rows),
      packets: this.packets.slice(0, rows),
      flows: this.flows.slice(0, rows),
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
      evictions: 0,
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

  private lookup(values: readonly string[]): number {
    let node: Trie = this.root;
    const last = this.n - 1;
    for (let i = 0; i < last; i++) {
      const next = node.get(values[i]);
      if (next === undefined) return -1;
      node = next as Trie;
    }
    const slot = node.get(values[last]);
    return slot === undefined ? -1 : (slot as number);
  }

  /** Finds or creates the row for a label set that has none: its own if admitted, else a coarser one. */
  private place(bytes: number): number {
    const s = this.scratch;
    const n = this.n;
    let level = this.levelOf(s, 0);
    let slot = this.tryCreate(s, level, bytes);
    if (slot >= 0) return slot;
    this.foldedRecords++;
    this.foldedBytes += bytes;
    while (level < n) {
      s[this.foldPositions[level]] = FOLDED;
      // Labels further down the order may already read "other": skip those levels.
      level = this.levelOf(s, level + 1);
      slot = this.lookup(s);
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
    const slot = this.rows;
    if (slot === this.bytes.length) this.grow();
    const kept = Object.freeze(values.slice());
    this.rowValues[slot] = kept;
    let node: Trie = this.root;
    const last = this.n - 1;
    for (let i = 0; i < last; i++) {
      let next = node.get(kept[i]) as Trie | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(kept[i], next);
      }
      node = next;
    }
    node.set(kept[last], slot);
    if (this.usedByLevel[level] < this.reserve[level]) this.outstanding--;
    this.usedByLevel[level]++;
    this.rows = slot + 1;
    this.admissions++;
    this.policy.admitted?.(slot, kept, level);
    return slot;
  }

  private grow(): void {
    const cap = Math.min(this.budget, this.bytes.length * 2);
    const b = new Float64Array(cap);
    const p = new Float64Array(cap);
    const f = new Float64Array(cap);
    b.set(this.bytes);
    p.set(this.packets);
    f.set(this.flows);
    this.bytes = b;
    this.packets = p;
    this.flows = f;
  }
}
