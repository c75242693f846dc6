/**
 * A Google Cloud Storage bucket as a FlowLogStore, through @google-cloud/storage (JSON API).
 *
 * GCP VPC flow logs reach a bucket through a Cloud Logging sink: hourly JSON files of LogEntries,
 * written once (a GCS object never grows: a rewrite is a new generation, hence the version).
 * Reads ask for the bytes as stored: the SDK sends `Accept-Encoding: gzip`, so an object uploaded
 * with `Content-Encoding: gzip` comes back gzip (no decompressive transcoding) and is not inflated
 * here (`decompress: false`); the caller's gunzip sees what the writer wrote.
 */
import { Storage, type Bucket, type StorageOptions } from '@google-cloud/storage';
import { JWT, UserRefreshClient } from 'google-auth-library';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FlowLogStore, StoredObject } from './flow-log-store.js';

export interface GcsFlowLogStoreOptions {
  /** Bucket name (without `gs://`). */
  bucket: string;
  /**
   * Project id. Listing and reading objects do not need one; given, it spares the SDK from asking
   * the credentials (or the metadata server) for it.
   */
  projectId?: string;
  /**
   * JSON API endpoint instead of `https://storage.googleapis.com` (Private Service Connect,
   * another universe, an emulator), e.g. `http://127.0.0.1:4443`.
   */
  apiEndpoint?: string;
  /**
   * Whether requests to `apiEndpoint` carry credentials. Default: yes for an `https:` endpoint
   * (a real GCS front end), no for `http:` (an emulator; credentials never go out in clear text).
   */
  authenticateEndpoint?: boolean;
  /**
   * Service-account key file. Without it the SDK uses Application Default Credentials:
   * GOOGLE_APPLICATION_CREDENTIALS, the `gcloud auth application-default` file, then the metadata
   * server (GCE, GKE workload identity, Cloud Run).
   */
  keyFilename?: string;
  /** Objects per list request (1..1000, default 1000, GCS's maximum). */
  pageSize?: number;
  /**
   * Retries of a request that got no answer, 429 or 5xx, with the SDK's exponential backoff
   * (default 3, about 15 s in all before a failure is reported; 0 reports it at once).
   */
  maxRetries?: number;
}

/** The listing fields the store uses: GCS sends only these (smaller pages). */
const LIST_FIELDS = 'items(name,size,generation,metageneration,updated,timeCreated),nextPageToken';

/** One item of an objects.list answer, as restricted by LIST_FIELDS. */
interface ListedObject {
  name?: string;
  size?: string | number;
  generation?: string | number;
  metageneration?: string | number;
  updated?: string;
  timeCreated?: string;
}

interface ListPage {
  items?: ListedObject[];
  nextPageToken?: string;
}

