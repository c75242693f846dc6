/**
 * Info series: bounded label sets (refusals counted), inventory rows first, kept devices after,
 * exporters per datagram without allocation once known, and their exposition (gauge `_info` in
 * the text format, type info in OpenMetrics) accepted by promtool.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults.js';
import { renderExposition } from '../src/exporters/exposition.js';
import { FlowPipeline } from '../src/pipeline.js';
import { DeviceInfo, InfoSeries, createExporterInfo } from '../src/rollup/info-series.js';
import type { MeasureSnapshots } from '../src/rollup/measure-snapshot.js';
import { MeasureSet } from '../src/rollup/measures.js';
import { createFlowRecord } from '../src/record.js';
import { RollupEngine } from '../src/rollup/rollup-engine.js';
import { createFlowLabels } from '../src/rollup/types.js';
import { corpusDatagrams } from './helpers/corpus.js';
import { gcCountDuring } from './helpers/gc.js';

const havePromtool = spawnSync('promtool', ['--version']).error === undefined;
const skipPromtool = !havePromtool && !process.env.CI;

describe('InfoSeries', () => {
  it('keeps each label set once, reads "" as unknown, and refuses new ones past the budget', () => {
    const s = new InfoSeries('x', ['a', 'b'], 3, 'X things.');
    expect(s.add(['1', 'p'])).toBe(true);
    expect(s.add(['1', 'p'])).toBe(true);
    expect(s.add(['1', ''])).toBe(true);
    expect(s.has(['1', 'unknown'])).toBe(true);
    expect(s.add(['2', 'p'])).toBe(true);
    expect(s.add(['3', 'p'])).toBe(false);
    expect(s.add(['1', 'q'])).toBe(false);
    expect(s.add(['2', 'p'])).toBe(true); // already present: still fine when full
    expect(s.size).toBe(3);
    expect(s.snapshot().labelValues).toEqual([['1', 'p'], ['1', 'unknown'], ['2', 'p']]);
    expect(s.stats()).toMatchObject({ name: 'x_info', kind: 'info', seriesInUse: 3, budget: 3, foldedRecords: 2 });
  });

  it('with budget 0 holds nothing; a negative budget is an error', () => {
    const s = new InfoSeries('x', ['a'], 0, '');
    expect(s.add(['1'])).toBe(false);
    expect(s.size).toBe(0);
    expect(() => new InfoSeries('x', ['a'], -1, '')).toThrow(/budget must be an integer of 0 or more/);
  });

  it('stays bounded under a new exporter per call (10k offered, 500 kept)', () => {
    const s = createExporterInfo(500);
    for (let i = 0; i < 10_000; i++) s.add([`192.0.${i >> 8}.${i & 255}`, `192.0.${i >> 8}.${i & 255}`, 'ipfix']);
    expect(s.size).toBe(500);
    expect(s.refused).toBe(9_500);
  });

  it('allocates nothing to look up a label set it holds (no GC in 3M lookups)', async () => {
    const s = createExporterInfo(500);
    const values = Array.from({ length: 100 }, (_, i) => [`192.0.2.${i}`, `192.0.2.${i}`, i % 2 ? 'ipfix' : 'sflow']);
    for (const v of values) s.add(v);
    const collections = await gcCountDuring(() => {
      for (let i = 0; i < 3_000_000; i++) s.add(values[i % 100]);
    });
    expect(collections).toBeLessThanOrEqual(1);
  });
});

describe('DeviceInfo', () => {
  const inventory = [
    { match: '192.168.1.20', name: 'thermostat-1', type: 'hvac', site: 'lab' },
    { match: 'aa:bb:cc:dd:ee:ff', name: 'thermostat-1', type: 'hvac', site: 'lab' },
    { match: '10.1.0.0/24', name: 'plc-cell' },
  ];

  it('lists inventory entries first, then kept devices that are not inventory names, "other" and "unknown"', () => {
    const d = new DeviceInfo(10, inventory);
    const snap = d.snapshot(['thermostat-1', '192.168.1.10', 'other', 'unknown', '192.168.1.10', 'fd00::5']);
    expect(snap.name).toBe('flow_device');
    expect(snap.labelNames).toEqual(['device', 'address', 'type', 'site']);
    expect(snap.labelValues).toEqual([
      ['thermostat-1', '192.168.1.20', 'hvac', 'lab'],
      ['thermostat-1', 'aa:bb:cc:dd:ee:ff', 'hvac', 'lab'],
      ['plc-cell', '10.1.0.0/24', 'unknown', 'unknown'],
      ['192.168.1.10', '192.168.1.10', 'unknown', 'unknown'],
      ['fd00::5', 'fd00::5', 'unknown', 'unknown'],
    ]);
  });

  it('never exceeds its budget: inventory entries beyond it and kept devices beyond it are left out and counted', () => {
    const d = new DeviceInfo(2, inventory);
    expect(d.snapshot(['a', 'b']).labelValues).toHaveLength(2);
    expect(d.leftOut).toBe(2);
    const big = new DeviceInfo(100, []);
    const devices = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    expect(big.snapshot(devices).labelValues).toHaveLength(100);
    expect(big.leftOut).toBe(900);
    big.snapshot(devices);
    expect(big.stats()).toMatchObject({ name: 'flow_device_info', seriesInUse: 100, budget: 100, foldedRecords: 1800 });
  });
});

describe('info series through the pipeline', () => {
  it('flow_exporter_info holds at most exporter_budget exporters, whatever sends', async () => {
    const config = defaultConfig();
    config.info = { deviceBudget: 2000, exporterBudget: 5 };
    const pipeline = new FlowPipeline(config);
    const datagrams = corpusDatagrams('edge/softflowd-ipfix.pcap');
    for (let i = 0; i < 40; i++) {
      for (const d of datagrams) pipeline.handleDatagram(d.payload, `192.0.2.${i}`, d.timeMs);
    }
    const infos = pipeline.measureSnapshots(pipeline.rollups.snapshot()).infos;
    const exporters = infos.find((i) => i.name === 'flow_exporter')!;
    expect(exporters.labelValues).toHaveLength(5);
    expect(exporters.labelValues[0]).toEqual(['192.0.2.0', '192.0.2.0', 'ipfix']);
    const stats = pipeline.rollups.measureStats().find((s) => s.name === 'flow_exporter_info')!;
    expect(stats).toMatchObject({ seriesInUse: 5, budget: 5 });
    expect(stats.foldedRecords).toBeGreaterThan(0);
  });

  it('budget 0 turns a family off entirely (no metric names, no rows)', () => {
    const m = new MeasureSet({ info: { deviceBudget: 0, exporterBudget: 0 }, histograms: [], distinct: { budget: 0, windowSeconds: 300, subWindows: 5, precision: 10 } });
    m.exporterSeen('a', 'a', 'ipfix');
    expect(m.snapshot(0)).toEqual({ histograms: [], gauges: [], infos: [] });
    expect(m.metricNames()).toEqual([]);
  });

  it('a rollup whose metric names collide with an info or gauge family is refused with both names', () => {
    expect(() => new RollupEngine([], {}, { histograms: [{ name: 'flow_device_info', value: 'rtt', labels: ['device'], budget: 5, buckets: [1] }] })).toThrow(
      /histogram "flow_device_info" and the flow_device_info series both produce metric "flow_device_info"/,
    );
    expect(() => new RollupEngine([], {}, { histograms: [{ name: 'flow_device_distinct_peers', value: 'rtt', labels: ['device'], budget: 5, buckets: [1] }] })).toThrow(
      /and the flow_device_distinct_peers gauge both produce metric "flow_device_distinct_peers"/,
    );
    expect(() => new RollupEngine([{ name: 'flow_x', labels: ['device'], budget: 5 }], {}, { histograms: [{ name: 'flow_x_bytes', value: 'rtt', labels: ['device'], budget: 5, buckets: [1] }] })).toThrow(
      /rollup "flow_x" and histogram "flow_x_bytes" both produce metric "flow_x_bytes"/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Exposition of info series and gauges

function measures(): MeasureSnapshots {
  const device = new DeviceInfo(10, [{ match: '192.168.1.20', name: 'thermo "1"', type: 'hvac\\x', site: 'lab\nb' }]).snapshot(['10.0.0.5']);
  const exporter = createExporterInfo(10);
  exporter.add(['192.0.2.1', '192.0.2.1', 'ipfix']);
  exporter.add(['vpc-123', '', 'aws']);
  const m = new MeasureSet({ histograms: [] });
  m.distinct!.observeHashes('10.0.0.5', 1_700_000_000_000, 1, 2);
  const gauges = m.snapshot(1_700_000_000_000).gauges;
  return { histograms: [], gauges, infos: [device, exporter.snapshot()] };
}

describe('info and gauge exposition', () => {
  it('text format: each info family is a gauge <name>_info with value 1', () => {
    const text = renderExposition([], 'prometheus', '', measures());
    expect(text).toContain('# HELP flow_device_info Descriptive attributes of local devices');
    expect(text).toContain('# TYPE flow_device_info gauge\n');
    expect(text).toContain('flow_device_info{device="thermo \\"1\\"",address="192.168.1.20",type="hvac\\\\x",site="lab\\nb"} 1\n');
    expect(text).toContain('flow_device_info{device="10.0.0.5",address="10.0.0.5",type="unknown",site="unknown"} 1\n');
    expect(text).toContain('flow_exporter_info{exporter="vpc-123",address="unknown",source="aws"} 1\n');
    expect(text).toContain('# TYPE flow_device_distinct_peers gauge\nflow_device_distinct_peers{device="10.0.0.5"} 1\n');
    expect(text).toContain('# TYPE flow_device_distinct_ports gauge\nflow_device_distinct_ports{device="10.0.0.5"} 1\n');
  });

  it('OpenMetrics: type info on the family without _info, samples with _info', () => {
    const text = renderExposition([], 'openmetrics', '', measures());
    expect(text).toContain('# TYPE flow_device info\n# HELP flow_device Descriptive attributes');
    expect(text).toContain('# TYPE flow_exporter info\n');
    expect(text).toContain('flow_exporter_info{exporter="192.0.2.1",address="192.0.2.1",source="ipfix"} 1\n');
    expect(text).toContain('# TYPE flow_device_distinct_peers gauge\n# HELP flow_device_distinct_peers ');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });

  it.skipIf(skipPromtool)('passes promtool check metrics (text) and the OpenMetrics parser', () => {
    const text = renderExposition([], 'prometheus', '', measures());
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
    const om = renderExposition([], 'openmetrics', '', measures());
    const stamped = om
      .split('\n')
      .map((line) => (line === '' || line.startsWith('#') ? line : `${line} 1700000000`))
      .join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'flowgauge-info-om-'));
    try {
      writeFileSync(join(dir, 'metrics.om'), stamped);
      const c = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'metrics.om'), join(dir, 'blocks')], { encoding: 'utf8' });
      expect(`${c.stdout}${c.stderr}`).not.toMatch(/error/i);
      expect(c.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('flow_exporter_info from records', () => {
  it('learns the exporter and source kind of records counted away from the datagram path', () => {
    const m = new MeasureSet({ histograms: [] });
    const r = createFlowRecord();
    const labels = createFlowLabels();
    for (const [exporter, kind] of [['192.0.2.7', 'ipfix'], ['192.0.2.7', 'ipfix'], ['123456789012/eni-0abc', 'aws'], ['192.0.2.7', 'sflow']] as const) {
      r.exporter = exporter;
      r.sourceKind = kind;
      m.observe(r, labels);
    }
    expect(m.exporterInfo!.snapshot().labelValues).toEqual([
      ['192.0.2.7', '192.0.2.7', 'ipfix'],
      ['123456789012/eni-0abc', '123456789012/eni-0abc', 'aws'],
      ['192.0.2.7', '192.0.2.7', 'sflow'],
    ]);
  });
});
