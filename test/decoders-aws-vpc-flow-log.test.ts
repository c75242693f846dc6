/**
 * The AWS VPC / Transit Gateway flow-log decoder against the cloud/aws corpus: AWS's own documentation
 * examples for exact values, the other projects' samples (S3 text with a header, CloudWatch Logs
 * subscription payloads, TGW records, synthetic ECS/v8 layouts) for whole-file outcomes, then bad
 * input counted by reason and random mutations that must never throw.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { AWS_DEFAULT_FORMAT, decodeAwsVpcFlowLog, splitAwsFlowLogText } from '../src/decoders/aws-vpc-flow-log.js';
import { createCloudDecodeCounters, type CloudDecodeCounters, type CloudDecodeOptions } from '../src/decoders/cloud-types.js';
import { Action, cloneFlowRecord, Direction, type FlowRecord } from '../src/record.js';
import { formatAddress } from '../src/util/address.js';
import { corpusPath } from './helpers/corpus.js';

/** The full v2..v5 field list in the order of AWS's field table (the order the 29-token samples use). */
const V5_ORDER =
  `${AWS_DEFAULT_FORMAT} vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id ` +
  'sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path';
/** v2..v7: the synthetic Elastic ECS samples (39 tokens); v8 adds reject-reason (40). */
const V7_ORDER =
  `${V5_ORDER} ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ` +
  'ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id';
const V8_ORDER = `${V7_ORDER} reject-reason`;
/** The Transit Gateway default format (all fields, version 6), in the `${field}` spelling. */
const TGW_DEFAULT_FORMAT = [
  'version', 'resource-type', 'account-id', 'tgw-id', 'tgw-attachment-id', 'tgw-src-vpc-account-id',
  'tgw-dst-vpc-account-id', 'tgw-src-vpc-id', 'tgw-dst-vpc-id', 'tgw-src-subnet-id', 'tgw-dst-subnet-id',
  'tgw-src-eni', 'tgw-dst-eni', 'tgw-src-az-id', 'tgw-dst-az-id', 'tgw-pair-attachment-id', 'srcaddr',
  'dstaddr', 'srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end', 'log-status', 'type',
  'packets-lost-no-route', 'packets-lost-blackhole', 'packets-lost-mtu-exceeded', 'packets-lost-ttl-expired',
  'tcp-flags', 'region', 'flow-direction', 'pkt-src-aws-service', 'pkt-dst-aws-service',
].map((f) => `\${${f}}`).join(' ');

interface Decoded {
  records: FlowRecord[];
  /** The objects the sink was handed (to check reuse and meta sharing). */
  handed: FlowRecord[];
  metas: (Record<string, string> | undefined)[];
  counters: CloudDecodeCounters;
  skipped: Record<string, number>;
}

function decode(text: string, options?: CloudDecodeOptions): Decoded {
  const counters = createCloudDecodeCounters();
  const records: FlowRecord[] = [];
  const handed: FlowRecord[] = [];
  const metas: (Record<string, string> | undefined)[] = [];
  decodeAwsVpcFlowLog(
    text,
    counters,
    (r) => {
      records.push(cloneFlowRecord(r));
      handed.push(r);
      metas.push(r.meta);
    },
    options,
  );
  return { records, handed, metas, counters, skipped: Object.fromEntries(counters.skipped) };
}

const read = (rel: string): string => readFileSync(corpusPath(`cloud/aws/${rel}`), 'utf8');

/** The record as plain values, for toEqual. */
function view(r: FlowRecord) {
  return {
    exporter: r.exporter,
    src: formatAddress(r.af, r.src),
    dst: formatAddress(r.af, r.dst),
    af: r.af,
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    protocol: r.protocol,
    packets: r.packets,
    bytes: r.bytes,
    timeStartMs: r.timeStartMs,
    timeEndMs: r.timeEndMs,
    action: r.action,
    direction: r.direction,
    tcpFlags: r.tcpFlags,
    meta: r.meta,
  };
}

const sum = (rs: FlowRecord[], k: 'bytes' | 'packets'): number => rs.reduce((a, r) => a + r[k], 0);

/** The AWS docs examples file: `## <section> | format: <fields>` then the section's record lines. */
function docSections(): Map<string, { format: string; text: string }> {
  const sections = new Map<string, { format: string; text: string }>();
  let current: { format: string; lines: string[] } | undefined;
  const all: { name: string; format: string; lines: string[] }[] = [];
  for (const line of read('awsdocs/flow-logs-records-examples.txt').split('\n')) {
    const m = /^## (.*?) \| format: (.*)$/.exec(line);
    if (m) {
      current = { format: m[2] === 'default v2' ? AWS_DEFAULT_FORMAT : m[2], lines: [] };
      all.push({ name: m[1], ...current });
    } else if (current && line !== '' && !line.startsWith('#')) current.lines.push(line);
  }
  for (const s of all) sections.set(s.name, { format: s.format, text: s.lines.join('\n') });
  return sections;
}

