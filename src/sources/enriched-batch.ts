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
 *
 * Label sets travel by id: the worker's FlowKeyCache entry that holds a record's labels (0 ..
 * maxLabelSets-1). The first record of an id, and the first after the worker refilled that entry,
 * carries a definition (the 15 label string ids); the others carry the id alone. The reader keeps
 * the labels per id, and per id a rollup route (RollupEngine.newRoute), so the counting thread
 * counts a repeated label set without a single lookup, as the single-thread path does. Records
 * outside the cache (with a metadata bag) carry their labels inline.
 *
 * `ids` layout, record after record (variable length, in record order, so a definition takes
 * effect from its record on even when an entry is refilled within a batch):
 *   [label set word, exporter, sourceKind, appName], then 15 label string ids for an odd word:
 *   -1: the labels that follow are this record's own; 2X + 1: from this record on, label set X is
 *   the labels that follow; 2X (nothing follows): label set X as last defined.
 * A definition's strings are in the table of the batch that carries it, and the reader resolves
 * them right away, so a later table restart does not touch the label sets it holds.
 */
import { createFlowRecord, type FlowRecord, type SourceKind } from '../record.js';
import { createFlowLabels, type FlowLabels } from '../rollup/types.js';
import type { RollupLabel } from '../config/types.js';
import { DEFAULT_FLOW_KEY_CACHE_ENTRIES } from '../flow-key-cache.js';

/** Label fields in batch order (all of them: rollups and the other measures may read any). */
export const BATCH_LABELS: readonly RollupLabel[] = Object.keys(createFlowLabels()) as RollupLabel[];

const N_LABELS = BATCH_LABELS.length;
/** String columns (for the writer's last-value shortcut): the labels, then exporter, sourceKind, appName. */
const STR_EXPORTER = N_LABELS;
const STR_SOURCE_KIND = N_LABELS + 1;
const STR_APP_NAME = N_LABELS + 2;
export const STRINGS_PER_RECORD = N_LABELS + 3;

/** Words of every record in `ids`: label set word, exporter, sourceKind, appName (labels may follow). */
const W_LABEL_SET = 0;
const W_EXPORTER = 1;
const W_SOURCE_KIND = 2;
const W_APP_NAME = 3;
const RECORD_WORDS = 4;
/** The most `ids` words one record takes (with labels inline or a definition). */
export const MAX_WORDS_PER_RECORD = RECORD_WORDS + N_LABELS;
/** Label set word of a record whose labels follow inline (not from the worker's cache). */
const INLINE_LABELS = -1;

/** Label set ids a writer may use and a reader accepts: the worker cache's entry count. */
export const MAX_LABEL_SETS = DEFAULT_FLOW_KEY_CACHE_ENTRIES;

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

/** Strings a writer's table may hold before it starts over (by default). */
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
  /** String ids and label set words, record after record (layout at the top of this file). */
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

export interface EnrichedBatchWriterOptions {
  /** Label set ids accepted (0 .. maxLabelSets-1); default MAX_LABEL_SETS, the readers' default too. */
  maxLabelSets?: number;
  /** Strings the table may hold before it starts over (default MAX_STRINGS; at least STRINGS_PER_RECORD). */
  maxStrings?: number;
}

export class EnrichedBatchWriter {
  readonly capacity: number;
  /** Label set ids accepted: 0 .. maxLabelSets-1. */
  readonly maxLabelSets: number;
  readonly maxStrings: number;
  private buf: Buffers;
  private n = 0;
  /** `ids` words written to the current batch. */
  private words = 0;
  private readonly spare: Buffers[] = [];
  private readonly table = new Map<string, number>();
  private fresh: string[] = [];
  private resetPending = false;
  private meta: Array<[number, Record<string, string>]> = [];
  private readonly lastValue: string[] = new Array<string>(STRINGS_PER_RECORD).fill(NEVER);
  private readonly lastId = new Int32Array(STRINGS_PER_RECORD);
  /** 1 for each label set id the reader has a definition of (from this writer's batches). */
  private readonly defined: Uint8Array;
  private readonly onFull: (batch: EnrichedBatch) => void;

