/**
 * `flowgauge replay`: feeds captured export datagrams through the same pipeline as the daemon and
 * prints the final /metrics text. The exporter of each datagram is its captured IP source address,
 * and its receive time the capture time, so a replay gives what the daemon would have counted.
 */
import { readFile } from 'node:fs/promises';
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
}

/** Loads every input into a pipeline; throws a clear Error for a file it cannot read. */
export async function replayInto(pipeline: FlowPipeline, inputs: string[]): Promise<ReplaySummary> {
  const summary: ReplaySummary = { files: 0, datagrams: 0, skippedPackets: 0 };
  for (const input of inputs) {
    let data: Buffer;
    try {
      data = await readFile(input);
    } catch (err) {
      throw new Error(`cannot read ${input}: ${(err as Error).message}`);
    }
    if (!looksLikeCapture(data)) {
      throw new Error(
        `${input}: not a pcap or pcapng capture (cloud flow-log files are not supported by this version; give a capture of NetFlow/IPFIX/sFlow export datagrams)`,
      );
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
): Promise<number> {
  if (inputs.length === 0) {
    process.stderr.write('flowgauge replay: give at least one capture file (pcap or pcapng)\n');
    return 1;
  }
  const pipeline = new FlowPipeline(config);
  try {
    await replayInto(pipeline, inputs);
  } catch (err) {
    process.stderr.write(`flowgauge replay: ${(err as Error).message}\n`);
    return 1;
  }
  const selfMetrics = createSelfMetrics({ pipeline, listeners: () => [] }, false);
  const text = await renderMetrics(pipeline, selfMetrics, format);
  await new Promise<void>((resolve, reject) => out.write(text, (err) => (err ? reject(err) : resolve())));
  return 0;
}
