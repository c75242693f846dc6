/**
 * The Azure flow-log decoder against Microsoft's documentation samples (NSG v1/v2, VNet v4) and the
 * Elastic integration test files built from them, the bandwidth example of Microsoft's docs, bad
 * input counted by reason, and random mutations that must never throw.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeAzureFlowLog } from '../src/decoders/azure-flow-log.js';
import { createCloudDecodeCounters, type CloudDecodeCounters } from '../src/decoders/cloud-types.js';
import { Action, Direction, cloneFlowRecord, type FlowRecord } from '../src/record.js';
import { formatAddress, formatMac } from '../src/util/address.js';
import { corpusPath } from './helpers/corpus.js';
import { rng } from './helpers/random-flows.js';

function sample(rel: string): string {
  return readFileSync(corpusPath(`cloud/azure/${rel}`), 'utf8');
}

interface Decoded {
  records: FlowRecord[];
  counters: CloudDecodeCounters;
  skipped: Record<string, number>;
}

function decode(text: string): Decoded {
  const counters = createCloudDecodeCounters();
  const records: FlowRecord[] = [];
  decodeAzureFlowLog(text, counters, (r) => records.push(cloneFlowRecord(r)));
  return { records, counters, skipped: Object.fromEntries(counters.skipped) };
}

const addr = (r: FlowRecord, side: 'src' | 'dst') => formatAddress(r.af, r[side]);
const key = (r: FlowRecord) => `${addr(r, 'src')}:${r.srcPort}>${addr(r, 'dst')}:${r.dstPort}`;
const find = (rs: FlowRecord[], k: string) => {
  const found = rs.filter((r) => key(r) === k);
  expect(found, k).toHaveLength(1);
  return found[0];
};
const sum = (rs: FlowRecord[], f: (r: FlowRecord) => number) => rs.reduce((a, r) => a + f(r), 0);

/** One NSG v2 record around the given tuples. */
function nsgDoc(tuples: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    records: [
      {
        time: '2018-11-13T12:00:35.3899262Z',
        category: 'NetworkSecurityGroupFlowEvent',
        resourceId: '/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/TEST-NSG',
        operationName: 'NetworkSecurityGroupFlowEvents',
        properties: { Version: 2, flows: [{ rule: 'r', flows: [{ mac: '000D3AF87856', flowTuples: tuples }] }] },
        ...extra,
      },
    ],
  });
}

/** One VNet v4 record around the given tuples. */
function vnetDoc(tuples: unknown[]): string {
  return JSON.stringify({
    records: [
      {
        time: '2022-09-14T09:00:52.5625085Z',
        flowLogVersion: 4,
        macAddress: '00224871C205',
        category: 'FlowLogFlowEvent',
        flowLogResourceID: '/SUBSCRIPTIONS/X/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/FL',
        targetResourceID: '/subscriptions/X/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/prodVNet/subnets/web',
        operationName: 'FlowLogFlowEvent',
        flowRecords: { flows: [{ aclID: 'a', flowGroups: [{ rule: 'r', flowTuples: tuples }] }] },
      },
    ],
  });
}

