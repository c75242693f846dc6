/**
 * Label sets by id between ingest workers and the counting thread: a label set crosses once per
 * (re)fill of the worker's cache entry, definitions take effect in record order, the reader keeps
 * one route per label set and resets it on redefinition, bad batches are refused with a clear
 * error, and counting a random stream through worker pipelines, batches and the main pipeline's
 * routes gives exactly the rollups and measures of the single-thread pipeline.
 */
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults.js';
import type { FlowgaugeConfig, RollupDefinition } from '../src/config/types.js';
import { FlowPipeline } from '../src/pipeline.js';
import { cloneFlowRecord, createFlowRecord, type FlowRecord } from '../src/record.js';
import { createFlowLabels, type FlowLabels } from '../src/rollup/types.js';
import {
  EnrichedBatchError,
  EnrichedBatchReader,
  EnrichedBatchWriter,
  MAX_LABEL_SETS,
  MAX_WORDS_PER_RECORD,
  NUMBERS_PER_RECORD,
  BYTES_PER_RECORD,
  type EnrichedBatch,
  type RoutedCounter,
} from '../src/sources/enriched-batch.js';
import { fillRandomFlow, rng, snapshotOf } from './helpers/random-flows.js';

function labelsOf(device: string, peer = 'p'): FlowLabels {
  const l = createFlowLabels();
  l.device = device;
  l.peer = peer;
  l.exporter = '192.0.2.1';
  return l;
}

function plainRecord(): FlowRecord {
  const r = createFlowRecord();
  r.exporter = '192.0.2.1';
  r.sourceKind = 'netflow9';
  r.bytes = 100;
  r.packets = 1;
  return r;
}

interface Counted {
  device: string;
  peer: string;
  meta: Record<string, string> | undefined;
}

function collect(out: Counted[]): (r: FlowRecord, labels: FlowLabels) => void {
  return (r, labels) => out.push({ device: labels.device, peer: labels.peer, meta: r.meta });
}

