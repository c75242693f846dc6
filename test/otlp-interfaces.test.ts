/**
 * The interface metrics from sFlow counter samples over OTLP: a daemon fed the pmacctd sfprobe
 * capture (which carries a counter sample) pushes every interface series of /metrics with the same
 * value, name and attributes (cumulative), delivers exactly the increases /metrics shows between
 * pushes (delta), and pushes nothing interface-related while no counter sample has arrived. The
 * producer drops rows that leave the store, gives a returning row a new start, keeps undelivered
 * increases for the next export, and sends a counter no int64 can carry as a double.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderInterfaceMetrics } from '../src/exporters/interface-exposition.js';
import { createInterfaceCounters } from '../src/decoders/sflow.js';
import { InterfaceCounterStore, type InterfaceCountersSnapshot } from '../src/rollup/interface-counters.js';
import { counterSample, datagram, genericInterface } from './decoders-sflow-builder.js';
import { corpusDatagrams } from './helpers/corpus.js';
import { sendDatagrams, startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition } from './helpers/exposition.js';
import {
  expectSameSeries,
  helpTexts,
  interfaceSampleNames,
  latestCumulative,
  makePusher,
  metricsSeries,
  otlpConfig,
  summedDeltas,
} from './helpers/otlp-compare.js';
import { seriesKey, startOtlpReceiver, type OtlpReceiver, type ReceivedPoint } from './helpers/otlp-receiver.js';

/** pmacctd sfprobe at 1:10: flow samples and one counter sample (agent 127.0.0.1, ifIndex 0x3FFFFFFF). */
const CAPTURE = 'edge/pmacctd-sfprobe-rate10.pcap';
const AGENT = '127.0.0.1';
const DEVICE_IF = 0x3fffffff;
const SFLOW_COUNTERS_SAMPLE = 2;

type TestDaemon = Awaited<ReturnType<typeof startTestDaemon>>;

let receiver: OtlpReceiver;
const daemons: TestDaemon[] = [];

beforeEach(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop('test')));
  await receiver.stop();
});

async function daemonWithOtlp(temporality: 'cumulative' | 'delta', protocol: 'http/protobuf' | 'http/json' = 'http/protobuf'): Promise<TestDaemon> {
  // The interval never comes round: each push is a flush() of the test.
  const daemon = await startTestDaemon({ otlp: otlpConfig({ endpoint: receiver.url, temporality, protocol }) });
  daemons.push(daemon);
  return daemon;
}

function datagramsSeen(daemon: TestDaemon): number {
  let n = 0;
  for (const e of daemon.pipeline.exporters.values()) for (const c of e.datagramsByProtocol.values()) n += c;
  return n;
}

async function sendAndWait(daemon: TestDaemon, payloads: Uint8Array[]): Promise<void> {
  const before = datagramsSeen(daemon);
  await sendDatagrams(daemon.udpPort, payloads);
  await waitFor(() => datagramsSeen(daemon) === before + payloads.length, 10_000, 'datagrams decoded');
}

/** Whether an sFlow datagram (IPv4 agent) starts with a counter sample; sfprobe sends those alone. */
function isCounterDatagram(d: Uint8Array): boolean {
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  return view.getUint32(4) === 1 && view.getUint32(28) % 4096 === SFLOW_COUNTERS_SAMPLE;
}

/** The capture's datagrams and the sequence number the agent's next datagram would carry. */
function captureDatagrams(): { payloads: Uint8Array[]; nextSequence: number } {
  const payloads = corpusDatagrams(CAPTURE).map((d) => d.payload);
  let last = 0;
  for (const p of payloads) last = Math.max(last, new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(16));
  return { payloads, nextSequence: last + 1 };
}

interface IfCounts {
  ifIndex: number;
  inOctets: number;
  inUcastPkts: number;
  outOctets: number;
  outUcastPkts: number;
  ifStatus?: number;
}

/** A later counter sample of the capture's agent (sub-agent 1, data source 0:1, as sfprobe sends). */
function counterDatagram(datagramSequence: number, sampleSequence: number, interfaces: IfCounts[]): Uint8Array {
  return datagram({
    agent: AGENT,
    subAgentId: 1,
    sequence: datagramSequence,
    uptimeMs: 20_000 * sampleSequence,
    samples: interfaces.map((i) =>
      counterSample({
        sequence: sampleSequence,
        sourceIdType: 0,
        sourceIdIndex: i.ifIndex === DEVICE_IF ? 1 : i.ifIndex,
        records: [genericInterface({ ifSpeed: 100_000_000, ifStatus: i.ifStatus ?? 3, ...i })],
      }),
    ),
  });
}