describe('NSG flow logs version 2 (Microsoft sample)', () => {
  const { records, skipped, counters } = decode(sample('msdocs/nsg-flow-log-v2-sample.json'));

  it('emits two records per C/E tuple, one per denied tuple, and skips the allowed B tuple as no_data', () => {
    // Record 1: 3 denied B + (1 allowed B, 3 C/E with traffic both ways); record 2: 4 denied B.
    expect(counters.records).toBe(13);
    expect(records).toHaveLength(13);
    expect(skipped).toEqual({ no_data: 1 });
    // 66+66 + 16978+14008 + 8489+7054
    expect(sum(records, (r) => r.bytes)).toBe(46661);
    // 1+1 + 30+24 + 15+12
    expect(sum(records, (r) => r.packets)).toBe(83);
    // One flow per tuple: 7 denied + 3 C/E; the reverse records carry 0.
    expect(sum(records, (r) => r.flows)).toBe(10);
  });

  it('counts bytes on the side that sent them', () => {
    const egress = records.filter((r) => r.direction === Direction.egress);
    const ingress = records.filter((r) => r.direction === Direction.ingress);
    expect(sum(egress, (r) => r.bytes)).toBe(66 + 16978 + 8489);
    expect(sum(ingress, (r) => r.bytes)).toBe(66 + 14008 + 7054);
    expect(egress.every((r) => addr(r, 'src') === '10.5.16.4' && r.hasSrcMac && !r.hasDstMac)).toBe(true);
    expect(ingress.every((r) => addr(r, 'dst') === '10.5.16.4' && r.hasDstMac && !r.hasSrcMac)).toBe(true);
  });

  it('maps the E tuple 1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66 field by field', () => {
    const fwd = find(records, '10.5.16.4:59932>203.0.113.117:443');
    expect(fwd).toMatchObject({
      sourceKind: 'azure',
      exporter: 'FABRIAKMVM1-NSG',
      timeStartMs: 1542110379000,
      timeEndMs: 1542110379000,
      af: 4,
      protocol: 6,
      packets: 1,
      bytes: 66,
      flows: 1,
      samplingRate: 1,
      direction: Direction.egress,
      action: Action.accept,
      hasSrcMac: true,
      meta: undefined,
    });
    expect(formatMac(fwd.srcMac)).toBe('00:0d:3a:f8:78:56');
    expect(fwd.rttMs).toBeNaN();
    const rev = find(records, '203.0.113.117:443>10.5.16.4:59932');
    expect(rev).toMatchObject({ packets: 1, bytes: 66, flows: 0, direction: Direction.ingress, action: Action.accept, hasDstMac: true });
    expect(formatMac(rev.dstMac)).toBe('00:0d:3a:f8:78:56');
  });

  it('keeps the C tuple counts as reported (traffic since the previous tuple)', () => {
    expect(find(records, '10.5.16.4:44931>203.0.113.115:443')).toMatchObject({ packets: 30, bytes: 16978, direction: Direction.egress });
    expect(find(records, '203.0.113.115:443>10.5.16.4:44931')).toMatchObject({ packets: 24, bytes: 14008, direction: Direction.ingress });
  });

  it('reports denied inbound attempts as rejected flows without traffic', () => {
    const denied = records.filter((r) => r.action === Action.reject);
    expect(denied).toHaveLength(7);
    expect(denied.every((r) => r.direction === Direction.ingress && r.bytes === 0 && r.packets === 0 && r.flows === 1)).toBe(true);
    expect(find(records, '192.0.2.190:28746>10.5.16.4:443')).toMatchObject({ protocol: 17, timeStartMs: 1542110402000 });
    expect(find(records, '176.119.4.30:57067>10.5.16.4:52801')).toMatchObject({ protocol: 6, timeStartMs: 1542110490000 });
  });

  it('decodes the Elastic copy (same sample, addresses replaced) to the same totals', () => {
    const elastic = decode(sample('elastic-integrations/nsg-testdata-PT1H.json'));
    expect(elastic.records).toHaveLength(13);
    expect(elastic.skipped).toEqual({ no_data: 1 });
    expect(sum(elastic.records, (r) => r.bytes)).toBe(46661);
    expect(find(elastic.records, '10.5.16.4:59929>40.71.12.225:443')).toMatchObject({ packets: 15, bytes: 8489, exporter: 'FABRIAKMVM1-NSG' });
  });

  it('reads a bare record without the records wrapper', () => {
    const { records: rs, skipped: sk } = decode(sample('elastic-integrations/nsg-test-nsg.log'));
    expect(sk).toEqual({});
    expect(rs.map(key)).toEqual(['1.128.0.0:59932>1.128.0.1:443', '1.128.0.1:443>1.128.0.0:59932']);
    expect(rs.map((r) => [r.bytes, r.packets, r.direction, r.flows])).toEqual([
      [66, 1, Direction.egress, 1],
      [66, 1, Direction.ingress, 0],
    ]);
  });
});

