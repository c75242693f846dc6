/**
 * Restarts of the real daemon (`node bin/flowgauge.js`) in the middle of ingest: SIGTERM stops it
 * cleanly and saves the templates; kill -9 loses at most what came after the last periodic save.
 * Either way the next start decodes data-only datagrams at once from the saved templates. State
 * files are replaced atomically (a writer killed at random moments never leaves a torn file), and a
 * corrupt state file is reported in the log, set aside and does not stop the start.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, ensureBuilt } from './helpers/cli-process.js';
import { corpusDatagrams, repoRoot } from './helpers/corpus.js';
import { sendDatagrams } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import { startSender } from './reliability/flood.js';

// pmacctd v9: datagram 0 carries the templates, 1..17 data only (the next refresh is datagram 18).
const V9 = corpusDatagrams('edge/pmacctd-nfprobe-v9-large.pcap').map((d) => d.payload);
const TEMPLATES = V9[0];
const DATA_ONLY = V9.slice(1, 18);

let daemons: DaemonProcess[] = [];
afterEach(() => {
  for (const d of daemons) d.kill('SIGKILL');
  daemons = [];
});
beforeAll(() => ensureBuilt(), 180_000);

function configIn(dir: string): string {
  const cfg = path.join(dir, 'flowgauge.yaml');
  writeFileSync(
    cfg,
    ['listen:', '  http: "127.0.0.1:0"', '  netflow: ["127.0.0.1:0"]', '  sflow: []', `state_dir: ${JSON.stringify(path.join(dir, 'state'))}`, 'log: { level: info }', ''].join('\n'),
  );
  return cfg;
}

async function startDaemon(cfg: string): Promise<{ d: DaemonProcess; http: number; udp: number }> {
  const d = new DaemonProcess(['--config', cfg]);
  daemons.push(d);
  const { httpPort, udpPorts } = await d.started();
  return { d, http: httpPort, udp: udpPorts[0] };
}

async function metrics(port: number) {
  return parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Keeps data-only datagrams arriving (2000/s from a child process) until stopped. */
function keepSending(port: number): { stop: () => Promise<void> } {
  return startSender(port, DATA_ONLY[0], 2_000);
}

/** After a restart: data-only datagrams decode at once, none waits for a template. */
async function expectTemplatesBack(cfg: string): Promise<void> {
  const { d, http, udp } = await startDaemon(cfg);
  const restored = await d.waitForLog('restored NetFlow/IPFIX templates');
  expect(restored.exporters).toBe(1);
  await sendDatagrams(udp, DATA_ONLY);
  await until(async () => sumOf(await metrics(http), 'flowgauge_datagrams_total') === DATA_ONLY.length, 10_000, 'data datagrams');
  const m = await metrics(http);
  expect(sumOf(m, 'flowgauge_template_misses_total')).toBe(0);
  expect(sumOf(m, 'flowgauge_pending_records')).toBe(0);
  expect(sumOf(m, 'flowgauge_records_total')).toBeGreaterThan(0);
  // Every decoded record is in the rollups, once.
  expect(sumOf(m, 'flow_exporter_flows_total')).toBe(sumOf(m, 'flowgauge_records_total'));
  d.kill('SIGTERM');
  expect((await d.exited).code).toBe(0);
}

