/**
 * Property tests of the cardinality contract over random and adversarial flow streams: hard cap,
 * exact conservation, counters never decrease, and every record lands in the finest existing row
 * of its own fold chain (own label set -> ... -> all "other").
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RollupDefinition, RollupLabel } from '../src/config/types.js';
import type { AdmissionPolicy } from '../src/rollup/admission.js';
import { RollupEngine } from '../src/rollup/rollup-engine.js';
import { RollupFamily } from '../src/rollup/rollup-family.js';
import type { RollupSnapshot } from '../src/rollup/snapshot.js';
import { type FlowLabels, createFlowLabels } from '../src/rollup/types.js';

const POOL: RollupLabel[] = ['device', 'peer', 'app', 'direction', 'exporter'];

type Counts = [number, number, number];
interface Rec {
  values: string[]; // one per POOL label
  bytes: number;
  packets: number;
  flows: number;
}

const arbDef: fc.Arbitrary<RollupDefinition> = fc
  .shuffledSubarray(POOL, { minLength: 1, maxLength: 3 })
  .chain((labels) =>
    fc.record({
      name: fc.constant('r'),
      labels: fc.constant(labels),
      // From the smallest legal budget (one row per partial level + all-other) upwards.
      budget: fc.oneof(fc.constant(labels.length), fc.integer({ min: labels.length, max: labels.length + 40 })),
      fallback: fc.option(fc.shuffledSubarray(labels), { nil: undefined }),
    }),
  );

const arbValue = fc.oneof(
  fc.constantFrom('a', 'b', 'c', 'other', '', 'unknown', 'x"y', 'a\\b', 'l\nm'),
  fc.string({ maxLength: 3 }),
);

const arbCounts = fc.record({
  bytes: fc.oneof(fc.nat(1500), fc.integer({ min: 0, max: 2 ** 40 })),
  packets: fc.nat(1_000_000),
  flows: fc.nat(3),
});

/** Random, port-scan-like (first label fixed, others new per record) and new-key-per-record streams. */
const arbStream: fc.Arbitrary<Rec[]> = fc.oneof(
  fc.array(fc.record({ values: fc.array(arbValue, { minLength: POOL.length, maxLength: POOL.length }), c: arbCounts }), { maxLength: 150 }).map(
    (xs) => xs.map(({ values, c }) => ({ values, ...c })),
  ),
  fc.array(arbCounts, { maxLength: 150 }).map((xs) => xs.map((c, i) => ({ values: POOL.map((_, j) => (j === 0 ? 'scanner' : `k${i}`)), ...c }))),
  fc.array(arbCounts, { maxLength: 150 }).map((xs) => xs.map((c, i) => ({ values: POOL.map((l) => `${l}${i}`), ...c }))),
);

function toLabels(target: FlowLabels, values: string[]): FlowLabels {
  POOL.forEach((l, i) => (target[l] = values[i]));
  return target;
}

function rows(s: RollupSnapshot): Map<string, Counts> {
  const m = new Map<string, Counts>();
  s.labelValues.forEach((v, i) => {
    const key = JSON.stringify(v);
    if (m.has(key)) throw new Error(`duplicate label set ${key}`);
    m.set(key, [s.bytes[i], s.packets[i], s.flows[i]]);
  });
  return m;
}

/** The record's label sets from its own to all-"other", computed independently of the family. */
function chain(def: RollupDefinition, rec: Rec): string[] {
  const order = [...(def.fallback ?? [])];
  for (const l of [...def.labels].reverse()) if (!order.includes(l)) order.push(l);
  const own = def.labels.map((l) => {
    const v = rec.values[POOL.indexOf(l)];
    return v === '' ? 'unknown' : v;
  });
  const out = [JSON.stringify(own)];
  for (const l of order) {
    own[def.labels.indexOf(l)] = 'other';
    out.push(JSON.stringify(own));
  }
  return out;
}

function sums(s: RollupSnapshot): Counts {
  const sum = (a: Float64Array): number => a.reduce((x, y) => x + y, 0);
  return [sum(s.bytes), sum(s.packets), sum(s.flows)];
}