describe('AWS documentation examples (exact values)', () => {
  const sections = docSections();
  const section = (name: string) => {
    const s = sections.get(name);
    if (!s) throw new Error(`section ${name} missing`);
    return decode(s.text, { awsFormat: s.format });
  };

  it('accepted and rejected traffic (default format)', () => {
    const d = section('accepted-rejected');
    expect(d.records.map(view)).toEqual([
      {
        exporter: 'eni-1235b8ca123456789', src: '172.31.16.139', dst: '172.31.16.21', af: 4, srcPort: 20641, dstPort: 22,
        protocol: 6, packets: 20, bytes: 4249, timeStartMs: 1418530010000, timeEndMs: 1418530070000,
        action: Action.accept, direction: Direction.unknown, tcpFlags: 0, meta: undefined,
      },
      {
        exporter: 'eni-1235b8ca123456789', src: '172.31.9.69', dst: '172.31.9.12', af: 4, srcPort: 49761, dstPort: 3389,
        protocol: 6, packets: 20, bytes: 4249, timeStartMs: 1418530010000, timeEndMs: 1418530070000,
        action: Action.reject, direction: Direction.unknown, tcpFlags: 0, meta: undefined,
      },
    ]);
    for (const r of d.records) {
      expect(r.sourceKind).toBe('aws');
      expect(r.flows).toBe(1);
      expect(r.samplingRate).toBe(1);
      expect(Number.isNaN(r.rttMs)).toBe(true);
    }
    expect(d.counters.records).toBe(2);
    expect(d.skipped).toEqual({});
  });

  it('NODATA and SKIPDATA lines are skipped as no_data', () => {
    const d = section('no-data / skip-data');
    expect(d.records).toEqual([]);
    expect(d.skipped).toEqual({ no_data: 2 });
  });

  it('ICMP allowed in, reply rejected out (ports 0, protocol 1)', () => {
    const d = section('security group / NACL (ICMP)');
    expect(d.records.map((r) => [formatAddress(r.af, r.src), formatAddress(r.af, r.dst), r.srcPort, r.dstPort, r.protocol, r.packets, r.bytes, r.timeStartMs, r.action])).toEqual([
      ['203.0.113.12', '172.31.16.139', 0, 0, 1, 4, 336, 1432917027000, Action.accept],
      ['172.31.16.139', '203.0.113.12', 0, 0, 1, 4, 336, 1432917094000, Action.reject],
    ]);
  });

  it('IPv6 traffic', () => {
    const d = section('ipv6');
    expect(d.records.map(view)).toEqual([
      {
        exporter: 'eni-1235b8ca123456789', src: '2001:db8:1234:a100:8d6e:3477:df66:f105', dst: '2001:db8:1234:a102:3304:8879:34cf:4071',
        af: 6, srcPort: 34892, dstPort: 22, protocol: 6, packets: 54, bytes: 8855, timeStartMs: 1477913708000,
        timeEndMs: 1477913820000, action: Action.accept, direction: Direction.unknown, tcpFlags: 0, meta: undefined,
      },
    ]);
  });

  it('TCP flag sequence (custom v3 order, bytes before packets, a double space in one line)', () => {
    const d = section('tcp-flag-sequence');
    expect(d.skipped).toEqual({});
    expect(d.records.map((r) => r.tcpFlags)).toEqual([2, 18, 2, 18, 1, 1, 3, 19]);
    // 568+376+100701+632+63388+23294588+1260+967 and 8+7+70+12+1219+15774+17+14
    expect(sum(d.records, 'bytes')).toBe(23_462_480);
    expect(sum(d.records, 'packets')).toBe(17_121);
    expect(view(d.records[5])).toEqual({
      exporter: 'eni-1235b8ca123456789', src: '52.213.180.42', dst: '10.0.0.62', af: 4, srcPort: 43418, dstPort: 5001,
      protocol: 6, packets: 15774, bytes: 23294588, timeStartMs: 1566848933000, timeEndMs: 1566849113000,
      action: Action.accept, direction: Direction.unknown, tcpFlags: 1, meta: { vpc: 'vpc-abcdefab012345678' },
    });
    // The double-spaced line: "5001 43638  10.0.0.62" still lines up.
    expect(view(d.records[7])).toMatchObject({ src: '10.0.0.62', dst: '52.213.180.42', srcPort: 5001, dstPort: 43638, bytes: 967, packets: 14, tcpFlags: 19 });
    // Same vpc on every line: one shared meta object, no allocation per record.
    expect(new Set(d.metas).size).toBe(1);
  });

  it('NAT gateway: the flow keeps srcaddr/dstaddr (the interface view), not pkt-srcaddr/pkt-dstaddr', () => {
    const d = section('nat-gateway');
    expect(d.records.map((r) => [formatAddress(r.af, r.src), formatAddress(r.af, r.dst), r.exporter, r.bytes, r.packets, r.timeStartMs])).toEqual([
      ['10.0.1.5', '10.0.0.220', 'eni-1235b8ca123456789', 0, 0, 0],
      ['10.0.0.220', '203.0.113.5', 'eni-1235b8ca123456789', 0, 0, 0],
      ['203.0.113.5', '10.0.0.220', 'eni-1235b8ca123456789', 0, 0, 0],
      ['10.0.0.220', '10.0.1.5', 'eni-1235b8ca123456789', 0, 0, 0],
    ]);
  });

  it('VPC flow logs on transit gateway ENIs are VPC records (srcaddr of the TGW ENI kept)', () => {
    const d = section('transit-gateway (VPC flow log on TGW ENIs)');
    expect(d.records.map((r) => [r.exporter, formatAddress(r.af, r.src), formatAddress(r.af, r.dst), r.srcPort, r.dstPort, r.tcpFlags, r.action])).toEqual([
      ['eni-33333333333333333', '10.20.33.164', '10.40.2.236', 39812, 80, 3, Action.accept],
      ['eni-33333333333333333', '10.40.2.236', '10.20.33.164', 80, 39812, 19, Action.accept],
      ['eni-11111111111111111', '10.40.1.175', '10.40.2.236', 39812, 80, 3, Action.accept],
      ['eni-22222222222222222', '10.40.2.236', '10.40.2.31', 80, 39812, 19, Action.accept],
    ]);
    expect(d.records.every((r) => r.direction === Direction.unknown && r.timeStartMs === 0)).toBe(true);
  });

  it('flow-direction, region and AZ id (v5 custom order)', () => {
    const d = section('service-name / traffic-path / flow-direction (v5)');
    const meta = { region: 'ap-southeast-2', vpc: 'vpc-abcdefab012345678', zone: 'apse2-az3' };
    expect(d.records.map(view)).toEqual([
      {
        exporter: 'eni-1235b8ca123456789', src: '52.95.128.179', dst: '10.0.0.71', af: 4, srcPort: 80, dstPort: 34210,
        protocol: 6, packets: 14, bytes: 15044, timeStartMs: 1616729292000, timeEndMs: 1616729349000,
        action: Action.accept, direction: Direction.ingress, tcpFlags: 19, meta,
      },
      {
        exporter: 'eni-1235b8ca123456789', src: '10.0.0.71', dst: '52.95.128.179', af: 4, srcPort: 34210, dstPort: 80,
        protocol: 6, packets: 7, bytes: 471, timeStartMs: 1616729292000, timeEndMs: 1616729349000,
        action: Action.accept, direction: Direction.egress, tcpFlags: 3, meta,
      },
    ]);
    expect(d.metas[0]).toBe(d.metas[1]);
  });

  it('the sink gets one reused record', () => {
    const d = section('tcp-flag-sequence');
    expect(new Set(d.handed).size).toBe(1);
    // What the sink kept by copying is still per record.
    expect(d.records[0].bytes).toBe(568);
  });

  it('all sections: 23 records, 2 no_data, in the S3 layout with a header line too', () => {
    let records = 0;
    let noData = 0;
    for (const { format, text } of sections.values()) {
      const d = decode(`${format}\n${text}\n`);
      records += d.counters.records;
      noData += d.skipped.no_data ?? 0;
      expect(Object.keys(d.skipped).filter((k) => k !== 'no_data')).toEqual([]);
    }
    expect(records).toBe(23);
    expect(noData).toBe(2);
  });
});

