/**
 * One entry point for the cloud flow-log decoders: which cloud wrote a flow-log object (from its
 * text alone, for `flowgauge replay` and for pollers that read mixed buckets), and the decoder for it.
 */
import { decodeAwsVpcFlowLog } from './aws-vpc-flow-log.js';
import { decodeAzureFlowLog } from './azure-flow-log.js';
import type { CloudDecodeCounters, CloudDecodeOptions } from './cloud-types.js';
import { decodeGcpVpcFlowLog } from './gcp-vpc-flow-log.js';
import type { RecordSink } from '../record.js';

export type CloudKind = 'aws' | 'azure' | 'gcp';

export const CLOUD_KINDS: readonly CloudKind[] = ['aws', 'azure', 'gcp'];

/** How much of the text the detection reads: markers sit in the first record. */
const SNIFF_CHARS = 65536;

/** A JSON document whose "message" is an AWS flow-log record (version, account id, interface id). */
const AWS_MESSAGE = /"message"\s*:\s*"\d+ \S+ (?:eni-\S+|-) /;

/** AWS field names that only a flow-log header line has. */
const AWS_HEADER_FIELDS = ['srcaddr', 'dstaddr', 'account-id', 'interface-id', 'log-status', 'resource-type', 'tgw-id'];

/**
 * The cloud that wrote `text`, or undefined when it is none of the formats the decoders read:
 * - Azure: Network Watcher JSON (NSG flow logs: "NetworkSecurityGroupFlowEvent"; VNet flow logs:
 *   "FlowLogFlowEvent"; both carry "flowTuples");
 * - GCP: Cloud Logging entries of VPC Flow Logs ("vpc_flows" log name, or a jsonPayload with a
 *   "connection" of "src_ip"/"dest_ip");
 * - AWS: CloudWatch Logs subscription JSON ("logEvents") or documents with one record as their
 *   "message", or the space-separated text of S3 delivery, with its header line (S3 delivery
 *   always writes one) or in the default format.
 */
export function detectCloudFlowLog(text: string): CloudKind | undefined {
  const head = text.length > SNIFF_CHARS ? text.slice(0, SNIFF_CHARS) : text;
  const start = head.trimStart();
  if (start.startsWith('{') || start.startsWith('[')) {
    if (head.includes('flowTuples') || head.includes('NetworkSecurityGroupFlowEvent') || head.includes('FlowLogFlowEvent')) return 'azure';
    if (head.includes('vpc_flows') || (head.includes('"connection"') && head.includes('"src_ip"'))) return 'gcp';
    if (head.includes('"logEvents"') || AWS_MESSAGE.test(head)) return 'aws';
    return undefined;
  }
  const firstLine = start.slice(0, start.indexOf('\n') < 0 ? start.length : start.indexOf('\n'));
  const tokens = firstLine.trim().split(/\s+/);
  if (AWS_HEADER_FIELDS.some((f) => tokens.includes(f) || tokens.includes('${' + f + '}'))) return 'aws';
  // A record of the default format: version 2, an account id, an interface id, ... 14 fields.
  if (tokens.length === 14 && tokens[0] === '2' && /^(eni-|-)/.test(tokens[2])) return 'aws';
  return undefined;
}

/** Decodes one flow-log object of `kind` (see the decoder of each cloud for its formats). */
export function decodeCloudFlowLog(
  kind: CloudKind,
  text: string,
  counters: CloudDecodeCounters,
  sink: RecordSink,
  options?: CloudDecodeOptions,
): void {
  if (kind === 'aws') decodeAwsVpcFlowLog(text, counters, sink, options);
  else if (kind === 'azure') decodeAzureFlowLog(text, counters, sink, options);
  else decodeGcpVpcFlowLog(text, counters, sink, options);
}
