/**
 * sFlow decode throughput: samples/s of flowgauge's sFlow v5 decoder against node-sflow (the
 * JavaScript sFlow decoder on npm) on the same datagrams, in the same process, interleaved round by
 * round so both see the same machine noise.
 *
 *   npm run bench:sflow            (= npm run build && npx tsx bench/decode-sflow.ts)
 *
 * Input: every datagram of the corpus pmacctd sfprobe captures (1:1 and 1:10), repeated. Both
 * decoders see the same Buffers. The figure is samples (flow + counter samples) per second.
 * - flowgauge decodes each sampled packet header (Ethernet, VLAN, MPLS, IPv4/IPv6, ports) into a
 *   FlowRecord, tracks sequence numbers and sample pools, and hands out the interface counters; the
 *   sink reads the bytes and addresses of every record.
 * - node-sflow parses the sample and record structures and leaves the packet header as an opaque
 *   slice; its sink reads the frame length of every record. It parses on process.nextTick, so a
 *   pass ends when the last datagram's 'done' event fires.
 * - A third row runs the whole pipeline (decode, enrich, rollup) for context.
 * Rates are given per wall-clock second and per CPU-second of the process (every thread, so
 * node-sflow's garbage collection counts against it); on a busy shared machine the CPU figure is
 * the steadier one, on an idle one the two agree within GC helper threads.
 * Environment: BENCH_ROUNDS (default 7), BENCH_ROUND_MS (default 400).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { InterfaceCounters, SflowDecodeContext } from '../src/decoders/sflow.js';
import type { FlowRecord } from '../src/record.js';
import { corpusDatagrams } from '../test/helpers/corpus.js';
import { fromDist } from './dist.js';

const { defaultConfig } = await fromDist<typeof import('../src/config/defaults.js')>('config/defaults.js');
const { decodeSflowDatagram } = await fromDist<typeof import('../src/decoders/sflow.js')>('decoders/sflow.js');
const { SflowAgentState } = await fromDist<typeof import('../src/decoders/sflow-state.js')>('decoders/sflow-state.js');
const { createDecodeCounters } = await fromDist<typeof import('../src/decoders/types.js')>('decoders/types.js');
const { FlowPipeline } = await fromDist<typeof import('../src/pipeline.js')>('pipeline.js');
type FlowPipeline = InstanceType<typeof FlowPipeline>;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 400);
const FILES = ['edge/pmacctd-sfprobe-rate1.pcap', 'edge/pmacctd-sfprobe-rate10.pcap'];

interface NodeSflowFlow {
  records?: Array<{ frameLen?: number }>;
  counters?: unknown[];
}
interface NodeSflowPacket {
  flows: NodeSflowFlow[];
  once(event: 'done', fn: () => void): void;
}
const require = createRequire(import.meta.url);
const NodeSflowPacket = require('node-sflow/lib/packet') as new (msg: Buffer) => NodeSflowPacket;
const nodeSflowVersion = (require('node-sflow/package.json') as { version: string }).version;

const datagrams: Buffer[] = [];
for (const f of FILES) for (const d of corpusDatagrams(f)) datagrams.push(Buffer.from(d.payload));

// ---------------------------------------------------------------------------------------------
// The three contenders: one pass = every datagram once; each returns the samples it saw.

let sink = 0; // read by the end, so no sink's work can be optimized away

const ctx: SflowDecodeContext = {
  exporter: '127.0.0.1',
  nowMs: 0,
  state: new SflowAgentState(),
  counters: createDecodeCounters(),
};
const onRecord = (r: FlowRecord): void => {
  sink += r.bytes + r.src[3] + r.dstPort;
};
let counterRecords = 0;
const onCounters = (c: InterfaceCounters): void => {
  counterRecords++;
  sink += c.inOctets;
};
function flowgaugePass(): number {
  const recordsBefore = ctx.counters.records;
  const countersBefore = counterRecords;
  for (let i = 0; i < datagrams.length; i++) decodeSflowDatagram(datagrams[i], ctx, onRecord, onCounters);
  return ctx.counters.records - recordsBefore + (counterRecords - countersBefore);
}

function nodeSflowPass(): Promise<number> {
  return new Promise((resolve) => {
    let samples = 0;
    let pending = datagrams.length;
    for (let i = 0; i < datagrams.length; i++) {
      const p = new NodeSflowPacket(datagrams[i]);
      p.once('done', () => {
        for (const flow of p.flows) {
          samples++;
          if (flow.records) for (const r of flow.records) sink += r.frameLen ?? 0;
        }
        if (--pending === 0) resolve(samples);
      });
    }
  });
}

const pipeline = new FlowPipeline(defaultConfig());
function pipelinePass(): number {
  const before = sampleCountOf(pipeline);
  for (let i = 0; i < datagrams.length; i++) pipeline.handleDatagram(datagrams[i], '127.0.0.1', 0);
  return sampleCountOf(pipeline) - before;
}
function sampleCountOf(p: FlowPipeline): number {
  const e = p.exporters.get('127.0.0.1');
  return e === undefined ? 0 : e.counters.records + p.interfaces.stats().records + p.interfaces.stats().recordsStale;
}

// ---------------------------------------------------------------------------------------------

interface Rate {
  /** Samples per second of wall-clock time. */
  wall: number;
  /** Samples per second of the process's CPU time (user + system, every thread: GC included). */
  cpu: number;
}