async function scrape(daemon: TestDaemon): Promise<string> {
  return (await fetch(`${daemon.httpUrl}/metrics`)).text();
}

/** The interface series of a /metrics text: series key -> value. */
function interfaceSeries(text: string): Map<string, number> {
  const names = interfaceSampleNames();
  const out = new Map<string, number>();
  for (const s of parseExposition(text)) if (names.has(s.name)) out.set(seriesKey(s.name, s.labels), s.value);
  return out;
}

const isInterfacePoint = (p: ReceivedPoint): boolean => p.metric.startsWith('flow_interface_');

/** Everything the daemon pushes is on /metrics with the same value, and the reverse. */
function expectPushEqualsMetrics(daemon: TestDaemon, points: readonly ReceivedPoint[], text: string): void {
  const rollups = daemon.pipeline.rollups.families().map((f) => f.definition);
  const measures = daemon.pipeline.measureSnapshots(daemon.pipeline.rollups.snapshot());
  expectSameSeries(latestCumulative(points), metricsSeries(text, rollups, measures));
}

describe('interface metrics over OTLP, cumulative', () => {
  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    it(`${protocol}: every interface series of /metrics is pushed with its value, name, unit and attributes`, async () => {
      const daemon = await daemonWithOtlp('cumulative', protocol);
      const { payloads, nextSequence } = captureDatagrams();
      await sendAndWait(daemon, payloads);
      expect(daemon.pipeline.interfaces.size).toBe(1);
      const text = await scrape(daemon);
      await daemon.otlp!.flush();
      expect(receiver.requests).toHaveLength(1);
      const first = receiver.requests[0].points;

      expectPushEqualsMetrics(daemon, first, text);
      const onMetrics = interfaceSeries(text);
      // One interface: 12 counters and 2 gauges.
      expect(onMetrics.size).toBe(14);
      const pushed = first.filter(isInterfacePoint);
      expect(pushed).toHaveLength(14);
      expect(latestCumulative(pushed)).toEqual(onMetrics);

      const help = helpTexts(text);
      for (const p of pushed) {
        expect(p.attributes).toEqual({ exporter: AGENT, if_index: String(DEVICE_IF) });
        expect(p.attributeTypes).toEqual({ exporter: 'string', if_index: 'string' });
        if (p.kind === 'sum') {
          expect(p.isMonotonic).toBe(true);
          expect(p.temporality).toBe(2);
          expect(p.unit).toBe(p.metric.endsWith('_bytes') ? 'By' : '{packet}');
          expect(p.description).toBe(help.get(`${p.metric}_total`));
          expect(Number.isInteger(p.value)).toBe(true);
          // A device counter's start is unknown: the first point is a reset point (start = time).
          expect(p.startTimeUnixNano).toBe(p.timeUnixNano);
        } else {
          expect(p.kind).toBe('gauge');
          expect(p.description).toBe(help.get(p.metric));
          expect(p.unit).toBe(p.metric === 'flow_interface_speed_bytes_per_second' ? 'By/s' : '');
        }
      }
      // The capture's counter sample, as tshark decodes it: 100 Mb/s, up, 4374 octets in.
      const key = (name: string): string => seriesKey(name, { exporter: AGENT, if_index: String(DEVICE_IF) });
      expect(onMetrics.get(key('flow_interface_speed_bytes_per_second'))).toBe(12_500_000);
      expect(onMetrics.get(key('flow_interface_oper_up'))).toBe(1);
      expect(onMetrics.get(key('flow_interface_in_bytes_total'))).toBe(4374);

      // A later sample: the next push equals /metrics again and keeps each series' start.
      const inBytes = onMetrics.get(key('flow_interface_in_bytes_total'))!;
      const inPackets = onMetrics.get(key('flow_interface_in_unicast_packets_total'))!;
      await sendAndWait(daemon, [
        counterDatagram(nextSequence, 2, [{ ifIndex: DEVICE_IF, inOctets: inBytes + 9000, inUcastPkts: inPackets + 6, outOctets: 1200, outUcastPkts: 2, ifStatus: 1 }]),
      ]);
      const text2 = await scrape(daemon);
      await daemon.otlp!.flush();
      const second = receiver.requests[1].points;
      expectPushEqualsMetrics(daemon, second, text2);
      expect(latestCumulative(second.filter(isInterfacePoint))).toEqual(interfaceSeries(text2));
      expect(interfaceSeries(text2).get(key('flow_interface_in_bytes_total'))).toBe(inBytes + 9000);
      expect(interfaceSeries(text2).get(key('flow_interface_oper_up'))).toBe(0);
      const firstStart = new Map(pushed.map((p) => [p.metric, p.startTimeUnixNano]));
      for (const p of second.filter((q) => isInterfacePoint(q) && q.kind === 'sum')) {
        expect(p.startTimeUnixNano).toBe(firstStart.get(p.metric));
        expect(p.timeUnixNano > p.startTimeUnixNano).toBe(true);
      }
    });
  }
});

