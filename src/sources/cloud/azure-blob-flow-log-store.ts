/**
 * Azure NSG and VNet flow logs in an Azure Storage container, listed and read through the official
 * SDK (@azure/storage-blob). Credentials, first match wins: a connection string (account key or
 * SAS); an account URL with a SAS token; an account URL alone, signed in with DefaultAzureCredential
 * (environment, workload identity on AKS, managed identity, Azure CLI, ...).
 *
 * Network Watcher writes one block blob per hour and NIC/NSG (`.../PT1H.json`) and grows it during
 * the hour by re-committing its block list with new record blocks before the closing `]}` block.
 * So a listing reports each blob's current size and ETag, and a read from an earlier offset returns
 * the bytes now stored after it (which begin inside the moved footer: see the poller).
 */
import { DefaultAzureCredential } from '@azure/identity';
import {
  AnonymousCredential,
  BlobServiceClient,
  isRestError,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { FlowLogStore, StoredObject } from './flow-log-store.js';

/** Options of an AzureBlobFlowLogStore. Secrets given here are never logged nor put in errors. */
export interface AzureBlobFlowLogStoreOptions {
  /**
   * The container Network Watcher writes to: `insights-logs-networksecuritygroupflowevent` (NSG
   * flow logs) or `insights-logs-flowlogflowevent` (VNet flow logs).
   */
  container: string;
  /**
   * A storage connection string (`AccountName=...;AccountKey=...` or `BlobEndpoint=...;
   * SharedAccessSignature=...`, `UseDevelopmentStorage=true` for Azurite). Wins over the others.
   */
  connectionString?: string;
  /**
   * The account's blob endpoint, `https://<account>.blob.core.windows.net` (or a sovereign cloud's,
   * or an emulator's `http://127.0.0.1:10000/devstoreaccount1`). With `sasToken`, signed with it;
   * alone, signed in with DefaultAzureCredential.
   */
  accountUrl?: string;
  /** A SAS token (`sv=...&sig=...`, with or without `?`) for `accountUrl`: needs read and list (`sp=rl`). */
  sasToken?: string;
  /** Blobs per listing page, 1..5000 (Azure's maximum). Default 5000. */
  pageSize?: number;
  /**
   * Attempts per request; network errors and 500/503 answers are retried with exponential backoff
   * (4 s, 12 s, ...). Default 4, the SDK's.
   */
  maxTries?: number;
}

const MAX_PAGE_SIZE = 5000;
/** Azure's container names: 3-63 of a-z 0-9 and single hyphens, starting and ending alphanumeric. */
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** Node's codes for a request that never got an HTTP answer. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'EPIPE', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'REQUEST_SEND_ERROR',
]);
const DENIED_CODES = new Set([
  'AuthenticationFailed', 'AuthorizationFailure', 'AuthorizationPermissionMismatch',
  'AuthorizationResourceTypeMismatch', 'AuthorizationServiceMismatch', 'AuthorizationProtocolMismatch',
  'AuthorizationSourceIPMismatch', 'InsufficientAccountPermissions', 'KeyBasedAuthenticationNotPermitted',
  'InvalidAuthenticationInfo', 'NoAuthenticationInformation',
]);

/** A FlowLogStore over one Azure Storage container. `location` is the container URL; versions are ETags. */
export class AzureBlobFlowLogStore implements FlowLogStore {
  readonly location: string;
  private readonly container: ContainerClient;
  private readonly pageSize: number;

  constructor(options: AzureBlobFlowLogStoreOptions) {
    const name = options.container;
    if (typeof name !== 'string' || !CONTAINER_NAME.test(name)) {
      throw new Error(
        `Azure blob flow-log store: container must be a container name (3-63 lowercase letters, digits and single hyphens), got ${JSON.stringify(name)}`,
      );
    }
    const pageSize = options.pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new Error(`Azure blob flow-log store ${name}: pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${pageSize}`);
    }
    const maxTries = options.maxTries;
    if (maxTries !== undefined && (!Number.isInteger(maxTries) || maxTries < 1)) {
      throw new Error(`Azure blob flow-log store ${name}: maxTries must be an integer of at least 1, got ${maxTries}`);
    }
    const pipeline: StoragePipelineOptions = {
      userAgentOptions: { userAgentPrefix: 'flowgauge' },
      ...(maxTries !== undefined ? { retryOptions: { maxTries } } : {}),
    };
    this.container = serviceClient(name, options, pipeline).getContainerClient(name);
    this.location = withoutQuery(this.container.url);
    this.pageSize = pageSize;
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<StoredObject> {
    signal?.throwIfAborted();
    const pages = this.container
      .listBlobsFlat({ prefix: prefix === '' ? undefined : prefix, abortSignal: signal })
      .byPage({ maxPageSize: this.pageSize })
      [Symbol.asyncIterator]();
    for (;;) {
      let page;
      try {
        page = await pages.next();
      } catch (err) {
        throw this.failure(`listing prefix ${JSON.stringify(prefix)}`, undefined, err, signal);
      }
      if (page.done === true) return;
      for (const blob of page.value.segment.blobItems) {
        yield {
          key: blob.name,
          size: blob.properties.contentLength ?? 0,
          version: unquote(blob.properties.etag),
          lastModifiedMs: blob.properties.lastModified.getTime(),
        };
      }
    }
  }

