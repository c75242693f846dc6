/**
 * Sampling rates learned per (exporter, observation domain) from NetFlow v9 / IPFIX options data,
 * and the rules that turn the various sampling elements into one rate ("1 in N").
 *
 * Records are never scaled here: they carry the rate, the rollup multiplies.
 */

/** Rate from samplingInterval (34) or samplerRandomInterval (50): 1 in N. 0 = no usable value. */
export function rateFromInterval(interval: number): number {
  return interval >= 1 ? interval : 0;
}

/** PSAMP systematic count-based sampling (305/306): `interval` packets taken, `space` skipped. */
export function rateFromPacketSpacing(interval: number, space: number): number {
  return interval >= 1 && space >= 0 ? (interval + space) / interval : 0;
}

/** PSAMP random n-out-of-N sampling (309 samplingSize / 310 samplingPopulation). */
export function rateFromPopulation(size: number, population: number): number {
  return size >= 1 && population >= size ? population / size : 0;
}

export interface DomainSamplingJSON {
  rate: number;
  samplers: Array<[number, number]>;
  lastSamplerRate: number;
}

/**
 * What one domain announced. A rate announced without a sampler id applies to every record of the
 * domain; rates announced for a sampler id (48 samplerId / 302 selectorId in the options record)
 * apply to data records carrying that id.
 */
export class DomainSampling {
  /** Rate announced without a sampler id; 0 = none. */
  rate = 0;
  readonly samplers = new Map<number, number>();
  /** Rate of the sampler announced last: used for records that carry no sampler id. */
  lastSamplerRate = 0;
  /** Rate for a record without sampling fields of its own (or with an unknown sampler id); 0 = none. */
  effective = 0;

  /** Records an announcement; returns false when the sampler table is full (the rate is ignored). */
  announce(samplerId: number, rate: number, maxSamplers: number): boolean {
    if (!(rate >= 1)) return true;
    if (samplerId < 0) {
      this.rate = rate;
    } else {
      if (!this.samplers.has(samplerId) && this.samplers.size >= maxSamplers) return false;
      this.samplers.set(samplerId, rate);
      this.lastSamplerRate = rate;
    }
    this.effective = this.rate > 0 ? this.rate : this.lastSamplerRate;
    return true;
  }

  toJSON(): DomainSamplingJSON {
    return { rate: this.rate, samplers: [...this.samplers], lastSamplerRate: this.lastSamplerRate };
  }

  static fromJSON(data: unknown, where: string, maxSamplers: number): DomainSampling {
    const s = new DomainSampling();
    if (data === undefined) return s;
    if (data === null || typeof data !== 'object') throw new Error(`${where}: sampling must be an object`);
    const d = data as Partial<DomainSamplingJSON>;
    const isRate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && (v === 0 || v >= 1);
    if (!isRate(d.rate)) throw new Error(`${where}: sampling.rate must be 0 or a number >= 1`);
    if (!isRate(d.lastSamplerRate ?? 0)) throw new Error(`${where}: sampling.lastSamplerRate must be 0 or >= 1`);
    if (!Array.isArray(d.samplers)) throw new Error(`${where}: sampling.samplers must be an array`);
    if (d.samplers.length > maxSamplers) throw new Error(`${where}: ${d.samplers.length} samplers exceed the limit of ${maxSamplers}`);
    s.rate = d.rate;
    for (const pair of d.samplers) {
      if (!Array.isArray(pair) || pair.length !== 2 || !Number.isSafeInteger(pair[0]) || pair[0] < 0 || !isRate(pair[1]) || pair[1] < 1) {
        throw new Error(`${where}: sampling.samplers entries must be [samplerId >= 0, rate >= 1]`);
      }
      s.samplers.set(pair[0] as number, pair[1] as number);
    }
    s.lastSamplerRate = d.lastSamplerRate ?? 0;
    s.effective = s.rate > 0 ? s.rate : s.lastSamplerRate;
    return s;
  }
}
