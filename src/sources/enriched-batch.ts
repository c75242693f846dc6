/**
 * Enriched records in flat batches, from an ingest worker (which decodes and enriches) to the
 * thread that owns the rollups (which counts). A batch is a few typed arrays moved between threads
 * without copying, plus the strings first seen since the previous batch.
 *
 * Every field of FlowRecord and FlowLabels crosses: numbers in a Float64Array, addresses and MACs
 * in a Uint8Array, strings (labels, exporter, source kind, application name) as ids into a string
 * table that the writer grows and the reader mirrors. The table is bounded: when it would pass
 * MAX_STRINGS the writer finishes the batch and starts a new table (the next batch says `reset`),
 * so random addresses cannot grow it without limit. A string equal to the one the same field
 * carried in the previous record reuses its id without a lookup (labels repeat a lot).
 */
import { createFlowRecord, type FlowRecord, type SourceKind } from '../record.js';
import { createFlowLabels, type FlowLabels } from '../rollup/types.js';
import type { RollupLabel } from '../config/types.js';

/** Label fields in batch order (all of them: rollups and the other measures may read any). */
export const BATCH_LABELS: readonly RollupLabel[] = Object.keys(createFlowLabels()) as RollupLabel[];

const N_LABELS = BATCH_LABELS.length;
/** String columns: the labels, then exporter, sourceKind, appName. */
const STR_EXPORTER = N_LABELS;
const STR_SOURCE_KIND = N_LABELS + 1;
const STR_APP_NAME = N_LABELS + 2;
export const STRINGS_PER_RECORD = N_LABELS + 3;

/** Numeric columns. */
const F_DOMAIN = 0;
const F_START = 1;
const F_END = 2;
const F_AF = 3;
const F_SRC_PORT = 4;
const F_DST_PORT = 5;
const F_PROTOCOL = 6;
const F_BYTES = 7;
const F_PACKETS = 8;
const F_FLOWS = 9;
const F_SAMPLING = 10;
const F_TCP_FLAGS = 11;
const F_INPUT_IF = 12;
const F_OUTPUT_IF = 13;
const F_DIRECTION = 14;
const F_ACTION = 15;
const F_APP_ID = 16;
const F_RTT = 17;
const F_VLAN = 18;
const F_MAC_FLAGS = 19;
const F_RECEIVED = 20;
export const NUMBERS_PER_RECORD = 21;

/** src (16), dst (16), srcMac (6), dstMac (6). */
export const BYTES_PER_RECORD = 44;

/** Strings a writer's table may hold before it starts over. */
export const MAX_STRINGS = 65_536;

/**
 * Label copies as straight-line code over the field names (`labels.device`, ...): a loop over
 * BATCH_LABELS would read and write by computed key, which V8 runs as slow megamorphic accesses,
 * 15 times per record on each side. Built once from the constant list above, never from input.
 */
type LabelsToIds = (w: EnrichedBatchWriter, labels: FlowLabels, ids: Int32Array, s: number) => void;
type IdsToLabels = (labels: FlowLabels, table: string[], ids: Int32Array, s: number) => void;
const labelsToIds = new Function(
  'w',
  'labels',
  'ids',
  's',
  BATCH_LABELS.map((name, k) => `ids[s + ${k}] = w.id(${k}, labels.${name});`).join('\n'),
) as LabelsToIds;
const idsToLabels = new Function(
  'labels',
  'table',
  'ids',
  's',
  BATCH_LABELS.map((name, k) => `labels.${name} = table[ids[s + ${k}]];`).join('\n'),
) as IdsToLabels;

/** The FlowRecord fields a batch carries; a test keeps this in step with createFlowRecord(). */
export const BATCH_RECORD_FIELDS: readonly (keyof FlowRecord)[] = [
  'sourceKind', 'exporter', 'observationDomain', 'timeStartMs', 'timeEndMs', 'af', 'src', 'dst',
  'srcPort', 'dstPort', 'protocol', 'bytes', 'packets', 'flows', 'samplingRate', 'tcpFlags',
  'inputIf', 'outputIf', 'direction', 'action', 'appId', 'appName', 'rttMs', 'srcMac', 'dstMac',
  'hasSrcMac', 'hasDstMac', 'vlan', 'meta',
];

