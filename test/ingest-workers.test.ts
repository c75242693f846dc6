/**
 * Multi-core ingest (ingest.workers > 1): worker threads with SO_REUSEPORT sockets decode and
 * enrich, the main thread counts. Over real UDP, every corpus file gives the oracle totals on
 * /metrics; traffic from many exporters spreads over the workers and still adds up exactly; the
 * merged exporter view, templates and the state file behave as with one thread.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults.js';
import { FlowPipeline } from '../src/pipeline.js';
import { IngestWorkerPool } from '../src/sources/ingest-workers.js';
import { corpusDatagrams, corpusOracle } from './helpers/corpus.js';
import { sendDatagrams, startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import { assertMetricsMatch, EDGE_FILES, expectedFromOracle } from './helpers/oracle-metrics.js';

type TestDaemon = Awaited<ReturnType<typeof startTestDaemon>>;
let running: Array<{ stop(reason: string): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(running.map((d) => d.stop('test done')));
  running = [];
});

function datagramsSeen(pipeline: FlowPipeline): number {
  let n = 0;
  for (const e of pipeline.exporters.values()) for (const c of e.datagramsByProtocol.values()) n += c;
  return n;
}

async function scrape(d: TestDaemon): Promise<string> {
  const res = await fetch(`${d.httpUrl}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Sends each payload list from its own exporter: source address 127.0.0.(first + i), its own port. */