describe('S3 text objects with a header line (otel-contrib)', () => {
  it('a NODATA-only object', () => {
    const d = decode(read('otel-contrib/valid_vpc_flow_log.log'));
    expect(d.records).toEqual([]);
    expect(d.skipped).toEqual({ no_data: 1 });
  });

  it('two default-format records', () => {
    const d = decode(read('otel-contrib/valid_vpc_flow_log_multi.log'));
    expect(d.records.map((r) => [formatAddress(r.af, r.src), formatAddress(r.af, r.dst), r.dstPort, r.bytes, r.action])).toEqual([
      ['172.31.16.139', '172.31.16.21', 22, 4249, Action.accept],
      ['172.31.9.69', '172.31.9.12', 3389, 4249, Action.reject],
    ]);
  });

  it('the header wins over options.awsFormat', () => {
    const d = decode(read('otel-contrib/valid_vpc_flow_log_multi.log'), { awsFormat: 'srcaddr dstaddr' });
    expect(d.counters.records).toBe(2);
    expect(d.skipped).toEqual({});
  });

  it('ECS fields after the default ones are stepped over', () => {
    const d = decode(read('otel-contrib/valid_vpc_flow_log_ecs.log'));
    expect(d.records.map(view)).toEqual([
      {
        exporter: 'eni-0abc1234def567890', src: '10.0.1.100', dst: '10.0.2.200', af: 4, srcPort: 49152, dstPort: 22,
        protocol: 6, packets: 15, bytes: 3500, timeStartMs: 1700000000000, timeEndMs: 1700000060000,
        action: Action.accept, direction: Direction.unknown, tcpFlags: 0, meta: undefined,
      },
    ]);
  });

  it('one field too many -> bad_record', () => {
    const d = decode(read('otel-contrib/vpc_flow_log_too_many_fields.log'));
    expect(d.records).toEqual([]);
    expect(d.skipped).toEqual({ bad_record: 1 });
  });

  it('a Transit Gateway object (version 6 header)', () => {
    const d = decode(read('otel-contrib/valid_tgw_flow_log.log'));
    expect(d.records.map(view)).toEqual([
      {
        // The gateway reports; its flow-direction (ingress) is about its attachment, so direction stays unknown.
        exporter: 'tgw-0abc12345def67890', src: '10.0.0.1', dst: '10.0.1.1', af: 4, srcPort: 12345, dstPort: 443,
        protocol: 6, packets: 10, bytes: 1000, timeStartMs: 1700000000000, timeEndMs: 1700000060000,
        action: Action.unknown, direction: Direction.unknown, tcpFlags: 2,
        meta: { region: 'us-east-1', vpc: 'vpc-0abc12345def67890', zone: 'use1-az1' },
      },
    ]);
  });
});

