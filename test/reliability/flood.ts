/**
 * Loopback flood of the real daemon (`node bin/flowgauge.js`): measures its capacity (datagrams per
 * second it decodes when sent more than it can take), then floods it at a multiple of that for a
 * while, scraping /metrics and sampling its RSS all along, and checks the books afterwards:
 *
 * - every datagram sent was either received by the daemon or dropped by the kernel on its socket
 *   (flowgauge_datagrams_total + flowgauge_udp_kernel_drops_total = sent);
 * - the datagrams lost show up as NetFlow v9 sequence gaps (the sequence number counts datagrams);
 * - every record the decoder counted is in every rollup, exactly (records = flows summed over each
 *   family), and records = datagrams received x records per datagram.
 *
 * The capacity blast and the flood are sent by bench/c/udp-sender.c (sendmmsg, compiled with gcc into
 * bench/.build), which goes several times faster than a Node sender; where gcc is missing (or with
 * FLOOD_SENDER=node) a Node child process sends instead, and may not reach the factor asked for.
 *
 * Used by test/reliability-flood.test.ts (a few seconds) and by `npm run flood` (a minute).
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeNetflowDatagram } from '../../src/decoders/netflow.js';
import { NetflowExporterState } from '../../src/decoders/netflow-state.js';
import { createDecodeCounters } from '../../src/decoders/types.js';
import { DaemonProcess, ensureBuilt } from '../helpers/cli-process.js';
import { corpusDatagrams } from '../helpers/corpus.js';
import { parseExposition, sumOf, type Sample } from '../helpers/exposition.js';

/** RSS the daemon must stay under during a flood (docs/reliability.md). */
export const FLOOD_RSS_BOUND_BYTES = 512 * 1024 * 1024;

/** The checks a flood must pass, as [what, passed]. */
export function floodChecks(r: FloodReport): Array<[string, boolean]> {
  return [
    ['daemon stayed up', r.daemonUp],
    ['/metrics answered every scrape', r.scrapeFailures === 0 && r.scrapes > 0],
    [`RSS stayed under ${FLOOD_RSS_BOUND_BYTES / 1048576} MiB`, r.rssMaxBytes < FLOOD_RSS_BOUND_BYTES],
    ['sent = received + kernel drops', r.sent === r.received + r.kernelDrops],
    ['kernel drops = v9 sequence gaps', r.kernelDrops === r.sequenceGapDatagrams],
    ['no application drops, decode errors or template misses', r.appDrops === 0 && r.decodeErrors === 0 && r.templateMisses === 0],
    ['records = data datagrams received x records per datagram', r.records === r.templateRecords + (r.received - 1) * r.recordsPerDatagram],
    ['every rollup sums to the records decoded', Object.keys(r.rollupFlows).length > 0 && Object.values(r.rollupFlows).every((f) => f === r.records)],
  ];
}

/** The corpus capture whose datagrams flood the daemon (NetFlow v9, one exporter). */
export const FLOOD_CAPTURE = 'edge/softflowd-v9.pcap';

export interface FloodOptions {
  /** Corpus capture to take the template and data datagrams from (default FLOOD_CAPTURE). */
  capture?: string;
  /** Flood length. */
  durationMs: number;
  /** Flood rate as a multiple of the measured capacity. */
  factor?: number;
  /** How long to blast at full speed to measure capacity. */
  capacityMs?: number;
  /** Scrape interval during the flood. */
  scrapeEveryMs?: number;
  /** Told about progress (one line each). */
  log?: (line: string) => void;
}

export interface FloodReport {
  capture: string;
  /** What sent the capacity blast and the flood: the C sender or the Node fallback. */
  sender: 'c' | 'node';
  recordsPerDatagram: number;
  /** Records of the one template datagram sent first (the rest are data datagrams). */
  templateRecords: number;
  datagramBytes: number;
  /** Datagrams per second the daemon decoded while sent more than it could take. */
  capacity: number;
  /** Fastest rate the sender reached when blasting (the flood cannot go above it). */
  senderMax: number;
  targetRate: number;
  /** What the sender actually sent per second during the flood. */
  achievedRate: number;
  durationMs: number;
  sent: number;
  received: number;
  kernelDrops: number;
  appDrops: number;
  sequenceGapDatagrams: number;
  records: number;
  templateMisses: number;
  decodeErrors: number;
  pendingRecords: number;
  /** flows summed over each rollup family: must all equal `records`. */
  rollupFlows: Record<string, number>;
  scrapes: number;
  scrapeFailures: number;
  scrapeMaxMs: number;
  scrapeMedianMs: number;
  rssStartBytes: number;
  rssMaxBytes: number;
  daemonUp: boolean;
  receiveBufferBytes: number;
  /** Datagrams the daemon decoded during the flood (and its drain) per second of flood. */
  floodDecodedRate: number;
}

