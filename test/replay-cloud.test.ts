/**
 * `flowgauge replay` on cloud flow-log files: each cloud's files are recognised from their content
 * (gzip-compressed too), every record the decoder emits is counted through enrichment and the
 * rollups (each family's sum equals what the decoder emitted), the direction comes from the
 * reporting interface, and a file that is no flow log is refused with a clear message.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config/defaults.js';
import { decodeCloudFlowLog, detectCloudFlowLog, type CloudKind } from '../src/decoders/cloud-flow-log.js';
import { createCloudDecodeCounters } from '../src/decoders/cloud-types.js';
import { runReplay } from '../src/replay.js';
import { corpusPath } from './helpers/corpus.js';
import { parseExposition, sumOf, type Sample } from './helpers/exposition.js';

async function replay(files: string[]): Promise<{ code: number; samples: Sample[]; stderr: string }> {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await runReplay({ ...DEFAULT_CONFIG }, files, out);
    return { code, samples: parseExposition(text), stderr };
  } finally {
    process.stderr.write = write;
  }
}

/** What the decoder alone emits for a file: records, bytes, packets. */
function decoded(kind: CloudKind, file: string): { records: number; bytes: number; packets: number; flows: number } {
  const counters = createCloudDecodeCounters();
  const sum = { records: 0, bytes: 0, packets: 0, flows: 0 };
  decodeCloudFlowLog(kind, readFileSync(file, 'utf8'), counters, (r) => {
    sum.records++;
    sum.bytes += r.bytes;
    sum.packets += r.packets;
    sum.flows += r.flows;
  });
  expect(counters.records).toBe(sum.records);
  return sum;
}

const FILES: Array<[CloudKind, string]> = [
  ['aws', 'cloud/aws/otel-contrib/valid_vpc_flow_log_multi.log'],
  ['aws', 'cloud/aws/elastic-integrations/test-extra-samples.log'],
  ['aws', 'cloud/aws/otel-contrib/valid_vpc_flow_cw.json'],
  ['aws', 'cloud/aws/otel-contrib/valid_tgw_flow_log.log'],
  ['azure', 'cloud/azure/msdocs/nsg-flow-log-v2-sample.json'],
  ['azure', 'cloud/azure/msdocs/vnet-flow-log-v4-sample.json'],
  ['azure', 'cloud/azure/elastic-integrations/vnet-testdata-PT1H.json'],
  ['gcp', 'cloud/gcp/elastic-integrations/vpcflow-logentries.first7.ndjson'],
  ['gcp', 'cloud/gcp/elastic-integrations/test-vpcflow-event.first7.json'],
  ['gcp', 'cloud/gcp/otel-contrib/vpc-flow-log-from-computeengine.json'],
  ['gcp', 'cloud/gcp/sekoia-intake-formats/flow_logs_gke.logentry.json'],
];

const tmp = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-cloud-replay-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('cloud flow-log files: which cloud wrote them', () => {
  it('recognises each cloud from the content alone', () => {
    for (const [kind, rel] of FILES) expect(detectCloudFlowLog(readFileSync(corpusPath(rel), 'utf8')), rel).toBe(kind);
    // Documents that carry one AWS record each as their "message", and a file with only a NODATA line.
    for (const rel of ['cloud/aws/elastic-integrations/test-with-message-field.log', 'cloud/aws/otel-contrib/valid_vpc_flow_log.log']) {
      expect(detectCloudFlowLog(readFileSync(corpusPath(rel), 'utf8')), rel).toBe('aws');
    }
  });

  it('says none for what is no flow log', () => {
    for (const text of ['', 'hello world\n', '{"a":1}', '[1,2,3]', 'version of something else\n', '2 3 4\n']) {
      expect(detectCloudFlowLog(text), text).toBeUndefined();
    }
  });
});

