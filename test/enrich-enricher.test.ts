import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import type { InventoryEntry } from '../src/config/types.js';
import { AddressTextCache } from '../src/enrich/address-text.js';
import { Enricher, type EnricherConfig } from '../src/enrich/enricher.js';
import { DEFAULT_LOCAL_NETWORKS, Orientation, orient } from '../src/enrich/orientation.js';
import { Action, Direction, createFlowRecord, resetFlowRecord, type FlowRecord, type SourceKind } from '../src/record.js';
import { createFlowLabels, type FlowLabels } from '../src/rollup/types.js';
import { formatIPv4, formatIPv6, parseAddress } from '../src/util/address.js';
import { corpusOracle } from './helpers/corpus.js';

const BASE: EnricherConfig = { localNetworks: [...DEFAULT_LOCAL_NETWORKS], inventory: [], apps: [], peerNetworks: [] };

function record(src: string, dst: string, protocol = 6, srcPort = 50000, dstPort = 443, fill: Partial<FlowRecord> = {}): FlowRecord {
  const r = createFlowRecord();
  const af = parseAddress(src, r.src);
  if (af === 0 || parseAddress(dst, r.dst) !== af) throw new Error(`bad test pair ${src} ${dst}`);
  r.af = af;
  r.protocol = protocol;
  r.srcPort = srcPort;
  r.dstPort = dstPort;
  r.exporter = '127.0.0.1';
  r.sourceKind = 'netflow9';
  Object.assign(r, fill);
  return r;
}

/**
 * Young-generation collections while `fn` runs: 0 for a loop that allocates nothing. (Major
 * collections are left out: one may still be finishing an earlier test's garbage.)
 */
async function collectionsDuring(fn: () => void): Promise<number> {
  let n = 0;
  const obs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) n++;
  });
  obs.observe({ entryTypes: ['gc'] });
  fn();
  await new Promise((resolve) => setTimeout(resolve, 50));
  obs.disconnect();
  return n;
}

function enrich(e: Enricher, r: FlowRecord): FlowLabels {
  const out = createFlowLabels();
  e.enrich(r, out);
  return out;
}

describe('orientation', () => {
  const e = new Enricher(BASE);
  const cases: Array<[string, string, string, string, string]> = [
    // src, dst, direction, device, peer
    ['192.168.1.10', '203.0.113.10', 'egress', '192.168.1.10', '203.0.113.10'],
    ['203.0.113.10', '192.168.1.10', 'ingress', '192.168.1.10', '203.0.113.10'],
    ['192.168.1.10', '10.0.0.5', 'internal', '192.168.1.10', '10.0.0.5'],
    ['10.0.0.5', '192.168.1.10', 'internal', '10.0.0.5', '192.168.1.10'],
    ['192.0.2.1', '203.0.113.9', 'transit', '192.0.2.1', '203.0.113.9'],
    ['fd12:3456:789a:1::10', '2001:db8:100::443', 'egress', 'fd12:3456:789a:1::10', '2001:db8:100::443'],
    ['2001:db8:100::443', 'fd12:3456:789a:1::10', 'ingress', 'fd12:3456:789a:1::10', '2001:db8:100::443'],
    ['fd12:3456:789a:1::10', 'fd12:3456:789a:1::51', 'internal', 'fd12:3456:789a:1::10', 'fd12:3456:789a:1::51'],
    ['fe80::1', 'fd12:3456:789a:1::51', 'internal', 'fe80::1', 'fd12:3456:789a:1::51'],
    ['2001:db8::1', '2001:db8:53::53', 'transit', '2001:db8::1', '2001:db8:53::53'],
    ['100.64.0.7', '192.0.2.1', 'egress', '100.64.0.7', '192.0.2.1'],
    ['::ffff:192.168.1.23', '::ffff:192.0.2.200', 'egress', '::ffff:192.168.1.23', '::ffff:192.0.2.200'],
  ];
  for (const [src, dst, direction, device, peer] of cases) {
    it(`${src} -> ${dst} is ${direction}`, () => {
      expect(enrich(e, record(src, dst))).toMatchObject({ direction, device, peer });
    });
  }

  it('follows the rules table as a pure function', () => {
    expect(orient(true, false)).toBe(Orientation.egress);
    expect(orient(false, true)).toBe(Orientation.ingress);
    expect(orient(true, true)).toBe(Orientation.internal);
    expect(orient(false, false)).toBe(Orientation.transit);
  });

  it('gives records without addresses an unknown device and peer', () => {
    const r = createFlowRecord();
    const out = enrich(e, r);
    expect(out).toMatchObject({ device: 'unknown', peer: 'unknown', direction: '', app: '', protocol: '', site: '', type: '' });
  });

  it('with no local networks everything is transit; an inventory address still makes its end local', () => {
    const bare = new Enricher({ ...BASE, localNetworks: [], inventory: [{ match: '2001:db8:aa::/48', name: 'office' }] });
    expect(enrich(bare, record('192.168.1.10', '203.0.113.10')).direction).toBe('transit');
    expect(enrich(bare, record('2001:db8:53::53', '2001:db8:aa::5'))).toMatchObject({
      direction: 'ingress',
      device: 'office',
      peer: '2001:db8:53::53',
    });
  });

  it('names an invalid local network in its error', () => {
    expect(() => new Enricher({ ...BASE, localNetworks: ['10.0.0.0/8', '10.0.0.0/99'] })).toThrow(/local_networks\[1\].*10\.0\.0\.0\/99/);
  });
});

