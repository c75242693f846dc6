/**
 * GcsFlowLogStore against a loopback stub of the GCS JSON API (there is no GCS emulator to run):
 * the stub answers what @google-cloud/storage sends for objects.list and alt=media downloads, the
 * way GCS does (string sizes and generations, page tokens, Range with 206/416, gzip served as
 * stored when the client accepts gzip and transcoded otherwise, Google's JSON error shape), and
 * records every request so the tests can check what the SDK actually asked for.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CRC32C } from '@google-cloud/storage';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeCloudFlowLog } from '../src/decoders/cloud-flow-log.js';
import { createCloudDecodeCounters } from '../src/decoders/cloud-types.js';
import type { FlowRecord } from '../src/record.js';
import { GcsFlowLogStore, type GcsFlowLogStoreOptions } from '../src/sources/cloud/gcs-flow-log-store.js';
import type { StoredObject } from '../src/sources/cloud/flow-log-store.js';
import { corpusPath } from './helpers/corpus.js';

interface StubObject {
  data: Buffer;
  generation: number;
  metageneration: number;
  updated: Date;
  contentEncoding?: string;
}

interface StubRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

/** Buckets by name; a bucket named in `denied` answers 403 to everything. */
class GcsStub {
  readonly buckets = new Map<string, Map<string, StubObject>>();
  readonly denied = new Set<string>();
  readonly requests: StubRequest[] = [];
  /** Statuses to answer the next requests with, before serving normally (a flaky front end). */
  readonly failNext: number[] = [];
  /** Answer ranged downloads with the whole object (as GCS does when it transcodes). */
  ignoreRange = false;
  /** Record requests but leave them unanswered (a hung connection); stop() ends them. */
  hold = false;
  private generationCounter = 1_700_000_000_000_000;
  private server = http.createServer((req, res) => this.handle(req, res));

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  put(bucket: string, name: string, data: Buffer, contentEncoding?: string): StubObject {
    let objects = this.buckets.get(bucket);
    if (!objects) this.buckets.set(bucket, (objects = new Map()));
    // Every write is a new generation, as in GCS.
    const obj: StubObject = { data, generation: ++this.generationCounter, metageneration: 1, updated: new Date(), contentEncoding };
    objects.set(name, obj);
    return obj;
  }

