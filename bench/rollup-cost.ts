/**
 * Cost of the rollup as the number of distinct keys grows from a thousand to a million:
 * - nanoseconds per record for one (device, peer) rollup with the flow_peer budget (with its
 *   heavy-hitter selection, and with first-come admission for comparison: what folding costs by
 *   itself), and for the four default rollups together, on uniform traffic (the worst case: with
 *   many keys almost every record is a key without a row of its own) and on Zipf(1.1) traffic;
 * - the same for a bare two-level Map lookup of the rows flow_peer ended with: the floor that the
 *   lookup of label text over budget-sized state sets, whatever the rollup does around it; and for
 *   the same rows keyed by numbers in a budget-sized table (what a lookup without text would cost);
 * - memory the rollup state keeps after a full garbage collection (heap plus typed-array buffers),
 *   to show it is O(budget), not O(keys seen).
 *
 * The clock is simulated record time, so the once-a-second selection work is included. Three
 * rates: 1,000,000 records/s (a core at full load), 32,000 records/s (above 5,000 records/s without
 * a row the sketch sees a random sample, at both) and 4,000 records/s (the sketch sees every record
 * without a row).
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
    /** Internal: measure one column in this (fresh) process. */
    column: { type: 'string' },
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

/** The fastest of PASSES timed passes, after one warm-up pass. */
function fastestPass(pass: () => number): number {
  pass();
  let best = Number.POSITIVE_INFINITY;
  for (let p = 0; p < PASSES; p++) best = Math.min(best, pass());
  return best;
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
  return fastestPass(pass);
}

/**
 * The floor under any rollup keyed by label text: the same rows as `family` holds, in a bare
 * two-level Map (device, then peer), each record looked up, falling back to (device, other) and
 * then to (other, other) as a fold would, and its bytes added. No budget, selection or
 * bookkeeping: what finding the row costs once the rows are what they are.
 */
function bareLookup(space: KeySpace, keys: Int32Array, family: InstanceType<typeof RollupFamily>, perMs: number): number {
  const snap = family.snapshot();
  const root = new Map<string, Map<string, number>>();
  snap.labelValues.forEach((v, slot) => {
    let peers = root.get(v[0]);
    if (peers === undefined) root.set(v[0], (peers = new Map()));
    peers.set(v[1], slot);
  });
  const allOther = root.get('other')?.get('other') ?? 0;
  const counts = new Float64Array(snap.labelValues.length);
  return measure(
    space,
    keys,
    {
      add: (l, b) => {
        const peers = root.get(l.device);
        const slot = peers === undefined ? allOther : (peers.get(l.peer) ?? peers.get('other') ?? allOther);
        counts[slot] += b;
      },
      advance: () => {},
    },
    perMs,
  );
}

/**
 * The same floor with numbers for labels: the rows keyed by (device number, peer number) in an
 * open-addressing table sized for the budget, the way a rollup fed ids instead of text could find
 * them. What a lookup that reads no label text would cost.
 */
function bareNumericLookup(space: KeySpace, keys: Int32Array, family: InstanceType<typeof RollupFamily>): number {
  const snap = family.snapshot();
  const OTHER_ID = -2;
  let cap = 16;
  while (cap < 2 * snap.labelValues.length) cap *= 2;
  const mask = cap - 1;
  const kd = new Int32Array(cap).fill(-1);
  const kp = new Int32Array(cap);
  const slots = new Int32Array(cap);
  const at = (d: number, p: number): number => {
    let x = Math.imul(d, 0x9e3779b1) ^ Math.imul(p + 0x7f4a7c15, 0x85ebca6b);
    x ^= x >>> 15;
    return x & mask;
  };
  const find = (d: number, p: number): number => {
    for (let i = at(d, p); ; i = (i + 1) & mask) {
      if (kd[i] === -1) return -1;
      if (kd[i] === d && kp[i] === p) return slots[i];
    }
  };
  snap.labelValues.forEach((v, slot) => {
    const d = v[0] === 'other' ? OTHER_ID : space.deviceNumber(v[0]);
    const p = v[1] === 'other' ? OTHER_ID : space.peerNumber(v[1]);
    let i = at(d, p);
    while (kd[i] !== -1) i = (i + 1) & mask;
    kd[i] = d;
    kp[i] = p;
    slots[i] = slot;
  });
  const counts = new Float64Array(snap.labelValues.length);
  const devices = space.devices.length;
  const pass = (): number => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const d = key % devices;
      const p = Math.floor(key / devices);
      let slot = find(d, p);
      if (slot < 0) slot = find(d, OTHER_ID);
      if (slot < 0) slot = find(OTHER_ID, OTHER_ID);
      counts[slot] += 64 + (i & 1023);
    }
    const used = process.cpuUsage(t0);
    return ((used.user + used.system) * 1000) / keys.length;
  };
  return fastestPass(pass);
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
  ['4k records/s', 4],
];
const COLUMNS = ['loop', 'bare', 'numeric', 'flow_peer', 'first_come', 'four'] as const;
type Column = (typeof COLUMNS)[number];