  /** `onFull` receives a batch when it reaches `capacity` records or before the string table restarts. */
  constructor(capacity: number, onFull: (batch: EnrichedBatch) => void, options: EnrichedBatchWriterOptions = {}) {
    const { maxLabelSets = MAX_LABEL_SETS, maxStrings = MAX_STRINGS } = options;
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`batch capacity must be a positive integer, got ${capacity}`);
    if (!(Number.isInteger(maxLabelSets) && maxLabelSets >= 0)) throw new RangeError(`maxLabelSets must be a non-negative integer, got ${maxLabelSets}`);
    if (!(Number.isInteger(maxStrings) && maxStrings >= STRINGS_PER_RECORD)) {
      throw new RangeError(`maxStrings must be an integer of at least ${STRINGS_PER_RECORD}, got ${maxStrings}`);
    }
    this.capacity = capacity;
    this.maxLabelSets = maxLabelSets;
    this.maxStrings = maxStrings;
    this.onFull = onFull;
    this.defined = new Uint8Array(maxLabelSets);
    this.buf = this.allocate();
  }

  get pending(): number {
    return this.n;
  }

  private allocate(): Buffers {
    return (
      this.spare.pop() ?? {
        ids: new Int32Array(this.capacity * MAX_WORDS_PER_RECORD),
        numbers: new Float64Array(this.capacity * NUMBERS_PER_RECORD),
        bytes: new Uint8Array(this.capacity * BYTES_PER_RECORD),
      }
    );
  }

  /** Gives back the buffers of a batch the reader is done with, so the next batches reuse them. */
  recycle(ids: Int32Array, numbers: Float64Array, bytes: Uint8Array): void {
    if (ids.length === this.capacity * MAX_WORDS_PER_RECORD && this.spare.length < 4) this.spare.push({ ids, numbers, bytes });
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

  /**
   * Adds one record. `labelSetId`: the worker cache entry holding `labels` (FlowKeyCache.lastEntry),
   * or -1 for labels of this record alone; `labelSetChanged`: that entry was (re)filled for this
   * record (FlowKeyCache.lastFilled), so the reader must learn its labels again.
   */
  add(r: FlowRecord, labels: FlowLabels, receivedMs: number, labelSetId = INLINE_LABELS, labelSetChanged = false): void {
    // Room for every string of this record, or start a new table first.
    if (this.table.size + STRINGS_PER_RECORD > this.maxStrings) this.restartTable();
    const i = this.n;
    const ids = this.buf.ids;
    const c = this.words;
    if (labelSetId === INLINE_LABELS) {
      ids[c + W_LABEL_SET] = INLINE_LABELS;
      labelsToIds(this, labels, ids, c + RECORD_WORDS);
      this.words = c + MAX_WORDS_PER_RECORD;
    } else if (!labelSetChanged && this.defined[labelSetId] === 1) {
      ids[c + W_LABEL_SET] = 2 * labelSetId;
      this.words = c + RECORD_WORDS;
    } else {
      if (!Number.isInteger(labelSetId) || labelSetId < 0 || labelSetId >= this.maxLabelSets) {
        throw new RangeError(`label set id ${labelSetId} is outside 0..${this.maxLabelSets - 1} (or -1 for inline labels)`);
      }
      ids[c + W_LABEL_SET] = 2 * labelSetId + 1;
      labelsToIds(this, labels, ids, c + RECORD_WORDS);
      this.defined[labelSetId] = 1;
      this.words = c + MAX_WORDS_PER_RECORD;
    }
    ids[c + W_EXPORTER] = this.id(STR_EXPORTER, r.exporter);
    ids[c + W_SOURCE_KIND] = this.id(STR_SOURCE_KIND, r.sourceKind);
    ids[c + W_APP_NAME] = this.id(STR_APP_NAME, r.appName);

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

    // Loops, not TypedArray.set: four builtin calls per record cost more than the copying.
    const b = this.buf.bytes;
    const p = i * BYTES_PER_RECORD;
    const src = r.src;
    const dst = r.dst;
    for (let k = 0; k < 16; k++) {
      b[p + k] = src[k];
      b[p + 16 + k] = dst[k];
    }
    const srcMac = r.srcMac;
    const dstMac = r.dstMac;
    for (let k = 0; k < 6; k++) {
      b[p + 32 + k] = srcMac[k];
      b[p + 38 + k] = dstMac[k];
    }
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
    this.words = 0;
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

/** Counts one record with its labels (FlowPipeline.countEnriched). */
export type CountEnriched = (r: FlowRecord, labels: FlowLabels, receivedMs: number) => void;

/** Where a reader counts with routes: a FlowPipeline (countEnriched, countEnrichedRouted, rollups). */
export interface RoutedCounter {
  /** Makes and resets the routes the reader keeps per label set (a RollupEngine). */
  readonly rollups: { newRoute(): Int32Array; resetRoute(route: Int32Array): void };
  countEnriched(r: FlowRecord, labels: FlowLabels, receivedMs: number): void;
  countEnrichedRouted(r: FlowRecord, labels: FlowLabels, route: Int32Array, receivedMs: number): void;
}

/** A batch that does not follow the format (a bug on the writing side, never traffic). */
export class EnrichedBatchError extends Error {}

/**
 * The counting side: mirrors one writer's string table and label sets, and replays its records.
 * One reader per writer: label set ids mean something only between the two.
 */
export class EnrichedBatchReader {
  readonly maxLabelSets: number;
  private strings: string[] = [];
  private readonly record: FlowRecord = createFlowRecord();
  /** Labels of records that carry them inline. */
  private readonly inline: FlowLabels = createFlowLabels();
  /** Labels per label set id, made on first definition and overwritten in place after. */
  private readonly labelSets: Array<FlowLabels | undefined>;
  /** Route per label set id for `routeOwner`'s rollups, made on first use, reset on redefinition. */
  private readonly routes: Array<Int32Array | undefined>;
  private routeOwner: RoutedCounter['rollups'] | undefined;

  constructor(maxLabelSets = MAX_LABEL_SETS) {
    this.maxLabelSets = maxLabelSets;
    // Filled up front: ids come in any order, and a sparse array would fall back to a dictionary.
    this.labelSets = new Array<FlowLabels | undefined>(maxLabelSets).fill(undefined);
    this.routes = new Array<Int32Array | undefined>(maxLabelSets).fill(undefined);
  }

  /**
   * Replays every record of `batch` into `into`, with one reused record and label objects (copy
   * what you keep, change nothing): a function gets every record with its labels; a RoutedCounter
   * gets records of a label set through countEnrichedRouted with that set's route, and records
   * with inline labels through countEnriched. Throws EnrichedBatchError for a malformed batch;
   * label set definitions of the records after a throw are still applied, so the next batch of
   * the same writer reads right.
   */
  read(batch: EnrichedBatch, into: CountEnriched | RoutedCounter): void {
    if (batch.reset) this.strings = [];
    const table = this.strings;
    for (const s of batch.strings) table.push(s);
    let count: CountEnriched | undefined;
    let routed: RoutedCounter | undefined;
    if (typeof into === 'function') {
      count = into;
    } else {
      routed = into;
      if (into.rollups !== this.routeOwner) {
        // Routes hold another engine's rows: start over with this one's.
        this.routes.fill(undefined);
        this.routeOwner = into.rollups;
      }
    }
    const { ids, numbers: f, bytes: b } = batch;
    if (!(batch.records >= 0) || f.length < batch.records * NUMBERS_PER_RECORD || b.length < batch.records * BYTES_PER_RECORD) {
      throw new EnrichedBatchError(`enriched batch: ${batch.records} records do not fit its number and byte columns`);
    }
    const r = this.record;
    const sets = this.labelSets;
    const routes = this.routes;
    let m = 0;
    let i = 0;
    /** Where the next record's words start. */
    let at = 0;
    try {
      for (; i < batch.records; i++) {
        const c = at;
        if (c + RECORD_WORDS > ids.length) throw new EnrichedBatchError(`enriched batch: record ${i} of ${batch.records} is past the end of its ids`);
        const word = ids[c + W_LABEL_SET];
        let labels: FlowLabels;
        let set = -1;
        if (word === INLINE_LABELS) {
          labels = this.inline;
          this.readLabels(labels, ids, c + RECORD_WORDS, i);
          at = c + MAX_WORDS_PER_RECORD;
        } else {
          set = word >> 1;
          if (word < 0 || set >= this.maxLabelSets) {
            throw new EnrichedBatchError(`enriched batch: record ${i} names label set ${word < 0 ? word : set}, outside 0..${this.maxLabelSets - 1}`);
          }
          if ((word & 1) === 1) {
            labels = this.define(set, ids, c + RECORD_WORDS, i);
            at = c + MAX_WORDS_PER_RECORD;
          } else {
            const known = sets[set];
            if (known === undefined) throw new EnrichedBatchError(`enriched batch: record ${i} uses label set ${set} before its definition`);
            labels = known;
            at = c + RECORD_WORDS;
          }
        }
        r.exporter = this.string(ids[c + W_EXPORTER], i);
        r.sourceKind = this.string(ids[c + W_SOURCE_KIND], i) as SourceKind;
        r.appName = this.string(ids[c + W_APP_NAME], i);
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
        const receivedMs = f[o + F_RECEIVED];
        if (routed === undefined) {
          count!(r, labels, receivedMs);
        } else if (set < 0) {
          routed.countEnriched(r, labels, receivedMs);
        } else {
          let route = routes[set];
          if (route === undefined) {
            route = routed.rollups.newRoute();
            routes[set] = route;
          }
          routed.countEnrichedRouted(r, labels, route, receivedMs);
        }
      }
    } catch (err) {
      // A malformed batch cannot be walked further. When counting failed instead, the rest of the
      // batch still defines label sets the writer will not define again: apply them.
      if (!(err instanceof EnrichedBatchError)) this.defineRest(batch, i + 1, at);
      throw err;
    }
  }

  /** The label set `set` from this record on: its labels overwritten in place, its route forgotten. */
  private define(set: number, ids: Int32Array, s: number, record: number): FlowLabels {
    let labels = this.labelSets[set];
    if (labels === undefined) {
      labels = createFlowLabels();
      this.labelSets[set] = labels;
    }
    this.readLabels(labels, ids, s, record);
    const route = this.routes[set];
    if (route !== undefined) this.routeOwner!.resetRoute(route);
    return labels;
  }

  private readLabels(labels: FlowLabels, ids: Int32Array, s: number, record: number): void {
    if (s + N_LABELS > ids.length) throw new EnrichedBatchError(`enriched batch: the labels of record ${record} are past the end of its ids`);
    const size = this.strings.length;
    for (let k = 0; k < N_LABELS; k++) {
      const id = ids[s + k];
      if (!(id >= 0 && id < size)) throw new EnrichedBatchError(`enriched batch: record ${record} names string ${id}, the table holds ${size}`);
    }
    idsToLabels(labels, this.strings, ids, s);
  }

  private string(id: number, record: number): string {
    const table = this.strings;
    if (!(id >= 0 && id < table.length)) throw new EnrichedBatchError(`enriched batch: record ${record} names string ${id}, the table holds ${table.length}`);
    return table[id];
  }

  /** Applies the label set definitions of records `from` on (their words start at `at`), counting nothing. */
  private defineRest(batch: EnrichedBatch, from: number, at: number): void {
    const ids = batch.ids;
    try {
      for (let i = from; i < batch.records; i++) {
        const word = ids[at + W_LABEL_SET];
        if (word >= 0 && (word & 1) === 1 && word >> 1 < this.maxLabelSets) this.define(word >> 1, ids, at + RECORD_WORDS, i);
        at += word >= 0 && (word & 1) === 0 ? RECORD_WORDS : MAX_WORDS_PER_RECORD;
      }
    } catch {
      // Malformed past the failure: the caller rethrows the first error.
    }
  }
}
