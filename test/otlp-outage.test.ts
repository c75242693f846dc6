/**
 * The OTLP receiver goes away and comes back: exports fail and are counted, nothing crashes,
 * what the push holds stays bounded, cumulative values are right after recovery, and delta mode
 * loses exactly what docs/otlp.md says (per-interval resolution during the outage; whatever is
 * still undelivered when the daemon stops).
 */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AggregationTemporality, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { defaultConfig } from '../src/config/defaults.js';
import { resolveOtlpSettings } from '../src/exporters/otlp/otlp-config.js';
import { DeliveryExporter, OtlpPusher } from '../src/exporters/otlp/otlp-pusher.js';
import { FlowPipeline } from '../src/pipeline.js';
import { replayInto } from '../src/replay.js';
import { corpusPath } from './helpers/corpus.js';
import {
  expectSameSeries,
  latestCumulative,
  makePusher,
  metricsSeries,
  otlpConfig,
  renderRollups,
  summedDeltas,
} from './helpers/otlp-compare.js';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver.js';

const [A, B, C] = ['edge/softflowd-v9.pcap', 'edge/pmacctd-nfprobe-ipfix.pcap', 'edge/softflowd-ipfix.pcap'].map((c) => corpusPath(c));

let receiver: OtlpReceiver;
const pushers: OtlpPusher[] = [];

beforeEach(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(async () => {
  receiver.mode = { kind: 'ok' };
  await Promise.all(pushers.splice(0).map((p) => p.stop()));
  await receiver.stop();
});

function setup(temporality: 'cumulative' | 'delta', extra = {}) {
  const config = defaultConfig();
  const pipeline = new FlowPipeline(config);
  // A short timeout: a refused or 503 export gives up before its first backoff (1 s) is due.
  const pusher = makePusher(
    () => pipeline.rollups.snapshot(),
    otlpConfig({ endpoint: receiver.url, temporality, timeoutMs: 300, ...extra }),
    config.rollups,
  );
  pushers.push(pusher);
  const budgetRows = config.rollups.reduce((n, r) => n + r.budget, 0);
  return { config, pipeline, pusher, budgetRows };
}

describe('receiver outage, cumulative', () => {
  it('503 for a while, then back: failures counted, state bounded, the first push after recovery equals /metrics', async () => {
    const { config, pipeline, pusher, budgetRows } = setup('cumulative');
    await replayInto(pipeline, [A]);
    await pusher.flush();
    expect(pusher.counts.success).toBe(1);

    receiver.mode = { kind: 'status', status: 503 };
    await replayInto(pipeline, [B]);
    await pusher.flush();
    const rowsBefore = pusher.producer.trackedRows();
    expect(rowsBefore).toBe(pipeline.rollups.stats().reduce((n, s) => n + s.seriesInUse, 0));
    for (let i = 1; i < 20; i++) await pusher.flush();
    expect(pusher.counts).toEqual({ success: 1, failure: 20, dropped: 0 });
    expect(receiver.rejected).toBe(20);
    // Failed exports leave nothing behind: one row of state per series, whatever the outage length.
    expect(pusher.producer.trackedRows()).toBe(rowsBefore);
    expect(pusher.producer.trackedRows()).toBeLessThanOrEqual(budgetRows);
    expect(pusher.producer.undelivered()).toEqual({ bytes: 0, packets: 0, flows: 0 });

    await replayInto(pipeline, [C]);
    receiver.mode = { kind: 'ok' };
    await pusher.flush();
    expect(pusher.counts.success).toBe(2);
    expect(receiver.requests).toHaveLength(2);
    const text = renderRollups(pipeline.rollups.snapshot());
    expectSameSeries(latestCumulative(receiver.requests[1].points), metricsSeries(text, config.rollups));
  });

  it('connections refused, then the receiver listens again: no crash, values correct after recovery', async () => {
    const { config, pipeline, pusher } = setup('cumulative');
    await replayInto(pipeline, [A]);
    await receiver.refuse();
    for (let i = 0; i < 5; i++) {
      await pusher.flush();
      await replayInto(pipeline, [i % 2 === 0 ? B : C]);
    }
    expect(pusher.counts).toEqual({ success: 0, failure: 5, dropped: 0 });
    await receiver.start();
    await pusher.flush();
    expect(pusher.counts.success).toBe(1);
    const text = renderRollups(pipeline.rollups.snapshot());
    expectSameSeries(latestCumulative(receiver.requests[0].points), metricsSeries(text, config.rollups));
  });

  it('retries within one export on 503 with Retry-After, and not on 500 (OTLP/HTTP spec)', async () => {
    const { pipeline, pusher } = setup('cumulative', { timeoutMs: 3_000 });
    await replayInto(pipeline, [A]);
    receiver.mode = { kind: 'status', status: 503, retryAfterSeconds: 1, times: 1 };
    await pusher.flush();
    expect(receiver.rejected).toBe(1);
    expect(receiver.requests).toHaveLength(1);
    expect(pusher.counts).toEqual({ success: 1, failure: 0, dropped: 0 });

    receiver.mode = { kind: 'status', status: 500, times: 1 };
    await pusher.flush();
    expect(receiver.rejected).toBe(2);
    expect(pusher.counts).toEqual({ success: 1, failure: 1, dropped: 0 });
    await pusher.flush();
    expect(pusher.counts).toEqual({ success: 2, failure: 1, dropped: 0 });
  });
});

describe('receiver outage, delta', () => {
  it('nothing counted is lost across an outage; the outage arrives as one wider delta per series', async () => {
    const { config, pipeline, pusher, budgetRows } = setup('delta');
    await replayInto(pipeline, [A]);
    await pusher.flush();
    const delivered = receiver.points.length;
    const firstEnd = receiver.points[0].timeUnixNano;

    receiver.mode = { kind: 'status', status: 503 };
    await replayInto(pipeline, [A]);
    await pusher.flush();
    await replayInto(pipeline, [B]);
    await pusher.flush();
    expect(pusher.counts.failure).toBe(2);
    expect(pusher.producer.trackedRows()).toBeLessThanOrEqual(budgetRows);
    const pending = pusher.producer.undelivered();
    expect(pending.flows).toBeGreaterThan(0);

    receiver.mode = { kind: 'ok' };
    await pusher.flush();
    expect(pusher.producer.undelivered()).toEqual({ bytes: 0, packets: 0, flows: 0 });
    const text = renderRollups(pipeline.rollups.snapshot());
    expectSameSeries(summedDeltas(receiver.points), metricsSeries(text, config.rollups));

    // What the outage costs: the two failed intervals are not separate points. A series counted in
    // both A replays has one point for the first interval and one spanning everything after it.
    const exporterFlows = receiver.points.filter((p) => p.metric === 'flow_exporter_flows' && p.attributes.source === 'netflow9');
    expect(exporterFlows).toHaveLength(2);
    expect(exporterFlows[1].startTimeUnixNano).toBe(firstEnd);
    expect(exporterFlows[1].value).toBe(exporterFlows[0].value);
    expect(receiver.points.length - delivered).toBeGreaterThan(0);
  });

  it('a stop while the receiver is down loses the undelivered deltas, and says how much', async () => {
    const { pipeline, budgetRows } = setup('delta');
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const pusher = new OtlpPusher({
      settings: resolveOtlpSettings(otlpConfig({ endpoint: receiver.url, temporality: 'delta', timeoutMs: 300 }), { env: {} }),
      snapshots: () => pipeline.rollups.snapshot(),
      largestBudget: budgetRows,
      logger,
      version: 'test',
    });
    pushers.push(pusher);
    await replayInto(pipeline, [A]);
    await pusher.flush();
    receiver.mode = { kind: 'status', status: 503 };
    await replayInto(pipeline, [B]);
    await pusher.stop();

    // The final export failed: B's counts never reached the receiver.
    const lost = pusher.producer.undelivered();
    const total = pipeline.rollups.snapshot().reduce((n, s) => n + s.totalFlows, 0);
    const delivered = receiver.points.filter((p) => p.metric.endsWith('_flows')).reduce((n, p) => n + p.value, 0);
    expect(lost.flows).toBe(total - delivered);
    expect(lost.flows).toBeGreaterThan(0);
    const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).includes('never acknowledged'));
    expect(warning).toMatchObject({ flows: lost.flows, bytes: lost.bytes, packets: lost.packets });
  });
});

