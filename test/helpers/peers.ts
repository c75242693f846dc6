/**
 * Running real third-party flow tools (softflowd, pmacctd, nfcapd/sfcapd + nfdump, promtool) next to
 * the daemon in a test: locating them, starting and stopping them by process id, a loopback UDP relay
 * that hands every export datagram to the daemon and to a reference collector at once, and reading
 * what nfdump decoded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net, { BlockList, isIPv4, isIPv6 } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './daemon.js';
import type { Sample } from './exposition.js';

// Debian puts the daemons (softflowd, pmacctd, sfacctd) in sbin, which a non-root PATH may lack.
const EXTRA_TOOL_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable on PATH (or in the sbin folders), or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_TOOL_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * True when a peer test must be skipped: a tool is missing and we are not in CI. In CI the test runs
 * anyway and fails with a clear "not found" error, so a broken CI image cannot pass silently.
 */
export function skipWithoutTools(...names: string[]): boolean {
  return names.some((n) => findTool(n) === undefined) && !process.env.CI;
}

function requireTool(name: string): string {
  const p = findTool(name);
  if (p === undefined) throw new Error(`${name} is not installed (Debian: see .ci/run for the packages)`);
  return p;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One started tool: its pid, its merged stdout+stderr so far, and how it ended. */
export class PeerProcess {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  private readonly child: ChildProcess;
  private out = '';
  private status: ExitStatus | undefined;

  constructor(name: string, child: ChildProcess) {
    if (child.pid === undefined) throw new Error(`${name} did not start`);
    this.name = name;
    this.pid = child.pid;
    this.child = child;
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.out += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.out += s));
    child.on('error', (err) => (this.out += `\n[${name}: ${err.message}]\n`));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.status = { code, signal };
        resolve(this.status);
      });
    });
  }

  get output(): string {
    return this.out;
  }

  get running(): boolean {
    return this.status === undefined;
  }

  /** Waits for the process to exit by itself; kills it (by pid) and throws if it takes too long. */
  async waitExit(timeoutMs: number): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    const result = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (result === 'late') {
      await this.stop('SIGKILL');
      throw new Error(`${this.name} (pid ${this.pid}) did not exit within ${timeoutMs} ms; output:\n${this.out}`);
    }
    return result;
  }

  /** Sends `signal` to this pid and waits; escalates to SIGKILL after graceMs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<ExitStatus> {
    if (this.status) return this.status;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    const result = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (result !== 'late') return result;
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

/**
 * Everything a test started (processes, sockets, temp folders), released in reverse order by
 * cleanup(), which the test calls from afterEach so that a failing assertion leaks nothing.
 */
export class PeerSet {
  private readonly processes: PeerProcess[] = [];
  private readonly closers: (() => Promise<void> | void)[] = [];

  spawn(tool: string, args: string[], options: { cwd?: string } = {}): PeerProcess {
    const child = spawn(requireTool(tool), args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new PeerProcess(tool, child);
    this.processes.push(p);
    return p;
  }

  /** A fresh temp folder, removed by cleanup(). */
  tempDir(prefix: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), `flowgauge-${prefix}-`));
    this.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  onCleanup(fn: () => Promise<void> | void): void {
    this.closers.push(fn);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop('SIGTERM', 3_000)));
    this.processes.length = 0;
    // Every closer runs even if one fails; the first failure is reported afterwards.
    let firstError: unknown;
    for (const fn of this.closers.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        firstError ??= err;
      }
    }
    if (firstError !== undefined) throw firstError;
  }
}

