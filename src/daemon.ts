/**
 * The daemon: UDP listeners and cloud flow-log pollers -> pipeline -> rollups, served over HTTP;
 * templates and poll checkpoints persisted in state_dir; graceful shutdown on SIGTERM/SIGINT (stop
 * listeners and pollers, save state, close HTTP).
 */
import type { Logger } from 'pino';
import type { FlowgaugeConfig } from './config/types.js';
import { HttpServer } from './exporters/http-server.js';
import { resolveOtlpSettings } from './exporters/otlp/otlp-config.js';
import { OtlpPusher } from './exporters/otlp/otlp-pusher.js';
import { createSelfMetrics } from './exporters/self-metrics.js';
import { loadWebConfig, WebAccess } from './exporters/web-config.js';
import { FlowPipeline } from './pipeline.js';
import { CloudFlowLogPoller } from './sources/cloud/cloud-flow-log-poller.js';
import { createFlowLogStore } from './sources/cloud/store-factory.js';
import { createIngestPool } from './sources/ingest-workers.js';
import { ExporterAllowlist, parseListenAddress, UdpListener } from './sources/udp-listener.js';
import { StateFile } from './state/state-file.js';
import { packageVersion } from './version.js';

/** How often changed templates are written to state_dir. */
const TEMPLATE_SAVE_INTERVAL_MS = 10_000;

export interface RunningDaemon {
  pipeline: FlowPipeline;
  listeners: UdpListener[];
  http: HttpServer | undefined;
  /** The OTLP push, when `otlp:` is configured and enabled. */
  otlp: OtlpPusher | undefined;
  /** One per `cloud_flow_logs` source. */
  cloudPollers: CloudFlowLogPoller[];
  /** Stops listeners, pushes a final OTLP export, saves state and closes HTTP; resolves when done. */
  stop(reason: string): Promise<void>;
}

