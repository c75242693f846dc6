import { describe, expect, it } from 'vitest';
import type { RollupDefinition } from '../src/config/types.js';
import type { AdmissionPolicy } from '../src/rollup/admission.js';
import { DEFAULT_ROLLUPS, defaultRollups } from '../src/rollup/defaults.js';
import { RollupEngine } from '../src/rollup/rollup-engine.js';
import { RollupFamily, foldOrder, minimumBudget } from '../src/rollup/rollup-family.js';
import type { RollupSnapshot } from '../src/rollup/snapshot.js';
import { type FlowLabels, OTHER, createFlowLabels } from '../src/rollup/types.js';
import { gcCountDuring } from './helpers/gc.js';

function labels(values: Partial<FlowLabels>): FlowLabels {
  return Object.assign(createFlowLabels(), values);
}

/** Rows of a snapshot as "v1|v2" -> [bytes, packets, flows]. */
function rowsOf(s: RollupSnapshot): Map<string, [number, number, number]> {
  const m = new Map<string, [number, number, number]>();
  s.labelValues.forEach((v, i) => m.set(v.join('|'), [s.bytes[i], s.packets[i], s.flows[i]]));
  return m;
}

const peerDef: RollupDefinition = { name: 'flow_peer', labels: ['device', 'peer'], budget: 6 };

describe('default rollups', () => {
  it('are the four traffic families of the design with their budgets', () => {
    expect(DEFAULT_ROLLUPS.map((d) => [d.name, d.labels, d.budget])).toEqual([
      ['flow_exporter', ['exporter', 'source'], 500],
      ['flow_device', ['device', 'direction'], 2000],
      ['flow_app', ['device', 'app'], 4000],
      ['flow_peer', ['device', 'peer'], 4000],
    ]);
    const engine = new RollupEngine(defaultRollups());
    expect(engine.families().map((f) => f.name)).toEqual(['flow_exporter', 'flow_device', 'flow_app', 'flow_peer']);
  });

  it('hands out copies that do not alias the shared defaults', () => {
    const copy = defaultRollups();
    copy[0].budget = 1;
    copy[0].labels.push('app');
    expect(DEFAULT_ROLLUPS[0].budget).toBe(500);
    expect(DEFAULT_ROLLUPS[0].labels).toEqual(['exporter', 'source']);
  });
});