interface Scrape {
  ok: boolean;
  ms: number;
  samples: Sample[];
}

function scrape(port: number, timeoutMs = 10_000): Promise<Scrape> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const ms = performance.now() - started;
        try {
          resolve({ ok: res.statusCode === 200, ms, samples: parseExposition(body) });
        } catch {
          resolve({ ok: false, ms, samples: [] });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ ok: false, ms: performance.now() - started, samples: [] }));
  });
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface SendResult {
  /** Datagrams sent, all of them. */
  sent: number;
  /** Of those, the ones sent in the timed part (the C sender sends one first, before timing). */
  timedSent: number;
  errors: number;
  /** Length of the timed part. */
  elapsedMs: number;
  nextSequence: number;
}

const SENDER_SOURCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/c/udp-sender.c');

/**
 * The C sender, compiled on first use (again when its source is newer); undefined when it cannot be
 * built, or FLOOD_SENDER=node asks for the Node sender. In CI a missing gcc is an error, not a
 * fallback. Compiled to a temp name and renamed, so concurrent runs never see half a binary.
 */
export function cSender(): string | undefined {
  if (process.env.FLOOD_SENDER === 'node') return undefined;
  const dir = path.resolve(path.dirname(SENDER_SOURCE), '../.build');
  const bin = path.join(dir, 'udp-sender');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(SENDER_SOURCE).mtimeMs) return bin;
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', tmp, SENDER_SOURCE], { encoding: 'utf8' });
  if (r.status !== 0) {
    if (process.env.CI) throw new Error(`gcc udp-sender.c failed:\n${r.stderr || r.error?.message}`);
    return undefined;
  }
  renameSync(tmp, bin);
  return bin;
}

/**
 * Sends copies of `datagram` with the C sender: one first (its "hello"), then `rate` per second
 * (0: as fast as the socket takes them) for `durationMs`, sequence numbers counting up from
 * `firstSequence`.
 */
function sendWithC(bin: string, file: string, port: number, firstSequence: number, rate: number, durationMs: number): Promise<SendResult> {
  const args = ['127.0.0.1', String(port), file, Number.isFinite(rate) ? String(Math.round(rate)) : '0', String(durationMs / 1000), '1', String(firstSequence >>> 0)];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`udp-sender exited with ${code}: ${err}`));
      const r = JSON.parse(out) as { sent: number; seconds: number };
      resolve({ sent: r.sent + 1, timedSent: r.sent, errors: 0, elapsedMs: r.seconds * 1000, nextSequence: (firstSequence + r.sent + 1) >>> 0 });
    });
  });
}

function send(port: number, datagram: Uint8Array, firstSequence: number, rate: number, durationMs: number, count = Number.MAX_SAFE_INTEGER): Promise<SendResult> {
  const child = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), 'flood-sender.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => {
      child.disconnect();
      const r = m as Omit<SendResult, 'timedSent'>;
      resolve({ ...r, timedSent: r.sent });
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0 && code !== null) reject(new Error(`flood sender exited with ${code}`));
    });
    child.send({ port, datagram: Buffer.from(datagram).toString('base64'), firstSequence, rate: Number.isFinite(rate) ? rate : null, durationMs, count });
  });
}

/**
 * Sends `datagram` (its v9 sequence number counting up) at `rate` per second from a child process
 * until stopped; for tests that need ingest going on while they signal the daemon.
 */
