/**
 * Cost of the enrich stage alone: CPU nanoseconds per `Enricher.enrich` call on prebuilt
 * FlowRecords (no decode, no rollup), fastest of several passes.
 *
 *   npm run bench:enrich [-- --passes=9 --records=2000000]
 *
 * Scenarios:
 * - ipv4 default: the end-to-end benchmark's mix (8 devices in 10.0.0.0/8 x 25 peers in
 *   198.18.0.0/15, both directions, its app ports), default config: default local_networks,
 *   no inventory, no peer_networks;
 * - ipv4 inventory: the same records with 50 inventory address entries (the 8 devices among
 *   them), 5 inventory CIDRs and 3 peer_networks that cover part of the peers;
 * - ipv6 default: 8 devices in fd00::/8 x 25 peers in 2001:db8::/32, default config;
 * - ipv4 / ipv6 1M peers: every record a peer not seen for a million records (address text
 *   cache misses: each peer is formatted); the loop writes 4 bytes of the peer's address into one
 *   of 16 prebuilt records, which is part of the figure.
 *
 * Each scenario runs in a fresh child process, as a daemon runs one config: in one process the
 * later scenarios would run on code the JIT had specialized for the earlier ones. Times are CPU
 * time of that process (process.cpuUsage, user + system), not wall time: on a shared machine that
 * is what enrichment costs, without the time spent waiting for a core.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { EnricherConfig } from '../src/enrich/enricher.js';
import type { FlowRecord } from '../src/record.js';
import { fromDist } from './dist.js';
import { median, printMachine, printTable } from './machine.js';

const { Enricher } = await fromDist<typeof import('../src/enrich/enricher.js')>('enrich/enricher.js');
type Enricher = InstanceType<typeof Enricher>;
const { DEFAULT_LOCAL_NETWORKS } = await fromDist<typeof import('../src/enrich/orientation.js')>('enrich/orientation.js');
const { createFlowRecord } = await fromDist<typeof import('../src/record.js')>('record.js');
const { createFlowLabels } = await fromDist<typeof import('../src/rollup/types.js')>('rollup/types.js');
const { parseAddress } = await fromDist<typeof import('../src/util/address.js')>('util/address.js');

const { values: args } = parseArgs({
  options: {
    passes: { type: 'string', default: '9' },
    records: { type: 'string', default: '2000000' },
    /** Internal: run this one scenario and print its pass times as JSON. */
    scenario: { type: 'string' },
  },
});
const PASSES = Number(args.passes);
const RECORDS = Number(args.records);
const SWEEP_PEERS = 1_000_000;

const DEVICES = 8;
const PEERS = 25;
const APP_PORTS = [443, 443, 443, 80, 53, 1883, 8883, 22, 123, 5683];

const DEFAULT_CONFIG: EnricherConfig = { localNetworks: [...DEFAULT_LOCAL_NETWORKS], inventory: [], apps: [], peerNetworks: [] };

function inventoryConfig(): EnricherConfig {
  const inventory: EnricherConfig['inventory'] = [];
  for (let i = 1; i <= 50; i++) {
    // The 8 benchmark devices (10.0.0.1-8) and 42 more hosts beside them.
    const a = i <= DEVICES ? `10.0.0.${i}` : `10.0.${1 + (i >> 4)}.${i & 15}`;
    inventory.push({ match: a, name: `host-${i}`, type: i % 3 === 0 ? 'camera' : 'sensor', site: i % 2 ? 'lab' : 'plant' });
  }
  inventory.push(
    { match: '10.0.0.0/24', name: 'lab-net', site: 'lab' },
    { match: '10.20.0.0/16', name: 'plant-net', site: 'plant' },
    { match: '192.168.1.0/24', name: 'home-lan', site: 'home' },
    { match: '172.16.0.0/12', name: 'dc', site: 'dc' },
    { match: 'fd00:0:0:1::/64', name: 'lab-v6', site: 'lab' },
  );
  return {
    ...DEFAULT_CONFIG,
    inventory,
    peerNetworks: [
      { match: '198.18.0.0/24', name: 'bench-a' },
      { match: '198.18.64.0/18', name: 'bench-b' },
      { match: '203.0.113.0/24', name: 'broker' },
    ],
  };
}

/** One record as the NetFlow v9 decoder leaves it for the softflowd IPv4 template. */
function flowRecord(af: 4 | 6, src: string, dst: string, srcPort: number, dstPort: number, protocol: number): FlowRecord {
  const r = createFlowRecord();
  if (parseAddress(src, r.src) !== af || parseAddress(dst, r.dst) !== af) throw new Error(`bad bench address ${src} ${dst}`);
  r.sourceKind = 'netflow9';
  r.exporter = '127.0.0.1';
  r.af = af;
  r.srcPort = srcPort;
  r.dstPort = dstPort;
  r.protocol = protocol;
  r.bytes = 1500;
  r.packets = 3;
  r.inputIf = 1;
  r.outputIf = 2;
  return r;
}