describe('RollupFamily fallback', () => {
  it('folds (device, peer) -> (device, other) -> (other, other)', () => {
    // budget 6: 1 reserved all-other + 1 reserved (device, other) + 4 free.
    const f = new RollupFamily(peerDef);
    expect(f.reservedRows(2)).toBe(1);
    expect(f.reservedRows(1)).toBe(1);
    // Four peers of d1 take the free rows.
    for (let i = 0; i < 4; i++) f.add(labels({ device: 'd1', peer: `p${i}` }), 100, 1, 1);
    // A fifth peer of d1 folds into (d1, other), which takes the level-1 reserve.
    f.add(labels({ device: 'd1', peer: 'p4' }), 10, 2, 1);
    // A peer of d2 cannot have its own row nor (d2, other): it lands in (other, other).
    f.add(labels({ device: 'd2', peer: 'q0' }), 7, 3, 1);
    // More overflow of d1 joins (d1, other).
    f.add(labels({ device: 'd1', peer: 'p5' }), 5, 1, 1);
    const rows = rowsOf(f.snapshot());
    expect(rows.size).toBe(6);
    expect(rows.get('d1|p0')).toEqual([100, 1, 1]);
    expect(rows.get(`d1|${OTHER}`)).toEqual([15, 3, 2]);
    expect(rows.get(`${OTHER}|${OTHER}`)).toEqual([7, 3, 1]);
    expect(rows.has('d2|other')).toBe(false);
    const st = f.stats();
    expect(st).toMatchObject({ seriesInUse: 6, budget: 6, admissions: 6, evictions: 0, foldedRecords: 3, foldedBytes: 22 });
    expect(st.totalBytes).toBe(422);
    // Kept keys keep counting in their own row.
    f.add(labels({ device: 'd1', peer: 'p0' }), 1, 1, 1);
    expect(rowsOf(f.snapshot()).get('d1|p0')).toEqual([101, 2, 2]);
  });

  it('follows a custom fallback order: the device folds before the direction', () => {
    const f = new RollupFamily({ name: 'flow_device', labels: ['device', 'direction'], budget: 4, fallback: ['device'] });
    expect(f.fallbackOrder).toEqual(['device', 'direction']);
    // budget 4: 1 all-other + 1 (other, direction) reserve + 2 free.
    f.add(labels({ device: 'a', direction: 'egress' }), 1, 1, 1);
    f.add(labels({ device: 'b', direction: 'egress' }), 1, 1, 1);
    f.add(labels({ device: 'c', direction: 'egress' }), 4, 1, 1);
    f.add(labels({ device: 'd', direction: 'egress' }), 8, 1, 1);
    f.add(labels({ device: 'e', direction: 'ingress' }), 16, 1, 1);
    const rows = rowsOf(f.snapshot());
    expect([...rows.keys()].sort()).toEqual(['a|egress', 'b|egress', 'other|egress', 'other|other'].sort());
    expect(rows.get('other|egress')).toEqual([12, 2, 2]);
    expect(rows.get('other|other')).toEqual([16, 1, 1]);
  });

  it('completes a partial fallback list with the remaining labels from last to first', () => {
    const def: RollupDefinition = { name: 'x', labels: ['device', 'app', 'peer'], budget: 10, fallback: ['app'] };
    expect(foldOrder(def)).toEqual(['app', 'peer', 'device']);
    expect(foldOrder({ name: 'x', labels: ['device', 'app', 'peer'], budget: 10 })).toEqual(['peer', 'app', 'device']);
  });

  it('folds three labels level by level and keeps a reserve for each partial level', () => {
    const f = new RollupFamily({ name: 'x', labels: ['device', 'app', 'peer'], budget: 5, fallback: ['peer', 'app'] });
    // budget 5: reserves 1 (level 1), 1 (level 2), 1 (all-other); 2 free.
    f.add(labels({ device: 'd', app: 'http', peer: 'p1' }), 1, 1, 1);
    f.add(labels({ device: 'd', app: 'http', peer: 'p2' }), 1, 1, 1);
    f.add(labels({ device: 'd', app: 'http', peer: 'p3' }), 2, 1, 1); // -> (d, http, other)
    f.add(labels({ device: 'd', app: 'dns', peer: 'p4' }), 4, 1, 1); // -> (d, other, other)
    f.add(labels({ device: 'e', app: 'dns', peer: 'p5' }), 8, 1, 1); // -> (other, other, other)
    f.add(labels({ device: 'd', app: 'ssh', peer: 'p6' }), 16, 1, 1); // -> (d, other, other)
    const rows = rowsOf(f.snapshot());
    expect(rows.size).toBe(5);
    expect(rows.get('d|http|other')?.[0]).toBe(2);
    expect(rows.get('d|other|other')?.[0]).toBe(20);
    expect(rows.get('other|other|other')?.[0]).toBe(8);
  });

  it('treats a real value "other" as the folded row of the same label set', () => {
    const f = new RollupFamily({ name: 'x', labels: ['device', 'peer'], budget: 2 });
    // Budget 2 leaves no free row: (d, other) and (other, other) are the reserves.
    f.add(labels({ device: 'd', peer: 'other' }), 3, 1, 1);
    f.add(labels({ device: 'd', peer: 'p' }), 5, 1, 1);
    f.add(labels({ device: 'other', peer: 'other' }), 7, 1, 1);
    f.add(labels({ device: 'e', peer: 'p' }), 11, 1, 1);
    const rows = rowsOf(f.snapshot());
    expect(rows.get('d|other')).toEqual([8, 2, 2]);
    expect(rows.get('other|other')).toEqual([18, 2, 2]);
    expect(rows.size).toBe(2);
  });

  it('reads empty label values as "unknown"', () => {
    const f = new RollupFamily(peerDef);
    f.add(labels({ device: '', peer: 'p' }), 1, 1, 1);
    expect(f.snapshot().labelValues).toEqual([['unknown', 'p']]);
  });

  it('never lets full keys take the partial reserve, so overflow of each device stays per device', () => {
    const budget = 41;
    const f = new RollupFamily({ name: 'flow_peer', labels: ['device', 'peer'], budget });
    // Reserve: 1 all-other + floor(40 * 0.25) = 10 rows of (device, other).
    expect(f.reservedRows(1)).toBe(10);
    for (let i = 0; i < 1000; i++) f.add(labels({ device: `d${i % 5}`, peer: `p${i}` }), 1, 1, 1);
    const rows = rowsOf(f.snapshot());
    expect(rows.size).toBe(budget - 1 - 10 + 5); // 30 full keys, 5 (device, other), all-other unused
    for (let d = 0; d < 5; d++) expect(rows.has(`d${d}|other`)).toBe(true);
    expect(rows.has('other|other')).toBe(false);
    expect(f.rowsAtLevel(0)).toBe(30);
    expect(f.rowsAtLevel(1)).toBe(5);
  });

  it('lets partial rows use free budget beyond their reserve', () => {
    const f = new RollupFamily({ name: 'flow_peer', labels: ['device', 'peer'], budget: 20 }, { partialReserveShare: 0 });
    expect(f.reservedRows(1)).toBe(1);
    // Every record is a new device with two peers; the policy refuses full keys.
    const refuseFull: AdmissionPolicy = { admit: (_v, level) => level > 0 };
    const g = new RollupFamily({ name: 'flow_peer', labels: ['device', 'peer'], budget: 20 }, { policy: refuseFull });
    for (let i = 0; i < 50; i++) g.add(labels({ device: `d${i}`, peer: 'p' }), 1, 1, 1);
    const rows = rowsOf(g.snapshot());
    expect(rows.size).toBe(20);
    expect(g.rowsAtLevel(0)).toBe(0);
    expect(g.rowsAtLevel(1)).toBe(19);
    expect(rows.get('other|other')).toEqual([31, 31, 31]);
  });

  it('asks the admission policy and tells it what it kept and credited', () => {
    const asked: Array<[string, number]> = [];
    const admitted: string[] = [];
    let credited = 0;
    const policy: AdmissionPolicy = {
      admit: (values, level) => {
        asked.push([values.join('|'), level]);
        return values[1] !== 'noisy';
      },
      admitted: (_slot, values) => admitted.push(values.join('|')),
      credited: (_slot, bytes) => {
        credited += bytes;
      },
    };
    const f = new RollupFamily(peerDef, { policy });
    f.add(labels({ device: 'd', peer: 'noisy' }), 5, 1, 1);
    f.add(labels({ device: 'd', peer: 'quiet' }), 7, 1, 1);
    expect(asked).toEqual([
      ['d|noisy', 0],
      ['d|other', 1],
      ['d|quiet', 0],
    ]);
    expect(admitted).toEqual(['d|other', 'd|quiet']);
    expect(credited).toBe(12);
  });

  it('rounds fractional counts and refuses records with impossible counts', () => {
    const f = new RollupFamily(peerDef);
    f.add(labels({ device: 'd', peer: 'p' }), 10.4, 1.6, 1);
    f.add(labels({ device: 'd', peer: 'p' }), -1, 1, 1);
    f.add(labels({ device: 'd', peer: 'p' }), Number.NaN, 1, 1);
    f.add(labels({ device: 'd', peer: 'p' }), Number.POSITIVE_INFINITY, 1, 1);
    f.add(labels({ device: 'd', peer: 'p' }), 1, 2 ** 60, 1);
    const s = f.snapshot();
    expect([s.bytes[0], s.packets[0], s.flows[0]]).toEqual([10, 2, 1]);
    expect(f.stats()).toMatchObject({ rejectedRecords: 4, totalBytes: 10, totalPackets: 2, totalFlows: 1 });
  });

  it('keeps large integer counts exact', () => {
    const f = new RollupFamily(peerDef);
    const big = 2 ** 40 + 1;
    for (let i = 0; i < 1000; i++) f.add(labels({ device: 'd', peer: `p${i}` }), big, 3, 1);
    const s = f.snapshot();
    expect(s.bytes.reduce((a, b) => a + b, 0)).toBe(big * 1000);
    expect(s.totalBytes).toBe(big * 1000);
  });

  it('returns snapshots detached from later traffic', () => {
    const f = new RollupFamily(peerDef);
    f.add(labels({ device: 'd', peer: 'p' }), 1, 1, 1);
    const before = f.snapshot();
    f.add(labels({ device: 'd', peer: 'p' }), 1, 1, 1);
    f.add(labels({ device: 'd', peer: 'q' }), 1, 1, 1);
    expect(before.bytes[0]).toBe(1);
    expect(before.labelValues).toHaveLength(1);
    expect(f.snapshot().bytes[0]).toBe(2);
  });
});

