/**
 * Loss detection from export sequence numbers, per (exporter, domain).
 *
 * Comparisons are serial-number arithmetic modulo 2^32 against the number the tracker expects next:
 * - equal: nothing lost;
 * - ahead by at most MAX_PLAUSIBLE_GAP: that many datagrams / records lost;
 * - ahead by more: taken as an exporter restart (new base), so one corrupted header cannot add
 *   billions to the loss counters;
 * - behind by less than the reorder window: a late (reordered) datagram, ignored without moving
 *   the tracker (UDP reorders; the datagram was already counted as lost when its successor came,
 *   and counters cannot go down);
 * - further behind: an exporter restart; the tracker resynchronises and counts nothing.
 */

const TWO32 = 4294967296;
const HALF = 2147483648;
export const MAX_PLAUSIBLE_GAP = 1 << 20;
/** Late arrivals tolerated: datagrams for v9, records for v5 / IPFIX. */
export const REORDER_WINDOW_DATAGRAMS = 1024;
export const REORDER_WINDOW_RECORDS = 65536;

/** Distance from `expected` to `seq` modulo 2^32, in (-2^31, 2^31]. */
function distance(seq: number, expected: number): number {
  const d = (((seq - expected) % TWO32) + TWO32) % TWO32;
  return d > HALF ? d - TWO32 : d;
}

const IN_ORDER = 0;
const LATE = -1;
const RESTART = -2;

/** Gap (> 0), IN_ORDER, LATE or RESTART. */
function classify(seq: number, expected: number, window: number): number {
  const d = distance(seq, expected);
  if (d === 0) return IN_ORDER;
  if (d > 0) return d <= MAX_PLAUSIBLE_GAP ? d : RESTART;
  return -d <= window ? LATE : RESTART;
}

/**
 * IPFIX sequence hypotheses. RFC 7011: the sequence number counts the data records sent *before*
 * this message (pmacctd does so). softflowd counts them *including* this message. Whether options
 * data records count differs between exporters too. Each hypothesis predicts the next number; the
 * tracker keeps the ones that have matched so far.
 */
const H_BEFORE = 1; // seq = last + data records of the previous message
const H_BEFORE_OPT = 2; // seq = last + data + options records of the previous message
const H_INCL = 4; // seq = last + data records of this message
const H_INCL_OPT = 8; // seq = last + data + options records of this message
const H_ALL = 15;
const SWITCH_AFTER = 3;

export class SequenceTracker {
  private last = -1;
  private lastData = -1;
  private lastOptions = 0;
  /** IPFIX only: hypotheses still consistent with what was seen. */
  private live = H_ALL;
  /** IPFIX only: consecutive messages matched only by discarded hypotheses. */
  private mismatches = 0;

  /** NetFlow v9: the number counts export datagrams. Returns datagrams lost. */
  checkDatagrams(seq: number): number {
    if (this.last < 0) {
      this.last = seq;
      return 0;
    }
    const c = classify(seq, this.last + 1, REORDER_WINDOW_DATAGRAMS);
    if (c === LATE) return 0;
    this.last = seq;
    return c > 0 ? c : 0;
  }

  /** NetFlow v5: the number counts flow records sent before this datagram. Returns records lost. */
  checkRecordsBefore(seq: number, records: number): number {
    if (this.last < 0) {
      this.last = seq;
      this.lastData = records;
      return 0;
    }
    const c = classify(seq, this.last + this.lastData, REORDER_WINDOW_RECORDS);
    if (c === LATE) return 0;
    this.last = seq;
    this.lastData = records;
    return c > 0 ? c : 0;
  }

  /**
   * IPFIX. `data` / `options`: data records and options data records decoded from this message;
   * `data` = -1 when the count is unknown (a set waited for its template or was malformed).
   * Returns the number of data records lost.
   */
  checkIpfix(seq: number, data: number, options: number): number {
    const last = this.last;
    if (last < 0) {
      this.accept(seq, data, options);
      // The exporter's first message tells the conventions apart: 0 is "before"; the message's own
      // record count is "including".
      if (data > 0 && seq === data) this.live = H_INCL;
      else if (data > 0 && seq === data + options) this.live = H_INCL_OPT;
      else if (seq === 0) this.live = H_BEFORE | H_BEFORE_OPT;
      return 0;
    }
    const prevKnown = this.lastData >= 0;
    const curKnown = data >= 0;
    let matched = 0;
    let gap = -1;
    let late = false;
    let evaluated = false;
    for (let h = 1; h <= 8; h <<= 1) {
      let expected: number;
      if (h === H_BEFORE) expected = prevKnown ? last + this.lastData : NaN;
      else if (h === H_BEFORE_OPT) expected = prevKnown ? last + this.lastData + this.lastOptions : NaN;
      else if (h === H_INCL) expected = curKnown ? last + data : NaN;
      else expected = curKnown ? last + data + options : NaN;
      if (Number.isNaN(expected)) continue;
      const c = classify(seq, expected, REORDER_WINDOW_RECORDS);
      if (c === IN_ORDER) matched |= h;
      if ((this.live & h) === 0) continue;
      evaluated = true;
      if (c === LATE) late = true;
      else if (c > 0 && (gap < 0 || c < gap)) gap = c;
    }
    if (this.live & matched) {
      this.live &= matched;
      this.mismatches = 0;
      this.accept(seq, data, options);
      return 0;
    }
    if (matched !== 0 && ++this.mismatches >= SWITCH_AFTER) {
      // Only a discarded convention keeps matching: the first guess was wrong (or the exporter
      // changed); adopt what matches.
      this.live = matched;
      this.mismatches = 0;
      this.accept(seq, data, options);
      return 0;
    }
    if (!evaluated || late) {
      // Nothing to compare with (sets waited for their templates), or behind the prediction: no loss
      // is counted. The number becomes the new base only if it is ahead of the last one (or so far
      // behind that the exporter must have restarted).
      const d = distance(seq, last);
      if (d > 0 || -d > REORDER_WINDOW_RECORDS) this.accept(seq, data, options);
      return 0;
    }
    this.accept(seq, data, options);
    return gap > 0 ? gap : 0;
  }

  private accept(seq: number, data: number, options: number): void {
    this.last = seq;
    this.lastData = data;
    this.lastOptions = options;
  }

  reset(): void {
    this.last = -1;
    this.lastData = -1;
    this.lastOptions = 0;
    this.live = H_ALL;
    this.mismatches = 0;
  }
}