describe('rollup cardinality contract (properties)', () => {
  it('every record lands in the finest existing row of its fold chain; cap, conservation, monotonic counters', () => {
    fc.assert(
      fc.property(arbDef, arbStream, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (def, stream, refusals) => {
        // A policy that refuses some admissions must not weaken the contract.
        let turn = 0;
        const policy: AdmissionPolicy = { admit: () => !refusals[turn++ % refusals.length] };
        const family = new RollupFamily(def, { policy });
        const labels = createFlowLabels();
        let prev = rows(family.snapshot());
        const total: Counts = [0, 0, 0];
        for (const rec of stream) {
          family.add(toLabels(labels, rec.values), rec.bytes, rec.packets, rec.flows);
          total[0] += rec.bytes;
          total[1] += rec.packets;
          total[2] += rec.flows;
          const snap = family.snapshot();
          const next = rows(snap);
          expect(next.size).toBeLessThanOrEqual(def.budget);
          expect(sums(snap)).toEqual(total);
          expect([snap.totalBytes, snap.totalPackets, snap.totalFlows]).toEqual(total);
          const landing = chain(def, rec).find((k) => next.has(k));
          expect(landing).toBeDefined();
          for (const [key, counts] of next) {
            const before = prev.get(key);
            if (key === landing) {
              const base = before ?? [0, 0, 0];
              expect(counts).toEqual([base[0] + rec.bytes, base[1] + rec.packets, base[2] + rec.flows]);
            } else {
              expect(before).toEqual(counts); // untouched rows exist before and do not change
            }
          }
          for (const key of prev.keys()) expect(next.has(key)).toBe(true);
          prev = next;
        }
        expect(family.stats().seriesInUse).toBe(prev.size);
      }),
      { numRuns: 300 },
    );
  });

  it('holds over long adversarial streams for every family of an engine', () => {
    fc.assert(
      fc.property(
        fc.array(arbDef, { minLength: 1, maxLength: 3 }),
        fc.constantFrom<'unique' | 'scan' | 'random-peer'>('unique', 'scan', 'random-peer'),
        fc.integer({ min: 500, max: 4000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        (defs, mode, length, seed) => {
          const named = defs.map((d, i) => ({ ...d, name: `r${i}` }));
          const engine = new RollupEngine(named);
          const labels = createFlowLabels();
          let state = seed;
          const rand = (): number => {
            state = (Math.imul(state, 1103515245) + 12345) >>> 0;
            return state;
          };
          const total: Counts = [0, 0, 0];
          let prev = engine.snapshot().map(rows);
          for (let i = 0; i < length; i++) {
            const values = POOL.map((l, j) =>
              mode === 'unique' ? `${l}${i}` : mode === 'scan' ? (j === 0 ? 'scanner' : `${rand() % 65536}`) : j === 1 ? `198.51.${rand() % 256}.${rand() % 256}` : `v${rand() % 4}`,
            );
            const bytes = rand() % 100_000;
            engine.add(toLabels(labels, values), bytes, 1 + (bytes % 70), 1);
            total[0] += bytes;
            total[1] += 1 + (bytes % 70);
            total[2] += 1;
            if (i % 250 === 249 || i === length - 1) {
              const snaps = engine.snapshot();
              snaps.forEach((snap, f) => {
                expect(snap.labelValues.length).toBeLessThanOrEqual(named[f].budget);
                expect(sums(snap)).toEqual(total);
                const next = rows(snap);
                for (const [key, before] of prev[f]) {
                  const now = next.get(key);
                  expect(now).toBeDefined();
                  expect(now![0]).toBeGreaterThanOrEqual(before[0]);
                  expect(now![1]).toBeGreaterThanOrEqual(before[1]);
                  expect(now![2]).toBeGreaterThanOrEqual(before[2]);
                }
              });
              prev = snaps.map(rows);
            }
          }
          // Budgets far below the key count overflow: the all-"other" row must then exist.
          engine.snapshot().forEach((snap, f) => {
            const allOther = JSON.stringify(named[f].labels.map(() => 'other'));
            if (mode === 'unique' && named[f].budget < length / 2) expect(rows(snap).has(allOther)).toBe(true);
          });
        },
      ),
      { numRuns: 60 },
    );
  });
});
