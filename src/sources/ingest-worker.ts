/**
 * One ingest worker thread: its own SO_REUSEPORT socket on every NetFlow/sFlow listen address, and a
 * FlowPipeline that decodes and enriches but does not count. Enriched records go to the main
 * thread in batches (src/sources/enriched-batch.ts), where the rollups, histograms and the other
 * bounded families live, so budgets stay global. Exporter counters, listener counters, templates
 * and sFlow interface counters follow in a state report on every flush.
 *
 * The kernel spreads datagrams over the sockets of a reuseport group by a hash of the source
 * address and port, so one exporter (one source address and port) always reaches the same worker,
 * which therefore holds all of its templates and sequence state.
 *
 * Back-pressure: a shared counter holds the batches posted and not yet counted. When it reaches
 * maxInFlight the worker waits (Atomics.wait) instead of queueing more: memory stays bounded and
 * what cannot be taken in time overflows the socket buffer, where the kernel counts it
 * (flowgauge_udp_kernel_drops_total).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { InterfaceCounters } from '../decoders/sflow.js';
import { flowKeyCacheSize } from '../flow-key-cache.js';
import { FlowPipeline, type ExporterEntry, type ExportProtocol } from '../pipeline.js';
import { EnrichedBatchWriter, type EnrichedBatch } from './enriched-batch.js';
import type { ExporterReport, IngestWorkerData, MainToWorker, WorkerToMain } from './ingest-messages.js';
import { ExporterAllowlist, UdpListener } from './udp-listener.js';

/** How long one wait for the main thread may last before the worker looks again. */
const WAIT_SLICE_MS = 100;

function post(msg: WorkerToMain, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(msg, transfer);
}