async function timed(pass: () => number | Promise<number>): Promise<Rate> {
  let samples = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let elapsed = 0;
  do {
    samples += await pass();
    elapsed = performance.now() - start;
  } while (elapsed < ROUND_MS);
  const cpu = process.cpuUsage(cpuStart);
  return { wall: samples / (elapsed / 1000), cpu: samples / ((cpu.user + cpu.system) / 1e6) };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux: fall through
  }
  return os.cpus()[0]?.model.trim() ?? 'unknown';
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`;
}

async function main(): Promise<void> {
  // Both decoders must see the same samples, or the comparison means nothing.
  const ours = flowgaugePass();
  const theirs = await nodeSflowPass();
  if (ours !== theirs) throw new Error(`flowgauge saw ${ours} samples per pass, node-sflow ${theirs}: not the same work`);
  const flowSamples = ctx.counters.records;
  const bytes = datagrams.reduce((a, d) => a + d.length, 0);

  console.log('# sFlow decode: flowgauge vs node-sflow');
  console.log('command: npm run bench:sflow');
  console.log(`machine: nproc ${os.availableParallelism()}, ${cpuModel()}; node ${process.version}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`input: ${FILES.join(', ')}: ${datagrams.length} datagrams, ${bytes} bytes, ${ours} samples per pass (${flowSamples} flow, ${ours - flowSamples} counter)`);
  console.log(`node-sflow ${nodeSflowVersion}; ${ROUNDS} rounds of ${ROUND_MS} ms each, interleaved; median samples/s`);

  // Warm-up so every contender is optimized before it is measured.
  for (let i = 0; i < 3; i++) {
    await timed(flowgaugePass);
    await timed(nodeSflowPass);
    await timed(pipelinePass);
  }
  const results = { flowgauge: [] as Rate[], nodeSflow: [] as Rate[], pipeline: [] as Rate[] };
  for (let r = 0; r < ROUNDS; r++) {
    results.flowgauge.push(await timed(flowgaugePass));
    results.nodeSflow.push(await timed(nodeSflowPass));
    results.pipeline.push(await timed(pipelinePass));
  }
  const med = (rates: Rate[]): Rate => ({ wall: median(rates.map((x) => x.wall)), cpu: median(rates.map((x) => x.cpu)) });
  const fg = med(results.flowgauge);
  const ns = med(results.nodeSflow);
  const pl = med(results.pipeline);
  const rows: Array<[string, Rate]> = [
    ['flowgauge decoder (headers decoded)', fg],
    [`node-sflow ${nodeSflowVersion} (headers not decoded)`, ns],
    ['flowgauge pipeline (decode + enrich + rollup)', pl],
  ];
  console.log('');
  console.log('| decoder | samples/s (wall) | vs node-sflow | samples per CPU-second | vs node-sflow |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, v] of rows) {
    console.log(`| ${name} | ${fmt(v.wall)} | ${(v.wall / ns.wall).toFixed(1)}x | ${fmt(v.cpu)} | ${(v.cpu / ns.cpu).toFixed(1)}x |`);
  }
  console.log('');
  console.log(`ratio flowgauge / node-sflow: ${(fg.wall / ns.wall).toFixed(1)}x wall-clock, ${(fg.cpu / ns.cpu).toFixed(1)}x CPU time (goal >= 5x)`);
  if (sink === 42) console.log(''); // keeps the sinks' work observable
}

await main();
