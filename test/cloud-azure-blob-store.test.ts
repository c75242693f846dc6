/**
 * AzureBlobFlowLogStore against Azurite (the Azure Storage emulator, started here on a loopback
 * port it picks): listing by prefix and across pages, ETags and sizes of a PT1H.json block blob
 * growing the way Network Watcher grows it, ranged reads, reads past the end, gzip left as stored,
 * clear errors (missing container or blob, denied SAS, network failure) that leak no secret, abort,
 * and corpus flow logs read back through the store decoding to what the files decode to.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  type ContainerClient,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCloudFlowLog, detectCloudFlowLog } from '../src/decoders/cloud-flow-log.js';
import { createCloudDecodeCounters } from '../src/decoders/cloud-types.js';
import { AzureBlobFlowLogStore } from '../src/sources/cloud/azure-blob-flow-log-store.js';
import type { StoredObject } from '../src/sources/cloud/flow-log-store.js';
import { AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY, azuriteConnectionString, startAzurite, type RunningEmulator } from './helpers/cloud-emulators.js';
import { corpusPath } from './helpers/corpus.js';

const ACCOUNT = AZURITE_ACCOUNT;
const ACCOUNT_KEY = AZURITE_ACCOUNT_KEY;
const CONTAINER = 'insights-logs-networksecuritygroupflowevent';
/** The blocks Network Watcher writes around the records of a PT1H.json. */
const HEADER = '{"records":[';
const FOOTER = ']}';

let azurite: RunningEmulator | undefined;
let accountUrl = '';
let connectionString = '';
let admin: ContainerClient;

/** A port nothing listens on: bound, then closed. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  azurite = await startAzurite();
  accountUrl = azurite.url;
  connectionString = azuriteConnectionString(accountUrl);
  admin = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(CONTAINER);
  await admin.create();
}, 90_000);

afterAll(async () => {
  await azurite?.stop();
}, 30_000);

function store(extra: { pageSize?: number; container?: string } = {}): AzureBlobFlowLogStore {
  return new AzureBlobFlowLogStore({ container: extra.container ?? CONTAINER, connectionString, pageSize: extra.pageSize });
}

async function collect(it: AsyncIterable<StoredObject>): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const o of it) out.push(o);
  return out;
}

async function upload(key: string, body: string | Buffer, contentEncoding?: string): Promise<void> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  await admin.getBlockBlobClient(key).upload(bytes, bytes.length, contentEncoding ? { blobHTTPHeaders: { blobContentEncoding: contentEncoding } } : {});
}

/** A block id of the fixed length Azure requires within one blob. */
const blockId = (n: number) => Buffer.from(`block-${String(n).padStart(6, '0')}`).toString('base64');

/**
 * Writes `blocks` as Network Watcher does: stages the ones not staged yet and commits the whole
 * list, so the blob grows in place (the footer block moves to the end).
 */
async function commitBlocks(key: string, blocks: string[], alreadyStaged: number): Promise<void> {
  const blob = admin.getBlockBlobClient(key);
  for (let i = alreadyStaged; i < blocks.length; i++) {
    const bytes = Buffer.from(blocks[i]);
    await blob.stageBlock(blockId(i), bytes, bytes.length);
  }
  await blob.commitBlockList(blocks.map((_, i) => blockId(i)));
}

/** The raw text of each top-level record of a `{"records":[...]}` document, as written. */
function rawRecords(text: string): string[] {
  const start = text.indexOf('[');
  const out: string[] = [];
  let depth = 0;
  let inString = false;
  let from = -1;
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) from = i;
    } else if (c === '}') {
      if (--depth === 0) out.push(text.slice(from, i + 1));
    } else if (c === ']' && depth === 0) break;
  }
  return out;
}

interface Decoded {
  records: number;
  bytes: number;
  packets: number;
  skipped: Record<string, number>;
}

function decodeAzure(text: string): Decoded {
  expect(detectCloudFlowLog(text)).toBe('azure');
  const counters = createCloudDecodeCounters();
  const out = { records: 0, bytes: 0, packets: 0 };
  decodeCloudFlowLog('azure', text, counters, (r) => {
    out.records++;
    out.bytes += r.bytes;
    out.packets += r.packets;
  });
  expect(counters.records).toBe(out.records);
  return { ...out, skipped: Object.fromEntries(counters.skipped) };
}

