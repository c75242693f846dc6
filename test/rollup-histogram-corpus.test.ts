/**
 * End to end on the edge corpus: captures replayed through the pipeline (capture times as receive
 * times), then the histogram, distinct-count and info families compared with the third-party
 * oracles: flow_duration_seconds counts every flow record of the exporters with real flow times
 * and none of sFlow's, flow_device_distinct_peers / _ports equal the distinct peers and peer ports
 * per device in the oracle's by_host_pair / by_pair (within the sketch's stated error, which is
 * exact at these sizes), the window empties after its length, and promtool accepts the whole page.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults.js';
import type { FlowgaugeConfig } from '../src/config/types.js';
import { renderMetrics } from '../src/exporters/http-server.js';
import { createSelfMetrics } from '../src/exporters/self-metrics.js';
import { buildStatus } from '../src/exporters/status.js';
import { FlowPipeline } from '../src/pipeline.js';
import { replayInto } from '../src/replay.js';
import { hllStandardError } from '../src/rollup/hyperloglog.js';
import { corpusDatagrams, corpusOracle, corpusPath, type Oracle } from './helpers/corpus.js';
import { parseExposition, sumOf, type Sample } from './helpers/exposition.js';

const havePromtool = spawnSync('promtool', ['--version']).error === undefined;
const skipPromtool = !havePromtool && !process.env.CI;
const SE = hllStandardError(defaultConfig().distinct.precision);
/** Default local networks, as the oracle rows need orienting the same way (RFC 1918, ULA). */
const LOCAL = /^(192\.168\.|10\.|172\.(1[6-9]|2[0-9]|3[01])\.|f[cd])/;

async function replay(file: string, config: FlowgaugeConfig = defaultConfig()): Promise<{ pipeline: FlowPipeline; samples: Sample[]; text: string }> {
  const pipeline = new FlowPipeline(config);
  await replayInto(pipeline, [corpusPath(`edge/${file}.pcap`)]);
  const self = createSelfMetrics({ pipeline, listeners: () => [] }, false);
  const text = await renderMetrics(pipeline, self, 'prometheus');
  return { pipeline, samples: parseExposition(text), text };
}

/** device -> distinct peers and distinct (protocol, peer port) pairs, from the oracle alone. */
function distinctFromOracle(o: Oracle): { peers: Map<string, Set<string>>; ports: Map<string, Set<string>> } {
  const orient = (src: string, dst: string): [string, string, boolean] =>
    LOCAL.test(src) ? [src, dst, false] : LOCAL.test(dst) ? [dst, src, true] : [src, dst, false];
  const peers = new Map<string, Set<string>>();
  for (const row of o.by_host_pair) {
    const [device, peer] = orient(row.src, row.dst);
    if (!peers.has(device)) peers.set(device, new Set());
    peers.get(device)!.add(peer);
  }
  const ports = new Map<string, Set<string>>();
  for (const row of o.by_pair) {
    const [device, , deviceIsDst] = orient(row.src, row.dst);
    if (!ports.has(device)) ports.set(device, new Set());
    const port = deviceIsDst ? row.src_port : row.dst_port;
    if ((row.proto === 6 || row.proto === 17) && port !== undefined && port > 0) ports.get(device)!.add(`${row.proto}/${port}`);
  }
  return { peers, ports };
}

function gauge(samples: Sample[], name: string): Map<string, number> {
  return new Map(samples.filter((s) => s.name === name).map((s) => [s.labels.device, s.value]));
}

