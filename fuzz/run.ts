/**
 * `npm run fuzz`: fuzzes every decoder (NetFlow v5, NetFlow v9, IPFIX, sFlow) with at least a
 * million datagrams each, one worker thread per decoder (as many at once as there are CPUs), and prints inputs/s, totals, the slowest
 * datagram, and the largest exporter state seen. A worker that stops making progress is taken for a
 * hang: the input it was decoding is saved and the run fails. Every failing input is written to
 * fuzz/findings/ as JSON (hex datagrams), ready to become a regression test in test/fuzz/regressions/.
 *
 *   npm run fuzz -- [--inputs N] [--protocols netflow5,ipfix] [--seed S] [--jobs N] [--hang-seconds S] [--json]
 *
 * Exit status: 0 when nothing failed, 1 otherwise.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { runFuzz, type FuzzReport } from '../test/fuzz/engine.js';
import type { FuzzProtocol, Seed } from '../test/fuzz/seeds.js';

const PROTOCOLS: FuzzProtocol[] = ['netflow5', 'netflow9', 'ipfix', 'sflow'];
/** Room for the input being decoded: up to 4 datagrams of a UDP payload's maximum size. */
const SLOT_BYTES = 4 * (4 + 65536);

interface WorkerInput {
  protocol: FuzzProtocol;
  inputs: number;
  seed: number;
  shared: SharedArrayBuffer;
}

interface WorkerMessage {
  type: 'progress' | 'done';
  done?: number;
  report?: FuzzReport;
  heapUsedBytes?: number;
}

if (!isMainThread) {
  const { protocol, inputs, seed, shared } = workerData as WorkerInput;
  // [0] heartbeat, [1] datagrams in the slot; then per datagram a length word and its bytes.
  const words = new Int32Array(shared, 0, 2);
  const bytes = new Uint8Array(shared, 8);
  const record = (input: Seed): void => {
    let o = 0;
    for (const d of input) {
      bytes[o] = d.length >>> 24;
      bytes[o + 1] = d.length >>> 16;
      bytes[o + 2] = d.length >>> 8;
      bytes[o + 3] = d.length;
      bytes.set(d, o + 4);
      o += 4 + d.length;
    }
    words[1] = input.length;
    Atomics.add(words, 0, 1);
  };
  const report = runFuzz({
    protocol,
    inputs,
    seed,
    checkEvery: 50_000,
    onInput: record,
    onProgress: (done) => parentPort?.postMessage({ type: 'progress', done } satisfies WorkerMessage),
  });
  (globalThis as { gc?: () => void }).gc?.();
  parentPort?.postMessage({ type: 'done', report, heapUsedBytes: v8.getHeapStatistics().used_heap_size } satisfies WorkerMessage);
} else {
  await main();
}

function parseArgs(argv: string[]): { inputs: number; protocols: FuzzProtocol[]; seed: number; hangSeconds: number; jobs: number; json: boolean } {
  const out = {
    inputs: 1_000_000,
    protocols: PROTOCOLS,
    seed: Date.now() % 1_000_000,
    hangSeconds: 20,
    jobs: Math.max(1, os.availableParallelism()),
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--inputs') out.inputs = Number(next());
    else if (a === '--seed') out.seed = Number(next());
    else if (a === '--hang-seconds') out.hangSeconds = Number(next());
    else if (a === '--jobs') out.jobs = Math.max(1, Number(next()));
    else if (a === '--json') out.json = true;
    else if (a === '--protocols') {
      const list = next().split(',') as FuzzProtocol[];
      for (const p of list) if (!PROTOCOLS.includes(p)) throw new Error(`unknown protocol ${p} (known: ${PROTOCOLS.join(', ')})`);
      out.protocols = list;
    } else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isSafeInteger(out.inputs) || out.inputs < 1) throw new Error('--inputs must be a positive integer');
  return out;
}