describe('cloud records are oriented by their reporter', () => {
  const e = new Enricher(BASE);
  const cloud = (src: string, dst: string, kind: SourceKind, direction: Direction) =>
    enrich(e, record(src, dst, 6, 443, 50000, { sourceKind: kind, direction }));

  it('egress: the sender is the device, even a public one', () => {
    expect(cloud('10.0.1.5', '203.0.113.10', 'aws', Direction.egress)).toMatchObject({ device: '10.0.1.5', peer: '203.0.113.10', direction: 'egress' });
    expect(cloud('198.51.100.4', '203.0.113.10', 'gcp', Direction.egress)).toMatchObject({ device: '198.51.100.4', direction: 'egress' });
  });

  it('ingress: the receiver is the device', () => {
    expect(cloud('203.0.113.10', '10.0.1.5', 'azure', Direction.ingress)).toMatchObject({ device: '10.0.1.5', peer: '203.0.113.10', direction: 'ingress' });
    // Reported at a public receiver: still the receiver, though address ranges would say transit.
    expect(cloud('203.0.113.10', '198.51.100.4', 'aws', Direction.ingress)).toMatchObject({ device: '198.51.100.4', direction: 'ingress' });
  });

  it('internal traffic keeps the reporter as device on both sides', () => {
    expect(cloud('10.0.1.5', '10.0.2.9', 'aws', Direction.egress)).toMatchObject({ device: '10.0.1.5', peer: '10.0.2.9', direction: 'internal' });
    expect(cloud('10.0.1.5', '10.0.2.9', 'aws', Direction.ingress)).toMatchObject({ device: '10.0.2.9', peer: '10.0.1.5', direction: 'internal' });
  });

  it('a router-reported direction does not override the address rules', () => {
    const out = enrich(e, record('203.0.113.10', '192.168.1.10', 6, 443, 50000, { sourceKind: 'ipfix', direction: Direction.egress }));
    expect(out).toMatchObject({ device: '192.168.1.10', direction: 'ingress' });
  });

  it('reads region, vpc and zone from the metadata', () => {
    const out = enrich(e, record('10.0.1.5', '203.0.113.10', 6, 50000, 443, {
      sourceKind: 'aws',
      direction: Direction.egress,
      meta: { region: 'eu-west-1', vpc: 'vpc-0abc', zone: 'euw1-az2', subnet: 'subnet-1' },
    }));
    expect(out).toMatchObject({ region: 'eu-west-1', vpc: 'vpc-0abc', zone: 'euw1-az2', source: 'aws' });
    // The reused label object must not keep them for the next record.
    e.enrich(record('10.0.1.5', '203.0.113.10'), out);
    expect(out).toMatchObject({ region: '', vpc: '', zone: '', source: 'netflow9' });
  });
});

