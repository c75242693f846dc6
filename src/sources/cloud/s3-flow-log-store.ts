/**
 * AWS VPC / Transit Gateway flow logs delivered to an S3 bucket (or an S3-compatible server), listed
 * with ListObjectsV2 and read with GetObject through the official SDK, so credentials come from the
 * AWS default provider chain when none are given (environment, shared config and SSO, web identity /
 * IRSA on EKS, ECS task role, EC2 instance metadata).
 */
import { GetObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { FlowLogStore, StoredObject } from './flow-log-store.js';

/** Options of an S3FlowLogStore. */
export interface S3FlowLogStoreOptions {
  /** The bucket the flow logs are delivered to (name only, no `s3://`). */
  bucket: string;
  /**
   * The bucket's region. Default: the SDK's region chain (AWS_REGION, the shared config profile),
   * else us-east-1; requests to a bucket in another region are redirected to it by the SDK.
   */
  region?: string;
  /**
   * Endpoint override (`https://host[:port]`) for S3-compatible servers, FIPS / sovereign endpoints
   * and emulators. Default: the AWS endpoint of the region.
   */
  endpoint?: string;
  /**
   * Address the bucket in the path (`endpoint/bucket/key`) rather than the host name; most
   * S3-compatible servers and emulators need it. Default false (virtual-hosted style).
   */
  forcePathStyle?: boolean;
  /** Keys per ListObjectsV2 page, 1..1000 (S3's maximum). Default 1000. */
  pageSize?: number;
  /**
   * Static credentials. Default: the AWS default credential provider chain, which is what EC2,
   * ECS and EKS deployments want. Never logged nor put in error messages.
   */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

const MAX_PAGE_SIZE = 1000;
const FALLBACK_REGION = 'us-east-1';
/** Node's codes for a request that never got an HTTP answer. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'EPIPE', 'ECONNABORTED', 'TimeoutError', 'RequestTimeout',
]);
const DENIED_CODES = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken',
  'TokenRefreshRequired', 'AllAccessDisabled', 'AccountProblem',
]);

/** A FlowLogStore over one S3 bucket. `location` is `s3://bucket`; versions are ETags. */
export class S3FlowLogStore implements FlowLogStore {
  readonly location: string;
  private readonly bucket: string;
  private readonly pageSize: number;
  private readonly client: S3Client;

  constructor(options: S3FlowLogStoreOptions) {
    if (typeof options.bucket !== 'string' || options.bucket === '' || options.bucket.includes('/')) {
      throw new Error(`S3 flow-log store: bucket must be a bucket name (no "s3://", no "/"), got ${JSON.stringify(options.bucket)}`);
    }
    const pageSize = options.pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new Error(`S3 flow-log store s3://${options.bucket}: pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${pageSize}`);
    }
    this.bucket = options.bucket;
    this.location = `s3://${options.bucket}`;
    this.pageSize = pageSize;
    const config: S3ClientConfig = {
      region: options.region ?? defaultRegion(),
      // A bucket outside the configured region answers with a redirect naming its region.
      followRegionRedirects: true,
    };
    if (options.endpoint !== undefined) config.endpoint = options.endpoint;
    if (options.forcePathStyle !== undefined) config.forcePathStyle = options.forcePathStyle;
    if (options.credentials !== undefined) {
      const { accessKeyId, secretAccessKey, sessionToken } = options.credentials;
      config.credentials = sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
    }
    this.client = new S3Client(config);
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      signal?.throwIfAborted();
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: this.pageSize, ContinuationToken: token }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw this.failure(`listing prefix ${JSON.stringify(prefix)}`, undefined, err, signal);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          key: object.Key,
          size: object.Size ?? 0,
          version: unquote(object.ETag ?? ''),
          lastModifiedMs: object.LastModified?.getTime() ?? 0,
        };
      }
      const next = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      if (page.IsTruncated === true && (next === undefined || next === token)) {
        // Without a new token the listing would restart or loop forever.
        throw new Error(`${this.location}: listing prefix ${JSON.stringify(prefix)} failed: a truncated page without a new continuation token`);
      }
      token = next;
    } while (token !== undefined);
  }

  async read(key: string, offset: number, signal?: AbortSignal): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`${this.location}/${key}: read offset must be a non-negative integer, got ${offset}`);
    }
    signal?.throwIfAborted();
    try {
      const answer = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: offset > 0 ? `bytes=${offset}-` : undefined }),
        { abortSignal: signal },
      );
      if (answer.Body === undefined) return Buffer.alloc(0);
      const bytes = await answer.Body.transformToByteArray();
      signal?.throwIfAborted();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      // S3 answers 416 InvalidRange for a range that starts at or past the end: nothing new.
      if (offset > 0 && (errorCode(err) === 'InvalidRange' || httpStatus(err) === 416)) return Buffer.alloc(0);
      throw this.failure('reading', key, err, signal);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
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

/** The SDK's region chain, falling back to us-east-1 where it finds none (e.g. on a bare EC2 host). */
function defaultRegion(): () => Promise<string> {
  // A client built without a region carries the SDK's own region provider chain.
  const probe = new S3Client({});
  const chain = probe.config.region;
  probe.destroy();
  return async () => {
    try {
      return await chain();
    } catch {
      return FALLBACK_REGION;
    }
  };
}

function unquote(etag: string): string {
  return etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag;
}

function httpStatus(err: unknown): number | undefined {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The S3 error code (`NoSuchBucket`), or Node's network code, or the error's name. */
function errorCode(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { Code?: unknown; code?: unknown; name?: unknown; errors?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string') return e.code;
  // A connection tried on several addresses fails with an AggregateError of the attempts.
  if (Array.isArray(e.errors) && e.errors.length > 0) {
    const inner = errorCode(e.errors[0]);
    if (inner !== undefined) return inner;
  }
  return typeof e.name === 'string' ? e.name : undefined;
}

/** What went wrong, in words an operator acts on, with the status and code; never secrets. */
function describeCause(err: unknown): string {
  const code = errorCode(err);
  const status = httpStatus(err);
  const tag = [status, code].filter((x) => x !== undefined).join(' ');
  if (code === 'NoSuchBucket') return `the bucket does not exist (${tag})`;
  if (code === 'NoSuchKey' || (status === 404 && code === 'NotFound')) return `the object does not exist (${tag})`;
  if ((code !== undefined && DENIED_CODES.has(code)) || status === 403) return `access denied (${tag})`;
  if (code === 'CredentialsProviderError') return 'no AWS credentials found by the default provider chain (CredentialsProviderError)';
  if (code !== undefined && NETWORK_CODES.has(code) && status === undefined) return `network failure (${code})`;
  // Other service errors: S3's own message is safe to show (it never echoes the secret key).
  const message = err instanceof Error ? err.message.replace(/\s+/g, ' ').trim().slice(0, 200) : String(err);
  const detail = message !== '' && message !== code && message !== 'UnknownError' ? `: ${message}` : '';
  return tag === '' ? message || 'unknown error' : `${tag}${detail}`;
}
