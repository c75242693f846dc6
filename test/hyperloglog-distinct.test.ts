/**
 * flow_device_distinct_peers / _ports: a scanning device stands out within the stated error, the
 * peer end follows the enricher's orientation, the budget holds (`other` = union of the folded
 * devices), silent devices give their slot up after the window, and old peers leave the window.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/defaults.js';
import type { DistinctSettings } from '../src/config/types.js';
import { Enricher } from '../src/enrich/enricher.js';
import { Direction, createFlowRecord, type FlowRecord } from '../src/record.js';
import { DistinctFamily } from '../src/rollup/distinct-family.js';
import { fmix32, hllStandardError } from '../src/rollup/hyperloglog.js';
import { MeasureSet } from '../src/rollup/measures.js';
import { createFlowLabels } from '../src/rollup/types.js';
import { parseAddress } from '../src/util/address.js';

const MIN = 60_000;
const T0 = 1_700_000_000_000;
const SE = hllStandardError(10);

function settings(over: Partial<DistinctSettings> = {}): DistinctSettings {
  return { budget: 10, windowSeconds: 300, subWindows: 5, precision: 10, ...over };
}

function gauges(f: DistinctFamily, nowMs?: number): { peers: Map<string, number>; ports: Map<string, number> } {
  const g = f.snapshot(nowMs);
  const toMap = (s: typeof g.peers): Map<string, number> => new Map(s.labelValues.map((v, i) => [v[0], s.values[i]]));
  return { peers: toMap(g.peers), ports: toMap(g.ports) };
}

describe('DistinctFamily', () => {
  it('shows a scanning device next to a quiet one, each within 3 standard errors', () => {
    const f = new DistinctFamily(settings());
    for (let i = 0; i < 20_000; i++) {
      f.observeHashes('camera', T0 + i, fmix32(1_000_000 + i), fmix32(7_000_000 + (i % 1024)));
      f.observeHashes('thermostat', T0 + i, fmix32(1 + (i % 3)), fmix32(7_000_443));
    }
    const { peers, ports } = gauges(f);
    expect(Math.abs(peers.get('camera')! - 20_000) / 20_000).toBeLessThanOrEqual(3 * SE);
    expect(Math.abs(ports.get('camera')! - 1024) / 1024).toBeLessThanOrEqual(3 * SE);
    expect(peers.get('thermostat')).toBe(3);
    expect(ports.get('thermostat')).toBe(1);
  });

  it('holds at most `budget` devices; the rest fold into "other", whose gauge counts their union', () => {
    const f = new DistinctFamily(settings({ budget: 3 }));
    f.observeHashes('a', T0, fmix32(1), undefined);
    f.observeHashes('b', T0, fmix32(2), undefined);
    // Budget 3 = a, b and the reserved "other" row: c and d fold, sharing peer 4.
    f.observeHashes('c', T0, fmix32(3), undefined);
    f.observeHashes('c', T0, fmix32(4), undefined);
    f.observeHashes('d', T0, fmix32(4), undefined);
    f.observeHashes('d', T0, fmix32(5), undefined);
    const { peers, ports } = gauges(f);
    expect([...peers.keys()]).toEqual(['a', 'b', 'other']);
    expect(peers.get('other')).toBe(3);
    expect(ports.get('a')).toBe(0);
    expect(f.stats()[0]).toMatchObject({ name: 'flow_device_distinct_peers', seriesInUse: 3, budget: 3, foldedRecords: 4, admissions: 2 });
    expect(f.keptDevices()).toEqual(['b', 'a']);
  });

  it('drops peers seen longer ago than the window, and gives a silent device slot to a new device', () => {
    const f = new DistinctFamily(settings({ budget: 3 }));
    f.observeHashes('a', T0, fmix32(1), undefined);
    f.observeHashes('b', T0 + 2 * MIN, fmix32(2), undefined);
    expect(gauges(f, T0 + 4 * MIN).peers).toEqual(new Map([['a', 1], ['b', 1]]));
    // a's peer leaves the window between 5 and 6 minutes after it was seen.
    expect(gauges(f, T0 + 6 * MIN).peers).toEqual(new Map([['a', 0], ['b', 1]]));
    // A new device takes a's slot (a is silent for the whole window); b is still inside it.
    f.observeHashes('c', T0 + 7 * MIN, fmix32(3), undefined);
    expect(gauges(f).peers).toEqual(new Map([['c', 1], ['b', 1]]));
    expect(f.stats()[0]).toMatchObject({ evictions: 1, admissions: 3, foldedRecords: 0 });
    // b is within its window at 7 min: d cannot evict it and folds.
    f.observeHashes('d', T0 + 7 * MIN, fmix32(4), undefined);
    expect(gauges(f).peers).toEqual(new Map([['c', 1], ['b', 1], ['other', 1]]));
    // a comes back: it is a new device now, and folds too.
    f.observeHashes('a', T0 + 7 * MIN, fmix32(1), undefined);
    expect(gauges(f).peers.get('other')).toBe(2);
  });

  it('never holds more than the budget, whatever the device stream (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.record({ device: fc.string({ maxLength: 2 }), dt: fc.nat(4 * MIN), peer: fc.nat(50) }), { maxLength: 300 }),
        (budget, stream) => {
          const f = new DistinctFamily(settings({ budget }));
          let t = T0;
          for (const o of stream) {
            t += o.dt;
            f.observeHashes(o.device, t, fmix32(o.peer + 1), undefined);
            const g = f.snapshot(t);
            expect(g.peers.labelValues.length).toBeLessThanOrEqual(budget);
            expect(new Set(g.peers.labelValues.map((v) => v[0])).size).toBe(g.peers.labelValues.length);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects invalid settings', () => {
    expect(() => new DistinctFamily(settings({ budget: 0 }))).toThrow(/budget must be an integer of at least 1/);
    expect(() => new DistinctFamily(settings({ precision: 20 }))).toThrow(/precision/);
    expect(() => new DistinctFamily(settings({ subWindows: 0 }))).toThrow(/sub-windows/);
  });
});

describe('MeasureSet feeding the distinct gauges', () => {
  const enricher = new Enricher(defaultConfig());

  function record(src: string, dst: string, protocol: number, srcPort: number, dstPort: number, over: Partial<FlowRecord> = {}): FlowRecord {
    const r = createFlowRecord();
    r.af = src.includes(':') ? 6 : 4;
    parseAddress(src, r.src);
    parseAddress(dst, r.dst);
    r.protocol = protocol;
    r.srcPort = srcPort;
    r.dstPort = dstPort;
    return Object.assign(r, over);
  }

  function feed(m: MeasureSet, records: FlowRecord[], t = T0): void {
    const labels = createFlowLabels();
    m.setTime(t);
    for (const r of records) {
      enricher.enrich(r, labels);
      m.observe(r, labels);
    }
  }

  it('counts the remote end as the peer and its port as the peer port, in either direction', () => {
    const m = new MeasureSet({ histograms: [] });
    feed(m, [
      record('192.168.1.10', '203.0.113.1', 6, 50000, 443), // egress: peer = dst
      record('203.0.113.1', '192.168.1.10', 6, 443, 50000), // ingress reply: peer = src, same port
      record('192.168.1.10', '203.0.113.2', 17, 40000, 53),
      record('198.51.100.7', '192.168.1.10', 6, 51000, 22), // inbound ssh: peer port 51000
      record('192.168.1.10', '203.0.113.3', 1, 0, 0x0800), // ICMP: no port
      record('192.168.1.10', '10.0.0.5', 6, 50001, 445), // internal: device = src, peer = dst
      record('2001:db8::1', 'fd12:3456:789a:1::10', 6, 443, 50002),
    ]);
    const g = m.snapshot(T0);
    const peers = new Map(g.gauges[0].labelValues.map((v, i) => [v[0], g.gauges[0].values[i]]));
    const ports = new Map(g.gauges[1].labelValues.map((v, i) => [v[0], g.gauges[1].values[i]]));
    expect(peers.get('192.168.1.10')).toBe(5);
    expect(ports.get('192.168.1.10')).toBe(4); // tcp/443, udp/53, tcp/51000, tcp/445
    expect(peers.get('fd12:3456:789a:1::10')).toBe(1);
    expect(peers.has('203.0.113.1')).toBe(false);
  });

  it('follows the reporter of a cloud record: reported ingress between two local ends makes the receiver the device', () => {
    const m = new MeasureSet({ histograms: [] });
    feed(m, [record('10.0.0.7', '10.0.0.8', 6, 40000, 5432, { sourceKind: 'aws', direction: Direction.ingress })]);
    const g = m.snapshot(T0).gauges[0];
    expect(g.labelValues).toEqual([['10.0.0.8']]);
  });

  it('skips records without addresses', () => {
    const m = new MeasureSet({ histograms: [] });
    const r = createFlowRecord();
    feed(m, [r]);
    expect(m.snapshot(T0).gauges[0].labelValues).toEqual([]);
  });

  it('allocates nothing per record for kept and folded devices (no GC in 2M records)', async () => {
    const m = new MeasureSet({ distinct: settings({ budget: 100 }) });
    const labels = createFlowLabels();
    const r = record('192.168.1.10', '203.0.113.1', 6, 50000, 443);
    r.rttMs = 12;
    r.timeStartMs = T0;
    r.timeEndMs = T0 + 1500;
    labels.direction = 'egress';
    labels.app = 'https';
    const devices = Array.from({ length: 5000 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
    const run = (n: number): void => {
      for (let i = 0; i < n; i++) {
        labels.device = devices[i % 5000]; // 99 kept, the rest fold into "other"
        r.dst[3] = i & 255;
        r.dst[2] = (i >>> 8) & 255;
        r.dstPort = i & 0xffff;
        if ((i & 15) === 0) m.setTime(T0 + (i >> 4)); // once per datagram of 16 records
        m.observe(r, labels);
      }
    };
    run(20_000);
    let collections = 0;
    const observer = new PerformanceObserver((list) => {
      collections += list.getEntries().length;
    });
    observer.observe({ entryTypes: ['gc'] });
    const settle = (): Promise<void> => new Promise((res) => setTimeout(res, 20));
    try {
      await settle();
      collections = 0;
      run(2_000_000);
      await settle();
      expect(collections).toBeLessThanOrEqual(1);
    } finally {
      observer.disconnect();
    }
    const snap = m.snapshot(T0 + 2_000_000 / 16);
    expect(snap.gauges[0].labelValues).toHaveLength(100);
    expect(snap.histograms[0].totalCount).toBe(2_020_000);
    expect(snap.histograms[1].totalCount).toBe(2_020_000);
  });
});
