/**
 * Template handling and record filling on hand-built NetFlow v9 / IPFIX messages: scoping by
 * domain, refresh, withdrawal, variable-length and enterprise fields, time elements, sampling
 * announcements, vendor elements, limits.
 */
import { describe, expect, it } from 'vitest';
import { Direction } from '../src/record.js';
import { formatMac } from '../src/util/address.js';
import {
  dst,
  ipfixMessage,
  ipfixOptionsTemplate,
  ipfixTemplate,
  makeDecoder,
  set,
  src,
  v9OptionsTemplate,
  v9Packet,
  v9Template,
  Writer,
  type FieldDef,
} from './decoders-netflow-helpers.js';

const V4: FieldDef[] = [
  [8, 4],
  [12, 4],
  [1, 4],
  [2, 4],
  [4, 1],
];
const v4Record = (w: Writer, s: string, d: string, bytes: number, packets: number, proto = 6): Writer =>
  w.ipv4(s).ipv4(d).u32(bytes).u32(packets).u8(proto);

describe('template scoping', () => {
  it('two IPFIX domains with the same template id and different layouts decode independently', () => {
    const dec = makeDecoder();
    // Domain 1: template 256 = addresses, bytes, packets, protocol.
    dec.decode(
      ipfixMessage(
        { domain: 1 },
        set(2, ipfixTemplate(256, V4)),
        set(256, v4Record(new Writer(), '10.0.0.1', '192.0.2.1', 1000, 10).done()),
      ),
    );
    // Domain 2: template 256 = packets (8 bytes) first, then bytes, then addresses.
    const other: FieldDef[] = [
      [2, 8],
      [1, 8],
      [8, 4],
      [12, 4],
    ];
    dec.decode(
      ipfixMessage(
        { domain: 2 },
        set(2, ipfixTemplate(256, other)),
        set(256, new Writer().u64(7).u64(700).ipv4('10.0.0.2').ipv4('192.0.2.2').done()),
      ),
    );
    // Data for both domains again, without templates.
    dec.decode(ipfixMessage({ domain: 1, seq: 1 }, set(256, v4Record(new Writer(), '10.0.0.1', '192.0.2.1', 2000, 20).done())));
    dec.decode(ipfixMessage({ domain: 2, seq: 1 }, set(256, new Writer().u64(8).u64(800).ipv4('10.0.0.2').ipv4('192.0.2.2').done())));
    const got = dec.records.map((r) => [r.observationDomain, src(r), dst(r), r.bytes, r.packets]);
    expect(got).toEqual([
      [1, '10.0.0.1', '192.0.2.1', 1000, 10],
      [2, '10.0.0.2', '192.0.2.2', 700, 7],
      [1, '10.0.0.1', '192.0.2.1', 2000, 20],
      [2, '10.0.0.2', '192.0.2.2', 800, 8],
    ]);
    expect(dec.ctx.state.templates().map((t) => [t.protocol, t.domain, t.id, t.fields.length])).toEqual([
      ['ipfix', 1, 256, 5],
      ['ipfix', 2, 256, 4],
    ]);
  });

  it('NetFlow v9 source ids and IPFIX domains of one exporter do not share templates', () => {
    const dec = makeDecoder();
    dec.decode(v9Packet({ sourceId: 0 }, set(0, v9Template(300, V4))));
    // IPFIX domain 0 has no template 300: its data waits.
    dec.decode(ipfixMessage({ domain: 0 }, set(300, v4Record(new Writer(), '10.0.0.1', '192.0.2.1', 1, 1).done())));
    expect(dec.records).toHaveLength(0);
    expect(dec.ctx.counters.pendingRecords).toBe(1);
    dec.decode(v9Packet({ sourceId: 0, seq: 2 }, set(300, v4Record(new Writer(), '10.0.0.1', '192.0.2.1', 5, 1).done())));
    expect(dec.records.map((r) => [r.sourceKind, r.bytes])).toEqual([['netflow9', 5]]);
  });

  it('a template refresh with a new layout replaces the old one', () => {
    const dec = makeDecoder();
    dec.decode(ipfixMessage({}, set(2, ipfixTemplate(256, V4)), set(256, v4Record(new Writer(), '10.0.0.1', '192.0.2.1', 100, 1).done())));
    const swapped: FieldDef[] = [
      [12, 4],
      [8, 4],
      [2, 4],
      [1, 4],
      [4, 1],
    ];
    dec.decode(
      ipfixMessage({ seq: 1 }, set(2, ipfixTemplate(256, swapped)), set(256, v4Record(new Writer(), '192.0.2.1', '10.0.0.1', 3, 300).done())),
    );
    expect(dec.records.map((r) => [src(r), dst(r), r.bytes, r.packets])).toEqual([
      ['10.0.0.1', '192.0.2.1', 100, 1],
      ['10.0.0.1', '192.0.2.1', 300, 3],
    ]);
    expect(dec.ctx.counters.templatesReceived).toBe(2);
    // An identical refresh keeps the compiled reader.
    const before = dec.ctx.state.domain(10, 0)?.templates.get(256)?.reader;
    dec.decode(ipfixMessage({ seq: 2 }, set(2, ipfixTemplate(256, swapped))));
    expect(dec.ctx.state.domain(10, 0)?.templates.get(256)?.reader).toBe(before);
  });

  it('IPFIX withdrawal removes one template; ids 2 and 3 withdraw all data / options templates', () => {
    const dec = makeDecoder();
    const rec = v4Record(new Writer(), '10.0.0.1', '192.0.2.1', 100, 1).done();
    dec.decode(
      ipfixMessage(
        {},
        set(2, new Writer().bytes(ipfixTemplate(256, V4)).bytes(ipfixTemplate(257, V4)).done()),
        set(3, ipfixOptionsTemplate(258, 1, [[149, 4], [34, 4]])),
      ),
    );
    expect(dec.ctx.state.templates().map((t) => t.id)).toEqual([256, 257, 258]);
    dec.decode(ipfixMessage({}, set(2, new Writer().u16(256).u16(0).done())));
    expect(dec.ctx.state.templates().map((t) => t.id)).toEqual([257, 258]);
    expect(dec.ctx.counters.templatesWithdrawn).toBe(1);
    // Data for the withdrawn template is not decoded with the old layout.
    dec.decode(ipfixMessage({}, set(256, rec), set(257, rec)));
    expect(dec.records.map((r) => r.bytes)).toEqual([100]);
    dec.decode(ipfixMessage({}, set(2, new Writer().u16(2).u16(0).done())));
    expect(dec.ctx.state.templates().map((t) => t.id)).toEqual([258]);
    dec.decode(ipfixMessage({}, set(3, new Writer().u16(3).u16(0).done())));
    expect(dec.ctx.state.templates()).toEqual([]);
    expect(dec.ctx.counters.templatesWithdrawn).toBe(3);
    expect(Object.fromEntries(dec.ctx.counters.errors)).toEqual({});
  });
});

