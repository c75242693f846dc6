/**
 * HyperLogLog: estimates within the stated error (3 standard errors of 1.04/sqrt(m)) on streams
 * with known distinct counts from 10 to 1M, unbiased on average, duplicates ignored, union by
 * merge; the sliding window keeps an item for at least the window and drops it by window + one
 * sub-window; hashing from address buffers allocates nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  HyperLogLog,
  SlidingHyperLogLog,
  fmix32,
  hashAddress,
  hashPort,
  hllStandardError,
} from '../src/rollup/hyperloglog.js';
import { gcCountDuring } from './helpers/gc.js';

/** Writes the i-th distinct address of a stream into `buf` (IPv4 or IPv6, spread over the space). */
function address(i: number, af: 4 | 6, buf: Uint8Array, salt = 0): Uint8Array {
  buf.fill(0);
  if (af === 4) {
    // Sequential hosts of 10.0.0.0/8 and beyond: the hard case for a weak hash.
    const v = (0x0a000000 + i + salt * 0x01000000) >>> 0;
    buf[0] = v >>> 24;
    buf[1] = (v >>> 16) & 255;
    buf[2] = (v >>> 8) & 255;
    buf[3] = v & 255;
  } else {
    buf[0] = 0x20;
    buf[1] = 0x01;
    buf[2] = 0x0d;
    buf[3] = 0xb8;
    buf[4] = salt & 255;
    buf[12] = (i >>> 24) & 255;
    buf[13] = (i >>> 16) & 255;
    buf[14] = (i >>> 8) & 255;
    buf[15] = i & 255;
  }
  return buf;
}

function relativeError(estimate: number, n: number): number {
  return Math.abs(estimate - n) / n;
}

describe('HyperLogLog accuracy', () => {
  it('states its standard error as 1.04/sqrt(m)', () => {
    expect(hllStandardError(10)).toBeCloseTo(1.04 / 32, 12);
    expect(hllStandardError(12)).toBeCloseTo(1.04 / 64, 12);
    expect(new HyperLogLog(10).m).toBe(1024);
  });

  it('estimates 0 for an empty sketch', () => {
    expect(new HyperLogLog(10).estimate()).toBe(0);
  });

  for (const af of [4, 6] as const) {
    it(`is within 3 standard errors on IPv${af} streams of 10 to 1M distinct addresses (each seen 3 times)`, () => {
      const buf = new Uint8Array(16);
      const se = hllStandardError(10);
      for (const n of [10, 100, 1_000, 10_000, 100_000, 1_000_000]) {
        const h = new HyperLogLog(10);
        for (let round = 0; round < 3; round++) {
          for (let i = 0; i < n; i++) h.addHash(hashAddress(af, address(i, af, buf)));
        }
        const est = h.estimate();
        expect(relativeError(est, n), `n=${n} estimate=${est}`).toBeLessThanOrEqual(3 * se);
      }
    });
  }

  it('is within 3 standard errors at every precision from 6 to 14', () => {
    const buf = new Uint8Array(16);
    for (const p of [6, 8, 10, 12, 14]) {
      for (const n of [500, 50_000]) {
        const h = new HyperLogLog(p);
        for (let i = 0; i < n; i++) h.addHash(hashAddress(4, address(i, 4, buf, p)));
        expect(relativeError(h.estimate(), n), `p=${p} n=${n}`).toBeLessThanOrEqual(3 * hllStandardError(p));
      }
    }
  });

  it('is unbiased on average where the classic estimator switches to linear counting (n = 1k..8k at m = 1024)', () => {
    const buf = new Uint8Array(16);
    const se = hllStandardError(10);
    const trials = 40;
    for (const n of [1_000, 2_500, 4_000, 8_000]) {
      let sum = 0;
      for (let t = 0; t < trials; t++) {
        const h = new HyperLogLog(10);
        for (let i = 0; i < n; i++) h.addHash(hashAddress(4, address(i, 4, buf, t + 1)));
        sum += (h.estimate() - n) / n;
      }
      // The mean of 40 independent estimates has a standard error of se / sqrt(40).
      expect(Math.abs(sum / trials), `n=${n}`).toBeLessThanOrEqual((3 * se) / Math.sqrt(trials));
    }
  });

  it('merging two sketches estimates the union', () => {
    const buf = new Uint8Array(16);
    const a = new HyperLogLog(12);
    const b = new HyperLogLog(12);
    for (let i = 0; i < 30_000; i++) a.addHash(hashAddress(4, address(i, 4, buf)));
    for (let i = 20_000; i < 50_000; i++) b.addHash(hashAddress(4, address(i, 4, buf)));
    a.merge(b);
    expect(relativeError(a.estimate(), 50_000)).toBeLessThanOrEqual(3 * hllStandardError(12));
    expect(() => a.merge(new HyperLogLog(10))).toThrow(/different precision/);
  });

  it('counts ports per protocol: tcp/80 and udp/80 are two items', () => {
    const h = new HyperLogLog(10);
    for (let port = 1; port <= 1024; port++) {
      h.addHash(hashPort(6, port));
      h.addHash(hashPort(17, port));
    }
    expect(relativeError(h.estimate(), 2048)).toBeLessThanOrEqual(3 * hllStandardError(10));
    expect(hashPort(6, 80)).not.toBe(hashPort(17, 80));
  });

  it('rejects a precision outside 4..16', () => {
    expect(() => new HyperLogLog(3)).toThrow(/precision must be an integer from 4 to 16/);
    expect(() => new HyperLogLog(17)).toThrow(/precision/);
    expect(() => new HyperLogLog(10.5)).toThrow(/precision/);
  });
});

