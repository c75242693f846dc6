/**
 * S3FlowLogStore against a real S3 API: s3rver, started by the test on a loopback port with its data
 * in a temp folder. Listing under a prefix (and nothing outside it), paging with continuation tokens,
 * ETag versions, ranged reads and reads past the end, gzip objects returned byte for byte, the error
 * messages of a missing bucket or key, denied access, a refused connection and an abort, the default
 * credential chain, and AWS flow-log samples from the corpus uploaded as S3 delivers them (.log.gz)
 * decoding to the same records as the files themselves.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCloudFlowLog, detectCloudFlowLog } from '../src/decoders/cloud-flow-log.js';
import { createCloudDecodeCounters } from '../src/decoders/cloud-types.js';
import type { StoredObject } from '../src/sources/cloud/flow-log-store.js';
import { S3FlowLogStore, type S3FlowLogStoreOptions } from '../src/sources/cloud/s3-flow-log-store.js';
import { corpusPath } from './helpers/corpus.js';
import { waitFor } from './helpers/daemon.js';
import { S3RVER_CREDENTIALS, startS3rver, type RunningEmulator } from './helpers/cloud-emulators.js';
import { freeTcpPort } from './helpers/peers.js';

const BUCKET = 'flowlogs';
const CREDENTIALS = S3RVER_CREDENTIALS;

let workDir = '';
let s3rver: RunningEmulator | undefined;
let endpoint = '';
let uploader: S3Client;
const stores: S3FlowLogStore[] = [];
const servers: http.Server[] = [];

beforeAll(async () => {
  workDir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-s3-store-'));
  s3rver = await startS3rver([BUCKET]);
  endpoint = s3rver.url;
  uploader = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: CREDENTIALS });
}, 60_000);

afterAll(async () => {
  for (const store of stores) await store.close();
  uploader?.destroy();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await s3rver?.stop();
  if (workDir !== '') rmSync(workDir, { recursive: true, force: true });
});

function openStore(options: Partial<S3FlowLogStoreOptions> = {}): S3FlowLogStore {
  const store = new S3FlowLogStore({ bucket: BUCKET, region: 'us-east-1', endpoint, forcePathStyle: true, credentials: CREDENTIALS, ...options });
  stores.push(store);
  return store;
}

async function put(key: string, body: Buffer | string, extra: { ContentEncoding?: string; ContentType?: string } = {}): Promise<void> {
  await uploader.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from(body), ...extra }));
}

async function listAll(store: S3FlowLogStore, prefix: string, signal?: AbortSignal): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const object of store.list(prefix, signal)) out.push(object);
  return out;
}

async function rejection(work: () => Promise<unknown>): Promise<Error> {
  try {
    await work();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

interface SeenRequest {
  method: string;
  url: URL;
  range: string | undefined;
}

/** A loopback proxy in front of s3rver that records each request the store sends. */
async function startRecordingProxy(): Promise<{ endpoint: string; seen: SeenRequest[] }> {
  const target = new URL(endpoint);
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: new URL(req.url ?? '/', 'http://proxy'), range: req.headers.range });
    // Headers (Host included) pass unchanged, so the request signature still matches.
    const upstream = http.request(
      { host: target.hostname, port: Number(target.port), path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return { endpoint: await listen(server), seen };
}

/** A loopback server that answers every request with one S3 error document. */
async function startS3ErrorServer(status: number, code: string, message: string): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>`;
    res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': '4442587FB7D0A2F9' });
    res.end(body);
  });
  return listen(server);
}

/** A loopback server that takes requests and never answers them. */
async function startSilentServer(): Promise<{ endpoint: string; received: () => number }> {
  let received = 0;
  const server = http.createServer(() => {
    received++;
  });
  return { endpoint: await listen(server), received: () => received };
}

async function listen(server: http.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('S3FlowLogStore: listing', () => {
  it('names its location s3://bucket', () => {
    expect(openStore().location).toBe('s3://flowlogs');
  });

  it('lists every object under the prefix once, with size, ETag version and modification time, and nothing outside it', async () => {
    const inside = [
      'prefix/AWSLogs/111111111111/vpcflowlogs/us-east-1/2025/01/01/one.log.gz',
      'prefix/AWSLogs/111111111111/vpcflowlogs/us-east-1/2025/01/02/two.log.gz',
      'prefix/AWSLogs/111111111111/vpcflowlogs/eu-west-1/2025/01/02/three.log.gz',
    ];
    // Same leading characters without the slash, another account, another top-level folder.
    const outside = [
      'prefix/AWSLogs/1111111111110/vpcflowlogs/us-east-1/2025/01/01/near.log.gz',
      'prefix/AWSLogs/222222222222/vpcflowlogs/us-east-1/2025/01/01/other-account.log.gz',
      'prefix-other/AWSLogs/111111111111/vpcflowlogs/us-east-1/2025/01/01/one.log.gz',
    ];
    for (const [i, key] of [...inside, ...outside].entries()) await put(key, 'x'.repeat(10 + i));

    const listed = await listAll(openStore(), 'prefix/AWSLogs/111111111111/');
    expect(listed.map((o) => o.key).sort()).toEqual([...inside].sort());
    for (const object of listed) {
      const head = await uploader.send(new HeadObjectCommand({ Bucket: BUCKET, Key: object.key }));
      expect(object.size).toBe(10 + inside.indexOf(object.key));
      expect(object.version).toBe(head.ETag?.replace(/"/g, ''));
      expect(object.version).toMatch(/^[0-9a-f]{32}$/);
      expect(object.lastModifiedMs).toBe(head.LastModified?.getTime());
    }

    expect(await listAll(openStore(), 'prefix/AWSLogs/111111111111/vpcflowlogs/us-east-1/2025/01/02/')).toHaveLength(1);
    expect(await listAll(openStore(), 'prefix/AWSLogs/999999999999/')).toEqual([]);
    expect((await listAll(openStore(), 'prefix/')).length).toBe(5);
  });

  it('pages through more objects than the page size with continuation tokens', async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `pages/AWSLogs/111111111111/vpcflowlogs/us-east-1/2025/01/01/obj-${i}.log.gz`);
    for (const key of keys) await put(key, key);
    await put('pages-not/obj.log.gz', 'outside');

    const proxy = await startRecordingProxy();
    const listed = await listAll(openStore({ endpoint: proxy.endpoint, pageSize: 2 }), 'pages/');
    expect(listed.map((o) => o.key)).toEqual(keys); // S3 lists in key order
    const lists = proxy.seen.filter((r) => r.url.searchParams.get('list-type') === '2');
    expect(lists).toHaveLength(4); // 2 + 2 + 2 + 1
    expect(lists.map((r) => r.url.searchParams.get('max-keys'))).toEqual(['2', '2', '2', '2']);
    expect(lists.map((r) => r.url.searchParams.get('prefix'))).toEqual(['pages/', 'pages/', 'pages/', 'pages/']);
    expect(lists[0].url.searchParams.has('continuation-token')).toBe(false);
    const tokens = lists.slice(1).map((r) => r.url.searchParams.get('continuation-token'));
    expect(tokens.every((t) => typeof t === 'string' && t.length > 0)).toBe(true);
    expect(new Set(tokens).size).toBe(3);

    // The default page is S3's largest: one request.
    const single = await startRecordingProxy();
    expect(await listAll(openStore({ endpoint: single.endpoint }), 'pages/')).toHaveLength(7);
    expect(single.seen.map((r) => r.url.searchParams.get('max-keys'))).toEqual(['1000']);
  });

  it('gives a new version when an object is overwritten with other content, the same for the same content', async () => {
    const key = 'versions/flow.log';
    const store = openStore();
    await put(key, 'first content\n');
    const [first] = await listAll(store, 'versions/');
    await put(key, 'second, longer content\n');
    const [second] = await listAll(store, 'versions/');
    expect(second.version).not.toBe(first.version);
    expect([first.size, second.size]).toEqual([14, 23]);
    await put(key, 'second, longer content\n');
    const [third] = await listAll(store, 'versions/');
    expect(third.version).toBe(second.version); // a single-part ETag is the content's MD5
  });
});

describe('S3FlowLogStore: reading', () => {
  const text = Array.from({ length: 40 }, (_, i) => `2 123456789010 eni-0a ${i} line`).join('\n') + '\n';
  const body = Buffer.from(text);

  beforeAll(async () => {
    await put('read/flow.log', body);
    await put('read/empty.log', Buffer.alloc(0));
  });

  it('reads the whole object at offset 0 and a ranged tail at an offset, asking only for the range', async () => {
    const proxy = await startRecordingProxy();
    const store = openStore({ endpoint: proxy.endpoint });
    expect((await store.read('read/flow.log', 0)).equals(body)).toBe(true);
    expect((await store.read('read/flow.log', 137)).equals(body.subarray(137))).toBe(true);
    expect((await store.read('read/flow.log', body.length - 1)).equals(body.subarray(body.length - 1))).toBe(true);
    const gets = proxy.seen.filter((r) => r.method === 'GET');
    expect(gets.map((r) => r.range)).toEqual([undefined, 'bytes=137-', `bytes=${body.length - 1}-`]);
  });

  it('gives an empty buffer for a read at or past the end (S3 answers 416), and for an empty object', async () => {
    const store = openStore();
    expect((await store.read('read/flow.log', body.length)).length).toBe(0);
    expect((await store.read('read/flow.log', body.length + 1000)).length).toBe(0);
    expect((await store.read('read/empty.log', 0)).length).toBe(0);
    expect((await store.read('read/empty.log', 1)).length).toBe(0);
  });

  it('returns gzip objects as stored, even with Content-Encoding: gzip, whole and ranged', async () => {
    const gz = gzipSync(Buffer.from(text));
    await put('read/flow.log.gz', gz, { ContentEncoding: 'gzip', ContentType: 'application/x-gzip' });
    const store = openStore();
    const whole = await store.read('read/flow.log.gz', 0);
    expect(whole.equals(gz)).toBe(true);
    expect([whole[0], whole[1]]).toEqual([0x1f, 0x8b]);
    expect(gunzipSync(whole).toString('utf8')).toBe(text);
    expect((await store.read('read/flow.log.gz', 10)).equals(gz.subarray(10))).toBe(true);
  });

  it('refuses an offset that is not a non-negative integer', async () => {
    const store = openStore();
    for (const offset of [-1, 1.5, Number.NaN]) {
      const err = await rejection(() => store.read('read/flow.log', offset));
      expect(err).toBeInstanceOf(RangeError);
      expect(err.message).toContain('s3://flowlogs/read/flow.log');
    }
  });
});

describe('S3FlowLogStore: errors', () => {
  it('names the location and says the bucket does not exist', async () => {
    const store = openStore({ bucket: 'no-such-bucket' });
    const listErr = await rejection(() => listAll(store, 'AWSLogs/'));
    expect(listErr.message).toBe('s3://no-such-bucket: listing prefix "AWSLogs/" failed: the bucket does not exist (404 NoSuchBucket)');
    expect((listErr.cause as Error).name).toBe('NoSuchBucket');
    const readErr = await rejection(() => store.read('AWSLogs/x.log.gz', 0));
    expect(readErr.message).toBe('s3://no-such-bucket/AWSLogs/x.log.gz: reading failed: the bucket does not exist (404 NoSuchBucket)');
  });

  it('says an object does not exist', async () => {
    const err = await rejection(() => openStore().read('errors/missing.log.gz', 0));
    expect(err.message).toBe('s3://flowlogs/errors/missing.log.gz: reading failed: the object does not exist (404 NoSuchKey)');
    expect((err.cause as Error).name).toBe('NoSuchKey');
  });

  it('says access was denied, without the secret', async () => {
    const secret = 'not-the-right-secret-4711';
    // s3rver checks the access key id (it does not verify SigV4 signatures).
    const unknownKey = openStore({ credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: secret, sessionToken: 'token-4711' } });
    const unknown = await rejection(() => unknownKey.read('read/flow.log', 0));
    expect(unknown.message).toBe('s3://flowlogs/read/flow.log: reading failed: access denied (403 InvalidAccessKeyId)');
    expect((unknown.cause as Error).name).toBe('InvalidAccessKeyId');
    // What S3 answers when a bucket policy or IAM denies the request.
    const denying = await startS3ErrorServer(403, 'AccessDenied', 'Access Denied');
    const policy = openStore({ endpoint: denying, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secret } });
    const denied = await rejection(() => listAll(policy, 'AWSLogs/'));
    expect(denied.message).toBe('s3://flowlogs: listing prefix "AWSLogs/" failed: access denied (403 AccessDenied)');
    for (const err of [unknown, denied]) {
      expect(err.message).not.toContain(secret);
      expect(err.message).not.toContain('token-4711');
      expect(err.message).not.toContain('\n');
    }
  });

  it('passes on the status, code and message of other S3 errors in one line', async () => {
    const busy = await startS3ErrorServer(503, 'SlowDown', 'Please reduce your\nrequest rate.');
    const err = await rejection(() => openStore({ endpoint: busy }).read('AWSLogs/x.log.gz', 0));
    expect(err.message).toBe('s3://flowlogs/AWSLogs/x.log.gz: reading failed: 503 SlowDown: Please reduce your request rate.');
    expect((err.cause as Error).name).toBe('SlowDown');
  });

  it('says the network failed when nothing listens at the endpoint', async () => {
    const closedPort = await freeTcpPort();
    const store = openStore({ endpoint: `http://127.0.0.1:${closedPort}` });
    const err = await rejection(() => listAll(store, 'AWSLogs/'));
    expect(err.message).toBe('s3://flowlogs: listing prefix "AWSLogs/" failed: network failure (ECONNREFUSED)');
    expect(err.cause).toBeDefined();
    const readErr = await rejection(() => store.read('AWSLogs/x.log.gz', 5));
    expect(readErr.message).toBe('s3://flowlogs/AWSLogs/x.log.gz: reading failed: network failure (ECONNREFUSED)');
  });

  it('stops on abort: before a request, during a request that gets no answer, and between pages', async () => {
    const already = AbortSignal.abort();
    expect((await rejection(() => openStore().read('read/flow.log', 0, already))).name).toBe('AbortError');
    expect((await rejection(() => listAll(openStore(), 'pages/', already))).name).toBe('AbortError');

    const silent = await startSilentServer();
    const hanging = openStore({ endpoint: silent.endpoint });
    const controller = new AbortController();
    const pending = rejection(() => hanging.read('read/flow.log', 0, controller.signal));
    await waitFor(() => silent.received() === 1, 30_000, 'the request to arrive');
    controller.abort();
    expect((await pending).name).toBe('AbortError');

    for (let i = 0; i < 3; i++) await put(`abort-pages/obj-${i}`, 'x');
    const proxy = await startRecordingProxy();
    const paging = new AbortController();
    const seenKeys: string[] = [];
    const err = await rejection(async () => {
      for await (const object of openStore({ endpoint: proxy.endpoint, pageSize: 1 }).list('abort-pages/', paging.signal)) {
        seenKeys.push(object.key);
        paging.abort();
      }
    });
    expect(err.name).toBe('AbortError');
    expect(seenKeys).toEqual(['abort-pages/obj-0']);
    expect(proxy.seen).toHaveLength(1); // no further page was asked for
  });

  it('refuses a bucket with a scheme or a slash, and a page size S3 does not take', () => {
    expect(() => new S3FlowLogStore({ bucket: 's3://flowlogs' })).toThrow(/bucket must be a bucket name/);
    expect(() => new S3FlowLogStore({ bucket: '' })).toThrow(/bucket must be a bucket name/);
    for (const pageSize of [0, 1001, 2.5]) {
      expect(() => new S3FlowLogStore({ bucket: BUCKET, pageSize })).toThrow(/pageSize must be an integer from 1 to 1000/);
    }
  });
});