describe('fields', () => {
  it('reads variable-length fields (1- and 3-byte lengths) and skips unknown enterprise fields', () => {
    const dec = makeDecoder();
    const fields: FieldDef[] = [
      [8, 4],
      [12, 4],
      [1, 4],
      [2, 4],
      [96, 65535], // applicationName, variable
      [7, 65535, 99999], // unknown enterprise element, variable
      [1, 3, 99999], // unknown enterprise element that shares an IANA id: must not be read as bytes
      [95, 4], // applicationId
    ];
    const rec = (name: string, long: boolean): Writer =>
      new Writer()
        .ipv4('10.0.0.1')
        .ipv4('192.0.2.1')
        .u32(1234)
        .u32(5)
        .varText(name, long)
        .varText('x'.repeat(300))
        .u8(0xff, 0xff, 0xff)
        .u32(0x0d000050);
    const data = new Writer().bytes(rec('HTTPS', false).done()).bytes(rec('MQTT', true).done()).u8(0, 0).done();
    dec.decode(ipfixMessage({}, set(2, ipfixTemplate(256, fields)), set(256, data)));
    expect(dec.records.map((r) => [r.appName, r.appId, r.bytes, r.packets])).toEqual([
      ['HTTPS', 0x0d000050, 1234, 5],
      ['MQTT', 0x0d000050, 1234, 5],
    ]);
    expect(Object.fromEntries(dec.ctx.counters.errors)).toEqual({});
  });

  it('fills ports, flags, interfaces, direction, MACs and VLAN', () => {
    const dec = makeDecoder();
    const fields: FieldDef[] = [
      [27, 16],
      [28, 16],
      [7, 2],
      [11, 2],
      [4, 1],
      [6, 1],
      [10, 4],
      [14, 4],
      [61, 1],
      [56, 6],
      [80, 6],
      [58, 2],
      [85, 8], // octetTotalCount: used because there is no octetDeltaCount
      [86, 8],
    ];
    const data = new Writer()
      .bytes([0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x10])
      .bytes([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53])
      .u16(41001)
      .u16(53)
      .u8(17)
      .u8(0x1b)
      .u32(3)
      .u32(7)
      .u8(1)
      .bytes([2, 0, 0, 0, 0, 1])
      .bytes([2, 0, 0, 0, 0, 2])
      .u16(0x1064) // PCP bits set, VLAN 100
      .u64(2 ** 40 + 5)
      .u64(9)
      .done();
    dec.decode(ipfixMessage({}, set(2, ipfixTemplate(300, fields)), set(300, data)));
    const r = dec.records[0];
    expect([r.af, src(r), dst(r), r.srcPort, r.dstPort, r.protocol, r.tcpFlags, r.inputIf, r.outputIf]).toEqual([
      6,
      'fd12:3456:789a:1::10',
      '2001:db8::53',
      41001,
      53,
      17,
      0x1b,
      3,
      7,
    ]);
    expect(r.direction).toBe(Direction.egress);
    expect([r.hasSrcMac, formatMac(r.srcMac), r.hasDstMac, formatMac(r.dstMac), r.vlan]).toEqual([
      true,
      '02:00:00:00:00:01',
      true,
      '02:00:00:00:00:02',
      100,
    ]);
    expect([r.bytes, r.packets, r.samplingRate, r.rttMs]).toEqual([2 ** 40 + 5, 9, 1, NaN]);
  });

  it('puts the ICMP type/code element in the destination port when there is no port field', () => {
    const dec = makeDecoder();
    dec.decode(
      v9Packet(
        {},
        set(0, v9Template(1025, [[8, 4], [12, 4], [32, 2], [4, 1]])),
        set(1025, new Writer().ipv4('10.0.0.5').ipv4('203.0.113.250').u16(0x0800).u8(1).done()),
      ),
    );
    expect([dec.records[0].dstPort, dec.records[0].srcPort, dec.records[0].protocol]).toEqual([0x0800, 0, 1]);
  });

  it('reads nProbe L7 protocol name and latencies (IPFIX PEN 35632 and NetFlow v9 57472+id)', () => {
    const dec = makeDecoder();
    const ipfixFields: FieldDef[] = [
      [8, 4],
      [12, 4],
      [118, 2, 35632],
      [119, 65535, 35632],
      [123, 4, 35632],
      [124, 4, 35632],
    ];
    dec.decode(
      ipfixMessage(
        {},
        set(2, ipfixTemplate(400, ipfixFields)),
        set(400, new Writer().ipv4('10.0.0.1').ipv4('192.0.2.9').u16(91).varText('TLS.YouTube').u32(12).u32(30).done()),
      ),
    );
    dec.decode(
      v9Packet(
        {},
        set(0, v9Template(401, [[8, 4], [12, 4], [57590, 2], [57591, 16], [57595, 4], [57596, 4]])),
        set(401, new Writer().ipv4('10.0.0.1').ipv4('192.0.2.9').u16(7).text('HTTP', 16).u32(5).u32(6).done()),
      ),
    );
    expect(dec.records.map((r) => [r.appId, r.appName, r.rttMs])).toEqual([
      [91, 'TLS.YouTube', 42],
      [7, 'HTTP', 11],
    ]);
  });

  it('reads Cisco AVC network delay sums (PEN 9) as an average RTT per new connection', () => {
    const dec = makeDecoder();
    const fields: FieldDef[] = [
      [8, 4],
      [12, 4],
      [96, 65535],
      [9282, 4, 9],
      [9316, 4, 9],
      [9319, 4, 9],
    ];
    dec.decode(
      ipfixMessage(
        {},
        set(2, ipfixTemplate(402, fields)),
        set(402, new Writer().ipv4('10.0.0.1').ipv4('192.0.2.9').varText('webex').u32(4).u32(40).u32(80).done()),
      ),
    );
    expect([dec.records[0].appName, dec.records[0].rttMs]).toEqual(['webex', 30]);
  });
});