describe('NSG flow logs version 1', () => {
  it('counts every tuple as unsupported (no counters in version 1) and emits nothing', () => {
    // 36 tuples under DefaultRule_AllowInternetOutBound + 4 under UserRule_web-rule.
    const { records, skipped } = decode(sample('msdocs/nsg-flow-log-v1-from-flow-logs-read.json'));
    expect(records).toHaveLength(0);
    expect(skipped).toEqual({ unsupported: 40 });
  });
});

describe('VNet flow logs version 4 (Microsoft sample)', () => {
  const sink: FlowRecord[] = [];
  const metas = new Set<unknown>();
  const seen = new Set<FlowRecord>();
  const counters = createCloudDecodeCounters();
  decodeAzureFlowLog(sample('msdocs/vnet-flow-log-v4-sample.json'), counters, (r) => {
    seen.add(r);
    metas.add(r.meta);
    sink.push(cloneFlowRecord(r));
  });

  it('emits 10 records for the 5 E tuples, 9 rejects, and skips the 5 B tuples as no_data', () => {
    expect(counters.records).toBe(19);
    expect(Object.fromEntries(counters.skipped)).toEqual({ no_data: 5 });
    // 767+1580 + 705+4569 + 705+4569 + 134+108 + 2217+32466
    expect(sum(sink, (r) => r.bytes)).toBe(47820);
    // 3+2 + 3+4 + 3+4 + 2+1 + 22+33
    expect(sum(sink, (r) => r.packets)).toBe(77);
    expect(sum(sink.filter((r) => r.direction === Direction.egress), (r) => r.bytes)).toBe(767 + 705 + 705 + 134 + 2217);
    expect(sum(sink.filter((r) => r.direction === Direction.ingress), (r) => r.bytes)).toBe(1580 + 4569 + 4569 + 108 + 32466);
  });

  it('maps the E tuple 1663146022793,10.0.0.6,104.16.218.84,36776,443,6,O,E,NX,22,2217,33,32466', () => {
    const fwd = find(sink, '10.0.0.6:36776>104.16.218.84:443');
    expect(fwd).toMatchObject({
      sourceKind: 'azure',
      exporter: 'myVNet',
      // 13 digits: already milliseconds.
      timeStartMs: 1663146022793,
      timeEndMs: 1663146022793,
      protocol: 6,
      packets: 22,
      bytes: 2217,
      flows: 1,
      direction: Direction.egress,
      action: Action.accept,
      meta: { region: 'eastus2euap', vpc: 'myVNet' },
    });
    expect(formatMac(fwd.srcMac)).toBe('00:22:48:71:c2:05');
    expect(find(sink, '104.16.218.84:443>10.0.0.6:36776')).toMatchObject({ packets: 33, bytes: 32466, flows: 0, direction: Direction.ingress });
  });

  it('maps state D to a rejected flow', () => {
    const rejects = sink.filter((r) => r.action === Action.reject);
    expect(rejects).toHaveLength(9);
    expect(find(sink, '101.33.218.153:55188>10.0.0.6:22')).toMatchObject({
      timeStartMs: 1663145998065,
      direction: Direction.ingress,
      action: Action.reject,
      bytes: 0,
      packets: 0,
      flows: 1,
    });
  });

  it('reuses one record and one meta object for the whole object', () => {
    expect(seen.size).toBe(1);
    expect(metas.size).toBe(1);
  });

  it('decodes the Elastic copy to the same totals', () => {
    const elastic = decode(sample('elastic-integrations/vnet-testdata-PT1H.json'));
    expect(elastic.records).toHaveLength(19);
    expect(elastic.skipped).toEqual({ no_data: 5 });
    expect(sum(elastic.records, (r) => r.bytes)).toBe(47820);
  });

  it('reads a bare record with a mixed-case MAC, and a reverse side with packets but no bytes', () => {
    const { records, skipped } = decode(sample('elastic-integrations/vnet-test-vnet.log'));
    expect(skipped).toEqual({ no_data: 1 });
    expect(records.map(key)).toEqual(['216.160.83.56:36776>81.2.69.142:443', '81.2.69.142:443>216.160.83.56:36776']);
    expect(formatMac(records[0].srcMac)).toBe('00:22:48:7b:c2:05');
    expect(records[1]).toMatchObject({ packets: 33, bytes: 0, direction: Direction.ingress });
  });

  it('reads the single block record of flow-logs-read (placeholder GUIDs, another watcher region)', () => {
    const { records, skipped } = decode(sample('msdocs/vnet-flow-log-single-block-record.json'));
    expect(skipped).toEqual({});
    expect(records).toHaveLength(10);
    expect(records.every((r) => r.action === Action.reject && r.direction === Direction.ingress)).toBe(true);
    expect(records[0]).toMatchObject({
      exporter: 'ContosoVnetWcus',
      timeStartMs: 1688875131557,
      srcPort: 53018,
      dstPort: 3389,
      meta: { region: 'westcentralus', vpc: 'ContosoVnetWcus' },
    });
    expect(key(records[0])).toBe('45.119.212.87:53018>192.168.0.4:3389');
  });
});

