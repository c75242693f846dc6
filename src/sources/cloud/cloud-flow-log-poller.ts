/**
 * Polls one cloud flow-log location (an S3 bucket, an Azure Storage container, a GCS bucket) and
 * hands every new flow-log object, or the new part of a grown one, to the pipeline.
 *
 * - Each poll lists the prefixes of the look-back window (prefix-template.ts), reads the objects it
 *   has not counted yet, gunzips what is gzip, and counts the text through `deliver`.
 * - The checkpoint remembers each object of the window by key with its version and how many of its
 *   bytes were counted, and is saved in state_dir after every poll that changed it: a restart reads
 *   nothing twice and misses nothing still in the window. Objects older than the window are not
 *   read at first sight and leave the checkpoint, so it is bounded by what the window holds.
 * - AWS and GCP write each object once. An Azure flow-log blob grows for an hour; its new records
 *   are read from where its footer began (growing-json-records.ts).
 * - A poll never overlaps the next; a failure is logged, counted by reason and retried at the next
 *   poll, and an object that failed is read again then (the checkpoint only moves past what was
 *   counted).
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Logger } from 'pino';
import { splitAwsFlowLogText } from '../../decoders/aws-vpc-flow-log.js';
import type { CloudKind } from '../../decoders/cloud-flow-log.js';
import type { CloudDecodeOptions } from '../../decoders/cloud-types.js';
import { StateFile } from '../../state/state-file.js';
import type { FlowLogStore, StoredObject } from './flow-log-store.js';
import { appendedRecordsDocument, recordsFooterOffset } from './growing-json-records.js';
import { expandPrefixTemplate } from './prefix-template.js';

/** Counts `text` (one object, or the new records of a grown one) and returns the records counted. */
export type FlowLogDelivery = (kind: CloudKind, text: string, receivedMs: number, options: CloudDecodeOptions) => number;

export interface CloudFlowLogPollerOptions {
  /** The source's name from the config: checkpoint file name and self-metric label. */
  name: string;
  kind: CloudKind;
  store: FlowLogStore;
  /** Prefixes to list, with {yyyy} {mm} {dd} {hh} placeholders (UTC). */
  prefixes: readonly string[];
  intervalMs: number;
  /** Objects last modified longer ago than this are not read (first start) and leave the checkpoint. */
  lookbackMs: number;
  decodeOptions?: CloudDecodeOptions;
  deliver: FlowLogDelivery;
  /** Folder for the checkpoint file; undefined keeps checkpoints in memory only. */
  stateDir?: string;
  logger?: Logger;
  clock?: () => number;
  /** Largest object (stored or decompressed) read at once; larger ones are skipped and counted. Default 256 MiB. */
  maxObjectBytes?: number;
}

/** Why a poll or an object failed: flowgauge_cloud_poll_errors_total{reason}. */
export type CloudPollErrorReason =
  /** Listing or reading failed (network, permission, missing bucket): the message says which. */
  | 'store'
  /** A gzip object that does not decompress. */
  | 'gzip'
  /** Larger than maxObjectBytes. */
  | 'too_large'
  /** An object whose content changed in a way that is not growth: not read again, to count nothing twice. */
  | 'rewritten'
  /** The checkpoint file could not be read or written. */
  | 'checkpoint'
  /** Counting an object failed unexpectedly (a defect, logged with the object's key); it is skipped. */
  | 'decode';

export interface CloudPollerCounters {
  polls: number;
  failedPolls: number;
  errors: Map<CloudPollErrorReason, number>;
  objects: number;
  bytes: number;
  records: number;
  /** Objects of the window in the checkpoint. */
  tracked: number;
  /** End of the last poll that completed without a store error (ms), NaN before. */
  lastSuccessMs: number;
  /** Last-modified time of the newest object counted (ms), NaN before. */
  newestObjectMs: number;
}

interface Tracked {
  /** Version when last read. */
  v: string;
  /** Bytes counted (for a growing blob: where its footer began). */
  o: number;
  /** Last-modified time (ms). */
  m: number;
}

interface CheckpointData {
  objects: Record<string, Tracked>;
}