/** Bytes and packets the tuples of an NSG v2 document carry (fields 9-12), summed by hand. */
function nsgTupleTotals(text: string): { bytes: number; packets: number } {
  const doc = JSON.parse(text) as { records: Array<{ properties: { flows: Array<{ flows: Array<{ flowTuples: string[] }> }> } }> };
  let bytes = 0;
  let packets = 0;
  for (const record of doc.records)
    for (const rule of record.properties.flows)
      for (const group of rule.flows)
        for (const tuple of group.flowTuples) {
          const f = tuple.split(',');
          packets += Number(f[9] || 0) + Number(f[11] || 0);
          bytes += Number(f[10] || 0) + Number(f[12] || 0);
        }
  return { bytes, packets };
}

describe('AzureBlobFlowLogStore options', () => {
  it('says which keys are needed when no credentials are given', () => {
    expect(() => new AzureBlobFlowLogStore({ container: CONTAINER })).toThrow(
      /no credentials: give connectionString, or accountUrl with sasToken, or accountUrl alone.*DefaultAzureCredential/,
    );
    expect(() => new AzureBlobFlowLogStore({ container: CONTAINER, sasToken: 'sv=1&sig=abc' })).toThrow(/sasToken needs accountUrl/);
  });

  it('refuses a bad container name, page size, account URL or connection string without echoing secrets', () => {
    expect(() => new AzureBlobFlowLogStore({ container: 'Bad_Name', connectionString })).toThrow(/container must be a container name/);
    expect(() => new AzureBlobFlowLogStore({ container: 'ab', connectionString })).toThrow(/container must be a container name/);
    expect(() => new AzureBlobFlowLogStore({ container: CONTAINER, connectionString, pageSize: 0 })).toThrow(/pageSize must be an integer from 1 to 5000/);
    expect(() => new AzureBlobFlowLogStore({ container: CONTAINER, connectionString, pageSize: 5001 })).toThrow(/pageSize/);
    expect(() => new AzureBlobFlowLogStore({ container: CONTAINER, connectionString, maxTries: 0 })).toThrow(/maxTries/);
    const secretSas = 'sv=2024-01-01&sp=rl&sig=TOPSECRETSIGNATURE';
    let error: unknown;
    try {
      new AzureBlobFlowLogStore({ container: CONTAINER, accountUrl: `not a url ?${secretSas}` });
    } catch (err) {
      error = err;
    }
    expect(String(error)).toMatch(/accountUrl is not a URL/);
    expect(String(error)).not.toContain('TOPSECRET');
    expect(() => new AzureBlobFlowLogStore({ container: CONTAINER, accountUrl: 'ftp://example.net/' })).toThrow(/http\(s\)/);
    // DefaultAzureCredential's bearer tokens are only ever sent over TLS.
    expect(() => new AzureBlobFlowLogStore({ container: CONTAINER, accountUrl: 'http://127.0.0.1:1/acct' })).toThrow(/must be https to sign in with DefaultAzureCredential/);
    try {
      new AzureBlobFlowLogStore({ container: CONTAINER, connectionString: 'AccountName=x;AccountKey=TOPSECRETKEY' });
      error = undefined;
    } catch (err) {
      error = err;
    }
    expect(String(error)).toMatch(/connectionString is not a valid storage connection string/);
    expect(String(error)).not.toContain('TOPSECRETKEY');
  });

  it('names the container URL as its location, without the SAS', () => {
    const viaIdentity = new AzureBlobFlowLogStore({ container: 'insights-logs-flowlogflowevent', accountUrl: 'https://acct.blob.core.windows.net' });
    expect(viaIdentity.location).toBe('https://acct.blob.core.windows.net/insights-logs-flowlogflowevent');
    const viaSas = new AzureBlobFlowLogStore({ container: CONTAINER, accountUrl: 'https://acct.blob.core.windows.net/', sasToken: '?sv=2024-01-01&sp=rl&sig=TOPSECRET' });
    expect(viaSas.location).toBe(`https://acct.blob.core.windows.net/${CONTAINER}`);
    const sasUrl = new AzureBlobFlowLogStore({ container: CONTAINER, accountUrl: 'https://acct.blob.core.windows.net?sv=2024-01-01&sig=TOPSECRET' });
    expect(sasUrl.location).toBe(`https://acct.blob.core.windows.net/${CONTAINER}`);
    const viaKey = store();
    expect(viaKey.location).toBe(`${accountUrl}/${CONTAINER}`);
    expect(viaKey.location).not.toContain(ACCOUNT_KEY);
  });
});

