/**
 * Multi-core ingest (config `ingest.workers` > 1): N worker threads, each with its own
 * SO_REUSEPORT socket on every NetFlow/sFlow listen address, decode and enrich; the main thread
 * counts their records into the one set of rollups and bounded families (so every budget stays
 * global and the cardinality contract holds exactly as with one thread), and mirrors what the
 * workers know of each exporter (counters, templates) into the main pipeline, so /metrics,
 * /status and the template state file read the same objects as in single-thread mode.
 *
 * The kernel hashes each datagram's source address and port to one socket of the group, so an
 * exporter keeps its worker (and its templates) as long as it sends from one port.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { FlowgaugeConfig } from '../config/types.js';
import type { DecodeErrorReason } from '../decoders/types.js';
import { ExporterEntry, type ExportProtocol, type FlowPipeline, type KeyCacheCounts, type LimitCounts } from '../pipeline.js';
import { flowKeyCacheSize } from '../flow-key-cache.js';
import { EnrichedBatchReader } from './enriched-batch.js';
import type { ExporterReport, IngestWorkerData, ListenerReport, MainToWorker, WorkerToMain } from './ingest-messages.js';
import { ExporterAllowlist, UdpListener, type ListenAddress } from './udp-listener.js';

export interface IngestWorkerPoolOptions {
  config: FlowgaugeConfig;
  /** The main pipeline: it counts the workers' records and holds the merged exporter view. */
  pipeline: FlowPipeline;
  workers: number;
  addresses: ListenAddress[];
  logger?: Logger;
  /** Records per batch (default 1024). */
  batchRecords?: number;
  /** A worker posts what it has at least this often (default 20 ms). */
  flushIntervalMs?: number;
  /** Batches a worker may have waiting for the main thread (default 8). */
  maxInFlight?: number;
}

/** Upper bound on ingest.workers. */
export const MAX_INGEST_WORKERS = 64;

interface WorkerSlot {
  index: number;
  worker: Worker;
  reader: EnrichedBatchReader;
  exporters: Map<string, ExporterReport>;
  listeners: ListenerReport[];
  drops: { notAllowed: number; exporterLimit: number; decodeFailed: number };
  limits: LimitCounts | undefined;
  keyCache: KeyCacheCounts;
  exportersExpired: number;
  stopped: Promise<void>;
  exited: boolean;
}

/**
 * The worker script next to this module: ingest-worker.js when compiled, ingest-worker.ts when the
 * sources run through a TypeScript loader (tests, benchmarks), in which case the worker gets tsx.
 */
function workerScript(): { url: URL; execArgv: string[] | undefined } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const hasLoader = process.execArgv.some((a) => a.includes('tsx'));
    return { url: new URL('./ingest-worker.ts', here), execArgv: hasLoader ? undefined : [...process.execArgv, '--import', 'tsx'] };
  }
  return { url: new URL('./ingest-worker.js', here), execArgv: undefined };
}

/**
 * Refuses a port that another process already shares with SO_REUSEPORT: joining its group would
 * silently split the traffic between two collectors. A plain bind fails on any port in use.
 */
async function checkPortFree(address: ListenAddress): Promise<void> {
  if (address.port === 0) return;
  const socket = dgram.createSocket({ type: isIP(address.host) === 6 ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(new Error(`cannot listen on udp ${address.host}:${address.port}: ${err.message}`));
    });
    socket.bind(address.port, address.host, () => socket.close(() => resolve()));
  });
}

export class IngestWorkerPool {
  /** One view per listen address with the counters summed over the workers (for metrics and /status). */
  readonly listeners: UdpListener[];
  private readonly options: IngestWorkerPoolOptions;
  private readonly slots: WorkerSlot[] = [];
  private readonly inFlight: SharedArrayBuffer;
  private readonly inFlightCounts: Int32Array;
  private stopping = false;