describe('device and peer names', () => {
  const inventory: InventoryEntry[] = [
    { match: '192.168.1.51', name: 'thermostat-1', type: 'hvac', site: 'lab' },
    { match: '192.168.1.0/24', name: 'home-lan', site: 'home' },
    { match: '10.0.0.0/24', name: 'lab-net', site: 'lab' },
    { match: '10.0.0.20', name: 'hub', type: 'gateway', site: 'lab' },
    { match: 'fd12:3456:789a:1::10', name: 'laptop', type: 'pc' },
    { match: '02:00:00:00:00:60', name: 'camera-1', type: 'camera', site: 'lab' },
    { match: '02:00:00:00:00:01', name: 'router', type: 'router' },
    { match: '2001:db8:aa::/48', name: 'branch-office', site: 'branch' },
  ];
  const e = new Enricher({
    ...BASE,
    inventory,
    peerNetworks: [
      { match: '203.0.113.0/24', name: 'cloud-broker' },
      { match: '203.0.113.88/32', name: 'mqtt-broker' },
      { match: '2001:db8:53::/48', name: 'dns-provider' },
      { match: '10.0.0.5', name: 'nas-as-peer' },
    ],
  });
  const mac = (last: number) => Uint8Array.from([2, 0, 0, 0, 0, last]);

  it('names the device from the inventory with its type and site', () => {
    expect(enrich(e, record('192.168.1.51', '192.0.2.53', 17, 42234, 53))).toMatchObject({
      device: 'thermostat-1',
      type: 'hvac',
      site: 'lab',
      peer: '192.0.2.53',
      app: 'dns',
    });
    // Longest prefix: .20 is the hub, the rest of 10.0.0.0/24 the lab network.
    expect(enrich(e, record('192.0.2.22', '10.0.0.20', 6, 22, 52022))).toMatchObject({ device: 'hub', type: 'gateway', direction: 'ingress' });
    expect(enrich(e, record('10.0.0.7', '192.0.2.22'))).toMatchObject({ device: 'lab-net', type: '', site: 'lab' });
    expect(enrich(e, record('fd12:3456:789a:1::10', '2001:db8:100::443'))).toMatchObject({ device: 'laptop', type: 'pc', site: '' });
    expect(enrich(e, record('172.16.5.5', '192.0.2.1'))).toMatchObject({ device: '172.16.5.5', type: '', site: '' });
  });

  it('makes an inventory network local even outside local_networks', () => {
    expect(enrich(e, record('2001:db8:aa::7', '2001:db8:100::443'))).toMatchObject({
      device: 'branch-office',
      site: 'branch',
      direction: 'egress',
    });
  });

  it('names the peer from peer_networks first (longest prefix), then the inventory, then the address', () => {
    expect(enrich(e, record('192.168.1.51', '203.0.113.88', 6, 49152, 1883)).peer).toBe('mqtt-broker');
    expect(enrich(e, record('203.0.113.89', '192.168.1.60', 6, 8883, 60010)).peer).toBe('cloud-broker');
    expect(enrich(e, record('2001:db8:53::53', 'fd12:3456:789a:1::10', 17, 53, 41001)).peer).toBe('dns-provider');
    expect(enrich(e, record('192.168.1.51', '10.0.0.20')).peer).toBe('hub');
    expect(enrich(e, record('192.168.1.51', '10.0.0.5')).peer).toBe('nas-as-peer');
    expect(enrich(e, record('192.168.1.51', '198.51.100.9')).peer).toBe('198.51.100.9');
  });

  it('uses the MAC of the end being named, and only for a local end', () => {
    // The camera's DHCP address is not in the inventory by address; its MAC is.
    const up = record('192.168.1.60', '198.51.100.9', 6, 60001, 80, { hasSrcMac: true, srcMac: mac(0x60), hasDstMac: true, dstMac: mac(1) });
    expect(enrich(e, up)).toMatchObject({ device: 'camera-1', type: 'camera', site: 'lab', peer: '198.51.100.9' });
    // Reply: the far end carries the router's MAC, which must not name the remote server.
    const down = record('198.51.100.9', '192.168.1.60', 6, 80, 60001, { hasSrcMac: true, srcMac: mac(1), hasDstMac: true, dstMac: mac(0x60) });
    expect(enrich(e, down)).toMatchObject({ device: 'camera-1', peer: '198.51.100.9', direction: 'ingress' });
    // An exact address entry beats the MAC.
    const therm = record('192.168.1.51', '192.0.2.53', 17, 1, 53, { hasSrcMac: true, srcMac: mac(0x60) });
    expect(enrich(e, therm).device).toBe('thermostat-1');
    // hasSrcMac false: the buffer is ignored.
    const noMac = record('192.168.1.60', '198.51.100.9', 6, 60001, 80, { hasSrcMac: false, srcMac: mac(0x60) });
    expect(enrich(e, noMac)).toMatchObject({ device: 'home-lan', site: 'home' });
    // Internal: the peer's MAC names the peer.
    const lan = record('192.168.1.51', '192.168.1.60', 6, 40000, 554, { hasDstMac: true, dstMac: mac(0x60) });
    expect(enrich(e, lan)).toMatchObject({ device: 'thermostat-1', peer: 'camera-1', direction: 'internal', app: 'rtsp' });
  });

  it('rejects bad peer networks naming the entry', () => {
    expect(() => new Enricher({ ...BASE, peerNetworks: [{ match: '203.0.113.0/24', name: '' }] })).toThrow(/peer_networks\[0\].*name is empty/);
    expect(() => new Enricher({ ...BASE, peerNetworks: [{ match: 'cloud', name: 'x' }] })).toThrow(/peer_networks\[0\] \("x"\).*"cloud"/);
    expect(() => new Enricher({ ...BASE, inventory: [{ match: 'nope', name: 'x' }] })).toThrow(/inventory\[0\]/);
    expect(() => new Enricher({ ...BASE, apps: [{ name: 'x', ports: [99999] }] })).toThrow(/apps\[0\]/);
  });
});

