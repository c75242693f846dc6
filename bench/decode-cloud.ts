/**
 * Cloud flow-log decode throughput: records/s of each cloud's decoder on large objects built from
 * the corpus samples, against the cost of merely reading the same text in the same process run
 * (JSON.parse of it for the JSON formats, splitting it into lines and fields for AWS text): the
 * floor of any JavaScript decoder of these formats, so the ratio says how much the decoding adds.
 * A last row runs the whole pipeline (decode, enrich, rollups) on the same objects.
 *
 *   npm run bench:cloud            (= npm run build && npx tsx bench/decode-cloud.ts)
 *
 * Objects: AWS S3 text (header line + the default-format records of the Elastic sample, repeated),
 * an Azure NSG v2 blob (Microsoft's sample record, repeated inside `records`), GCP NDJSON (the
 * Elastic sample's 7 entries, repeated): about 100,000 records each. Times are CPU time of this
 * process, fastest of BENCH_ROUNDS (default 5) rounds.
 */
import { readFileSync } from 'node:fs';
import { corpusPath } from '../test/helpers/corpus.js';
import { fromDist } from './dist.js';
import { printMachine, printTable, si } from './machine.js';

const { decodeCloudFlowLog } = await fromDist<typeof import('../src/decoders/cloud-flow-log.js')>('decoders/cloud-flow-log.js');
const { createCloudDecodeCounters } = await fromDist<typeof import('../src/decoders/cloud-types.js')>('decoders/cloud-types.js');
const { defaultConfig } = await fromDist<typeof import('../src/config/defaults.js')>('config/defaults.js');
const { FlowPipeline } = await fromDist<typeof import('../src/pipeline.js')>('pipeline.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TARGET = 100_000;

function cpuMs(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / 1000;
}

function fastest(fn: () => void): number {
  fn();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < ROUNDS; i++) best = Math.min(best, cpuMs(fn));
  return best;
}

function awsObject(): string {
  const lines = readFileSync(corpusPath('cloud/aws/elastic-integrations/test-extra-samples.log'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('NODATA') && !l.includes('SKIPDATA'));
  const header = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
  const out = [header];
  for (let i = 0; out.length <= TARGET; i++) out.push(lines[i % lines.length]);
  return out.join('\n') + '\n';
}

function azureObject(): string {
  const blob = JSON.parse(readFileSync(corpusPath('cloud/azure/msdocs/nsg-flow-log-v2-sample.json'), 'utf8')) as { records: unknown[] };
  const records: unknown[] = [];
  // Each copy of the sample's records decodes to 13 flow records (tuples with traffic, per direction).
  for (let copies = 0; copies * 13 < TARGET; copies++) records.push(...blob.records);
  return JSON.stringify({ records });
}

function gcpObject(): string {
  const lines = readFileSync(corpusPath('cloud/gcp/elastic-integrations/vpcflow-logentries.first7.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const out: string[] = [];
  for (let i = 0; out.length < TARGET; i++) out.push(lines[i % lines.length]);
  return out.join('\n') + '\n';
}

/** Reading the text and nothing else: the floor for a decoder of the format. */
function readOnly(kind: 'aws' | 'azure' | 'gcp', text: string): number {
  let n = 0;
  if (kind === 'aws') {
    for (const line of text.split('\n')) n += line.split(' ').length;
  } else if (kind === 'azure') {
    n += (JSON.parse(text) as { records: unknown[] }).records.length;
  } else {
    for (const line of text.split('\n')) if (line !== '') n += Object.keys(JSON.parse(line) as object).length;
  }
  return n;
}

printMachine('Cloud flow-log decode: records/s against reading the same text', 'npm run bench:cloud');
const rows: Array<Array<string | number>> = [];
for (const [kind, text] of [
  ['aws', awsObject()],
  ['azure', azureObject()],
  ['gcp', gcpObject()],
] as const) {
  let records = 0;
  let sink = 0;
  const decodeMs = fastest(() => {
    const counters = createCloudDecodeCounters();
    decodeCloudFlowLog(kind, text, counters, (r) => {
      sink += r.bytes;
    });
    records = counters.records;
  });
  const readMs = fastest(() => {
    sink += readOnly(kind, text);
  });
  const pipelineMs = fastest(() => {
    const pipeline = new FlowPipeline(defaultConfig());
    pipeline.handleCloudFlowLog(kind, text, Date.now());
  });
  if (sink < 0) console.log(sink);
  rows.push([
    kind,
    records.toLocaleString('en'),
    `${(text.length / 1e6).toFixed(1)} MB`,
    `${si((records * 1000) / decodeMs)}/s`,
    `${si((records * 1000) / readMs)}/s`,
    `${(decodeMs / readMs).toFixed(2)}x`,
    `${si((records * 1000) / pipelineMs)}/s`,
  ]);
}
printTable(['cloud', 'records', 'object', 'decode', 'reading alone', 'decode / reading', 'whole pipeline'], rows);
