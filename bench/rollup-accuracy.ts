/**
 * Accuracy of heavy-hitter selection on Zipf traffic, in simulated time.
 *
 * One (device, peer) rollup with the default flow_peer budget receives a stationary Zipf stream
 * over a million keys; the clock is the simulated record time, so hours run in seconds. Printed:
 * - recall of the keys whose true share exceeds 1/budget, and of the true top-K;
 * - relative error of kept keys' counters against their true totals;
 * - series churn (evictions) per simulated hour once traffic is stationary;
 * - how long a new heavy hitter waits for its row.
 *
 * Run: npm run bench:rollup-accuracy [-- --rate=5000 --warmup-hours=2 --hours=3 --keys=1000000]
 */
import { parseArgs } from 'node:util';
import type { RollupDefinition } from '../src/config/types.js';
import type { SelectionOptions } from '../src/rollup/heavy-hitters.js';
import { fromDist } from './dist.js';
import { KeySpace, Random, Zipf, quantile, recordBytes } from './rollup-traffic.js';

const { RollupFamily } = await fromDist<typeof import('../src/rollup/rollup-family.js')>('rollup/rollup-family.js');
type RollupFamily = InstanceType<typeof RollupFamily>;

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '5000' },
    'warmup-hours': { type: 'string', default: '2' },
    hours: { type: 'string', default: '3' },
    keys: { type: 'string', default: '1000000' },
    exponent: { type: 'string', default: '1.1' },
    budget: { type: 'string', default: '4000' },
    seed: { type: 'string', default: '42' },
    // Selection overrides, for exploring the parameters.
    margin: { type: 'string' },
    'min-lead': { type: 'string' },
    'half-life-min': { type: 'string' },
    'admit-after-s': { type: 'string' },
    'evict-after-s': { type: 'string' },
    'sketch-factor': { type: 'string' },
    'filter-factor': { type: 'string' },
    'sketch-rate': { type: 'string' },
    'skip-shift': { type: 'boolean', default: false },
  },
});

const RATE = Number(args.rate);
const WARMUP_H = Number(args['warmup-hours']);
const HOURS = Number(args.hours);
const KEYS = Number(args.keys);
const EXPONENT = Number(args.exponent);
const BUDGET = Number(args.budget);
const SEED = Number(args.seed);
const RECORDS_PER_DATAGRAM = 30;
const HOUR_MS = 3_600_000;

const num = (v: string | undefined, scale = 1): number | undefined => (v === undefined ? undefined : Number(v) * scale);
const selection: SelectionOptions = {
  seed: SEED,
  margin: num(args.margin),
  minLeadRecords: num(args['min-lead']),
  halfLifeMs: num(args['half-life-min'], 60_000),
  admitAfterMs: num(args['admit-after-s'], 1000),
  evictAfterMs: num(args['evict-after-s'], 1000),
  sketchFactor: num(args['sketch-factor']),
  filterFactor: num(args['filter-factor']),
  sketchRecordsPerSecond: num(args['sketch-rate']),
};

const def: RollupDefinition = { name: 'flow_peer', labels: ['device', 'peer'], budget: BUDGET };
const devices = Math.round(Math.sqrt(KEYS));
const space = new KeySpace(devices, Math.round(KEYS / devices), SEED);
const zipf = new Zipf(space.size, EXPONENT);