describe('time elements', () => {
  const base: FieldDef[] = [
    [8, 4],
    [12, 4],
  ];
  const addr = (w: Writer): Writer => w.ipv4('10.0.0.1').ipv4('192.0.2.1');
  const NTP = 2208988800;

  it('IPFIX seconds, milliseconds, NTP microseconds and nanoseconds', () => {
    const dec = makeDecoder();
    dec.decode(
      ipfixMessage(
        {},
        set(
          2,
          new Writer()
            .bytes(ipfixTemplate(256, [...base, [150, 4], [151, 4]]))
            .bytes(ipfixTemplate(257, [...base, [152, 8], [153, 8]]))
            .bytes(ipfixTemplate(258, [...base, [154, 8], [155, 8]]))
            .bytes(ipfixTemplate(259, [...base, [156, 8], [157, 8]]))
            .done(),
        ),
        set(256, addr(new Writer()).u32(1_700_000_000).u32(1_700_000_002).done()),
        set(257, addr(new Writer()).u64(1_700_000_000_250).u64(1_700_000_002_500).done()),
        // 0x80000000 / 2^32 = 0.5 s
        set(258, addr(new Writer()).u32(1_700_000_000 + NTP).u32(0x80000000).u32(1_700_000_003 + NTP).u32(0).done()),
        set(259, addr(new Writer()).u32(1_700_000_004 + NTP).u32(0x40000000).u32(1_700_000_005 + NTP).u32(0xc0000000).done()),
      ),
    );
    expect(dec.records.map((r) => [r.timeStartMs, r.timeEndMs])).toEqual([
      [1_700_000_000_000, 1_700_000_002_000],
      [1_700_000_000_250, 1_700_000_002_500],
      [1_700_000_000_500, 1_700_000_003_000],
      [1_700_000_004_250, 1_700_000_005_750],
    ]);
  });

  it('IPFIX sysUpTime elements are relative to systemInitTimeMilliseconds from options data', () => {
    const dec = makeDecoder();
    dec.decode(
      ipfixMessage(
        {},
        set(3, ipfixOptionsTemplate(300, 1, [[143, 4], [160, 8]])),
        set(300, new Writer().u32(1).u64(1_700_000_000_026).done()),
        set(2, ipfixTemplate(256, [...base, [22, 4], [21, 4]])),
        set(256, addr(new Writer()).u32(1000).u32(4500).done()),
      ),
    );
    expect([dec.records[0].timeStartMs, dec.records[0].timeEndMs]).toEqual([1_700_000_001_026, 1_700_000_004_526]);
    expect(dec.ctx.counters.optionsRecords).toBe(1);
  });

  it('IPFIX delta microseconds are relative to the export time', () => {
    const dec = makeDecoder();
    dec.decode(
      ipfixMessage(
        { exportSecs: 1_700_000_100 },
        set(2, ipfixTemplate(256, [...base, [158, 4], [159, 4]])),
        set(256, addr(new Writer()).u32(5_000_000).u32(1_500).done()),
      ),
    );
    expect([dec.records[0].timeStartMs, dec.records[0].timeEndMs]).toEqual([1_700_000_095_000, 1_700_000_099_998.5]);
  });

  it('NetFlow v9 sysUptime elements are relative to the header, across an uptime wrap', () => {
    const dec = makeDecoder();
    const tpl = set(0, v9Template(256, [...base, [22, 4], [21, 4]]));
    dec.decode(v9Packet({ uptimeMs: 100_000, unixSecs: 1_700_000_100 }, tpl, set(256, addr(new Writer()).u32(40_000).u32(99_000).done())));
    // Uptime wrapped: the header is at 500 ms past the wrap, the flow started 1 s before it.
    dec.decode(v9Packet({ uptimeMs: 500, unixSecs: 1_700_000_200, seq: 2 }, set(256, addr(new Writer()).u32(2 ** 32 - 1000).u32(400).done())));
    expect(dec.records.map((r) => [r.timeStartMs, r.timeEndMs])).toEqual([
      [1_700_000_040_000, 1_700_000_099_000],
      [1_700_000_198_500, 1_700_000_199_900],
    ]);
  });
});