describe('hashing', () => {
  it('gives IPv4 and IPv6 addresses with the same bytes different hashes, and uses only the address bytes', () => {
    const a = new Uint8Array(16);
    a.set([192, 0, 2, 1]);
    const v4 = hashAddress(4, a);
    expect(hashAddress(6, a)).not.toBe(v4);
    a[8] = 7; // beyond an IPv4 address: ignored
    expect(hashAddress(4, a)).toBe(v4);
    expect(v4).toBe(v4 | 0); // a signed 32-bit integer
  });

  it('spreads sequential addresses evenly over the registers (chi-square over 1024 buckets)', () => {
    const buf = new Uint8Array(16);
    const counts = new Float64Array(1024);
    const n = 1024 * 200;
    for (let i = 0; i < n; i++) counts[hashAddress(4, address(i, 4, buf)) >>> 22]++;
    let chi = 0;
    for (const c of counts) chi += (c - 200) ** 2 / 200;
    // 1023 degrees of freedom: mean 1023, sd ~45; 1250 is 5 sd out.
    expect(chi).toBeLessThan(1250);
  });

  it('allocates nothing per hashed address (no GC in 5M hashes and adds)', async () => {
    const buf = new Uint8Array(16);
    const h = new HyperLogLog(10);
    const collections = await gcCountDuring(() => {
      for (let i = 0; i < 5_000_000; i++) {
        buf[3] = i & 255;
        buf[2] = (i >>> 8) & 255;
        buf[15] = i & 255;
        h.addHash(hashAddress(i & 1 ? 6 : 4, buf));
        h.addHash(hashPort(6, i & 0xffff));
      }
    });
    expect(collections).toBeLessThanOrEqual(1);
  });
});

describe('SlidingHyperLogLog', () => {
  const MIN = 60_000;

  it('keeps an item for at least the window and drops it within one more sub-window', () => {
    const s = new SlidingHyperLogLog(10, 5 * MIN, 5);
    const t0 = 1_700_000_000_000 + 12_345;
    for (let i = 0; i < 100; i++) s.addHash(fmix32(i + 1), t0);
    expect(s.estimate(t0)).toBeCloseTo(100, -1);
    expect(Math.round(s.estimate(t0 + 5 * MIN - 1))).toBeGreaterThanOrEqual(97);
    expect(s.isIdle(t0 + 5 * MIN - 1)).toBe(false);
    expect(s.estimate(t0 + 6 * MIN)).toBe(0);
    expect(s.isIdle(t0 + 6 * MIN)).toBe(true);
  });

  it('follows a moving stream: old items leave as new ones arrive', () => {
    const s = new SlidingHyperLogLog(12, 5 * MIN, 5);
    const scratch = new HyperLogLog(12);
    const t0 = 1_700_000_000_000;
    const se = hllStandardError(12);
    let next = 1;
    for (let minute = 0; minute < 20; minute++) {
      // 1000 new distinct items spread over this minute, plus 50 repeats of an old one.
      for (let i = 0; i < 1000; i++) s.addHash(fmix32(next++), t0 + minute * MIN + i * 60);
      for (let i = 0; i < 50; i++) s.addHash(fmix32(1), t0 + minute * MIN + i);
      const now = t0 + minute * MIN + 59_999;
      const est = s.estimate(now, scratch);
      // The window holds the last 5 whole minutes (6 sub-windows at most, 5 at least).
      const low = Math.min(minute + 1, 5) * 1000;
      const high = Math.min(minute + 1, 6) * 1000 + 1;
      expect(est, `minute ${minute}`).toBeGreaterThanOrEqual(low * (1 - 3 * se));
      expect(est, `minute ${minute}`).toBeLessThanOrEqual(high * (1 + 3 * se));
    }
  });

  it('ignores items older than the window (relative to the newest) and refuses NaN times', () => {
    const s = new SlidingHyperLogLog(10, 5 * MIN, 5);
    const t0 = 1_700_000_000_000;
    expect(s.addHash(fmix32(1), t0)).toBe(true);
    expect(s.addHash(fmix32(2), t0 - 10 * MIN)).toBe(false);
    expect(s.addHash(fmix32(3), t0 - 4 * MIN)).toBe(true); // late, but inside the window
    expect(s.addHash(fmix32(4), NaN)).toBe(false);
    expect(Math.round(s.estimate(t0))).toBe(2);
    s.clear();
    expect(s.estimate(t0)).toBe(0);
    expect(s.byteLength).toBe(6 * 1024);
  });

  it('rejects a bad window', () => {
    expect(() => new SlidingHyperLogLog(10, 0, 5)).toThrow(/positive number of milliseconds/);
    expect(() => new SlidingHyperLogLog(10, MIN, 0)).toThrow(/sub-windows must be an integer from 1 to 60/);
  });
});