describe('CloudWatch Logs subscription payloads', () => {
  it('default format messages', () => {
    const d = decode(read('otel-contrib/valid_vpc_flow_cw.json'));
    expect(d.records.map((r) => [r.exporter, formatAddress(r.af, r.src), formatAddress(r.af, r.dst), r.srcPort, r.dstPort, r.packets, r.bytes, r.timeStartMs, r.action])).toEqual([
      ['eni-1235b8ca123456789', '172.31.16.139', '172.31.16.21', 20641, 22, 20, 4249, 1418530010000, Action.accept],
      ['eni-1235b8ca123456789', '172.31.9.69', '172.31.9.12', 49761, 3389, 20, 4249, 1418530010000, Action.reject],
    ]);
    expect(d.skipped).toEqual({});
  });

  it('custom 4-field messages need their format; without it each is a bad_record', () => {
    const text = read('otel-contrib/valid_vpc_flow_cw_custom.json');
    const d = decode(text, { awsFormat: '${version} ${interface-id} ${srcaddr} ${dstaddr}' });
    expect(d.records.map((r) => [r.exporter, formatAddress(r.af, r.src), formatAddress(r.af, r.dst), r.bytes])).toEqual([
      ['eni-1235b8ca123456789', '172.31.16.139', '172.31.16.21', 0],
      ['eni-1235b8ca123456789', '172.31.9.69', '172.31.9.12', 0],
    ]);
    expect(decode(text).skipped).toEqual({ bad_record: 2 });
  });

  it('Transit Gateway messages in their custom format decode like the S3 record', () => {
    const format =
      'version account-id tgw-id tgw-attachment-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id ' +
      'tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol ' +
      'packets bytes start end log-status type tcp-flags flow-direction region';
    const cw = decode(read('otel-contrib/valid_tgw_flow_cw.json'), { awsFormat: format });
    const s3 = decode(read('otel-contrib/valid_tgw_flow_log.log'));
    expect(cw.records.map(view)).toEqual(s3.records.map(view));
    expect(cw.counters.records).toBe(1);
  });

  it('a CONTROL_MESSAGE emits and skips nothing', () => {
    const d = decode(
      '{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],' +
        '"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}',
    );
    expect(d.records).toEqual([]);
    expect(d.skipped).toEqual({});
  });

  it('payloads back to back (as Firehose concatenates them) and one per line', () => {
    const one = read('otel-contrib/valid_vpc_flow_cw.json').trim();
    expect(decode(one + one).counters.records).toBe(4);
    expect(decode(`${one}\n${one}\n`).counters.records).toBe(4);
  });

  it('{"message": ...} documents (Elastic test input) are one record each', () => {
    const d = decode(read('elastic-integrations/test-with-message-field.log'));
    expect(d.skipped).toEqual({ no_data: 1 });
  });
});