/** What crosses the thread boundary. The three buffers go in the transfer list. */
export interface EnrichedBatch {
  records: number;
  /** Start a new string table before reading `strings`. */
  reset: boolean;
  /** Strings added to the table since the previous batch, in id order. */
  strings: string[];
  ids: Int32Array;
  numbers: Float64Array;
  bytes: Uint8Array;
  /** Records with a metadata bag (cloud sources; UDP decoders set none): [record index, bag]. */
  meta: Array<[number, Record<string, string>]>;
}

interface Buffers {
  ids: Int32Array;
  numbers: Float64Array;
  bytes: Uint8Array;
}

const NEVER = '\u0000never';

export class EnrichedBatchWriter {
  readonly capacity: number;
  private buf: Buffers;
  private n = 0;
  private readonly spare: Buffers[] = [];
  private readonly table = new Map<string, number>();
  private fresh: string[] = [];
  private resetPending = false;
  private meta: Array<[number, Record<string, string>]> = [];
  private readonly lastValue: string[] = new Array<string>(STRINGS_PER_RECORD).fill(NEVER);
  private readonly lastId = new Int32Array(STRINGS_PER_RECORD);
  private readonly onFull: (batch: EnrichedBatch) => void;

  /** `onFull` receives a batch when it reaches `capacity` records or before the string table restarts. */
  constructor(capacity: number, onFull: (batch: EnrichedBatch) => void) {
    this.capacity = capacity;
    this.onFull = onFull;
    this.buf = this.allocate();
  }

  get pending(): number {
    return this.n;
  }

  private allocate(): Buffers {
    return (
      this.spare.pop() ?? {
        ids: new Int32Array(this.capacity * STRINGS_PER_RECORD),
        numbers: new Float64Array(this.capacity * NUMBERS_PER_RECORD),
        bytes: new Uint8Array(this.capacity * BYTES_PER_RECORD),
      }
    );
  }

  /** Gives back the buffers of a batch the reader is done with, so the next batches reuse them. */
  recycle(ids: Int32Array, numbers: Float64Array, bytes: Uint8Array): void {
    if (ids.length === this.capacity * STRINGS_PER_RECORD && this.spare.length < 4) this.spare.push({ ids, numbers, bytes });
  }

  /** The id of `value` in column `column` (public for the generated label copy only). */
  id(column: number, value: string): number {
    if (value === this.lastValue[column]) return this.lastId[column];
    let id = this.table.get(value);
    if (id === undefined) {
      id = this.table.size;
      this.table.set(value, id);
      this.fresh.push(value);
    }
    this.lastValue[column] = value;
    this.lastId[column] = id;
    return id;
  }

  add(r: FlowRecord, labels: FlowLabels, receivedMs: number): void {
    // Room for every string of this record, or start a new table first.
    if (this.table.size + STRINGS_PER_RECORD > MAX_STRINGS) this.restartTable();
    const i = this.n;
    const ids = this.buf.ids;
    const s = i * STRINGS_PER_RECORD;
    labelsToIds(this, labels, ids, s);
    ids[s + STR_EXPORTER] = this.id(STR_EXPORTER, r.exporter);
    ids[s + STR_SOURCE_KIND] = this.id(STR_SOURCE_KIND, r.sourceKind);
    ids[s + STR_APP_NAME] = this.id(STR_APP_NAME, r.appName);

    const f = this.buf.numbers;
    const o = i * NUMBERS_PER_RECORD;
    f[o + F_DOMAIN] = r.observationDomain;
    f[o + F_START] = r.timeStartMs;
    f[o + F_END] = r.timeEndMs;
    f[o + F_AF] = r.af;
    f[o + F_SRC_PORT] = r.srcPort;
    f[o + F_DST_PORT] = r.dstPort;
    f[o + F_PROTOCOL] = r.protocol;
    f[o + F_BYTES] = r.bytes;
    f[o + F_PACKETS] = r.packets;
    f[o + F_FLOWS] = r.flows;
    f[o + F_SAMPLING] = r.samplingRate;
    f[o + F_TCP_FLAGS] = r.tcpFlags;
    f[o + F_INPUT_IF] = r.inputIf;
    f[o + F_OUTPUT_IF] = r.outputIf;
    f[o + F_DIRECTION] = r.direction;
    f[o + F_ACTION] = r.action;
    f[o + F_APP_ID] = r.appId;
    f[o + F_RTT] = r.rttMs;
    f[o + F_VLAN] = r.vlan;
    f[o + F_MAC_FLAGS] = (r.hasSrcMac ? 1 : 0) | (r.hasDstMac ? 2 : 0);
    f[o + F_RECEIVED] = receivedMs;

    const b = this.buf.bytes;
    const p = i * BYTES_PER_RECORD;
    b.set(r.src, p);
    b.set(r.dst, p + 16);
    b.set(r.srcMac, p + 32);
    b.set(r.dstMac, p + 38);
    if (r.meta !== undefined) this.meta.push([i, { ...r.meta }]);

    this.n = i + 1;
    if (this.n === this.capacity) this.onFull(this.take());
  }

