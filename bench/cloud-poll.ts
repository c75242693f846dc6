/**
 * Cloud flow-log polling throughput: AWS VPC flow logs delivered as S3 delivers them (gzip text
 * objects under a day folder) in s3rver on loopback, read by a CloudFlowLogPoller into the whole
 * pipeline (decode, enrich, rollups); against, in the same run:
 * - the same objects from an in-memory store (listing, gunzip and the poller, without a network);
 * - the same texts counted by the pipeline straight from memory (no store, no gzip, no poller).
 * So the ratios say what the storage round trips and the gunzip cost on top of counting.
 *
 *   npm run bench:cloud-poll       (= npm run build && npx tsx bench/cloud-poll.ts)
 *
 * Printed per way: wall time and CPU time of this process (s3rver runs in a child process, whose
 * CPU is not included), records/s by wall time; fastest of BENCH_ROUNDS (default 3) rounds, each
 * with a fresh pipeline and poller (no checkpoint).
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { FlowLogStore, StoredObject } from '../src/sources/cloud/flow-log-store.js';
import { S3RVER_CREDENTIALS, startS3rver } from '../test/helpers/cloud-emulators.js';
import { corpusPath } from '../test/helpers/corpus.js';
import { fromDist } from './dist.js';
import { printMachine, printTable, si } from './machine.js';

const { defaultConfig } = await fromDist<typeof import('../src/config/defaults.js')>('config/defaults.js');
const { FlowPipeline } = await fromDist<typeof import('../src/pipeline.js')>('pipeline.js');
const { CloudFlowLogPoller } = await fromDist<typeof import('../src/sources/cloud/cloud-flow-log-poller.js')>('sources/cloud/cloud-flow-log-poller.js');
const { S3FlowLogStore } = await fromDist<typeof import('../src/sources/cloud/s3-flow-log-store.js')>('sources/cloud/s3-flow-log-store.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const OBJECTS = 40;
const RECORDS_PER_OBJECT = 25_000;
const BUCKET = 'flow-logs';
const PREFIX = 'AWSLogs/111122223333/vpcflowlogs/eu-west-1/';

/** One object: the Elastic sample's header and its OK records, repeated, with varied addresses. */
function objectText(n: number): string {
  const [header, ...rows] = readFileSync(corpusPath('cloud/aws/otel-contrib/valid_vpc_flow_log_multi.log'), 'utf8').trimEnd().split('\n');
  const ok = rows.filter((r) => r.endsWith(' OK'));
  const lines = [header];
  for (let i = 0; i < RECORDS_PER_OBJECT; i++) {
    const f = ok[i % ok.length].split(' ');
    // Peers spread over a /16 and ports over a range, as a busy interface's would.
    f[3] = `10.${n}.${(i >> 8) & 255}.${i & 255}`;
    f[5] = String(1024 + (i % 60000));
    lines.push(f.join(' '));
  }
  return `${lines.join('\n')}\n`;
}

class MemoryStore implements FlowLogStore {
  readonly location = 'mem://flow-logs';
  constructor(private readonly objects: Map<string, Buffer>) {}
  async *list(prefix: string): AsyncIterable<StoredObject> {
    for (const [key, data] of this.objects) if (key.startsWith(prefix)) yield { key, size: data.length, version: '1', lastModifiedMs: Date.now() };
  }
  async read(key: string, offset: number): Promise<Buffer> {
    return this.objects.get(key)!.subarray(offset);
  }
}

interface Timing {
  wallMs: number;
  cpuMs: number;
  records: number;
}

async function timed(run: () => Promise<number>): Promise<Timing> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const records = await run();
  const c = process.cpuUsage(c0);
  return { wallMs: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, records };
}

async function fastest(run: () => Promise<number>): Promise<Timing> {
  await run();
  let best: Timing | undefined;
  for (let i = 0; i < ROUNDS; i++) {
    const t = await timed(run);
    if (best === undefined || t.wallMs < best.wallMs) best = t;
  }
  return best!;
}

printMachine('Cloud flow-log polling: S3 (s3rver) and in-memory store vs the pipeline from memory', 'npm run bench:cloud-poll');
const day = new Date();
const folder = `${PREFIX}${day.getUTCFullYear()}/${String(day.getUTCMonth() + 1).padStart(2, '0')}/${String(day.getUTCDate()).padStart(2, '0')}/`;
const texts = Array.from({ length: OBJECTS }, (_, n) => objectText(n));
const gz = new Map(texts.map((t, n) => [`${folder}111122223333_vpcflowlogs_eu-west-1_fl-0abc_${String(n).padStart(3, '0')}.log.gz`, gzipSync(t)]));
const storedBytes = [...gz.values()].reduce((a, b) => a + b.length, 0);
console.log(`${OBJECTS} objects of ${RECORDS_PER_OBJECT.toLocaleString('en')} records: ${si(texts.reduce((a, t) => a + t.length, 0))}B of text, ${si(storedBytes)}B gzip`);

const s3rver = await startS3rver([BUCKET]);
try {
  const uploader = new S3Client({ region: 'us-east-1', endpoint: s3rver.url, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  for (const [key, body] of gz) await uploader.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  uploader.destroy();

  const poll = (store: () => FlowLogStore) => async (): Promise<number> => {
    const pipeline = new FlowPipeline(defaultConfig());
    const poller = new CloudFlowLogPoller({
      name: 'bench',
      kind: 'aws',
      store: store(),
      prefixes: [`${PREFIX}{yyyy}/{mm}/{dd}/`],
      intervalMs: 60_000,
      lookbackMs: 3_600_000,
      deliver: (kind, text, ms, options) => pipeline.handleCloudFlowLog(kind, text, ms, options),
    });
    await poller.pollOnce();
    await poller.stop();
    if (poller.counters.objects !== OBJECTS) throw new Error(`read ${poller.counters.objects} objects of ${OBJECTS}`);
    return poller.counters.records;
  };
  const direct = async (): Promise<number> => {
    const pipeline = new FlowPipeline(defaultConfig());
    let records = 0;
    const now = Date.now();
    for (const t of texts) records += pipeline.handleCloudFlowLog('aws', t, now);
    return records;
  };

  const results: Array<[string, Timing]> = [
    ['pipeline from memory (no store, no gzip)', await fastest(direct)],
    ['poller, in-memory store (gzip)', await fastest(poll(() => new MemoryStore(gz)))],
    ['poller, S3 (s3rver on loopback, gzip)', await fastest(poll(() => new S3FlowLogStore({ bucket: BUCKET, region: 'us-east-1', endpoint: s3rver.url, forcePathStyle: true, credentials: S3RVER_CREDENTIALS })))],
  ];
  const base = results[0][1];
  printTable(
    ['way', 'records', 'wall', 'CPU (this process)', 'records/s (wall)', 'vs pipeline from memory'],
    results.map(([name, t]) => [
      name,
      t.records.toLocaleString('en'),
      `${t.wallMs.toFixed(0)} ms`,
      `${t.cpuMs.toFixed(0)} ms`,
      si((t.records * 1000) / t.wallMs),
      `${(base.wallMs / t.wallMs).toFixed(2)}×`,
    ]),
  );
} finally {
  await s3rver.stop();
}
