/**
 * Loss detection from export sequence numbers, per (exporter, domain).
 *
 * All comparisons are serial-number arithmetic modulo 2^32. A number that goes backwards (reordering,
 * exporter restart) is never a loss: the tracker resynchronises on it. A jump forward larger than
 * MAX_PLAUSIBLE_GAP is taken as a restart with a new base too, so one corrupted header cannot add
 * billions to the loss counters.
 */

const TWO32 = 4294967296;
export const MAX_PLAUSIBLE_GAP = 1 << 20;

/** Forward distance from `expected` to `seq`, or 0 when `seq` is behind or implausibly far ahead. */
function forwardGap(seq: number, expected: number): number {
  const d = (((seq - expected) % TWO32) + TWO32) % TWO32;
  return d > MAX_PLAUSIBLE_GAP ? 0 : d;
}

/**
 * IPFIX sequence hypotheses. RFC 7011: the sequence number counts the data records sent *before*
 * this message (pmacctd). softflowd counts them *including* this message. Whether options data
 * records count differs between exporters too. Each hypothesis predicts the next number; the
 * tracker keeps the ones that have matched so far.
 */
const H_BEFORE = 1; // seq = last + data records of the previous message
const H_BEFORE_OPT = 2; // seq = last + data + options records of the previous message
const H_INCL = 4; // seq = last + data records of this message
const H_INCL_OPT = 8; // seq = last + data + options records of this message
const H_ALL = 15;

export class SequenceTracker {
  private last = -1;
  private lastData = -1;
  private lastOptions = 0;
  /** IPFIX only: hypotheses still consistent with what was seen. */
  private live = H_ALL;

  /** NetFlow v9 (and sFlow-like) datagram counters: each datagram advances the number by one. */
  checkDatagrams(seq: number): number {
    const last = this.last;
    this.last = seq;
    if (last < 0) return 0;
    return forwardGap(seq, last + 1);
  }

  /** NetFlow v5: the number counts flow records sent before this datagram. */
  checkRecordsBefore(seq: number, records: number): number {
    const last = this.last;
    const lastData = this.lastData;
    this.last = seq;
    this.lastData = records;
    if (last < 0 || lastData < 0) return 0;
    return forwardGap(seq, last + lastData);
  }

  /**
   * IPFIX. `data` / `options`: data records and options data records decoded from this message;
   * `data` = -1 when the count is unknown (a set waited for its template or was malformed).
   * Returns the number of data records lost.
   */
  checkIpfix(seq: number, data: number, options: number): number {
    const last = this.last;
    const lastData = this.lastData;
    const lastOptions = this.lastOptions;
    this.last = seq;
    this.lastData = data;
    this.lastOptions = options;
    if (last < 0) {
      // The exporter's first message tells the convention apart: seq 0 is "before", seq equal to
      // this message's records is "including".
      if (data > 0 && seq === data) this.live = H_INCL;
      else if (data > 0 && seq === data + options) this.live = H_INCL_OPT;
      else if (seq === 0) this.live = H_BEFORE | H_BEFORE_OPT;
      return 0;
    }
    const prevKnown = lastData >= 0;
    const curKnown = data >= 0;
    let matched = 0;
    let best = -1;
    for (let h = 1; h <= 8; h <<= 1) {
      let expected: number;
      if (h === H_BEFORE) expected = prevKnown ? last + lastData : NaN;
      else if (h === H_BEFORE_OPT) expected = prevKnown ? last + lastData + lastOptions : NaN;
      else if (h === H_INCL) expected = curKnown ? last + data : NaN;
      else expected = curKnown ? last + data + options : NaN;
      if (Number.isNaN(expected)) continue;
      const gap = forwardGap(seq, expected);
      const exact = (((seq - expected) % TWO32) + TWO32) % TWO32 === 0;
      if (exact) matched |= h;
      if (this.live & h && (best < 0 || gap < best)) best = gap;
    }
    if (matched !== 0) {
      this.live = this.live & matched ? this.live & matched : matched;
      return 0;
    }
    // No hypothesis explains the number: loss (or a jump backwards, which forwardGap maps to 0).
    return best < 0 ? 0 : best;
  }

  reset(): void {
    this.last = -1;
    this.lastData = -1;
    this.lastOptions = 0;
    this.live = H_ALL;
  }
}
