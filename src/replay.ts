/**
 * `flowgauge replay`: feeds captured export datagrams, or cloud flow-log files, through the same
 * pipeline as the daemon and prints the final /metrics text. The exporter of each datagram is its
 * captured IP source address, and its receive time the capture time, so a replay gives what the
 * daemon would have counted. A flow-log file (AWS VPC flow logs as S3 text or CloudWatch JSON,
 * Azure NSG/VNet flow logs, GCP VPC flow log entries; gzip-compressed or not) is recognised from
 * its content and counted at its records' own times.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { detectCloudFlowLog } from './decoders/cloud-flow-log.js';
import type { CloudDecodeOptions } from './decoders/cloud-types.js';
import type { FlowgaugeConfig } from './config/types.js';
import { renderMetrics } from './exporters/http-server.js';
import { createSelfMetrics } from './exporters/self-metrics.js';
import { FlowPipeline } from './pipeline.js';
import { readPcap } from './sources/pcap-reader.js';
import { formatAddress } from './util/address.js';

export interface ReplaySummary {
  files: number;
  datagrams: number;
  skippedPackets: number;
  /** Flow records counted from cloud flow-log files. */
  cloudRecords: number;
}

/** Loads every input into a pipeline; throws a clear Error for a file it cannot read. */
export async function replayInto(pipeline: FlowPipeline, inputs: string[], cloud: CloudDecodeOptions = {}): Promise<ReplaySummary> {
  const summary: ReplaySummary = { files: 0, datagrams: 0, skippedPackets: 0, cloudRecords: 0 };
  for (const input of inputs) {
    let data: Buffer;
    try {
      data = await readFile(input);
    } catch (err) {
      throw new Error(`cannot read ${input}: ${(err as Error).message}`);
    }
    if (!looksLikeCapture(data)) {
      summary.cloudRecords += replayFlowLog(pipeline, input, data, cloud);
      summary.files++;
      continue;
    }
    const capture = readPcap(data, input);
    for (const d of capture.datagrams) {
      pipeline.handleDatagram(d.payload, formatAddress(d.af, d.srcAddr), Math.round(d.timeMs));
    }
    summary.files++;
    summary.datagrams += capture.datagrams.length;
    summary.skippedPackets += capture.skipped;
  }
  return summary;
}

/** Counts a cloud flow-log file; throws a clear Error when it is not one. */
function replayFlowLog(pipeline: FlowPipeline, input: string, data: Buffer, cloud: CloudDecodeOptions): number {
  let text: string;
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) {
    try {
      text = gunzipSync(data).toString('utf8');
    } catch (err) {
      throw new Error(`${input}: gzip data that does not decompress (${(err as Error).message})`);
    }
  } else {
    text = data.toString('utf8');
  }
  const kind = detectCloudFlowLog(text);
  if (kind === undefined) {
    throw new Error(
      `${input}: neither a pcap/pcapng capture of NetFlow/IPFIX/sFlow export datagrams nor a cloud flow log ` +
        '(AWS VPC flow logs as S3 text with a header line or in the default format, or CloudWatch Logs JSON; ' +
        'Azure NSG or VNet flow log JSON; GCP VPC flow log entries as JSON or NDJSON), gzip-compressed or not',
    );
  }
  // Records without times of their own count at the file's replay time.
  return pipeline.handleCloudFlowLog(kind, text, Date.now(), cloud);
}

function looksLikeCapture(data: Uint8Array): boolean {
  if (data.length < 4) return false;
  const m = ((data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]) >>> 0;
  return m === 0x0a0d0d0a || m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d || m === 0x4d3cb2a1;
}

export async function runReplay(
  config: FlowgaugeConfig,
  inputs: string[],
  out: NodeJS.WritableStream,
  format: 'prometheus' | 'openmetrics' = 'prometheus',
  cloud: CloudDecodeOptions = {},
): Promise<number> {
  if (inputs.length === 0) {
    process.stderr.write('flowgauge replay: give at least one capture file (pcap or pcapng) or cloud flow-log file\n');
    return 1;
  }
  const pipeline = new FlowPipeline(config);
  try {
    await replayInto(pipeline, inputs, cloud);
  } catch (err) {
    process.stderr.write(`flowgauge replay: ${(err as Error).message}\n`);
    return 1;
  }
  const selfMetrics = createSelfMetrics({ pipeline, listeners: () => [] }, false);
  const text = await renderMetrics(pipeline, selfMetrics, format);
  await new Promise<void>((resolve, reject) => out.write(text, (err) => (err ? reject(err) : resolve())));
  return 0;
}