describe('histograms, distinct counts and info series on the edge corpus', () => {
  for (const file of ['softflowd-ipfix', 'softflowd-v9', 'softflowd-v5', 'pmacctd-nfprobe-ipfix', 'pmacctd-nfprobe-v9', 'pmacctd-nfprobe-v9-large']) {
    it(`${file}: flow_duration_seconds counts every flow record, and each device's distinct peers and ports match the oracle`, async () => {
      const oracle = corpusOracle(`edge/${file}.json`);
      const { samples } = await replay(file);
      // Every record of these exporters carries real start and end times.
      expect(sumOf(samples, 'flow_duration_seconds_count')).toBe(oracle.totals.flows);
      expect(sumOf(samples, 'flow_duration_seconds_bucket', { le: '+Inf' })).toBe(oracle.totals.flows);
      // None of these sources reports latency.
      expect(sumOf(samples, 'flow_rtt_seconds_count')).toBe(0);

      const want = distinctFromOracle(oracle);
      const peers = gauge(samples, 'flow_device_distinct_peers');
      const ports = gauge(samples, 'flow_device_distinct_ports');
      expect(new Set(peers.keys())).toEqual(new Set(want.peers.keys()));
      for (const [device, set] of want.peers) {
        expect(Math.abs(peers.get(device)! - set.size), `${device} peers`).toBeLessThanOrEqual(3 * SE * set.size);
      }
      for (const [device, set] of want.ports) {
        expect(Math.abs(ports.get(device)! - set.size), `${device} ports`).toBeLessThanOrEqual(3 * SE * set.size);
      }
    });
  }

  it('sFlow samples have no flow duration: flow_duration_seconds stays empty while every sample is counted', async () => {
    const oracle = corpusOracle('edge/pmacctd-sfprobe-rate1.json');
    const { samples } = await replay('pmacctd-sfprobe-rate1');
    expect(sumOf(samples, 'flow_device_flows_total')).toBe(oracle.totals.samples);
    expect(sumOf(samples, 'flow_duration_seconds_count')).toBe(0);
    // Distinct peers still come from the sampled packets' addresses.
    const want = distinctFromOracle(oracle);
    const peers = gauge(samples, 'flow_device_distinct_peers');
    for (const [device, set] of want.peers) expect(peers.get(device), device).toBe(set.size);
  });

  it('the window ends at the capture: at the end of the replay the peers are there, one window later they are gone', async () => {
    const { pipeline } = await replay('softflowd-ipfix');
    const lastMs = Math.max(...corpusDatagrams('edge/softflowd-ipfix.pcap').map((d) => d.timeMs));
    const rollups = pipeline.rollups.snapshot();
    const at = (nowMs: number): number => {
      const g = pipeline.rollups.measureSnapshots(nowMs, rollups).gauges.find((x) => x.name === 'flow_device_distinct_peers')!;
      return g.values.reduce((a, v) => a + v, 0);
    };
    const total = [...distinctFromOracle(corpusOracle('edge/softflowd-ipfix.json')).peers.values()].reduce((a, s) => a + s.size, 0);
    expect(at(lastMs)).toBe(total);
    expect(at(lastMs + 4 * 60_000)).toBe(total);
    expect(at(lastMs + 7 * 60_000)).toBe(0);
    // measureNowMs follows the capture clock, not the wall clock, in a replay.
    expect(Math.abs(pipeline.measureNowMs() - lastMs)).toBeLessThan(60_000);
  });

  it('info series: one flow_device_info per device with series, inventory attributes, and the exporter with its source', async () => {
    const config = defaultConfig();
    config.inventory = [
      { match: '192.168.1.51', name: 'thermostat-1', type: 'hvac', site: 'lab' },
      { match: '10.99.0.0/16', name: 'unused-net' },
    ];
    const { samples } = await replay('softflowd-ipfix', config);
    const info = samples.filter((s) => s.name === 'flow_device_info');
    expect(info.every((s) => s.value === 1)).toBe(true);
    expect(info).toContainEqual({ name: 'flow_device_info', labels: { device: 'thermostat-1', address: '192.168.1.51', type: 'hvac', site: 'lab' }, value: 1 });
    expect(info).toContainEqual({ name: 'flow_device_info', labels: { device: 'unused-net', address: '10.99.0.0/16', type: 'unknown', site: 'unknown' }, value: 1 });
    expect(info).toContainEqual({ name: 'flow_device_info', labels: { device: '192.168.1.10', address: '192.168.1.10', type: 'unknown', site: 'unknown' }, value: 1 });
    const devices = new Set(samples.filter((s) => s.name === 'flow_device_flows_total').map((s) => s.labels.device));
    for (const d of devices) expect(info.some((s) => s.labels.device === d), d).toBe(true);
    expect(info.some((s) => s.labels.device === '192.168.1.51')).toBe(false); // named by the inventory instead
    expect(gauge(samples, 'flow_device_distinct_peers').has('thermostat-1')).toBe(true);
    expect(samples.filter((s) => s.name === 'flow_exporter_info')).toEqual([
      { name: 'flow_exporter_info', labels: { exporter: '127.0.0.1', address: '127.0.0.1', source: 'ipfix' }, value: 1 },
    ]);
  });

  it('self-metrics and /status report series in use and budget of every new family', async () => {
    const { pipeline, samples } = await replay('softflowd-ipfix');
    const self = (name: string, rollup: string): number | undefined => samples.find((s) => s.name === name && s.labels.rollup === rollup)?.value;
    const apps = new Set(samples.filter((s) => s.name === 'flow_duration_seconds_count').map((s) => s.labels.app));
    const devices = gauge(samples, 'flow_device_distinct_peers');
    expect(self('flowgauge_rollup_series', 'flow_duration_seconds')).toBe(apps.size);
    expect(self('flowgauge_rollup_budget', 'flow_duration_seconds')).toBe(200);
    expect(self('flowgauge_rollup_series', 'flow_rtt_seconds')).toBe(0);
    expect(self('flowgauge_rollup_budget', 'flow_rtt_seconds')).toBe(500);
    expect(self('flowgauge_rollup_series', 'flow_device_distinct_peers')).toBe(devices.size);
    expect(self('flowgauge_rollup_budget', 'flow_device_distinct_ports')).toBe(500);
    expect(self('flowgauge_rollup_series', 'flow_exporter_info')).toBe(1);
    expect(self('flowgauge_rollup_admissions_total', 'flow_duration_seconds')).toBe(apps.size);
    expect(self('flowgauge_rollup_folded_records_total', 'flow_device_distinct_peers')).toBe(0);
    // Bytes folding is a traffic notion: the new families do not appear there.
    expect(self('flowgauge_rollup_folded_bytes_total', 'flow_rtt_seconds')).toBeUndefined();
    expect(self('flowgauge_rollup_folded_bytes_total', 'flow_peer')).toBe(0);

    const status = buildStatus(pipeline, [], 'test', Date.now());
    expect(status.rollups.find((r) => r.rollup === 'flow_peer')).toMatchObject({ kind: 'counter', labels: ['device', 'peer'] });
    expect(status.rollups.find((r) => r.rollup === 'flow_duration_seconds')).toMatchObject({ kind: 'histogram', labels: ['app'], budget: 200, seriesInUse: apps.size });
    expect(status.rollups.find((r) => r.rollup === 'flow_device_distinct_peers')).toMatchObject({ kind: 'gauge', labels: ['device'], budget: 500 });
    expect(status.rollups.find((r) => r.rollup === 'flow_device_info')).toMatchObject({ kind: 'info', budget: 2000 });
  });

  it.skipIf(skipPromtool)('promtool check metrics accepts the whole replayed page', async () => {
    const { text } = await replay('pmacctd-nfprobe-v9-large');
    expect(text).toContain('# TYPE flow_duration_seconds histogram');
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});
