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
 * Used by test/reliability-flood.test.ts (a few seconds) and by `npm run flood` (a minute).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

export interface FloodOptions {
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
  sent: number;
  errors: number;
  elapsedMs: number;
  nextSequence: number;
}

function send(port: number, datagram: Uint8Array, firstSequence: number, rate: number, durationMs: number, count = Number.MAX_SAFE_INTEGER): Promise<SendResult> {
  const child = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), 'flood-sender.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => {
      child.disconnect();
      resolve(m as SendResult);
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

/** The corpus's template datagram and, of its data datagrams, the one with the most records. */
function floodDatagrams(): { templates: Uint8Array; templateRecords: number; data: Uint8Array; records: number } {
  const dgs = corpusDatagrams('edge/pmacctd-nfprobe-v9-large.pcap').map((d) => new Uint8Array(d.payload));
  const st = new NetflowExporterState();
  const ctx = { exporter: 'x', nowMs: 1_700_000_000_000, state: st, counters: createDecodeCounters(), defaultSamplingRate: 1 };
  let templateRecords = 0;
  decodeNetflowDatagram(dgs[0], ctx, () => templateRecords++);
  let best = dgs[1];
  let most = 0;
  for (let i = 1; i < 18; i++) {
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
  const { templates, templateRecords, data, records: perDatagram } = floodDatagrams();
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

    // Capacity: blast for capacityMs, count what the daemon decoded meanwhile.
    const before = await scrape(ports.http);
    const blastStarted = performance.now();
    const blast = await send(ports.udp, data, seq, Infinity, capacityMs);
    seq = blast.nextSequence;
    const after = await scrape(ports.http);
    const blastSeconds = (performance.now() - blastStarted) / 1000;
    const capacity = (total(after.samples, 'flowgauge_datagrams_total') - total(before.samples, 'flowgauge_datagrams_total')) / blastSeconds;
    const senderMax = blast.sent / (blast.elapsedMs / 1000);
    log(`capacity: the daemon decoded ${capacity.toFixed(0)} datagrams/s (${(capacity * perDatagram).toFixed(0)} records/s) while sent ${senderMax.toFixed(0)}/s`);
    await settle(ports.http);

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
    const flood = await send(ports.udp, data, seq, targetRate, options.durationMs);
    seq = flood.nextSequence;
    flooding = false;
    await watcher;
    log(`sent ${flood.sent} datagrams in ${(flood.elapsedMs / 1000).toFixed(1)} s (${(flood.sent / (flood.elapsedMs / 1000)).toFixed(0)}/s)`);

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
      recordsPerDatagram: perDatagram,
      templateRecords,
      datagramBytes: data.length,
      capacity,
      senderMax,
      targetRate,
      achievedRate: flood.sent / (flood.elapsedMs / 1000),
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