describe('the other labels', () => {
  const e = new Enricher({ ...BASE, apps: [{ name: 'historian', protocol: 6, ports: [[9000, 9100]] }] });

  it('fills exporter, source, protocol, action, interfaces and app', () => {
    const r = record('192.168.1.10', '203.0.113.10', 6, 51544, 443, {
      exporter: '10.9.9.9',
      sourceKind: 'ipfix',
      action: Action.reject,
      inputIf: 3,
      outputIf: 4294967295,
    });
    expect(enrich(e, r)).toMatchObject({
      exporter: '10.9.9.9',
      source: 'ipfix',
      protocol: 'tcp',
      action: 'reject',
      input_interface: '3',
      output_interface: '4294967295',
      app: 'https',
    });
    r.action = Action.accept;
    r.inputIf = 0;
    r.outputIf = 0;
    r.protocol = 58;
    expect(enrich(e, r)).toMatchObject({ protocol: 'icmpv6', action: 'accept', input_interface: '', output_interface: '', app: 'icmpv6' });
    r.action = Action.unknown;
    r.protocol = 47;
    expect(enrich(e, r)).toMatchObject({ protocol: 'gre', action: '', app: 'gre' });
    r.protocol = 254;
    expect(enrich(e, r)).toMatchObject({ protocol: '254', app: 'proto-254' });
  });

  it('uses user rules, then the exporter name above all', () => {
    expect(enrich(e, record('192.168.1.10', '203.0.113.10', 6, 51544, 9050)).app).toBe('historian');
    expect(enrich(e, record('192.168.1.10', '203.0.113.10', 6, 51544, 9050, { appName: ' OSIsoft PI ' })).app).toBe('osisoft-pi');
    expect(enrich(e, record('192.168.1.10', '203.0.113.10', 6, 51544, 40000)).app).toBe('tcp-other');
    expect(enrich(e, record('192.168.1.10', '203.0.113.10', 17, 51544, 40000)).app).toBe('udp-other');
  });
});

describe('against the corpus traffic', () => {
  const LOCAL_HOSTS = ['192.168.1.10', '192.168.1.23', '192.168.1.51', '192.168.1.60', '10.0.0.5', '10.0.0.20', 'fd12:3456:789a:1::10', 'fd12:3456:789a:1::51'];
  // The services gen_traffic.py runs (corpus README), by server port.
  const SERVICE: Record<string, string> = {
    '6/443': 'https',
    '6/80': 'http',
    '6/22': 'ssh',
    '6/23': 'telnet',
    '6/1883': 'mqtt',
    '6/8883': 'mqtts',
    '17/53': 'dns',
    '17/123': 'ntp',
    '17/5683': 'coap',
  };

  it('orients every softflowd v9 flow to one of the 8 local hosts, and names its service', () => {
    const oracle = corpusOracle('edge/softflowd-v9.json');
    const e = new Enricher(BASE);
    const out = createFlowLabels();
    const r = createFlowRecord();
    const bytesByDevice = new Map<string, number>();
    const devices = new Set<string>();
    const peers = new Set<string>();
    let bytes = 0;
    for (const row of oracle.by_pair) {
      resetFlowRecord(r);
      r.af = parseAddress(row.src, r.src) as 4 | 6;
      parseAddress(row.dst, r.dst);
      r.protocol = row.proto!;
      r.srcPort = row.src_port!;
      r.dstPort = row.dst_port!;
      e.enrich(r, out);
      const srcLocal = LOCAL_HOSTS.includes(row.src);
      expect(out.direction, `${row.src} -> ${row.dst}`).toBe(srcLocal ? 'egress' : 'ingress');
      expect(out.device).toBe(srcLocal ? row.src : row.dst);
      expect(out.peer).toBe(srcLocal ? row.dst : row.src);
      const service =
        row.proto === 1 ? 'icmp' : row.proto === 58 ? 'icmpv6' : (SERVICE[`${row.proto}/${row.dst_port}`] ?? SERVICE[`${row.proto}/${row.src_port}`]);
      expect(out.app, `${row.proto} ${row.src_port} -> ${row.dst_port}`).toBe(service);
      devices.add(out.device);
      peers.add(out.peer);
      bytesByDevice.set(out.device, (bytesByDevice.get(out.device) ?? 0) + row.bytes);
      bytes += row.bytes;
    }
    expect([...devices].sort()).toEqual([...LOCAL_HOSTS].sort());
    expect(peers.size).toBe(17);
    // Every byte of the oracle lands on exactly one device.
    expect([...bytesByDevice.values()].reduce((a, b) => a + b, 0)).toBe(oracle.totals.bytes);
    expect(bytes).toBe(oracle.totals.bytes);
  });
});