describe('S3FlowLogStore: the default credential and region chain', () => {
  it('without credentials or region, signs with what the environment provides and falls back to us-east-1', async () => {
    const names = [
      'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE',
      'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_EC2_METADATA_DISABLED', 'AWS_CREDENTIAL_EXPIRATION',
      'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN',
      'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME',
    ];
    const saved = new Map(names.map((n) => [n, process.env[n]]));
    try {
      for (const n of names) delete process.env[n];
      // No shared files, no container or web identity, no instance metadata: only the environment
      // variables can answer, and nothing is asked of any address but the loopback endpoint.
      process.env.AWS_CONFIG_FILE = path.join(workDir, 'no-config');
      process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(workDir, 'no-credentials');
      process.env.AWS_EC2_METADATA_DISABLED = 'true';
      process.env.AWS_ACCESS_KEY_ID = CREDENTIALS.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = CREDENTIALS.secretAccessKey;
      const proxy = await startRecordingProxy();
      const store = new S3FlowLogStore({ bucket: BUCKET, endpoint: proxy.endpoint, forcePathStyle: true });
      stores.push(store);
      expect((await store.read('read/flow.log', 0)).length).toBeGreaterThan(0);
      expect(proxy.seen).toHaveLength(1);

      // Nothing in the chain at all: a clear message, not a crash.
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
      const bare = new S3FlowLogStore({ bucket: BUCKET, endpoint: proxy.endpoint, forcePathStyle: true });
      stores.push(bare);
      const err = await rejection(() => listAll(bare, 'AWSLogs/'));
      expect(err.message).toBe(
        's3://flowlogs: listing prefix "AWSLogs/" failed: no AWS credentials found by the default provider chain (CredentialsProviderError)',
      );
      expect(proxy.seen).toHaveLength(1);
    } finally {
      for (const [n, v] of saved) {
        if (v === undefined) delete process.env[n];
        else process.env[n] = v;
      }
    }
  });
});

