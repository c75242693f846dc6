/**
 * Cost of the rollup as the number of distinct keys grows from a thousand to a million:
 * - nanoseconds per record for one (device, peer) rollup with the flow_peer budget (with its
 *   heavy-hitter selection, and with first-come admission for comparison: what folding costs by
 *   itself), and for the four default rollups together, on uniform traffic (the worst case: with
 *   many keys almost every record is a key without a row of its own) and on Zipf(1.1) traffic;
 * - memory the rollup state keeps after a full garbage collection (heap plus typed-array buffers),
 *   to show it is O(budget), not O(keys seen).
 *
 * The clock is simulated record time, so the once-a-second selection work is included. Two rates:
 * 1,000,000 records/s (a core at full load: above 50,000 records/s without a row, the sketch sees a
 * random sample) and 32,000 records/s (the sketch sees every record without a row).
 *
 * Times are CPU time of this process (not wall time), fastest of the passes: on a shared machine
 * that is what the rollup costs, without the time spent waiting for a core.
 *
 * Run: npm run bench:rollup-cost [-- --records=1000000 --passes=7]
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { HeavyHitterSelection } from '../src/rollup/heavy-hitters.js';
import { fromDist } from './dist.js';
import { KeySpace, Random, Zipf } from './rollup-traffic.js';

const { FirstComeAdmission } = await fromDist<typeof import('../src/rollup/admission.js')>('rollup/admission.js');
const { defaultRollups } = await fromDist<typeof import('../src/rollup/defaults.js')>('rollup/defaults.js');
const { RollupEngine } = await fromDist<typeof import('../src/rollup/rollup-engine.js')>('rollup/rollup-engine.js');
const { RollupFamily } = await fromDist<typeof import('../src/rollup/rollup-family.js')>('rollup/rollup-family.js');

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    passes: { type: 'string', default: '7' },
    seed: { type: 'string', default: '7' },
    /** Internal: measure the retained state for this many keys in this (fresh) process. */
    memory: { type: 'string' },
  },
});
const RECORDS = Number(args.records);
const PASSES = Number(args.passes);
const SEED = Number(args.seed);

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc (npm run bench:rollup-cost does)');
  process.exit(1);
}

/** Distinct keys → (devices, peers) of the key space. */
const SIZES: Array<[number, number, number]> = [
  [1_000, 10, 100],
  [10_000, 100, 100],
  [100_000, 100, 1000],
  [1_000_000, 1000, 1000],
];

interface Target {
  add(labels: ReturnType<KeySpace['labels']>, bytes: number, packets: number, flows: number): void;
  advance(nowMs: number): void;
}

function retained(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function sequence(space: KeySpace, dist: 'uniform' | 'zipf'): Int32Array {
  const rand = new Random(SEED);
  const zipf = dist === 'zipf' ? new Zipf(space.size, 1.1) : undefined;
  const keys = new Int32Array(RECORDS);
  for (let i = 0; i < RECORDS; i++) keys[i] = zipf === undefined ? rand.int(space.size) : space.keyOfRank[zipf.sample(rand) - 1];
  return keys;
}

/** CPU ns per record, fastest of the timed passes after one warm-up pass; the clock advances 1 ms every `perMs` records. */
function measure(space: KeySpace, keys: Int32Array, target: Target, perMs: number): number {
  const labels = space.labels();
  let now = 0;
  const pass = (): number => {
    const t0 = process.cpuUsage();
    for (let i = 0, n = 0; i < keys.length; i++) {
      space.fill(labels, keys[i]);
      target.add(labels, 64 + (i & 1023), 1, 1);
      if (++n === perMs) {
        n = 0;
        target.advance(++now);
      }
    }
    const used = process.cpuUsage(t0);
    return ((used.user + used.system) * 1000) / keys.length;
  };
  pass();
  let best = Number.POSITIVE_INFINITY;
  for (let p = 0; p < PASSES; p++) best = Math.min(best, pass());
  return best;
}

/** Cost of the benchmark loop alone (filling the labels), for reference; not subtracted. */
function baseline(space: KeySpace, keys: Int32Array): number {
  let sink = 0;
  const ns = measure(
    space,
    keys,
    {
      add: (l) => {
        sink += l.peer.length;
      },
      advance: () => {
        sink++;
      },
    },
    1000,
  );
  return sink === -1 ? 0 : ns;
}

function row(cells: Array<string | number>): string {
  return `| ${cells.join(' | ')} |`;
}

function memoryOf(size: number): void {
  const [, devices, peers] = SIZES.find(([n]) => n === size)!;
  const space = new KeySpace(devices, peers, SEED);
  const keys = sequence(space, 'uniform');
  const labels = space.labels();
  const before = retained();
  const family = new RollupFamily({ name: 'flow_peer', labels: ['device', 'peer'], budget: 4000 }, { selection: { seed: SEED } });
  family.advanceTime(0);
  let now = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < keys.length; i++) {
      space.fill(labels, keys[i]);
      family.add(labels, 64 + (i & 1023), 1, 1);
      if ((i & 31) === 31) family.advanceTime(++now);
    }
  }
  const bytes = retained() - before;
  // Uses of the inputs after the second reading, so they are not collected in between.
  if (family.stats().totalFlows !== 2 * keys.length || space.size !== size || labels.peer === '') throw new Error('lost records');
  console.log(JSON.stringify({ size, records: 2 * keys.length, bytes, rows: family.stats().seriesInUse }));
}