describe('rollup validation', () => {
  it('refuses a budget that cannot hold its own other rows, naming the rollup', () => {
    expect(minimumBudget(2)).toBe(2);
    expect(() => new RollupFamily({ name: 'flow_peer', labels: ['device', 'peer'], budget: 1 })).toThrow(
      /rollup "flow_peer": budget 1 cannot hold its own "other" rows.*at least 2/,
    );
    expect(() => new RollupFamily({ name: 'three', labels: ['device', 'app', 'peer'], budget: 2 })).toThrow(/"three".*at least 3/);
    expect(() => new RollupFamily({ name: 'zero', labels: ['device'], budget: 0 })).toThrow(/"zero".*at least 1/);
    expect(() => new RollupFamily({ name: 'frac', labels: ['device'], budget: 2.5 })).toThrow(/"frac".*budget 2.5/);
    expect(() => new RollupFamily({ name: 'ok', labels: ['device', 'app', 'peer'], budget: 3 })).not.toThrow();
  });

  it('refuses empty, duplicated and unknown labels', () => {
    expect(() => new RollupFamily({ name: 'r', labels: [], budget: 10 })).toThrow(/rollup "r": labels must be a non-empty list/);
    expect(() => new RollupFamily({ name: 'r', labels: ['device', 'device'], budget: 10 })).toThrow(/rollup "r": label "device" is listed twice/);
    expect(() => new RollupFamily({ name: 'r', labels: ['device', 'colour' as never], budget: 10 })).toThrow(/rollup "r": unknown label "colour"/);
  });

  it('refuses a fallback that names other labels or repeats one', () => {
    expect(() => new RollupFamily({ name: 'r', labels: ['device', 'peer'], budget: 10, fallback: ['app'] })).toThrow(/"r": fallback label "app" is not one of its labels/);
    expect(() => new RollupFamily({ name: 'r', labels: ['device', 'peer'], budget: 10, fallback: ['peer', 'peer'] })).toThrow(/listed twice/);
  });

  it('refuses names that are not metric names', () => {
    expect(() => new RollupFamily({ name: 'flow-peer', labels: ['device'], budget: 10 })).toThrow(/rollup "flow-peer": name must be a Prometheus metric name/);
    expect(() => new RollupFamily({ name: '__x', labels: ['device'], budget: 10 })).toThrow(/metric name/);
  });

  it('refuses two rollups with the same name, saying when their labels differ', () => {
    expect(() => new RollupEngine([peerDef, { ...peerDef }])).toThrow(/rollup "flow_peer" is defined twice; rollup names must be unique/);
    expect(() => new RollupEngine([peerDef, { name: 'flow_peer', labels: ['device', 'app'], budget: 10 }])).toThrow(
      /rollup "flow_peer" is defined twice with different labels \(device, peer vs device, app\)/,
    );
  });
});