describe('Elastic integration samples (synthetic layouts)', () => {
  it('extra samples (default format): 5 records, 2 no_data', () => {
    const d = decode(read('elastic-integrations/test-extra-samples.log'));
    expect(d.counters.records).toBe(5);
    expect(d.skipped).toEqual({ no_data: 2 });
    // 8855 + 4249 + 4249 + 336 + 336 and 54 + 20 + 20 + 4 + 4
    expect(sum(d.records, 'bytes')).toBe(18_025);
    expect(sum(d.records, 'packets')).toBe(102);
    expect(formatAddress(4, d.records[1].src)).toBe('78.24.182.42');
  });

  it('ECS samples (v2..v7 order): NODATA/SKIPDATA lines skipped despite their counts, IPv4->IPv6 lines are bad values', () => {
    const d = decode(read('elastic-integrations/test-ecs-samples.log'), { awsFormat: V7_ORDER });
    // Lines 1 and 10 pair an IPv4 with an IPv6 address; 6 lines are NODATA/SKIPDATA; 3 are OK.
    expect(d.skipped).toEqual({ no_data: 6, bad_value: 1 });
    expect(d.records.map((r) => [r.exporter, formatAddress(r.af, r.src), formatAddress(r.af, r.dst), r.srcPort, r.dstPort, r.protocol, r.packets, r.bytes, r.action, r.direction])).toEqual([
      ['000000000000', '81.2.69.142', '89.160.20.112', 27556, 80, 17, 97, 48448, Action.reject, Direction.egress],
      ['000000000000', '81.2.69.144', '81.2.69.192', 63842, 80, 17, 59, 43499, Action.accept, Direction.egress],
      ['000000000000', '81.2.69.192', '81.2.69.144', 14797, 8080, 6, 35, 28455, Action.accept, Direction.ingress],
    ]);
    expect(d.records.every((r) => r.meta === undefined)).toBe(true);
  });

  it('v8 sample: 40 fields with reject-reason; the v7 layout calls it a bad record', () => {
    expect(decode(read('elastic-integrations/test-v8-samples.log'), { awsFormat: V8_ORDER }).skipped).toEqual({ no_data: 1 });
    expect(decode(read('elastic-integrations/test-v8-samples.log'), { awsFormat: V7_ORDER }).skipped).toEqual({ bad_record: 1 });
  });

  it('v5 all fields: srcaddr/dstaddr kept over pkt-*, region/vpc/zone in meta', () => {
    const d = decode(read('elastic-integrations/test-v5-all-fields.log'), { awsFormat: V5_ORDER });
    expect(d.records.map(view)).toEqual([
      {
        exporter: 'eni-069xxxxxb7a490', src: '89.160.20.156', dst: '10.200.0.0', af: 4, srcPort: 50041, dstPort: 33004,
        protocol: 17, packets: 52, bytes: 1, timeStartMs: 164000066000, timeEndMs: 1640000297000,
        action: Action.reject, direction: Direction.ingress, tcpFlags: 1,
        meta: { region: 'us-east-1', vpc: 'vpc-09676f97xxxxxb8a7', zone: 'use1-az5' },
      },
    ]);
  });

  it('TGW samples (TGW default format, 36 fields): 3 OK records, 7 no_data', () => {
    const d = decode(read('elastic-integrations/test-tgw-samples.log'), { awsFormat: TGW_DEFAULT_FORMAT });
    expect(d.skipped).toEqual({ no_data: 7 });
    expect(d.records.map(view)).toEqual([
      {
        exporter: 'tgw-0a12bc34de56f7890', src: '216.160.83.56', dst: '89.160.20.128', af: 4, srcPort: 36721, dstPort: 8080,
        protocol: 17, packets: 13, bytes: 6842, timeStartMs: 1755592553000, timeEndMs: 1755592580000,
        action: Action.unknown, direction: Direction.unknown, tcpFlags: 0, meta: { vpc: 'vpc-0abc1234' },
      },
      expect.objectContaining({ src: '89.160.20.112', dst: '81.2.69.192', dstPort: 443, packets: 3, bytes: 5749, meta: { vpc: 'vpc-0def5678' } }),
      expect.objectContaining({ src: '67.43.156.0', dst: '216.160.83.56', dstPort: 443, packets: 42, bytes: 4534, meta: { vpc: 'vpc-0ghi9012' } }),
    ]);
  });
});

describe('Sekoia intake samples', () => {
  /** `## name` then the input message line. */
  function samples(): Map<string, string> {
    const lines = read('sekoia-intake-formats/records.txt').split('\n');
    const out = new Map<string, string>();
    lines.forEach((l, i) => {
      if (l.startsWith('## ')) out.set(l.slice(3), lines[i + 1]);
    });
    return out;
  }
  const formatFor = (line: string) => (line.trim().split(/ +/).length === 29 ? V5_ORDER : undefined);

  it('text records decode; the vendor-structured JSON is not an AWS format', () => {
    const all = samples();
    const outcomes: Record<string, string> = {};
    for (const [name, line] of all) {
      const d = decode(line, { awsFormat: formatFor(line) });
      outcomes[name] = d.counters.records ? 'record' : Object.keys(d.skipped).join(',');
    }
    expect(outcomes).toEqual({
      accept: 'record', accept_ok_v5: 'record', custom: 'record', ipv6traffic: 'record', nodata: 'no_data', reject: 'record',
      network_traffic: 'bad_format', accept_structured: 'bad_format', reject_structured: 'bad_format',
    });
  });

  it('v5 records carry direction and meta', () => {
    const all = samples();
    const v5 = decode(all.get('accept_ok_v5')!, { awsFormat: V5_ORDER }).records[0];
    expect(view(v5)).toEqual({
      exporter: 'eni-1235b8ca123456789', src: '5.6.7.8', dst: '1.2.3.4', af: 4, srcPort: 50188, dstPort: 4433, protocol: 6,
      packets: 1, bytes: 44, timeStartMs: 1739865042000, timeEndMs: 1739865042000, action: Action.accept,
      direction: Direction.ingress, tcpFlags: 2, meta: { region: 'eu-west-1', vpc: 'vpc-1', zone: 'euw1-az2' },
    });
    const custom = decode(all.get('custom')!, { awsFormat: V5_ORDER }).records[0];
    expect([custom.direction, custom.dstPort, custom.protocol, custom.bytes, custom.meta]).toEqual([
      Direction.egress, 53, 17, 73, { region: 'eu-west-1', vpc: 'vpc-abcdefab012345678', zone: 'euw1-az3' },
    ]);
  });
});

