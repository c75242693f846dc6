/**
 * Where cloud flow logs are delivered: an S3 bucket, an Azure Storage container or a GCS bucket,
 * seen as a flat list of objects under a prefix. The poller (cloud-flow-log-poller.ts) decides what
 * to read and keeps the checkpoints; a store only lists and reads, with the cloud's own SDK and
 * credential chain.
 */

/** One object (S3 key, Azure blob, GCS object) as listed. */
export interface StoredObject {
  /** Full key / blob name / object name in the bucket or container. */
  key: string;
  /** Size in bytes when listed. */
  size: number;
  /** Changes whenever the content changes: S3 and Azure ETag, GCS generation + metageneration. */
  version: string;
  /** Last modification time (ms since the epoch). */
  lastModifiedMs: number;
}

export interface FlowLogStore {
  /** Where it reads, for logs and errors: `s3://bucket`, `https://account.blob.../container`, `gs://bucket`. */
  readonly location: string;
  /**
   * Every object whose key starts with `prefix`, each once, in the store's listing order (pages
   * are fetched as the iteration goes). Rejects with an error naming the location on a failure.
   */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<StoredObject>;
  /**
   * The object's bytes from `offset` to its end (a ranged read when offset > 0), as stored (gzip
   * is left to the caller). An offset at or past the end gives an empty buffer.
   */
  read(key: string, offset: number, signal?: AbortSignal): Promise<Buffer>;
  /** Releases connections, if the SDK keeps any. */
  close?(): Promise<void>;
}