describe('S3FlowLogStore: AWS flow-log samples delivered as .log.gz', () => {
  // The S3 delivery layout: AWSLogs/account/vpcflowlogs/region/yyyy/mm/dd/account_vpcflowlogs_region_flowlogid_time_hash.log.gz
  const prefix = 'e2e/AWSLogs/123456789010/vpcflowlogs/us-east-1/2025/03/21/';
  const samples = [
    'cloud/aws/otel-contrib/valid_vpc_flow_log_multi.log',
    'cloud/aws/otel-contrib/valid_vpc_flow_log.log',
    'cloud/aws/otel-contrib/valid_vpc_flow_log_ecs.log',
    'cloud/aws/otel-contrib/valid_tgw_flow_log.log',
  ];

  function totals(text: string) {
    const counters = createCloudDecodeCounters();
    const sum = { records: 0, bytes: 0, packets: 0 };
    const kind = detectCloudFlowLog(text);
    expect(kind).toBe('aws');
    decodeCloudFlowLog('aws', text, counters, (r) => {
      sum.records++;
      sum.bytes += r.bytes;
      sum.packets += r.packets;
    });
    return { ...sum, skipped: Object.fromEntries(counters.skipped) };
  }

  it('decodes each uploaded sample, listed and read back through the store, to the same records as the file', async () => {
    const files = samples.map((rel, i) => ({
      rel,
      key: `${prefix}123456789010_vpcflowlogs_us-east-1_fl-0123456789abcdef${i}_20250321T1505Z_0a1b2c3d.log.gz`,
      text: readFileSync(corpusPath(rel), 'utf8'),
    }));
    for (const f of files) await put(f.key, gzipSync(Buffer.from(f.text)), { ContentType: 'application/x-gzip' });

    const store = openStore({ pageSize: 3 });
    const listed = await listAll(store, prefix);
    expect(listed.map((o) => o.key).sort()).toEqual(files.map((f) => f.key).sort());
    for (const f of files) {
      const object = listed.find((o) => o.key === f.key)!;
      const bytes = await store.read(f.key, 0);
      expect(bytes.length, f.rel).toBe(object.size);
      expect(totals(gunzipSync(bytes).toString('utf8')), f.rel).toEqual(totals(f.text));
    }

    // Independent of the decoder: the two records of AWS's documentation example (20 packets and 4249 bytes each).
    const multi = await store.read(files[0].key, 0);
    expect(totals(gunzipSync(multi).toString('utf8'))).toEqual({ records: 2, bytes: 8498, packets: 40, skipped: {} });
    const nodata = await store.read(files[1].key, 0);
    expect(totals(gunzipSync(nodata).toString('utf8'))).toEqual({ records: 0, bytes: 0, packets: 0, skipped: { no_data: 1 } });
  });
});
