/**
 * Admission policy: which label sets get a series of their own, and which kept row gives its place
 * up when the budget is full.
 *
 * The family enforces the cardinality contract (hard cap, reserved `other` rows, conservation,
 * counters that never decrease) whatever the policy answers; a policy only chooses among label sets
 * the budget can hold, and among rows the family allows it to evict. The default policy is
 * HeavyHitterSelection (heavy-hitters.ts): Space-Saving over a decayed byte rate, with hysteresis.
 */

/** What a family tells its policy about itself. */
export interface AdmissionHost {
  readonly budget: number;
  /** Number of labels; fold level `labelCount` is the all-`other` row. */
  readonly labelCount: number;
  /**
   * Whether the row at `slot` may be evicted now: it is live, it is not the all-`other` row, and
   * removing it keeps its fold level's reserve. Cheap (array reads).
   */
  evictable(slot: number): boolean;
}

export interface AdmissionPolicy {
  /** Called once by the family that owns the policy, before any other method. */
  attach?(host: AdmissionHost): void;
  /**
   * A label set without a row asks for one, and the budget can hold it at this fold level
   * (0 = no label folded). `values` is a scratch array, valid only during the call: copy it to keep
   * it. Returning false folds the record into its next coarser row. Never asked about the
   * all-`other` row, which is always admitted.
   */
  admit(values: readonly string[], level: number, bytes: number): boolean;
  /**
   * The budget is full and a label set with no label folded (level 0) has no row: return the slot
   * of an evictable row to give up for it, or -1 to fold the record. Called for every such record,
   * so this is where a policy watches the traffic of keys without rows.
   */
  challenge?(values: readonly string[], bytes: number): number;
  /** A row was created for `values` (frozen, safe to keep) at `slot`. */
  admitted?(slot: number, values: readonly string[], level: number): void;
  /** The row at `slot` was removed; its totals went to its fallback row. `values` is frozen. */
  evicted?(slot: number, values: readonly string[], level: number): void;
  /** A kept row received a record (every record of the family lands in exactly one row). */
  credited?(slot: number, bytes: number, packets: number, flows: number): void;
  /** Time moved forward to `nowMs` (never called with an earlier time). */
  advance?(nowMs: number): void;
}

/** Keeps label sets in order of arrival until the budget is full; never evicts. */
export class FirstComeAdmission implements AdmissionPolicy {
  admit(): boolean {
    return true;
  }
}