  constructor(options: IngestWorkerPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1 || options.workers > MAX_INGEST_WORKERS) {
      throw new Error(`ingest.workers must be an integer from 1 to ${MAX_INGEST_WORKERS}, got ${options.workers}`);
    }
    this.options = options;
    const allowlist = new ExporterAllowlist([]);
    this.listeners = options.addresses.map(
      (address) =>
        new UdpListener({
          address,
          receiveBufferBytes: options.config.netflow.receiveBufferBytes,
          allowlist,
          onDatagram: () => undefined,
          onRejected: () => undefined,
        }),
    );
    this.inFlight = new SharedArrayBuffer(4 * options.workers);
    this.inFlightCounts = new Int32Array(this.inFlight);
  }

  get workerCount(): number {
    return this.slots.length;
  }

  /** Starts the first worker, then the others on the ports it bound; rejects if any cannot listen. */
  async start(): Promise<void> {
    for (const a of this.options.addresses) await checkPortFree(a);
    const templates = this.options.pipeline.saveTemplates();
    try {
      const first = await this.startWorker(0, this.options.addresses, templates);
      const resolved = this.options.addresses.map((a, i) => ({ host: a.host, port: first.ports[i] }));
      this.listeners.forEach((l, i) => {
        l.boundPort = first.ports[i];
        l.receiveBufferBytes = first.receiveBufferBytes[i];
      });
      const rest: Array<Promise<unknown>> = [];
      for (let i = 1; i < this.options.workers; i++) rest.push(this.startWorker(i, resolved, templates));
      await Promise.all(rest);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private startWorker(
    index: number,
    listen: ListenAddress[],
    templates: Record<string, unknown>,
  ): Promise<{ ports: number[]; receiveBufferBytes: number[] }> {
    const data: IngestWorkerData = {
      index,
      config: this.options.config,
      listen,
      templates,
      inFlight: this.inFlight,
      batchRecords: this.options.batchRecords ?? 1024,
      maxInFlight: this.options.maxInFlight ?? 8,
      flushIntervalMs: this.options.flushIntervalMs ?? 20,
    };
    const { url, execArgv } = workerScript();
    const worker = new Worker(url, { workerData: data, execArgv, name: `flowgauge-ingest-${index}` });
    let resolveStopped!: () => void;
    const slot: WorkerSlot = {
      index,
      worker,
      reader: new EnrichedBatchReader(flowKeyCacheSize(this.options.config.ingest?.flowKeyCacheEntries)),
      exporters: new Map(),
      listeners: [],
      drops: { notAllowed: 0, exporterLimit: 0, decodeFailed: 0 },
      limits: undefined,
      keyCache: { hits: 0, misses: 0 },
      exportersExpired: 0,
      stopped: new Promise<void>((resolve) => (resolveStopped = resolve)),
      exited: false,
    };
    this.slots.push(slot);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (msg: WorkerToMain) => {
        switch (msg.type) {
          case 'ready':
            ready = true;
            resolve({ ports: msg.ports, receiveBufferBytes: msg.receiveBufferBytes });
            return;
          case 'error':
            if (!ready) reject(new Error(msg.message));
            else this.options.logger?.error({ worker: index, err: msg.message }, 'ingest worker error');
            return;
          case 'batch':
            this.countBatch(slot, msg);
            return;
          case 'state':
            this.applyState(slot, msg);
            return;
          case 'stopped':
            resolveStopped();
            return;
        }
      });
      worker.on('error', (err) => {
        if (!ready) reject(err);
        else this.options.logger?.error({ worker: index, err: err.message }, 'ingest worker failed');
      });
      worker.on('exit', (code) => {
        slot.exited = true;
        resolveStopped();
        if (!ready) reject(new Error(`ingest worker ${index} exited with code ${code} before listening`));
        else if (!this.stopping) {
          // Its socket left the reuseport group: the kernel sends its exporters to the other workers.
          this.options.logger?.error({ worker: index, code }, 'ingest worker exited; its exporters move to the remaining workers');
        }
      });
    });
  }

  private countBatch(slot: WorkerSlot, batch: Extract<WorkerToMain, { type: 'batch' }>): void {
    try {
      // The reader keeps the worker's label sets and a route per set into the main pipeline's rollups.
      slot.reader.read(batch, this.options.pipeline);
    } catch (err) {
      // The rest of this batch is lost; the daemon keeps counting the next ones.
      this.options.logger?.error({ worker: slot.index, err: (err as Error).message }, 'ingest batch could not be counted');
    } finally {
      Atomics.sub(this.inFlightCounts, slot.index, 1);
      Atomics.notify(this.inFlightCounts, slot.index);
      if (!slot.exited) {
        const msg: MainToWorker = { type: 'recycle', ids: batch.ids, numbers: batch.numbers, bytes: batch.bytes };
        slot.worker.postMessage(msg, [batch.ids.buffer as ArrayBuffer, batch.numbers.buffer as ArrayBuffer, batch.bytes.buffer as ArrayBuffer]);
      }
    }
  }

  private applyState(slot: WorkerSlot, msg: Extract<WorkerToMain, { type: 'state' }>): void {
    const pipeline = this.options.pipeline;
    // Forgotten first: an exporter that came back since is in this same report, as a new one.
    for (const address of msg.retired) {
      if (!slot.exporters.delete(address)) continue;
      if (this.slots.some((s) => s.exporters.has(address))) this.mergeExporter(address);
      else pipeline.retireExporter(address);
    }
    slot.exportersExpired = msg.exportersExpired;
    pipeline.workerExportersExpired = this.slots.reduce((n, s) => n + s.exportersExpired, 0);
    for (const rep of msg.exporters) {
      slot.exporters.set(rep.address, rep);
      this.mergeExporter(rep.address);
      for (const p of rep.protocolsSeen) {
        if (p !== 'unknown') pipeline.rollups.measures.exporterSeen(rep.address, rep.address, p);
      }
    }
    slot.listeners = msg.listeners;
    this.listeners.forEach((l, i) => {
      let datagrams = 0;
      let rejected = 0;
      for (const s of this.slots) {
        datagrams += s.listeners[i]?.datagrams ?? 0;
        rejected += s.listeners[i]?.rejected ?? 0;
      }
      l.datagrams = datagrams;
      l.rejected = rejected;
    });
    slot.drops = msg.drops;
    const drops = pipeline.drops;
    drops.notAllowed = 0;
    drops.exporterLimit = 0;
    drops.decodeFailed = 0;
    for (const s of this.slots) {
      drops.notAllowed += s.drops.notAllowed;
      drops.exporterLimit += s.drops.exporterLimit;
      drops.decodeFailed += s.drops.decodeFailed;
    }
    // Exporter limits and template limits reach the main pipeline through drops and the mirrored
    // error counters; the pending-set and sFlow bounds live in the workers' exporter state.
    slot.limits = msg.limits;
    const wl = pipeline.workerLimits;
    wl.netflow_pending = 0;
    wl.sflow_agents = 0;
    wl.sflow_sources = 0;
    for (const s of this.slots) {
      wl.netflow_pending += s.limits?.netflow_pending ?? 0;
      wl.sflow_agents += s.limits?.sflow_agents ?? 0;
      wl.sflow_sources += s.limits?.sflow_sources ?? 0;
    }
    slot.keyCache = msg.keyCache;
    const kc = pipeline.workerKeyCache;
    kc.hits = 0;
    kc.misses = 0;
    for (const s of this.slots) {
      kc.hits += s.keyCache.hits;
      kc.misses += s.keyCache.misses;
    }
    const now = Date.now();
    for (const c of msg.interfaceCounters) pipeline.interfaces.add(c, now);
    if (msg.templates) {
      pipeline.restoreTemplates(msg.templates, Date.now());
      pipeline.templateGeneration++;
    }
  }

  /** The main pipeline's entry for an exporter: the sum of what every worker reported for it. */
  private mergeExporter(address: string): void {
    const pipeline = this.options.pipeline;
    const reports: ExporterReport[] = [];
    for (const s of this.slots) {
      const r = s.exporters.get(address);
      if (r !== undefined) reports.push(r);
    }
    let entry = pipeline.exporters.get(address);
    if (entry === undefined) {
      const nf = this.options.config.netflow;
      entry = new ExporterEntry(address, reports[0].firstSeenMs, nf.defaultSamplingRate, nf.samplingRateOverrides[address]);
      pipeline.exporters.set(address, entry);
    }
    const c = entry.counters;
    c.datagrams = 0;
    c.records = 0;
    c.templateMisses = 0;
    c.pendingRecords = 0;
    c.sequenceGapDatagrams = 0;
    c.sequenceGapRecords = 0;
    c.templatesReceived = 0;
    c.templatesWithdrawn = 0;
    c.optionsRecords = 0;
    c.errors.clear();
    entry.datagramsByProtocol.clear();
    let newest = -Infinity;
    for (const r of reports) {
      const rc = r.counters;
      c.datagrams += rc.datagrams;
      c.records += rc.records;
      c.templateMisses += rc.templateMisses;
      c.pendingRecords += rc.pendingRecords;
      c.sequenceGapDatagrams += rc.sequenceGapDatagrams;
      c.sequenceGapRecords += rc.sequenceGapRecords;
      c.templatesReceived += rc.templatesReceived;
      c.templatesWithdrawn += rc.templatesWithdrawn;
      c.optionsRecords += rc.optionsRecords;
      for (const [reason, n] of rc.errors) c.errors.set(reason as DecodeErrorReason, (c.errors.get(reason) ?? 0) + n);
      for (const [p, n] of r.datagramsByProtocol) entry.datagramsByProtocol.set(p as ExportProtocol, (entry.datagramsByProtocol.get(p) ?? 0) + n);
      entry.firstSeenMs = Math.min(entry.firstSeenMs, r.firstSeenMs);
      if (r.lastSeenMs >= newest) {
        newest = r.lastSeenMs;
        entry.lastProtocol = r.lastProtocol;
      }
    }
    entry.lastSeenMs = newest;
  }

  /** Datagrams each worker's sockets have taken (from the last reports). */
  workerDatagrams(): number[] {
    return this.slots.map((s) => s.listeners.reduce((n, l) => n + l.datagrams, 0));
  }

  /** Stops the workers after their final batches and reports are counted. */
  async stop(): Promise<void> {
    this.stopping = true;
    const msg: MainToWorker = { type: 'stop' };
    for (const s of this.slots) if (!s.exited) s.worker.postMessage(msg);
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref());
    await Promise.race([Promise.all(this.slots.map((s) => s.stopped)), timeout]);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** The worker pool when `ingest.workers` > 1 and there is something to listen on; else undefined. */
export function createIngestPool(
  config: FlowgaugeConfig,
  pipeline: FlowPipeline,
  addresses: ListenAddress[],
  logger?: Logger,
): IngestWorkerPool | undefined {
  const workers = config.ingest?.workers ?? 1;
  if (workers <= 1 || addresses.length === 0) return undefined;
  return new IngestWorkerPool({ config, pipeline, workers, addresses, logger });
}