describe("Microsoft's bandwidth calculation example", () => {
  const tuples = sample('msdocs/bandwidth-calc-tuples.txt')
    .split('\n')
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  it('has the six tuples of the two docs', () => expect(tuples).toHaveLength(6));

  for (const [name, doc] of [
    ['NSG v2', () => nsgDoc(tuples.slice(0, 3))],
    ['VNet v4', () => vnetDoc(tuples.slice(3))],
  ] as const) {
    it(`${name}: 9125 packets and 5256000 bytes, as the docs compute`, () => {
      const { records, skipped } = decode(doc());
      expect(skipped).toEqual({ no_data: 1 });
      expect(records).toHaveLength(4);
      // 1021+52+8005+47 and 588096+29952+4610880+27072
      expect(sum(records, (r) => r.packets)).toBe(9125);
      expect(sum(records, (r) => r.bytes)).toBe(5256000);
      // Inbound: the client's bytes reached the NIC, the replies left it.
      expect(sum(records.filter((r) => r.direction === Direction.ingress), (r) => r.bytes)).toBe(588096 + 29952);
      expect(sum(records.filter((r) => r.direction === Direction.egress), (r) => r.bytes)).toBe(4610880 + 27072);
      expect(records.filter((r) => r.direction === Direction.egress).every((r) => addr(r, 'src') === addr(records[0], 'dst'))).toBe(true);
    });
  }

  it('takes 10-digit time stamps as seconds', () => {
    const { records } = decode(vnetDoc(tuples.slice(3)));
    expect(records[0].timeStartMs).toBe(1493695838000);
    expect(records[0].meta).toEqual({ region: 'westeurope', vpc: 'prodVNet' });
    expect(records[0].exporter).toBe('web');
  });
});