  /** A metadata-only update: same generation, next metageneration. */
  touchMetadata(bucket: string, name: string): void {
    const obj = this.buckets.get(bucket)!.get(name)!;
    obj.metageneration++;
    obj.updated = new Date();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://stub');
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers });
    if (this.hold) return;
    const failure = this.failNext.shift();
    if (failure !== undefined) return googleError(res, failure, 'backendError', 'Backend Error');
    const m = /^\/storage\/v1\/b\/([^/]+)\/o(?:\/(.+))?$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) return googleError(res, 400, 'invalid', `stub does not serve ${req.method} ${url.pathname}`);
    const bucketName = decodeURIComponent(m[1]);
    if (this.denied.has(bucketName)) {
      return googleError(res, 403, 'forbidden', `caller does not have storage.objects.list access to the Google Cloud Storage bucket.`);
    }
    const objects = this.buckets.get(bucketName);
    if (!objects) return googleError(res, 404, 'notFound', 'The specified bucket does not exist.');
    if (m[2] === undefined) return this.list(objects, bucketName, url.searchParams, res);
    const name = decodeURIComponent(m[2]);
    const obj = objects.get(name);
    if (!obj) return googleError(res, 404, 'notFound', `No such object: ${bucketName}/${name}`);
    if (url.searchParams.get('alt') === 'media') return this.media(obj, req, res);
    return json(res, 200, resource(bucketName, name, obj));
  }

  private list(objects: Map<string, StubObject>, bucket: string, q: URLSearchParams, res: http.ServerResponse): void {
    const prefix = q.get('prefix') ?? '';
    const max = Math.min(Number(q.get('maxResults') ?? 1000), 1000);
    // The token is opaque to the client: here, the last name of the previous page.
    const after = q.has('pageToken') ? Buffer.from(q.get('pageToken')!, 'base64url').toString() : undefined;
    const names = [...objects.keys()].filter((n) => n.startsWith(prefix) && (after === undefined || n > after)).sort();
    const page = names.slice(0, max);
    const body: Record<string, unknown> = { kind: 'storage#objects' };
    if (page.length > 0) body.items = page.map((n) => resource(bucket, n, objects.get(n)!));
    if (names.length > max) body.nextPageToken = Buffer.from(page[page.length - 1]).toString('base64url');
    json(res, 200, body);
  }

  private media(obj: StubObject, req: http.IncomingMessage, res: http.ServerResponse): void {
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/octet-stream',
      'x-goog-generation': String(obj.generation),
      'x-goog-metageneration': String(obj.metageneration),
      'x-goog-stored-content-encoding': obj.contentEncoding ?? 'identity',
      'x-goog-stored-content-length': String(obj.data.length),
    };
    const acceptsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (obj.contentEncoding === 'gzip' && !acceptsGzip) {
      // Decompressive transcoding: GCS inflates and ignores Range.
      const plain = gunzipSync(obj.data);
      res.writeHead(200, { ...headers, 'content-length': plain.length });
      res.end(plain);
      return;
    }
    if (obj.contentEncoding === 'gzip') headers['content-encoding'] = 'gzip';
    const range = this.ignoreRange ? null : /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range) {
      const start = Number(range[1]);
      const end = range[2] === '' ? obj.data.length - 1 : Math.min(Number(range[2]), obj.data.length - 1);
      if (start >= obj.data.length) {
        return googleError(res, 416, 'requestedRangeNotSatisfiable', 'The requested range cannot be satisfied.', {
          'content-range': `bytes */${obj.data.length}`,
        });
      }
      const part = obj.data.subarray(start, end + 1);
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${obj.data.length}`, 'content-length': part.length });
      res.end(part);
      return;
    }
    // Whole-object answers carry the stored bytes' CRC32C, which the SDK checks.
    const crc = new CRC32C();
    crc.update(obj.data);
    headers['x-goog-hash'] = `crc32c=${crc.toString()}`;
    res.writeHead(200, { ...headers, 'content-length': obj.data.length });
    res.end(obj.data);
  }
}

function resource(bucket: string, name: string, obj: StubObject): Record<string, unknown> {
  return {
    kind: 'storage#object',
    id: `${bucket}/${name}/${obj.generation}`,
    name,
    bucket,
    generation: String(obj.generation),
    metageneration: String(obj.metageneration),
    size: String(obj.data.length),
    updated: obj.updated.toISOString(),
    timeCreated: obj.updated.toISOString(),
    ...(obj.contentEncoding ? { contentEncoding: obj.contentEncoding } : {}),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown, extra: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

/** Google's JSON API error body. */
function googleError(res: http.ServerResponse, code: number, reason: string, message: string, extra: http.OutgoingHttpHeaders = {}): void {
  json(res, code, { error: { code, message, errors: [{ message, domain: 'global', reason }] } }, extra);
}

async function all(store: GcsFlowLogStore, prefix: string, signal?: AbortSignal): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const o of store.list(prefix, signal)) out.push(o);
  return out;
}

async function waitForRequests(n: number): Promise<void> {
  for (let i = 0; i < 600 && stub.requests.length < n; i++) await new Promise((r) => setTimeout(r, 50));
  expect(stub.requests.length).toBe(n);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const BUCKET = 'flowgauge-vpc-flows';
/** Where a Cloud Logging sink writes VPC flow logs: hourly files under the log name and date. */
const SINK_DIR = 'compute.googleapis.com/vpc_flows/2024/03/05/';
const NDJSON_SAMPLE = 'cloud/gcp/elastic-integrations/vpcflow-logentries.first7.ndjson';

const stub = new GcsStub();
let endpoint = '';
const savedEnv: Record<string, string | undefined> = {};

function store(extra: Partial<GcsFlowLogStoreOptions> = {}): GcsFlowLogStore {
  return new GcsFlowLogStore({ bucket: BUCKET, projectId: 'flowgauge-test', apiEndpoint: endpoint, ...extra });
}

beforeAll(async () => {
  // Nothing from the machine's environment may send the SDK elsewhere.
  for (const k of ['STORAGE_EMULATOR_HOST', 'GOOGLE_APPLICATION_CREDENTIALS']) {
    savedEnv[k] = process.env[k];
    delete process.env[k];
  }
  endpoint = await stub.start();
});

afterAll(async () => {
  await stub.stop();
  for (const [k, v] of Object.entries(savedEnv)) if (v !== undefined) process.env[k] = v;
});

beforeEach(() => {
  stub.buckets.clear();
  stub.requests.length = 0;
});

describe('GcsFlowLogStore.list', () => {
  it('lists only under the prefix, with size, generation.metageneration and update time', async () => {
    const a = stub.put(BUCKET, `${SINK_DIR}03:00:00_03:59:59_S0.json`, Buffer.from('a'.repeat(10)));
    stub.put(BUCKET, `${SINK_DIR}04:00:00_04:59:59_S0.json`, Buffer.from('b'.repeat(20)));
    stub.put(BUCKET, 'compute.googleapis.com/vpc_flows/2024/03/06/00:00:00_00:59:59_S0.json', Buffer.from('c'));
    stub.put(BUCKET, 'cloudaudit.googleapis.com/activity/2024/03/05/03:00:00_03:59:59_S0.json', Buffer.from('d'));

    const s = store();
    expect(s.location).toBe(`gs://${BUCKET}`);
    const listed = await all(s, SINK_DIR);
    expect(listed.map((o) => o.key)).toEqual([`${SINK_DIR}03:00:00_03:59:59_S0.json`, `${SINK_DIR}04:00:00_04:59:59_S0.json`]);
    expect(listed[0]).toEqual({
      key: `${SINK_DIR}03:00:00_03:59:59_S0.json`,
      size: 10,
      version: `${a.generation}.1`,
      lastModifiedMs: a.updated.getTime(),
    });
    expect(listed[1].size).toBe(20);
    expect(stub.requests[0].query.get('prefix')).toBe(SINK_DIR);

    // An empty prefix is the whole bucket.
    expect((await all(s, '')).length).toBe(4);
    expect(stub.requests[1].query.has('prefix')).toBe(false);
  });

  it('pages through more objects than the page size, one request per page', async () => {
    const names: string[] = [];
    for (let i = 0; i < 23; i++) {
      const name = `${SINK_DIR}${String(i).padStart(2, '0')}:00:00_S0.json`;
      names.push(name);
      stub.put(BUCKET, name, Buffer.from(String(i)));
    }
    stub.put(BUCKET, 'other/outside.json', Buffer.from('x'));

    const listed = await all(store({ pageSize: 5 }), SINK_DIR);
    expect(listed.map((o) => o.key)).toEqual(names);
    const lists = stub.requests.filter((r) => r.path === `/storage/v1/b/${BUCKET}/o`);
    expect(lists.length).toBe(5); // 5+5+5+5+3
    expect(lists.every((r) => r.query.get('maxResults') === '5' && r.query.get('prefix') === SINK_DIR)).toBe(true);
    expect(lists[0].query.has('pageToken')).toBe(false);
    expect(lists.slice(1).every((r) => r.query.has('pageToken'))).toBe(true);
    // Each page token is the one the previous answer gave.
    expect(new Set(lists.slice(1).map((r) => r.query.get('pageToken'))).size).toBe(4);
  });

  it('reads the first page only as far as the consumer iterates', async () => {
    for (let i = 0; i < 12; i++) stub.put(BUCKET, `${SINK_DIR}${i}.json`, Buffer.from('x'));
    for await (const o of store({ pageSize: 4 }).list(SINK_DIR)) {
      expect(o.size).toBe(1);
      break;
    }
    expect(stub.requests.length).toBe(1);
  });

  it('changes the version when an object is overwritten or its metadata changes', async () => {
    const key = `${SINK_DIR}03:00:00_03:59:59_S0.json`;
    stub.put(BUCKET, key, Buffer.from('first'));
    const s = store();
    const [v1] = await all(s, key);
    stub.put(BUCKET, key, Buffer.from('second version'));
    const [v2] = await all(s, key);
    stub.touchMetadata(BUCKET, key);
    const [v3] = await all(s, key);
    expect(v2.version).not.toBe(v1.version);
    expect(v2.size).toBe(14);
    expect(v3.version).not.toBe(v2.version);
    expect(v3.version.split('.')[0]).toBe(v2.version.split('.')[0]);
    expect(v3.version.endsWith('.2')).toBe(true);
  });

  it('sends no credentials to a plain-http endpoint', async () => {
    stub.put(BUCKET, 'k', Buffer.from('x'));
    await all(store(), '');
    await store().read('k', 0);
    expect(stub.requests.length).toBe(2);
    expect(stub.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('names the bucket in a clear error for a missing bucket and for denied access', async () => {
    const missing = await rejection(all(store({ bucket: 'no-such-bucket' }), 'x/'));
    expect(missing.message).toMatch(/^gs:\/\/no-such-bucket\/x\/\* \(list\): bucket not found \(HTTP 404 notFound: The specified bucket does not exist\.\)$/);
    expect((missing.cause as { code?: number }).code).toBe(404);

    stub.denied.add('locked-bucket');
    try {
      const denied = await rejection(all(store({ bucket: 'locked-bucket' }), ''));
      expect(denied.message).toMatch(/^gs:\/\/locked-bucket\/\* \(list\): access denied \(HTTP 403 forbidden: .*storage\.objects\.list/);
      const deniedRead = await rejection(store({ bucket: 'locked-bucket' }).read('a/b.json', 0));
      expect(deniedRead.message).toMatch(/^gs:\/\/locked-bucket\/a\/b\.json: access denied \(HTTP 403/);
    } finally {
      stub.denied.clear();
    }
  });

  it('reports an unreachable endpoint as a network failure', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    // No retries: the SDK's default backoff would take about 15 s per call.
    const s = store({ apiEndpoint: `http://127.0.0.1:${port}`, maxRetries: 0 });
    const listErr = await rejection(all(s, 'p/'));
    expect(listErr.message).toBe(`gs://${BUCKET}/p/* (list): network failure (ECONNREFUSED) reaching 127.0.0.1:${port}`);
    expect((listErr.cause as { code?: string }).code).toBe('ECONNREFUSED');
    const readErr = await rejection(s.read('p/a.json', 0));
    expect(readErr.message).toBe(`gs://${BUCKET}/p/a.json: network failure (ECONNREFUSED) reaching 127.0.0.1:${port}`);
  });

  it('retries a 503 and then succeeds; with no retries left the 503 is the error', async () => {
    stub.put(BUCKET, 'p/a.json', Buffer.from('abc'));
    stub.failNext.push(503);
    expect((await all(store({ maxRetries: 1 }), 'p/')).map((o) => o.key)).toEqual(['p/a.json']);
    stub.failNext.push(503);
    expect((await store({ maxRetries: 1 }).read('p/a.json', 1)).toString()).toBe('bc');
    expect(stub.requests.length).toBe(4);

    stub.failNext.push(503);
    const err = await rejection(store({ maxRetries: 0 }).read('p/a.json', 0));
    expect(err.message).toBe(`gs://${BUCKET}/p/a.json: request failed (HTTP 503 backendError: Backend Error)`);
  });

  it('stops listing when the signal aborts', async () => {
    for (let i = 0; i < 6; i++) stub.put(BUCKET, `p/${i}`, Buffer.from('x'));
    const ac = new AbortController();
    const seen: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const o of store({ pageSize: 2 }).list('p/', ac.signal)) {
          seen.push(o.key);
          if (seen.length === 3) ac.abort();
        }
      })(),
    );
    expect(err.name).toBe('AbortError');
    expect(seen).toEqual(['p/0', 'p/1', 'p/2']);
    expect(stub.requests.length).toBe(2);

    const before = stub.requests.length;
    await expect(all(store(), 'p/', AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    await expect(store().read('p/0', 0, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    expect(stub.requests.length).toBe(before);
  });

  it('abandons a list or read request that hangs when the signal aborts', async () => {
    stub.put(BUCKET, 'p/a.json', Buffer.from('abc'));
    stub.hold = true;
    try {
      const listing = new AbortController();
      const listed = all(store(), 'p/', listing.signal);
      await waitForRequests(1);
      listing.abort();
      await expect(listed).rejects.toMatchObject({ name: 'AbortError' });

      const reading = new AbortController();
      const read = store().read('p/a.json', 1, reading.signal);
      await waitForRequests(2);
      reading.abort();
      await expect(read).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      stub.hold = false;
    }
  });

  it('refuses a bucket name or page size GCS would not accept, before any request', () => {
    expect(() => new GcsFlowLogStore({ bucket: 'gs://flows' })).toThrow(/GCS bucket name "gs:\/\/flows" is not valid/);
    expect(() => new GcsFlowLogStore({ bucket: '' })).toThrow(/not valid/);
    expect(() => store({ pageSize: 0 })).toThrow(/page size 0/);
    expect(() => store({ pageSize: 1001 })).toThrow(/page size 1001/);
    expect(() => store({ apiEndpoint: 'storage.example' })).toThrow(/not a URL/);
    expect(stub.requests.length).toBe(0);
  });
});

describe('GcsFlowLogStore.read', () => {
  const key = `${SINK_DIR}03:00:00_03:59:59_S0.json`;
  const body = Buffer.from(Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join(''));

  it('reads a whole object with one un-ranged request, and the tail with a ranged one', async () => {
    stub.put(BUCKET, key, body);
    const s = store();
    expect((await s.read(key, 0)).equals(body)).toBe(true);
    expect(stub.requests[0].path).toBe(`/storage/v1/b/${BUCKET}/o/${encodeURIComponent(key)}`);
    expect(stub.requests[0].query.get('alt')).toBe('media');
    expect(stub.requests[0].headers.range).toBeUndefined();

    const tail = await s.read(key, 1234);
    expect(tail.equals(body.subarray(1234))).toBe(true);
    expect(stub.requests[1].headers.range).toBe('bytes=1234-');
    expect(stub.requests.length).toBe(2); // no metadata GET before the download
  });

  it('gives an empty buffer at or past the end (416 from the server)', async () => {
    stub.put(BUCKET, key, body);
    const s = store();
    expect((await s.read(key, body.length)).length).toBe(0);
    expect((await s.read(key, body.length + 500)).length).toBe(0);
    expect(stub.requests.map((r) => r.headers.range)).toEqual([`bytes=${body.length}-`, `bytes=${body.length + 500}-`]);
    expect((await s.read(key, body.length - 1)).toString()).toBe('\n');
  });

  it('keeps only the asked tail when the server ignores Range and sends the whole object', async () => {
    stub.put(BUCKET, key, body);
    stub.ignoreRange = true;
    try {
      expect((await store().read(key, 1000)).equals(body.subarray(1000))).toBe(true);
      expect((await store().read(key, body.length + 3)).length).toBe(0);
      expect(stub.requests[0].headers.range).toBe('bytes=1000-');
    } finally {
      stub.ignoreRange = false;
    }
  });

  it('returns gzip objects as stored, whole and ranged, so the caller gunzips', async () => {
    const text = readFileSync(corpusPath(NDJSON_SAMPLE));
    const gz = gzipSync(text);
    stub.put(BUCKET, `${key}.gz`, gz, 'gzip');
    const s = store();
    const whole = await s.read(`${key}.gz`, 0);
    expect(whole.equals(gz)).toBe(true);
    expect(gunzipSync(whole).equals(text)).toBe(true);
    const tail = await s.read(`${key}.gz`, 10);
    expect(tail.equals(gz.subarray(10))).toBe(true);
    // The SDK asked for gzip, so the stub served the stored bytes instead of transcoding.
    expect(stub.requests.every((r) => /\bgzip\b/.test(String(r.headers['accept-encoding'])))).toBe(true);
    expect(stub.requests[1].headers.range).toBe('bytes=10-');
  });

  it('names the object in the error for a missing object, and rejects a bad offset', async () => {
    stub.put(BUCKET, key, body);
    const err = await rejection(store().read(`${SINK_DIR}missing.json`, 0));
    expect(err.message).toBe(
      `gs://${BUCKET}/${SINK_DIR}missing.json: object or bucket not found (HTTP 404 notFound: No such object: ${BUCKET}/${SINK_DIR}missing.json)`,
    );
    const ranged = await rejection(store().read(`${SINK_DIR}missing.json`, 5));
    expect(ranged.message).toMatch(/object or bucket not found \(HTTP 404/);
    await expect(store().read(key, -1)).rejects.toThrow(/read offset -1/);
    await expect(store().read(key, 1.5)).rejects.toThrow(/read offset 1.5/);
  });
});

describe('credentials', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-gcs-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** What the SDK was configured with (Bucket#storage is the SDK's Storage). */
  const sdkStorage = (s: GcsFlowLogStore): { customEndpoint: boolean; useAuthWithCustomEndpoint?: boolean } =>
    (s as unknown as { bucket: { storage: { customEndpoint: boolean; useAuthWithCustomEndpoint?: boolean } } }).bucket.storage;

  it('authenticates to an https endpoint and not to a plain-http one unless told', () => {
    expect(sdkStorage(store({ apiEndpoint: 'https://storage-flows.p.googleapis.com' }))).toMatchObject({
      customEndpoint: true,
      useAuthWithCustomEndpoint: true,
    });
    expect(sdkStorage(store())).toMatchObject({ customEndpoint: true, useAuthWithCustomEndpoint: false });
    expect(sdkStorage(store({ authenticateEndpoint: true })).useAuthWithCustomEndpoint).toBe(true);
    expect(sdkStorage(new GcsFlowLogStore({ bucket: BUCKET })).customEndpoint).toBe(false);
  });

  it('refuses a key file that is missing, not JSON or not a service-account or user key, without echoing it', () => {
    const secret = '-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END PRIVATE KEY-----\n';
    const notJson = path.join(dir, 'not-json.json');
    writeFileSync(notJson, `private_key=${secret}`);
    const external = path.join(dir, 'external.json');
    writeFileSync(
      external,
      JSON.stringify({
        type: 'external_account',
        credential_source: { executable: { command: '/bin/true' } },
        private_key: secret,
      }),
    );
    const missing = path.join(dir, 'absent.json');
    const message = (file: string): string => {
      try {
        store({ keyFilename: file });
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('expected the store to refuse the key file');
    };
    expect(message(missing)).toBe(`GCS key file ${missing} cannot be read (ENOENT)`);
    expect(message(notJson)).toBe(`GCS key file ${notJson} is not JSON (a service-account key file is)`);
    expect(message(external)).toMatch(/holds "external_account" credentials; it must be a service-account key/);
    for (const m of [message(notJson), message(external)]) expect(m).not.toContain('PRIVATE KEY');

    const serviceAccount = path.join(dir, 'sa.json');
    writeFileSync(
      serviceAccount,
      JSON.stringify({ type: 'service_account', project_id: 'flows-project', client_email: 'r@p.iam.gserviceaccount.com', private_key: secret }),
    );
    const warnings: unknown[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args);
    let sa: GcsFlowLogStore;
    try {
      sa = store({ keyFilename: serviceAccount, projectId: undefined });
    } finally {
      console.warn = warn;
    }
    // Signed as the key's service account, read-only, in the key's project; no deprecation noise.
    const storage = (sa as unknown as { bucket: { storage: { projectId?: string; authClient: { cachedCredential?: { email?: string; scopes?: string[] } } } } }).bucket.storage;
    expect(storage.projectId).toBe('flows-project');
    expect(storage.authClient.cachedCredential?.email).toBe('r@p.iam.gserviceaccount.com');
    expect(storage.authClient.cachedCredential?.scopes).toEqual(['https://www.googleapis.com/auth/devstorage.read_only']);
    expect(warnings).toEqual([]);

    const user = path.join(dir, 'user.json');
    writeFileSync(user, JSON.stringify({ type: 'authorized_user', client_id: 'id', client_secret: 'shh', refresh_token: 'rt' }));
    expect(() => store({ keyFilename: user })).not.toThrow();
    const incomplete = path.join(dir, 'incomplete.json');
    writeFileSync(incomplete, JSON.stringify({ type: 'service_account', private_key: secret }));
    expect(message(incomplete)).toBe(`GCS key file ${incomplete} has no "client_email"`);
    expect(stub.requests.length).toBe(0);
  });
});

describe('end to end with a GCP VPC flow-log sample', () => {
  function decode(text: string): { records: number; bytes: number; packets: number; skipped: number } {
    const counters = createCloudDecodeCounters();
    let bytes = 0;
    let packets = 0;
    decodeCloudFlowLog('gcp', text, counters, (r: FlowRecord) => {
      bytes += r.bytes;
      packets += r.packets;
    });
    let skipped = 0;
    for (const n of counters.skipped.values()) skipped += n;
    return { records: counters.records, bytes, packets, skipped };
  }

  it('lists, reads and decodes plain and gzip objects to the same totals as the file itself', async () => {
    for (const rel of [NDJSON_SAMPLE, 'cloud/gcp/elastic-integrations/test-vpcflow-event.first7.json']) {
      stub.buckets.clear();
      const raw = readFileSync(corpusPath(rel));
      const expected = decode(raw.toString('utf8'));
      expect(expected.records).toBeGreaterThan(0);
      expect(expected.bytes).toBeGreaterThan(0);

      stub.put(BUCKET, `${SINK_DIR}03:00:00_03:59:59_S0.json`, raw);
      stub.put(BUCKET, `${SINK_DIR}04:00:00_04:59:59_S0.json.gz`, gzipSync(raw), 'gzip');
      const s = store({ pageSize: 1 });
      const listed = await all(s, SINK_DIR);
      expect(listed.length).toBe(2);
      for (const o of listed) {
        const stored = await s.read(o.key, 0);
        expect(stored.length).toBe(o.size);
        const text = (o.key.endsWith('.gz') ? gunzipSync(stored) : stored).toString('utf8');
        expect(decode(text)).toEqual(expected);
      }

      // A reader that stopped halfway picks up the rest with a ranged read.
      const plainKey = listed[0].key;
      const half = Math.floor(raw.length / 2);
      const rest = await s.read(plainKey, half);
      expect(Buffer.concat([raw.subarray(0, half), rest]).equals(raw)).toBe(true);
      expect(stub.requests.at(-1)!.headers.range).toBe(`bytes=${half}-`);
    }
  });
});