describe('Elastic beats self-describing samples (format per group)', () => {
  interface Group {
    format: string;
    samples: string[];
  }
  const groups = parseYaml(read('elastic-beats/aws-vpc-flow-logs.yml'), { merge: true }) as Record<string, Group>;

  it('every group decodes with its format, as options and as a header line', () => {
    const outcome: Record<string, string> = {};
    for (const [name, g] of Object.entries(groups)) {
      const text = g.samples.map(String).join('\n');
      const d = decode(text, { awsFormat: g.format });
      const h = decode(`${g.format}\n${text}`);
      expect(h.records.map(view)).toEqual(d.records.map(view));
      outcome[name] = `${d.counters.records} ${JSON.stringify(d.skipped)}`;
    }
    expect(outcome).toEqual({
      'default-v2-format': '5 {"no_data":2}',
      'tcp-flag-sequence': '8 {}',
      'custom-nat-gateway': '6 {}',
      'transit-gateway': '4 {}',
      'service-name-path-direction': '2 {}',
      'v5-fields-original': '1 {}',
      'v5-fields-ecs': '1 {}',
      'v5-fields-ecs_and_original': '1 {}',
      'v6-fields-original': '1 {}',
      'v6-fields-ecs': '1 {}',
      'v6-fields-ecs_and_original': '1 {}',
      'v7-fields-original': '1 {}',
      'v7-fields-ecs': '1 {}',
      'v7-fields-ecs_and_original': '1 {}',
    });
  });

  it('the v6 (TGW) sample with a Cyrillic letter in a subnet id and double spaces', () => {
    const g = groups['v6-fields-original'];
    expect(g.samples[0]).toContain('subnet-3fbc536e360c36caб');
    expect(g.samples[0]).toContain('  ');
    const d = decode(g.samples[0], { awsFormat: g.format });
    expect(d.records.map(view)).toEqual([
      {
        exporter: 'tgw-3b86d5e89ec8ebd55', src: '10.100.8.1', dst: '10.200.8.2', af: 4, srcPort: 43228, dstPort: 53, protocol: 6,
        packets: 1, bytes: 1600, timeStartMs: 1766848875000, timeEndMs: 1766848933000, action: Action.unknown,
        // flow-direction "egress" is the gateway's, not an end's.
        direction: Direction.unknown, tcpFlags: 2,
        // tgw-src-az-id holds an AZ name here ("us-east-1a"); kept as logged.
        meta: { region: 'us-east-1', vpc: 'vpc-3620ee62fdaf70d01', zone: 'us-east-1a' },
      },
    ]);
  });

  it('a non-ASCII id is kept verbatim in meta', () => {
    const g = groups['v6-fields-original'];
    const d = decode(g.samples[0].replace('vpc-3620ee62fdaf70d01', 'vpc-3620ee62fdaf70dб1'), { awsFormat: g.format });
    expect(d.records[0].meta).toEqual({ region: 'us-east-1', vpc: 'vpc-3620ee62fdaf70dб1', zone: 'us-east-1a' });
  });
});

