/**
 * The batch codec between ingest workers and the counting thread: every FlowRecord and FlowLabels
 * field survives the trip, across string-table restarts, and the field list stays in step with
 * FlowRecord.
 */
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults.js';
import { FlowPipeline } from '../src/pipeline.js';
import { cloneFlowRecord, createFlowRecord, type FlowRecord } from '../src/record.js';
import { createFlowLabels, type FlowLabels } from '../src/rollup/types.js';
import {
  BATCH_RECORD_FIELDS,
  EnrichedBatchReader,
  EnrichedBatchWriter,
  MAX_STRINGS,
  type EnrichedBatch,
} from '../src/sources/enriched-batch.js';
import { corpusDatagrams } from './helpers/corpus.js';

interface Seen {
  record: FlowRecord;
  labels: FlowLabels;
  receivedMs: number;
}

function roundTrip(input: Seen[], capacity: number): { out: Seen[]; batches: EnrichedBatch[] } {
  const batches: EnrichedBatch[] = [];
  const writer = new EnrichedBatchWriter(capacity, (b) => batches.push(b));
  for (const s of input) writer.add(s.record, s.labels, s.receivedMs);
  batches.push(writer.take());
  const reader = new EnrichedBatchReader();
  const out: Seen[] = [];
  for (const b of batches) reader.read(b, (r, labels, receivedMs) => out.push({ record: cloneFlowRecord(r), labels: { ...labels }, receivedMs }));
  return { out, batches };
}

describe('enriched record batches', () => {
  it('carries every field of FlowRecord', () => {
    expect([...BATCH_RECORD_FIELDS].sort()).toEqual(Object.keys(createFlowRecord()).sort());
  });

  it('corpus records and their labels come out as they went in', () => {
    const seen: Seen[] = [];
    let now = 1_700_000_000_000;
    const pipeline = new FlowPipeline(defaultConfig(), {
      onEnriched: (r, labels) => seen.push({ record: cloneFlowRecord(r), labels: { ...labels }, receivedMs: now }),
    });
    for (const file of ['softflowd-v9', 'pmacctd-nfprobe-ipfix', 'softflowd-v5', 'pmacctd-sfprobe-rate10']) {
      for (const d of corpusDatagrams(`edge/${file}.pcap`)) pipeline.handleDatagram(d.payload, '192.0.2.7', now++);
    }
    expect(seen.length).toBeGreaterThan(400);
    // The pipeline with onEnriched counts nothing itself.
    expect(pipeline.rollups.stats().every((s) => s.totalFlows === 0)).toBe(true);
    const { out, batches } = roundTrip(seen, 64);
    expect(batches.length).toBeGreaterThan(5);
    expect(out).toEqual(seen);
  });

  it('keeps MAC flags, NaN latency, unusual numbers and metadata bags', () => {
    const r = createFlowRecord();
    r.sourceKind = 'aws';
    r.exporter = '123456789012/eni-1';
    r.af = 6;
    r.src.set([0xfd, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    r.hasDstMac = true;
    r.dstMac.set([2, 0, 0, 0, 0, 9]);
    r.bytes = 2 ** 53 - 1;
    r.rttMs = 12.5;
    r.appName = 'TLS.Google';
    r.meta = { vpc: 'vpc-1', region: 'eu-west-1' };
    const labels = createFlowLabels();
    labels.device = 'fd12::1';
    labels.vpc = 'vpc-1';
    const plain = createFlowRecord();
    const input: Seen[] = [
      { record: cloneFlowRecord(r), labels: { ...labels }, receivedMs: 5 },
      { record: cloneFlowRecord(plain), labels: createFlowLabels(), receivedMs: 6 },
    ];
    const { out } = roundTrip(input, 8);
    expect(out).toEqual(input);
    expect(Number.isNaN(out[1].record.rttMs)).toBe(true);
    expect(out[1].record.meta).toBeUndefined();
  });

  it('restarts its string table before it passes MAX_STRINGS, and the reader follows', () => {
    const input: Seen[] = [];
    const r = createFlowRecord();
    r.exporter = '192.0.2.1';
    for (let i = 0; i < MAX_STRINGS; i++) {
      const labels = createFlowLabels();
      labels.peer = `198.18.${i >> 8}.${i & 255}`;
      labels.device = `device-${i % 3}`;
      input.push({ record: cloneFlowRecord(r), labels, receivedMs: i });
    }
    const { out, batches } = roundTrip(input, 4096);
    expect(batches.filter((b) => b.reset).length).toBeGreaterThanOrEqual(1);
    for (const b of batches) expect(b.strings.length).toBeLessThanOrEqual(MAX_STRINGS);
    expect(out).toEqual(input);
  });
});
