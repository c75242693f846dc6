/**
 * Shared by the UDP benchmarks: builds the C sender and receiver with the machine's gcc, runs
 * them, and runs the daemon as users do (`node bin/flowgauge.js --config FILE`, the compiled code
 * in dist/) in a child process, with helpers to read its counters. Everything binds 127.0.0.1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { assertDistBuilt, fromDist } from './dist.js';

const { readUdpDrops } = await fromDist<typeof import('../src/sources/kernel-udp-stats.js')>('sources/kernel-udp-stats.js');

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = path.join(BENCH_DIR, '.build');
export const REPO_DIR = path.resolve(BENCH_DIR, '..');

/** Compiles bench/c/*.c into bench/.build (ignored by git); returns the binaries. */
export function buildCTools(): { sender: string; receiver: string } {
  mkdirSync(BUILD_DIR, { recursive: true });
  const out: Record<string, string> = {};
  for (const name of ['udp-sender', 'udp-receiver']) {
    const bin = path.join(BUILD_DIR, name);
    const r = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', bin, path.join(BENCH_DIR, 'c', `${name}.c`)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gcc ${name}.c failed (is gcc installed?):\n${r.stderr || r.error?.message}`);
    out[name] = bin;
  }
  return { sender: out['udp-sender'], receiver: out['udp-receiver'] };
}

/** A UDP port that was free a moment ago. */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Kernel receive-buffer drops of process `pid` on `port` (a reuseport group is summed whole). */
export function kernelDrops(pid: number, port: number): number {
  return readUdpDrops({ pid }).get(port) ?? 0;
}

export interface SendResult {
  sent: number;
  seconds: number;
  rate: number;
}

/** Runs the C sender to completion. */
export function runSender(bin: string, port: number, file: string, rate: number, seconds: number, sources: number): Promise<SendResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['127.0.0.1', String(port), file, String(Math.round(rate)), String(seconds), String(sources)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`sender exited with ${code}: ${err}`));
      else resolve(JSON.parse(out) as SendResult);
    });
  });
}

/** The Node.js counting receiver (bench/e2e-udp-node-receiver.mjs, plain JavaScript) as a command line. */
export function nodeReceiverCommand(): string[] {
  return [process.execPath, path.join(BENCH_DIR, 'e2e-udp-node-receiver.mjs')];
}

/** A receiver (the C one, or `command` + port) on `port`; stop() returns what it counted. */
export async function startReceiver(bin: string | string[], port: number): Promise<{ stop(): Promise<number>; pid: number }> {
  const [file, ...args] = typeof bin === 'string' ? [bin] : bin;
  const child = spawn(file, [...args, String(port)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_DIR });
  const rl = createInterface({ input: child.stdout });
  const lines: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    rl.on('line', (l) => {
      lines.push(l);
      if (l.startsWith('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  await ready;
  return {
    pid: child.pid ?? 0,
    stop: () =>
      new Promise<number>((resolve) => {
        child.once('exit', () => {
          const json = lines.find((l) => l.startsWith('{'));
          resolve(json ? (JSON.parse(json) as { datagrams: number }).datagrams : 0);
        });
        child.kill('SIGTERM');
      }),
  };
}

export interface BenchDaemon {
  http: number;
  udp: number;
  pid: number;
  /** Datagrams the daemon's listeners have taken (from /status). */
  datagrams(): Promise<number>;
  /** GET /metrics: body, time to first byte and to the end, in ms. */
  scrape(): Promise<{ text: string; ms: number }>;
  stop(): Promise<void>;
}

/**
 * The YAML the benchmark daemon runs with: the defaults except loopback listeners (HTTP on any free
 * port, NetFlow on `udpPort`, no sFlow), a temporary state_dir and, if given, ingest.workers.
 */
export function benchDaemonConfig(udpPort: number, stateDir: string, workers?: number): string {
  const lines = [
    'listen:',
    '  http: "127.0.0.1:0"',
    `  netflow: ["127.0.0.1:${udpPort}"]`,
    '  sflow: []',
    `state_dir: ${JSON.stringify(stateDir)}`,
  ];
  if (workers !== undefined) lines.push(`ingest: { workers: ${workers} }`);
  return lines.join('\n') + '\n';
}

/**
 * Reads the daemon's JSON log lines (stderr) until it is started; returns its HTTP port. The
 * lines keep being read afterwards, so the pipe never fills and blocks the daemon.
 */
function daemonStarted(child: ChildProcess, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stderr! });
    const recent: string[] = [];
    let http = 0;
    const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${recent.join('\n')}`)), timeoutMs);
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}:\n${recent.join('\n')}`));
    };
    rl.on('line', (line) => {
      recent.push(line);
      if (recent.length > 50) recent.shift();
      let entry: { msg?: string; address?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg?.startsWith('serving /metrics') && entry.address) http = Number(entry.address.slice(entry.address.lastIndexOf(':') + 1));
      if (entry.msg === 'flowgauge started') {
        clearTimeout(timer);
        child.off('exit', onExit);
        if (http > 0) resolve(http);
        else reject(new Error(`daemon started without logging its HTTP address:\n${recent.join('\n')}`));
      }
    });
    child.once('exit', onExit);
  });
}

/**
 * Starts the daemon in a child process as users run it: `node bin/flowgauge.js --config FILE`, so
 * the compiled code in dist/ (ingest workers included) and a config file through the real loader.
 */
export async function startBenchDaemon(options: { port?: number; workers?: number }): Promise<BenchDaemon> {
  assertDistBuilt();
  const udp = options.port ?? (await freeUdpPort());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-bench-'));
  const configFile = path.join(dir, 'flowgauge.yaml');
  writeFileSync(configFile, benchDaemonConfig(udp, dir, options.workers));
  const child = spawn(process.execPath, [path.join(REPO_DIR, 'bin', 'flowgauge.js'), '--config', configFile], {
    cwd: REPO_DIR,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let http: number;
  try {
    http = await daemonStarted(child);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const base = `http://127.0.0.1:${http}`;
  return {
    http,
    udp,
    pid: child.pid ?? 0,
    async datagrams() {
      const status = (await (await fetch(`${base}/status`)).json()) as { listeners: Array<{ datagrams: number }> };
      return status.listeners.reduce((n, l) => n + l.datagrams, 0);
    },
    async scrape() {
      const t0 = performance.now();
      const res = await fetch(`${base}/metrics`);
      const text = await res.text();
      return { text, ms: performance.now() - t0 };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // A graceful stop (state file written), as a supervisor would ask for; killed if it hangs.
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `read` returns the same value twice in a row `intervalMs` apart (or the timeout). */
export async function settle(read: () => Promise<number>, intervalMs = 150, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  for (;;) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const now = await read();
    if (now === last || Date.now() > deadline) return now;
    last = now;
  }
}

/** Sum of a metric's samples in Prometheus text (optionally only lines containing `filter`). */
export function metricSum(text: string, name: string, filter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (filter && !line.includes(filter)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
