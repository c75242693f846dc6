/**
 * The daemon over real UDP on loopback: every edge capture sent to the listener gives the oracle's
 * totals and per-host-pair counters on /metrics; templates survive a restart; malformed datagrams
 * are counted and do not disturb what follows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { corpusDatagrams, corpusOracle } from './helpers/corpus.js';
import { sendDatagrams, startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import { assertMetricsMatch, EDGE_FILES, expectedFromOracle } from './helpers/oracle-metrics.js';

type TestDaemon = Awaited<ReturnType<typeof startTestDaemon>>;
let running: TestDaemon[] = [];

afterEach(async () => {
  await Promise.all(running.map((d) => d.stop('test done')));
  running = [];
});

async function start(overrides = {}): Promise<TestDaemon> {
  const d = await startTestDaemon(overrides);
  running.push(d);
  return d;
}

function datagramsSeen(d: TestDaemon): number {
  let n = 0;
  for (const e of d.pipeline.exporters.values()) for (const c of e.datagramsByProtocol.values()) n += c;
  return n;
}

async function scrape(d: TestDaemon, accept?: string): Promise<{ text: string; contentType: string }> {
  const res = await fetch(`${d.httpUrl}/metrics`, { headers: accept ? { accept } : {} });
  expect(res.status).toBe(200);
  return { text: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}

describe('daemon over loopback UDP', () => {
  for (const name of EDGE_FILES) {
    it(`${name}: /metrics equals the oracle`, async () => {
      const d = await start();
      const payloads = corpusDatagrams(`edge/${name}.pcap`).map((x) => x.payload);
      await sendDatagrams(d.udpPort, payloads);
      await waitFor(() => datagramsSeen(d) === payloads.length, 10_000, `${payloads.length} datagrams`);
      const { text } = await scrape(d);
      const samples = parseExposition(text);
      assertMetricsMatch(samples, expectedFromOracle(corpusOracle(`edge/${name}.json`)));
      expect(sumOf(samples, 'flowgauge_decode_errors_total')).toBe(0);
    });
  }

  it('serves OpenMetrics when asked, and health endpoints', async () => {
    const d = await start();
    const { text, contentType } = await scrape(d, 'application/openmetrics-text;version=1.0.0,text/plain;q=0.5');
    expect(contentType).toContain('application/openmetrics-text');
    expect(text.trimEnd().endsWith('# EOF')).toBe(true);
    expect((await fetch(`${d.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${d.httpUrl}/readyz`)).status).toBe(200);
    const status = (await (await fetch(`${d.httpUrl}/status`)).json()) as { rollups: unknown[] };
    expect(status.rollups.length).toBeGreaterThanOrEqual(4);
  });

  it('keeps decoding after malformed datagrams, counting each under a reason', async () => {
    const d = await start();
    const good = corpusDatagrams('edge/softflowd-v9.pcap').map((x) => x.payload);
    const bad = [
      Uint8Array.of(0), // 1 byte
      Uint8Array.of(0, 9, 0, 1), // truncated v9 header
      Uint8Array.of(0, 77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), // unknown version
      new Uint8Array(0),
    ];
    await sendDatagrams(d.udpPort, [...bad, ...good]);
    await waitFor(() => [...d.pipeline.exporters.values()].some((e) => e.counters.records === 44), 10_000, '44 records');
    // Every malformed datagram was seen and rejected under a reason (a zero-length one included).
    expect(datagramsSeen(d)).toBe(bad.length + good.length);
    const samples = parseExposition((await scrape(d)).text);
    expect(sumOf(samples, 'flow_exporter_flows_total')).toBe(44);
    expect(sumOf(samples, 'flowgauge_decode_errors_total')).toBe(bad.length);
    expect(sumOf(samples, 'flowgauge_decode_errors_total', { reason: 'unknown_version' })).toBe(1);
    expect(sumOf(samples, 'flowgauge_datagrams_dropped_total', { reason: 'decode_failed' })).toBe(bad.length);
  });

  it('decodes data at once after a restart, from templates saved in state_dir', async () => {
    const datagrams = corpusDatagrams('edge/pmacctd-nfprobe-v9-large.pcap').map((x) => x.payload);
    const first = await start();
    await sendDatagrams(first.udpPort, datagrams.slice(0, 1)); // carries the templates
    await waitFor(() => datagramsSeen(first) === 1, 5_000, 'first datagram');
    await first.stop('restart');
    running = running.filter((x) => x !== first);
    const second = await start({ stateDir: first.stateDir });
    // Datagrams 1..17 carry data only; the next template refresh is in datagram 18.
    await sendDatagrams(second.udpPort, datagrams.slice(1, 18));
    await waitFor(() => datagramsSeen(second) === 17, 5_000, '17 datagrams');
    const exporter = [...second.pipeline.exporters.values()][0];
    expect(exporter.counters.templateMisses).toBe(0);
    expect(exporter.counters.records).toBeGreaterThan(0);
    expect(exporter.counters.pendingRecords).toBe(0);
  });

  it('drops and counts datagrams from exporters outside the allowlist', async () => {
    const d = await start({ exporterAllowlist: ['192.0.2.0/24'] });
    await sendDatagrams(d.udpPort, corpusDatagrams('edge/softflowd-v5.pcap').map((x) => x.payload));
    await waitFor(() => d.pipeline.drops.notAllowed === 2, 5_000, 'rejections');
    const samples = parseExposition((await scrape(d)).text);
    expect(sumOf(samples, 'flowgauge_datagrams_dropped_total', { reason: 'not_allowed' })).toBe(2);
    expect(sumOf(samples, 'flow_exporter_flows_total')).toBe(0);
  });
});
