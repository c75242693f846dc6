/**
 * What the cloud flow-log decoders share. Like the datagram decoders they are pure: the text of one
 * flow-log object (an S3 object, a blob, a batch of log entries, already decompressed) in, normalized
 * FlowRecords out through a sink, counts in a CloudDecodeCounters the caller owns. They never throw
 * for bad input: a line or entry they cannot read is counted by reason and skipped, and the rest of
 * the object is still decoded.
 */

/** Stable reasons for a skipped line or entry (flowgauge_cloud_records_skipped_total{reason}). */
export type CloudSkipReason =
  /** Not the format at all (not JSON where JSON is expected, no header where one is needed). */
  | 'bad_format'
  /** A line or entry whose fields do not match the declared or default layout. */
  | 'bad_record'
  /** A value that does not parse (address, port, protocol, counter, time). */
  | 'bad_value'
  /** A record that says no traffic was logged (AWS NODATA / SKIPDATA): counted, not an error. */
  | 'no_data'
  /** A well-formed record of a kind flowgauge does not count (e.g. a flow-log state that carries no counters). */
  | 'unsupported';

export interface CloudDecodeCounters {
  /** Flow records emitted to the sink. */
  records: number;
  /** Lines or entries skipped, by reason. */
  skipped: Map<CloudSkipReason, number>;
}

export function createCloudDecodeCounters(): CloudDecodeCounters {
  return { records: 0, skipped: new Map() };
}

export function countSkip(counters: CloudDecodeCounters, reason: CloudSkipReason, n = 1): void {
  counters.skipped.set(reason, (counters.skipped.get(reason) ?? 0) + n);
}

/**
 * Settings of one flow-log source that the text does not carry. Every decoder ignores what does
 * not apply to it.
 */
export interface CloudDecodeOptions {
  /**
   * AWS: the flow log's field list (its "log record format", `${version} ${account-id} ...` or
   * `version account-id ...`) for text without a header line and for CloudWatch Logs messages;
   * default: the AWS default format (version 2 fields).
   */
  awsFormat?: string;
}