/** GCS bucket names: lower-case letters, digits, dashes, underscores and dots, 3..222 characters. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

export class GcsFlowLogStore implements FlowLogStore {
  readonly location: string;
  private readonly bucket: Bucket;
  private readonly pageSize: number;

  constructor(options: GcsFlowLogStoreOptions) {
    if (!BUCKET_NAME.test(options.bucket)) {
      throw new Error(
        `GCS bucket name ${JSON.stringify(options.bucket)} is not valid (3-222 lower-case letters, digits, '-', '_' or '.', without gs://)`,
      );
    }
    const pageSize = options.pageSize ?? 1000;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new Error(`GCS page size ${pageSize} is not an integer from 1 to 1000`);
    }
    this.pageSize = pageSize;
    this.location = `gs://${options.bucket}`;
    const storageOptions: StorageOptions = {};
    if (options.projectId !== undefined) storageOptions.projectId = options.projectId;
    if (options.keyFilename !== undefined) {
      // A client built from the parsed key, rather than the SDK's keyFilename (which the auth
      // library now warns about on every start).
      storageOptions.authClient = authClientFromKeyFile(options.keyFilename);
      if (options.projectId === undefined) {
        const project = (JSON.parse(readFileSync(options.keyFilename, 'utf8')) as { project_id?: unknown }).project_id;
        if (typeof project === 'string') storageOptions.projectId = project;
      }
    }
    if (options.maxRetries !== undefined) {
      if (!Number.isInteger(options.maxRetries) || options.maxRetries < 0) {
        throw new Error(`GCS maxRetries ${options.maxRetries} is not a non-negative integer`);
      }
      // The SDK reads maxRetries 0 as "default": no retries is autoRetry off.
      storageOptions.retryOptions =
        options.maxRetries === 0 ? { autoRetry: false } : { autoRetry: true, maxRetries: options.maxRetries };
    }
    if (options.apiEndpoint !== undefined) {
      let endpoint: URL;
      try {
        endpoint = new URL(options.apiEndpoint);
      } catch {
        throw new Error(`GCS endpoint ${JSON.stringify(options.apiEndpoint)} is not a URL`);
      }
      if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') {
        throw new Error(`GCS endpoint ${JSON.stringify(options.apiEndpoint)} is not http: or https:`);
      }
      storageOptions.apiEndpoint = options.apiEndpoint.replace(/\/+$/, '');
      // The SDK's own default is no credentials for any custom endpoint, which would break
      // Private Service Connect endpoints; plain http stays anonymous.
      storageOptions.useAuthWithCustomEndpoint = options.authenticateEndpoint ?? endpoint.protocol === 'https:';
    }
    this.bucket = new Storage(storageOptions).bucket(options.bucket);
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<StoredObject> {
    let pageToken: string | undefined;
    do {
      signal?.throwIfAborted();
      const query: Record<string, unknown> = {
        maxResults: this.pageSize,
        autoPaginate: false,
        fields: LIST_FIELDS,
      };
      if (prefix !== '') query.prefix = prefix;
      if (pageToken !== undefined) query.pageToken = pageToken;
      let page: ListPage;
      try {
        // The third element is the raw JSON answer: items and nextPageToken as GCS sent them.
        const answer = await abortable(this.bucket.getFiles(query), signal);
        page = (answer[2] ?? {}) as ListPage;
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw this.failure('list', prefix, err);
      }
      for (const item of page.items ?? []) {
        if (typeof item.name !== 'string') continue;
        signal?.throwIfAborted();
        yield {
          key: item.name,
          size: Number(item.size ?? 0),
          version: `${item.generation ?? ''}.${item.metageneration ?? ''}`,
          lastModifiedMs: Date.parse(item.updated ?? item.timeCreated ?? '') || 0,
        };
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined);
  }

  async read(key: string, offset: number, signal?: AbortSignal): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new Error(`${this.location}/${key}: read offset ${offset} is not a non-negative integer`);
    }
    signal?.throwIfAborted();
    // A ranged read cannot be checked against the object's CRC32C (the SDK refuses to); a whole
    // read keeps the SDK's check, which holds because the bytes are compared as stored.
    const stream = this.bucket
      .file(key)
      .createReadStream(offset > 0 ? { start: offset, decompress: false } : { decompress: false });
    let status = 0;
    stream.once('response', (res: { statusCode?: number; status?: number }) => {
      status = res.statusCode ?? res.status ?? 0;
    });
    const onAbort = (): void => {
      stream.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const body = await collect(stream);
      // A server that ignores Range answers 200 with the whole object: keep the asked tail.
      if (offset > 0 && status === 200) return body.length > offset ? body.subarray(offset) : Buffer.alloc(0);
      return body;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      // Range starting at or past the end: nothing new.
      if (offset > 0 && errorStatus(err) === 416) return Buffer.alloc(0);
      throw this.failure('read', key, err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** A one-line error naming the bucket (and key or prefix) and the cause, the SDK error as cause. */
  private failure(op: 'list' | 'read', keyOrPrefix: string, err: unknown): Error {
    const where = op === 'list' ? `${this.location}/${keyOrPrefix}* (list)` : `${this.location}/${keyOrPrefix}`;
    return new Error(`${where}: ${describeCause(op, err)}`, { cause: err });
  }
}

/** Credential types a key file may hold: a service-account key, or a user's `gcloud` login. */
const KEY_FILE_TYPES = new Set(['service_account', 'authorized_user']);

/**
 * Refuses a key file that cannot work, with a message that names the file but none of its
 * content. Other credential types (external_account, impersonation...) can make the auth library
 * fetch URLs or run programs named in the file: those belong in GOOGLE_APPLICATION_CREDENTIALS,
 * where the operator sets them knowingly.
 */
/** Read-only access to objects: all a poller needs. */
const READ_ONLY_SCOPE = 'https://www.googleapis.com/auth/devstorage.read_only';

