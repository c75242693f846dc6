import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createCloudDecodeCounters, type CloudDecodeCounters, type CloudSkipReason } from '../src/decoders/cloud-types.js';
import { decodeGcpVpcFlowLog } from '../src/decoders/gcp-vpc-flow-log.js';
import { Action, cloneFlowRecord, Direction, type FlowRecord } from '../src/record.js';
import { formatAddress } from '../src/util/address.js';
import { corpusPath } from './helpers/corpus.js';

const sample = (rel: string): string => readFileSync(corpusPath(`cloud/gcp/${rel}`), 'utf8');

interface Decoded {
  records: FlowRecord[];
  counters: CloudDecodeCounters;
}

function decode(text: string): Decoded {
  const counters = createCloudDecodeCounters();
  const records: FlowRecord[] = [];
  decodeGcpVpcFlowLog(text, counters, (r) => records.push(cloneFlowRecord(r)));
  return { records, counters };
}

const skips = (c: CloudDecodeCounters): Record<string, number> => Object.fromEntries(c.skipped);
const src = (r: FlowRecord): string => formatAddress(r.af, r.src);
const dst = (r: FlowRecord): string => formatAddress(r.af, r.dst);

/** RFC 3339 ms written out by hand: Date.UTC of the seconds plus the first three fraction digits. */
const utc = (y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number =>
  Date.UTC(y, mo - 1, d, h, mi, s) + ms;

/** The fields every GCP record carries whatever the entry. */
function expectCommon(r: FlowRecord): void {
  expect(r.sourceKind).toBe('gcp');
  expect(r.flows).toBe(1);
  expect(r.samplingRate).toBe(1);
  expect(r.action).toBe(Action.accept);
  expect(r.tcpFlags).toBe(0);
}

const ELASTIC_ENTRIES = (): Record<string, unknown>[] =>
  (JSON.parse(sample('elastic-integrations/test-vpcflow-event.first7.json')) as { events: { json: Record<string, unknown> }[] }).events.map(
    (e) => e.json,
  );

describe('GCP VPC flow logs: single LogEntry samples', () => {
  it('otel vpc-flow-log-from-computeengine: reporter DEST -> ingress, exporter the destination VM', () => {
    const { records, counters } = decode(sample('otel-contrib/vpc-flow-log-from-computeengine.json'));
    expect(counters.records).toBe(1);
    expect(counters.skipped.size).toBe(0);
    const r = records[0];
    expectCommon(r);
    expect(r.af).toBe(4);
    expect(src(r)).toBe('203.0.113.4');
    expect(dst(r)).toBe('192.0.2.4');
    expect(r.srcPort).toBe(55524);
    expect(r.dstPort).toBe(443);
    expect(r.protocol).toBe(6);
    expect(r.bytes).toBe(0); // "bytes_sent": "0"
    expect(r.packets).toBe(16); // "packets_sent": "16"
    // start_time = end_time = 2025-09-27T21:34:39.250342106Z
    expect(r.timeStartMs).toBe(utc(2025, 9, 27, 21, 34, 39, 250));
    expect(r.timeStartMs).toBe(1759008879250);
    expect(r.timeEndMs).toBe(r.timeStartMs);
    expect(r.rttMs).toBeNaN(); // no rtt_msec in the entry
    expect(r.direction).toBe(Direction.ingress);
    expect(r.exporter).toBe('proxy-crest-new-group-892l');
    // dest_instance region/zone and dest_vpc vpc_name; nothing else (not subnetwork, project, MIG).
    expect(r.meta).toEqual({ region: 'us-central1', vpc: 'default', zone: 'us-central1-a' });
  });

  it('otel vpc-flow-log-google-service: reporter SRC -> egress, times with nanosecond fractions truncated to ms', () => {
    const { records, counters } = decode(sample('otel-contrib/vpc-flow-log-google-service.json'));
    expect(counters.records).toBe(1);
    const r = records[0];
    expectCommon(r);
    expect(src(r)).toBe('10.10.0.3');
    expect(dst(r)).toBe('142.251.183.95');
    expect([r.srcPort, r.dstPort, r.protocol]).toEqual([57046, 443, 6]);
    expect([r.bytes, r.packets]).toEqual([38144, 72]);
    expect(r.timeStartMs).toBe(utc(2025, 11, 7, 21, 17, 47, 862)); // 21:17:47.862783471Z
    expect(r.timeEndMs).toBe(utc(2025, 11, 7, 21, 18, 47, 883)); // 21:18:47.883105401Z
    expect(r.direction).toBe(Direction.egress);
    expect(r.exporter).toBe('andrewvc-flowfixtures-vm-2qhb');
    expect(r.meta).toEqual({ region: 'us-central1', vpc: 'andrewvc-flowfixtures-network', zone: 'us-central1-f' });
  });

  it('otel vpc-flow-log-managed-instance: inbound SSH reported by the receiving VM', () => {
    const { records } = decode(sample('otel-contrib/vpc-flow-log-managed-instance.json'));
    expect(records).toHaveLength(1);
    const r = records[0];
    expect(`${src(r)}:${r.srcPort} > ${dst(r)}:${r.dstPort}`).toBe('45.78.219.169:39552 > 10.10.0.2:22');
    expect([r.bytes, r.packets]).toEqual([0, 8]);
    expect(r.timeStartMs).toBe(utc(2025, 11, 7, 21, 18, 58, 489));
    expect(r.direction).toBe(Direction.ingress);
    expect(r.exporter).toBe('andrewvc-flowfixtures-vm-zh8x');
    expect(r.meta).toEqual({ region: 'us-central1', vpc: 'andrewvc-flowfixtures-network', zone: 'us-central1-c' });
  });

  it('otel vpc-flow-log-w-dest-vpc: networkmanagement.googleapis.com log name, rtt_msec as a string', () => {
    const { records, counters } = decode(sample('otel-contrib/vpc-flow-log-w-dest-vpc.json'));
    expect(counters.records).toBe(1);
    const r = records[0];
    expectCommon(r);
    expect(`${src(r)}:${r.srcPort} > ${dst(r)}:${r.dstPort}`).toBe('203.0.113.5:45004 > 192.0.2.5:22');
    expect(r.protocol).toBe(6);
    expect([r.bytes, r.packets]).toEqual([11590, 90]);
    expect(r.rttMs).toBe(22); // "rtt_msec": "22"
    expect(r.timeStartMs).toBe(utc(2025, 9, 27, 21, 13, 15, 686)); // .686128981Z
    expect(r.timeEndMs).toBe(utc(2025, 9, 27, 21, 13, 15, 943)); // .943125002Z
    expect(r.direction).toBe(Direction.ingress);
    expect(r.exporter).toBe('service-integration-dev-idc-ubuntu25-4');
    expect(r.meta).toEqual({ region: 'asia-south1', vpc: 'default', zone: 'asia-south1-c' });
  });

  it('otel vpc-flow-log-w-internet-routing-details: ICMP without ports -> ports 0', () => {
    const { records } = decode(sample('otel-contrib/vpc-flow-log-w-internet-routing-details.json'));
    expect(records).toHaveLength(1);
    const r = records[0];
    expect(src(r)).toBe('192.0.2.6');
    expect(dst(r)).toBe('203.0.113.6');
    expect([r.srcPort, r.dstPort, r.protocol]).toEqual([0, 0, 1]);
    expect([r.bytes, r.packets]).toEqual([800, 20]);
    expect(r.timeStartMs).toBe(utc(2025, 9, 27, 21, 13, 5, 56)); // .056628399Z
    expect(r.timeEndMs).toBe(r.timeStartMs);
    expect(r.rttMs).toBeNaN();
    expect(r.direction).toBe(Direction.egress);
    expect(r.exporter).toBe('service-integration-dev-idc-ubuntu25-4');
    expect(r.meta).toEqual({ region: 'asia-south1', vpc: 'default', zone: 'asia-south1-c' });
  });

  it('otel vpc-flow-log-synthetic: rtt_msec as a number wins over round_trip_time; meta from the reporter (SRC) side only', () => {
    const { records, counters } = decode(sample('otel-contrib/vpc-flow-log-synthetic.json'));
    expect(counters.records).toBe(1);
    const r = records[0];
    expectCommon(r);
    expect(`${src(r)}:${r.srcPort} > ${dst(r)}:${r.dstPort}`).toBe('10.1.2.3:12345 > 192.168.1.2:80');
    expect([r.bytes, r.packets]).toEqual([123456, 150]);
    expect(r.rttMs).toBe(15); // "rtt_msec": 15, "round_trip_time": {"median_msec": 12}
    expect(r.timeStartMs).toBe(utc(2025, 9, 27, 10, 0, 0, 123));
    expect(r.timeEndMs).toBe(utc(2025, 9, 27, 10, 0, 1, 123));
    expect(r.direction).toBe(Direction.egress);
    expect(r.exporter).toBe('my-vm-instance'); // not peer-vm-instance (dest side)
    expect(r.meta).toEqual({ region: 'us-central1', vpc: 'my-vpc-network', zone: 'us-central1-a' });
  });

  it('sekoia GKE captures: node VM as exporter, DEST reporter', () => {
    const a = decode(sample('sekoia-intake-formats/flow_logs_gke.logentry.json')).records[0];
    expect(`${src(a)}:${a.srcPort} > ${dst(a)}:${a.dstPort}`).toBe('34.118.64.229:443 > 10.0.0.4:45950');
    expect([a.protocol, a.bytes, a.packets]).toEqual([6, 1872, 16]);
    expect(a.timeStartMs).toBe(utc(2022, 6, 3, 12, 9, 42, 501));
    expect(a.timeEndMs).toBe(utc(2022, 6, 3, 12, 9, 42, 768));
    expect(a.direction).toBe(Direction.ingress);
    expect(a.exporter).toBe('gke-cluster-3-default-pool-4e355575-tdhx');
    expect(a.meta).toEqual({ region: 'europe-central2', vpc: 'foo', zone: 'europe-central2-a' });

    const b = decode(sample('sekoia-intake-formats/flow_logs_gke2.logentry.json')).records[0];
    expect(`${src(b)}:${b.srcPort} > ${dst(b)}:${b.dstPort}`).toBe('34.118.64.229:443 > 10.0.0.3:41834');
    expect([b.bytes, b.packets]).toEqual([33792, 32]);
    expect(b.timeStartMs).toBe(utc(2022, 6, 3, 12, 9, 44, 421));
    expect(b.timeEndMs).toBe(utc(2022, 6, 3, 12, 9, 44, 424));
    expect(b.exporter).toBe('gke-cluster-3-default-pool-4e355575-k1w8');
  });
});

describe('GCP VPC flow logs: multi-entry objects', () => {
  // The 7 entries of the Elastic excerpt, by hand:
  //   bytes   1776 + 173663 + 155707 + 0 + 1784 + 1464 + 186151 = 520545
  //   packets    7 +     68 +     78 + 1 +    7 +    7 +    251 = 419
  it('Elastic pipeline-test array ({"events": [{"json": LogEntry}]}): 7 records, totals by hand', () => {
    const { records, counters } = decode(sample('elastic-integrations/test-vpcflow-event.first7.json'));
    expect(counters.records).toBe(7);
    expect(counters.skipped.size).toBe(0);
    expect(records.reduce((s, r) => s + r.bytes, 0)).toBe(520545);
    expect(records.reduce((s, r) => s + r.packets, 0)).toBe(419);
    records.forEach(expectCommon);
    expect(records.map((r) => r.direction)).toEqual([2, 1, 2, 2, 2, 1, 1].map((d) => d as Direction));

    const [first, second, third, fourth] = records;
    expect(`${src(first)}:${first.srcPort} > ${dst(first)}:${first.dstPort}`).toBe('10.87.40.76:5601 > 203.0.113.12:33478');
    expect(first.rttMs).toBe(36);
    expect(first.timeStartMs).toBe(utc(2019, 6, 14, 3, 45, 37, 186));
    expect(first.timeEndMs).toBe(utc(2019, 6, 14, 3, 45, 37, 301));
    expect(first.exporter).toBe('kibana');
    expect(first.meta).toEqual({ region: 'us-east1', vpc: 'default', zone: 'us-east1-b' });

    // Both ends are instances; the reporter (DEST) is kibana, not the sender elasticsearch.
    expect(`${src(second)}:${second.srcPort} > ${dst(second)}:${second.dstPort}`).toBe('198.51.100.248:9200 > 10.87.40.76:33970');
    expect([second.bytes, second.packets, second.rttMs]).toEqual([173663, 68, 1]);
    expect(second.direction).toBe(Direction.ingress);
    expect(second.exporter).toBe('kibana');
    expect(second.timeStartMs).toBe(utc(2019, 6, 14, 3, 40, 8, 466));
    expect(second.timeEndMs).toBe(utc(2019, 6, 14, 3, 49, 51, 821));

    // Both ends are instances; the reporter (SRC) is elasticsearch.
    expect(third.exporter).toBe('elasticsearch');
    expect(third.direction).toBe(Direction.egress);
    expect([third.bytes, third.packets, third.rttMs]).toEqual([155707, 78, 201]);

    // A one-packet SSH reply without rtt_msec.
    expect(`${src(fourth)}:${fourth.srcPort} > ${dst(fourth)}:${fourth.dstPort}`).toBe('10.139.99.242:22 > 192.0.2.23:59679');
    expect([fourth.bytes, fourth.packets]).toEqual([0, 1]);
    expect(fourth.rttMs).toBeNaN();
  });

  it('NDJSON (one LogEntry per line, as GCS sinks write) decodes to the same records as the Elastic array', () => {
    const nd = decode(sample('elastic-integrations/vpcflow-logentries.first7.ndjson'));
    const arr = decode(sample('elastic-integrations/test-vpcflow-event.first7.json'));
    expect(nd.counters.records).toBe(7);
    expect(nd.counters.skipped.size).toBe(0);
    expect(nd.records).toEqual(arr.records);
  });

  it('a plain JSON array of LogEntries, and the Logging API {"entries": [...]} shape', () => {
    const entries = ELASTIC_ENTRIES();
    const plain = decode(JSON.stringify(entries, null, 2));
    expect(plain.counters.records).toBe(7);
    expect(plain.records.reduce((s, r) => s + r.bytes, 0)).toBe(520545);
    const api = decode(JSON.stringify({ entries, nextPageToken: 'x' }));
    expect(api.records).toEqual(plain.records);
  });

  it('wrappers: {"message": "<LogEntry JSON>"}, Pub/Sub push {"message": {"data": base64}}, Pub/Sub pull receivedMessages', () => {
    const entries = ELASTIC_ENTRIES();
    const expected = decode(JSON.stringify(entries)).records;

    const messageStrings = entries.map((e) => JSON.stringify({ message: JSON.stringify(e) })).join('\n');
    expect(decode(messageStrings).records).toEqual(expected);

    const push = entries
      .map((e) =>
        JSON.stringify({
          message: { data: Buffer.from(JSON.stringify(e)).toString('base64'), messageId: '1', attributes: { 'logging.googleapis.com/timestamp': 'x' } },
          subscription: 'projects/p/subscriptions/s',
        }),
      )
      .join('\n');
    expect(decode(push).records).toEqual(expected);

    const pull = JSON.stringify({
      receivedMessages: entries.map((e, i) => ({ ackId: String(i), message: { data: Buffer.from(JSON.stringify(e)).toString('base64') } })),
    });
    expect(decode(pull).records).toEqual(expected);
  });

  it('a flow reported by both VMs is emitted twice, once per reporter (no deduplication)', () => {
    const srcSide = ELASTIC_ENTRIES()[2] as { jsonPayload: Record<string, unknown> }; // reporter SRC, both instances
    const destSide = structuredClone(srcSide);
    destSide.jsonPayload.reporter = 'DEST';
    const { records } = decode([srcSide, destSide].map((e) => JSON.stringify(e)).join('\n'));
    expect(records).toHaveLength(2);
    expect(records.map((r) => [r.exporter, r.direction, r.bytes])).toEqual([
      ['elasticsearch', Direction.egress, 155707],
      ['kibana', Direction.ingress, 155707],
    ]);
  });

  it('reuses one record for every emit and shares one meta object while its values repeat', () => {
    const seen: FlowRecord[] = [];
    const metas: (Record<string, string> | undefined)[] = [];
    decodeGcpVpcFlowLog(sample('elastic-integrations/vpcflow-logentries.first7.ndjson'), createCloudDecodeCounters(), (r) => {
      seen.push(r);
      metas.push(r.meta);
    });
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(1);
    expect(new Set(metas).size).toBe(1); // all 7 reporters are in us-east1-b / default
  });
});

describe('GCP VPC flow logs: exporter, meta and field fallbacks', () => {
  const base = (): { logName: string; timestamp: string; resource: unknown; jsonPayload: Record<string, unknown> } => ({
    logName: 'projects/proj-a/logs/compute.googleapis.com%2Fvpc_flows',
    timestamp: '2024-01-02T03:04:05.678901Z',
    resource: { type: 'gce_subnetwork', labels: { project_id: 'proj-res', subnetwork_name: 's' } },
    jsonPayload: {
      connection: { src_ip: '10.0.0.1', dest_ip: '10.0.0.2', src_port: 1, dest_port: 2, protocol: 17 },
      bytes_sent: '100',
      packets_sent: '2',
      start_time: '2024-01-02T03:04:00Z',
      end_time: '2024-01-02T03:04:01.5+01:00',
      reporter: 'SRC',
    },
  });
  const one = (e: unknown): FlowRecord => {
    const { records, counters } = decode(JSON.stringify(e));
    expect(skips(counters)).toEqual({});
    expect(records).toHaveLength(1);
    return records[0];
  };

  it('exporter falls back to the reporter instance project, the vpc project, the resource project, the logName project, then gcp', () => {
    const e = base();
    e.jsonPayload.src_instance = { project_id: 'proj-inst', region: 'r1' };
    e.jsonPayload.src_vpc = { project_id: 'proj-vpc', vpc_name: 'v1' };
    expect(one(e).exporter).toBe('proj-inst');
    delete e.jsonPayload.src_instance;
    expect(one(e).exporter).toBe('proj-vpc');
    delete e.jsonPayload.src_vpc;
    expect(one(e).exporter).toBe('proj-res');
    delete (e as { resource?: unknown }).resource;
    expect(one(e).exporter).toBe('proj-a');
    e.logName = 'compute.googleapis.com/vpc_flows';
    expect(one(e).exporter).toBe('gcp');
  });

  it('the other side never supplies exporter or meta; no reporter -> direction unknown, meta undefined', () => {
    const e = base();
    e.jsonPayload.dest_instance = { vm_name: 'peer', region: 'r2', zone: 'r2-a' };
    e.jsonPayload.dest_vpc = { vpc_name: 'peer-vpc' };
    const r = one(e);
    expect(r.exporter).toBe('proj-res');
    expect(r.meta).toBeUndefined();
    delete e.jsonPayload.reporter;
    const u = one(e);
    expect(u.direction).toBe(Direction.unknown);
    expect(u.meta).toBeUndefined();
    expect(u.exporter).toBe('proj-res');
  });

  it('meta region falls back to the vpc subnetwork_region; only region/vpc/zone keys', () => {
    const e = base();
    e.jsonPayload.src_vpc = { project_id: 'p', vpc_name: 'v1', subnetwork_name: 'sn', subnetwork_region: 'europe-west4' };
    expect(one(e).meta).toEqual({ region: 'europe-west4', vpc: 'v1' });
  });

  it('times: seconds without a fraction, a +01:00 offset, one missing end, both missing -> LogEntry timestamp', () => {
    const e = base();
    const r = one(e);
    expect(r.timeStartMs).toBe(utc(2024, 1, 2, 3, 4, 0, 0));
    expect(r.timeEndMs).toBe(utc(2024, 1, 2, 2, 4, 1, 500)); // 03:04:01.5+01:00
    delete e.jsonPayload.end_time;
    const s = one(e);
    expect(s.timeEndMs).toBe(s.timeStartMs);
    delete e.jsonPayload.start_time;
    const t = one(e);
    expect(t.timeStartMs).toBe(utc(2024, 1, 2, 3, 4, 5, 678));
    expect(t.timeEndMs).toBe(t.timeStartMs);
  });

  it('IPv6 connection, counts as JSON numbers, missing counters -> 0, rtt from round_trip_time.median_msec', () => {
    const e = base();
    e.jsonPayload.connection = { src_ip: '2600:1900:4000::1', dest_ip: '2001:db8::5', src_port: 443, dest_port: 50000, protocol: 6 };
    e.jsonPayload.bytes_sent = 9007199254740991;
    delete e.jsonPayload.packets_sent;
    e.jsonPayload.round_trip_time = { median_msec: '7' };
    const r = one(e);
    expect(r.af).toBe(6);
    expect(src(r)).toBe('2600:1900:4000::1');
    expect(dst(r)).toBe('2001:db8::5');
    expect([r.bytes, r.packets, r.rttMs]).toEqual([9007199254740991, 0, 7]);
  });
});

describe('GCP VPC flow logs: bad input is counted, never thrown', () => {
  const valid = (): Record<string, unknown> & { jsonPayload: Record<string, unknown> } =>
    ELASTIC_ENTRIES()[0] as Record<string, unknown> & { jsonPayload: Record<string, unknown> };
  const withPayload = (patch: (p: Record<string, unknown>) => void): string => {
    const e = valid();
    patch(e.jsonPayload);
    return JSON.stringify(e);
  };
  const expectOnly = (text: string, reason: CloudSkipReason, n = 1): void => {
    const { records, counters } = decode(text);
    expect(records).toHaveLength(0);
    expect(counters.records).toBe(0);
    expect(skips(counters)).toEqual({ [reason]: n });
  };

  it('empty or blank text is an object with no entries: nothing emitted, nothing counted', () => {
    for (const t of ['', '   \n\n', '\ufeff', '[]', '{"entries": []}']) {
      const { records, counters } = decode(t);
      expect(records).toHaveLength(0);
      expect(counters.skipped.size).toBe(0);
    }
  });

  it('text that is not JSON counts one bad_format, however many lines it has', () => {
    expectOnly('garbage', 'bad_format');
    expectOnly('version account-id\n2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK\n', 'bad_format');
    // A pretty-printed entry cut in the middle: no line is an entry on its own.
    const pretty = JSON.stringify(valid(), null, 2);
    expectOnly(pretty.slice(0, pretty.length / 2), 'bad_format');
    // Lines that are JSON scalars are not entries either.
    expectOnly('1\n"x"\nnull\n', 'bad_format');
  });

  it('NDJSON with a truncated last line: 6 records and one bad_format', () => {
    const text = sample('elastic-integrations/vpcflow-logentries.first7.ndjson').trimEnd();
    const cut = text.slice(0, text.length - 40);
    const { records, counters } = decode(cut);
    expect(records).toHaveLength(6);
    expect(skips(counters)).toEqual({ bad_format: 1 });
    // bytes of the first 6 entries: 520545 - 186151
    expect(records.reduce((s, r) => s + r.bytes, 0)).toBe(334394);
  });

  it('entries of other logs are unsupported; non-entries are bad_record', () => {
    const firewall = { ...valid(), logName: 'projects/p/logs/compute.googleapis.com%2Ffirewall' };
    const audit = { ...valid(), logName: 'projects/p/logs/cloudaudit.googleapis.com%2Factivity' };
    const noLogName = { jsonPayload: valid().jsonPayload };
    const { records, counters } = decode(JSON.stringify([valid(), firewall, audit, noLogName, 42, null, 'x', [], { json: 'not json' }, { other: 1 }]));
    expect(records).toHaveLength(1);
    expect(skips(counters)).toEqual({ unsupported: 2, bad_record: 6, bad_format: 1 });
  });

  it('missing structure -> bad_record', () => {
    expectOnly(JSON.stringify({ ...valid(), jsonPayload: 'x' }), 'bad_record');
    expectOnly(withPayload((p) => delete p.connection), 'bad_record');
    expectOnly(withPayload((p) => ((p.connection as Record<string, unknown>).src_ip = undefined)), 'bad_record');
    expectOnly(withPayload((p) => delete (p.connection as Record<string, unknown>).protocol), 'bad_record');
  });

  it('unreadable values -> bad_value', () => {
    const conn = (f: (c: Record<string, unknown>) => void) => withPayload((p) => f(p.connection as Record<string, unknown>));
    expectOnly(conn((c) => (c.src_ip = '10.0.0.256')), 'bad_value');
    expectOnly(conn((c) => (c.dest_ip = '-')), 'bad_value');
    expectOnly(conn((c) => (c.dest_ip = '2001:db8::1')), 'bad_value'); // families differ
    expectOnly(conn((c) => (c.src_port = 70000)), 'bad_value');
    expectOnly(conn((c) => (c.dest_port = -1)), 'bad_value');
    expectOnly(conn((c) => (c.protocol = 256)), 'bad_value');
    expectOnly(conn((c) => (c.protocol = 'tcp')), 'bad_value');
    expectOnly(withPayload((p) => (p.bytes_sent = '-')), 'bad_value');
    expectOnly(withPayload((p) => (p.bytes_sent = '')), 'bad_value');
    expectOnly(withPayload((p) => (p.packets_sent = '1.5')), 'bad_value');
    expectOnly(withPayload((p) => (p.packets_sent = '99999999999999999999')), 'bad_value');
    expectOnly(withPayload((p) => (p.bytes_sent = { v: 1 })), 'bad_value');
    expectOnly(withPayload((p) => (p.start_time = '2019-02-30T00:00:00Z')), 'bad_value');
    expectOnly(withPayload((p) => (p.start_time = '2019-06-14T03:45:37')), 'bad_value'); // no zone
    expectOnly(withPayload((p) => (p.end_time = 'yesterday')), 'bad_value');
    expectOnly(withPayload((p) => (p.end_time = 1560483937)), 'bad_value');
  });

  it('an unreadable rtt_msec leaves rttMs NaN and keeps the flow', () => {
    const { records } = decode(withPayload((p) => (p.rtt_msec = 'n/a')));
    expect(records).toHaveLength(1);
    expect(records[0].rttMs).toBeNaN();
    expect(records[0].bytes).toBe(1776);
  });

  it('random mutations of the samples never throw, and every emitted record is well-formed', () => {
    const texts = [
      sample('elastic-integrations/test-vpcflow-event.first7.json'),
      sample('elastic-integrations/vpcflow-logentries.first7.ndjson'),
      sample('otel-contrib/vpc-flow-log-synthetic.json'),
      sample('otel-contrib/vpc-flow-log-w-dest-vpc.json'),
      sample('sekoia-intake-formats/flow_logs_gke.logentry.json'),
    ];
    let seed = 0x9e3779b9;
    const rand = (n: number): number => {
      // xorshift32: deterministic, so a failure reproduces.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const junk = ['', '-', '0', '"', '{', '}', '[', ']', ',', ':', 'null', '1e400', '"::1"', '"SRC"', '\n', '-1', '"2019-13-01T00:00:00Z"', '\u0000'];
    const values: unknown[] = [null, -1, 1.5, 'x', '', '-', [], {}, '10.0.0.1', '::1', 65536, '18446744073709551615', true, 'DEST'];

    const mutateText = (t: string): string => {
      const at = rand(t.length + 1);
      switch (rand(4)) {
        case 0:
          return t.slice(0, at);
        case 1:
          return t.slice(0, at) + t.slice(at + 1 + rand(20));
        case 2:
          return t.slice(0, at) + junk[rand(junk.length)] + t.slice(at);
        default:
          return t.slice(0, at) + String.fromCharCode(rand(128)) + t.slice(at + 1);
      }
    };
    const mutateJson = (t: string): string => {
      const v: unknown = JSON.parse(t);
      // Walk to a random object and replace or delete one of its keys.
      let node: unknown = v;
      for (let depth = 0; depth < 6; depth++) {
        if (node === null || typeof node !== 'object') break;
        const keys = Object.keys(node);
        if (keys.length === 0) break;
        const k = keys[rand(keys.length)];
        const child = (node as Record<string, unknown>)[k];
        if (rand(3) === 0 || child === null || typeof child !== 'object') {
          if (rand(4) === 0) delete (node as Record<string, unknown>)[k];
          else (node as Record<string, unknown>)[k] = values[rand(values.length)];
          break;
        }
        node = child;
      }
      return JSON.stringify(v);
    };

    let emitted = 0;
    for (let i = 0; i < 3000; i++) {
      const t = texts[rand(texts.length)];
      const text = i % 2 === 0 || t.includes('\n{"insertId"') ? mutateText(t) : mutateJson(t);
      const counters = createCloudDecodeCounters();
      let calls = 0;
      expect(() =>
        decodeGcpVpcFlowLog(text, counters, (r) => {
          calls++;
          expect(r.af === 4 || r.af === 6).toBe(true);
          expect(r.srcPort >= 0 && r.srcPort <= 65535 && r.dstPort >= 0 && r.dstPort <= 65535).toBe(true);
          expect(r.protocol >= 0 && r.protocol <= 255).toBe(true);
          expect(Number.isSafeInteger(r.bytes) && r.bytes >= 0 && Number.isSafeInteger(r.packets) && r.packets >= 0).toBe(true);
          expect(Number.isFinite(r.timeStartMs) && Number.isFinite(r.timeEndMs)).toBe(true);
          expect(typeof r.exporter === 'string' && r.exporter.length > 0).toBe(true);
          if (r.meta) expect(Object.keys(r.meta).every((k) => k === 'region' || k === 'vpc' || k === 'zone')).toBe(true);
        }),
      ).not.toThrow();
      expect(counters.records).toBe(calls);
      emitted += calls;
    }
    // The mutations leave most entries readable: the walk above reached the emit path.
    expect(emitted).toBeGreaterThan(1000);
  });
});