if (args.memory !== undefined) {
  memoryOf(Number(args.memory));
  process.exit(0);
}

const RATES: Array<[string, number]> = [
  ['1M records/s', 1000],
  ['32k records/s', 32],
];
const results: Record<string, number[]> = {};
console.log(`per-record cost, CPU ns/record (fastest of ${PASSES} passes of ${RECORDS.toLocaleString('en')} records after a warm-up pass)`);
console.log(
  row(['distinct keys', 'traffic', 'simulated rate', 'loop alone', 'flow_peer', 'rows', 'sketch sampling', 'flow_peer, first-come', 'four default rollups']),
);
console.log(row(['---:', '---', '---', '---:', '---:', '---:', '---:', '---:', '---:']));
for (const [rateName, perMs] of RATES) {
  for (const dist of ['uniform', 'zipf'] as const) {
    for (const [size, devices, peers] of SIZES) {
      const space = new KeySpace(devices, peers, SEED);
      const keys = sequence(space, dist);
      const family = new RollupFamily({ name: 'flow_peer', labels: ['device', 'peer'], budget: 4000 }, { selection: { seed: SEED } });
      family.advanceTime(0);
      const one = measure(space, keys, { add: (l, b, p, f) => family.add(l, b, p, f), advance: (t) => family.advanceTime(t) }, perMs);
      const engine = new RollupEngine(defaultRollups(), { selection: { seed: SEED } });
      engine.setReceiveTime(0);
      const all = measure(space, keys, { add: (l, b, p, f) => engine.add(l, b, p, f), advance: (t) => engine.setReceiveTime(t) }, perMs);
      const firstCome = new RollupFamily({ name: 'flow_peer', labels: ['device', 'peer'], budget: 4000 }, { policy: new FirstComeAdmission() });
      firstCome.advanceTime(0);
      const fc = measure(space, keys, { add: (l, b, p, f) => firstCome.add(l, b, p, f), advance: (t) => firstCome.advanceTime(t) }, perMs);
      const base = baseline(space, keys);
      const use = (family.policy as HeavyHitterSelection).sketchUse();
      (results[`flow_peer, ${dist}, ${rateName}`] ??= []).push(one);
      (results[`flow_peer first-come, ${dist}, ${rateName}`] ??= []).push(fc);
      (results[`four rollups, ${dist}, ${rateName}`] ??= []).push(all);
      console.log(
        row([
          size.toLocaleString('en'),
          dist,
          rateName,
          base.toFixed(1),
          one.toFixed(1),
          family.stats().seriesInUse,
          use.sampling.toFixed(3),
          fc.toFixed(1),
          all.toFixed(1),
        ]),
      );
    }
  }
}
console.log();
for (const [name, xs] of Object.entries(results)) {
  console.log(`${name}: 1M keys / 1k keys = ${(xs[xs.length - 1] / xs[0]).toFixed(2)}×, max / min over sizes = ${(Math.max(...xs) / Math.min(...xs)).toFixed(2)}× (goal ≤ 1.5×)`);
}

console.log();
console.log('state kept after a full GC (heap + typed-array buffers), one flow_peer rollup, budget 4000, uniform traffic; each size in a fresh process');
console.log(row(['distinct keys sent', 'records', 'rows', 'retained state', 'per budget row']));
console.log(row(['---:', '---:', '---:', '---:', '---:']));
for (const [size] of SIZES) {
  const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1], `--memory=${size}`, `--records=${RECORDS}`, `--seed=${SEED}`], {
    encoding: 'utf8',
  });
  const m = JSON.parse(out.trim().split('\n').pop()!) as { size: number; records: number; bytes: number; rows: number };
  console.log(row([m.size.toLocaleString('en'), m.records.toLocaleString('en'), m.rows, `${(m.bytes / 1e6).toFixed(2)} MB`, `${(m.bytes / 4000).toFixed(0)} B`]));
}