function readSlot(shared: SharedArrayBuffer): string[] {
  const n = new Int32Array(shared, 0, 2)[1];
  const bytes = new Uint8Array(shared, 8);
  const out: string[] = [];
  let o = 0;
  for (let i = 0; i < n; i++) {
    const len = ((bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3]) >>> 0;
    out.push(Buffer.from(bytes.subarray(o + 4, o + 4 + len)).toString('hex'));
    o += 4 + len;
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const here = path.dirname(fileURLToPath(import.meta.url));
  const findings = path.join(here, 'findings');
  const log = (s: string): void => {
    if (!args.json) process.stdout.write(`${s}\n`);
  };
  log(`fuzzing ${args.protocols.join(', ')}: ${args.inputs.toLocaleString('en-US')} datagrams each, seed ${args.seed}, ${os.cpus().length} CPUs`);

  const started = Date.now();
  type Result = { protocol: FuzzProtocol; report?: FuzzReport; heapUsedBytes?: number; hang?: string[] };
  const runOne = (protocol: FuzzProtocol, i: number): Promise<Result> =>
        new Promise<Result>((resolve, reject) => {
          const shared = new SharedArrayBuffer(8 + SLOT_BYTES);
          const beat = new Int32Array(shared, 0, 1);
          const worker = new Worker(fileURLToPath(import.meta.url), {
            workerData: { protocol, inputs: args.inputs, seed: args.seed + i, shared } satisfies WorkerInput,
          });
          let last = -1;
          let still = 0;
          const watchdog = setInterval(() => {
            const now = Atomics.load(beat, 0);
            if (now !== last) {
              last = now;
              still = 0;
              return;
            }
            if (++still >= args.hangSeconds) {
              clearInterval(watchdog);
              const input = readSlot(shared);
              void worker.terminate();
              resolve({ protocol, hang: input });
            }
          }, 1000);
          worker.on('message', (m: WorkerMessage) => {
            if (m.type === 'progress') {
              const s = (Date.now() - started) / 1000;
              log(`  ${protocol.padEnd(8)} ${String(m.done).padStart(9)} datagrams  ${(m.done! / s).toFixed(0).padStart(7)}/s`);
            } else {
              clearInterval(watchdog);
              resolve({ protocol, report: m.report, heapUsedBytes: m.heapUsedBytes });
            }
          });
          worker.on('error', (err) => {
            clearInterval(watchdog);
            reject(err);
          });
        });
  // One worker per CPU at most: more would only time-slice them and blur the per-datagram timings.
  const results: Result[] = new Array(args.protocols.length);
  let nextIndex = 0;
  await Promise.all(
    Array.from({ length: Math.min(args.jobs, args.protocols.length) }, async () => {
      while (nextIndex < args.protocols.length) {
        const i = nextIndex++;
        results[i] = await runOne(args.protocols[i], i);
      }
    }),
  );

  let failed = 0;
  const summary = [];
  for (const r of results) {
    if (r.hang) {
      failed++;
      const file = path.join(findings, `${r.protocol}-hang-${Date.now()}.json`);
      mkdirSync(findings, { recursive: true });
      writeFileSync(file, JSON.stringify({ protocol: r.protocol, kind: 'hang', input: r.hang }, null, 2));
      log(`\n${r.protocol}: HANG (no progress for ${args.hangSeconds} s); input saved to ${path.relative(process.cwd(), file)}`);
      summary.push({ protocol: r.protocol, hang: true });
      continue;
    }
    const rep = r.report!;
    summary.push({ ...rep, heapUsedBytes: r.heapUsedBytes });
    rep.failures.forEach((f, k) => {
      failed++;
      const file = path.join(findings, `${rep.protocol}-${f.kind}-${rep.seed}-${k}.json`);
      mkdirSync(findings, { recursive: true });
      writeFileSync(file, JSON.stringify({ protocol: rep.protocol, ...f }, null, 2));
      log(`\n${rep.protocol}: ${f.message.split('\n')[0]}\n  input saved to ${path.relative(process.cwd(), file)}`);
    });
  }

  if (args.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    log('\ndecoder   datagrams   seconds  datagrams/s  rejected  records    outcomes  slowest  pauses  peak state                       heap');
    let total = 0;
    for (const r of results) {
      const rep = r.report;
      if (!rep) continue;
      total += rep.inputs;
      const rejected = Object.values(rep.rejected).reduce((a, b) => a + b, 0);
      const p = rep.peakState;
      const state =
        rep.protocol === 'sflow'
          ? `${p.agents} agents, ${p.sources} sources`
          : `${p.domains} domains, ${p.templates} tpl, ${p.pendingSets} held`;
      log(
        `${rep.protocol.padEnd(9)} ${String(rep.inputs).padStart(9)} ${rep.seconds.toFixed(1).padStart(9)} ${rep.inputsPerSecond.toFixed(0).padStart(12)} ` +
          `${String(rejected).padStart(9)} ${String(rep.records).padStart(8)} ${String(rep.distinctOutcomes).padStart(11)} ` +
          `${rep.slowestMs.toFixed(1).padStart(6)} ms ${String(rep.pauses).padStart(6)}  ${state.padEnd(32)} ${((r.heapUsedBytes ?? 0) / 1048576).toFixed(0)} MiB`,
      );
    }
    log(`\n${total.toLocaleString('en-US')} datagrams in ${((Date.now() - started) / 1000).toFixed(1)} s; ${failed === 0 ? 'no failures' : `${failed} FAILURE(S)`}`);
  }
  process.exitCode = failed === 0 ? 0 : 1;
}