function pct(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)}%`;
}

/** Drives one family through simulated time. */
class Simulation {
  readonly family: RollupFamily;
  readonly rand = new Random(SEED);
  readonly labels = space.labels();
  /** True bytes per key since the start. */
  readonly trueBytes = new Float64Array(space.size);
  nowMs = 0;
  records = 0;
  private readonly stepMs = (1000 / RATE) * RECORDS_PER_DATAGRAM;

  constructor() {
    this.family = new RollupFamily(def, { selection });
    this.family.advanceTime(0);
  }

  /** Runs `ms` of traffic; `inject` (key, share) adds a key with a fixed share of the records. */
  run(ms: number, inject?: { key: number; share: number }, stopWhen?: () => boolean): void {
    const end = this.nowMs + ms;
    const { family, rand, labels, trueBytes } = this;
    while (this.nowMs < end) {
      for (let i = 0; i < RECORDS_PER_DATAGRAM; i++) {
        const key = inject !== undefined && rand.next() < inject.share ? inject.key : space.keyOfRank[zipf.sample(rand) - 1];
        const bytes = recordBytes(rand);
        space.fill(labels, key);
        family.add(labels, bytes, 1 + (bytes >> 9), 1);
        trueBytes[key] += bytes;
      }
      this.records += RECORDS_PER_DATAGRAM;
      this.nowMs += this.stepMs;
      family.advanceTime(this.nowMs);
      if (stopWhen !== undefined && stopWhen()) return;
    }
  }

  /** Key index → row bytes, for the rows with no label folded. */
  keptRows(): Map<number, number> {
    const snap = this.family.snapshot();
    const out = new Map<number, number>();
    snap.labelValues.forEach((v, i) => {
      const key = space.keyOf(v[0], v[1]);
      if (key >= 0) out.set(key, snap.bytes[i]);
    });
    return out;
  }
}

function stationary(): void {
  const sim = new Simulation();
  const t0 = performance.now();
  sim.run(WARMUP_H * HOUR_MS);
  const churn: number[] = [];
  let hourStart = sim.keptRows();
  let exactLastHour = 0;
  let keptLastHour = 0;
  const trueAtHourStart = new Float64Array(space.size);
  // Keys present in every one-minute snapshot of the last hour (kept without interruption).
  let continuous = new Set<number>();
  let returned = 0;
  for (let h = 0; h < HOURS; h++) {
    const before = sim.family.stats().evictions;
    trueAtHourStart.set(sim.trueBytes);
    hourStart = sim.keptRows();
    continuous = new Set(hourStart.keys());
    for (let m = 0; m < 60; m++) {
      sim.run(HOUR_MS / 60);
      const now = sim.keptRows();
      for (const key of continuous) if (!now.has(key)) continuous.delete(key);
    }
    churn.push(sim.family.stats().evictions - before);
  }
  const seconds = (performance.now() - t0) / 1000;
  const kept = sim.keptRows();
  // Keys kept through the whole last hour: their counter increase must equal their true traffic.
  for (const [key, bytes] of kept) {
    const start = hourStart.get(key);
    if (start === undefined) continue;
    if (!continuous.has(key)) {
      returned++;
      continue;
    }
    keptLastHour++;
    if (bytes - start === sim.trueBytes[key] - trueAtHourStart[key]) exactLastHour++;
  }

  const heavy: number[] = [];
  for (let r = 1; r <= space.size && zipf.p(r) > 1 / BUDGET; r++) heavy.push(space.keyOfRank[r - 1]);
  const recallOf = (keys: ArrayLike<number>): number => {
    let hit = 0;
    for (let i = 0; i < keys.length; i++) if (kept.has(keys[i])) hit++;
    return keys.length === 0 ? 1 : hit / keys.length;
  };
  const topK = (k: number): Int32Array => space.keyOfRank.subarray(0, k);
  const errors = Float64Array.from([...kept].map(([key, bytes]) => (sim.trueBytes[key] - bytes) / sim.trueBytes[key])).sort();
  const heavyErrors = Float64Array.from(heavy.map((key) => (kept.has(key) ? (sim.trueBytes[key] - kept.get(key)!) / sim.trueBytes[key] : 1))).sort();
  const stats = sim.family.stats();
  const snap = sim.family.snapshot();
  let otherBytes = 0;
  snap.labelValues.forEach((v, i) => {
    if (v[1] === 'other') otherBytes += snap.bytes[i];
  });

  console.log(`stationary Zipf traffic: ${space.size.toLocaleString('en')} keys, exponent ${EXPONENT}, budget ${BUDGET}, ${RATE} records/s`);
  console.log(`  simulated ${WARMUP_H} h warm-up + ${HOURS} h measured = ${sim.records.toLocaleString('en')} records in ${seconds.toFixed(1)} s`);
  console.log(`  rows: ${stats.seriesInUse} in use (${sim.family.rowsAtLevel(0)} keys of their own, ${sim.family.rowsAtLevel(1)} (device, other), ${sim.family.rowsAtLevel(2)} all-other)`);
  console.log(`  recall, keys with true share > 1/budget (${heavy.length} keys): ${pct(recallOf(heavy), 2)}`);
  for (const k of [10, 100, 1000, sim.family.rowsAtLevel(0)]) console.log(`  recall, true top-${k}: ${pct(recallOf(topK(k)), 2)}`);
  console.log(
    `  counter error of kept keys vs their true totals since start: median ${pct(quantile(errors, 0.5), 2)}, p90 ${pct(quantile(errors, 0.9), 2)}, max ${pct(quantile(errors, 1), 2)}`,
  );
  console.log(`  counter error of the keys with share > 1/budget: median ${pct(quantile(heavyErrors, 0.5), 3)}, max ${pct(quantile(heavyErrors, 1), 3)}`);
  console.log(`  keys kept through the last hour whose counter rose by exactly their traffic: ${exactLastHour} of ${keptLastHour}`);
  console.log(`  keys kept at both ends of the last hour but evicted and re-admitted in between (new series): ${returned}`);
  console.log(`  churn per simulated hour (evictions): ${churn.join(', ')} = ${churn.map((c) => pct(c / BUDGET)).join(', ')} of the budget (goal < 10%)`);
  console.log(`  traffic in (device, other) and all-other rows: ${pct(otherBytes / stats.totalBytes)}; admissions ${stats.admissions}, evictions ${stats.evictions}`);
}

function shift(): void {
  console.log('shifting heavy hitter: after 1 h of the same stationary traffic, a new key takes a fixed share of the records');
  for (const share of [2 / BUDGET, 0.001, 0.01, 0.05]) {
    const sim = new Simulation();
    sim.run(HOUR_MS);
    // A key from the far tail: it had (almost) no traffic before.
    const key = space.keyOfRank[space.size - 7];
    space.fill(sim.labels, key);
    const values = [sim.labels.device, sim.labels.peer];
    const start = sim.nowMs;
    sim.run(HOUR_MS, { key, share }, () => sim.family.slotOf(values) >= 0);
    const admitted = sim.family.slotOf(values) >= 0;
    const waited = (sim.nowMs - start) / 1000;
    console.log(`  share ${pct(share, 2)} (${(share * BUDGET).toFixed(1)} × 1/budget): ${admitted ? `row after ${waited.toFixed(0)} s` : 'no row within 1 h'}`);
  }
}

stationary();
if (!args['skip-shift']) shift();
