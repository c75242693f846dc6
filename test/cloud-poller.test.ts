import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeCloudFlowLog } from '../src/decoders/cloud-flow-log.js';
import { createCloudDecodeCounters } from '../src/decoders/cloud-types.js';
import { CloudFlowLogPoller, type FlowLogDelivery } from '../src/sources/cloud/cloud-flow-log-poller.js';
import type { FlowLogStore, StoredObject } from '../src/sources/cloud/flow-log-store.js';
import { decodedTotals } from './helpers/cloud-decode.js';
import { corpusPath } from './helpers/corpus.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** 2026-11-28T09:30:00Z */
const NOW = Date.UTC(2026, 10, 28, 9, 30);

/** An object store in memory, with failures on demand. */
class MemoryStore implements FlowLogStore {
  readonly location = 'mem://flow-logs';
  readonly objects = new Map<string, { data: Buffer; version: number; modified: number }>();
  readonly listed: string[] = [];
  readonly reads: Array<{ key: string; offset: number; bytes: number }> = [];
  failLists = 0;
  readonly failReads = new Set<string>();

  put(key: string, data: string | Buffer, modified = NOW - 60_000): void {
    const version = (this.objects.get(key)?.version ?? 0) + 1;
    this.objects.set(key, { data: Buffer.isBuffer(data) ? data : Buffer.from(data), version, modified });
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    this.listed.push(prefix);
    if (this.failLists > 0) {
      this.failLists--;
      throw new Error(`${this.location}: listing ${prefix} failed: 503 SlowDown`);
    }
    for (const [key, o] of [...this.objects].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (key.startsWith(prefix)) yield { key, size: o.data.length, version: `v${o.version}`, lastModifiedMs: o.modified };
    }
  }

  async read(key: string, offset: number): Promise<Buffer> {
    if (this.failReads.delete(key)) throw new Error(`${this.location}/${key}: connection reset`);
    const o = this.objects.get(key);
    if (o === undefined) throw new Error(`${this.location}/${key}: not found`);
    const out = o.data.subarray(Math.min(offset, o.data.length));
    this.reads.push({ key, offset, bytes: out.length });
    return Buffer.from(out);
  }
}

/** Decodes what the poller delivers, as the pipeline would, and keeps the totals. */
function collector(): { deliver: FlowLogDelivery; totals: { records: number; bytes: number; packets: number; deliveries: number } } {
  const totals = { records: 0, bytes: 0, packets: 0, deliveries: 0 };
  const deliver: FlowLogDelivery = (kind, text, _ms, options) => {
    const c = createCloudDecodeCounters();
    decodeCloudFlowLog(kind, text, c, (r) => {
      totals.bytes += r.bytes;
      totals.packets += r.packets;
    }, options);
    totals.records += c.records;
    totals.deliveries++;
    return c.records;
  };
  return { deliver, totals };
}

/** What decoding the text directly gives. */
const direct = decodedTotals;

const awsText = (name: string): string => readFileSync(corpusPath(`cloud/aws/otel-contrib/${name}`), 'utf8');

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'flowgauge-cloud-'));
});
afterEach(() => {
  rmSync(stateDir, { recursive: true, force: true });
});

function poller(store: MemoryStore, deliver: FlowLogDelivery, extra: Partial<ConstructorParameters<typeof CloudFlowLogPoller>[0]> = {}, now = (): number => NOW): CloudFlowLogPoller {
  return new CloudFlowLogPoller({
    name: 'test-vpc',
    kind: 'aws',
    store,
    prefixes: ['AWSLogs/111122223333/vpcflowlogs/eu-west-1/{yyyy}/{mm}/{dd}/'],
    intervalMs: 60_000,
    lookbackMs: DAY,
    deliver,
    stateDir,
    clock: now,
    ...extra,
  });
}

const PREFIX = 'AWSLogs/111122223333/vpcflowlogs/eu-west-1/';

