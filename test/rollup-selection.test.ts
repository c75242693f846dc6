/**
 * Heavy-hitter selection: the building blocks (label-set hash index, Space-Saving with and without
 * its filter, forward decay, tombstones) and the selection inside a rollup family, in simulated
 * time: a heavy key displaces a light one, stationary traffic does not flap, an evicted row hands
 * its totals to its fallback row, and an evicted label set is held off before it may return.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RollupDefinition } from '../src/config/types.js';
import { ForwardDecay } from '../src/rollup/decayed-rate.js';
import { EvictionTombstones, HeavyHitterSelection, type SelectionOptions } from '../src/rollup/heavy-hitters.js';
import { HashIndex, LabelSetHasher } from '../src/rollup/key-hash.js';
import { RollupFamily } from '../src/rollup/rollup-family.js';
import type { RollupSnapshot } from '../src/rollup/snapshot.js';
import { SpaceSaving } from '../src/rollup/space-saving.js';
import { type FlowLabels, createFlowLabels } from '../src/rollup/types.js';

function rowsOf(s: RollupSnapshot): Map<string, [number, number, number]> {
  const m = new Map<string, [number, number, number]>();
  s.labelValues.forEach((v, i) => m.set(v.join('|'), [s.bytes[i], s.packets[i], s.flows[i]]));
  return m;
}

function sum(a: Float64Array): number {
  return a.reduce((x, y) => x + y, 0);
}

describe('LabelSetHasher and HashIndex', () => {
  it('gives equal label sets equal hashes and keeps label boundaries apart', () => {
    const h = new LabelSetHasher(7);
    const hashOf = (v: string[]): [number, number] => {
      h.hash(v, v.length);
      return [h.h1, h.h2];
    };
    expect(hashOf(['device-1', '203.0.113.9'])).toEqual(hashOf(['device-1', `203.0.113.${9}`]));
    expect(hashOf(['ab', 'c'])).not.toEqual(hashOf(['a', 'bc']));
    expect(hashOf(['a', ''])).not.toEqual(hashOf(['', 'a']));
    // Every word is a signed 32-bit integer (small integers in V8, never boxed).
    const [a, b] = hashOf(['x']);
    expect(a | 0).toBe(a);
    expect(b | 0).toBe(b);
    // Different seeds give different hashes.
    const other = new LabelSetHasher(8);
    other.hash(['x'], 1);
    expect([other.h1, other.h2]).not.toEqual([a, b]);
  });

  it('has no collisions among 200,000 distinct label sets', () => {
    const h = new LabelSetHasher(1);
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      h.hash([`device-${i % 97}`, `198.51.${(i >> 8) & 255}.${i & 255}`, `${i}`], 3);
      seen.add(`${h.h1},${h.h2}`);
    }
    expect(seen.size).toBe(200_000);
  });

  it('behaves like a Map under random inserts and deletes (backward-shift deletion)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 60 }), fc.nat(1000)), { maxLength: 400 }), (ops) => {
        const index = new HashIndex(64);
        const model = new Map<number, number>();
        for (const [insert, k, v] of ops) {
          // Few distinct low bits, so probe chains collide and wrap.
          const h1 = (k * 0x10000) | (k & 3);
          const h2 = k;
          if (insert) {
            index.set(h1, h2, v);
            model.set(k, v);
          } else {
            expect(index.delete(h1, h2)).toBe(model.delete(k));
          }
          expect(index.size).toBe(model.size);
        }
        for (let k = 0; k <= 60; k++) expect(index.get((k * 0x10000) | (k & 3), k)).toBe(model.get(k) ?? -1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('SpaceSaving', () => {
  const streams = fc.record({
    capacity: fc.integer({ min: 1, max: 24 }),
    filter: fc.constantFrom(0, 8, 32),
    ops: fc.array(fc.tuple(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 1500 }), fc.nat(30)), { maxLength: 600 }),
  });

  it('bounds every tracked key: count - error <= true weight <= count; untracked keys weigh at most the smallest count', () => {
    fc.assert(
      fc.property(streams, ({ capacity, filter, ops }) => {
        const sk = new SpaceSaving(capacity, filter);
        const truth = new Map<number, number>();
        for (const [key, w, zipfish] of ops) {
          // Skew the keys so that some become heavy.
          const k = zipfish < 20 ? key % 5 : key;
          sk.offer(k, k ^ 0x55, w);
          truth.set(k, (truth.get(k) ?? 0) + w);
        }
        let tracked = 0;
        for (const [k, t] of truth) {
          const c = sk.find(k, k ^ 0x55);
          if (c >= 0) {
            tracked++;
            expect(sk.count[c]).toBeGreaterThanOrEqual(t);
            expect(sk.guaranteed(c)).toBeLessThanOrEqual(t);
          } else {
            expect(t).toBeLessThanOrEqual(sk.minCount());
          }
        }
        expect(sk.size).toBe(tracked);
        expect(sk.size).toBeLessThanOrEqual(capacity);
        // Plain Space-Saving: every key heavier than total / capacity is tracked.
        if (filter === 0) {
          const total = [...truth.values()].reduce((a, b) => a + b, 0);
          for (const [k, t] of truth) if (t > total / capacity) expect(sk.find(k, k ^ 0x55)).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('removes keys, scales counts and keeps its heap order', () => {
    const sk = new SpaceSaving(4);
    for (let k = 1; k <= 4; k++) sk.offer(k, k, k * 10);
    sk.remove(sk.find(2, 2));
    expect(sk.size).toBe(3);
    expect(sk.find(2, 2)).toBe(-1);
    sk.scale(0.5);
    expect(sk.count[sk.find(4, 4)]).toBe(20);
    // The freed counter is used before the smallest is taken over.
    sk.offer(9, 9, 1);
    expect(sk.find(1, 1)).toBeGreaterThanOrEqual(0);
    sk.offer(10, 10, 1); // full: takes over the smallest (key 9, count 1)
    expect(sk.find(9, 9)).toBe(-1);
    expect(sk.count[sk.find(10, 10)]).toBe(2);
    expect(sk.error[sk.find(10, 10)]).toBe(1);
  });

  it('keeps a flood of one-off keys in the filter, away from the counters', () => {
    const sk = new SpaceSaving(16, 16);
    for (let k = 0; k < 16; k++) for (let i = 0; i < 100; i++) sk.offer(k, k, 100);
    let promoted = 0;
    for (let k = 1000; k < 1400; k++) {
      sk.offer(k, k, 1);
      if (sk.lastWasNew) promoted++;
    }
    expect(promoted).toBe(0);
    for (let k = 0; k < 16; k++) expect(sk.find(k, k)).toBeGreaterThanOrEqual(0);
  });
});

describe('ForwardDecay', () => {
  it('turns grown counts into a decayed rate and renormalises without changing it', () => {
    const d = new ForwardDecay(60_000);
    d.advance(0);
    let count = 0;
    // 1000 bytes/s for 20 half-lives: the rate converges to 1000 bytes/s.
    for (let t = 1000; t <= 1_200_000; t += 1000) {
      const f = d.advance(t);
      count *= f;
      count += 1000 * d.weight;
    }
    // Within 1%: one-second steps against a one-minute half-life.
    expect(Math.abs(d.ratePerSecond(count) - 1000)).toBeLessThan(10);
    expect(d.weight).toBeLessThan(2 ** 32);
    // Silence for one half-life halves the rate.
    const before = d.ratePerSecond(count);
    count *= d.advance(1_260_000);
    expect(d.ratePerSecond(count) / before).toBeCloseTo(0.5, 6);
    // Time never runs backwards.
    expect(d.advance(5)).toBe(1);
    expect(d.now).toBe(1_260_000);
  });

  it('renormalises once the growth factor passes 2^32, scaling every count by the same factor', () => {
    const d = new ForwardDecay(1000);
    d.advance(0);
    let count = 1;
    let rescaled = false;
    for (let t = 1000; t <= 40_000; t += 1000) {
      const f = d.advance(t);
      if (f !== 1) rescaled = true;
      count *= f;
    }
    expect(rescaled).toBe(true);
    // One unit at time 0, 40 half-lives later.
    expect(count / d.weight).toBeCloseTo(2 ** -40, 20);
  });
});

describe('EvictionTombstones', () => {
  it('holds keys until their expiry, refuses more than its capacity, expires in order', () => {
    const t = new EvictionTombstones(2);
    expect(t.add(1, 1, 100)).toBe(true);
    expect(t.add(2, 2, 200)).toBe(true);
    expect(t.add(3, 3, 300)).toBe(false);
    expect(t.has(1, 1, 99)).toBe(true);
    expect(t.has(1, 1, 100)).toBe(false);
    t.expire(150);
    expect(t.size).toBe(1);
    expect(t.free).toBe(1);
    expect(t.add(3, 3, 300)).toBe(true);
    expect(t.has(2, 2, 150)).toBe(true);
    expect(t.has(3, 3, 150)).toBe(true);
    t.expire(1000);
    expect(t.size).toBe(0);
    expect(t.has(3, 3, 150)).toBe(false);
  });
});

// ---- selection inside a family, in simulated time ----------------------------------------------

const FAST: SelectionOptions = {
  halfLifeMs: 60_000,
  admitAfterMs: 10_000,
  evictAfterMs: 20_000,
  readmitHoldoffMs: 120_000,
  tickMs: 1000,
  minLeadRecords: 2,
  seed: 3,
};

/** Feeds records to a family with a simulated clock. */
class Driver {
  readonly family: RollupFamily;
  readonly labels: FlowLabels = createFlowLabels();
  now = 0;
  total = 0;