/** Runs a tool to completion and returns its exit code and output. */
export async function runTool(
  tool: string,
  args: string[],
  options: { input?: string | Uint8Array; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(requireTool(tool), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.on('error', () => undefined); // the tool may exit before reading all of its input
  child.stdin.end(options.input ?? '');
  const timeoutMs = options.timeoutMs ?? 20_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', (err) => (stderr += `\n[${tool}: ${err.message}]\n`));
    child.on('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A UDP port that was free on 127.0.0.1 a moment ago (callers retry if another process takes it). */
export async function freeUdpPort(): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Receives export datagrams on an ephemeral loopback port and forwards each one, as it arrives, to
 * every target port, so the daemon and a reference collector see the same bytes in the same order.
 */
export class UdpRelay {
  received = 0;
  /** Completed forward sends (received × targets once the relay has caught up). */
  forwarded = 0;
  sendErrors = 0;
  private lastReceiveMs = 0;

  private constructor(
    private readonly sock: dgram.Socket,
    readonly port: number,
    private readonly targets: number[],
  ) {
    sock.on('error', () => this.sendErrors++); // counted and asserted on, never thrown
    sock.on('message', (msg) => {
      this.received++;
      this.lastReceiveMs = Date.now();
      for (const target of this.targets) {
        sock.send(msg, target, '127.0.0.1', (err) => {
          if (err) this.sendErrors++;
          else this.forwarded++;
        });
      }
    });
  }

  static async start(targets: number[]): Promise<UdpRelay> {
    // A large buffer so that an exporter's burst (pmacctd sends ~130 datagrams at once) is not
    // dropped before the relay reads it; the kernel caps it at net.core.rmem_max.
    const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => resolve());
    });
    return new UdpRelay(sock, sock.address().port, targets);
  }

  /** Resolves once every received datagram has been forwarded and nothing arrived for quietMs. */
  async settle(quietMs = 300, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      () =>
        this.forwarded + this.sendErrors === this.received * this.targets.length &&
        Date.now() - this.lastReceiveMs >= quietMs,
      timeoutMs,
      'the relay to forward everything',
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}

/** Queue length and drop count of the UDP socket bound to 127.0.0.1:port, from /proc/net/udp. */
export function udpSocketState(port: number): { rxQueue: number; drops: number } | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return undefined; // not Linux: callers fall back to a short wait
  }
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== local) continue;
    const rxQueue = parseInt(f[4].split(':')[1], 16);
    return { rxQueue, drops: Number(f[f.length - 1]) };
  }
  return undefined;
}

/** An nfdump collector (nfcapd for NetFlow/IPFIX, sfcapd for sFlow) writing into its own folder. */
export interface NfdumpCollector {
  process: PeerProcess;
  port: number;
  dir: string;
}

/**
 * Starts nfcapd or sfcapd on 127.0.0.1 with a file rotation long enough that one run stays in one
 * file. The folder must hold nothing else: nfdump -R reads every file in it.
 */
export async function startNfdumpCollector(peers: PeerSet, tool: 'nfcapd' | 'sfcapd'): Promise<NfdumpCollector> {
  for (let attempt = 1; ; attempt++) {
    const dir = peers.tempDir(tool);
    const port = await freeUdpPort();
    const proc = peers.spawn(tool, ['-w', dir, '-p', String(port), '-b', '127.0.0.1', '-t', '3600']);
    try {
      await waitFor(() => /Startup/.test(proc.output) || !proc.running, 10_000, `${tool} to start`);
    } catch (err) {
      await proc.stop('SIGKILL');
      throw err;
    }
    if (proc.running) return { process: proc, port, dir };
    // Most likely the port was taken between freeUdpPort() and the bind: try another one.
    if (attempt >= 5) throw new Error(`${tool} did not start:\n${proc.output}`);
  }
}

/**
 * Stops the collector with SIGTERM (which makes it flush and close its file) once the kernel queue of
 * its socket is empty, and returns how many datagrams the kernel dropped on that socket.
 */
export async function stopNfdumpCollector(c: NfdumpCollector): Promise<{ drops: number | undefined }> {
  let drops: number | undefined;
  if (udpSocketState(c.port) !== undefined) {
    await waitFor(() => (udpSocketState(c.port)?.rxQueue ?? 0) === 0, 10_000, `${c.process.name} to read its socket`);
    drops = udpSocketState(c.port)?.drops;
  }
  // Reading the last datagram and handling it are one loop step: a short pause covers the handling.
  await new Promise((r) => setTimeout(r, 300));
  const status = await c.process.stop('SIGTERM');
  if (status.code !== 0) throw new Error(`${c.process.name} exited with ${status.code ?? status.signal}:\n${c.process.output}`);
  return { drops };
}

/** One record as nfdump prints it, reduced to what the comparisons use. */
export interface NfdumpFlow {
  src: string;
  dst: string;
  proto: number;
  packets: number;
  bytes: number;
}

/** Every record in the collector's folder, from `nfdump -R DIR -o json`. */
export async function readNfdumpFlows(dir: string): Promise<NfdumpFlow[]> {
  const { code, stdout, stderr } = await runTool('nfdump', ['-R', dir, '-o', 'json']);
  if (code !== 0) throw new Error(`nfdump failed (${code}): ${stderr}`);
  const text = stdout.trim();
  if (text === '') return [];
  const rows = JSON.parse(text) as Record<string, unknown>[];
  // nfdump 1.7.1 labels some sFlow records (IPv6 ones) "EVENT" instead of "FLOW"; they are still
  // flow records with counters, so every row with in_packets counts.
  return rows
    .filter((r) => typeof r.in_packets === 'number')
    .map((r) => ({
      src: canonicalAddress(String(r.src4_addr ?? r.src6_addr)),
      dst: canonicalAddress(String(r.dst4_addr ?? r.dst6_addr)),
      proto: Number(r.proto),
      packets: Number(r.in_packets),
      bytes: Number(r.in_bytes),
    }));
}

