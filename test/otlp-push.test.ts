/**
 * OTLP push against a loopback OTLP/HTTP receiver: after replaying corpus captures, the pushed
 * points equal /metrics for every rollup series, in protobuf and JSON, cumulative and delta; names,
 * units, descriptions, resource and headers are what docs/otlp.md says; the daemon pushes on its
 * interval, counts exports in its self-metrics and pushes a final export when it stops.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults.js';
import type { FlowgaugeConfig } from '../src/config/types.js';
import { FlowPipeline } from '../src/pipeline.js';
import { replayInto } from '../src/replay.js';
import type { OtlpPusher } from '../src/exporters/otlp/otlp-pusher.js';
import { corpusDatagrams, corpusPath } from './helpers/corpus.js';
import { sendDatagrams, startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import {
  TEST_HOST,
  TEST_VERSION,
  expectNamesMapBothWays,
  expectSameSeries,
  helpTexts,
  latestCumulative,
  makePusher,
  metricsSeries,
  otlpConfig,
  renderRollups,
  summedDeltas,
} from './helpers/otlp-compare.js';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver.js';

const CAPTURES = ['edge/softflowd-v9.pcap', 'edge/pmacctd-nfprobe-ipfix.pcap', 'edge/pmacctd-sfprobe-rate10.pcap'];

let receiver: OtlpReceiver;
const pushers: OtlpPusher[] = [];

beforeEach(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(async () => {
  await Promise.all(pushers.splice(0).map((p) => p.stop()));
  await receiver.stop();
});

function setup(protocol: 'http/protobuf' | 'http/json', temporality: 'cumulative' | 'delta', extra = {}): { config: FlowgaugeConfig; pipeline: FlowPipeline; pusher: OtlpPusher } {
  const config = defaultConfig();
  const pipeline = new FlowPipeline(config);
  const pusher = makePusher(
    () => pipeline.rollups.snapshot(),
    otlpConfig({ endpoint: receiver.url, protocol, temporality, ...extra }),
    config.rollups,
    {},
    (rollups) => pipeline.measureSnapshots(rollups),
  );
  pushers.push(pusher);
  return { config, pipeline, pusher };
}

/** What /metrics shows of the pushed families right now: series key -> value. */
function expected(pipeline: FlowPipeline, config: FlowgaugeConfig): Map<string, number> {
  const snapshots = pipeline.rollups.snapshot();
  const measures = pipeline.measureSnapshots(snapshots);
  return metricsSeries(renderRollups(snapshots, measures), config.rollups, measures);
}

describe('OTLP push equals /metrics after a corpus replay', () => {
  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    it(`${protocol}, cumulative: the last push equals /metrics for every series`, async () => {
      const { config, pipeline, pusher } = setup(protocol, 'cumulative');
      // Pushes between captures: only the latest cumulative value of each series may count.
      for (const capture of CAPTURES) {
        await replayInto(pipeline, [corpusPath(capture)]);
        await pusher.flush();
      }
      expect(receiver.requests).toHaveLength(CAPTURES.length);
      const last = receiver.requests.at(-1)!;
      expectSameSeries(latestCumulative(last.points), expected(pipeline, config));
      expect(new Set(last.points.map((p) => p.kind))).toEqual(new Set(['sum', 'histogram', 'gauge']));
      expectNamesMapBothWays(last.points, config.rollups);
      expect(pusher.counts).toEqual({ success: CAPTURES.length, failure: 0, dropped: 0 });
      // Cumulative start times never move for a series that is still there.
      const firstStart = new Map(receiver.requests[0].points.map((p) => [p.metric + JSON.stringify(p.attributes), p.startTimeUnixNano]));
      for (const p of last.points) {
        if (p.kind === 'gauge') continue;
        const start = firstStart.get(p.metric + JSON.stringify(p.attributes));
        if (start !== undefined) expect(p.startTimeUnixNano).toBe(start);
        expect(p.startTimeUnixNano <= p.timeUnixNano).toBe(true);
      }
    });

    it(`${protocol}, delta: the sum of the pushed deltas equals /metrics for every series`, async () => {
      const { config, pipeline, pusher } = setup(protocol, 'delta');
      for (const capture of CAPTURES) {
        await replayInto(pipeline, [corpusPath(capture)]);
        await pusher.flush();
      }
      // Nothing new: unchanged series have no delta point; only gauges and info series go again.
      await pusher.flush();
      expect(receiver.requests).toHaveLength(CAPTURES.length + 1);
      expect(new Set(receiver.requests.at(-1)!.points.map((p) => p.kind))).toEqual(new Set(['gauge']));
      expectSameSeries(summedDeltas(receiver.points), expected(pipeline, config));
      // Each delta starts where the previous one of its series ended: no gap, no overlap.
      const lastEnd = new Map<string, bigint>();
      for (const p of receiver.points) {
        if (p.kind === 'gauge') continue;
        const key = p.metric + JSON.stringify(p.attributes);
        const prev = lastEnd.get(key);
        if (prev !== undefined) expect(p.startTimeUnixNano).toBe(prev);
        expect(p.startTimeUnixNano < p.timeUnixNano).toBe(true);
        lastEnd.set(key, p.timeUnixNano);
      }
      expect(pusher.producer.undelivered()).toEqual({ bytes: 0, packets: 0, flows: 0 });
    });
  }

  it('names, units, descriptions, resource, scope, headers and encoding are as documented', async () => {
    const { config, pipeline, pusher } = setup('http/protobuf', 'cumulative', {
      headers: { 'X-Api-Key': 'test-key-123' },
      resourceAttributes: { 'deployment.environment': 'lab', rack: 7 },
    });
    await replayInto(pipeline, [corpusPath(CAPTURES[0])]);
    await pusher.flush();
    const req = receiver.requests[0];
    expect(req.contentType).toBe('application/x-protobuf');
    expect(req.contentEncoding).toBe('gzip');
    expect(req.headers['x-api-key']).toBe('test-key-123');
    expect(req.resource).toMatchObject({
      'service.name': 'flowgauge',
      'service.version': TEST_VERSION,
      'service.instance.id': TEST_HOST,
      'host.name': TEST_HOST,
      'deployment.environment': 'lab',
      rack: 7,
    });
    expect(req.scopes).toEqual([{ name: 'flowgauge', version: TEST_VERSION }]);
    const snapshots = pipeline.rollups.snapshot();
    const help = helpTexts(renderRollups(snapshots, pipeline.measureSnapshots(snapshots)));
    const units: Record<string, string> = { bytes: 'By', packets: '{packet}', flows: '{flow}' };
    const counters = new Set<string>();
    for (const p of req.points) {
      if (p.kind === 'sum') {
        counters.add(p.metric);
        expect(p.isMonotonic).toBe(true);
        const what = /_(bytes|packets|flows)$/.exec(p.metric)![1];
        expect(p.unit).toBe(units[what]);
        expect(p.description).toBe(help.get(`${p.metric}_total`));
        expect(Number.isInteger(p.value)).toBe(true);
      } else if (p.kind === 'histogram') {
        expect(p.metric).toMatch(/_seconds$/);
        expect(p.unit).toBe('s');
        expect(p.description).toBe(help.get(p.metric));
        expect(p.bucketCounts).toHaveLength(p.explicitBounds!.length + 1);
      } else {
        expect(p.description).toBe(help.get(p.metric));
        if (p.metric.endsWith('_info')) expect(p.value).toBe(1);
      }
    }
    expect([...counters].sort()).toEqual(config.rollups.flatMap((r) => [`${r.name}_bytes`, `${r.name}_flows`, `${r.name}_packets`]).sort());
  });

  it('http/json without compression sends plain JSON with the same numbers', async () => {
    const { config, pipeline, pusher } = setup('http/json', 'cumulative', { compression: 'none' });
    await replayInto(pipeline, [corpusPath(CAPTURES[1])]);
    await pusher.flush();
    const req = receiver.requests[0];
    expect(req.contentType).toMatch(/^application\/json/);
    expect(req.contentEncoding).toBeUndefined();
    expectSameSeries(latestCumulative(req.points), expected(pipeline, config));
  });

  it('a large export split by max_export_batch_size arrives whole, in several requests', async () => {
    const { config, pipeline, pusher } = setup('http/protobuf', 'delta', { maxExportBatchSize: 25 });
    await replayInto(pipeline, CAPTURES.map((c) => corpusPath(c)));
    await pusher.flush();
    expect(receiver.requests.length).toBeGreaterThan(2);
    for (const r of receiver.requests) expect(r.points.length).toBeLessThanOrEqual(25);
    expectSameSeries(summedDeltas(receiver.points), expected(pipeline, config));
  });
});