describe('sampling', () => {
  const data = (w: Writer, samplerId?: number): Uint8Array => {
    w.ipv4('10.0.0.1').ipv4('192.0.2.1').u32(100).u32(1);
    if (samplerId !== undefined) w.u8(samplerId);
    return w.done();
  };
  const plain: FieldDef[] = [
    [8, 4],
    [12, 4],
    [1, 4],
    [2, 4],
  ];

  it('NetFlow v9 samplingInterval (34) in options data applies to the domain', () => {
    const dec = makeDecoder();
    dec.decode(
      v9Packet(
        { sourceId: 3 },
        set(1, v9OptionsTemplate(256, [[2, 4]], [[34, 4], [35, 1]])),
        set(256, new Writer().u32(0).u32(64).u8(1).done(), 3),
        set(0, v9Template(257, plain)),
        set(257, data(new Writer())),
      ),
    );
    // Another source id of the same exporter has announced nothing.
    dec.decode(v9Packet({ sourceId: 4 }, set(0, v9Template(257, plain)), set(257, data(new Writer()))));
    expect(dec.records.map((r) => [r.observationDomain, r.samplingRate, r.bytes])).toEqual([
      [3, 64, 100],
      [4, 1, 100],
    ]);
    expect(dec.ctx.state.sampling()).toEqual([{ protocol: 'netflow9', domain: 3, rate: 64, samplers: [] }]);
  });

  it('IPFIX samplingPacketInterval/Space (305/306): rate = (interval + space) / interval', () => {
    const dec = makeDecoder();
    dec.decode(
      ipfixMessage(
        {},
        set(3, ipfixOptionsTemplate(256, 1, [[143, 4], [305, 4], [306, 4]])),
        set(256, new Writer().u32(1).u32(2).u32(8).done()),
        set(2, ipfixTemplate(257, plain)),
        set(257, data(new Writer())),
      ),
    );
    expect(dec.records[0].samplingRate).toBe(5);
  });

  it('sampler id indirection: records pick the rate announced for their sampler (48 and 302)', () => {
    const dec = makeDecoder({ defaultSamplingRate: 3 });
    const opts = new Writer().u32(0).u8(1).u8(2).u32(10).u32(0).u8(2).u8(2).u32(100).done();
    dec.decode(
      v9Packet(
        {},
        set(1, v9OptionsTemplate(4096, [[1, 4]], [[48, 1], [49, 1], [50, 4]])),
        set(4096, opts),
        set(0, v9Template(1024, [...plain, [48, 1]])),
        set(1024, new Writer().bytes(data(new Writer(), 1)).bytes(data(new Writer(), 2)).bytes(data(new Writer(), 9)).done()),
      ),
    );
    // Sampler 9 was never announced: the domain's last announced rate applies.
    expect(dec.records.map((r) => r.samplingRate)).toEqual([10, 100, 100]);

    const ipfix = makeDecoder();
    ipfix.decode(
      ipfixMessage(
        {},
        set(3, ipfixOptionsTemplate(256, 1, [[302, 4], [305, 4], [306, 4]])),
        set(256, new Writer().u32(7).u32(1).u32(19).u32(8).u32(1).u32(0).done()),
        set(2, ipfixTemplate(257, [...plain, [302, 4]])),
        set(257, new Writer().bytes(data(new Writer())).u32(7).bytes(data(new Writer())).u32(8).done()),
      ),
    );
    expect(ipfix.records.map((r) => r.samplingRate)).toEqual([20, 1]);
  });

  it('options data later in the same message still applies to the data before it', () => {
    const dec = makeDecoder();
    dec.decode(
      v9Packet(
        {},
        set(0, v9Template(257, plain)),
        set(257, data(new Writer())),
        set(1, v9OptionsTemplate(256, [[2, 4]], [[34, 4]])),
        set(256, new Writer().u32(0).u32(16).done()),
      ),
    );
    expect(dec.records[0].samplingRate).toBe(16);
  });

  it('the default rate applies when nothing is announced; the override always wins', () => {
    const plainMsg = v9Packet({}, set(0, v9Template(257, plain)), set(257, data(new Writer())));
    const dflt = makeDecoder({ defaultSamplingRate: 512 });
    dflt.decode(plainMsg);
    expect(dflt.records[0].samplingRate).toBe(512);
    const over = makeDecoder({ samplingRateOverride: 1000 });
    over.decode(
      v9Packet(
        {},
        set(1, v9OptionsTemplate(256, [[2, 4]], [[34, 4]])),
        set(256, new Writer().u32(0).u32(64).done()),
        set(0, v9Template(257, plain)),
        set(257, data(new Writer())),
      ),
    );
    expect(over.records[0].samplingRate).toBe(1000);
  });

  it('a samplingInterval carried in the data record itself applies to that record', () => {
    const dec = makeDecoder();
    dec.decode(v9Packet({}, set(0, v9Template(257, [...plain, [34, 4]])), set(257, new Writer().bytes(data(new Writer())).u32(32).done())));
    expect(dec.records[0].samplingRate).toBe(32);
  });
});