interface Cell {
  rate: string;
  dist: string;
  size: number;
  ns: number;
  rows?: number;
  sampling?: number;
}

function flowPeer(firstCome: boolean): InstanceType<typeof RollupFamily> {
  const family = new RollupFamily(
    { name: 'flow_peer', labels: ['device', 'peer'], budget: 4000 },
    firstCome ? { policy: new FirstComeAdmission() } : { selection: { seed: SEED } },
  );
  family.advanceTime(0);
  return family;
}

/** One column, every rate, traffic and size, in this process: one JSON line per cell. */
function measureColumn(column: Column): void {
  for (const [rateName, perMs] of RATES) {
    for (const dist of ['uniform', 'zipf'] as const) {
      for (const [size, devices, peers] of SIZES) {
        const space = new KeySpace(devices, peers, SEED);
        const keys = sequence(space, dist);
        const cell: Cell = { rate: rateName, dist, size, ns: 0 };
        if (column === 'loop') {
          cell.ns = baseline(space, keys);
        } else if (column === 'four') {
          const engine = new RollupEngine(defaultRollups(), { selection: { seed: SEED } });
          engine.setReceiveTime(0);
          cell.ns = measure(space, keys, { add: (l, b, p, f) => engine.add(l, b, p, f), advance: (t) => engine.setReceiveTime(t) }, perMs);
        } else {
          const family = flowPeer(column === 'first_come');
          cell.ns = measure(space, keys, { add: (l, b, p, f) => family.add(l, b, p, f), advance: (t) => family.advanceTime(t) }, perMs);
          if (column === 'bare') cell.ns = bareLookup(space, keys, family, perMs);
          if (column === 'numeric') cell.ns = bareNumericLookup(space, keys, family);
          cell.rows = family.stats().seriesInUse;
          if (column === 'flow_peer') cell.sampling = (family.policy as HeavyHitterSelection).sketchUse().sampling;
        }
        console.log(JSON.stringify(cell));
      }
    }
  }
}

if (args.column !== undefined) {
  if (!(COLUMNS as readonly string[]).includes(args.column)) throw new Error(`--column must be one of ${COLUMNS.join(', ')}`);
  measureColumn(args.column as Column);
  process.exit(0);
}

// Each column runs in a fresh process: in one process, the first-come policy would make the
// family's calls into its policy polymorphic, and the columns measured after it slower than the
// daemon (where every family has the same policy) ever runs.
const cells = new Map<Column, Cell[]>();
for (const column of COLUMNS) {
  const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1], `--column=${column}`, `--records=${RECORDS}`, `--passes=${PASSES}`, `--seed=${SEED}`], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  cells.set(
    column,
    out
      .trim()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Cell),
  );
}
const results: Record<string, number[]> = {};
console.log(`per-record cost, CPU ns/record (fastest of ${PASSES} passes of ${RECORDS.toLocaleString('en')} records after a warm-up pass; each column in its own process)`);
console.log(
  row(['distinct keys', 'traffic', 'simulated rate', 'loop alone', 'bare lookup', 'bare numeric lookup', 'flow_peer', 'rows', 'sketch sampling', 'flow_peer, first-come', 'four default rollups']),
);
console.log(row(['---:', '---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
const at = (column: Column, i: number): Cell => cells.get(column)![i];
for (let i = 0; i < cells.get('loop')!.length; i++) {
  const { rate, dist, size } = at('loop', i);
  const peer = at('flow_peer', i);
  (results[`bare lookup, ${dist}, ${rate}`] ??= []).push(at('bare', i).ns);
  (results[`bare numeric lookup, ${dist}, ${rate}`] ??= []).push(at('numeric', i).ns);
  (results[`flow_peer, ${dist}, ${rate}`] ??= []).push(peer.ns);
  (results[`flow_peer first-come, ${dist}, ${rate}`] ??= []).push(at('first_come', i).ns);
  (results[`four rollups, ${dist}, ${rate}`] ??= []).push(at('four', i).ns);
  console.log(
    row([
      size.toLocaleString('en'),
      dist,
      rate,
      at('loop', i).ns.toFixed(1),
      at('bare', i).ns.toFixed(1),
      at('numeric', i).ns.toFixed(1),
      peer.ns.toFixed(1),
      peer.rows ?? '',
      (peer.sampling ?? 1).toFixed(3),
      at('first_come', i).ns.toFixed(1),
      at('four', i).ns.toFixed(1),
    ]),
  );
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