export interface CollectorSummary {
  flows: number;
  packets: number;
  bytes: number;
  sequenceErrors: number;
  badPackets: number;
}

/** The collector's own summary line on exit ("Flows: 44, Packets: 915, Bytes: 615195, ..."). */
export function collectorSummary(output: string): CollectorSummary | undefined {
  const m = /Flows: (\d+), Packets: (\d+), Bytes: (\d+), Sequence Errors: (\d+), Bad Packets: (\d+)/.exec(output);
  if (!m) return undefined;
  const [flows, packets, bytes, sequenceErrors, badPackets] = m.slice(1).map(Number);
  return { flows, packets, bytes, sequenceErrors, badPackets };
}

/** One spelling per address (IPv6 compressed, lower case), whatever tool printed it. */
export function canonicalAddress(text: string): string {
  if (isIPv4(text)) return text;
  if (isIPv6(text)) return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  throw new Error(`not an IP address: ${text}`);
}

/** The networks that make an address a device; the daemon under test gets the same list. */
export const TEST_LOCAL_NETWORKS = ['192.168.0.0/16', '10.0.0.0/8', 'fd00::/8'];

const localBlocks = new BlockList();
localBlocks.addSubnet('192.168.0.0', 16, 'ipv4');
localBlocks.addSubnet('10.0.0.0', 8, 'ipv4');
localBlocks.addSubnet('fd00::', 8, 'ipv6');

export function isLocalAddress(address: string): boolean {
  return localBlocks.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
}

/** Counters per "device peer" key. */
export type PairTotals = Map<string, { bytes: number; packets: number; flows: number }>;

/** Device/peer orientation of the design: the local end is the device; local to local: the source. */
export function devicePeerKey(src: string, dst: string): string {
  return isLocalAddress(src) ? `${src} ${dst}` : `${dst} ${src}`;
}

export function pairTotalsOfFlows(flows: NfdumpFlow[]): PairTotals {
  const out: PairTotals = new Map();
  for (const f of flows) {
    const key = devicePeerKey(f.src, f.dst);
    const cur = out.get(key) ?? { bytes: 0, packets: 0, flows: 0 };
    cur.bytes += f.bytes;
    cur.packets += f.packets;
    cur.flows += 1;
    out.set(key, cur);
  }
  return out;
}

/** flow_peer_{bytes,packets,flows}_total per (device, peer), rows that are all zero left out. */
export function pairTotalsOfMetrics(samples: Sample[]): PairTotals {
  const out: PairTotals = new Map();
  const field = { flow_peer_bytes_total: 'bytes', flow_peer_packets_total: 'packets', flow_peer_flows_total: 'flows' } as const;
  for (const s of samples) {
    const f = field[s.name as keyof typeof field];
    if (f === undefined) continue;
    const key = `${canonicalOrKeep(s.labels.device)} ${canonicalOrKeep(s.labels.peer)}`;
    const cur = out.get(key) ?? { bytes: 0, packets: 0, flows: 0 };
    cur[f] += s.value;
    out.set(key, cur);
  }
  for (const [k, v] of out) if (v.bytes === 0 && v.packets === 0 && v.flows === 0) out.delete(k);
  return out;
}

function canonicalOrKeep(label: string | undefined): string {
  if (label === undefined) return '';
  return isIPv4(label) || isIPv6(label) ? canonicalAddress(label) : label; // "other" rows stay as they are
}

/** Export datagrams the daemon has taken in so far, over every exporter and protocol. */
export function datagramsSeenBy(daemon: { pipeline: { exporters: Map<string, { datagramsByProtocol: Map<string, number> }> } }): number {
  let n = 0;
  for (const e of daemon.pipeline.exporters.values()) for (const c of e.datagramsByProtocol.values()) n += c;
  return n;
}

export function totalsOfFlows(flows: NfdumpFlow[]): { flows: number; packets: number; bytes: number } {
  let packets = 0;
  let bytes = 0;
  for (const f of flows) {
    packets += f.packets;
    bytes += f.bytes;
  }
  return { flows: flows.length, packets, bytes };
}
