/**
 * OTLP/HTTP push of the rollups: the OTel SDK's periodic reader collects from the
 * RollupMetricProducer and hands the data to the OTLP exporter (protobuf or JSON) through a
 * DeliveryExporter that counts outcomes and tells the producer what was delivered.
 *
 * Delivery, bounded in time and memory:
 * - the OTLP exporter retries each export on 429, 502, 503, 504 and network errors with
 *   exponential backoff (1 s, x1.5, up to 5 s, jittered, honouring Retry-After), within the
 *   export timeout;
 * - at most one request is in flight; an export due while one is still running is dropped
 *   (counted), and its data rides with the next export: cumulative points supersede, delta points
 *   cover everything not yet delivered;
 * - nothing else is held: cumulative needs no history, delta keeps one baseline per series, so
 *   memory is bounded by the rollup budgets however long the receiver is down.
 */
import type { Logger } from 'pino';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  AggregationTemporalityPreference,
  OTLPMetricExporter as JsonMetricExporter,
} from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtobufMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
  type InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { InterfaceCountersSnapshot } from '../../rollup/interface-counters.js';
import type { MeasureSnapshots } from '../../rollup/measure-snapshot.js';
import type { RollupSnapshot } from '../../rollup/snapshot.js';
import { describeOtlpSettings, type OtlpSettings } from './otlp-config.js';
import { RollupMetricProducer } from './rollup-metric-producer.js';

/** Export requests by outcome (each request carries one batch of points). */
export interface OtlpExportCounts {
  success: number;
  failure: number;
  /** Exports not sent: one was still in flight, or the push was stopping. */
  dropped: number;
}

/** Longest error text kept from a receiver's response body. */
const MAX_ERROR_TEXT = 300;

/**
 * Wraps the OTLP exporter: one request in flight at a time, outcome counts, delivery
 * acknowledgements for the producer, and failure logs that do not repeat every interval.
 */
export class DeliveryExporter implements PushMetricExporter {
  readonly counts: OtlpExportCounts = { success: 0, failure: 0, dropped: 0 };
  private inFlight = false;
  private stopped = false;
  private consecutiveFailures = 0;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly temporality: AggregationTemporality,
    private readonly onDelivered: (metrics: ResourceMetrics) => void,
    private readonly logger: Logger,
  ) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    if (this.stopped || this.inFlight) {
      this.counts.dropped++;
      const why = this.stopped ? 'the OTLP push is stopped' : 'the previous OTLP export is still in flight';
      this.logger.debug(why + '; export dropped, its data goes with the next one');
      resultCallback({ code: ExportResultCode.FAILED, error: new Error(why) });
      return;
    }
    this.inFlight = true;
    try {
      this.inner.export(metrics, (result) => this.finish(metrics, result, resultCallback));
    } catch (err) {
      // An exporter that throws instead of calling back must not leave the push wedged in flight.
      this.finish(metrics, { code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) }, resultCallback);
    }
  }

  private finish(metrics: ResourceMetrics, result: ExportResult, resultCallback: (result: ExportResult) => void): void {
    this.inFlight = false;
    if (result.code === ExportResultCode.SUCCESS) {
      this.counts.success++;
      if (this.consecutiveFailures > 0) {
        this.logger.info({ failedExports: this.consecutiveFailures }, 'OTLP export recovered');
        this.consecutiveFailures = 0;
      }
      this.onDelivered(metrics);
    } else {
      this.counts.failure++;
      const detail = describeExportError(result.error);
      // The first failure of a run is a warning; repeats stay at debug so an outage does not
      // write a line per interval.
      if (this.consecutiveFailures === 0) this.logger.warn(detail, 'OTLP export failed; retrying every interval');
      else this.logger.debug({ ...detail, consecutiveFailures: this.consecutiveFailures + 1 }, 'OTLP export failed again');
      this.consecutiveFailures++;
    }
    resultCallback(result);
  }

  selectAggregationTemporality(_instrumentType: InstrumentType): AggregationTemporality {
    return this.temporality;
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    await this.inner.shutdown();
  }
}

function describeExportError(error: Error | undefined): Record<string, unknown> {
  if (error === undefined) return { err: 'unknown error' };
  const out: Record<string, unknown> = { err: error.message || error.name };
  const e = error as Error & { code?: unknown; data?: unknown };
  if (typeof e.code === 'number' || typeof e.code === 'string') out.code = e.code;
  if (typeof e.data === 'string' && e.data !== '') out.response = e.data.slice(0, MAX_ERROR_TEXT);
  return out;
}

