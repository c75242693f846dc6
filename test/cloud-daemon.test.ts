/**
 * The daemon polling cloud flow logs end to end: AWS VPC flow logs in S3 (s3rver) and an Azure NSG
 * flow-log blob growing in Azure Storage (Azurite), configured through `cloud_flow_logs`, counted
 * into /metrics exactly as decoding the files gives, with the poll self-metrics and /status, and
 * a restart that reads nothing twice.
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults.js';
import type { FlowgaugeConfig } from '../src/config/types.js';
import type { RunningDaemon } from '../src/daemon.js';
import { azuriteConnectionString, S3RVER_CREDENTIALS, startAzurite, startS3rver, type RunningEmulator } from './helpers/cloud-emulators.js';
import { decodedTotals } from './helpers/cloud-decode.js';
import { corpusPath } from './helpers/corpus.js';
import { startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf, type Sample } from './helpers/exposition.js';

const BUCKET = 'acme-flow-logs';
const CONTAINER = 'insights-logs-networksecuritygroupflowevent';

let s3rver: RunningEmulator | undefined;
let azurite: RunningEmulator | undefined;
let s3: S3Client;
let container: ContainerClient;
const daemons: RunningDaemon[] = [];

beforeAll(async () => {
  [s3rver, azurite] = await Promise.all([startS3rver([BUCKET]), startAzurite()]);
  s3 = new S3Client({ region: 'us-east-1', endpoint: s3rver.url, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  container = BlobServiceClient.fromConnectionString(azuriteConnectionString(azurite.url)).getContainerClient(CONTAINER);
  await container.create();
}, 120_000);

afterAll(async () => {
  for (const d of daemons) await d.stop('test end');
  s3?.destroy();
  await Promise.all([s3rver?.stop(), azurite?.stop()]);
}, 60_000);

const totals = decodedTotals;

function utcDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}`;
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  return parseExposition(await res.text());
}

function cloudConfig(stateDir?: string): Partial<FlowgaugeConfig> {
  return {
    ...(stateDir === undefined ? {} : { stateDir }),
    cloudFlowLogs: [
      {
        name: 'prod-vpc',
        format: 'aws',
        store: { type: 's3', bucket: BUCKET, region: 'us-east-1', endpoint: s3rver!.url, forcePathStyle: true, ...S3RVER_CREDENTIALS },
        prefixes: ['AWSLogs/111122223333/vpcflowlogs/us-east-1/{yyyy}/{mm}/{dd}/'],
        pollIntervalMs: 1000,
        lookbackMs: 24 * 3_600_000,
      },
      {
        name: 'nsg',
        format: 'azure',
        store: { type: 'azure_blob', container: CONTAINER, connectionString: azuriteConnectionString(azurite!.url) },
        prefixes: [''],
        pollIntervalMs: 1000,
        lookbackMs: 24 * 3_600_000,
      },
    ],
  };
}

describe('cloud_flow_logs in the daemon', () => {
  it('counts S3 and Azure flow logs into /metrics as the files decode, follows a growing blob, and reads nothing twice after a restart', async () => {
    const awsFiles = ['valid_vpc_flow_log.log', 'valid_vpc_flow_log_multi.log'].map((f) => readFileSync(corpusPath(`cloud/aws/otel-contrib/${f}`), 'utf8'));
    const day = utcDate(Date.now());
    for (const [i, text] of awsFiles.entries()) {
      await s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: `AWSLogs/111122223333/vpcflowlogs/us-east-1/${day}/111122223333_vpcflowlogs_us-east-1_fl-0123_${i}.log.gz`,
          Body: gzipSync(text),
        }),
      );
    }
    const aws = awsFiles.map((t) => totals('aws', t)).reduce((a, b) => ({ records: a.records + b.records, bytes: a.bytes + b.bytes, packets: a.packets + b.packets }));
    expect(aws.records).toBeGreaterThan(0);

    // The NSG blob as Network Watcher writes it: header, one record, footer; a second record later.
    const doc = JSON.parse(readFileSync(corpusPath('cloud/azure/elastic-integrations/nsg-testdata-PT1H.json'), 'utf8')) as { records: unknown[] };
    const [r1, r2] = doc.records.map((r) => JSON.stringify(r));
    const blob = container.getBlockBlobClient(
      `resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG/y=2026/m=11/d=28/h=09/m=00/macAddress=000D3AF87856/PT1H.json`,
    );
    const blocks: Array<[string, string]> = [];
    let staged = 0;
    const commit = async (...parts: string[]): Promise<void> => {
      for (const part of parts) {
        // Block ids are unique per blob: a reused id would replace the footer's content.
        const id = Buffer.from(String(staged++).padStart(8, '0')).toString('base64');
        await blob.stageBlock(id, Buffer.from(part), Buffer.byteLength(part));
        blocks.push([id, part]);
      }
    };
    await commit('{"records":[', r1, ']}');
    await blob.commitBlockList(blocks.map(([id]) => id));
    const one = totals('azure', `{"records":[${r1}]}`);
    const both = totals('azure', `{"records":[${r1},${r2}]}`);
    expect(both.records).toBeGreaterThan(one.records);

    const daemon = await startTestDaemon(cloudConfig());
    daemons.push(daemon);
    let samples: Sample[] = [];
    const polled = async (poller: string, records: number): Promise<void> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        samples = await scrape(daemon.httpUrl);
        if (sumOf(samples, 'flowgauge_cloud_poll_records_total', { poller }) === records) return;
        if (Date.now() > deadline) {
          const state = daemon.cloudPollers.map((p) => [p.name, p.counters.objects, [...p.counters.errors]]);
          throw new Error(`${poller}: ${sumOf(samples, 'flowgauge_cloud_poll_records_total', { poller })} records, expected ${records}; ${JSON.stringify(state)}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await polled('prod-vpc', aws.records);
    await polled('nsg', one.records);
    expect(sumOf(samples, 'flow_exporter_bytes_total', { source: 'aws' })).toBe(aws.bytes);
    expect(sumOf(samples, 'flow_exporter_packets_total', { source: 'aws' })).toBe(aws.packets);
    expect(sumOf(samples, 'flow_exporter_flows_total', { source: 'aws' })).toBe(aws.records);
    expect(sumOf(samples, 'flowgauge_cloud_objects_read_total', { poller: 'prod-vpc', format: 'aws' })).toBe(2);
    expect(sumOf(samples, 'flowgauge_cloud_polls_total', { poller: 'prod-vpc', result: 'failure' })).toBe(0);

    // The next minute's record arrives in the same blob, before the footer.
    const footer = blocks.pop()!;
    await commit(`,${r2}`);
    blocks.push(footer);
    await blob.commitBlockList(blocks.map(([id]) => id));
    await polled('nsg', both.records);
    expect(sumOf(samples, 'flow_exporter_bytes_total', { source: 'azure' })).toBe(both.bytes);
    expect(sumOf(samples, 'flow_exporter_packets_total', { source: 'azure' })).toBe(both.packets);
    expect(sumOf(samples, 'flowgauge_cloud_objects_read_total', { poller: 'nsg' })).toBe(2);
    expect(sumOf(samples, 'flowgauge_cloud_objects_tracked', { poller: 'nsg' })).toBe(1);
    expect(sumOf(samples, 'flowgauge_cloud_lag_seconds', { poller: 'prod-vpc' })).toBeLessThan(300);

    const status = (await (await fetch(`${daemon.httpUrl}/status`)).json()) as { cloudPollers: Array<{ poller: string; records: number; lastSuccess: string | null }> };
    expect(status.cloudPollers.map((p) => [p.poller, p.records])).toEqual([
      ['prod-vpc', aws.records],
      ['nsg', both.records],
    ]);
    expect(JSON.stringify(status)).not.toContain(BUCKET);

    // A restart with the same state_dir: the checkpoints say everything was read.
    await daemon.stop('restart');
    daemons.pop();
    const again = await startTestDaemon(cloudConfig(daemon.stateDir));
    daemons.push(again);
    await waitFor(() => again.cloudPollers.every((p) => p.counters.polls >= 2), 30_000, 'two polls after the restart');
    expect(again.cloudPollers.map((p) => [p.name, p.counters.records, p.counters.objects, p.counters.tracked])).toEqual([
      ['prod-vpc', 0, 0, 2],
      ['nsg', 0, 0, 1],
    ]);
  }, 120_000);

  it('counts cloud flow logs on the main thread when ingest workers decode the UDP side', async () => {
    const text = readFileSync(corpusPath('cloud/aws/otel-contrib/valid_vpc_flow_log_ecs.log'), 'utf8');
    const want = totals('aws', text);
    expect(want.records).toBeGreaterThan(0);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'workers/ecs.log', Body: text }));
    const config = cloudConfig();
    const daemon = await startTestDaemon({
      ingest: { workers: 2 },
      cloudFlowLogs: [{ ...config.cloudFlowLogs![0], name: 'with-workers', prefixes: ['workers/'] }],
    });
    daemons.push(daemon);
    await waitFor(() => daemon.cloudPollers[0].counters.objects === 1, 30_000, 'the object to be read');
    const samples = await scrape(daemon.httpUrl);
    expect(sumOf(samples, 'flow_exporter_bytes_total', { source: 'aws' })).toBe(want.bytes);
    // Nothing else arrives in this daemon: every family sums to the object's totals.
    for (const family of ['flow_device', 'flow_app', 'flow_peer']) expect(sumOf(samples, `${family}_bytes_total`), family).toBe(want.bytes);
    expect(sumOf(samples, 'flow_exporter_flows_total', { source: 'aws' })).toBe(want.records);
    expect(sumOf(samples, 'flowgauge_cloud_records_total', { source: 'aws' })).toBe(want.records);
  }, 60_000);

  it('reports a missing bucket as a failed poll with a reason, and keeps serving (a poller with no UDP listener)', async () => {
    const config = cloudConfig();
    const daemon = await startTestDaemon({
      listen: { http: '127.0.0.1:0', netflow: [], sflow: [] },
      cloudFlowLogs: [{ ...config.cloudFlowLogs![0], name: 'missing', store: { type: 's3', bucket: 'no-such-bucket', region: 'us-east-1', endpoint: s3rver!.url, forcePathStyle: true, ...S3RVER_CREDENTIALS } }],
    });
    daemons.push(daemon);
    await waitFor(() => daemon.cloudPollers[0].counters.failedPolls >= 1, 30_000, 'a failed poll');
    const samples = await scrape(daemon.httpUrl);
    expect(sumOf(samples, 'flowgauge_cloud_polls_total', { poller: 'missing', result: 'failure' })).toBeGreaterThanOrEqual(1);
    expect(sumOf(samples, 'flowgauge_cloud_poll_errors_total', { poller: 'missing', reason: 'store' })).toBeGreaterThanOrEqual(1);
    expect(samples.some((s) => s.name === 'flowgauge_cloud_last_success_timestamp_seconds' && s.labels.poller === 'missing')).toBe(false);
    expect((await fetch(`${daemon.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${daemon.httpUrl}/readyz`)).status).toBe(200);
    expect(daemon.listeners).toEqual([]);
  }, 60_000);
});

// The defaults keep the section empty: no poller runs unless configured.
describe('cloud_flow_logs defaults', () => {
  it('polls nothing by default', () => {
    expect(defaultConfig().cloudFlowLogs).toEqual([]);
  });
});