describe('bad input is counted, never thrown', () => {
  const ok = '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK';
  const withField = (i: number, v: string) => {
    const f = ok.split(' ');
    f[i] = v;
    return f.join(' ');
  };

  it('empty, blank and header-only objects emit and skip nothing', () => {
    for (const text of ['', '\n\n', '  \r\n\t', '\uFEFF', `${AWS_DEFAULT_FORMAT}\n`]) {
      const d = decode(text);
      expect(d.counters.records).toBe(0);
      expect(d.skipped).toEqual({});
    }
  });

  it('wrong field counts are bad records; the good lines around them still decode', () => {
    const truncated = ok.split(' ').slice(0, 8).join(' ');
    const d = decode([ok, truncated, `${ok} extra`, ok.replace('ACCEPT OK', 'ACCEPT'), ok].join('\r\n'));
    expect(d.counters.records).toBe(2);
    expect(d.skipped).toEqual({ bad_record: 3 });
  });

  it('unparsable values are bad values', () => {
    const bad = [
      withField(3, '300.1.1.1'), withField(3, '172.31.16'), withField(3, '010.1.1.1'), withField(3, 'host'),
      withField(4, '2001:db8::zz'), withField(4, '2001:db8::1'), withField(5, '70000'), withField(6, '-1'),
      withField(7, '256'), withField(8, '2x'), withField(9, '1234567890123456'), withField(10, 'now'),
      withField(12, 'DROP'), withField(13, 'WEIRD'),
    ];
    const d = decode(bad.join('\n'));
    expect(d.counters.records).toBe(0);
    expect(d.skipped).toEqual({ bad_value: bad.length });
    const dir = decode(`${V5_ORDER}\n${ok} - - - - - - - - - - - - - sideways -`);
    expect(dir.skipped).toEqual({ bad_value: 1 });
  });

  it("'-' values in an OK record are zero / unknown", () => {
    const d = decode('2 123456789010 - 10.0.0.1 10.0.0.2 - - - - - - - - OK');
    expect(d.records.map(view)).toEqual([
      {
        exporter: '123456789010', src: '10.0.0.1', dst: '10.0.0.2', af: 4, srcPort: 0, dstPort: 0, protocol: 0, packets: 0,
        bytes: 0, timeStartMs: 0, timeEndMs: 0, action: Action.unknown, direction: Direction.unknown, tcpFlags: 0, meta: undefined,
      },
    ]);
    const anon = decode('- - - 10.0.0.1 10.0.0.2 - - - - - - - - OK');
    expect(anon.records[0].exporter).toBe('aws');
  });

  it("pkt-srcaddr/pkt-dstaddr stand in for '-' srcaddr/dstaddr", () => {
    const d = decode('eni-1 - 10.0.0.9 192.0.2.1 198.51.100.7', { awsFormat: '${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr}' });
    expect([formatAddress(4, d.records[0].src), formatAddress(4, d.records[0].dst)]).toEqual(['192.0.2.1', '10.0.0.9']);
  });

  it('garbage JSON and non-CloudWatch JSON are bad_format; events without a message are bad records', () => {
    expect(decode('{"messageType":"DATA_MESSAGE","logEvents":[').skipped).toEqual({ bad_format: 1 });
    expect(decode('[1,2,3]').skipped).toEqual({ bad_format: 1 });
    expect(decode('{"a":1}').skipped).toEqual({ bad_format: 1 });
    // A valid (empty) payload, then text that is no JSON document.
    expect(decode('{"messageType":"DATA_MESSAGE","logEvents":[]} trailing').skipped).toEqual({ bad_format: 1 });
    expect(decode('{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1"},7,null,{"message":""}]}').skipped).toEqual({ bad_record: 4 });
  });

  it('an awsFormat naming no known field falls back to the default format', () => {
    expect(decode(ok, { awsFormat: 'foo bar' }).counters.records).toBe(1);
    expect(decode(ok, { awsFormat: '' }).counters.records).toBe(1);
  });

  it('random mutations of the samples never throw and emit only sane records', () => {
    const seeds = [
      read('awsdocs/flow-logs-records-examples.txt').split('\n').filter((l) => !l.startsWith('#')).join('\n'),
      read('otel-contrib/valid_tgw_flow_log.log'),
      read('otel-contrib/valid_vpc_flow_cw.json'),
      read('otel-contrib/valid_vpc_flow_log_ecs.log'),
      `${V5_ORDER}\n${read('elastic-integrations/test-v5-all-fields.log')}`,
    ];
    const alphabet = [' ', '  ', '\n', '-', '{', '}', '"', ':', '.', '9', 'б', '\u0000', 'OK', 'NODATA', 'ACCEPT', 'version', '${', '\\'];
    let total = 0;
    const edit = fc.tuple(fc.nat(), fc.nat(40), fc.oneof(fc.constantFrom(...alphabet), fc.string({ maxLength: 6 })));
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 8 }), fc.option(fc.constantFrom(V5_ORDER, TGW_DEFAULT_FORMAT, 'srcaddr')), (seed, edits, format) => {
        let text = seed;
        for (const [pos, del, ins] of edits) {
          const at = pos % (text.length + 1);
          text = text.slice(0, at) + ins + text.slice(at + del);
        }
        const counters = createCloudDecodeCounters();
        let emitted = 0;
        decodeAwsVpcFlowLog(
          text,
          counters,
          (r) => {
            emitted++;
            expect([0, 4, 6]).toContain(r.af);
            expect(r.srcPort).toBeGreaterThanOrEqual(0);
            expect(r.dstPort).toBeLessThanOrEqual(65535);
            expect(r.protocol).toBeLessThanOrEqual(255);
            expect(Number.isSafeInteger(r.bytes) && r.bytes >= 0).toBe(true);
            expect(Number.isSafeInteger(r.packets) && r.packets >= 0).toBe(true);
            expect(r.timeStartMs).toBeGreaterThanOrEqual(0);
            expect(r.sourceKind).toBe('aws');
            expect(r.exporter.length).toBeGreaterThan(0);
            if (r.meta) expect(Object.keys(r.meta).every((k) => k === 'region' || k === 'vpc' || k === 'zone')).toBe(true);
          },
          format === null ? undefined : { awsFormat: format },
        );
        expect(counters.records).toBe(emitted);
        total += emitted;
      }),
      { numRuns: 3000, seed: 20241128 },
    );
    // Many records survive the mutations (most seeds meet a mismatched format): decoding went past the rejections.
    expect(total).toBeGreaterThan(200);
  });
});