/** Well below V8's longest string (about 2^29 characters), which the text of an object must fit. */
const DEFAULT_MAX_OBJECT_BYTES = 256 * 1024 * 1024;
/** About 30,000 AWS records: tens of milliseconds of decoding at a time. */
const DELIVERY_PIECE_CHARS = 4 * 1024 * 1024;
const gunzipAsync = promisify(gunzip);
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

export class CloudFlowLogPoller {
  readonly name: string;
  readonly kind: CloudKind;
  readonly location: string;
  readonly counters: CloudPollerCounters = {
    polls: 0,
    failedPolls: 0,
    errors: new Map(),
    objects: 0,
    bytes: 0,
    records: 0,
    tracked: 0,
    lastSuccessMs: Number.NaN,
    newestObjectMs: Number.NaN,
  };

  private readonly options: CloudFlowLogPollerOptions;
  private readonly clock: () => number;
  private readonly maxObjectBytes: number;
  private readonly checkpoint: StateFile<CheckpointData> | undefined;
  private readonly tracked = new Map<string, Tracked>();
  private dirty = false;
  private loaded = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private abort = new AbortController();
  private stopped = false;

  constructor(options: CloudFlowLogPollerOptions) {
    this.options = options;
    this.name = options.name;
    this.kind = options.kind;
    this.location = options.store.location;
    this.clock = options.clock ?? Date.now;
    this.maxObjectBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
    this.checkpoint =
      options.stateDir === undefined ? undefined : new StateFile<CheckpointData>(options.stateDir, `cloud-${options.name}.json`, 'flowgauge-cloud-checkpoint');
  }

  /** Loads the checkpoint, polls once now and then every interval, until stop(). */
  start(): void {
    if (this.timer !== undefined || this.running !== undefined || this.stopped) return;
    this.running = this.pollOnce().finally(() => {
      this.running = undefined;
      this.schedule();
    });
  }

  /** Stops polling: the poll in progress is aborted, the checkpoint saved. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await this.running;
    await this.saveCheckpoint();
    await this.options.store.close?.();
  }

  /**
   * One poll: list the window's prefixes, count what is new. Never throws; failures are logged and
   * counted. Exposed for tests and for `stop` to wait on.
   */
  async pollOnce(): Promise<void> {
    const signal = this.abort.signal;
    if (!this.loaded) await this.loadCheckpoint();
    const now = this.clock();
    const from = now - this.options.lookbackMs;
    this.counters.polls++;
    let failed = false;
    for (const template of this.options.prefixes) {
      for (const prefix of expandPrefixTemplate(template, from, now)) {
        if (signal.aborted) return;
        try {
          for await (const object of this.options.store.list(prefix, signal)) {
            if (signal.aborted) return;
            if (!(await this.consider(object, from, signal))) failed = true;
          }
        } catch (err) {
          if (signal.aborted) return;
          failed = true;
          this.fail('store', err, { prefix });
        }
      }
    }
    this.forgetOlderThan(from);
    this.counters.tracked = this.tracked.size;
    if (failed) this.counters.failedPolls++;
    else this.counters.lastSuccessMs = this.clock();
    await this.saveCheckpoint();
  }