describe('RollupEngine', () => {
  it('counts each record once in every rollup, so every rollup sums to the same totals', () => {
    const engine = new RollupEngine([
      { name: 'a', labels: ['device', 'peer'], budget: 3 },
      { name: 'b', labels: ['device'], budget: 2 },
      { name: 'c', labels: ['app', 'protocol', 'peer'], budget: 4 },
    ]);
    const l = createFlowLabels();
    let bytes = 0;
    for (let i = 0; i < 500; i++) {
      l.device = `d${i % 7}`;
      l.peer = `p${i}`;
      l.app = i % 3 ? 'http' : '';
      l.protocol = 'tcp';
      engine.add(l, i * 13, i, 1);
      bytes += i * 13;
    }
    for (const s of engine.snapshot()) {
      expect(s.labelValues.length).toBeLessThanOrEqual(s.budget);
      expect(s.bytes.reduce((x, y) => x + y, 0)).toBe(bytes);
      expect(s.flows.reduce((x, y) => x + y, 0)).toBe(500);
    }
    expect(engine.stats().map((s) => s.totalBytes)).toEqual([bytes, bytes, bytes]);
    expect(engine.family('b')?.labelNames).toEqual(['device']);
  });
});

describe('rollup hot path', () => {
  it('allocates nothing per record, for kept label sets and for folded ones (no GC in 4M records)', async () => {
    const engine = new RollupEngine(defaultRollups());
    const devices = Array.from({ length: 50 }, (_, i) => `device-${i}`);
    const peers = Array.from({ length: 60 }, (_, i) => `203.0.113.${i}`);
    const scan = Array.from({ length: 100_000 }, (_, i) => `198.51.${i >> 8}.${i & 255}`);
    const l = createFlowLabels();
    Object.assign(l, { exporter: '192.0.2.1', source: 'ipfix', direction: 'egress', app: 'https' });
    const run = (n: number, fold: boolean): void => {
      for (let i = 0; i < n; i++) {
        l.device = devices[i % 50];
        l.peer = fold ? scan[i % 100_000] : peers[i % 60];
        engine.add(l, 1500, 1, 1);
      }
    };
    run(100_000, false);
    run(100_000, true); // fills every budget: from here on new peers only fold
    const collections = await gcCountDuring(() => {
      run(2_000_000, false);
      run(2_000_000, true);
    });
    // A few bytes per record would fill the young generation many times over.
    expect(collections).toBeLessThanOrEqual(1);
    expect(engine.stats().every((s) => s.totalFlows === 4_200_000)).toBe(true);
  });
});