describe('DeliveryExporter', () => {
  class SlowExporter implements PushMetricExporter {
    pending: Array<(r: ExportResult) => void> = [];
    export(_m: ResourceMetrics, cb: (r: ExportResult) => void): void {
      this.pending.push(cb);
    }
    async forceFlush(): Promise<void> {}
    async shutdown(): Promise<void> {}
  }
  const metrics = { resource: {}, scopeMetrics: [] } as unknown as ResourceMetrics;

  it('keeps one export in flight: one due meanwhile is dropped and counted; none are sent after shutdown', async () => {
    const inner = new SlowExporter();
    const delivered: ResourceMetrics[] = [];
    const exporter = new DeliveryExporter(inner, AggregationTemporality.CUMULATIVE, (m) => delivered.push(m), pino({ level: 'silent' }));
    const results: ExportResult[] = [];
    exporter.export(metrics, (r) => results.push(r));
    exporter.export(metrics, (r) => results.push(r));
    expect(inner.pending).toHaveLength(1);
    expect(results.map((r) => r.code)).toEqual([ExportResultCode.FAILED]);
    expect(exporter.counts).toEqual({ success: 0, failure: 0, dropped: 1 });
    inner.pending[0]({ code: ExportResultCode.SUCCESS });
    expect(exporter.counts).toEqual({ success: 1, failure: 0, dropped: 1 });
    expect(delivered).toHaveLength(1);

    await exporter.shutdown();
    exporter.export(metrics, (r) => results.push(r));
    expect(inner.pending).toHaveLength(1);
    expect(exporter.counts.dropped).toBe(2);
  });

  it('an exporter that throws counts as a failure and does not wedge the push', () => {
    let calls = 0;
    const throwing: PushMetricExporter = {
      export(_m, cb) {
        if (++calls === 1) throw new Error('serializer blew up');
        cb({ code: ExportResultCode.SUCCESS });
      },
      forceFlush: async () => {},
      shutdown: async () => {},
    };
    const exporter = new DeliveryExporter(throwing, AggregationTemporality.DELTA, () => {}, pino({ level: 'silent' }));
    const codes: ExportResultCode[] = [];
    exporter.export(metrics, (r) => codes.push(r.code));
    exporter.export(metrics, (r) => codes.push(r.code));
    expect(codes).toEqual([ExportResultCode.FAILED, ExportResultCode.SUCCESS]);
    expect(exporter.counts).toEqual({ success: 1, failure: 1, dropped: 0 });
  });
});