describe('limits', () => {
  it('refuses templates with more fields than maxFieldsPerTemplate (template_limit)', () => {
    const dec = makeDecoder({ limits: { maxFieldsPerTemplate: 4 } });
    dec.decode(ipfixMessage({}, set(2, ipfixTemplate(256, V4))));
    expect(dec.ctx.counters.errors.get('template_limit')).toBe(1);
    expect(dec.ctx.state.templates()).toEqual([]);
  });

  it('refuses new templates beyond maxTemplatesPerDomain, refreshes still work', () => {
    const dec = makeDecoder({ limits: { maxTemplatesPerDomain: 2 } });
    const t = new Writer().bytes(ipfixTemplate(256, V4)).bytes(ipfixTemplate(257, V4)).bytes(ipfixTemplate(258, V4)).done();
    dec.decode(ipfixMessage({}, set(2, t)));
    dec.decode(ipfixMessage({}, set(2, ipfixTemplate(257, V4))));
    expect(dec.ctx.state.templates().map((x) => x.id)).toEqual([256, 257]);
    expect(dec.ctx.counters.errors.get('template_limit')).toBe(1);
    expect(dec.ctx.counters.templatesReceived).toBe(3);
  });

  it('refuses domains beyond maxDomains', () => {
    const dec = makeDecoder({ limits: { maxDomains: 2 } });
    for (let d = 0; d < 4; d++) dec.decode(ipfixMessage({ domain: d }, set(2, ipfixTemplate(256, V4))));
    expect(dec.ctx.state.templates().map((x) => x.domain)).toEqual([0, 1]);
    expect(dec.ctx.counters.errors.get('template_limit')).toBe(2);
  });

  it('refuses sampler ids beyond maxSamplersPerDomain', () => {
    const dec = makeDecoder({ limits: { maxSamplersPerDomain: 1 } });
    dec.decode(
      v9Packet(
        {},
        set(1, v9OptionsTemplate(4096, [[1, 4]], [[48, 1], [50, 4]])),
        set(4096, new Writer().u32(0).u8(1).u32(10).u32(0).u8(2).u32(100).done()),
      ),
    );
    expect(dec.ctx.state.sampling()).toEqual([{ protocol: 'netflow9', domain: 0, rate: 10, samplers: [{ id: 1, rate: 10 }] }]);
    expect(dec.ctx.counters.errors.get('template_limit')).toBe(1);
  });

  it('rejects unknown or negative limits with a clear error', async () => {
    const { NetflowExporterState } = await import('../src/decoders/netflow-state.js');
    expect(() => new NetflowExporterState({ maxDomains: -1 })).toThrow(/maxDomains/);
    expect(() => new NetflowExporterState({ nope: 1 } as never)).toThrow(/unknown NetFlow state limit "nope"/);
  });
});