describe('label sets by id in enriched batches', () => {
  it('sends a label set once, then its id; a refill mid-batch takes effect from its record on', () => {
    const batches: EnrichedBatch[] = [];
    const writer = new EnrichedBatchWriter(16, (b) => batches.push(b));
    const r = plainRecord();
    const meta = createFlowRecord();
    meta.sourceKind = 'aws';
    meta.meta = { vpc: 'vpc-1' };
    const A = labelsOf('a');
    const B = labelsOf('b');
    writer.add(r, A, 1, 3, true); // defines 3 = A
    writer.add(r, A, 1, 3, false); // 3
    writer.add(r, B, 1, 3, true); // the worker refilled entry 3: redefines 3 = B
    writer.add(r, B, 1, 3, false);
    writer.add(meta, labelsOf('c'), 1, -1, false); // outside the cache: labels inline
    writer.add(r, B, 1, 3, false);
    writer.add(r, A, 1, 7, false); // never defined: defined anyway
    batches.push(writer.take());
    writer.add(r, B, 2, 3, false); // the reader still knows 3 from the batch before
    writer.add(r, A, 2, 7, false);
    batches.push(writer.take());

    // Labels cross with the definitions and the inline record only: 4 words for the others.
    const words = 4 * MAX_WORDS_PER_RECORD + 3 * 4;
    expect(batches[0].ids.subarray(words).every((w) => w === 0)).toBe(true);
    expect(batches[0].ids[words - MAX_WORDS_PER_RECORD]).toBe(2 * 7 + 1);
    expect(batches[1].ids.subarray(8).every((w) => w === 0)).toBe(true);

    const out: Counted[] = [];
    const reader = new EnrichedBatchReader();
    for (const b of batches) reader.read(b, collect(out));
    expect(out.map((c) => c.device)).toEqual(['a', 'a', 'b', 'b', 'c', 'b', 'a', 'b', 'a']);
    expect(out[4].meta).toEqual({ vpc: 'vpc-1' });
    expect(out.filter((c) => c.meta !== undefined)).toHaveLength(1);
  });

  it('keeps one route per label set, resets it when the set is redefined, and starts over for another engine', () => {
    const batches: EnrichedBatch[] = [];
    const writer = new EnrichedBatchWriter(64, (b) => batches.push(b));
    const r = plainRecord();
    const A = labelsOf('a');
    const B = labelsOf('b');
    writer.add(r, A, 1, 3, true);
    writer.add(r, A, 1, 3, false);
    writer.add(r, B, 1, 3, true);
    writer.add(r, B, 1, 3, false);
    writer.add(r, labelsOf('inline'), 1, -1, false);
    writer.add(r, A, 1, 9, true);
    writer.add(r, B, 1, 3, false);
    const first = writer.take();
    writer.add(r, B, 1, 3, false);
    const second = writer.take();

    let made = 0;
    let resets = 0;
    const log: Array<{ device: string; route: Int32Array | undefined; fresh: boolean }> = [];
    const counter = (): RoutedCounter => ({
      rollups: {
        newRoute: () => {
          made++;
          return new Int32Array(1).fill(-1);
        },
        resetRoute: (route) => {
          resets++;
          route.fill(-1);
        },
      },
      countEnriched: (_r, labels) => log.push({ device: labels.device, route: undefined, fresh: false }),
      countEnrichedRouted: (_r, labels, route) => {
        log.push({ device: labels.device, route, fresh: route[0] === -1 });
        // What countRouted does: remember something in the route.
        route[0] = 1;
      },
    });
    const reader = new EnrichedBatchReader();
    const main = counter();
    reader.read(first, main);
    expect(log.map((e) => e.device)).toEqual(['a', 'a', 'b', 'b', 'inline', 'a', 'b']);
    expect(log.map((e) => e.fresh)).toEqual([true, false, true, false, false, true, false]);
    const route3 = log[0].route!;
    expect(log[1].route).toBe(route3);
    expect(log[2].route).toBe(route3); // redefinition: the same route, reset
    expect(log[4].route).toBeUndefined(); // inline labels: countEnriched
    expect(log[5].route).not.toBe(route3);
    expect(log[6].route).toBe(route3);
    expect(made).toBe(2);
    expect(resets).toBe(1);

    // The same reader counting into another engine must not reuse rows of the first.
    log.length = 0;
    reader.read(second, counter());
    expect(log).toHaveLength(1);
    expect(log[0].device).toBe('b');
    expect(log[0].fresh).toBe(true);
    expect(log[0].route).not.toBe(route3);
  });

  it('round-trips a random stream with refills, inline records and string table restarts', () => {
    const next = rng(21);
    const batches: EnrichedBatch[] = [];
    /** Label set ids defined within the batch being written, to see refills mid-batch happen. */
    let definedInBatch = new Set<number>();
    let refillsWithinBatch = 0;
    const emit = (b: EnrichedBatch): void => {
      batches.push(b);
      definedInBatch = new Set();
    };
    const writer = new EnrichedBatchWriter(200, emit, { maxLabelSets: 32, maxStrings: 300 });
    const current: Array<FlowLabels | undefined> = new Array(32).fill(undefined);
    const expected: Counted[] = [];
    const r = plainRecord();
    let fresh = 0;
    for (let i = 0; i < 20_000; i++) {
      r.bytes = i;
      if (next() < 0.05) {
        // A record outside the cache: its own labels, a bag, new strings now and then.
        const labels = labelsOf(`inline-${Math.floor(next() * 50)}`, `peer-${fresh++}`);
        r.meta = { vpc: `vpc-${i % 3}` };
        writer.add(r, labels, i, -1, false);
        expected.push({ device: labels.device, peer: labels.peer, meta: { ...r.meta } });
        r.meta = undefined;
        continue;
      }
      const id = Math.floor(next() * 32);
      let changed = false;
      if (current[id] === undefined || next() < 0.03) {
        current[id] = labelsOf(`dev-${id}`, `peer-${fresh++}`);
        changed = true;
        if (definedInBatch.has(id)) refillsWithinBatch++;
        definedInBatch.add(id);
      }
      const labels = current[id]!;
      writer.add(r, labels, i, id, changed);
      expected.push({ device: labels.device, peer: labels.peer, meta: undefined });
      if (next() < 0.002) emit(writer.take());
    }
    emit(writer.take());

    const out: Counted[] = [];
    const bytes: number[] = [];
    const reader = new EnrichedBatchReader(32);
    for (const b of batches) {
      reader.read(b, (rec, labels) => {
        out.push({ device: labels.device, peer: labels.peer, meta: rec.meta === undefined ? undefined : { ...rec.meta } });
        bytes.push(rec.bytes);
      });
    }
    expect(out).toEqual(expected);
    expect(bytes).toEqual(expected.map((_e, i) => i));
    expect(batches.filter((b) => b.reset).length).toBeGreaterThan(5);
    for (const b of batches) expect(b.strings.length).toBeLessThanOrEqual(300);
    expect(refillsWithinBatch).toBeGreaterThan(20);
  });

  it('refuses bad label set ids and malformed batches with clear errors', () => {
    const writer = new EnrichedBatchWriter(4, () => undefined);
    const r = plainRecord();
    expect(() => writer.add(r, labelsOf('a'), 0, MAX_LABEL_SETS, true)).toThrow(RangeError);
    expect(() => writer.add(r, labelsOf('a'), 0, 1.5, false)).toThrow(/label set id 1.5 is outside/);
    expect(() => writer.add(r, labelsOf('a'), 0, -2, false)).toThrow(/label set id -2 is outside/);
    expect(writer.pending).toBe(0);
    expect(() => new EnrichedBatchWriter(4, () => undefined, { maxStrings: 5 })).toThrow(/maxStrings/);
    expect(() => new EnrichedBatchWriter(0, () => undefined)).toThrow(/capacity/);

    const batch = (records: number, strings: string[], ...words: number[]): EnrichedBatch => {
      const ids = new Int32Array(Math.max(words.length, 1));
      ids.set(words);
      return {
        records,
        reset: false,
        strings,
        ids,
        numbers: new Float64Array(records * NUMBERS_PER_RECORD),
        bytes: new Uint8Array(records * BYTES_PER_RECORD),
        meta: [],
      };
    };
    const labels15 = new Array<number>(15).fill(0);
    const ignore = (): void => undefined;
    expect(() => new EnrichedBatchReader().read(batch(1, ['x'], 2 * (MAX_LABEL_SETS + 100) + 1, 0, 0, 0, ...labels15), ignore)).toThrow(
      new RegExp(`label set ${MAX_LABEL_SETS + 100}, outside 0\\.\\.${MAX_LABEL_SETS - 1}`),
    );
    expect(() => new EnrichedBatchReader(16).read(batch(1, ['x'], 2 * 20, 0, 0, 0), ignore)).toThrow(/label set 20, outside 0\.\.15/);
    expect(() => new EnrichedBatchReader().read(batch(1, ['x'], -7, 0, 0, 0), ignore)).toThrow(/label set -7/);
    expect(() => new EnrichedBatchReader().read(batch(1, ['x'], 2 * 4, 0, 0, 0), ignore)).toThrow(/uses label set 4 before its definition/);
    expect(() => new EnrichedBatchReader().read(batch(1, ['x'], -1, 0, 0, 0, 5, ...labels15.slice(1)), ignore)).toThrow(
      /names string 5, the table holds 1/,
    );
    expect(() => new EnrichedBatchReader().read(batch(1, ['x'], 2 * 4, 0, 3, 0), ignore)).toThrow(EnrichedBatchError);
    expect(() => new EnrichedBatchReader().read(batch(2, ['x'], -1, 0, 0, 0), ignore)).toThrow(/past the end/);
    expect(() => new EnrichedBatchReader().read({ ...batch(1, ['x'], 0, 0, 0, 0), records: 3 }, ignore)).toThrow(/do not fit/);
  });

  it('still applies the definitions of a batch whose counting failed, so the next batch reads right', () => {
    const batches: EnrichedBatch[] = [];
    const writer = new EnrichedBatchWriter(16, (b) => batches.push(b));
    const r = plainRecord();
    writer.add(r, labelsOf('a'), 0, 1, true);
    writer.add(r, labelsOf('b'), 0, 2, true);
    writer.add(r, labelsOf('c'), 0, 1, true);
    batches.push(writer.take());
    writer.add(r, labelsOf('c'), 0, 1, false);
    writer.add(r, labelsOf('b'), 0, 2, false);
    batches.push(writer.take());
    const reader = new EnrichedBatchReader();
    expect(() =>
      reader.read(batches[0], () => {
        throw new Error('count failed');
      }),
    ).toThrow('count failed');
    const out: Counted[] = [];
    reader.read(batches[1], collect(out));
    expect(out.map((c) => c.device)).toEqual(['c', 'b']);
  });
});