describe('interface metrics over OTLP, delta', () => {
  it('the pushed increases sum to what /metrics gained since the push that first saw each interface', async () => {
    const daemon = await daemonWithOtlp('delta');
    const { payloads, nextSequence } = captureDatagrams();
    await sendAndWait(daemon, payloads);
    const metrics0 = interfaceSeries(await scrape(daemon));
    await daemon.otlp!.flush();
    // First sight of the interface: its counters become the baseline (a device's lifetime total is
    // not one interval's traffic), so only the gauges go out.
    const push0 = receiver.requests[0].points.filter(isInterfacePoint);
    expect(push0.map((p) => p.metric).sort()).toEqual(['flow_interface_oper_up', 'flow_interface_speed_bytes_per_second']);
    expect(latestCumulative(push0)).toEqual(new Map([...metrics0].filter(([k]) => !k.includes('_total{'))));
    const baselineTime = push0[0].timeUnixNano;

    const dev = (name: string): string => seriesKey(name, { exporter: AGENT, if_index: String(DEVICE_IF) });
    const port7 = (name: string): string => seriesKey(name, { exporter: AGENT, if_index: '7' });
    const in0 = metrics0.get(dev('flow_interface_in_bytes_total'))!;
    const pk0 = metrics0.get(dev('flow_interface_in_unicast_packets_total'))!;

    // More counter samples between two pushes: the device interface counts on, interface 7 appears.
    await sendAndWait(daemon, [
      counterDatagram(nextSequence, 2, [
        { ifIndex: DEVICE_IF, inOctets: in0 + 1500, inUcastPkts: pk0 + 3, outOctets: 400, outUcastPkts: 1 },
        { ifIndex: 7, inOctets: 1_000_000, inUcastPkts: 900, outOctets: 2_000_000, outUcastPkts: 1800 },
      ]),
    ]);
    const metrics1 = interfaceSeries(await scrape(daemon));
    await daemon.otlp!.flush();
    await sendAndWait(daemon, [
      counterDatagram(nextSequence + 1, 3, [
        { ifIndex: DEVICE_IF, inOctets: in0 + 4500, inUcastPkts: pk0 + 8, outOctets: 400, outUcastPkts: 1 },
        { ifIndex: 7, inOctets: 1_250_000, inUcastPkts: 1100, outOctets: 2_000_000, outUcastPkts: 1800 },
      ]),
    ]);
    const metrics2 = interfaceSeries(await scrape(daemon));
    await daemon.otlp!.flush();
    // Nothing new: no interface increases, the gauges again.
    await daemon.otlp!.flush();
    expect(receiver.requests).toHaveLength(4);
    expect(receiver.requests[3].points.filter((p) => isInterfacePoint(p) && p.kind !== 'gauge')).toEqual([]);
    expect(receiver.requests[3].points.filter(isInterfacePoint)).toHaveLength(4);

    const points = receiver.points.filter(isInterfacePoint);
    const sums = points.filter((p) => p.kind === 'sum');
    for (const p of sums) {
      expect(p.temporality).toBe(1);
      expect(p.isMonotonic).toBe(true);
      expect(p.attributeTypes).toEqual({ exporter: 'string', if_index: 'string' });
    }
    // Baselines: the device interface at push 0, interface 7 at push 1 (its first sight).
    const baseline = (key: string): number => (key.includes('if_index="7"') ? metrics1.get(key)! : metrics0.get(key)!);
    const expected = new Map<string, number>();
    for (const [key, value] of metrics2) {
      if (!key.includes('_total{')) expected.set(key, value);
      else if (value - baseline(key) > 0) expected.set(key, value - baseline(key));
    }
    expect(summedDeltas(points)).toEqual(expected);
    // The increases are the ones sent, exactly.
    const deltasOf = (key: string): number[] => sums.filter((p) => seriesKey(`${p.metric}_total`, p.attributes) === key).map((p) => p.value);
    expect(deltasOf(dev('flow_interface_in_bytes_total'))).toEqual([1500, 3000]);
    expect(deltasOf(dev('flow_interface_in_unicast_packets_total'))).toEqual([3, 5]);
    expect(deltasOf(dev('flow_interface_out_bytes_total'))).toEqual([400]);
    expect(deltasOf(port7('flow_interface_in_bytes_total'))).toEqual([250_000]);
    expect(deltasOf(port7('flow_interface_in_unicast_packets_total'))).toEqual([200]);
    expect(deltasOf(port7('flow_interface_out_bytes_total'))).toEqual([]);
    // And /metrics shows the same: baseline plus every delivered increase.
    expect(metrics2.get(dev('flow_interface_in_bytes_total'))).toBe(in0 + 4500);
    expect(metrics2.get(port7('flow_interface_in_bytes_total'))).toBe(1_250_000);

    // Each increase starts where the last one of its series ended, or at the baseline.
    const lastEnd = new Map<string, bigint>();
    for (const p of sums) {
      const key = seriesKey(p.metric, p.attributes);
      const start = lastEnd.get(key) ?? (p.attributes.if_index === '7' ? receiver.requests[1].points[0].timeUnixNano : baselineTime);
      expect(p.startTimeUnixNano).toBe(start);
      expect(p.timeUnixNano > p.startTimeUnixNano).toBe(true);
      lastEnd.set(key, p.timeUnixNano);
    }
  });
});