export function startSender(port: number, datagram: Uint8Array, rate: number): { stop: () => Promise<void> } {
  const child = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), 'flood-sender.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send({ port, datagram: Buffer.from(datagram).toString('base64'), firstSequence: 1, rate, durationMs: 600_000, count: Number.MAX_SAFE_INTEGER });
  return {
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * The capture's template datagram and, of its data datagrams, the one with the most records. The
 * default is softflowd's v9 capture: it fills its datagrams to the MTU (1388 bytes, 23 records) as
 * exporters under load do, where pmacctd's hold 8 records in 480 bytes. With small datagrams the
 * daemon's capacity in datagrams/s is so high that 3x of it is beyond what one sending core can
 * push through the loopback interface.
 */
function floodDatagrams(capture: string): { templates: Uint8Array; templateRecords: number; data: Uint8Array; records: number } {
  const dgs = corpusDatagrams(capture).map((d) => new Uint8Array(d.payload));
  const st = new NetflowExporterState();
  const ctx = { exporter: 'x', nowMs: 1_700_000_000_000, state: st, counters: createDecodeCounters(), defaultSamplingRate: 1 };
  let templateRecords = 0;
  decodeNetflowDatagram(dgs[0], ctx, () => templateRecords++);
  let best = dgs[1];
  let most = 0;
  for (let i = 1; i < dgs.length; i++) {
    let n = 0;
    decodeNetflowDatagram(dgs[i], ctx, () => n++);
    if (n > most) {
      most = n;
      best = dgs[i];
    }
  }
  return { templates: dgs[0], templateRecords, data: best, records: most };
}

const total = (s: Sample[], name: string): number => sumOf(s, name);

export async function runFlood(options: FloodOptions): Promise<FloodReport> {
  const log = options.log ?? (() => undefined);
  const factor = options.factor ?? 3;
  const capacityMs = options.capacityMs ?? 2_000;
  const scrapeEveryMs = options.scrapeEveryMs ?? 250;
  ensureBuilt();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-flood-'));
  const cfg = path.join(dir, 'flood.yaml');
  writeFileSync(
    cfg,
    ['listen:', '  http: "127.0.0.1:0"', '  netflow: ["127.0.0.1:0"]', '  sflow: []', `state_dir: ${JSON.stringify(path.join(dir, 'state'))}`, 'log: { level: info }', ''].join('\n'),
  );
  const capture = options.capture ?? FLOOD_CAPTURE;
  const { templates, templateRecords, data, records: perDatagram } = floodDatagrams(capture);
  const cBin = cSender();
  // The C sender's file: the datagram as its hello, then the one it repeats ([u32 length][bytes] each).
  const senderFile = path.join(dir, 'datagrams.bin');
  const framed = Buffer.alloc(4 + data.length);
  framed.writeUInt32BE(data.length, 0);
  framed.set(data, 4);
  writeFileSync(senderFile, Buffer.concat([framed, framed]));
  /** Sends the blast or the flood, with the C sender when there is one. */
  const sendBulk = (port: number, firstSequence: number, rate: number, durationMs: number): Promise<SendResult> =>
    cBin ? sendWithC(cBin, senderFile, port, firstSequence, rate, durationMs) : send(port, data, firstSequence, rate, durationMs);
  log(`sender: ${cBin ? `C (${path.relative(process.cwd(), cBin)})` : 'Node (no C sender: gcc missing or FLOOD_SENDER=node)'}`);
  const daemon = new DaemonProcess(['--config', cfg, ...(process.env.FLOWGAUGE_FLOOD_ARGS?.split(' ').filter(Boolean) ?? [])]);
  try {
    const started = await daemon.started();
    const ports = { http: started.httpPort, udp: started.udpPorts[0] };
    const pid = daemon.child.pid!;
    const rssStartBytes = rssOf(pid);
    let seq = 1;

    // Templates first, and make sure they are in.
    const t = await send(ports.udp, templates, 0, Infinity, 5_000, 1);
    seq = 1;
    await waitUntil(async () => total((await scrape(ports.http)).samples, 'flowgauge_templates_received_total') > 0, 10_000);
    void t;

    // Capacity: blast as fast as the sender goes and count what the daemon decodes over capacityMs
    // in the middle of it (sender start-up and the drain of the socket buffer afterwards left out).
    // A scrape's counters are read somewhere between request and response: the midpoint dates them.
    const warmupMs = 1_000;
    let blastDone = false;
    const blasting = sendBulk(ports.udp, seq, Infinity, capacityMs + warmupMs + 1_000).finally(() => (blastDone = true));
    await new Promise((r) => setTimeout(r, warmupMs));
    const beforeAt = performance.now();
    const before = await scrape(ports.http);
    await new Promise((r) => setTimeout(r, capacityMs));
    const afterAt = performance.now();
    const after = await scrape(ports.http);
    const windowSeconds = (afterAt + after.ms / 2 - (beforeAt + before.ms / 2)) / 1000;
    const blastEndedEarly = blastDone;
    const blast = await blasting;
    if (blastEndedEarly || !before.ok || !after.ok) throw new Error('capacity measurement failed: the blast ended before the second scrape, or a scrape failed');
    seq = blast.nextSequence;
    const capacity = (total(after.samples, 'flowgauge_datagrams_total') - total(before.samples, 'flowgauge_datagrams_total')) / windowSeconds;
    const senderMax = blast.timedSent / (blast.elapsedMs / 1000);
    log(`capacity: the daemon decoded ${capacity.toFixed(0)} datagrams/s (${(capacity * perDatagram).toFixed(0)} records/s) while sent ${senderMax.toFixed(0)}/s`);
    const beforeFlood = await settle(ports.http);

    // The flood, with scrapes and RSS samples all along.
    const targetRate = Math.min(capacity * factor, senderMax);
    log(`flood: ${(options.durationMs / 1000).toFixed(0)} s at ${targetRate.toFixed(0)} datagrams/s (${factor}x capacity${targetRate < capacity * factor ? ', capped by the sender' : ''})`);
    const scrapes: Scrape[] = [];
    let rssMaxBytes = rssStartBytes;
    let flooding = true;
    const watcher = (async () => {
      while (flooding) {
        const s = await scrape(ports.http);
        scrapes.push({ ok: s.ok, ms: s.ms, samples: [] });
        rssMaxBytes = Math.max(rssMaxBytes, rssOf(pid));
        await new Promise((r) => setTimeout(r, scrapeEveryMs));
      }
    })();
    const flood = await sendBulk(ports.udp, seq, targetRate, options.durationMs);
    seq = flood.nextSequence;
    flooding = false;
    await watcher;
    log(`sent ${flood.timedSent} datagrams in ${(flood.elapsedMs / 1000).toFixed(1)} s (${(flood.timedSent / (flood.elapsedMs / 1000)).toFixed(0)}/s)`);

    // A last datagram after the flood, at an easy pace: makes losses at the very end visible as a
    // sequence gap too.
    const quiet = await settle(ports.http);
    const tail = await send(ports.udp, data, seq, Infinity, 5_000, 1);
    await waitUntil(async () => total((await scrape(ports.http)).samples, 'flowgauge_datagrams_total') > total(quiet.samples, 'flowgauge_datagrams_total'), 10_000);
    const final = await settle(ports.http);
    rssMaxBytes = Math.max(rssMaxBytes, rssOf(pid));

    const s = final.samples;
    const families = [...new Set(s.filter((x) => /^flow_.*_flows_total$/.test(x.name)).map((x) => x.name))];
    const rollupFlows: Record<string, number> = {};
    for (const f of families) rollupFlows[f] = total(s, f);
    const sent = t.sent + blast.sent + flood.sent + tail.sent;
    const okScrapes = scrapes.filter((x) => x.ok).map((x) => x.ms).sort((a, b) => a - b);
    const report: FloodReport = {
      sender: cBin ? 'c' : 'node',
      capture,
      recordsPerDatagram: perDatagram,
      templateRecords,
      datagramBytes: data.length,
      capacity,
      senderMax,
      targetRate,
      achievedRate: flood.timedSent / (flood.elapsedMs / 1000),
      durationMs: flood.elapsedMs,
      sent,
      received: total(s, 'flowgauge_datagrams_total'),
      kernelDrops: total(s, 'flowgauge_udp_kernel_drops_total'),
      appDrops: total(s, 'flowgauge_datagrams_dropped_total'),
      sequenceGapDatagrams: total(s, 'flowgauge_sequence_gap_datagrams_total'),
      records: total(s, 'flowgauge_records_total'),
      templateMisses: total(s, 'flowgauge_template_misses_total'),
      decodeErrors: total(s, 'flowgauge_decode_errors_total'),
      pendingRecords: total(s, 'flowgauge_pending_records'),
      rollupFlows,
      scrapes: scrapes.length,
      scrapeFailures: scrapes.filter((x) => !x.ok).length,
      scrapeMaxMs: okScrapes.length > 0 ? okScrapes[okScrapes.length - 1] : NaN,
      scrapeMedianMs: okScrapes.length > 0 ? okScrapes[Math.floor(okScrapes.length / 2)] : NaN,
      rssStartBytes,
      rssMaxBytes,
      daemonUp: daemon.running,
      receiveBufferBytes: total(s, 'flowgauge_udp_receive_buffer_bytes'),
      floodDecodedRate: (total(quiet.samples, 'flowgauge_datagrams_total') - total(beforeFlood.samples, 'flowgauge_datagrams_total')) / (flood.elapsedMs / 1000),
    };
    return report;
  } finally {
    daemon.kill('SIGTERM');
    await Promise.race([daemon.exited, new Promise((r) => setTimeout(r, 5_000))]);
    daemon.kill('SIGKILL');
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the daemon has caught up (datagram count stable for 300 ms) and returns that scrape. */
async function settle(port: number): Promise<Scrape> {
  let last = await scrape(port);
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const now = await scrape(port);
    if (now.ok && last.ok && total(now.samples, 'flowgauge_datagrams_total') === total(last.samples, 'flowgauge_datagrams_total')) return now;
    last = now;
  }
}
