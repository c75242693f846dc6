/**
 * Label sets to row slots under a hard budget, with the fold-to-`other` rules of the traffic
 * rollups (docs/metrics.md): a label set without a row gets one while the budget has room,
 * otherwise it folds into a coarser row, the labels of the fallback order turning `other` one at
 * a time. One row per partially folded level and the all-`other` row are held in reserve, so the
 * fold always finds a row and the cap is never exceeded. Rows are kept for the life of the process
 * (first come, first kept): histogram rows are cumulative and must never be reset.
 *
 * Lookup walks a trie of Maps keyed by the label values: no allocation unless a row is created.
 */
import type { RollupDefinition, RollupLabel } from '../config/types.js';
import { foldOrder, validateRollupDefinition } from './rollup-family.js';
import { type LabelTrie, trieInsert, trieLookup } from './label-trie.js';
import { type FlowLabels, OTHER } from './types.js';

/** The value an empty label reads as (the same as in the traffic rollups). */
export const UNKNOWN_LABEL = 'unknown';


export interface LabelSlotsDefinition {
  name: string;
  labels: RollupLabel[];
  budget: number;
  fallback?: RollupLabel[];
}

export class LabelSlots {
  readonly name: string;
  readonly labelNames: readonly RollupLabel[];
  readonly budget: number;
  readonly fallbackOrder: readonly RollupLabel[];
  /** Label values per row, in labelNames order (frozen; safe to share with snapshots). */
  readonly rowValues: Array<readonly string[]> = [];
  rows = 0;
  /** Rows ever created. */
  admissions = 0;
  /** Lookups that landed in a coarser row than their own label set. */
  folded = 0;

  private readonly n: number;
  private readonly foldPositions: Int32Array;
  private readonly reserve: Int32Array;
  private readonly usedByLevel: Int32Array;
  private outstanding = 0;
  private readonly scratch: string[];
  private readonly root: LabelTrie = new Map();

  /** Throws an Error naming the family when the definition is invalid (budget too small included). */
  constructor(def: LabelSlotsDefinition, partialReserveShare = 0.25) {
    validateRollupDefinition(def as RollupDefinition);
    this.name = def.name;
    this.labelNames = Object.freeze([...def.labels]);
    this.budget = def.budget;
    this.n = def.labels.length;
    this.fallbackOrder = Object.freeze(foldOrder(def as RollupDefinition));
    this.foldPositions = Int32Array.from(this.fallbackOrder, (l) => def.labels.indexOf(l));
    const n = this.n;
    this.reserve = new Int32Array(n + 1);
    this.reserve[n] = 1;
    if (n > 1) {
      const perLevel = Math.max(1, Math.floor(((this.budget - 1) * partialReserveShare) / (n - 1)));
      for (let k = 1; k < n; k++) this.reserve[k] = perLevel;
    }
    this.usedByLevel = new Int32Array(n + 1);
    for (let k = 0; k <= n; k++) this.outstanding += this.reserve[k];
    this.scratch = new Array<string>(n).fill(UNKNOWN_LABEL);
  }

  /** The row of a record's label set: its own, or the coarser row it folds into. */
  slotOf(labels: FlowLabels): number {
    const s = this.scratch;
    const names = this.labelNames;
    for (let i = 0; i < this.n; i++) {
      const v = labels[names[i]];
      s[i] = v === '' || v === undefined ? UNKNOWN_LABEL : v;
    }
    return this.slotOfValues(s);
  }

  /** Same as slotOf for values already in labelNames order. `values` is not kept. */
  slotOfValues(values: readonly string[]): number {
    const s = this.scratch;
    if (values !== s) for (let i = 0; i < this.n; i++) s[i] = values[i] === '' ? UNKNOWN_LABEL : values[i];
    const slot = this.lookup(s);
    return slot >= 0 ? slot : this.place();
  }

  private lookup(values: readonly string[]): number {
    return trieLookup(this.root, values, this.n);
  }

  private place(): number {
    const s = this.scratch;
    const n = this.n;
    let level = this.levelOf(s, 0);
    if (this.hasRoom(level)) return this.create(s, level);
    this.folded++;
    while (level < n) {
      s[this.foldPositions[level]] = OTHER;
      level = this.levelOf(s, level + 1);
      const slot = this.lookup(s);
      if (slot >= 0) return slot;
      if (this.hasRoom(level)) return this.create(s, level);
    }
    throw new Error(`"${this.name}": all-"other" row unavailable (reservation broken)`);
  }

  private levelOf(values: readonly string[], from: number): number {
    let k = from;
    while (k < this.n && values[this.foldPositions[k]] === OTHER) k++;
    return k;
  }

  private hasRoom(level: number): boolean {
    if (this.usedByLevel[level] < this.reserve[level]) return true;
    return this.rows + 1 + this.outstanding <= this.budget;
  }

  private create(values: readonly string[], level: number): number {
    const slot = this.rows;
    const kept = Object.freeze(values.slice());
    this.rowValues[slot] = kept;
    trieInsert(this.root, kept, this.n, slot);
    if (this.usedByLevel[level] < this.reserve[level]) this.outstanding--;
    this.usedByLevel[level]++;
    this.rows = slot + 1;
    this.admissions++;
    return slot;
  }
}