describe('the daemon pushes over OTLP', () => {
  async function sendCapture(daemon: Awaited<ReturnType<typeof startTestDaemon>>): Promise<void> {
    const datagrams = corpusDatagrams('edge/softflowd-v9.pcap').map((d) => d.payload);
    await sendDatagrams(daemon.udpPort, datagrams);
    const seen = (): number => {
      let n = 0;
      for (const e of daemon.pipeline.exporters.values()) for (const c of e.datagramsByProtocol.values()) n += c;
      return n;
    };
    await waitFor(() => seen() === datagrams.length, 10_000, 'datagrams decoded');
  }

  it('on its interval, and counts the exports in its self-metrics', async () => {
    const daemon = await startTestDaemon({ otlp: otlpConfig({ endpoint: receiver.url, intervalMs: 300, timeoutMs: 250 }) });
    try {
      await sendCapture(daemon);
      await waitFor(() => receiver.requests.length >= 2, 10_000, 'periodic OTLP exports');
      const samples = parseExposition(await (await fetch(`${daemon.httpUrl}/metrics`)).text());
      expect(sumOf(samples, 'flowgauge_otlp_exports_total', { result: 'success' })).toBeGreaterThanOrEqual(2);
      expect(sumOf(samples, 'flowgauge_otlp_exports_total', { result: 'failure' })).toBe(0);
      expect(sumOf(samples, 'flowgauge_otlp_exports_total', { result: 'dropped' })).toBe(0);
    } finally {
      await daemon.stop('test');
    }
  });

  it('pushes a final export on stop that equals the last /metrics', async () => {
    // The interval never comes round in this test: the only push is the one stop() makes.
    const daemon = await startTestDaemon({ otlp: otlpConfig({ endpoint: receiver.url }) });
    let stopped = false;
    try {
      await sendCapture(daemon);
      const scrape = await (await fetch(`${daemon.httpUrl}/metrics`)).text();
      const measures = daemon.pipeline.measureSnapshots(daemon.pipeline.rollups.snapshot());
      expect(receiver.requests).toHaveLength(0);
      await daemon.stop('test');
      stopped = true;
      expect(receiver.requests).toHaveLength(1);
      const rollups = daemon.pipeline.rollups.families().map((f) => f.definition);
      expectSameSeries(latestCumulative(receiver.requests[0].points), metricsSeries(scrape, rollups, measures));
    } finally {
      if (!stopped) await daemon.stop('test');
    }
  });

  it('a start with an unusable OTLP setting fails before anything listens', async () => {
    await expect(
      startTestDaemon({ otlp: otlpConfig({ endpoint: receiver.url, tls: { caFile: 'missing-dir/ca.pem' } }) }),
    ).rejects.toThrow(/otlp\.tls\.ca_file: cannot read missing-dir\/ca\.pem/);
  });
});
