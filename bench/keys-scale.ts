/**
 * Scale of keys: per-record cost and memory of the whole pipeline (decode, enrich, every rollup and
 * bounded family, with the default budgets) as the number of distinct keys grows from 1k to 1M.
 * A key is a (local device, remote peer) pair: 100 devices, keys / 100 peers each, every record a
 * different pair until the key space wraps. Each size runs in a fresh child process, so RSS is
 * that of one pipeline that has seen that many keys.
 *
 *   npm run bench:keys            (= npx tsx bench/keys-scale.ts)
 *
 * Goals: cost at 1M keys <= 1.5x the cost at 1k keys; RSS <= 200 MB at 1M keys.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { defaultConfig } from '../src/config/defaults.js';
import { FlowPipeline } from '../src/pipeline.js';
import { dataDatagrams, helloDatagram, RECORDS_PER_DATAGRAM } from './e2e-udp-datagrams.js';
import { printMachine, printTable, si } from './machine.js';

const SIZES = (process.env.BENCH_KEYS ?? '1000,10000,100000,1000000').split(',').map(Number);
/** Timed records per size: at least two passes over the key space, and at least this many. */
const MIN_RECORDS = Number(process.env.BENCH_RECORDS ?? 2_000_000);
const DEVICES = 100;
/** Datagrams prepared ahead of timing, then rebuilt in place (outside the timed part). */
const CHUNK = 512;

interface Result {
  keys: number;
  records: number;
  nsPerRecord: number;
  rssMB: number;
  heapMB: number;
  externalMB: number;
  series: number;
  folded: number;
}

function child(keys: number): Result {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const pipeline = new FlowPipeline(defaultConfig());
  const space = { devices: DEVICES, peers: Math.max(1, Math.ceil(keys / DEVICES)) };
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
      const chunk = dataDatagrams(Math.min(CHUNK, Math.ceil((records - done) / RECORDS_PER_DATAGRAM)), space, next);
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
    keys,
    records: total,
    nsPerRecord: (ms * 1e6) / total,
    rssMB: mem.rss / 2 ** 20,
    heapMB: mem.heapUsed / 2 ** 20,
    externalMB: (mem.external + mem.arrayBuffers) / 2 ** 20,
    series: stats.reduce((n, s) => n + s.seriesInUse, 0),
    folded: stats.reduce((n, s) => n + s.foldedRecords, 0),
  };
}

function runChild(keys: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', String(keys)], {
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
  for (const keys of SIZES) results.push(await runChild(keys));
  const base = results[0].nsPerRecord;
  printTable(
    ['distinct keys', 'records timed', 'ns/record', 'cost vs first', 'RSS MB', 'heap MB', 'external MB', 'rollup label sets', 'folded records'],
    results.map((r) => [
      si(r.keys),
      si(r.records),
      r.nsPerRecord.toFixed(0),
      `${(r.nsPerRecord / base).toFixed(2)}x`,
      r.rssMB.toFixed(0),
      r.heapMB.toFixed(0),
      r.externalMB.toFixed(0),
      r.series,
      si(r.folded),
    ]),
  );
  const last = results[results.length - 1];
  const growth = last.nsPerRecord / base;
  console.log(`\ngoal: flat cost (<= 1.5x from ${si(results[0].keys)} to ${si(last.keys)} keys): ${growth.toFixed(2)}x, ${growth <= 1.5 ? 'met' : 'NOT met'}`);
  console.log(`goal: RSS <= 200 MB at ${si(last.keys)} keys: ${last.rssMB.toFixed(0)} MB, ${last.rssMB <= 200 ? 'met' : 'NOT met'}`);
}

if (process.argv[2] === '--child') {
  process.stdout.write(JSON.stringify(child(Number(process.argv[3]))));
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