  constructor(def: RollupDefinition, selection: SelectionOptions = FAST) {
    this.family = new RollupFamily(def, { selection });
    this.family.advanceTime(0);
  }

  send(device: string, peer: string, bytes: number): void {
    this.labels.device = device;
    this.labels.peer = peer;
    this.family.add(this.labels, bytes, 1, 1);
    this.total += bytes;
  }

  /** `seconds` of traffic, `perSecond(t)` sends that second's records. */
  run(seconds: number, perSecond: (second: number) => void): void {
    for (let s = 0; s < seconds; s++) {
      perSecond(s);
      this.now += 1000;
      this.family.advanceTime(this.now);
    }
  }

  rows(): Map<string, [number, number, number]> {
    return rowsOf(this.family.snapshot());
  }
}

const peerDef: RollupDefinition = { name: 'flow_peer', labels: ['device', 'peer'], budget: 6 };

describe('heavy-hitter selection in a family', () => {
  it('is the default policy, with a sketch of fixed size whatever the number of keys', () => {
    const d = new Driver({ name: 'r', labels: ['device', 'peer'], budget: 50 });
    expect(d.family.policy).toBeInstanceOf(HeavyHitterSelection);
    const policy = d.family.policy as HeavyHitterSelection;
    expect(policy.sketchUse().counters).toBe(200);
    d.run(20, (s) => {
      for (let i = 0; i < 10_000; i++) d.send('d', `k${s * 10_000 + i}`, 100);
    });
    const use = policy.sketchUse();
    expect(use.counters).toBe(200);
    expect(use.watched).toBeLessThanOrEqual(200);
    expect(use.tombstones).toBeLessThanOrEqual(use.tombstoneCapacity);
    expect(d.family.stats().seriesInUse).toBeLessThanOrEqual(50);
  });

  it('replaces a light first-come key by a heavy one and moves the evicted totals into the fallback row', () => {
    // Budget 6: reserves (d, other) and (other, other); 4 rows for full keys.
    const d = new Driver(peerDef);
    // Four light keys arrive first and take the free rows.
    for (const p of ['a', 'b', 'c', 'e']) d.send('d', p, 100);
    const before = d.rows();
    expect([...before.keys()].sort()).toEqual(['d|a', 'd|b', 'd|c', 'd|e']);
    // Then a heavy key: it folds into (d, other) until it is admitted.
    let admittedAt = -1;
    d.run(120, (s) => {
      for (let i = 0; i < 20; i++) d.send('d', 'heavy', 1000);
      d.send('d', 'a', 10);
      d.send('d', 'b', 10);
      d.send('d', 'c', 10);
      if (admittedAt < 0 && d.family.slotOf(['d', 'heavy']) >= 0) admittedAt = s;
    });
    // The challenger had to be strong for admitAfter and its victim weak for evictAfter.
    expect(admittedAt).toBeGreaterThanOrEqual(20);
    expect(admittedAt).toBeLessThan(60);
    const rows = d.rows();
    // The idle key e was the weakest: it is gone, and its 100 bytes live on in (d, other).
    expect(rows.has('d|e')).toBe(false);
    expect(rows.has('d|heavy')).toBe(true);
    const st = d.family.stats();
    expect(st.evictions).toBe(1);
    expect(st.evictedBytes).toBe(100);
    expect(st.evictedPackets).toBe(1);
    expect(st.evictedFlows).toBe(1);
    // Conservation: (d, other) holds the heavy key's records before admission plus e's totals.
    const heavyRow = rows.get('d|heavy')!;
    const heavyBytes = 120 * 20 * 1000;
    expect(rows.get('d|other')![0]).toBe(heavyBytes - heavyRow[0] + 100);
    expect(sum(d.family.snapshot().bytes)).toBe(d.total);
    // Kept keys never lost a byte.
    expect(rows.get('d|a')![0]).toBe(100 + 120 * 10);
  });

  it('does not flap on stationary traffic: the same keys stay for hours', () => {
    const d = new Driver({ name: 'r', labels: ['device', 'peer'], budget: 12 });
    // Eight steady keys of similar size plus a trickle of one-off keys.
    let n = 0;
    d.run(6 * 3600, () => {
      for (let k = 0; k < 8; k++) d.send('d', `steady${k}`, 900 + ((k * 37 + n) % 200));
      d.send('d', `once${n++}`, 60);
    });
    const st = d.family.stats();
    const rows = d.rows();
    for (let k = 0; k < 8; k++) expect(rows.has(`d|steady${k}`)).toBe(true);
    // Only the first-come one-off keys were replaced, each once.
    expect(st.evictions).toBeLessThanOrEqual(12);
    expect(sum(d.family.snapshot().bytes)).toBe(d.total);
  });

  it('does not flap when more keys of equal rate than rows compete (hysteresis)', () => {
    // Budget 12: 9 rows for full keys, 12 keys of the same rate with random record sizes.
    const d = new Driver({ name: 'r', labels: ['device', 'peer'], budget: 12 }, { ...FAST, minLeadRecords: 5, margin: 0.5 });
    let x = 1;
    const size = (): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return 500 + (x % 1000);
    };
    d.run(3600, () => {
      for (let k = 0; k < 12; k++) for (let i = 0; i < 2; i++) d.send('d', `k${k}`, size());
    });
    const afterFirstHour = d.family.stats().evictions;
    d.run(3 * 3600, () => {
      for (let k = 0; k < 12; k++) for (let i = 0; i < 2; i++) d.send('d', `k${k}`, size());
    });
    // Three hours of stationary traffic: (almost) no swaps among equals.
    expect(d.family.stats().evictions - afterFirstHour).toBeLessThanOrEqual(2);
    expect(sum(d.family.snapshot().bytes)).toBe(d.total);
  });

  it('holds an evicted key off for the hold-off, then lets it return as a new series from zero', () => {
    const d = new Driver(peerDef);
    for (const p of ['a', 'b', 'c', 'e']) d.send('d', p, 500);
    // Phase 1: x is heavy and takes e's row; e stays idle.
    let evictedAt = -1;
    d.run(100, () => {
      for (let i = 0; i < 10; i++) d.send('d', 'x', 1000);
      for (const p of ['a', 'b', 'c']) d.send('d', p, 50);
      if (evictedAt < 0 && d.family.slotOf(['d', 'e']) < 0) evictedAt = d.now;
    });
    expect(evictedAt).toBeGreaterThan(0);
    expect((d.family.policy as HeavyHitterSelection).heldOff(['d', 'e'])).toBe(true);
    // Phase 2: e becomes the heaviest key, x goes quiet. e must wait out its hold-off.
    let backAt = -1;
    let bytesSinceBack = 0;
    d.run(400, () => {
      for (let i = 0; i < 20; i++) {
        d.send('d', 'e', 1000);
        if (backAt >= 0) bytesSinceBack += 1000;
        else if (d.family.slotOf(['d', 'e']) >= 0) {
          backAt = d.now;
          bytesSinceBack = 1000;
        }
      }
      for (const p of ['a', 'b', 'c']) d.send('d', p, 50);
    });
    expect(backAt).toBeGreaterThan(0);
    expect(backAt - evictedAt).toBeGreaterThanOrEqual(FAST.readmitHoldoffMs!);
    // ... but not much later: it was the heaviest key all along.
    expect(backAt - evictedAt).toBeLessThan(FAST.readmitHoldoffMs! + 60_000);
    // It came back as a new series: its counter holds exactly what arrived since its return.
    expect(d.rows().get('d|e')![0]).toBe(bytesSinceBack);
    expect(sum(d.family.snapshot().bytes)).toBe(d.total);
  });

  it('keeps at most its tombstone capacity of evictions alive: no eviction while all are live', () => {
    const d = new Driver(
      { name: 'r', labels: ['device', 'peer'], budget: 12 },
      { ...FAST, tombstoneCapacity: 2, readmitHoldoffMs: 3_600_000 },
    );
    // Waves of new heavy keys every two minutes, each would displace the previous wave.
    d.run(1200, (s) => {
      const wave = Math.floor(s / 120);
      for (let k = 0; k < 8; k++) d.send('d', `w${wave}-${k}`, 2000);
    });
    expect(d.family.stats().evictions).toBe(2);
    expect((d.family.policy as HeavyHitterSelection).sketchUse().tombstones).toBe(2);
  });

  it('evicts partially folded rows beyond their reserve, never the all-other row or a reserved row', () => {
    // Budget 5, no partial reserve share: (x, other) reserve is 1 row, all-other 1, 3 free.
    const f = new RollupFamily({ name: 'r', labels: ['device', 'peer'], budget: 5 }, { partialReserveShare: 0, selection: FAST });
    const l = createFlowLabels();
    const send = (device: string, peer: string, bytes: number): void => {
      l.device = device;
      l.peer = peer;
      f.add(l, bytes, 1, 1);
    };
    f.advanceTime(0);
    send('d1', 'other', 10); // a real (d1, other) row: level 1, uses the reserve
    send('d2', 'other', 10); // level 1 beyond the reserve: takes a free row
    send('other', 'other', 10);
    send('d3', 'p', 10);
    send('d4', 'p', 10); // budget full
    const slotOf = (d: string, p: string): number => f.slotOf([d, p]);
    expect(f.evictable(slotOf('other', 'other'))).toBe(false);
    // Two rows at level 1 against a reserve of one: either may go, but only one.
    expect(f.evictable(slotOf('d1', 'other'))).toBe(true);
    expect(f.evictable(slotOf('d2', 'other'))).toBe(true);
    expect(f.evictable(slotOf('d3', 'p'))).toBe(true);
    expect(f.evictable(-1)).toBe(false);
    expect(f.evictable(99)).toBe(false);
    // A heavy key displaces rows until only non-evictable ones and kept heavy keys remain.
    let t = 0;
    for (let s = 0; s < 600; s++) {
      for (let k = 0; k < 3; k++) for (let i = 0; i < 5; i++) send('h', `${k}`, 1000);
      t += 1000;
      f.advanceTime(t);
    }
    const rows = rowsOf(f.snapshot());
    expect(rows.size).toBe(5);
    expect(rows.has('other|other')).toBe(true);
    expect(f.rowsAtLevel(1)).toBe(1);
    const survivor = rows.has('d1|other') ? slotOf('d1', 'other') : slotOf('d2', 'other');
    expect(f.evictable(survivor)).toBe(false);
    for (let k = 0; k < 3; k++) expect(rows.has(`h|${k}`)).toBe(true);
    expect(sum(f.snapshot().bytes)).toBe(f.stats().totalBytes);
  });

  it('samples the records it watches under a flood, and still finds the heavy keys', () => {
    // 100,000 records/s, almost all one-off keys; the sketch looks at about 10,000 of them a second.
    const d = new Driver({ name: 'r', labels: ['device', 'peer'], budget: 40 }, { ...FAST, sketchRecordsPerSecond: 10_000 });
    const policy = d.family.policy as HeavyHitterSelection;
    let n = 0;
    d.run(600, () => {
      for (let i = 0; i < 100_000; i++) {
        // Four heavy keys with 1% of the records each.
        if (i % 25 === 0) d.send('d', `heavy${(i / 25) % 4}`, 800);
        else d.send(`d${i % 7}`, `scan${n++}`, 60);
      }
    });
    expect(policy.sketchUse().sampling).toBeGreaterThan(0.08);
    expect(policy.sketchUse().sampling).toBeLessThan(0.12);
    for (let k = 0; k < 4; k++) expect(d.family.slotOf(['d', `heavy${k}`])).toBeGreaterThanOrEqual(0);
    expect(sum(d.family.snapshot().bytes)).toBe(d.total);
    expect(d.family.stats().seriesInUse).toBeLessThanOrEqual(40);
  });

  it('refuses bad selection options, naming the rollup', () => {
    expect(() => new RollupFamily(peerDef, { selection: { margin: -1 } })).toThrow(/rollup "flow_peer": selection margin must be a non-negative number/);
    expect(() => new RollupFamily(peerDef, { selection: { sketchFactor: 0 } })).toThrow(/sketchFactor/);
    expect(() => new RollupFamily(peerDef, { selection: { halfLifeMs: 0 } })).toThrow(/half-life/);
    expect(() => new RollupFamily(peerDef, { selection: { tickMs: Number.NaN } })).toThrow(/tickMs/);
    expect(() => new RollupFamily(peerDef, { selection: { sketchRecordsPerSecond: 0 } })).toThrow(/sketchRecordsPerSecond/);
    expect(() => new RollupFamily(peerDef, { selection: { filterFactor: 0.5 } })).toThrow(/filterFactor/);
    const shared = new HeavyHitterSelection();
    new RollupFamily(peerDef, { policy: shared });
    expect(() => new RollupFamily(peerDef, { policy: shared })).toThrow(/one rollup family/);
  });

  it('reads its fallback clock when it is never given time', () => {
    let clock = 1_000_000;
    const f = new RollupFamily(peerDef, { clock: () => clock, selection: FAST });
    const l = createFlowLabels();
    l.device = 'd';
    l.peer = 'p';
    f.add(l, 1, 1, 1);
    expect(f.currentTime()).toBe(1_000_000);
    clock = 2_000_000;
    for (let i = 0; i < 1024; i++) f.add(l, 1, 1, 1);
    expect(f.currentTime()).toBe(2_000_000);
    // Explicit time takes over and never runs backwards.
    f.advanceTime(3_000_000);
    f.advanceTime(2_500_000);
    clock = 9_000_000;
    for (let i = 0; i < 2048; i++) f.add(l, 1, 1, 1);
    expect(f.currentTime()).toBe(3_000_000);
  });
});
