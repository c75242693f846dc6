/**
 * Random flow records for property tests of the counting path: flow keys repeat (a few devices
 * talk to a few peers, each pair mostly with its own exporter, protocol, application and
 * interfaces), with noise in every field, floods of new peers, a drifting device pool, IPv6,
 * address-less records, MACs, odd counts and, on request, cloud records with a metadata bag.
 * Local devices are 10.0.0.1 and up (one in 10.2.0.0/16), peers 203.0.113.32 and up, MACs
 * 02:00:00:00:00:05-07. Deterministic for a seed, so a failure replays.
 */
import type { FlowRecord, SourceKind } from '../../src/record.js';
import type { RollupEngine } from '../../src/rollup/rollup-engine.js';

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes an IPv4 address (one 32-bit word) into a 16-byte address buffer. */
export function putV4(b: Uint8Array, v: number): void {
  b.fill(0);
  b[0] = v >>> 24;
  b[1] = (v >>> 16) & 0xff;
  b[2] = (v >>> 8) & 0xff;
  b[3] = v & 0xff;
}

export interface RandomFlowOptions {
  /** New peer addresses for most IPv4 records. */
  flood?: boolean;
  /** Shifts the device pool, so devices go quiet and the distinct gauges hand their slots on. */
  drift?: number;
  /** Also cloud records with a metadata bag (about 4 %). */
  cloud?: boolean;
}

const EXPORTERS = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '2001:db8::7'];
const KINDS: SourceKind[] = ['netflow9', 'ipfix', 'sflow', 'netflow5'];
const APP_PORTS = [443, 80, 53, 22, 123, 1883, 8883, 5683];

/** Fills `r` with the next random record (see the top of this file). */
export function fillRandomFlow(r: FlowRecord, next: () => number, options: RandomFlowOptions = {}): void {
  const flood = options.flood === true;
  const drift = options.drift ?? 0;
  const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)];
  const device = Math.floor(next() * 10);
  const peer = Math.floor(next() * 30);
  const pair = device * 30 + peer;
  const noisy = next() < 0.06;
  const of = <T>(a: readonly T[], salt: number): T => (noisy ? pick(a) : a[(pair * 17 + salt) % a.length]);
  r.meta = undefined;
  r.exporter = of(EXPORTERS, 1);
  r.sourceKind = of(KINDS, 2);
  if (options.cloud === true && next() < 0.04) {
    r.sourceKind = pick(['aws', 'gcp'] as const);
    r.exporter = `acct-${device % 2}/eni-${peer % 3}`;
    r.meta = { vpc: `vpc-${device % 3}`, region: pick(['eu-west-1', 'us-east-1']), zone: `z${peer % 2}` };
  }
  const outbound = next() < 0.5;
  const roll = next();
  if (roll < 0.1) {
    r.af = 6;
    r.src.fill(0);
    r.dst.fill(0);
    r.src[0] = 0xfd;
    r.src[15] = 1 + (device % 5);
    r.dst[0] = 0x20;
    r.dst[1] = 0x01;
    r.dst[15] = peer % 9;
  } else if (roll < 0.12) {
    r.af = 0;
    r.src.fill(0);
    r.dst.fill(0);
  } else {
    r.af = 4;
    // The device pool drifts, so devices go quiet and the distinct gauges hand their slots on.
    const local = 0x0a000001 + drift + device + (device === 9 ? 0x20000 : 0);
    const remote = flood && next() < 0.6 ? (0xc6120000 + Math.floor(next() * 1e6)) >>> 0 : (0xcb007120 + peer) >>> 0;
    putV4(outbound ? r.src : r.dst, local);
    putV4(outbound ? r.dst : r.src, remote);
  }
  r.protocol = of([6, 6, 17, 1, 0], 3);
  const app = of(APP_PORTS, 4);
  const ephemeral = 32768 + Math.floor(next() * 28000);
  r.srcPort = outbound ? ephemeral : app;
  r.dstPort = outbound ? app : ephemeral;
  r.appName = noisy && next() < 0.5 ? pick(['ssl', 'HTTP.Google']) : '';
  r.inputIf = of([0, 1, 2], 5);
  r.outputIf = of([0, 1, 2, 3], 6);
  r.action = of([0, 0, 1, 2], 7) as FlowRecord['action'];
  r.direction = pick([0, 1, 2]) as FlowRecord['direction'];
  r.hasSrcMac = of([false, true], 8);
  r.hasDstMac = of([false, false, true], 9);
  r.srcMac.set([2, 0, 0, 0, 0, of([5, 6, 7], 10)]);
  r.dstMac.set([2, 0, 0, 0, 0, of([5, 6], 11)]);
  const odd = next();
  r.bytes = odd < 0.01 ? -3 : odd < 0.02 ? NaN : Math.floor(next() * 4000);
  r.packets = 1 + Math.floor(next() * 8);
  r.flows = 1;
  r.samplingRate = pick([1, 1, 0, 10]);
  r.rttMs = next() < 0.3 ? next() * 150 : odd < 0.03 ? -1 : NaN;
  r.timeStartMs = 1_700_000_000_000;
  r.timeEndMs = r.timeStartMs + Math.floor(next() * 30_000);
}

/** Everything an engine exposes, as plain data to compare with toEqual. */
export function snapshotOf(e: RollupEngine, nowMs: number): unknown {
  const rollups = e.snapshot();
  return {
    rollups: rollups.map((s) => ({ ...s, bytes: [...s.bytes], packets: [...s.packets], flows: [...s.flows] })),
    stats: e.stats(),
    measures: JSON.parse(JSON.stringify(e.measureSnapshots(nowMs, rollups), (_k, v) => (ArrayBuffer.isView(v) ? [...(v as Float64Array)] : v))),
    measureStats: e.measureStats(),
  };
}

