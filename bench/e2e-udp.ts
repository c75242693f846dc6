/**
 * End to end over loopback UDP: the highest rate of NetFlow v9 datagrams (29 records, 1474 bytes
 * each) that flowgauge takes with < 0.1% loss, against a minimal C recvmmsg receiver measured in
 * the same run, both fed by a rate-paced C sendmmsg sender.
 *
 *   npm run bench:e2e             (= npm run build && npx tsx bench/e2e-udp.ts)
 *
 * Configurations: the C receiver (one socket, one thread); a Node.js dgram socket that only counts
 * (the floor of any Node collector); the daemon with ingest.workers 1 (the default single-thread
 * path) and with one worker per CPU. Every rate step runs each configuration
 * back to back, so all see the same machine noise; each configuration then bisects between its last
 * lossless and first lossy step. Loss = datagrams sent - datagrams the receiver took; the kernel's
 * drop counter for the port (/proc/net/udp) and the daemon's flowgauge_udp_kernel_drops_total are
 * printed beside it. The sender spreads datagrams over SOURCES exporters (127.0.0.1, .2, ...) so
 * SO_REUSEPORT can spread them over the workers' sockets.
 *
 * Environment: BENCH_SECONDS (per trial, default 3), BENCH_WORKERS (default: CPU count),
 * BENCH_SOURCES (default 8), BENCH_START_RATE (default 10000).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dataDatagrams, helloDatagram, RECORDS_PER_DATAGRAM, writeSenderFile } from './e2e-udp-datagrams.js';
import {
  buildCTools,
  freeUdpPort,
  kernelDrops,
  metricSum,
  nodeReceiverCommand,
  runSender,
  settle,
  startBenchDaemon,
  startReceiver,
  type BenchDaemon,
} from './e2e-udp-harness.js';
import { measureWorkSplit } from './e2e-udp-split.js';
import { printMachine, printTable, si } from './machine.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WORKERS = Number(process.env.BENCH_WORKERS ?? os.availableParallelism());
const SOURCES = Number(process.env.BENCH_SOURCES ?? 8);
const START_RATE = Number(process.env.BENCH_START_RATE ?? 10_000);
const STEP = 1.4;
const BISECTIONS = 3;
const MAX_LOSS = 0.001;

interface Trial {
  rate: number;
  sentRate: number;
  sent: number;
  received: number;
  loss: number;
  kernelDrops: number;
  selfMetricDrops?: number;
  /** CPU seconds (user + system, all threads) the receiver process used during the trial. */
  cpuSeconds: number;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU seconds of a process so far, all its threads (/proc/PID/stat). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

interface Target {
  name: string;
  run(rate: number): Promise<Trial>;
  stop(): Promise<void>;
  trials: Trial[];
  good: number;
  bad: number;
  done: boolean;
}

function lossOf(sent: number, received: number): number {
  return sent > 0 ? Math.max(0, sent - received) / sent : 0;
}

async function receiverTarget(name: string, bins: { sender: string }, receiver: string | string[], file: string): Promise<Target> {
  return {
    name,
    trials: [],
    good: 0,
    bad: Infinity,
    done: false,
    async run(rate) {
      const port = await freeUdpPort();
      const rx = await startReceiver(receiver, port);
      const cpuBefore = cpuSecondsOf(rx.pid);
      const sent = await runSender(bins.sender, port, file, rate, SECONDS, SOURCES);
      await new Promise((r) => setTimeout(r, 300));
      const drops = kernelDrops(rx.pid, port);
      const cpuSeconds = cpuSecondsOf(rx.pid) - cpuBefore;
      const received = (await rx.stop()) - SOURCES; // minus the hello datagrams
      return { rate, sentRate: sent.rate, sent: sent.sent, received, loss: lossOf(sent.sent, received), kernelDrops: drops, cpuSeconds };
    },
    async stop() {},
  };
}

async function daemonTarget(bins: { sender: string }, file: string, workers: number): Promise<Target> {
  const port = await freeUdpPort();
  const daemon: BenchDaemon = await startBenchDaemon({ port, workers });
  const dropsMetric = async (): Promise<number> => metricSum((await daemon.scrape()).text, 'flowgauge_udp_kernel_drops_total');
  return {
    name: `flowgauge, ingest.workers ${workers}`,
    trials: [],
    good: 0,
    bad: Infinity,
    done: false,
    async run(rate) {
      const before = await settle(() => daemon.datagrams());
      const dropsBefore = kernelDrops(daemon.pid, daemon.udp);
      const metricBefore = await dropsMetric();
      const cpuBefore = cpuSecondsOf(daemon.pid);
      const sent = await runSender(bins.sender, daemon.udp, file, rate, SECONDS, SOURCES);
      const after = await settle(() => daemon.datagrams());
      const cpuSeconds = cpuSecondsOf(daemon.pid) - cpuBefore;
      const received = after - before - SOURCES;
      return {
        rate,
        sentRate: sent.rate,
        sent: sent.sent,
        received,
        loss: lossOf(sent.sent, received),
        kernelDrops: kernelDrops(daemon.pid, daemon.udp) - dropsBefore,
        selfMetricDrops: (await dropsMetric()) - metricBefore,
        cpuSeconds,
      };
    },
    stop: () => daemon.stop(),
  };
}