describe('CloudFlowLogPoller', () => {
  it('counts every object of the window once, gzip or not, and lists only the window\'s date folders', async () => {
    const store = new MemoryStore();
    const a = awsText('valid_vpc_flow_log.log');
    const b = awsText('valid_vpc_flow_log_multi.log');
    store.put(`${PREFIX}2026/11/28/111122223333_vpcflowlogs_eu-west-1_fl-1_20261128T0925Z_a.log.gz`, gzipSync(a));
    store.put(`${PREFIX}2026/11/27/111122223333_vpcflowlogs_eu-west-1_fl-1_20261127T2355Z_b.log`, b, NOW - 10 * HOUR);
    // Two days back: outside the window's folders, never listed.
    store.put(`${PREFIX}2026/11/26/old.log`, b, NOW - 2 * DAY);
    const { deliver, totals } = collector();
    const p = poller(store, deliver);
    await p.pollOnce();
    const want = { records: direct('aws', a).records + direct('aws', b).records, bytes: direct('aws', a).bytes + direct('aws', b).bytes };
    expect(want.records).toBeGreaterThan(0);
    expect({ records: totals.records, bytes: totals.bytes }).toEqual(want);
    expect(store.listed).toEqual([`${PREFIX}2026/11/27/`, `${PREFIX}2026/11/28/`]);
    expect(p.counters).toMatchObject({ polls: 1, failedPolls: 0, objects: 2, records: want.records, tracked: 2 });
    expect(p.counters.newestObjectMs).toBe(NOW - 60_000);
    expect(p.counters.lastSuccessMs).toBe(NOW);

    await p.pollOnce();
    expect(totals.records).toBe(want.records);
    expect(p.counters.objects).toBe(2);
  });

  it('counts a large object piece by piece, with the same totals as decoding it whole', async () => {
    const [header, ...rows] = awsText('valid_vpc_flow_log_multi.log').trimEnd().split('\n');
    const big = [header, ...Array.from({ length: 60_000 }, (_, i) => rows[i % rows.length])].join('\n') + '\n';
    expect(big.length).toBeGreaterThan(5 * 1024 * 1024);
    const store = new MemoryStore();
    store.put(`${PREFIX}2026/11/28/big.log.gz`, gzipSync(big));
    const { deliver, totals } = collector();
    const p = poller(store, deliver);
    await p.pollOnce();
    expect(totals.deliveries).toBeGreaterThan(1);
    const want = direct('aws', big);
    expect({ records: totals.records, bytes: totals.bytes, packets: totals.packets }).toEqual(want);
    expect(p.counters).toMatchObject({ objects: 1, records: want.records });
  });

  it('keeps its checkpoint across a restart: nothing read twice, new objects read', async () => {
    const store = new MemoryStore();
    const a = awsText('valid_vpc_flow_log.log');
    store.put(`${PREFIX}2026/11/28/first.log`, a);
    const first = collector();
    const p1 = poller(store, first.deliver);
    await p1.pollOnce();
    await p1.stop();
    expect(readdirSync(stateDir)).toContain('cloud-test-vpc.json');

    store.put(`${PREFIX}2026/11/28/second.log`, a);
    const second = collector();
    const p2 = poller(store, second.deliver);
    await p2.pollOnce();
    expect(second.totals.records).toBe(direct('aws', a).records);
    expect(store.reads.map((r) => r.key)).toEqual([`${PREFIX}2026/11/28/first.log`, `${PREFIX}2026/11/28/second.log`]);
    await p2.stop();
  });

  it('does not read objects older than the look-back window at first sight, and forgets them from the checkpoint', async () => {
    const store = new MemoryStore();
    const a = awsText('valid_vpc_flow_log.log');
    const p = poller(store, collector().deliver, { prefixes: [PREFIX], lookbackMs: 2 * HOUR });
    store.put(`${PREFIX}old.log`, a, NOW - 3 * HOUR);
    store.put(`${PREFIX}new.log`, a, NOW - HOUR);
    await p.pollOnce();
    expect(store.reads.map((r) => r.key)).toEqual([`${PREFIX}new.log`]);
    expect(p.counters.tracked).toBe(1);
    // Two hours later the object is out of the window: dropped from the checkpoint, not re-read.
    let now = NOW + 2 * HOUR;
    const later = poller(store, collector().deliver, { prefixes: [PREFIX], lookbackMs: 2 * HOUR }, () => now);
    await later.pollOnce();
    expect(later.counters).toMatchObject({ objects: 0, tracked: 0 });
    now += HOUR;
    await later.pollOnce();
    expect(later.counters.objects).toBe(0);
  });

  it('reads only the new records of a growing Azure blob, and their totals are the whole blob\'s', async () => {
    const doc = JSON.parse(readFileSync(corpusPath('cloud/azure/elastic-integrations/nsg-testdata-PT1H.json'), 'utf8')) as { records: unknown[] };
    expect(doc.records.length).toBe(2);
    const [r1, r2] = doc.records.map((r) => JSON.stringify(r));
    // The blocks Azure commits: header, records (later ones with a leading comma), footer.
    const empty = '{"records":[' + ']}';
    const one = '{"records":[' + r1 + ']}';
    const two = '{"records":[' + r1 + ',' + r2 + ']}';
    const key = 'resourceId=/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG/y=2026/m=11/d=28/h=09/m=00/macAddress=000D3AF87856/PT1H.json';
    const store = new MemoryStore();
    const { deliver, totals } = collector();
    const p = poller(store, deliver, { kind: 'azure', prefixes: ['resourceId=/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG/y={yyyy}/m={mm}/d={dd}/h={hh}/'] });

    store.put(key, empty);
    await p.pollOnce();
    expect(totals.records).toBe(0);
    store.put(key, one);
    await p.pollOnce();
    expect(totals.records).toBe(direct('azure', one).records);
    store.put(key, two);
    await p.pollOnce();
    await p.pollOnce();
    const whole = direct('azure', two);
    expect(whole.records).toBeGreaterThan(direct('azure', one).records);
    expect({ records: totals.records, bytes: totals.bytes, packets: totals.packets }).toEqual(whole);
    // Each read started where the footer had begun: only the new bytes came over.
    expect(store.reads.map((r) => r.offset)).toEqual([0, empty.length - 2, one.length - 2]);
    expect(store.reads[2].bytes).toBe(two.length - (one.length - 2));
    expect(p.counters.errors.size).toBe(0);
    // 25 hour folders for a day's window, today's hour included.
    expect(new Set(store.listed).size).toBe(25);
  });

  it('counts nothing twice when an object is rewritten instead of grown', async () => {
    const store = new MemoryStore();
    const a = awsText('valid_vpc_flow_log.log');
    const { deliver, totals } = collector();
    const p = poller(store, deliver, { prefixes: [PREFIX] });
    store.put(`${PREFIX}x.log`, a);
    await p.pollOnce();
    store.put(`${PREFIX}x.log`, a + a);
    await p.pollOnce();
    await p.pollOnce();
    expect(totals.records).toBe(direct('aws', a).records);
    expect(p.counters.errors.get('rewritten')).toBe(1);

    const az = poller(store, deliver, { name: 'az', kind: 'azure', prefixes: ['az/'] });
    const doc = readFileSync(corpusPath('cloud/azure/elastic-integrations/nsg-testdata-PT1H.json'), 'utf8');
    store.put('az/PT1H.json', doc);
    await az.pollOnce();
    const before = totals.records;
    // Shorter than what was counted: not growth.
    store.put('az/PT1H.json', '{"records":[]}');
    await az.pollOnce();
    expect(totals.records).toBe(before);
    expect(az.counters.errors.get('rewritten')).toBe(1);
  });

  it('retries after a failed listing or read, and skips a broken gzip object with a reason', async () => {
    const store = new MemoryStore();
    const a = awsText('valid_vpc_flow_log.log');
    const { deliver, totals } = collector();
    const p = poller(store, deliver, { prefixes: [PREFIX] });
    store.put(`${PREFIX}a.log`, a);
    store.put(`${PREFIX}b.log`, a);
    store.put(`${PREFIX}broken.log.gz`, Buffer.concat([gzipSync(a).subarray(0, 20)]));
    store.failLists = 1;
    await p.pollOnce();
    expect(p.counters).toMatchObject({ polls: 1, failedPolls: 1, objects: 0 });
    expect(p.counters.errors.get('store')).toBe(1);
    expect(Number.isNaN(p.counters.lastSuccessMs)).toBe(true);

    store.failReads.add(`${PREFIX}b.log`);
    await p.pollOnce();
    expect(totals.records).toBe(direct('aws', a).records);
    expect(p.counters.errors.get('store')).toBe(2);
    expect(p.counters.errors.get('gzip')).toBe(1);

    await p.pollOnce();
    expect(totals.records).toBe(2 * direct('aws', a).records);
    expect(p.counters.errors.get('gzip')).toBe(1);
    expect(p.counters.failedPolls).toBe(2);
  });

  it('skips an object whose counting fails unexpectedly, once, and goes on with the others', async () => {
    const store = new MemoryStore();
    const a = awsText('valid_vpc_flow_log.log');
    store.put(`${PREFIX}a.log`, a);
    store.put(`${PREFIX}b.log`, `${a}\n# poison`);
    const { deliver: count, totals } = collector();
    const deliver: FlowLogDelivery = (kind, text, ms, options) => {
      if (text.includes('# poison')) throw new TypeError('a defect in counting');
      return count(kind, text, ms, options);
    };
    const p = poller(store, deliver, { prefixes: [PREFIX] });
    await p.pollOnce();
    await p.pollOnce();
    expect(totals.records).toBe(direct('aws', a).records);
    expect(p.counters.errors.get('decode')).toBe(1);
    expect(p.counters).toMatchObject({ failedPolls: 0, tracked: 2 });
    expect(store.reads.filter((r) => r.key.endsWith('b.log'))).toHaveLength(1);
  });

  it('sets a corrupt checkpoint file aside and reads the window again', async () => {
    writeFileSync(path.join(stateDir, 'cloud-test-vpc.json'), '{"kind": "flowgauge-cloud-checkpoint", "version": 1, "data": ');
    const store = new MemoryStore();
    const a = awsText('valid_vpc_flow_log.log');
    store.put(`${PREFIX}2026/11/28/a.log`, a);
    const { deliver, totals } = collector();
    const p = poller(store, deliver);
    await p.pollOnce();
    expect(totals.records).toBe(direct('aws', a).records);
    expect(readdirSync(stateDir).some((f) => f.startsWith('cloud-test-vpc.json.corrupt-'))).toBe(true);
    await p.stop();
  });

  it('polls on its interval until stopped, and stop waits for the poll in progress', async () => {
    const store = new MemoryStore();
    store.put(`${PREFIX}a.log`, awsText('valid_vpc_flow_log.log'));
    const { deliver } = collector();
    const p = poller(store, deliver, { prefixes: [PREFIX], intervalMs: 20 });
    p.start();
    const deadline = Date.now() + 10_000;
    while (p.counters.polls < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await p.stop();
    const polls = p.counters.polls;
    expect(polls).toBeGreaterThanOrEqual(3);
    expect(p.counters.objects).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(p.counters.polls).toBe(polls);
  });
});