describe('no counter samples, no interface metrics', () => {
  for (const temporality of ['cumulative', 'delta'] as const) {
    it(`${temporality}: sFlow flow samples alone push the rollups and nothing interface-related`, async () => {
      const daemon = await daemonWithOtlp(temporality);
      const flowsOnly = captureDatagrams().payloads.filter((d) => !isCounterDatagram(d));
      expect(flowsOnly.length).toBe(captureDatagrams().payloads.length - 1);
      await sendAndWait(daemon, flowsOnly);
      expect(daemon.pipeline.interfaces.size).toBe(0);
      const text = await scrape(daemon);
      expect(interfaceSeries(text).size).toBe(0);
      await daemon.otlp!.flush();
      const points = receiver.requests[0].points;
      expect(points.some((p) => p.kind === 'sum')).toBe(true);
      expect(points.filter(isInterfacePoint)).toEqual([]);
      if (temporality === 'cumulative') expectPushEqualsMetrics(daemon, points, text);
    });
  }
});

describe('the producer and the interface store', () => {
  function record(ifIndex: number, sequence: number, inOctets: number): ReturnType<typeof createInterfaceCounters> {
    const c = createInterfaceCounters();
    c.agent = '192.0.2.9';
    c.sourceIdIndex = ifIndex;
    c.sampleSequence = sequence;
    c.ifIndex = ifIndex;
    c.ifSpeed = 1e9;
    c.ifOperUp = true;
    c.inOctets = inOctets;
    return c;
  }

  /** A store with interfaces 1 and 2, seen through a view that can leave one of them out. */
  function twoRowsOneHideable(): { store: InterfaceCounterStore; view: () => InterfaceCountersSnapshot; hide: (ifIndex: number) => void } {
    const store = new InterfaceCounterStore();
    store.add(record(1, 1, 1000));
    store.add(record(2, 1, 5000));
    let hidden = -1;
    const view = (): InterfaceCountersSnapshot => {
      const snap = store.snapshot();
      return { ...snap, rows: snap.rows.filter((r) => r.ifIndex !== hidden) };
    };
    return { store, view, hide: (ifIndex) => (hidden = ifIndex) };
  }

  it('rows that leave the snapshot stop being reported; a returning row starts over', async () => {
    const { store, view, hide } = twoRowsOneHideable();
    const pusher = makePusher(() => [], otlpConfig({ endpoint: receiver.url, temporality: 'delta' }), [], {}, undefined, view);
    try {
      await pusher.flush(); // baselines of both rows
      store.add(record(1, 2, 1600));
      store.add(record(2, 2, 5100));
      hide(2);
      await pusher.flush();
      const inBytes = (i: number): ReceivedPoint[] =>
        receiver.requests[i].points.filter((p) => p.metric === 'flow_interface_in_bytes');
      expect(inBytes(1).map((p) => [p.attributes.if_index, p.value])).toEqual([['1', 600]]);
      expect(receiver.requests[1].points.some((p) => p.attributes.if_index === '2')).toBe(false);
      // Row 2 returns: a new series whose first sight is a new baseline, not an increase of 100.
      hide(-1);
      store.add(record(2, 3, 5400));
      await pusher.flush();
      expect(inBytes(2)).toEqual([]);
      store.add(record(2, 4, 5450));
      await pusher.flush();
      expect(inBytes(3).map((p) => [p.attributes.if_index, p.value])).toEqual([['2', 50]]);
      expect(inBytes(3)[0].startTimeUnixNano).toBe(receiver.requests[2].points[0].timeUnixNano);
    } finally {
      await pusher.stop();
    }
  });

  it('cumulative: a returning row gets a new start (a reset point), a kept row keeps its start', async () => {
    const { store, view, hide } = twoRowsOneHideable();
    const pusher = makePusher(() => [], otlpConfig({ endpoint: receiver.url }), [], {}, undefined, view);
    try {
      await pusher.flush();
      hide(2);
      await pusher.flush();
      hide(-1);
      await pusher.flush();
      const start = (req: number, ifIndex: string): bigint =>
        receiver.requests[req].points.find((p) => p.metric === 'flow_interface_in_bytes' && p.attributes.if_index === ifIndex)!.startTimeUnixNano;
      expect(receiver.requests[1].points.some((p) => p.attributes.if_index === '2')).toBe(false);
      expect(start(2, '1')).toBe(start(0, '1'));
      expect(start(2, '2')).toBe(receiver.requests[2].points[0].timeUnixNano);
      expect(start(2, '2') > start(0, '2')).toBe(true);
    } finally {
      await pusher.stop();
    }
  });

  it('delta: increases of an export the receiver refused go with the next one', async () => {
    const store = new InterfaceCounterStore();
    store.add(record(1, 1, 1000));
    const pusher = makePusher(() => [], otlpConfig({ endpoint: receiver.url, temporality: 'delta' }), [], {}, undefined, () => store.snapshot());
    try {
      await pusher.flush();
      store.add(record(1, 2, 1300));
      receiver.mode = { kind: 'status', status: 400, times: 1 };
      await pusher.flush();
      expect(receiver.rejected).toBe(1);
      store.add(record(1, 3, 1500));
      await pusher.flush();
      const delivered = receiver.points.filter((p) => p.metric === 'flow_interface_in_bytes');
      expect(delivered.map((p) => p.value)).toEqual([500]);
      expect(delivered[0].startTimeUnixNano).toBe(receiver.requests[0].points[0].timeUnixNano);
    } finally {
      await pusher.stop();
    }
  });

  it("an agent's all-ones 64-bit counter goes as a double with the /metrics value", async () => {
    const store = new InterfaceCounterStore();
    store.add(record(1, 1, 2 ** 64 - 1));
    store.add(record(2, 1, 42));
    const pusher = makePusher(() => [], otlpConfig({ endpoint: receiver.url }), [], {}, undefined, () => store.snapshot());
    try {
      await pusher.flush();
      const text = renderInterfaceMetrics(store.snapshot(), 'prometheus');
      expectSameSeries(latestCumulative(receiver.requests[0].points), metricsSeries(text, []));
      const inBytes = receiver.requests[0].points.filter((p) => p.metric === 'flow_interface_in_bytes');
      expect(inBytes.map((p) => p.value)).toEqual([2 ** 64, 42]);
    } finally {
      await pusher.stop();
    }
  });
});