  async read(key: string, offset: number, signal?: AbortSignal): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`${this.location}/${key}: read offset must be a non-negative integer, got ${offset}`);
    }
    signal?.throwIfAborted();
    try {
      // No count: from offset to the end as stored now, which is past the listed size if it grew since.
      const answer = await this.container.getBlobClient(key).download(offset, undefined, { abortSignal: signal });
      const body = answer.readableStreamBody;
      if (body === undefined) return Buffer.alloc(0);
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        chunks.push(bytes);
        total += bytes.length;
      }
      signal?.throwIfAborted();
      return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
    } catch (err) {
      // Azure answers 416 InvalidRange for a range starting at or past the end: nothing new.
      if (isRestError(err) && (err.statusCode === 416 || err.code === 'InvalidRange')) return Buffer.alloc(0);
      throw this.failure('reading', key, err, signal);
    }
  }

  /**
   * One line naming the location and the cause, the SDK's error as `cause`; the caller's abort
   * reason itself when the signal was aborted (so the caller can tell it from a failure).
   */
  private failure(action: string, key: string | undefined, err: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason;
    const where = key === undefined ? this.location : `${this.location}/${key}`;
    return new Error(`${where}: ${action} failed: ${describeCause(err)}`, { cause: err });
  }
}

/** The service client for the first credentials given, or a message saying which options are needed. */
function serviceClient(container: string, options: AzureBlobFlowLogStoreOptions, pipeline: StoragePipelineOptions): BlobServiceClient {
  const what = `Azure blob flow-log store ${container}`;
  const { connectionString, accountUrl, sasToken } = options;
  if (connectionString !== undefined && connectionString !== '') {
    try {
      return BlobServiceClient.fromConnectionString(connectionString, pipeline);
    } catch (err) {
      // The SDK's messages name the bad part, never its value; the string itself may hold a key.
      throw new Error(`${what}: connectionString is not a valid storage connection string (${firstLine(err)})`, { cause: err });
    }
  }
  if (accountUrl === undefined || accountUrl === '') {
    throw new Error(
      `${what}: no credentials: give connectionString, or accountUrl with sasToken, or accountUrl alone ` +
        '(signed in with DefaultAzureCredential: workload identity, managed identity, Azure CLI)' +
        (sasToken !== undefined && sasToken !== '' ? '; sasToken needs accountUrl' : ''),
    );
  }
  let url: URL;
  try {
    url = new URL(accountUrl);
  } catch {
    // Not echoed: a pasted URL may carry a SAS.
    throw new Error(`${what}: accountUrl is not a URL (expected https://<account>.blob.core.windows.net)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${what}: accountUrl must be an http(s) URL, got scheme ${url.protocol}`);
  }
  url.hash = '';
  if (sasToken !== undefined && sasToken !== '') {
    url.search = sasToken.startsWith('?') ? sasToken.slice(1) : sasToken;
    return new BlobServiceClient(url.toString(), new AnonymousCredential(), pipeline);
  }
  // An account URL pasted with its SAS query is signed by that SAS.
  if (url.searchParams.has('sig')) return new BlobServiceClient(url.toString(), new AnonymousCredential(), pipeline);
  if (url.protocol !== 'https:') {
    // The SDK refuses to send a bearer token over plain http; say so before the first request.
    throw new Error(`${what}: accountUrl must be https to sign in with DefaultAzureCredential (or give sasToken or connectionString)`);
  }
  url.search = '';
  return new BlobServiceClient(url.toString(), new DefaultAzureCredential(), pipeline);
}

/** The URL without its query (a SAS) or credentials, for logs and errors. */
function withoutQuery(raw: string): string {
  const url = new URL(raw);
  url.search = '';
  url.hash = '';
  url.username = '';
  url.password = '';
  return url.toString();
}

function unquote(etag: string): string {
  return etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag;
}

/** The first line of an error's message (Azure appends RequestId and Time lines), secrets masked. */
function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const line = message.split('\n', 1)[0].trim().slice(0, 200);
  return line.replace(/([?&;]?(?:sig|SharedAccessSignature|AccountKey)=)[^&;\s]+/gi, '$1***');
}

/** What went wrong, in words an operator acts on, with the status and code; never secrets. */
function describeCause(err: unknown): string {
  if (isRestError(err)) {
    const status = err.statusCode;
    const code = err.code;
    const tag = [status, code].filter((x) => x !== undefined).join(' ');
    if (status === undefined) {
      return code !== undefined && NETWORK_CODES.has(code) ? `network failure (${code})` : `request failed (${tag || 'no answer'}): ${firstLine(err)}`;
    }
    if (code === 'ContainerNotFound') return `the container does not exist (${tag})`;
    if (code === 'BlobNotFound') return `the blob does not exist (${tag})`;
    if ((code !== undefined && DENIED_CODES.has(code)) || status === 401 || status === 403) {
      return `access denied (${tag}): the SAS needs read and list permissions (sp=rl), an Entra identity the Storage Blob Data Reader role`;
    }
    const message = firstLine(err);
    return message !== '' && message !== code ? `${tag}: ${message}` : tag;
  }
  // DefaultAzureCredential found no identity, or one that cannot get a token.
  if (err instanceof Error && (err.name === 'CredentialUnavailableError' || err.name === 'AggregateAuthenticationError' || err.name === 'AuthenticationError')) {
    return `no Azure credential (DefaultAzureCredential: environment, workload identity, managed identity, Azure CLI): ${firstLine(err)}`;
  }
  return err instanceof Error ? `${err.name}: ${firstLine(err)}` : firstLine(err);
}
