/**
 * Property tests of the cardinality contract under heavy-hitter selection with eviction, in
 * simulated time, over random and adversarial streams: random source addresses, port scans, a new
 * key per record, stationary Zipf traffic and shifting heavy hitters.
 *
 * After every record: series ≤ budget; conservation exact to the integer for bytes, packets and
 * flows; the record landed in the finest existing row of its fold chain; every evicted row's last
 * totals went to the finest existing row of its own fold chain and nothing else moved; no exposed
 * counter decreased; an evicted label set did not come back within the hold-off (when it comes back
 * later it is a new series). Separately: keys whose share exceeds 1/budget are kept once traffic is
 * stationary, and are not evicted afterwards.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RollupDefinition, RollupLabel } from '../src/config/types.js';
import type { SelectionOptions } from '../src/rollup/heavy-hitters.js';
import { RollupFamily } from '../src/rollup/rollup-family.js';
import type { RollupSnapshot } from '../src/rollup/snapshot.js';
import { createFlowLabels } from '../src/rollup/types.js';

const POOL: RollupLabel[] = ['device', 'peer', 'app'];
type Counts = [number, number, number];
type Mode = 'random-address' | 'port-scan' | 'unique' | 'zipf' | 'shifting' | 'bursts' | 'rotating';
const MODES: Mode[] = ['random-address', 'port-scan', 'unique', 'zipf', 'shifting', 'bursts', 'rotating'];

/** Small deterministic generator, so a failing case replays from its seed. */
class Rand {
  constructor(private s: number) {}
  next(): number {
    this.s = (Math.imul(this.s ^ (this.s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 12), 0x297a2d39);
    return ((t ^ (t >>> 15)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Zipf(1.1) rank in 0..n-1 by inversion over a precomputed CDF. */
function zipfSampler(n: number): (r: Rand) => number {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let k = 0; k < n; k++) cdf[k] = acc += (k + 1) ** -1.1;
  for (let k = 0; k < n; k++) cdf[k] /= acc;
  return (r) => {
    const u = r.next();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
const zipf500 = zipfSampler(500);

/** The label values (device, peer, app) of record i of a stream. */
function recordValues(mode: Mode, i: number, nowMs: number, r: Rand): string[] {
  switch (mode) {
    case 'random-address':
      return [`d${r.int(4)}`, `198.51.${r.int(256)}.${r.int(256)}`, r.int(3) ? 'https' : 'dns'];
    case 'port-scan':
      return ['scanner', `203.0.113.${r.int(4)}`, `tcp/${i % 65536}`];
    case 'unique':
      return [`d${i}`, `p${i}`, `a${i}`];
    case 'zipf': {
      const k = zipf500(r);
      return [`d${k % 7}`, `p${k}`, `a${k % 3}`];
    }
    case 'shifting': {
      // The heavy ranks move to other keys every two simulated minutes.
      const k = (zipf500(r) + 97 * Math.floor(nowMs / 120_000)) % 500;
      return [`d${k % 7}`, `p${k}`, `a${k % 3}`];
    }
    case 'bursts':
      // Alternating minutes of a few heavy keys and of a scan.
      return Math.floor(nowMs / 60_000) % 2 === 0 ? [`d${r.int(3)}`, `h${r.int(5)}`, 'https'] : ['d0', `s${i}`, `tcp/${i & 1023}`];
    case 'rotating': {
      // Every 30 s a new set of eight heavy keys (cycling through 40), half the records; the rest noise.
      if (r.int(2) === 0) return [`d${i % 5}`, `n${i}`, 'dns'];
      const k = (8 * Math.floor(nowMs / 30_000) + r.int(8)) % 40;
      return [`d${k % 3}`, `h${k}`, `a${k % 2}`];
    }
  }
}

const arbDef: fc.Arbitrary<RollupDefinition> = fc.shuffledSubarray(POOL, { minLength: 1, maxLength: 3 }).chain((labels) =>
  fc.record({
    name: fc.constant('r'),
    labels: fc.constant(labels),
    budget: fc.integer({ min: labels.length, max: labels.length + 30 }),
    fallback: fc.option(fc.shuffledSubarray(labels), { nil: undefined }),
  }),
);

const arbSelection: fc.Arbitrary<SelectionOptions> = fc.record({
  halfLifeMs: fc.constantFrom(10_000, 30_000, 120_000),
  margin: fc.constantFrom(0, 0.25, 0.5),
  minLeadRecords: fc.constantFrom(0, 1, 5),
  admitAfterMs: fc.constantFrom(0, 2_000, 10_000),
  evictAfterMs: fc.constantFrom(0, 5_000, 20_000),
  readmitHoldoffMs: fc.constantFrom(0, 15_000, 60_000),
  tickMs: fc.constantFrom(250, 1000),
  sketchFactor: fc.constantFrom(1, 4),
  filterFactor: fc.constantFrom(0, 1),
  tombstoneCapacity: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
  seed: fc.integer(),
});

function rows(s: RollupSnapshot): Map<string, Counts> {
  const m = new Map<string, Counts>();
  s.labelValues.forEach((v, i) => {
    const key = JSON.stringify(v);
    if (m.has(key)) throw new Error(`duplicate label set ${key}`);
    m.set(key, [s.bytes[i], s.packets[i], s.flows[i]]);
  });
  return m;
}

/** A label set's chain from itself to all-"other", computed independently of the family. */
function chain(def: RollupDefinition, own: string[]): string[] {
  const order = [...(def.fallback ?? [])];
  for (const l of [...def.labels].reverse()) if (!order.includes(l)) order.push(l);
  const v = [...own];
  const out = [JSON.stringify(v)];
  for (const l of order) {
    v[def.labels.indexOf(l)] = 'other';
    out.push(JSON.stringify(v));
  }
  return out;
}

let evictionsSeen = 0;
let returnsSeen = 0;

describe('rollup contract under heavy-hitter selection (properties)', () => {
  it('cap, exact conservation, fold chains, monotonic counters, evicted totals kept, hold-off respected', () => {
    fc.assert(
      fc.property(
        arbDef,
        arbSelection,
        // Weighted towards the streams that make rows change hands.
        fc.oneof({ arbitrary: fc.constantFrom(...MODES), weight: 2 }, { arbitrary: fc.constantFrom<Mode>('rotating', 'shifting', 'bursts'), weight: 3 }),
        fc.integer({ min: 300, max: 2000 }),
        fc.constantFrom(200, 1000, 4000),
        fc.integer(),
        (def, selection, mode, length, stepMs, seed) => {
          const family = new RollupFamily(def, { selection });
          const holdoff = selection.readmitHoldoffMs!;
          const r = new Rand(seed);
          const labels = createFlowLabels();
          const total: Counts = [0, 0, 0];
          let now = 0;
          family.advanceTime(now);
          let prev = rows(family.snapshot());
          let prevEvictions = 0;
          const evictedAt = new Map<string, number>();
          for (let i = 0; i < length; i++) {
            // The family's time while it counts this record (evictions happen then).
            const t = now;
            const values = recordValues(mode, i, now, r);
            POOL.forEach((l, j) => (labels[l] = values[j]));
            const bytes = r.int(3) === 0 ? r.int(2 ** 40) : 40 + r.int(1461);
            const packets = 1 + r.int(1000);
            const flows = r.int(3);
            family.add(labels, bytes, packets, flows);
            total[0] += bytes;
            total[1] += packets;
            total[2] += flows;
            now += r.int(stepMs);
            family.advanceTime(now);

            const snap = family.snapshot();
            const next = rows(snap);
            const stats = family.stats();
            expect(next.size).toBeLessThanOrEqual(def.budget);
            expect(stats.seriesInUse).toBe(next.size);
            const sums: Counts = [0, 0, 0];
            for (const c of next.values()) for (let k = 0; k < 3; k++) sums[k] += c[k];
            expect(sums).toEqual(total);
            expect([snap.totalBytes, snap.totalPackets, snap.totalFlows]).toEqual(total);

            // Expected change of every row: the record lands in the finest existing row of its chain;
            // each evicted row's last totals go to the finest existing row of its own chain.
            const expected = new Map<string, Counts>();
            const addTo = (key: string | undefined, c: Counts): void => {
              expect(key).toBeDefined();
              const e = expected.get(key!) ?? [0, 0, 0];
              expected.set(key!, [e[0] + c[0], e[1] + c[1], e[2] + c[2]]);
            };
            const own = def.labels.map((l) => values[POOL.indexOf(l)] || 'unknown');
            addTo(chain(def, own).find((k) => next.has(k)), [bytes, packets, flows]);
            let gone = 0;
            for (const [key, last] of prev) {
              if (next.has(key)) continue;
              gone++;
              evictedAt.set(key, t);
              // The all-"other" row is never evicted.
              expect(JSON.parse(key).every((v: string) => v === 'other')).toBe(false);
              addTo(chain(def, JSON.parse(key)).slice(1).find((k) => next.has(k)), last);
            }
            expect(stats.evictions - prevEvictions).toBe(gone);
            prevEvictions = stats.evictions;
            evictionsSeen += gone;
            for (const [key, counts] of next) {
              const before = prev.get(key);
              const delta = expected.get(key) ?? [0, 0, 0];
              if (before === undefined) {
                // A new row (or one coming back): never within the hold-off of its eviction, and it
                // starts from what this step brought, never from an older value.
                const out = evictedAt.get(key);
                if (out !== undefined) {
                  returnsSeen++;
                  expect(t - out).toBeGreaterThanOrEqual(holdoff);
                }
                expect(counts).toEqual(delta);
              } else {
                expect(counts).toEqual([before[0] + delta[0], before[1] + delta[1], before[2] + delta[2]]);
              }
            }
            prev = next;
          }
        },
      ),
      { numRuns: 150 },
    );
    // The streams must actually exercise eviction and return, or the properties say little.
    expect(evictionsSeen).toBeGreaterThan(300);
    expect(returnsSeen).toBeGreaterThan(30);
  });

  it('keeps every key whose share exceeds 1/budget once traffic is stationary, and does not evict it afterwards', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 80 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom<'unique' | 'random-address' | 'zipf-tail'>('unique', 'random-address', 'zipf-tail'),
        fc.integer(),
        (budget, heavyCount, noise, seed) => {
          const def: RollupDefinition = { name: 'flow_peer', labels: ['device', 'peer'], budget };
          const family = new RollupFamily(def, { selection: { seed, halfLifeMs: 60_000, admitAfterMs: 10_000, evictAfterMs: 20_000 } });
          const r = new Rand(seed);
          // Heavy keys with shares between 1.2/budget and 3/budget; the rest is light noise.
          const shares = Array.from({ length: heavyCount }, () => (1.2 + 1.8 * r.next()) / budget);
          const heavyTotal = shares.reduce((a, b) => a + b, 0);
          const labels = createFlowLabels();
          let now = 0;
          family.advanceTime(now);
          const send = (i: number): void => {
            let u = r.next();
            let k = 0;
            while (k < heavyCount && u >= shares[k]) u -= shares[k++];
            if (k < heavyCount) {
              labels.device = `dev${k % 3}`;
              labels.peer = `heavy${k}`;
            } else if (noise === 'unique') {
              labels.device = `dev${i % 5}`;
              labels.peer = `n${i}`;
            } else if (noise === 'random-address') {
              labels.device = `dev${r.int(5)}`;
              labels.peer = `10.${r.int(256)}.${r.int(256)}.${r.int(256)}`;
            } else {
              // The tail of a Zipf: each key far below 1/budget.
              labels.device = `dev${r.int(5)}`;
              labels.peer = `z${200 + zipf500(r) * 7}`;
            }
            family.add(labels, 500 + r.int(1000), 1, 1);
          };
          // 50 records a second (the noise starts first: it takes the free rows), 40 minutes.
          const second = (s: number): void => {
            for (let i = 0; i < 50; i++) send(s * 50 + i);
            now += 1000;
            family.advanceTime(now);
          };
          let s = 0;
          for (; s < 30 * 60; s++) second(s);
          const heavyKept = (): boolean[] => shares.map((_, k) => family.slotOf([`dev${k % 3}`, `heavy${k}`]) >= 0);
          expect(heavyTotal).toBeLessThan(1);
          expect(heavyKept()).toEqual(shares.map(() => true));
          // Stationary from here: the heavy keys stay, every second of the next ten minutes.
          for (; s < 40 * 60; s++) {
            second(s);
            if (s % 30 === 0) expect(heavyKept()).toEqual(shares.map(() => true));
          }
          expect(heavyKept()).toEqual(shares.map(() => true));
        },
      ),
      { numRuns: 25 },
    );
  });
});