  /** The records so far as a batch (possibly empty); the writer continues with fresh buffers. */
  take(): EnrichedBatch {
    const { ids, numbers, bytes } = this.buf;
    const batch: EnrichedBatch = {
      records: this.n,
      reset: this.resetPending,
      strings: this.fresh,
      ids,
      numbers,
      bytes,
      meta: this.meta,
    };
    this.buf = this.allocate();
    this.n = 0;
    this.fresh = [];
    this.meta = [];
    this.resetPending = false;
    return batch;
  }

  private restartTable(): void {
    if (this.n > 0 || this.fresh.length > 0) this.onFull(this.take());
    this.table.clear();
    this.lastValue.fill(NEVER);
    this.resetPending = true;
  }
}

/** The counting side: mirrors one writer's string table and replays its records. */
export class EnrichedBatchReader {
  private strings: string[] = [];
  private readonly record: FlowRecord = createFlowRecord();
  private readonly labels: FlowLabels = createFlowLabels();

  /** Calls `count` once per record, with one reused record and label object (copy what you keep). */
  read(batch: EnrichedBatch, count: (r: FlowRecord, labels: FlowLabels, receivedMs: number) => void): void {
    if (batch.reset) this.strings = [];
    const table = this.strings;
    for (const s of batch.strings) table.push(s);
    const { ids, numbers: f, bytes: b } = batch;
    const r = this.record;
    const labels = this.labels;
    let m = 0;
    for (let i = 0; i < batch.records; i++) {
      const s = i * STRINGS_PER_RECORD;
      idsToLabels(labels, table, ids, s);
      r.exporter = table[ids[s + STR_EXPORTER]];
      r.sourceKind = table[ids[s + STR_SOURCE_KIND]] as SourceKind;
      r.appName = table[ids[s + STR_APP_NAME]];
      const o = i * NUMBERS_PER_RECORD;
      r.observationDomain = f[o + F_DOMAIN];
      r.timeStartMs = f[o + F_START];
      r.timeEndMs = f[o + F_END];
      r.af = f[o + F_AF] as FlowRecord['af'];
      r.srcPort = f[o + F_SRC_PORT];
      r.dstPort = f[o + F_DST_PORT];
      r.protocol = f[o + F_PROTOCOL];
      r.bytes = f[o + F_BYTES];
      r.packets = f[o + F_PACKETS];
      r.flows = f[o + F_FLOWS];
      r.samplingRate = f[o + F_SAMPLING];
      r.tcpFlags = f[o + F_TCP_FLAGS];
      r.inputIf = f[o + F_INPUT_IF];
      r.outputIf = f[o + F_OUTPUT_IF];
      r.direction = f[o + F_DIRECTION] as FlowRecord['direction'];
      r.action = f[o + F_ACTION] as FlowRecord['action'];
      r.appId = f[o + F_APP_ID];
      r.rttMs = f[o + F_RTT];
      r.vlan = f[o + F_VLAN];
      const macs = f[o + F_MAC_FLAGS];
      r.hasSrcMac = (macs & 1) !== 0;
      r.hasDstMac = (macs & 2) !== 0;
      const p = i * BYTES_PER_RECORD;
      const src = r.src;
      const dst = r.dst;
      for (let k = 0; k < 16; k++) {
        src[k] = b[p + k];
        dst[k] = b[p + 16 + k];
      }
      const srcMac = r.srcMac;
      const dstMac = r.dstMac;
      for (let k = 0; k < 6; k++) {
        srcMac[k] = b[p + 32 + k];
        dstMac[k] = b[p + 38 + k];
      }
      if (m < batch.meta.length && batch.meta[m][0] === i) r.meta = batch.meta[m++][1];
      else r.meta = undefined;
      count(r, labels, f[o + F_RECEIVED]);
    }
  }
}