// ---- Equivalence: worker pipelines -> batches -> main pipeline routes == the single-thread pipeline.

const ROLLUPS: RollupDefinition[] = [
  { name: 'flow_exporter', labels: ['exporter', 'source'], budget: 4 },
  { name: 'flow_device', labels: ['device', 'direction'], budget: 10 },
  { name: 'flow_app', labels: ['device', 'app'], budget: 14 },
  { name: 'flow_peer', labels: ['device', 'peer'], budget: 18 },
  { name: 'flow_if', labels: ['input_interface', 'output_interface', 'action'], budget: 7 },
  { name: 'flow_cloud', labels: ['vpc', 'region', 'zone'], budget: 3 },
];

/** Quick heavy-hitter decisions, so that rows change hands within the stream. */
const SELECTION = {
  halfLifeMs: 2000,
  admitAfterMs: 100,
  evictAfterMs: 200,
  readmitHoldoffMs: 1000,
  // Engine settings beyond the config file's keys, passed through by the pipeline.
  minLeadRecords: 1,
  tickMs: 50,
  seed: 9,
};

function equivalenceConfig(): FlowgaugeConfig {
  const c = defaultConfig();
  c.localNetworks = ['10.0.0.0/8', 'fd00::/8'];
  c.inventory = [
    { match: '10.0.0.4', name: 'printer', site: 'office', type: 'printer' },
    { match: '10.2.0.0/16', name: 'lab', site: 'lab' },
    { match: '02:00:00:00:00:06', name: 'sensor', type: 'iot' },
  ];
  c.peerNetworks = [{ match: '203.0.113.32/28', name: 'cdn' }];
  c.rollups = ROLLUPS.map((d) => ({ ...d, labels: [...d.labels], selection: { ...SELECTION } }));
  c.histograms = [
    { name: 'flow_rtt_seconds', value: 'rtt', labels: ['device'], budget: 5, buckets: [0.001, 0.01, 0.1] },
    { name: 'flow_duration_seconds', value: 'duration', labels: ['app', 'device'], budget: 7, buckets: [1, 10] },
  ];
  c.distinct = { budget: 4, windowSeconds: 2, subWindows: 2, precision: 6 };
  c.info = { deviceBudget: 6, exporterBudget: 3 };
  return c;
}

