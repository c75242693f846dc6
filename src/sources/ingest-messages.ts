/**
 * Messages between the daemon's main thread and its ingest workers (src/sources/ingest-worker.ts).
 * Plain structured-clone data; batch buffers travel in the transfer list.
 */
import type { FlowgaugeConfig } from '../config/types.js';
import type { InterfaceCounters } from '../decoders/sflow.js';
import type { DecodeErrorReason } from '../decoders/types.js';
import type { ExportProtocol, KeyCacheCounts, LimitCounts, PipelineDropCounters } from '../pipeline.js';
import type { EnrichedBatch } from './enriched-batch.js';
import type { ListenAddress } from './udp-listener.js';

export interface IngestWorkerData {
  index: number;
  config: FlowgaugeConfig;
  /** Addresses to bind with SO_REUSEPORT (ports already resolved for every worker after the first). */
  listen: ListenAddress[];
  /** Saved templates by exporter address (the state file), restored before listening. */
  templates: Record<string, unknown> | undefined;
  /** Int32 per worker: batches posted and not yet counted by the main thread (back-pressure). */
  inFlight: SharedArrayBuffer;
  batchRecords: number;
  maxInFlight: number;
  flushIntervalMs: number;
}

/** Everything the main thread mirrors of one exporter as one worker saw it. */
export interface ExporterReport {
  address: string;
  firstSeenMs: number;
  lastSeenMs: number;
  lastProtocol: ExportProtocol;
  datagramsByProtocol: Array<[ExportProtocol, number]>;
  /** Protocols seen since the previous report (for the exporter info series). */
  protocolsSeen: ExportProtocol[];
  counters: {
    datagrams: number;
    records: number;
    errors: Array<[DecodeErrorReason, number]>;
    templateMisses: number;
    pendingRecords: number;
    sequenceGapDatagrams: number;
    sequenceGapRecords: number;
    templatesReceived: number;
    templatesWithdrawn: number;
    optionsRecords: number;
  };
}

export interface ListenerReport {
  datagrams: number;
  rejected: number;
}

export type WorkerToMain =
  | { type: 'ready'; ports: number[]; receiveBufferBytes: number[] }
  | { type: 'error'; message: string }
  | ({ type: 'batch' } & EnrichedBatch)
  | {
      type: 'state';
      exporters: ExporterReport[];
      listeners: ListenerReport[];
      drops: PipelineDropCounters;
      /** State bounds hit in this worker (its pipeline's limitCounts()). */
      limits: LimitCounts;
      interfaceCounters: InterfaceCounters[];
      /** Templates of every exporter this worker knows, when they changed since the last report. */
      templates: Record<string, unknown> | undefined;
      /** This worker's flow key cache lookups so far. */
      keyCache: KeyCacheCounts;
      /** Exporters this worker forgot since its last report (limits.exporter_idle_seconds). */
      retired: string[];
      /** Exporters this worker has forgotten so far. */
      exportersExpired: number;
    }
  | { type: 'stopped' };

export type MainToWorker =
  | { type: 'recycle'; ids: Int32Array; numbers: Float64Array; bytes: Uint8Array }
  | { type: 'stop' };