describe('flowgauge replay on cloud flow logs', () => {
  for (const [kind, rel] of FILES) {
    it(`${rel}: every record the ${kind} decoder emits is counted, in every rollup`, async () => {
      const want = decoded(kind, corpusPath(rel));
      expect(want.records).toBeGreaterThan(0);
      const { code, samples } = await replay([corpusPath(rel)]);
      expect(code).toBe(0);
      expect(sumOf(samples, 'flowgauge_cloud_records_total', { source: kind })).toBe(want.records);
      for (const family of ['flow_exporter', 'flow_device', 'flow_app', 'flow_peer']) {
        expect(sumOf(samples, `${family}_bytes_total`), family).toBe(want.bytes);
        expect(sumOf(samples, `${family}_packets_total`), family).toBe(want.packets);
        expect(sumOf(samples, `${family}_flows_total`), family).toBe(want.flows);
      }
      // The source label says which cloud.
      expect(sumOf(samples, 'flow_exporter_bytes_total', { source: kind })).toBe(want.bytes);
    });
  }

  it('GCP: the hand-counted totals of the Elastic sample, and the direction from the reporter', async () => {
    const { samples } = await replay([corpusPath('cloud/gcp/elastic-integrations/vpcflow-logentries.first7.ndjson')]);
    // 7 entries, 520,545 bytes and 419 packets (summed by hand in the GCP decoder's tests).
    expect(sumOf(samples, 'flow_exporter_bytes_total')).toBe(520_545);
    expect(sumOf(samples, 'flow_exporter_packets_total')).toBe(419);
    expect(sumOf(samples, 'flow_exporter_flows_total')).toBe(7);
    const directions = new Set(samples.filter((s) => s.name === 'flow_device_bytes_total').map((s) => s.labels.direction));
    for (const d of directions) expect(['egress', 'ingress', 'internal']).toContain(d);
  });

  it('Azure: Microsoft\'s NSG v2 sample gives its 46,661 bytes, split by direction of travel', async () => {
    const { samples } = await replay([corpusPath('cloud/azure/msdocs/nsg-flow-log-v2-sample.json')]);
    expect(sumOf(samples, 'flow_exporter_bytes_total')).toBe(46_661);
    expect(sumOf(samples, 'flow_exporter_packets_total')).toBe(83);
    expect(sumOf(samples, 'flowgauge_cloud_records_skipped_total', { source: 'azure', reason: 'no_data' })).toBe(1);
  });

  it('reads gzip-compressed files, and several clouds in one replay', async () => {
    const files = FILES.filter(([, rel]) => rel.endsWith('.ndjson') || rel.endsWith('v2-sample.json') || rel.endsWith('flow_log_multi.log'));
    const gz = files.map(([, rel], i) => {
      const f = path.join(tmp, `${i}-${path.basename(rel)}.gz`);
      writeFileSync(f, gzipSync(readFileSync(corpusPath(rel))));
      return f;
    });
    const plain = await replay(files.map(([, rel]) => corpusPath(rel)));
    const zipped = await replay(gz);
    expect(zipped.code).toBe(0);
    const total = files.reduce((n, [kind, rel]) => n + decoded(kind, corpusPath(rel)).bytes, 0);
    expect(sumOf(zipped.samples, 'flow_exporter_bytes_total')).toBe(total);
    expect(sumOf(plain.samples, 'flow_exporter_bytes_total')).toBe(total);
    for (const kind of ['aws', 'azure', 'gcp']) {
      expect(sumOf(zipped.samples, 'flowgauge_cloud_records_total', { source: kind })).toBe(sumOf(plain.samples, 'flowgauge_cloud_records_total', { source: kind }));
    }
  });

  it('refuses a file that is neither a capture nor a flow log, naming it and the formats', async () => {
    const f = path.join(tmp, 'notes.txt');
    writeFileSync(f, 'these are my notes\nnothing to see\n');
    const r = await replay([f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('notes.txt');
    expect(r.stderr).toMatch(/neither a pcap\/pcapng capture .* nor a cloud flow log/);
    const bad = path.join(tmp, 'broken.gz');
    writeFileSync(bad, Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    const b = await replay([bad]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('broken.gz: gzip data that does not decompress');
  });
});
