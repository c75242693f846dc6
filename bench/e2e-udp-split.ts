/**
 * Where the per-record work of the ingest-worker mode goes, measured in one thread on the
 * benchmark's own datagrams: the worker side (decode, enrich, write the batch) and the main side
 * (read the batch, count into the rollups and other families). The main side is the serial part:
 * its rate is the ceiling of ingest.workers N however many cores there are. Also the single-thread
 * pipeline (handleDatagram) for comparison. Used by bench/e2e-udp.ts.
 */
import type { EnrichedBatch } from '../src/sources/enriched-batch.js';
import { fromDist } from './dist.js';
import { dataDatagrams, helloDatagram, RECORDS_PER_DATAGRAM, type KeySpace } from './e2e-udp-datagrams.js';

const { defaultConfig } = await fromDist<typeof import('../src/config/defaults.js')>('config/defaults.js');
const { FlowPipeline } = await fromDist<typeof import('../src/pipeline.js')>('pipeline.js');
const { EnrichedBatchReader, EnrichedBatchWriter } = await fromDist<typeof import('../src/sources/enriched-batch.js')>('sources/enriched-batch.js');

export interface WorkSplit {
  /** ns per record of the single-thread pipeline. */
  singleThread: number;
  /** ns per record in a worker: decode, enrich, batch. */
  worker: number;
  /** ns per record on the main thread: read the batch, count. */
  main: number;
}

function cpuNs(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const t = process.cpuUsage(t0);
  return (t.user + t.system) * 1000;
}

/**
 * Runs `step` until V8 has optimized what it runs: until a step is no faster than the best of the
 * ones before it three times in a row (at least 1 s, at most 10 s of CPU). A fixed short warm-up
 * times code that is still being compiled: the figures then read as much as 40 % above what a
 * daemon that has been receiving for a few seconds spends.
 */
function warmUp(step: () => void): void {
  let best = Number.POSITIVE_INFINITY;
  let total = 0;
  let flat = 0;
  while (total < 10e9 && (total < 1e9 || flat < 3)) {
    const ns = cpuNs(step);
    total += ns;
    if (ns < best * 0.98) {
      best = ns;
      flat = 0;
    } else {
      flat++;
    }
  }
}

export function measureWorkSplit(space: KeySpace, passes = 200): WorkSplit {
  const datagrams = dataDatagrams(64, space);
  const records = datagrams.length * RECORDS_PER_DATAGRAM * passes;
  const now = Date.now();

  const single = new FlowPipeline(defaultConfig());
  single.handleDatagram(helloDatagram(), '127.0.0.1', now);
  const runSingle = (n: number): void => {
    for (let p = 0; p < n; p++) for (const d of datagrams) single.handleDatagram(d, '127.0.0.1', now);
  };

  const batches: EnrichedBatch[] = [];
  const writer = new EnrichedBatchWriter(1024, (b) => batches.push(b));
  const worker = new FlowPipeline(defaultConfig(), {
    onEnriched: (r, labels, labelSetId, labelSetChanged) => writer.add(r, labels, now, labelSetId, labelSetChanged),
  });
  worker.handleDatagram(helloDatagram(), '127.0.0.1', now);
  const runWorker = (n: number): void => {
    for (let p = 0; p < n; p++) for (const d of datagrams) worker.handleDatagram(d, '127.0.0.1', now);
    batches.push(writer.take());
  };
  const main = new FlowPipeline(defaultConfig());
  const reader = new EnrichedBatchReader();
  const runMain = (): void => {
    for (const b of batches) {
      // As the ingest worker pool does: label sets by id, counted through the reader's routes.
      reader.read(b, main);
      writer.recycle(b.ids, b.numbers, b.bytes);
    }
    batches.length = 0;
  };

  // The single-thread pipeline is warmed up and timed before the worker-mode pipelines run at all:
  // once those have run the same classes (a cache without routes, batches), V8's feedback is
  // shared and the single-thread code would be timed slower than it runs in a daemon.
  warmUp(() => runSingle(20));
  let s = 0;
  for (let round = 0; round < 4; round++) s += cpuNs(() => runSingle(passes / 4));
  // Then the two worker-mode sides, in alternation so both see the same machine.
  warmUp(() => {
    runWorker(20);
    runMain();
  });
  let w = 0;
  let m = 0;
  for (let round = 0; round < 4; round++) {
    w += cpuNs(() => runWorker(passes / 4));
    m += cpuNs(runMain);
  }
  return { singleThread: s / records, worker: w / records, main: m / records };
}