/** Starts everything and returns a handle; used by runDaemon and by tests. */
export async function startDaemon(config: FlowgaugeConfig, logger: Logger): Promise<RunningDaemon> {
  const startedAtMs = Date.now();
  const version = packageVersion();
  const pipeline = new FlowPipeline(config);
  const templates = new StateFile<Record<string, unknown>>(config.stateDir, 'templates.json', 'flowgauge-templates');

  const loaded = await templates.load();
  if (loaded.corrupt) {
    logger.warn({ file: templates.file, movedTo: loaded.corrupt.movedTo, reason: loaded.corrupt.reason }, 'template state file was corrupt; set aside, starting without saved templates');
  }
  if (loaded.data) {
    const failed = pipeline.restoreTemplates(loaded.data, startedAtMs);
    logger.info({ exporters: Object.keys(loaded.data).length - failed.length, failed }, 'restored NetFlow/IPFIX templates');
  }

  // Built before anything binds: a store the SDK refuses (bad credentials setting) fails the start.
  const cloudLogger = logger.child({ component: 'cloud' });
  const cloudPollers = config.cloudFlowLogs.map(
    (source) =>
      new CloudFlowLogPoller({
        name: source.name,
        kind: source.format,
        store: createFlowLogStore(source.store),
        prefixes: source.prefixes,
        intervalMs: source.pollIntervalMs,
        lookbackMs: source.lookbackMs,
        decodeOptions: source.awsFormat === undefined ? {} : { awsFormat: source.awsFormat },
        deliver: (kind, text, receivedMs, options) => pipeline.handleCloudFlowLog(kind, text, receivedMs, options),
        stateDir: config.stateDir,
        logger: cloudLogger,
      }),
  );

  const allowlist = new ExporterAllowlist(config.exporterAllowlist);
  const addresses = [...config.listen.netflow, ...config.listen.sflow].map(parseListenAddress);
  // ingest.workers > 1: worker threads own SO_REUSEPORT sockets, decode and enrich; this thread
  // counts. The pool's listeners are views with the workers' counters summed.
  const pool = createIngestPool(config, pipeline, addresses, logger);
  const listeners: UdpListener[] = pool ? pool.listeners : [];
  const onDatagram = (msg: Buffer, from: string, nowMs: number): void => pipeline.handleDatagram(msg, from, nowMs);
  const onRejected = (): void => pipeline.countNotAllowed();
  for (const address of pool ? [] : addresses) {
    listeners.push(
      new UdpListener({
        address,
        receiveBufferBytes: config.netflow.receiveBufferBytes,
        allowlist,
        onDatagram,
        onRejected,
      }),
    );
  }

  // Resolved before anything binds, so a bad OTLP setting fails the start cleanly.
  const otlpSettings = config.otlp?.enabled ? resolveOtlpSettings(config.otlp, { version }) : undefined;
  let otlp: OtlpPusher | undefined;

  const selfMetrics = createSelfMetrics({
    pipeline,
    listeners: () => listeners,
    cloudPollers: () => cloudPollers,
    ...(otlpSettings ? { otlpExports: () => otlp?.counts } : {}),
  });
  let ready = false;
  let http: HttpServer | undefined;
  if (config.listen.http) {
    const { host, port } = parseListenAddress(config.listen.http);
    // Loaded before anything listens: a bad web config must stop the start, not leave HTTP open.
    const web = config.webConfigFile ? new WebAccess(await loadWebConfig(config.webConfigFile)) : undefined;
    if (web) {
      logger.info(
        { tls: web.config.tls !== undefined, clientAuth: web.config.tls?.clientAuth, basicAuthUsers: web.config.users.size, rateLimited: web.config.rateLimit !== undefined },
        'web config loaded',
      );
    }
    http = new HttpServer({
      web,
      onError: (err) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'error while serving an HTTP request'),
      host,
      port,
      pipeline,
      selfMetrics,
      listeners: () => listeners,
      cloudPollers: () => cloudPollers,
      ready: () => ready,
      version,
      startedAtMs,
    });
    await http.start();
    logger.info({ address: `${host}:${http.port}`, scheme: web?.config.tls ? 'https' : 'http' }, 'serving /metrics, /status, /healthz, /readyz');
  }

  try {
    if (pool) {
      await pool.start();
      logger.info({ workers: pool.workerCount }, 'ingest workers listening with SO_REUSEPORT');
    }
    for (const l of listeners) {
      if (!pool) await l.start();
      logger.info({ listener: l.label, receiveBufferBytes: l.receiveBufferBytes }, 'listening for flow exports');
      if (l.receiveBufferBytes < config.netflow.receiveBufferBytes) {
        logger.warn(
          { listener: l.label, requested: config.netflow.receiveBufferBytes, granted: l.receiveBufferBytes },
          'kernel granted a smaller UDP receive buffer than configured; raise net.core.rmem_max to avoid drops under bursts',
        );
      }
    }
  } catch (err) {
    await pool?.stop();
    await Promise.all(listeners.map((l) => l.stop()));
    await http?.stop();
    throw err;
  }
  ready = true;
  for (const poller of cloudPollers) {
    poller.start();
    cloudLogger.info({ source: poller.name, format: poller.kind, location: poller.location }, 'polling cloud flow logs');
  }
  if (otlpSettings) {
    otlp = new OtlpPusher({
      settings: otlpSettings,
      snapshots: () => pipeline.rollups.snapshot(),
      measures: (rollups) => pipeline.measureSnapshots(rollups),
      interfaces: () => pipeline.interfaces.snapshot(),
      largestBudget: Math.max(0, ...config.rollups.map((r) => r.budget)),
      logger: logger.child({ component: 'otlp' }),
      version,
      startTimeMs: startedAtMs,
    });
  }

  let savedGeneration = pipeline.templateGeneration;
  const saveTemplates = async (): Promise<void> => {
    if (pipeline.templateGeneration === savedGeneration) return;
    const generation = pipeline.templateGeneration;
    try {
      await templates.save(pipeline.saveTemplates());
      savedGeneration = generation;
    } catch (err) {
      logger.error({ err: (err as Error).message, file: templates.file }, 'cannot save template state');
    }
  };
  const timer = setInterval(() => void saveTemplates(), TEMPLATE_SAVE_INTERVAL_MS);
  timer.unref();

  let stopping: Promise<void> | undefined;
  return {
    pipeline,
    listeners,
    http,
    otlp,
    cloudPollers,
    stop(reason: string) {
      stopping ??= (async () => {
        logger.info({ reason }, 'shutting down');
        ready = false;
        clearInterval(timer);
        // The workers' last batches are counted before the final push and the state file.
        await pool?.stop();
        await Promise.all(listeners.map((l) => l.stop()));
        // A poll in progress is cut short; each checkpoint keeps what was counted.
        await Promise.all(cloudPollers.map((p) => p.stop()));
        // Final push after the last datagram and before HTTP closes; bounded by the OTLP timeout.
        await otlp?.stop();
        await saveTemplates();
        await http?.stop();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}

/** Runs until SIGTERM or SIGINT; resolves with the exit code. */
export async function runDaemon(config: FlowgaugeConfig, logger: Logger): Promise<number> {
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(config, logger);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot start');
    return 2;
  }
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      daemon.stop(signal).then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err: (err as Error).message }, 'error during shutdown');
          resolve(2);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // Logged only once the handlers are in place: a supervisor that signals as soon as it sees
    // this line must get a graceful stop, not the default kill.
    logger.info({ version: packageVersion() }, 'flowgauge started');
  });
}