  /** Reads and counts the object if it has anything new; false when reading it failed. */
  private async consider(object: StoredObject, windowStartMs: number, signal: AbortSignal): Promise<boolean> {
    const seen = this.tracked.get(object.key);
    if (seen !== undefined && seen.v === object.version) return true;
    if (seen === undefined && object.lastModifiedMs < windowStartMs) return true;
    const grows = this.kind === 'azure';
    if (seen !== undefined && !(grows && object.size > seen.o)) {
      // Changed without growing (or an object that should never change): its counted part cannot
      // be told from the rest, so it is not read again.
      this.remember(object, seen.o);
      this.fail('rewritten', new Error(`${object.key} changed (version ${seen.v} -> ${object.version}) without growing; not read again`), {});
      return true;
    }
    if (object.size > this.maxObjectBytes) {
      this.remember(object, object.size);
      this.fail('too_large', new Error(`${object.key} is ${object.size} bytes, more than the ${this.maxObjectBytes} read at once; skipped`), {});
      return true;
    }
    const offset = seen?.o ?? 0;
    let bytes: Buffer;
    try {
      bytes = await this.options.store.read(object.key, offset, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      // Not remembered: read again at the next poll.
      this.fail('store', err, { key: object.key });
      return false;
    }
    this.counters.bytes += bytes.length;
    let text: string;
    let counted: number;
    if (offset === 0 && bytes.length >= 2 && bytes[0] === GZIP_MAGIC_0 && bytes[1] === GZIP_MAGIC_1) {
      try {
        // In the thread pool: a large object does not hold up the event loop while it inflates.
        text = (await gunzipAsync(bytes, { maxOutputLength: this.maxObjectBytes })).toString('utf8');
      } catch (err) {
        this.remember(object, object.size);
        this.fail('gzip', new Error(`${object.key}: ${(err as Error).message}`), {});
        return true;
      }
      counted = bytes.length;
    } else if (grows && offset > 0) {
      const appended = appendedRecordsDocument(bytes);
      if (appended === undefined) {
        this.remember(object, offset);
        this.fail('rewritten', new Error(`${object.key} grew, but not by records before its closing "]}"; not read again`), {});
        return true;
      }
      text = appended.text;
      counted = offset + appended.footerOffset;
    } else {
      text = bytes.toString('utf8');
      const footer = grows ? recordsFooterOffset(bytes) : -1;
      counted = footer >= 0 ? footer : bytes.length;
    }
    let records = 0;
    const pieces = this.kind === 'aws' ? splitAwsFlowLogText(text, DELIVERY_PIECE_CHARS) : [text];
    try {
      for (let i = 0; i < pieces.length; i++) {
        // A large object is counted piece by piece, with the event loop free in between (UDP
        // receive, scrapes), instead of in one long stall.
        if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        records += this.options.deliver(this.kind, pieces[i], this.clock(), this.options.decodeOptions ?? {});
      }
    } catch (err) {
      // Decoders count bad input instead of throwing, so this is a defect: the object is skipped
      // rather than read (and partly counted) again at every poll.
      this.counters.records += records;
      this.remember(object, counted);
      this.fail('decode', err, { key: object.key });
      return true;
    }
    this.counters.records += records;
    this.counters.objects++;
    if (!(object.lastModifiedMs <= this.counters.newestObjectMs)) this.counters.newestObjectMs = object.lastModifiedMs;
    this.remember(object, counted);
    return true;
  }

  private remember(object: StoredObject, counted: number): void {
    this.tracked.set(object.key, { v: object.version, o: counted, m: object.lastModifiedMs });
    this.dirty = true;
  }

  private forgetOlderThan(windowStartMs: number): void {
    for (const [key, t] of this.tracked) {
      if (t.m < windowStartMs) {
        this.tracked.delete(key);
        this.dirty = true;
      }
    }
  }

  private fail(reason: CloudPollErrorReason, err: unknown, where: Record<string, string>): void {
    this.counters.errors.set(reason, (this.counters.errors.get(reason) ?? 0) + 1);
    this.options.logger?.warn({ source: this.name, location: this.location, reason, ...where, err: (err as Error)?.message ?? String(err) }, 'cloud flow-log poll problem');
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.pollOnce().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.options.intervalMs);
    this.timer.unref?.();
  }

  private async loadCheckpoint(): Promise<void> {
    this.loaded = true;
    if (this.checkpoint === undefined) return;
    try {
      const loaded = await this.checkpoint.load();
      if (loaded.corrupt) {
        this.options.logger?.warn({ source: this.name, file: this.checkpoint.file, movedTo: loaded.corrupt.movedTo, reason: loaded.corrupt.reason }, 'cloud checkpoint file was corrupt; set aside, reading the look-back window again');
      }
      for (const [key, t] of Object.entries(loaded.data?.objects ?? {})) {
        if (t !== null && typeof t === 'object' && typeof t.v === 'string' && Number.isSafeInteger(t.o) && t.o >= 0 && Number.isFinite(t.m)) {
          this.tracked.set(key, { v: t.v, o: t.o, m: t.m });
        }
      }
      this.counters.tracked = this.tracked.size;
    } catch (err) {
      this.fail('checkpoint', err, {});
    }
  }

  private async saveCheckpoint(): Promise<void> {
    if (this.checkpoint === undefined || !this.dirty) return;
    this.dirty = false;
    try {
      await this.checkpoint.save({ objects: Object.fromEntries(this.tracked) });
    } catch (err) {
      this.dirty = true;
      this.fail('checkpoint', err, { file: this.checkpoint.file });
    }
  }
}