describe('address text cache', () => {
  it('never holds more than its slots and always returns the right text', () => {
    const cache = new AddressTextCache(64);
    expect(cache.slots).toBe(64);
    const b = new Uint8Array(16);
    for (let i = 0; i < 5000; i++) {
      b.fill(0);
      b[0] = 10;
      b[2] = i >> 8;
      b[3] = i & 0xff;
      expect(cache.text(4, b)).toBe(formatIPv4(b));
      b[0] = 0x20;
      b[1] = 0x01;
      b[14] = i >> 8;
      b[15] = i & 0xff;
      expect(cache.text(6, b)).toBe(formatIPv6(b));
      expect(cache.size).toBeLessThanOrEqual(2 * 64);
    }
    expect(cache.size).toBeGreaterThan(64); // both families in use, most slots filled
  });

  it('formats a hot address once', () => {
    const cache = new AddressTextCache();
    const b = new Uint8Array(16);
    parseAddress('fd12:3456:789a:1::10', b);
    const first = cache.text(6, b);
    for (let i = 0; i < 1000; i++) expect(cache.text(6, b)).toBe(first);
    parseAddress('192.168.1.10', b);
    for (let i = 0; i < 1000; i++) cache.text(4, b);
    expect(cache.misses).toBe(2);
    expect(cache.text(0, b)).toBe('');
  });

  it('is bounded inside the enricher under a flood of random peers', () => {
    const e = new Enricher(BASE, { addressCacheSlots: 1024 });
    const out = createFlowLabels();
    const r = record('192.168.1.10', '203.0.113.10');
    for (let i = 0; i < 100_000; i++) {
      r.dst[0] = 1 + (i % 200);
      r.dst[1] = i >> 8;
      r.dst[2] = i & 0xff;
      e.enrich(r, out);
      if (i % 997 === 0) expect(out.peer).toBe(formatIPv4(r.dst));
    }
    expect(e.addressText.size).toBeLessThanOrEqual(2 * 1024);
  });

  it('leaves the hot path without per-record allocation once addresses are cached', async () => {
    const e = new Enricher({
      ...BASE,
      inventory: [{ match: '192.168.1.51', name: 'thermostat-1' }],
      peerNetworks: [{ match: '203.0.113.0/24', name: 'broker' }],
    });
    const out = createFlowLabels();
    const recs = [
      record('192.168.1.51', '203.0.113.88', 6, 49152, 1883, { inputIf: 2, outputIf: 3 }),
      record('2001:db8:53::53', 'fd12:3456:789a:1::10', 17, 53, 41001),
      record('10.0.0.5', '198.51.100.123', 17, 123, 123, { appName: 'NTP', meta: { region: 'r1' } }),
    ];
    for (let i = 0; i < 10_000; i++) e.enrich(recs[i % 3], out);
    // Two million records: a 16-byte allocation each would force several young-generation collections.
    const gcs = await collectionsDuring(() => {
      for (let i = 0; i < 2_000_000; i++) e.enrich(recs[i % 3], out);
    });
    expect(gcs).toBeLessThanOrEqual(1);
    e.enrich(recs[1], out);
    expect(out).toMatchObject({ app: 'dns', device: 'fd12:3456:789a:1::10', peer: '2001:db8:53::53' });
  });
});
