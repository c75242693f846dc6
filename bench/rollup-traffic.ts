/**
 * Synthetic flow traffic for the rollup benchmarks: a seeded random source, a Zipf sampler over
 * ranks 1..n, and a key space that turns a key index into (device, peer) label values drawn from
 * two small pools (so a million distinct keys need only two thousand strings, and the benchmarks
 * measure the rollup rather than cache misses on the input).
 */
import type { FlowLabels } from '../src/rollup/types.js';
import { fromDist } from './dist.js';

const { createFlowLabels } = await fromDist<typeof import('../src/rollup/types.js')>('rollup/types.js');

/** xorshift128+ style generator on 32-bit halves; deterministic per seed. */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 to spread the seed into four non-zero words.
    const next = (): number => {
      seed = (seed + 0x9e3779b9) | 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 1;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }

  /** Uniform in [0, 2^32). */
  u32(): number {
    // xoshiro128** (Blackman, Vigna).
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Zipf over ranks 1..n with exponent s: P(k) = k^-s / H(n, s). Rejection-inversion sampling
 * (Hörmann and Derflinger, 1996): constant time and memory per sample, exact distribution.
 */
export class Zipf {
  readonly n: number;
  readonly s: number;
  /** Generalised harmonic number H(n, s). */
  readonly norm: number;
  private readonly hX1: number;
  private readonly hN: number;
  private readonly squeeze: number;

  constructor(n: number, s: number) {
    if (!(n >= 1 && s > 0 && s !== 1)) throw new Error('Zipf needs n >= 1 and an exponent s > 0, s != 1');
    this.n = n;
    this.s = s;
    this.hX1 = this.hIntegral(1.5) - 1;
    this.hN = this.hIntegral(n + 0.5);
    this.squeeze = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
    let norm = 0;
    for (let k = n; k >= 1; k--) norm += k ** -s;
    this.norm = norm;
  }

  /** Probability of rank k. */
  p(k: number): number {
    return k ** -this.s / this.norm;
  }

  /** A rank in 1..n. */
  sample(rand: Random): number {
    for (;;) {
      const u = this.hN + rand.next() * (this.hX1 - this.hN);
      const x = this.hIntegralInverse(u);
      let k = Math.floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > this.n) k = this.n;
      if (k - x <= this.squeeze || u >= this.hIntegral(k + 0.5) - this.h(k)) return k;
    }
  }

  private h(x: number): number {
    return Math.exp(-this.s * Math.log(x));
  }

  /** ∫ x^-s dx, written to stay accurate near s = 1. */
  private hIntegral(x: number): number {
    const logX = Math.log(x);
    return expm1OverX((1 - this.s) * logX) * logX;
  }

  private hIntegralInverse(x: number): number {
    let t = x * (1 - this.s);
    if (t < -1) t = -1;
    return Math.exp(log1pOverX(t) * x);
  }
}

function expm1OverX(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x / 2;
}

function log1pOverX(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x / 2;
}

/**
 * Key index i in [0, devices × peers) ↔ labels device = devices[i % D], peer = peers[⌊i / D⌋].
 * Zipf ranks are scattered over the key indices by a fixed permutation, so heavy keys spread over
 * devices like real talkers do.
 */
export class KeySpace {
  readonly size: number;
  readonly devices: string[];
  readonly peers: string[];
  private readonly deviceIndex = new Map<string, number>();
  private readonly peerIndex = new Map<string, number>();
  /** rank - 1 → key index. */
  readonly keyOfRank: Int32Array;
  /** key index → rank - 1. */
  readonly rankOfKey: Int32Array;

  constructor(devices: number, peers: number, seed = 1) {
    this.size = devices * peers;
    this.devices = Array.from({ length: devices }, (_, i) => `device-${i}`);
    this.peers = Array.from({ length: peers }, (_, i) => `198.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    this.devices.forEach((d, i) => this.deviceIndex.set(d, i));
    this.peers.forEach((p, i) => this.peerIndex.set(p, i));
    this.keyOfRank = new Int32Array(this.size);
    for (let i = 0; i < this.size; i++) this.keyOfRank[i] = i;
    const rand = new Random(seed);
    for (let i = this.size - 1; i > 0; i--) {
      const j = rand.int(i + 1);
      const t = this.keyOfRank[i];
      this.keyOfRank[i] = this.keyOfRank[j];
      this.keyOfRank[j] = t;
    }
    this.rankOfKey = new Int32Array(this.size);
    for (let r = 0; r < this.size; r++) this.rankOfKey[this.keyOfRank[r]] = r;
  }

  /** Writes the key's labels into `labels` (no allocation). */
  fill(labels: FlowLabels, key: number): void {
    const d = this.devices.length;
    labels.device = this.devices[key % d];
    labels.peer = this.peers[Math.floor(key / d)];
  }

  /** Index of a device or peer value in its pool, or -1 (e.g. for "other"). */
  deviceNumber(device: string): number {
    return this.deviceIndex.get(device) ?? -1;
  }

  peerNumber(peer: string): number {
    return this.peerIndex.get(peer) ?? -1;
  }

  /** The key index of a (device, peer) row, or -1 for folded rows. */
  keyOf(device: string, peer: string): number {
    const d = this.deviceIndex.get(device);
    const p = this.peerIndex.get(peer);
    return d === undefined || p === undefined ? -1 : p * this.devices.length + d;
  }

  labels(): FlowLabels {
    const l = createFlowLabels();
    l.exporter = '192.0.2.1';
    l.source = 'ipfix';
    l.direction = 'egress';
    l.app = 'https';
    return l;
  }
}

/** Bytes of one flow record: 40..1500, uniform. */
export function recordBytes(rand: Random): number {
  return 40 + rand.int(1461);
}

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