async function run(data: IngestWorkerData): Promise<void> {
  const port = parentPort!;
  const inFlight = new Int32Array(data.inFlight);
  const slot = data.index;

  const postBatch = (batch: EnrichedBatch): void => {
    // Wait while the main thread has maxInFlight batches still to count.
    while (Atomics.load(inFlight, slot) >= data.maxInFlight) {
      Atomics.wait(inFlight, slot, Atomics.load(inFlight, slot), WAIT_SLICE_MS);
    }
    Atomics.add(inFlight, slot, 1);
    post({ type: 'batch', ...batch }, [batch.ids.buffer as ArrayBuffer, batch.numbers.buffer as ArrayBuffer, batch.bytes.buffer as ArrayBuffer]);
  };
  // Label set ids are the flow key cache's entries: as many as the main thread's reader takes.
  const writer = new EnrichedBatchWriter(data.batchRecords, postBatch, {
    maxLabelSets: flowKeyCacheSize(data.config.ingest?.flowKeyCacheEntries),
  });
  const interfaceCounters: InterfaceCounters[] = [];
  /** Receive time of the datagram being decoded (records are handed over during handleDatagram). */
  let receivedMs = 0;
  // What was reported last, to send only exporters that changed.
  const reported = new Map<string, { lastSeenMs: number; datagrams: number; pending: number; counts: Map<ExportProtocol, number> }>();
  /** Exporters forgotten since the last report: the main thread drops its mirror of them. */
  const retired: string[] = [];
  const pipeline = new FlowPipeline(data.config, {
    onExporterRetired: (address) => {
      retired.push(address);
      // If it comes back, it is a new exporter: report it whole.
      reported.delete(address);
    },
    // Label sets go by the id of their cache entry: the main thread keeps labels and routes per id.
    onEnriched: (r, labels, labelSetId, labelSetChanged) => writer.add(r, labels, receivedMs, labelSetId, labelSetChanged),
    onInterfaceCounters: (c) => void interfaceCounters.push({ ...c }),
  });
  if (data.templates) pipeline.restoreTemplates(data.templates, Date.now());

  const allowlist = new ExporterAllowlist(data.config.exporterAllowlist);
  const listeners = data.listen.map(
    (address) =>
      new UdpListener({
        address,
        receiveBufferBytes: data.config.netflow.receiveBufferBytes,
        allowlist,
        reusePort: true,
        onDatagram: (msg, from, nowMs) => {
          receivedMs = nowMs;
          pipeline.handleDatagram(msg, from, nowMs);
        },
        onRejected: () => pipeline.countNotAllowed(),
      }),
  );
  try {
    for (const l of listeners) await l.start();
  } catch (err) {
    await Promise.all(listeners.map((l) => l.stop()));
    post({ type: 'error', message: (err as Error).message });
    return;
  }
  post({ type: 'ready', ports: listeners.map((l) => l.boundPort), receiveBufferBytes: listeners.map((l) => l.receiveBufferBytes) });

  const datagramsOf = (e: ExporterEntry): number => {
    let n = 0;
    for (const c of e.datagramsByProtocol.values()) n += c;
    return n;
  };
  let reportedTemplates = pipeline.templateGeneration;
  let reportedListeners = '';
  const report = (force: boolean): void => {
    const exporters: ExporterReport[] = [];
    for (const e of pipeline.exporters.values()) {
      const last = reported.get(e.address);
      // The datagram count too: datagrams that arrive in the millisecond of the last report leave
      // lastSeenMs as it was, and would otherwise never be reported if nothing follows them.
      const datagrams = datagramsOf(e);
      if (!force && last !== undefined && last.lastSeenMs === e.lastSeenMs && last.datagrams === datagrams && last.pending === e.counters.pendingRecords) continue;
      exporters.push(exporterReport(e, last?.counts));
      reported.set(e.address, { lastSeenMs: e.lastSeenMs, datagrams, pending: e.counters.pendingRecords, counts: new Map(e.datagramsByProtocol) });
    }
    const listenerReports = listeners.map((l) => ({ datagrams: l.datagrams, rejected: l.rejected }));
    const listenersText = JSON.stringify(listenerReports);
    const templatesChanged = pipeline.templateGeneration !== reportedTemplates;
    if (!force && exporters.length === 0 && retired.length === 0 && interfaceCounters.length === 0 && !templatesChanged && listenersText === reportedListeners) {
      return;
    }
    reportedTemplates = pipeline.templateGeneration;
    reportedListeners = listenersText;
    post({
      type: 'state',
      exporters,
      listeners: listenerReports,
      drops: { ...pipeline.drops },
      limits: pipeline.limitCounts(),
      interfaceCounters: interfaceCounters.splice(0),
      templates: templatesChanged ? pipeline.saveTemplates() : undefined,
      keyCache: { hits: pipeline.keyCache.hits, misses: pipeline.keyCache.misses },
      retired: retired.splice(0),
      exportersExpired: pipeline.exportersExpired,
    });
  };
  const flush = (force = false): void => {
    if (writer.pending > 0) postBatch(writer.take());
    report(force);
  };
  const timer = setInterval(() => flush(), data.flushIntervalMs);

  port.on('message', (msg: MainToWorker) => {
    if (msg.type === 'recycle') {
      writer.recycle(msg.ids, msg.numbers, msg.bytes);
    } else if (msg.type === 'stop') {
      clearInterval(timer);
      void Promise.all(listeners.map((l) => l.stop())).then(() => {
        flush(true);
        post({ type: 'stopped' });
        port.close();
      });
    }
  });
}

/** `before`: datagram counts per protocol at the previous report. */
function exporterReport(e: ExporterEntry, before: Map<ExportProtocol, number> | undefined): ExporterReport {
  const c = e.counters;
  return {
    address: e.address,
    firstSeenMs: e.firstSeenMs,
    lastSeenMs: e.lastSeenMs,
    lastProtocol: e.lastProtocol,
    datagramsByProtocol: [...e.datagramsByProtocol],
    protocolsSeen: [...e.datagramsByProtocol].filter(([p, n]) => before?.get(p) !== n).map(([p]) => p),
    counters: {
      datagrams: c.datagrams,
      records: c.records,
      errors: [...c.errors],
      templateMisses: c.templateMisses,
      pendingRecords: c.pendingRecords,
      sequenceGapDatagrams: c.sequenceGapDatagrams,
      sequenceGapRecords: c.sequenceGapRecords,
      templatesReceived: c.templatesReceived,
      templatesWithdrawn: c.templatesWithdrawn,
      optionsRecords: c.optionsRecords,
    },
  };
}

run(workerData as IngestWorkerData).catch((err: unknown) => {
  post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
});
