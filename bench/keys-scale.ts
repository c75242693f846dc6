/**
 * Scale of keys: per-record cost and memory of the whole pipeline (decode, enrich, every rollup and
 * bounded family, with the default budgets) as the number of distinct keys grows from 1k to 1M.
 * A key is a (local device, remote peer) pair: 100 devices, keys / 100 peers each. Two traffic
 * shapes: "sweep", every record a different pair until the key space wraps (a scan: the worst
 * case, nearly every record a key without a row once keys pass the budgets), and "zipf", keys
 * drawn from Zipf(1.1) over the key space (closer to real traffic, where a few keys carry most
 * records). Each size runs in a fresh child process, so RSS is that of one pipeline that has seen
 * that many keys.
 *
 *   npm run bench:keys            (= npm run build && npx tsx bench/keys-scale.ts)
 *
 * Goals: cost at 1M keys <= 1.5x the cost at 1k keys; RSS <= 200 MB at 1M keys.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fromDist } from './dist.js';
import { dataDatagrams, helloDatagram, RECORDS_PER_DATAGRAM } from './e2e-udp-datagrams.js';
import { printMachine, printTable, si } from './machine.js';

// The parent and every child (which runs this file again) time the compiled code in dist/.
const { defaultConfig } = await fromDist<typeof import('../src/config/defaults.js')>('config/defaults.js');
const { FlowPipeline } = await fromDist<typeof import('../src/pipeline.js')>('pipeline.js');

const SIZES = (process.env.BENCH_KEYS ?? '1000,10000,100000,1000000').split(',').map(Number);
const SHAPES = ['sweep', 'zipf'] as const;
type Shape = (typeof SHAPES)[number];
const ZIPF_S = 1.1;
/** Timed records per size: at least two passes over the key space, and at least this many. */
const MIN_RECORDS = Number(process.env.BENCH_RECORDS ?? 2_000_000);
const DEVICES = 100;
/** Datagrams prepared ahead of timing, then rebuilt in place (outside the timed part). */
const CHUNK = 512;

interface Result {
  shape: Shape;
  keys: number;
  records: number;
  nsPerRecord: number;
  rssMB: number;
  /** RSS of the child before the pipeline exists (Node.js, the TypeScript loader, the modules). */
  startRssMB: number;
  heapMB: number;
  externalMB: number;
  series: number;
  folded: number;
}

/**
 * Key of record n under Zipf(ZIPF_S) over `keys` keys: the continuous inverse CDF of a bounded
 * power law, fed by a seeded generator (same draws in every run, no table to hold in memory).
 */
function zipfKeys(keys: number): (n: number) => number {
  let state = 0x9e3779b9;
  const a = 1 - ZIPF_S;
  const top = Math.pow(keys + 1, a) - 1;
  return () => {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const u = (state >>> 0) / 4294967296;
    const x = Math.pow(top * u + 1, 1 / a);
    return Math.min(keys - 1, Math.floor(x) - 1);
  };
}

function child(shape: Shape, keys: number): Result {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  const startRss = process.memoryUsage().rss;
  const pipeline = new FlowPipeline(defaultConfig());
  const space = { devices: DEVICES, peers: Math.max(1, Math.ceil(keys / DEVICES)) };
  // A Zipf rank becomes a key scattered over the space (rank 0 is not always device 0's peer 0).
  const zipf = shape === 'zipf' ? zipfKeys(keys) : undefined;
  const keyAt = zipf === undefined ? undefined : (n: number): number => (zipf(n) * 2654435761) % keys;
  const exporter = '192.0.2.1';
  pipeline.handleDatagram(helloDatagram(), exporter, Date.now());
  const datagramsPerPass = Math.ceil(keys / RECORDS_PER_DATAGRAM);
  const total = Math.max(MIN_RECORDS, 3 * keys);
  // One untimed pass over every key first (rows created, caches warm), then the timed passes.
  let next = 0;
  const run = (records: number, timed: boolean): number => {
    let elapsed = 0;
    let done = 0;
    while (done < records) {
      const chunk = dataDatagrams(Math.min(CHUNK, Math.ceil((records - done) / RECORDS_PER_DATAGRAM)), space, next, keyAt);
      next += chunk.length * RECORDS_PER_DATAGRAM;
      const now = Date.now();
      const t0 = timed ? performance.now() : 0;
      for (const d of chunk) pipeline.handleDatagram(d, exporter, now);
      if (timed) elapsed += performance.now() - t0;
      done += chunk.length * RECORDS_PER_DATAGRAM;
    }
    return elapsed;
  };
  run(datagramsPerPass * RECORDS_PER_DATAGRAM, false);
  const ms = run(total, true);
  gc();
  const mem = process.memoryUsage();
  const stats = pipeline.rollups.stats();
  return {
    shape,
    keys,
    records: total,
    nsPerRecord: (ms * 1e6) / total,
    rssMB: mem.rss / 2 ** 20,
    startRssMB: startRss / 2 ** 20,
    heapMB: mem.heapUsed / 2 ** 20,
    externalMB: (mem.external + mem.arrayBuffers) / 2 ** 20,
    series: stats.reduce((n, s) => n + s.seriesInUse, 0),
    folded: stats.reduce((n, s) => n + s.foldedRecords, 0),
  };
}

function runChild(shape: Shape, keys: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', shape, String(keys)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Result) : reject(new Error(`child for ${keys} keys exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  printMachine('Scale of keys: per-record cost and RSS, decode + enrich + rollups, default budgets', 'npm run bench:keys');
  console.log(`${DEVICES} devices; timed records per size: max(${si(MIN_RECORDS)}, 3 x keys), after one untimed pass\n`);
  const results: Result[] = [];
  for (const shape of SHAPES) for (const keys of SIZES) results.push(await runChild(shape, keys));
  const base = (shape: Shape): number => results.find((r) => r.shape === shape)!.nsPerRecord;
  printTable(
    ['traffic', 'distinct keys', 'records timed', 'ns/record', 'cost vs first', 'RSS MB (at start)', 'heap MB', 'external MB', 'rollup label sets', 'folded records'],
    results.map((r) => [
      r.shape,
      si(r.keys),
      si(r.records),
      r.nsPerRecord.toFixed(0),
      `${(r.nsPerRecord / base(r.shape)).toFixed(2)}x`,
      `${r.rssMB.toFixed(0)} (${r.startRssMB.toFixed(0)})`,
      r.heapMB.toFixed(0),
      r.externalMB.toFixed(0),
      r.series,
      si(r.folded),
    ]),
  );
  console.log('');
  for (const shape of SHAPES) {
    const rows = results.filter((r) => r.shape === shape);
    const last = rows[rows.length - 1];
    const growth = last.nsPerRecord / base(shape);
    console.log(`goal (${shape}): flat cost (<= 1.5x from ${si(rows[0].keys)} to ${si(last.keys)} keys): ${growth.toFixed(2)}x, ${growth <= 1.5 ? 'met' : 'NOT met'}`);
    console.log(`goal (${shape}): RSS <= 200 MB at ${si(last.keys)} keys: ${last.rssMB.toFixed(0)} MB, ${last.rssMB <= 200 ? 'met' : 'NOT met'}`);
  }
}

if (process.argv[2] === '--child') {
  process.stdout.write(JSON.stringify(child(process.argv[3] as Shape, Number(process.argv[4]))));
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