describe('input shapes', () => {
  it('reads newline-delimited records and counts a bad line', () => {
    const text = [sample('elastic-integrations/nsg-test-nsg.log').trim(), '{"time": trunc', sample('elastic-integrations/vnet-test-vnet.log').trim(), ''].join('\n');
    const { records, skipped } = decode(text);
    expect(records).toHaveLength(4);
    expect(records.map((r) => r.exporter)).toEqual(['FABRIAKMVM1-NSG', 'FABRIAKMVM1-NSG', 'myVNet', 'myVNet']);
    expect(skipped).toEqual({ bad_record: 1, no_data: 1 });
  });

  it('reads a top-level array of records, a byte order mark, and records nested in records', () => {
    const bare = JSON.parse(sample('elastic-integrations/nsg-test-nsg.log')) as object;
    expect(decode(JSON.stringify([bare, bare])).records).toHaveLength(4);
    expect(decode('\ufeff' + JSON.stringify({ records: [bare] })).records).toHaveLength(2);
    expect(decode(JSON.stringify({ records: [{ records: [bare] }] })).records).toHaveLength(2);
  });

  it('falls back to the MAC as exporter without a resource id, and reads IPv6 and port-less ICMP', () => {
    const doc = JSON.parse(nsgDoc(['1542110379,2001:db8::1,2001:db8::2,5000,443,T,O,A,E,2,200,1,100'])) as { records: Record<string, unknown>[] };
    delete doc.records[0].resourceId;
    const { records } = decode(JSON.stringify(doc));
    expect(records.map((r) => [r.exporter, r.af, key(r), r.bytes])).toEqual([
      ['000D3AF87856', 6, '2001:db8::1:5000>2001:db8::2:443', 200],
      ['000D3AF87856', 6, '2001:db8::2:443>2001:db8::1:5000', 100],
    ]);
    const icmp = decode(vnetDoc(['1663146003606,10.0.0.6,10.0.0.7,,,1,O,E,NX,4,336,4,336']));
    expect(icmp.records.map((r) => [r.protocol, r.srcPort, r.dstPort, r.bytes])).toEqual([
      [1, 0, 0, 336],
      [1, 0, 0, 336],
    ]);
  });
});

describe('bad input is counted, never thrown', () => {
  it.each([
    ['empty text', ''],
    ['whitespace', '  \n  '],
    ['not JSON', 'hello, azure'],
    ['a JSON number', '42'],
    ['a JSON string', '"records"'],
    ['truncated pretty-printed JSON', sample('msdocs/nsg-flow-log-v2-sample.json').slice(0, 1500)],
  ])('%s: one bad_format', (_name, text) => {
    const { records, skipped } = decode(text);
    expect(records).toHaveLength(0);
    expect(skipped).toEqual({ bad_format: 1 });
  });

  it('counts each bad NSG tuple by reason and still decodes the good one', () => {
    const good = '1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66';
    const { records, skipped } = decode(
      nsgDoc([
        good,
        '1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66', // 11 fields
        '1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66,9', // 14 fields
        '1542110379,10.5.16.4', // truncated
        42, // not a string
        '1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,-,-,-,-', // '-' counters
        '-,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66', // '-' time
        '1542110379,10.5.16.256,203.0.113.117,59932,443,T,O,A,E,1,66,1,66', // bad address
        '1542110379,10.5.16.4,2001:db8::1,59932,443,T,O,A,E,1,66,1,66', // mixed families
        '1542110379,10.5.16.4,203.0.113.117,70000,443,T,O,A,E,1,66,1,66', // port out of range
        '1542110379,10.5.16.4,203.0.113.117,59932,443,X,O,A,E,1,66,1,66', // protocol letter
        '1542110379,10.5.16.4,203.0.113.117,59932,443,T,Q,A,E,1,66,1,66', // direction
        '1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,Z,E,1,66,1,66', // decision
        '1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,X,1,66,1,66', // state
        '1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,C,,,,', // C without counters
        '1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,0,0,0,0', // no traffic
        '1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A', // version 1 layout
      ]),
    );
    expect(records.map(key)).toEqual(['10.5.16.4:59932>203.0.113.117:443', '203.0.113.117:443>10.5.16.4:59932']);
    expect(skipped).toEqual({ bad_record: 4, bad_value: 10, no_data: 1, unsupported: 1 });
  });

  it('counts bad VNet tuples: a version 1 sized tuple is a bad record there, the protocol must be a number', () => {
    const { records, skipped } = decode(
      vnetDoc([
        '1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E', // 8 fields
        '1663146003606,10.0.0.6,52.239.184.180,23956,443,T,O,E,NX,3,767,2,1580', // letter protocol
        '1663146003606,10.0.0.6,52.239.184.180,23956,443,300,O,E,NX,3,767,2,1580', // protocol > 255
        '1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,A,NX,3,767,2,1580', // NSG decision in the state field
        '1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580',
      ]),
    );
    expect(records).toHaveLength(2);
    expect(skipped).toEqual({ bad_record: 1, bad_value: 3 });
  });

  it('counts records of the wrong shape or category', () => {
    const { records, skipped } = decode(
      JSON.stringify({
        records: [
          { category: 'NetworkSecurityGroupEvent', properties: { ruleName: 'x' } }, // another diagnostic category
          { time: 'x' }, // no flows
          7,
          { category: 'NetworkSecurityGroupFlowEvent', properties: { Version: 2, flows: [{ rule: 'r', flows: 'nope' }, null] } },
          { category: 'FlowLogFlowEvent', flowRecords: { flows: [{ aclID: 'a' }, { flowGroups: [{ rule: 'r' }] }] } },
        ],
      }),
    );
    expect(records).toHaveLength(0);
    expect(skipped).toEqual({ unsupported: 1, bad_record: 6 });
  });
});