/** The credentials of a checked key file: a service-account JWT client or a user refresh client. */
function authClientFromKeyFile(file: string): JWT | UserRefreshClient {
  checkKeyFile(file);
  const key = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const text = (name: string): string => {
    const v = key[name];
    if (typeof v !== 'string' || v === '') throw new Error(`GCS key file ${file} has no "${name}"`);
    return v;
  };
  if (key.type === 'service_account') {
    return new JWT({ email: text('client_email'), key: text('private_key'), keyId: typeof key.private_key_id === 'string' ? key.private_key_id : undefined, scopes: [READ_ONLY_SCOPE] });
  }
  return new UserRefreshClient({ clientId: text('client_id'), clientSecret: text('client_secret'), refreshToken: text('refresh_token') });
}

function checkKeyFile(file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new Error(`GCS key file ${file} cannot be read (${typeof code === 'string' ? code : 'error'})`, { cause: err });
  }
  let type: unknown;
  try {
    type = (JSON.parse(text) as { type?: unknown } | null)?.type;
  } catch {
    throw new Error(`GCS key file ${file} is not JSON (a service-account key file is)`);
  }
  if (typeof type !== 'string' || !KEY_FILE_TYPES.has(type)) {
    throw new Error(
      `GCS key file ${file} holds ${typeof type === 'string' ? `"${type}"` : 'no "type"'} credentials; it must be a service-account key ("service_account") or an "authorized_user" file`,
    );
  }
}

/** The HTTP status of an SDK error (ApiError.code), if it has one. */
function errorStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return code;
  if (typeof code === 'string' && /^\d{3}$/.test(code)) return Number(code);
  return undefined;
}

/** First line of a server or library message, bounded (a whole HTML error page says nothing more). */
function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

interface GoogleErrorItem {
  reason?: unknown;
  message?: unknown;
}

/**
 * Google's JSON error (`{"error":{"code","message","errors":[{"reason","message"}]}}`): the SDK
 * parses it for JSON calls but leaves it as the message text of a failed download.
 */
function googleErrorItem(err: { errors?: GoogleErrorItem[]; message?: unknown }): GoogleErrorItem | undefined {
  if (Array.isArray(err.errors) && err.errors.length > 0) return err.errors[0];
  if (typeof err.message !== 'string' || !err.message.trimStart().startsWith('{')) return undefined;
  try {
    const body = JSON.parse(err.message) as { error?: { message?: unknown; errors?: GoogleErrorItem[] } } | null;
    const first = body?.error?.errors?.[0];
    return { reason: first?.reason, message: body?.error?.message ?? first?.message };
  } catch {
    return undefined;
  }
}

function describeCause(op: 'list' | 'read', err: unknown): string {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; errors?: GoogleErrorItem[] };
  const status = errorStatus(err);
  const item = googleErrorItem(e);
  const reason = typeof item?.reason === 'string' ? item.reason : undefined;
  const serverMessage =
    typeof item?.message === 'string' ? item.message : typeof e.message === 'string' ? e.message : '';
  const detail = [reason, firstLine(serverMessage)].filter((s) => s).join(': ');
  const http = (what: string): string => `${what} (HTTP ${status}${detail ? ` ${detail}` : ''})`;
  if (status === 404) return http(op === 'list' ? 'bucket not found' : 'object or bucket not found');
  if (status === 401) return http('not authenticated');
  if (status === 403) return http('access denied');
  if (status !== undefined) return http('request failed');
  const message = typeof e.message === 'string' ? firstLine(e.message) : String(err);
  // Node system errors (ECONNREFUSED, ENOTFOUND, ETIMEDOUT...): the endpoint cannot be reached.
  if (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) {
    // "request to <url> failed, reason: ...": the host says which endpoint (GCS or the token service).
    const url = /request to (\S+) failed/.exec(message)?.[1];
    let host: string | undefined;
    try {
      host = url === undefined ? undefined : new URL(url).host;
    } catch {
      host = undefined;
    }
    return host === undefined ? `network failure (${e.code}): ${message}` : `network failure (${e.code}) reaching ${host}`;
  }
  if (/credentials|metadata/i.test(message)) return `no usable credentials: ${message}`;
  return message || 'unknown failure';
}

/** Rejects as soon as the signal aborts (the SDK's list call takes no signal; its request ends on its own). */
function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}