function ipv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Every (device, peer) key of the mix in both directions. */
function mix(af: 4 | 6): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let k = 0; k < DEVICES * PEERS; k++) {
    const d = k % DEVICES;
    const p = Math.floor(k / DEVICES);
    const device = af === 4 ? ipv4((10 << 24) + 1 + d) : `fd00:0:0:1::${(1 + d).toString(16)}`;
    const peerOffset = (d * 7919 + p) % 131072;
    const peer = af === 4 ? ipv4(((198 << 24) | (18 << 16)) + peerOffset) : `2001:db8:${(peerOffset >> 8).toString(16)}::${(peerOffset & 255).toString(16)}`;
    const appPort = APP_PORTS[k % APP_PORTS.length];
    const proto = appPort === 53 || appPort === 123 || appPort === 5683 ? 17 : 6;
    const ephemeral = 32768 + ((k * 37) % 28000);
    out.push(flowRecord(af, device, peer, ephemeral, appPort, proto));
    out.push(flowRecord(af, peer, device, appPort, ephemeral, proto));
  }
  return out;
}

/** CPU nanoseconds per record of each timed pass, after one warm-up pass. */
function timeRecords(e: Enricher, records: FlowRecord[], perPass: number): number[] {
  const out = createFlowLabels();
  const n = records.length;
  let sink = 0;
  const pass = (): number => {
    const t0 = process.cpuUsage();
    for (let i = 0, j = 0; i < perPass; i++) {
      e.enrich(records[j], out);
      if (++j === n) j = 0;
      sink += out.peer.length;
    }
    const t = process.cpuUsage(t0);
    return ((t.user + t.system) * 1000) / perPass;
  };
  pass();
  const times: number[] = [];
  for (let p = 0; p < PASSES; p++) times.push(pass());
  if (sink === 0) console.log('');
  return times;
}

/**
 * Each pass enriches SWEEP_PEERS records, each with a different peer: 203.0.0.0/12 for IPv4,
 * 2001:db8::/32 (the low 32 bits vary) for IPv6.
 */
function timePeerSweep(e: Enricher, af: 4 | 6): number[] {
  const out = createFlowLabels();
  const records = mix(af).slice(0, 2 * DEVICES);
  let sink = 0;
  const base = af === 4 ? 203 << 24 : 0;
  const at = af === 4 ? 0 : 12;
  const pass = (): number => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < SWEEP_PEERS; i++) {
      const r = records[i & 15];
      // Even records are outbound (peer = dst), odd ones inbound (peer = src).
      const peer = (i & 1) === 0 ? r.dst : r.src;
      const a = base + i;
      peer[at] = a >>> 24;
      peer[at + 1] = a >>> 16;
      peer[at + 2] = a >>> 8;
      peer[at + 3] = a;
      e.enrich(r, out);
      sink += out.peer.length;
    }
    const t = process.cpuUsage(t0);
    return ((t.user + t.system) * 1000) / SWEEP_PEERS;
  };
  pass();
  const times: number[] = [];
  for (let p = 0; p < PASSES; p++) times.push(pass());
  if (sink === 0) console.log('');
  return times;
}

const SCENARIOS: Record<string, { label: string; records: number; run: () => number[] }> = {
  v4: { label: 'ipv4 default (8 x 25)', records: RECORDS, run: () => timeRecords(new Enricher(DEFAULT_CONFIG), mix(4), RECORDS) },
  inventory: {
    label: 'ipv4 inventory 50+5, 3 peer nets',
    records: RECORDS,
    run: () => timeRecords(new Enricher(inventoryConfig()), mix(4), RECORDS),
  },
  v6: { label: 'ipv6 default (8 x 25)', records: RECORDS, run: () => timeRecords(new Enricher(DEFAULT_CONFIG), mix(6), RECORDS) },
  sweep: { label: 'ipv4 1M distinct peers (misses)', records: SWEEP_PEERS, run: () => timePeerSweep(new Enricher(DEFAULT_CONFIG), 4) },
  sweep6: { label: 'ipv6 1M distinct peers (misses)', records: SWEEP_PEERS, run: () => timePeerSweep(new Enricher(DEFAULT_CONFIG), 6) },
};

if (args.scenario !== undefined) {
  const s = SCENARIOS[args.scenario];
  if (s === undefined) throw new Error(`unknown scenario ${args.scenario}`);
  console.log(JSON.stringify(s.run()));
} else {
  printMachine('Enrich stage: CPU ns per Enricher.enrich call', 'npm run bench:enrich');
  console.log(`passes: ${PASSES} timed after one warm-up, each scenario in its own process; ${RECORDS} records per pass (the sweep: ${SWEEP_PEERS})\n`);
  const rows: Array<Array<string | number>> = [];
  for (const [key, s] of Object.entries(SCENARIOS)) {
    const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1], `--scenario=${key}`, `--passes=${PASSES}`, `--records=${RECORDS}`], {
      encoding: 'utf8',
    });
    const times = JSON.parse(out.trim().split('\n').pop()!) as number[];
    rows.push([s.label, s.records, Math.min(...times).toFixed(1), median(times).toFixed(1)]);
  }
  printTable(['scenario', 'records/pass', 'ns/record (fastest)', 'ns/record (median)'], rows);
}