async function sendFromExporters(port: number, lists: Uint8Array[][], first = 2): Promise<void> {
  await Promise.all(
    lists.map(async (list, i) => {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => sock.bind(0, `127.0.0.${first + i}`, resolve));
      try {
        for (const p of list) await new Promise<void>((resolve, reject) => sock.send(p, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      } finally {
        sock.close();
      }
    }),
  );
}

describe('ingest workers over loopback UDP', () => {
  it('workers=2: each corpus file gives the oracle totals on /metrics', async () => {
    for (const name of EDGE_FILES) {
      const d = await startTestDaemon({ ingest: { workers: 2 } });
      running.push(d);
      const payloads = corpusDatagrams(`edge/${name}.pcap`).map((x) => x.payload);
      await sendDatagrams(d.udpPort, payloads);
      await waitFor(() => datagramsSeen(d.pipeline) === payloads.length, 10_000, `${name}: ${payloads.length} datagrams`);
      const samples = parseExposition(await scrape(d));
      assertMetricsMatch(samples, expectedFromOracle(corpusOracle(`edge/${name}.json`)));
      expect(sumOf(samples, 'flowgauge_decode_errors_total')).toBe(0);
      const status = (await (await fetch(`${d.httpUrl}/status`)).json()) as { listeners: Array<{ datagrams: number }> };
      expect(status.listeners[0].datagrams).toBe(payloads.length);
      await d.stop('next file');
      running = [];
    }
  });

  it('workers=2 with the smallest flow key cache (16 entries): label sets redefined all the time, totals still the oracle\'s', async () => {
    for (const name of ['pmacctd-nfprobe-v9-large', 'softflowd-ipfix']) {
      const d = await startTestDaemon({ ingest: { workers: 2, flowKeyCacheEntries: 16 } });
      running.push(d);
      const payloads = corpusDatagrams(`edge/${name}.pcap`).map((x) => x.payload);
      await sendDatagrams(d.udpPort, payloads);
      await waitFor(() => datagramsSeen(d.pipeline) === payloads.length, 10_000, `${name}: ${payloads.length} datagrams`);
      const samples = parseExposition(await scrape(d));
      assertMetricsMatch(samples, expectedFromOracle(corpusOracle(`edge/${name}.json`)));
      // The workers' caches are that small too: far more misses than entries.
      expect(sumOf(samples, 'flowgauge_flow_key_cache_lookups_total', { result: 'miss' })).toBeGreaterThan(16);
      await d.stop('next file');
      running = [];
    }
  });

  it('workers=2, max_exporters 1: silent exporters give their place to new ones, and the main thread forgets them too', async () => {
    const d = await startTestDaemon({ ingest: { workers: 2 }, limits: { maxExporters: 1, exporterIdleSeconds: 1 } });
    running.push(d);
    const payloads = corpusDatagrams('edge/softflowd-v5.pcap').map((x) => x.payload);
    const exp = expectedFromOracle(corpusOracle('edge/softflowd-v5.json'));
    const listenerDatagrams = async (): Promise<number> => {
      const status = (await (await fetch(`${d.httpUrl}/status`)).json()) as { listeners: Array<{ datagrams: number }> };
      return status.listeners[0].datagrams;
    };
    // Four exporters one after the other, each after more than a second of silence: whichever
    // worker each lands on, the exporter there before it has been silent long enough to go.
    for (let i = 0; i < 4; i++) {
      await sendFromExporters(d.udpPort, [payloads], 31 + i);
      for (let t = 0; (await listenerDatagrams()) !== (i + 1) * payloads.length; t++) {
        if (t > 200) throw new Error(`exporter ${i + 1}: its datagrams never all arrived`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1_200));
    }
    const samples = parseExposition(await scrape(d));
    expect(sumOf(samples, 'flowgauge_datagrams_dropped_total', { reason: 'exporter_limit' })).toBe(0);
    expect(sumOf(samples, 'flow_exporter_bytes_total')).toBe(4 * exp.bytes);
    expect(sumOf(samples, 'flow_exporter_flows_total')).toBe(4 * exp.flows);
    // Each worker holds one exporter at most; every other one was forgotten, by its worker and here.
    const tracked = sumOf(samples, 'flowgauge_exporters');
    expect(tracked).toBeGreaterThanOrEqual(1);
    expect(tracked).toBeLessThanOrEqual(2);
    expect(tracked + sumOf(samples, 'flowgauge_exporters_expired_total')).toBe(4);
    const labelled = new Set(samples.filter((x) => x.name === 'flowgauge_records_total' && x.labels.exporter !== undefined).map((x) => x.labels.exporter));
    expect(labelled.size).toBe(tracked);
  });

  it('workers=2: many exporters at once add up to the sum of their oracles, and templates reach the state file', async () => {
    const d = await startTestDaemon({ ingest: { workers: 2 } });
    running.push(d);
    const files = ['softflowd-v9', 'pmacctd-nfprobe-v9-large', 'softflowd-ipfix', 'pmacctd-nfprobe-ipfix', 'softflowd-v5'];
    // Each file from 4 exporters: 20 source addresses that the kernel spreads over the workers.
    const lists: Uint8Array[][] = [];
    for (const f of files) for (let i = 0; i < 4; i++) lists.push(corpusDatagrams(`edge/${f}.pcap`).map((x) => x.payload));
    const total = lists.reduce((n, l) => n + l.length, 0);
    await sendFromExporters(d.udpPort, lists);
    await waitFor(() => datagramsSeen(d.pipeline) === total, 10_000, `${total} datagrams`);
    const samples = parseExposition(await scrape(d));
    const flows = files.reduce((n, f) => n + 4 * corpusOracle(`edge/${f}.json`).totals.flows, 0);
    const bytes = files.reduce((n, f) => n + 4 * corpusOracle(`edge/${f}.json`).totals.bytes, 0);
    expect(sumOf(samples, 'flow_exporter_flows_total')).toBe(flows);
    expect(sumOf(samples, 'flow_device_bytes_total')).toBe(bytes);
    expect(sumOf(samples, 'flow_peer_bytes_total')).toBe(bytes);
    expect(sumOf(samples, 'flowgauge_records_total')).toBe(flows);
    // Every record went through a worker's flow key cache, and the workers' counts are summed.
    expect(sumOf(samples, 'flowgauge_flow_key_cache_lookups_total')).toBe(flows);
    expect(sumOf(samples, 'flowgauge_flow_key_cache_lookups_total', { result: 'hit' })).toBeGreaterThan(0);
    // Templates learned in the workers are mirrored for /status and saved at shutdown.
    const exporter = d.pipeline.exporters.get('127.0.0.6');
    expect(exporter?.netflow?.templates().length).toBeGreaterThan(0);
    await d.stop('done');
    running = [];
    const restarted = await startTestDaemon({ ingest: { workers: 2 }, stateDir: d.stateDir });
    running.push(restarted);
    // Data-only datagrams of pmacctd (templates at 0, 18, 36) decode at once from the saved templates.
    const large = corpusDatagrams('edge/pmacctd-nfprobe-v9-large.pcap').map((x) => x.payload);
    await sendFromExporters(restarted.udpPort, [large.slice(1, 18)], 6);
    await waitFor(() => datagramsSeen(restarted.pipeline) === 17, 10_000, '17 datagrams');
    const e = restarted.pipeline.exporters.get('127.0.0.6');
    expect(e?.counters.templateMisses).toBe(0);
    expect(e?.counters.records).toBeGreaterThan(0);
  });

  it('spreads exporters over the workers, stops after counting the last batches', async () => {
    const config = defaultConfig();
    const pipeline = new FlowPipeline(config);
    const pool = new IngestWorkerPool({ config, pipeline, workers: 2, addresses: [{ host: '127.0.0.1', port: 0 }] });
    await pool.start();
    running.push({ stop: () => pool.stop() });
    const port = pool.listeners[0].boundPort;
    expect(port).toBeGreaterThan(0);
    const payloads = corpusDatagrams('edge/softflowd-v9.pcap').map((x) => x.payload);
    const lists = Array.from({ length: 16 }, () => payloads);
    await sendFromExporters(port, lists);
    await waitFor(() => pool.listeners[0].datagrams === 16 * payloads.length, 10_000, 'all datagrams');
    const perWorker = pool.workerDatagrams();
    expect(perWorker).toHaveLength(2);
    // 16 exporters hashed over 2 sockets: both take some (all on one has probability 2^-15).
    expect(Math.min(...perWorker)).toBeGreaterThan(0);
    await pool.stop();
    running = [];
    const flows = pipeline.rollups.stats().map((s) => s.totalFlows);
    expect(flows.every((f) => f === 16 * 44)).toBe(true);
  });

  it('keeps one exporter (one source address and port) on one worker, which holds all its templates', async () => {
    const config = defaultConfig();
    const pipeline = new FlowPipeline(config);
    const pool = new IngestWorkerPool({ config, pipeline, workers: 2, addresses: [{ host: '127.0.0.1', port: 0 }] });
    await pool.start();
    running.push({ stop: () => pool.stop() });
    // pmacctd sends its templates in datagrams 0, 18 and 36 only: data in between decodes only if
    // every datagram of the exporter reaches the worker that learned them.
    const payloads = corpusDatagrams('edge/pmacctd-nfprobe-v9-large.pcap').map((x) => x.payload);
    const rounds = 5;
    await sendFromExporters(pool.listeners[0].boundPort, [Array.from({ length: rounds }, () => payloads).flat()]);
    await waitFor(() => pool.listeners[0].datagrams === rounds * payloads.length, 10_000, 'all datagrams');
    expect([...pool.workerDatagrams()].sort((a, b) => a - b)).toEqual([0, rounds * payloads.length]);
    await pool.stop();
    running = [];
    const e = pipeline.exporters.get('127.0.0.2');
    expect(e?.counters.templateMisses).toBe(0);
    expect(e?.counters.records).toBe(rounds * corpusOracle('edge/pmacctd-nfprobe-v9-large.json').totals.flows);
  });

  it('refuses a port another process holds, instead of sharing its traffic', async () => {
    const holder = dgram.createSocket({ type: 'udp4', reusePort: true });
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    try {
      const port = holder.address().port;
      const config = defaultConfig();
      const pool = new IngestWorkerPool({ config, pipeline: new FlowPipeline(config), workers: 2, addresses: [{ host: '127.0.0.1', port }] });
      await expect(pool.start()).rejects.toThrow(/cannot listen on udp 127\.0\.0\.1:\d+/);
    } finally {
      holder.close();
    }
  });
});