/** Receiver CPU per datagram taken, in microseconds. */
function usPerDatagram(trial: Trial): number {
  return trial.received > 0 ? (trial.cpuSeconds * 1e6) / trial.received : Number.NaN;
}

/** The receiver's trial at its highest lossless rate. */
function bestTrial(t: Target): Trial | undefined {
  return t.trials.find((x) => x.rate === t.good && x.loss < MAX_LOSS);
}

function record(t: Target, trial: Trial): void {
  t.trials.push(trial);
  const senderLimited = trial.sentRate < trial.rate * 0.97;
  if (trial.loss < MAX_LOSS && !senderLimited) t.good = Math.max(t.good, trial.rate);
  else t.bad = Math.min(t.bad, trial.rate);
  const drops = trial.selfMetricDrops !== undefined ? `, self-metric ${trial.selfMetricDrops}` : '';
  console.log(
    `  ${t.name.padEnd(30)} target ${si(trial.rate).padStart(7)}/s sent ${si(trial.sentRate).padStart(7)}/s ` +
      `loss ${(trial.loss * 100).toFixed(3).padStart(7)}% (kernel drops ${trial.kernelDrops}${drops}) ` +
      `CPU ${usPerDatagram(trial).toFixed(2)} us/datagram` +
      (senderLimited ? '  [sender could not keep up]' : ''),
  );
}

async function main(): Promise<void> {
  printMachine('End to end over loopback UDP: highest NetFlow v9 rate with < 0.1% loss', 'npm run bench:e2e');
  console.log(
    `datagrams: ${RECORDS_PER_DATAGRAM} records, 1474 bytes; ${SOURCES} exporters; ${SECONDS} s per trial; ` +
      `rates x${STEP} from ${si(START_RATE)}/s, then ${BISECTIONS} bisections`,
  );
  const split = measureWorkSplit({ devices: 8, peers: 25 });
  const perDatagram = (ns: number): string => `${si(1e9 / ns / RECORDS_PER_DATAGRAM)} datagrams/s`;
  console.log(
    `CPU per record, in-process on these datagrams: single thread ${split.singleThread.toFixed(0)} ns ` +
      `(at most ${perDatagram(split.singleThread)} on one core); ingest worker ${split.worker.toFixed(0)} ns ` +
      `(${perDatagram(split.worker)} per worker core); main-thread counting ${split.main.toFixed(0)} ns ` +
      `(ceiling of ingest.workers N: ${perDatagram(split.main)})`,
  );
  const bins = buildCTools();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-e2e-'));
  const file = path.join(dir, 'v9.bin');
  writeSenderFile(file, helloDatagram(), dataDatagrams(64, { devices: 8, peers: 25 }));
  const targets = [
    await receiverTarget('C recvmmsg receiver', bins, bins.receiver, file),
    await receiverTarget('Node dgram, count only', bins, nodeReceiverCommand(), file),
    await daemonTarget(bins, file, 1),
  ];
  if (WORKERS > 1) targets.push(await daemonTarget(bins, file, WORKERS));
  try {
    for (let rate = START_RATE; targets.some((t) => !t.done); rate *= STEP) {
      console.log(`rate ${si(rate)}/s`);
      for (const t of targets) {
        if (t.done) continue;
        record(t, await t.run(rate));
        if (t.bad <= rate) t.done = true;
      }
    }
    for (let i = 0; i < BISECTIONS; i++) {
      console.log(`bisection ${i + 1}`);
      for (const t of targets) {
        if (!Number.isFinite(t.bad)) continue;
        record(t, await t.run((t.good + t.bad) / 2));
      }
    }
  } finally {
    for (const t of targets) await t.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  console.log('');
  const base = targets[0].good;
  printTable(
    ['receiver', 'max lossless datagrams/s', 'records/s', 'ratio to C receiver', 'receiver CPU per datagram there'],
    targets.map((t) => {
      const best = bestTrial(t);
      return [
        t.name,
        si(t.good),
        si(t.good * RECORDS_PER_DATAGRAM),
        base > 0 ? `${(t.good / base).toFixed(2)}x` : 'n/a',
        best !== undefined ? `${usPerDatagram(best).toFixed(2)} us` : 'n/a',
      ];
    }),
  );
  const one = targets[2].good / base;
  console.log(`\ngoal: >= 0.5x the C receiver on one core: ${one.toFixed(2)}x, ${one >= 0.5 ? 'met' : 'NOT met'}`);
  if (targets[3]) {
    const all = targets[3].good / base;
    console.log(`goal: >= 0.9x the C receiver using every core (${WORKERS} workers): ${all.toFixed(2)}x, ${all >= 0.9 ? 'met' : 'NOT met'}`);
  }
  const lossy = targets.slice(2).flatMap((t) => t.trials.filter((x) => x.kernelDrops > 0));
  const agree = lossy.filter((x) => x.selfMetricDrops === x.kernelDrops).length;
  console.log(
    `kernel drop accounting: ${lossy.length} daemon trials with kernel drops; flowgauge_udp_kernel_drops_total matched /proc/net/udp in ${agree}`,
  );
  const sentLimited = targets[0].trials.some((x) => x.sentRate < x.rate * 0.97);
  if (sentLimited) console.log('note: the C sender could not reach some target rates: the C receiver figure is bounded by the sender');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