describe('AzureBlobFlowLogStore on Azurite', () => {
  const nsgPrefix = 'resourceId=/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB-NSG/';
  const hourPrefix = `${nsgPrefix}y=2024/m=05/d=01/h=10/`;
  const macs = ['000D3AF87801', '000D3AF87802', '000D3AF87803', '000D3AF87804', '000D3AF87805', '000D3AF87806', '000D3AF87807'];
  const hourKeys = macs.map((mac) => `${hourPrefix}m=00/macAddress=${mac}/PT1H.json`);
  const outside = [`${nsgPrefix}y=2024/m=05/d=01/h=11/m=00/macAddress=${macs[0]}/PT1H.json`, 'resourceId=/SUBSCRIPTIONS/0000/OTHER/PT1H.json'];

  beforeAll(async () => {
    for (const [i, key] of [...hourKeys, ...outside].entries()) await upload(key, `{"records":[${'x'.repeat(i)}]}`);
  });

  it('lists the blobs under a prefix and none outside it, with size, ETag and time', async () => {
    const listed = await collect(store().list(hourPrefix));
    expect(listed.map((o) => o.key)).toEqual([...hourKeys].sort());
    for (const object of listed) {
      const props = await admin.getBlobClient(object.key).getProperties();
      expect(object.size).toBe(props.contentLength);
      expect(`"${object.version}"`).toBe(props.etag);
      expect(object.lastModifiedMs).toBe(props.lastModified!.getTime());
    }
    expect(await collect(store().list(`${hourPrefix}nothing-here`))).toEqual([]);
    // The empty prefix lists the whole container.
    const all = (await collect(store().list(''))).map((o) => o.key);
    for (const key of [...hourKeys, ...outside]) expect(all).toContain(key);
  });

  it('pages through more blobs than the page size, each once', async () => {
    const listed = await collect(store({ pageSize: 2 }).list(hourPrefix));
    expect(listed).toHaveLength(7);
    expect(new Set(listed.map((o) => o.key)).size).toBe(7);
    expect(listed.map((o) => o.key)).toEqual([...hourKeys].sort());
    expect(await collect(store({ pageSize: 7 }).list(hourPrefix))).toEqual(listed);
  });

  it('gives a new version when a blob is overwritten with the same size', async () => {
    const key = `${nsgPrefix}overwrite/PT1H.json`;
    await upload(key, '{"records":[1]}');
    const [before] = await collect(store().list(key));
    await upload(key, '{"records":[2]}');
    const [after] = await collect(store().list(key));
    expect(after.size).toBe(before.size);
    expect(after.version).not.toBe(before.version);
    expect((await store().read(key, 0)).toString()).toBe('{"records":[2]}');
  });

  it('follows a PT1H.json growing by re-committed blocks: new size and ETag, the new bytes from the old offset', async () => {
    const key = `${nsgPrefix}y=2024/m=05/d=01/h=12/m=00/macAddress=000D3AF87856/PT1H.json`;
    const record1 = '{"time":"2024-05-01T12:00:35Z","n":1}';
    const record2 = ',{"time":"2024-05-01T12:01:35Z","n":2}';
    const record3 = ',{"time":"2024-05-01T12:02:35Z","n":3}';
    const s = store();

    await commitBlocks(key, [HEADER, record1, FOOTER], 0);
    const [first] = await collect(s.list(key));
    const firstText = HEADER + record1 + FOOTER;
    expect(first.size).toBe(Buffer.byteLength(firstText));
    expect((await s.read(key, 0)).toString()).toBe(firstText);

    // Azure stages the new record block and re-commits: header, records..., footer.
    await commitBlocks(key, [HEADER, record1, record2, FOOTER], 2);
    const blockList = await admin.getBlockBlobClient(key).getBlockList('committed');
    expect(blockList.committedBlocks?.map((b) => b.size)).toEqual([12, record1.length, record2.length, 2]);
    const [second] = await collect(s.list(key));
    const secondText = HEADER + record1 + record2 + FOOTER;
    expect(second.size).toBe(Buffer.byteLength(secondText));
    expect(second.version).not.toBe(first.version);
    expect(second.lastModifiedMs).toBeGreaterThanOrEqual(first.lastModifiedMs);
    // From the old size: exactly the bytes stored after it now.
    expect((await s.read(key, first.size)).toString()).toBe(secondText.slice(first.size));
    // From where the old footer began: the new record block and the footer.
    expect((await s.read(key, first.size - FOOTER.length)).toString()).toBe(record2 + FOOTER);

    await commitBlocks(key, [HEADER, record1, record2, record3, FOOTER], 3);
    const [third] = await collect(s.list(key));
    expect(third.size).toBe(second.size + record3.length);
    expect(third.version).not.toBe(second.version);
    expect((await s.read(key, second.size - FOOTER.length)).toString()).toBe(record3 + FOOTER);
    expect((await s.read(key, 0)).toString()).toBe(HEADER + record1 + record2 + record3 + FOOTER);
  });

  it('reads ranges, and nothing at or past the end', async () => {
    const key = `${nsgPrefix}ranges/PT1H.json`;
    const text = '{"records":[{"a":1},{"b":2}]}';
    await upload(key, text);
    const s = store();
    expect((await s.read(key, 0)).toString()).toBe(text);
    expect((await s.read(key, 12)).toString()).toBe(text.slice(12));
    expect((await s.read(key, text.length - 1)).toString()).toBe('}');
    expect(await s.read(key, text.length)).toEqual(Buffer.alloc(0));
    expect(await s.read(key, text.length + 1000)).toEqual(Buffer.alloc(0));
    const emptyKey = `${nsgPrefix}ranges/empty.json`;
    await upload(emptyKey, '');
    expect(await s.read(emptyKey, 0)).toEqual(Buffer.alloc(0));
    await expect(s.read(key, -1)).rejects.toThrow(RangeError);
    await expect(s.read(key, 1.5)).rejects.toThrow(/non-negative integer/);
  });

  it('returns gzip bytes as stored, even with a gzip Content-Encoding', async () => {
    const text = readFileSync(corpusPath('cloud/azure/msdocs/vnet-flow-log-v4-sample.json'));
    const gz = gzipSync(text);
    const key = 'flowLogResourceID=/GZ/PT1H.json.gz';
    await upload(key, gz, 'gzip');
    const s = store();
    const whole = await s.read(key, 0);
    expect(whole.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(whole).toEqual(gz);
    expect(gunzipSync(whole)).toEqual(text);
    expect(await s.read(key, 10)).toEqual(gz.subarray(10));
  });

  it('names the location and the cause of a missing container or blob', async () => {
    const missing = new AzureBlobFlowLogStore({ container: 'no-such-container', connectionString });
    const listError = await collect(missing.list('x/')).then(() => undefined, (e: unknown) => e as Error);
    expect(listError?.message).toBe(
      `${accountUrl}/no-such-container: listing prefix "x/" failed: the container does not exist (404 ContainerNotFound)`,
    );
    expect((listError?.cause as { statusCode?: number }).statusCode).toBe(404);
    await expect(missing.read('x/PT1H.json', 0)).rejects.toThrow(
      `${accountUrl}/no-such-container/x/PT1H.json: reading failed: the container does not exist (404 ContainerNotFound)`,
    );
    await expect(store().read('no/such/PT1H.json', 0)).rejects.toThrow(
      `${accountUrl}/${CONTAINER}/no/such/PT1H.json: reading failed: the blob does not exist (404 BlobNotFound)`,
    );
  });

  it('reads with a SAS, and says access denied without leaking it', async () => {
    const key = hourKeys[0];
    const credential = new StorageSharedKeyCredential(ACCOUNT, ACCOUNT_KEY);
    const sas = (permissions: string) =>
      generateBlobSASQueryParameters(
        { containerName: CONTAINER, permissions: ContainerSASPermissions.parse(permissions), expiresOn: new Date(Date.now() + 3_600_000) },
        credential,
      ).toString();
    const readList = sas('rl');
    const ok = new AzureBlobFlowLogStore({ container: CONTAINER, accountUrl, sasToken: readList });
    expect(ok.location).toBe(`${accountUrl}/${CONTAINER}`);
    expect((await collect(ok.list(hourPrefix))).map((o) => o.key)).toEqual([...hourKeys].sort());
    expect(await ok.read(key, 0)).toEqual(await admin.getBlobClient(key).downloadToBuffer());

    // Read only: listing is refused.
    const readOnly = sas('r');
    const signature = new URLSearchParams(readOnly).get('sig')!;
    const noList = new AzureBlobFlowLogStore({ container: CONTAINER, accountUrl: `${accountUrl}?${readOnly}`, maxTries: 1 });
    const denied = await collect(noList.list(hourPrefix)).then(() => undefined, (e: unknown) => e as Error);
    expect(denied?.message).toMatch(
      new RegExp(`^${accountUrl}/${CONTAINER}: listing prefix "${hourPrefix}" failed: access denied \\(403 AuthorizationPermissionMismatch\\)`),
    );
    // A forged signature.
    const forged = new AzureBlobFlowLogStore({ container: CONTAINER, accountUrl, sasToken: readList.replace(/sig=[^&]+/, 'sig=Rk9SR0VE'), maxTries: 1 });
    const failed = await forged.read(key, 0).then(() => undefined, (e: unknown) => e as Error);
    expect(failed?.message).toMatch(/reading failed: access denied \(403 Authori[sz]ation\w*\)/);
    for (const err of [denied, failed]) {
      const shown = `${err?.message} ${inspect(err, { depth: 6 })} ${JSON.stringify(err?.cause)}`;
      expect(shown).not.toContain(signature);
      expect(shown).not.toContain(encodeURIComponent(signature));
      expect(shown).not.toContain(new URLSearchParams(readList).get('sig')!);
      expect(shown).not.toContain(ACCOUNT_KEY);
    }
  });

  it('says network failure when nothing answers', async () => {
    const port = await closedPort();
    const down = new AzureBlobFlowLogStore({
      container: CONTAINER,
      connectionString: connectionString.replace(accountUrl, `http://127.0.0.1:${port}/${ACCOUNT}`),
      maxTries: 1,
    });
    await expect(collect(down.list('a/'))).rejects.toThrow(
      `http://127.0.0.1:${port}/${ACCOUNT}/${CONTAINER}: listing prefix "a/" failed: network failure (ECONNREFUSED)`,
    );
    await expect(down.read('a/PT1H.json', 5)).rejects.toThrow(/reading failed: network failure \(ECONNREFUSED\)/);
  });

  it('stops on an aborted signal with its reason', async () => {
    const s = store();
    const before = new AbortController();
    const reason = new Error('poll cancelled');
    before.abort(reason);
    await expect(collect(s.list(hourPrefix, before.signal))).rejects.toBe(reason);
    await expect(s.read(hourKeys[0], 0, before.signal)).rejects.toBe(reason);
    const during = new AbortController();
    const pending = s.read(hourKeys[0], 0, during.signal);
    during.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('uses the connection string when accountUrl is given too', async () => {
    const both = new AzureBlobFlowLogStore({ container: CONTAINER, connectionString, accountUrl: 'https://elsewhere.invalid', pageSize: 3 });
    expect(both.location).toBe(`${accountUrl}/${CONTAINER}`);
    expect(await collect(both.list(hourPrefix))).toHaveLength(7);
  });
});

describe('corpus flow logs through the store', () => {
  it('an NSG PT1H.json written block by block and grown decodes like the file, and its tail like the new record', async () => {
    const fileText = readFileSync(corpusPath('cloud/azure/elastic-integrations/nsg-testdata-PT1H.json'), 'utf8');
    const stored = fileText.trimEnd();
    expect(stored.startsWith(HEADER) && stored.endsWith(FOOTER)).toBe(true);
    const records = rawRecords(stored);
    expect(records).toHaveLength(2);
    // Later record blocks carry the comma that separates them from the one before.
    const blocks = [HEADER, records[0], `,${records[1]}`, FOOTER];
    expect(blocks.join('')).toBe(stored);

    const key = 'resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/FABRIKAMRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/FABRIAKMVM1-NSG/y=2018/m=11/d=13/h=12/m=00/macAddress=000D3AF87856/PT1H.json';
    const s = store({ pageSize: 1 });

    await commitBlocks(key, [HEADER, records[0], FOOTER], 0);
    const [early] = await collect(s.list('resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/'));
    const earlyDecoded = decodeAzure((await s.read(key, 0)).toString('utf8'));
    expect(earlyDecoded).toEqual(decodeAzure(HEADER + records[0] + FOOTER));

    await commitBlocks(key, blocks, 2);
    const [grown] = await collect(s.list('resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/'));
    expect(grown.size).toBe(Buffer.byteLength(stored));
    expect(grown.version).not.toBe(early.version);
    const whole = await s.read(key, 0);
    expect(whole.toString('utf8')).toBe(stored);
    const fromStore = decodeAzure(whole.toString('utf8'));
    const fromFile = decodeAzure(fileText);
    expect(fromStore).toEqual(fromFile);
    expect(fromStore.records).toBeGreaterThan(0);
    // The file's own tuples, summed by hand (fields 9-12), are what got counted.
    expect({ bytes: fromStore.bytes, packets: fromStore.packets }).toEqual(nsgTupleTotals(fileText));

    // Reading on from where the earlier footer began gives the new record block and the footer:
    // the new record's flows, and together with the earlier read, the whole file's.
    const tail = (await s.read(key, early.size - FOOTER.length)).toString('utf8');
    expect(tail).toBe(`,${records[1]}${FOOTER}`);
    const tailDecoded = decodeAzure(`${HEADER}${tail.slice(1)}`);
    expect(tailDecoded).toEqual(decodeAzure(HEADER + records[1] + FOOTER));
    expect(earlyDecoded.records + tailDecoded.records).toBe(fromFile.records);
    expect(earlyDecoded.bytes + tailDecoded.bytes).toBe(fromFile.bytes);
    expect(earlyDecoded.packets + tailDecoded.packets).toBe(fromFile.packets);
  });

  it('a VNet flow-log PT1H.json read back decodes like the file', async () => {
    const fileText = readFileSync(corpusPath('cloud/azure/elastic-integrations/vnet-testdata-PT1H.json'), 'utf8');
    const stored = fileText.trimEnd();
    const records = rawRecords(stored);
    expect(records).toHaveLength(1);
    const key = 'flowLogResourceID=/00000000-0000-0000-0000-000000000000_NETWORKWATCHERRG/NETWORKWATCHER_EASTUS2EUAP_VNETFLOWLOG/y=2022/m=09/d=14/h=09/m=00/macAddress=00224871C205/PT1H.json';
    const vnet = new AzureBlobFlowLogStore({ container: 'insights-logs-flowlogflowevent', connectionString });
    const vnetContainer = BlobServiceClient.fromConnectionString(connectionString).getContainerClient('insights-logs-flowlogflowevent');
    await vnetContainer.createIfNotExists();
    const blob = vnetContainer.getBlockBlobClient(key);
    const blocks = [HEADER, records[0], FOOTER];
    for (const [i, block] of blocks.entries()) await blob.stageBlock(blockId(i), Buffer.from(block), Buffer.byteLength(block));
    await blob.commitBlockList(blocks.map((_, i) => blockId(i)));

    const listed = await collect(vnet.list('flowLogResourceID=/'));
    expect(listed.map((o) => o.key)).toEqual([key]);
    expect(listed[0].size).toBe(Buffer.byteLength(stored));
    const fromStore = decodeAzure((await vnet.read(key, 0)).toString('utf8'));
    const fromFile = decodeAzure(fileText);
    expect(fromStore).toEqual(fromFile);
    expect(fromStore.records).toBeGreaterThan(0);
  });
});