export interface OtlpPusherOptions {
  settings: OtlpSettings;
  /** Current rollup snapshots (the same call /metrics makes). */
  snapshots: () => readonly RollupSnapshot[];
  /** Histograms, gauges and info series beside those snapshots (the same call /metrics makes). */
  measures?: (rollups: readonly RollupSnapshot[]) => MeasureSnapshots;
  /** Interface metrics from sFlow counter samples (the same call /metrics makes). */
  interfaces?: () => InterfaceCountersSnapshot;
  /** Largest series count of any one metric (the largest rollup budget). */
  largestBudget: number;
  logger: Logger;
  version: string;
  /** Start time of the counters (ms since epoch); default now. */
  startTimeMs?: number;
  /** Exporter to use instead of OTLP/HTTP (tests). */
  exporter?: PushMetricExporter;
}

/** The SDK's default per-metric cardinality limit, kept as a floor. */
const SDK_DEFAULT_CARDINALITY_LIMIT = 2000;

export class OtlpPusher {
  readonly settings: OtlpSettings;
  readonly producer: RollupMetricProducer;
  readonly exporter: DeliveryExporter;
  private readonly provider: MeterProvider;
  private readonly logger: Logger;
  private stopping: Promise<void> | undefined;

  constructor(options: OtlpPusherOptions) {
    const s = options.settings;
    this.settings = s;
    this.logger = options.logger;
    this.producer = new RollupMetricProducer({
      snapshots: options.snapshots,
      measures: options.measures,
      interfaces: options.interfaces,
      temporality: s.temporality,
      scope: { name: 'flowgauge', version: options.version },
      startTimeMs: options.startTimeMs,
    });
    const temporality = s.temporality === 'delta' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
    const inner = options.exporter ?? createOtlpHttpExporter(s);
    this.exporter = new DeliveryExporter(inner, temporality, (m) => this.producer.acknowledge(m), options.logger);
    const limit = Math.max(SDK_DEFAULT_CARDINALITY_LIMIT, options.largestBudget);
    const reader = new PeriodicExportingMetricReader({
      exporter: this.exporter,
      exportIntervalMillis: s.intervalMs,
      // The exporter's own timeout bounds each request and its retries; the reader's is a backstop.
      exportTimeoutMillis: s.intervalMs,
      metricProducers: [this.producer],
      // The rollup points come from the producer and never pass through SDK aggregation; the limit
      // is raised anyway so that no instrument on this provider can fold a rollup-sized stream
      // into otel.metric.overflow.
      cardinalityLimits: { default: limit },
      ...(s.maxExportBatchSize !== undefined ? { maxExportBatchSize: s.maxExportBatchSize } : {}),
    });
    // Constructing the provider binds the reader, which starts its interval timer (unref'd).
    this.provider = new MeterProvider({ resource: resourceFromAttributes(s.resourceAttributes), readers: [reader] });
    this.logger.info(describeOtlpSettings(s), 'pushing metrics over OTLP/HTTP');
  }

  get counts(): OtlpExportCounts {
    return this.exporter.counts;
  }

  /** Collects and exports now; resolves when the export has finished (either way). */
  async flush(): Promise<void> {
    await this.provider.forceFlush();
  }

  /** Final export, then stop; bounded by the export timeout. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.provider.shutdown({ timeoutMillis: this.settings.timeoutMs + 1000 });
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'final OTLP export did not finish');
      }
      const lost = this.producer.undelivered();
      if (lost.flows > 0) {
        this.logger.warn(lost, 'stopping with delta counts the OTLP receiver never acknowledged; they are lost');
      }
    })();
    return this.stopping;
  }
}

function createOtlpHttpExporter(s: OtlpSettings): PushMetricExporter {
  const config = {
    url: s.url,
    headers: { ...s.headers },
    timeoutMillis: s.timeoutMs,
    compression: s.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    // One request at a time: the DeliveryExporter never has more in flight.
    concurrencyLimit: 1,
    httpAgentOptions: {
      keepAlive: true,
      ca: s.tls.ca,
      cert: s.tls.cert,
      key: s.tls.key,
      rejectUnauthorized: s.tls.rejectUnauthorized,
    },
    temporalityPreference:
      s.temporality === 'delta' ? AggregationTemporalityPreference.DELTA : AggregationTemporalityPreference.CUMULATIVE,
  };
  return s.protocol === 'http/json' ? new JsonMetricExporter(config) : new ProtobufMetricExporter(config);
}
