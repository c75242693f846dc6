/**
 * Admission policy: which label sets get a series of their own when the budget has room.
 *
 * The family enforces the cardinality contract (hard cap, reserved `other` rows, conservation)
 * whatever the policy answers; a policy only chooses among label sets the budget can still hold.
 * A heavy-hitter policy (Space-Saving over a decayed rate, with hysteresis) plugs in here.
 */

export interface AdmissionPolicy {
  /**
   * A label set without a series asks for one. The family has already checked that the budget can
   * hold it at this fold level (0 = no label folded). `values` is a scratch array, valid only during
   * the call: copy it to keep it. Returning false folds the record into its next coarser row.
   * Never asked about the all-`other` row, which is always admitted.
   */
  admit(values: readonly string[], level: number, bytes: number): boolean;
  /** A row was created for `values` (frozen, safe to keep) at `slot`. */
  admitted?(slot: number, values: readonly string[], level: number): void;
  /** A kept row received a record (every record of the family lands in exactly one row). */
  credited?(slot: number, bytes: number, packets: number, flows: number): void;
}

/** Keeps label sets in order of arrival until the budget is full; never evicts. */
export class FirstComeAdmission implements AdmissionPolicy {
  admit(): boolean {
    return true;
  }
}
