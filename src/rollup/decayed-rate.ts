/**
 * Exponentially decayed byte counts by forward decay (Cormode, Shkapenyuk, Srivastava, Xu, 2009):
 * instead of shrinking every count as time passes, each new increment is *grown* by
 * e^{λ(t − landmark)}. Comparisons between counts stay correct without touching them, so the hot
 * path is one multiply-add; the counts are renormalised (all multiplied by the same factor) only
 * when the growth factor gets large, a few times a day.
 *
 * A count kept this way, divided by the current growth factor, is Σ bytes_i · e^{−λ(t − t_i)}:
 * for a steady rate r (bytes/s) it tends to r / λ, so λ × count is the decayed byte rate.
 */

/** Renormalise once the growth factor passes 2^32: far from overflow, and rare. */
const RESCALE_AT = 2 ** 32;

export class ForwardDecay {
  /** Decay constant per millisecond: ln 2 / half-life. */
  readonly lambdaPerMs: number;
  readonly halfLifeMs: number;
  /** Multiplier for an increment that happens now. */
  weight = 1;
  private landmarkMs = Number.NaN;
  private nowMs = Number.NaN;

  constructor(halfLifeMs: number) {
    if (!(halfLifeMs > 0 && Number.isFinite(halfLifeMs))) {
      throw new Error(`decay half-life must be a positive number of milliseconds, got ${halfLifeMs}`);
    }
    this.halfLifeMs = halfLifeMs;
    this.lambdaPerMs = Math.LN2 / halfLifeMs;
  }

  /** The time of the last advance, NaN before the first. */
  get now(): number {
    return this.nowMs;
  }

  /**
   * Moves time forward (earlier times are ignored). Returns the factor every stored count must be
   * multiplied by when the growth factor is renormalised, or 1 when nothing needs to change.
   */
  advance(nowMs: number): number {
    if (Number.isNaN(this.landmarkMs)) {
      this.landmarkMs = nowMs;
      this.nowMs = nowMs;
      this.weight = 1;
      return 1;
    }
    if (!(nowMs > this.nowMs)) return 1;
    this.nowMs = nowMs;
    this.weight = Math.exp(this.lambdaPerMs * (nowMs - this.landmarkMs));
    if (this.weight < RESCALE_AT) return 1;
    const factor = 1 / this.weight;
    this.landmarkMs = nowMs;
    this.weight = 1;
    return factor;
  }

  /** A stored count as a decayed rate in units per second. */
  ratePerSecond(count: number): number {
    return (count / this.weight) * this.lambdaPerMs * 1000;
  }
}