describe('size', () => {
  it('decodes a 100k-line object in well under a second per 100k lines', () => {
    const header = `${V5_ORDER}\n`;
    const line =
      '5 123456789012 eni-1235b8ca123456789 10.0.0.71 52.95.128.179 34210 443 6 7 471 1616729292 1616729349 ACCEPT OK ' +
      'vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b 3 IPv4 10.0.0.71 52.95.128.179 ap-southeast-2 apse2-az3 - - - - egress 8\n';
    const text = header + line.repeat(100_000);
    const counters = createCloudDecodeCounters();
    let bytes = 0;
    const metas = new Set<unknown>();
    const t0 = performance.now();
    decodeAwsVpcFlowLog(text, counters, (r) => {
      bytes += r.bytes;
      metas.add(r.meta);
    });
    const ms = performance.now() - t0;
    expect(counters.records).toBe(100_000);
    expect(bytes).toBe(47_100_000);
    expect(metas.size).toBe(1);
    expect(ms).toBeLessThan(3000);
  });
});

describe('splitAwsFlowLogText', () => {
  const multi = readFileSync(corpusPath('cloud/aws/otel-contrib/valid_vpc_flow_log_multi.log'), 'utf8');
  const [header, ...rows] = multi.trimEnd().split('\n');

  function decodeAll(texts: string[], options?: CloudDecodeOptions): { records: number; bytes: number; skipped: string } {
    const counters = createCloudDecodeCounters();
    let bytes = 0;
    for (const t of texts) decodeAwsVpcFlowLog(t, counters, (r) => (bytes += r.bytes), options);
    return { records: counters.records, bytes, skipped: JSON.stringify([...counters.skipped].sort()) };
  }

  it('cuts a large object at line ends, each piece after the first led by the header, and decodes to the same totals', () => {
    // 20,000 records: the sample's rows over and over.
    const big = [header, ...Array.from({ length: 20_000 }, (_, i) => rows[i % rows.length])].join('\n') + '\n';
    const pieces = splitAwsFlowLogText(big, 64 * 1024);
    expect(pieces.length).toBeGreaterThan(10);
    for (const p of pieces) expect(p.startsWith(`${header}\n`)).toBe(true);
    // Apart from the repeated header lines, the pieces are the text.
    expect(pieces.map((p, i) => (i === 0 ? p : p.slice(header.length + 1))).join('')).toBe(big);
    expect(decodeAll(pieces)).toEqual(decodeAll([big]));
  });

  it('carries a later header of concatenated objects into the pieces after it, and adds none to text without one', () => {
    const other = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction';
    const row2 = '2 123456789010 eni-1235b8ca123456789 10.0.0.1 10.0.0.2 443 49152 6 10 8000 1620140661 1620140721 ACCEPT OK egress';
    const concatenated = [header, ...rows, ...rows, other, ...Array.from({ length: 3000 }, () => row2)].join('\n') + '\n';
    const pieces = splitAwsFlowLogText(concatenated, 8 * 1024);
    expect(pieces[pieces.length - 1].startsWith(`${other}\n`)).toBe(true);
    expect(decodeAll(pieces)).toEqual(decodeAll([concatenated]));

    const headless = Array.from({ length: 3000 }, () => rows.find((r) => r.endsWith(' OK'))!).join('\n');
    const headlessPieces = splitAwsFlowLogText(headless, 8 * 1024);
    expect(headlessPieces.length).toBeGreaterThan(1);
    expect(headlessPieces.join('')).toBe(headless);
    expect(decodeAll(headlessPieces)).toEqual(decodeAll([headless]));
    expect(decodeAll([headless]).records).toBe(3000);
  });

  it('keeps JSON payloads and small text whole', () => {
    const cw = readFileSync(corpusPath('cloud/aws/otel-contrib/valid_vpc_flow_cw.json'), 'utf8');
    expect(splitAwsFlowLogText(cw, 16)).toEqual([cw]);
    expect(splitAwsFlowLogText(multi, multi.length)).toEqual([multi]);
  });
});