/** The decoder-facing record entry of a pipeline (what handleDatagram's decoders call per record). */
function sinkOf(p: FlowPipeline): (r: FlowRecord) => void {
  return (p as unknown as { sink: (r: FlowRecord) => void }).sink;
}

describe('counting through worker label sets and main-thread routes', () => {
  it('gives the single-thread rollups and measures exactly, with entries refilled all the time', () => {
    const c = equivalenceConfig();
    const WORKERS = 2;
    const single = new FlowPipeline(c, { flowKeyCacheEntries: 64 });
    const main = new FlowPipeline(c);

    interface Posted {
      worker: number;
      batch: EnrichedBatch;
      originals: Array<{ record: FlowRecord; receivedMs: number }>;
    }
    /** Batches in the order the workers post them; each with the records that went into it. */
    const posted: Posted[] = [];
    const written: Array<Array<{ record: FlowRecord; receivedMs: number }>> = [];
    const writers: EnrichedBatchWriter[] = [];
    const posts: Array<(batch: EnrichedBatch) => void> = [];
    const readers: EnrichedBatchReader[] = [];
    const workers: FlowPipeline[] = [];
    let changedIds = 0;
    let receivedMs = 0;
    for (let w = 0; w < WORKERS; w++) {
      written.push([]);
      const post = (batch: EnrichedBatch): void => void posted.push({ worker: w, batch, originals: written[w].splice(0, batch.records) });
      // Small string tables too, so that restarts fall between definitions and their uses.
      posts.push(post);
      const writer = new EnrichedBatchWriter(97, post, { maxStrings: 400 });
      writers.push(writer);
      readers.push(new EnrichedBatchReader());
      // A tiny worker cache: its entries are refilled with other label sets again and again.
      workers.push(
        new FlowPipeline(c, {
          flowKeyCacheEntries: 16,
          onEnriched: (r, labels, id, changed) => {
            if (changed) changedIds++;
            writer.add(r, labels, receivedMs, id, changed);
          },
        }),
      );
    }
    const sinks = workers.map(sinkOf);
    const singleSink = sinkOf(single);

    let singleTime = NaN;
    const countPosted = (): void => {
      for (const p of posted.splice(0)) {
        // The single-thread pipeline takes the same records in the order the main thread counts them.
        for (const o of p.originals) {
          if (o.receivedMs !== singleTime) {
            singleTime = o.receivedMs;
            single.rollups.setReceiveTime(o.receivedMs);
          }
          singleSink(o.record);
        }
        readers[p.worker].read(p.batch, main);
        writers[p.worker].recycle(p.batch.ids, p.batch.numbers, p.batch.bytes);
      }
    };

    const next = rng(77);
    const r = createFlowRecord();
    let t = 1_700_000_000_000;
    let metaRecords = 0;
    const N = 40_000;
    for (let i = 0; i < N; i++) {
      if (i % 7 === 0) t += Math.floor(next() * 30);
      receivedMs = t;
      fillRandomFlow(r, next, { flood: i > 12_000 && i < 22_000, drift: 10 * (Math.floor(i / 7000) % 3), cloud: true });
      if (r.meta !== undefined) metaRecords++;
      // An exporter stays on one worker, as the kernel's reuseport hash keeps it.
      const w = r.exporter.charCodeAt(r.exporter.length - 1) % WORKERS;
      written[w].push({ record: cloneFlowRecord(r), receivedMs });
      sinks[w](r);
      // The workers' flush timer: post what is there now and then.
      if (next() < 0.01) for (let k = 0; k < WORKERS; k++) if (writers[k].pending > 0) posts[k](writers[k].take());
      if (i % 5000 === 4999) {
        countPosted();
        expect(snapshotOf(main.rollups, t)).toEqual(snapshotOf(single.rollups, t));
      }
    }
    for (let w = 0; w < WORKERS; w++) if (writers[w].pending > 0) posts[w](writers[w].take());
    expect(written.every((list) => list.length === 0)).toBe(true);
    countPosted();
    expect(snapshotOf(main.rollups, t)).toEqual(snapshotOf(single.rollups, t));

    // The stream exercised what could make a label set or a remembered row wrong.
    expect(metaRecords).toBeGreaterThan(1000);
    for (const w of workers) expect(w.keyCache.misses).toBeGreaterThan(50 * w.keyCache.entries);
    expect(changedIds).toBeGreaterThan(5000);
    const stats = main.rollups.stats();
    expect(stats.reduce((n, s) => n + s.evictions, 0)).toBeGreaterThan(0);
    expect(stats.reduce((n, s) => n + s.rejectedRecords, 0)).toBeGreaterThan(0);
    expect(main.rollups.measureStats().find((s) => s.name === 'flow_device_distinct_peers')!.evictions).toBeGreaterThan(0);
    expect(stats[0].totalFlows).toBeGreaterThan(0.9 * N);
  });
});
