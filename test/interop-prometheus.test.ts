/**
 * A real Prometheus server scrapes the daemon. Prometheus asks for OpenMetrics first, so this is the
 * check of the OpenMetrics output by Prometheus' own strict parser (promtool only lints the 0.0.4
 * text): the target must be up with no scrape error, and PromQL must return the daemon's numbers.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { corpusDatagrams } from './helpers/corpus.js';
import { sendDatagrams, startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import {
  datagramsSeenBy,
  freeTcpPort,
  PeerSet,
  skipWithoutTools,
  TEST_LOCAL_NETWORKS,
  type PeerProcess,
} from './helpers/peers.js';

const skip = skipWithoutTools('prometheus');
let peers = new PeerSet();

afterEach(async () => {
  await peers.cleanup();
  peers = new PeerSet();
});

/** Forwards scrapes to the daemon and remembers what was asked for and what came back. */
async function startScrapeRecorder(targetPort: number): Promise<{ port: number; accepts: string[]; contentTypes: string[] }> {
  const accepts: string[] = [];
  const contentTypes: string[] = [];
  const server = http.createServer((req, res) => {
    accepts.push(req.headers.accept ?? '');
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        contentTypes.push(up.headers['content-type'] ?? '');
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  peers.onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, accepts, contentTypes };
}

async function startPrometheus(targetPort: number): Promise<{ url: string; process: PeerProcess }> {
  const work = peers.tempDir('prometheus');
  const config = path.join(work, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: flowgauge',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${targetPort}']`,
      '',
    ].join('\n'),
  );
  for (let attempt = 1; ; attempt++) {
    const port = await freeTcpPort();
    const proc = peers.spawn('prometheus', [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(work, `data-${attempt}`)}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ]);
    const url = `http://127.0.0.1:${port}`;
    let ready = false;
    const deadline = Date.now() + 20_000;
    while (proc.running && Date.now() < deadline && !ready) {
      ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    if (ready) return { url, process: proc };
    await proc.stop('SIGKILL');
    // The port may have been taken between freeTcpPort() and the bind: try another one.
    if (attempt >= 3) throw new Error(`prometheus did not become ready:\n${proc.output}`);
  }
}

async function query(url: string, promql: string): Promise<number> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
  expect(body.status).toBe('success');
  expect(body.data.result.length, promql).toBe(1);
  return Number(body.data.result[0].value[1]);
}

interface TargetsBody {
  data: { activeTargets: { health: string; lastError: string; lastScrape: string }[] };
}

describe('Prometheus server scraping the daemon', () => {
  it.skipIf(skip)('parses the OpenMetrics exposition without error and sees the same totals', async () => {
    const daemon = await startTestDaemon({ localNetworks: TEST_LOCAL_NETWORKS, stateDir: peers.tempDir('state') });
    peers.onCleanup(() => daemon.stop('test done'));
    const payloads = [
      ...corpusDatagrams('edge/softflowd-ipfix.pcap').map((d) => d.payload),
      ...corpusDatagrams('edge/pmacctd-sfprobe-rate1.pcap').map((d) => d.payload),
    ];
    await sendDatagrams(daemon.udpPort, payloads);
    await waitFor(() => datagramsSeenBy(daemon) === payloads.length, 10_000, `${payloads.length} datagrams`);
    const own = parseExposition(await (await fetch(`${daemon.httpUrl}/metrics`)).text());

    const recorder = await startScrapeRecorder(Number(new URL(daemon.httpUrl).port));
    const prometheus = await startPrometheus(recorder.port);

    let targets: TargetsBody['data']['activeTargets'] = [];
    async function refresh(): Promise<void> {
      try {
        targets = ((await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as TargetsBody).data.activeTargets;
      } catch {
        // not answering yet: the next poll retries
      }
    }
    // waitFor polls synchronously; refresh the target list in the background while it waits.
    void refresh();
    const poller = setInterval(() => void refresh(), 200);
    try {
      await waitFor(() => targets.length === 1 && targets[0].health !== 'unknown', 20_000, 'the first scrape');
    } finally {
      clearInterval(poller);
    }
    expect(recorder.contentTypes[0]).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(targets[0]).toMatchObject({ health: 'up', lastError: '' });

    for (const family of ['flow_exporter', 'flow_device', 'flow_app', 'flow_peer']) {
      for (const unit of ['bytes', 'packets', 'flows']) {
        const name = `${family}_${unit}_total`;
        expect(await query(prometheus.url, `sum(${name})`), name).toBe(sumOf(own, name));
      }
    }
    const peerSeries = own.filter((s) => s.name === 'flow_peer_bytes_total').length;
    expect(await query(prometheus.url, 'count(flow_peer_bytes_total)')).toBe(peerSeries);
  });
});