describe('random mutations never throw', () => {
  const seeds = [
    'msdocs/nsg-flow-log-v2-sample.json',
    'msdocs/nsg-flow-log-v1-from-flow-logs-read.json',
    'msdocs/vnet-flow-log-v4-sample.json',
    'msdocs/vnet-flow-log-single-block-record.json',
    'elastic-integrations/vnet-test-vnet.log',
  ].map(sample);
  const alphabet = ',.:{}[]"0123456789ABCDEIOTU-\n ';

  function checkSane(text: string): void {
    const counters = createCloudDecodeCounters();
    let emitted = 0;
    decodeAzureFlowLog(text, counters, (r) => {
      emitted++;
      expect(r.af === 4 || r.af === 6).toBe(true);
      expect(Number.isSafeInteger(r.bytes) && r.bytes >= 0).toBe(true);
      expect(Number.isSafeInteger(r.packets) && r.packets >= 0).toBe(true);
      expect(r.srcPort >= 0 && r.srcPort <= 65535 && r.dstPort >= 0 && r.dstPort <= 65535).toBe(true);
      expect(r.protocol >= 0 && r.protocol <= 255).toBe(true);
      expect(r.timeStartMs > 0).toBe(true);
    });
    expect(counters.records).toBe(emitted);
  }

  it('character-level: 3000 mutated samples', () => {
    const next = rng(20240611);
    for (let i = 0; i < 3000; i++) {
      let s = seeds[Math.floor(next() * seeds.length)];
      const edits = 1 + Math.floor(next() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(next() * s.length);
        const op = Math.floor(next() * 4);
        const ch = alphabet[Math.floor(next() * alphabet.length)];
        if (op === 0) s = s.slice(0, at) + s.slice(at + 1);
        else if (op === 1) s = s.slice(0, at) + ch + s.slice(at);
        else if (op === 2) s = s.slice(0, at) + ch + s.slice(at + 1);
        else s = s.slice(0, at);
      }
      expect(() => checkSane(s)).not.toThrow();
    }
  });

  it('structure-level: 2000 samples with values swapped for other JSON types', () => {
    const next = rng(7);
    const replacements: unknown[] = [null, 0, -1, 1e300, '', 'x', [], {}, [null], { flows: 1 }, '1,2,3', true];
    for (let i = 0; i < 2000; i++) {
      const tree = JSON.parse(seeds[Math.floor(next() * seeds.length)]) as unknown;
      // Collect every container slot, then overwrite a few of them.
      const slots: [Record<string, unknown> | unknown[], string | number][] = [];
      const walk = (v: unknown) => {
        if (v === null || typeof v !== 'object') return;
        for (const k of Object.keys(v)) {
          slots.push([v as Record<string, unknown>, Array.isArray(v) ? Number(k) : k]);
          walk((v as Record<string, unknown>)[k]);
        }
      };
      walk(tree);
      for (let e = 0; e < 3; e++) {
        const [parent, k] = slots[Math.floor(next() * slots.length)];
        (parent as Record<string | number, unknown>)[k] = replacements[Math.floor(next() * replacements.length)];
      }
      expect(() => checkSane(JSON.stringify(tree))).not.toThrow();
    }
  });
});
