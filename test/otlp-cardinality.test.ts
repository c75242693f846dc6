/**
 * More series than the OTel SDK's default cardinality limit (2000 per metric): a rollup with a
 * budget of 5000 and 3500 distinct keys is pushed whole, with no `otel.metric.overflow` point.
 * A control shows what the SDK does at its default limit, so the absence means something.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  AggregationTemporality,
} from '@opentelemetry/sdk-metrics';
import type { RollupDefinition } from '../src/config/types.js';
import type { OtlpPusher } from '../src/exporters/otlp/otlp-pusher.js';
import { RollupEngine } from '../src/rollup/rollup-engine.js';
import { createFlowLabels } from '../src/rollup/types.js';
import { expectSameSeries, latestCumulative, makePusher, metricsSeries, otlpConfig, renderRollups, summedDeltas } from './helpers/otlp-compare.js';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver.js';

const OVERFLOW_ATTRIBUTE = 'otel.metric.overflow';
const KEYS = 3500;
const ROLLUPS: RollupDefinition[] = [{ name: 'flow_wide', labels: ['device', 'peer'], budget: 5000 }];

let receiver: OtlpReceiver;
let pusher: OtlpPusher | undefined;
beforeEach(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(async () => {
  await pusher?.stop();
  pusher = undefined;
  await receiver.stop();
});

function wideEngine(): RollupEngine {
  const engine = new RollupEngine(ROLLUPS);
  const labels = createFlowLabels();
  labels.device = 'gateway';
  for (let i = 0; i < KEYS; i++) {
    labels.peer = `198.51.${i >> 8}.${i & 255}`;
    engine.add(labels, 100 + i, 1 + (i % 7), 1);
  }
  const stats = engine.stats()[0];
  expect(stats.seriesInUse).toBe(KEYS);
  expect(stats.foldedRecords).toBe(0);
  return engine;
}

describe('more series than the SDK default limit of 2000', () => {
  for (const temporality of ['cumulative', 'delta'] as const) {
    it(`${temporality}: all ${KEYS} series of each counter arrive, none folded into ${OVERFLOW_ATTRIBUTE}`, async () => {
      const engine = wideEngine();
      pusher = makePusher(() => engine.snapshot(), otlpConfig({ endpoint: receiver.url, temporality }), ROLLUPS);
      await pusher.flush();
      const points = receiver.points;
      expect(points.filter((p) => OVERFLOW_ATTRIBUTE in p.attributes)).toEqual([]);
      for (const metric of ['flow_wide_bytes', 'flow_wide_packets', 'flow_wide_flows']) {
        expect(points.filter((p) => p.metric === metric)).toHaveLength(KEYS);
      }
      const pushed = temporality === 'cumulative' ? latestCumulative(points) : summedDeltas(points);
      expectSameSeries(pushed, metricsSeries(renderRollups(engine.snapshot()), ROLLUPS));
    });
  }

  it('control: an SDK instrument at the default limit does fold series into the overflow attribute', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const counter = provider.getMeter('control').createObservableCounter('control_series');
    counter.addCallback((result) => {
      for (let i = 0; i < KEYS; i++) result.observe(1, { peer: String(i) });
    });
    await provider.forceFlush();
    const points = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((s) => s.metrics.flatMap((m) => m.dataPoints)));
    expect(points.length).toBeLessThan(KEYS);
    expect(points.some((p) => p.attributes[OVERFLOW_ATTRIBUTE] === true)).toBe(true);
    await provider.shutdown();
  });
});