describe('restarts during ingest', () => {
  it('SIGTERM while datagrams keep arriving: exits 0 in time, templates saved; the next start decodes data at once', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-sigterm-'));
    const cfg = configIn(dir);
    const { d, http, udp } = await startDaemon(cfg);
    await sendDatagrams(udp, [TEMPLATES]);
    await until(async () => sumOf(await metrics(http), 'flowgauge_templates_received_total') > 0, 10_000, 'templates');
    const sender = keepSending(udp);
    await until(async () => sumOf(await metrics(http), 'flowgauge_datagrams_total') > 200, 10_000, 'ingest');
    const signalled = Date.now();
    d.kill('SIGTERM');
    const exit = await Promise.race([d.exited, new Promise<undefined>((r) => setTimeout(r, 10_000))]).finally(() => sender.stop());
    const stoppedIn = Date.now() - signalled;
    expect(exit?.code, `no exit 10 s after SIGTERM; log:\n${d.stderr.slice(-2000)}`).toBe(0);
    expect(stoppedIn).toBeLessThan(5_000);
    expect(d.logs().map((l) => l.msg)).toContain('stopped');
    const saved = JSON.parse(readFileSync(path.join(dir, 'state', 'templates.json'), 'utf8')) as { kind: string; data: Record<string, unknown> };
    expect(saved.kind).toBe('flowgauge-templates');
    expect(Object.keys(saved.data)).toEqual(['127.0.0.1']);
    await expectTemplatesBack(cfg);
  }, 60_000);

  it('kill -9 while datagrams keep arriving: the templates of the last periodic save come back', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-kill9-'));
    const cfg = configIn(dir);
    const { d, http, udp } = await startDaemon(cfg);
    await sendDatagrams(udp, [TEMPLATES]);
    await until(async () => sumOf(await metrics(http), 'flowgauge_templates_received_total') > 0, 10_000, 'templates');
    const sender = keepSending(udp);
    // Templates are saved every 10 s when they changed.
    const file = path.join(dir, 'state', 'templates.json');
    await until(async () => existsSync(file), 15_000, 'the periodic template save');
    d.kill('SIGKILL');
    const { signal } = await d.exited.finally(() => sender.stop());
    expect(signal).toBe('SIGKILL');
    expect(d.logs().map((l) => l.msg)).not.toContain('stopped');
    await expectTemplatesBack(cfg);
  }, 60_000);

  it('a corrupt state file is reported and set aside; the daemon starts and decodes (templates learned anew)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-corrupt-'));
    const cfg = configIn(dir);
    const stateDir = path.join(dir, 'state');
    // A write cut short, as a crash of a non-atomic writer would leave it.
    (await import('node:fs')).mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, 'templates.json'), '{"kind":"flowgauge-templates","version":1,"savedAt":"2026-01-01T00:00:00Z","data":{"127.0.0.1":{"form');
    // And a temp file from a writer killed before its rename.
    writeFileSync(path.join(stateDir, 'templates.json.tmp-999999'), '{"partial":');
    const { d, http, udp } = await startDaemon(cfg);
    const warn = d.logs().find((l) => l.msg === 'template state file was corrupt; set aside, starting without saved templates');
    expect(warn?.level).toBe('warn');
    expect(String(warn?.reason)).toMatch(/JSON|Unexpected|Unterminated/);
    const names = readdirSync(stateDir);
    expect(names.some((n) => n.startsWith('templates.json.corrupt-'))).toBe(true);
    expect(names).not.toContain('templates.json.tmp-999999');
    await sendDatagrams(udp, V9.slice(0, 18));
    await until(async () => sumOf(await metrics(http), 'flowgauge_datagrams_total') === 18, 10_000, 'datagrams');
    const m = await metrics(http);
    expect(sumOf(m, 'flowgauge_template_misses_total')).toBe(0);
    expect(sumOf(m, 'flow_exporter_flows_total')).toBe(sumOf(m, 'flowgauge_records_total'));
    d.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  }, 60_000);

  it('a state file whose data is wrong for one exporter restores the others and names the bad one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-partial-'));
    const cfg = configIn(dir);
    // A good save first, then one exporter's entry damaged.
    const first = await startDaemon(cfg);
    await sendDatagrams(first.udp, [TEMPLATES]);
    await until(async () => sumOf(await metrics(first.http), 'flowgauge_templates_received_total') > 0, 10_000, 'templates');
    first.d.kill('SIGTERM');
    await first.d.exited;
    const file = path.join(dir, 'state', 'templates.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { data: Record<string, unknown> };
    doc.data['192.0.2.99'] = { format: 1, domains: [{ protocol: 9, domain: 0, templates: [{ id: 7, kind: 'data', fields: [] }] }] };
    writeFileSync(file, JSON.stringify(doc));
    const { d } = await startDaemon(cfg);
    const restored = await d.waitForLog('restored NetFlow/IPFIX templates');
    expect(restored.exporters).toBe(1);
    expect(restored.failed).toEqual(['192.0.2.99']);
    d.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  }, 60_000);
});

describe('atomic state files', () => {
  it('a writer killed at random moments never leaves a torn file: the old or the new state, always whole', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-atomic-'));
    const moduleUrl = pathToFileURL(path.join(repoRoot, 'dist', 'state', 'state-file.js')).href;
    // Saves a ~1 MB state over and over, each with a new generation number.
    const writer = `
      const { StateFile } = await import(${JSON.stringify(moduleUrl)});
      const f = new StateFile(${JSON.stringify(dir)}, 'templates.json', 'flowgauge-templates');
      const filler = 'x'.repeat(1 << 20);
      for (let generation = 0; ; generation++) await f.save({ generation, filler });
    `;
    let kills = 0;
    for (let round = 0; round < 12; round++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', writer], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 250)));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      kills++;
      const file = path.join(dir, 'templates.json');
      if (!existsSync(file)) continue;
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { kind: string; data: { generation: number; filler: string } };
      expect(doc.kind).toBe('flowgauge-templates');
      expect(doc.data.filler.length).toBe(1 << 20);
    }
    expect(kills).toBe(12);
    expect(existsSync(path.join(dir, 'templates.json'))).toBe(true);
  }, 60_000);
});
