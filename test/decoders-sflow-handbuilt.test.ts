/**
 * The sFlow decoder on hand-built datagrams: the formats the corpus exporter does not produce
 * (expanded samples, IPv6 agents, VLAN/QinQ/MPLS frames, sampled IPv4/IPv6 records, extended
 * router/gateway, tunnels) and the sequence bookkeeping.
 */
import { describe, expect, it } from 'vitest';
import { HeaderProtocol, HeaderResult, decodePacketHeader } from '../src/decoders/packet-header.js';
import { decodeSflowDatagram, SFLOW_IF_INTERNAL, type InterfaceCounters, type SflowDecodeContext } from '../src/decoders/sflow.js';
import { SflowAgentState } from '../src/decoders/sflow-state.js';
import { createDecodeCounters } from '../src/decoders/types.js';
import { Action, cloneFlowRecord, createFlowRecord, type FlowRecord } from '../src/record.js';
import { formatAddress, formatMac } from '../src/util/address.js';
import {
  counterSample,
  datagram,
  ethernet,
  extendedGateway,
  extendedRouter,
  extendedSwitch,
  flowSample,
  genericInterface,
  icmp,
  ipv4,
  ipv6,
  mpls,
  rawHeader,
  sampledIp,
  tagged,
  tcp,
  udp,
  Xdr,
} from './decoders-sflow-builder.js';

function context(overrides: Partial<SflowDecodeContext> = {}): SflowDecodeContext {
  return { exporter: '198.51.100.7', nowMs: 1_700_000_000_000, state: new SflowAgentState(), counters: createDecodeCounters(), ...overrides };
}

function decode(buf: Uint8Array, ctx = context()) {
  const records: FlowRecord[] = [];
  const counters: InterfaceCounters[] = [];
  decodeSflowDatagram(buf, ctx, (r) => records.push(cloneFlowRecord(r)), (c) => counters.push({ ...c }));
  return { records, counters, ctx };
}

function oneRecord(buf: Uint8Array, ctx = context()): FlowRecord {
  const { records } = decode(buf, ctx);
  expect(records).toHaveLength(1);
  expect(ctx.counters.errors.size).toBe(0);
  return records[0];
}

const addr = (r: FlowRecord) => ({ src: formatAddress(r.af, r.src), dst: formatAddress(r.af, r.dst) });

/** A compact flow sample holding one Ethernet raw header. */
function frameDatagram(frame: Uint8Array, extra: Uint8Array[] = [], headerProtocol: number = HeaderProtocol.ethernet): Uint8Array {
  return datagram({ samples: [flowSample({ records: [...extra, rawHeader(frame, frame.length + 4, headerProtocol)] })] });
}

describe('expanded flow sample, IPv6 agent, IPv6 packet with extension headers', () => {
  const packet = ipv6('2001:db8:1::10', '2001:db8:2::20', 6, tcp(51000, 443, 0x18, 100), [
    { type: 0, length: 8 }, // hop-by-hop
    { type: 43, length: 24 }, // routing
    { type: 44, length: 8, fragmentOffset: 0 }, // first fragment: ports still there
    { type: 60, length: 16 }, // destination options
  ]);
  const frame = ethernet(0x86dd, packet);
  const buf = datagram({
    agent: '2001:db8::1',
    subAgentId: 7,
    sequence: 42,
    samples: [
      flowSample({
        expanded: true,
        sequence: 9,
        sourceIdType: 0,
        sourceIdIndex: 0x01000005, // > 2^24: why the expanded form exists
        samplingRate: 2048,
        samplePool: 100_000,
        input: 0x01000005,
        output: 0xffffffff, // expanded "internal"
        records: [rawHeader(frame, frame.length + 4)],
      }),
    ],
  });

  it('decodes addresses, ports, flags and protocol past the extension headers', () => {
    const ctx = context();
    const r = oneRecord(buf, ctx);
    expect(r.sourceKind).toBe('sflow');
    expect(r.exporter).toBe('2001:db8::1');
    expect(r.observationDomain).toBe(7);
    expect(r.af).toBe(6);
    expect(addr(r)).toEqual({ src: '2001:db8:1::10', dst: '2001:db8:2::20' });
    expect(r.protocol).toBe(6);
    expect([r.srcPort, r.dstPort, r.tcpFlags]).toEqual([51000, 443, 0x18]);
    expect(r.bytes).toBe(frame.length + 4);
    expect(r.packets).toBe(1);
    expect(r.samplingRate).toBe(2048);
    expect(r.inputIf).toBe(0x01000005);
    expect(r.outputIf).toBe(SFLOW_IF_INTERNAL);
    expect(formatMac(r.srcMac)).toBe('02:00:00:00:00:0a');
    expect(formatMac(r.dstMac)).toBe('02:00:00:00:00:0b');
    expect(r.timeStartMs).toBe(ctx.nowMs);
    expect(r.timeEndMs).toBe(ctx.nowMs);
    expect(ctx.state.source('2001:db8::1', 7, 0, 0x01000005)).toMatchObject({ flowSamples: 1, samplingRate: 2048 });
  });

  it('stops at a non-first fragment (no transport header) and walks AH', () => {
    const frag = ipv6('2001:db8:1::10', '2001:db8:2::20', 17, udp(1, 2), [{ type: 44, length: 8, fragmentOffset: 100 }]);
    let r = oneRecord(frameDatagram(ethernet(0x86dd, frag)));
    expect([r.protocol, r.srcPort, r.dstPort]).toEqual([17, 0, 0]);
    const ah = ipv6('2001:db8:1::10', '2001:db8:2::20', 17, udp(5353, 53), [{ type: 51, length: 24 }]);
    r = oneRecord(frameDatagram(ethernet(0x86dd, ah)));
    expect([r.protocol, r.srcPort, r.dstPort]).toEqual([17, 5353, 53]);
  });

  it('decodes ICMPv6 type/code into dstPort, srcPort 0', () => {
    const r = oneRecord(frameDatagram(ethernet(0x86dd, ipv6('fd00::1', 'fd00::2', 58, icmp(128, 0)))));
    expect([r.protocol, r.srcPort, r.dstPort]).toEqual([58, 0, 128 * 256]);
  });
});

describe('VLAN tags', () => {
  const payload = ipv4('10.1.1.1', '10.2.2.2', 17, udp(5000, 53));

  it('802.1Q: the tag gives the VLAN', () => {
    const r = oneRecord(frameDatagram(ethernet(0x0800, payload, [{ tpid: 0x8100, vid: 100, pcp: 5 }])));
    expect(r.vlan).toBe(100);
    expect(addr(r)).toEqual({ src: '10.1.1.1', dst: '10.2.2.2' });
    expect([r.protocol, r.srcPort, r.dstPort]).toEqual([17, 5000, 53]);
  });

  it('QinQ (802.1ad S-tag + C-tag): the outer tag is kept, the inner one skipped', () => {
    const r = oneRecord(frameDatagram(ethernet(0x0800, payload, [{ tpid: 0x88a8, vid: 200 }, { tpid: 0x8100, vid: 300 }])));
    expect(r.vlan).toBe(200);
    expect([r.af, r.srcPort, r.dstPort]).toEqual([4, 5000, 53]);
    const old = oneRecord(frameDatagram(ethernet(0x0800, payload, [{ tpid: 0x9100, vid: 7 }, { tpid: 0x8100, vid: 8 }])));
    expect(old.vlan).toBe(7);
  });

  it('extended switch gives the VLAN of an untagged frame; a tag in the header wins', () => {
    let r = oneRecord(frameDatagram(ethernet(0x0800, payload), [extendedSwitch(42, 43)]));
    expect(r.vlan).toBe(42);
    r = oneRecord(frameDatagram(ethernet(0x0800, payload, [{ tpid: 0x8100, vid: 100 }]), [extendedSwitch(42)]));
    expect(r.vlan).toBe(100);
  });

  it('LLC/SNAP and PPPoE carry IP too', () => {
    const snap = new Xdr().raw([0xaa, 0xaa, 0x03, 0, 0, 0]).u16(0x0800).raw(payload).build();
    let r = oneRecord(frameDatagram(ethernet(snap.length, snap)));
    expect([r.af, r.dstPort]).toEqual([4, 53]);
    const pppoe = new Xdr().u8(0x11).u8(0).u16(1).u16(payload.length + 2).u16(0x0021).raw(payload).build();
    r = oneRecord(frameDatagram(ethernet(0x8864, pppoe)));
    expect([r.af, r.dstPort]).toEqual([4, 53]);
  });
});

describe('MPLS', () => {
  it('skips a label stack in an Ethernet frame', () => {
    const inner = ipv4('192.0.2.1', '198.51.100.2', 6, tcp(40000, 22, 0x02));
    const r = oneRecord(frameDatagram(ethernet(0x8847, mpls([16, 17, 1048575], inner))));
    expect(addr(r)).toEqual({ src: '192.0.2.1', dst: '198.51.100.2' });
    expect([r.protocol, r.srcPort, r.dstPort, r.tcpFlags]).toEqual([6, 40000, 22, 0x02]);
  });

  it('decodes header_protocol 13 (MPLS) with IPv6 inside', () => {
    const inner = ipv6('2001:db8::a', '2001:db8::b', 17, udp(123, 123));
    const r = oneRecord(frameDatagram(mpls([100, 200], inner), [], HeaderProtocol.mpls));
    expect(addr(r)).toEqual({ src: '2001:db8::a', dst: '2001:db8::b' });
    expect(r.dstPort).toBe(123);
    expect(r.hasSrcMac).toBe(false);
  });

  it('does not guess what follows a pseudowire control word', () => {
    const cw = new Xdr().u32(0).raw(ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 2)))).build();
    const r = oneRecord(frameDatagram(ethernet(0x8847, mpls([300], cw))));
    expect(r.af).toBe(0);
    expect(r.hasSrcMac).toBe(true);
  });
});

describe('header protocols other than Ethernet', () => {
  it('IPv4 (11), IPv6 (12) and PPP (7) headers', () => {
    const v4 = ipv4('203.0.113.5', '192.0.2.9', 1, icmp(8, 0), { options: [1, 1, 1, 0] });
    let r = oneRecord(frameDatagram(v4, [], HeaderProtocol.ipv4));
    expect([r.af, r.protocol, r.srcPort, r.dstPort, r.bytes]).toEqual([4, 1, 0, 0x0800, v4.length + 4]);
    r = oneRecord(frameDatagram(ipv6('::1', '::2', 6, tcp(1, 2, 0x11)), [], HeaderProtocol.ipv6));
    expect([r.af, r.tcpFlags]).toEqual([6, 0x11]);
    const ppp = new Xdr().raw([0xff, 0x03]).u16(0x0021).raw(v4).build();
    r = oneRecord(frameDatagram(ppp, [], HeaderProtocol.ppp));
    expect([r.af, r.dstPort]).toEqual([4, 0x0800]);
  });

  it('an unsupported header protocol leaves only the sample fields', () => {
    const r = oneRecord(frameDatagram(new Uint8Array(40), [], 3 /* token ring */));
    expect([r.af, r.bytes, r.packets]).toEqual([0, 44, 1]);
  });

  it('a non-first IPv4 fragment has no ports; a header cut short keeps what it reached', () => {
    let r = oneRecord(frameDatagram(ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(7, 9), { fragmentOffset: 185 }))));
    expect([r.af, r.protocol, r.srcPort, r.dstPort]).toEqual([4, 17, 0, 0]);
    const full = ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1000, 2000, 0x10)));
    r = oneRecord(frameDatagram(full.slice(0, 14 + 20 + 4)));
    expect([r.af, r.srcPort, r.dstPort, r.tcpFlags]).toEqual([4, 1000, 2000, 0]);
    r = oneRecord(frameDatagram(full.slice(0, 14 + 10)));
    expect([r.af, r.hasSrcMac]).toEqual([0, true]);
  });
});

describe('tunnels', () => {
  const inner = ipv4('172.16.0.1', '172.16.0.2', 6, tcp(1234, 80, 0x02));
  const gre = new Xdr().u16(0x2000).u16(0x0800).u32(77 /* key */).raw(inner).build();
  const greFrame = ethernet(0x0800, ipv4('192.0.2.1', '192.0.2.2', 47, gre));
  const vxlanPayload = new Xdr().u32(0x08000000).u32(5000 << 8).raw(ethernet(0x0800, inner)).build();
  const vxlanFrame = ethernet(0x0800, ipv4('192.0.2.1', '192.0.2.2', 17, udp(49152, 4789, vxlanPayload)));

  it('reports the outer packet by default', () => {
    let r = oneRecord(frameDatagram(greFrame));
    expect([addr(r).src, r.protocol]).toEqual(['192.0.2.1', 47]);
    r = oneRecord(frameDatagram(vxlanFrame));
    expect([addr(r).src, r.protocol, r.dstPort]).toEqual(['192.0.2.1', 17, 4789]);
  });

  it('reports the inner packet of GRE and VXLAN with decapsulate', () => {
    for (const frame of [greFrame, vxlanFrame]) {
      const r = oneRecord(frameDatagram(frame), context({ decapsulate: true }));
      expect(addr(r)).toEqual({ src: '172.16.0.1', dst: '172.16.0.2' });
      expect([r.protocol, r.srcPort, r.dstPort, r.tcpFlags]).toEqual([6, 1234, 80, 0x02]);
      expect(r.bytes).toBe(frame.length + 4);
      expect(formatMac(r.srcMac)).toBe('02:00:00:00:00:0a');
    }
  });

  it('IPv6 in IPv4 with decapsulate clears the outer IPv4 bytes', () => {
    const frame = ethernet(0x0800, ipv4('192.0.2.1', '192.0.2.2', 41, ipv6('2001:db8::1', '2001:db8::2', 17, udp(9, 10))));
    const r = oneRecord(frameDatagram(frame), context({ decapsulate: true }));
    expect(addr(r)).toEqual({ src: '2001:db8::1', dst: '2001:db8::2' });
  });

  it('keeps the outer packet when the inner header is cut off', () => {
    const r = oneRecord(frameDatagram(greFrame.slice(0, greFrame.length - inner.length + 10)), context({ decapsulate: true }));
    expect([addr(r).src, r.protocol]).toEqual(['192.0.2.1', 47]);
  });
});

describe('flow records without a raw header', () => {
  it('sampled IPv4 (0:3) fills the record; bytes = its IP length', () => {
    const buf = datagram({
      samples: [
        flowSample({
          samplingRate: 512,
          input: 3,
          output: 4,
          records: [sampledIp({ length: 1500, protocol: 6, src: '10.9.8.7', dst: '192.0.2.99', srcPort: 33000, dstPort: 8883, tcpFlags: 0x18 })],
        }),
      ],
    });
    const r = oneRecord(buf);
    expect(addr(r)).toEqual({ src: '10.9.8.7', dst: '192.0.2.99' });
    expect([r.protocol, r.srcPort, r.dstPort, r.tcpFlags, r.bytes, r.samplingRate, r.inputIf, r.outputIf]).toEqual([6, 33000, 8883, 0x18, 1500, 512, 3, 4]);
    expect(r.hasSrcMac).toBe(false);
  });

  it('sampled IPv6 (0:4) fills the record', () => {
    const r = oneRecord(datagram({ samples: [flowSample({ records: [sampledIp({ length: 80, protocol: 17, src: 'fd12::1', dst: '2001:db8::53', srcPort: 5353, dstPort: 53 })] })] }));
    expect(addr(r)).toEqual({ src: 'fd12::1', dst: '2001:db8::53' });
    expect([r.af, r.protocol, r.bytes, r.dstPort]).toEqual([6, 17, 80, 53]);
  });

  it('a raw header decoded to IP outranks a sampled IPv4 record, whatever their order', () => {
    const frame = ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 2)));
    const sampled = sampledIp({ length: 999, protocol: 6, src: '1.1.1.1', dst: '2.2.2.2', srcPort: 3, dstPort: 4 });
    for (const records of [
      [sampled, rawHeader(frame, 64)],
      [rawHeader(frame, 64), sampled],
    ]) {
      const r = oneRecord(datagram({ samples: [flowSample({ records })] }));
      expect(addr(r)).toEqual({ src: '10.0.0.1', dst: '10.0.0.2' });
      expect([r.protocol, r.bytes]).toEqual([17, 64]);
    }
  });
});

describe('interfaces', () => {
  const frame = ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 2)));
  const sample = (input: number, output: number) => datagram({ samples: [flowSample({ input, output, records: [rawHeader(frame, 64)] })] });

  it('compact: ifIndex, internal, discarded, multiple', () => {
    let r = oneRecord(sample(5, 6));
    expect([r.inputIf, r.outputIf, r.action]).toEqual([5, 6, Action.unknown]);
    r = oneRecord(sample(0x3fffffff, 0x3fffffff));
    expect([r.inputIf, r.outputIf]).toEqual([SFLOW_IF_INTERNAL, SFLOW_IF_INTERNAL]);
    r = oneRecord(sample(5, (1 << 30) | 258)); // discarded, reason 258 (ACL)
    expect([r.inputIf, r.outputIf, r.action]).toEqual([5, 0, Action.reject]);
    r = oneRecord(sample(5, 0x80000000 + 3)); // to 3 interfaces
    expect([r.inputIf, r.outputIf, r.action]).toEqual([5, 0, Action.unknown]);
  });

  it('expanded: format and value words', () => {
    const exp = (inputFormat: number, input: number, outputFormat: number, output: number) =>
      oneRecord(datagram({ samples: [flowSample({ expanded: true, inputFormat, input, outputFormat, output, records: [rawHeader(frame, 64)] })] }));
    let r = exp(0, 0x7fffffff, 0, 0xfffffff0);
    expect([r.inputIf, r.outputIf]).toEqual([0x7fffffff, 0xfffffff0]);
    r = exp(0, 12, 1, 259);
    expect([r.inputIf, r.outputIf, r.action]).toEqual([12, 0, Action.reject]);
    r = exp(0, 12, 2, 4);
    expect([r.outputIf, r.action]).toEqual([0, Action.unknown]);
  });
});

describe('extended router and gateway', () => {
  const frame = ethernet(0x0800, ipv4('10.0.0.1', '192.0.2.2', 17, udp(1, 2)));

  it('next hop and AS numbers go into meta', () => {
    let r = oneRecord(frameDatagram(frame, [extendedRouter('192.0.2.254')]));
    expect(r.meta).toEqual({ nextHop: '192.0.2.254' });
    r = oneRecord(frameDatagram(frame, [extendedGateway('2001:db8::fe', 64500, 64501, 64502, [[64510, 64511], [64520, 65000]], [0x12345678])]));
    expect(r.meta).toEqual({ nextHop: '2001:db8::fe', srcAs: '64501', dstAs: '65000' });
    r = oneRecord(frameDatagram(frame, [extendedGateway('', 1, 2, 3, [])]));
    expect(r.meta).toEqual({ srcAs: '2', dstAs: '0' });
  });

  it('meta does not leak into the next sample', () => {
    const buf = datagram({
      samples: [flowSample({ records: [extendedRouter('192.0.2.254'), rawHeader(frame, 64)] }), flowSample({ sequence: 2, records: [rawHeader(frame, 64)] })],
    });
    const { records } = decode(buf);
    expect(records.map((r) => r.meta)).toEqual([{ nextHop: '192.0.2.254' }, undefined]);
  });
});

describe('counter samples', () => {
  it('expanded counter sample with 64-bit counters reaches the counter sink', () => {
    const buf = datagram({
      agent: '2001:db8::9',
      subAgentId: 3,
      samples: [
        counterSample({
          expanded: true,
          sourceIdType: 0,
          sourceIdIndex: 0x02000001,
          records: [
            tagged(0, 2, new Uint8Array(52)), // ethernet counters: skipped by length
            genericInterface({ ifIndex: 0x02000001, ifSpeed: 10_000_000_000, ifStatus: 1, inOctets: 2 ** 40 + 5, inUcastPkts: 4_000_000_000, outOctets: 2 ** 33, outUcastPkts: 7, inErrors: 14, outDiscards: 23, promiscuous: 1 }),
          ],
        }),
      ],
    });
    const ctx = context();
    const { records, counters } = decode(buf, ctx);
    expect(records).toHaveLength(0);
    expect(ctx.counters.records).toBe(0);
    expect(ctx.counters.errors.size).toBe(0);
    expect(counters).toEqual([
      {
        agent: '2001:db8::9',
        subAgentId: 3,
        sourceIdType: 0,
        sourceIdIndex: 0x02000001,
        sampleSequence: 1,
        ifIndex: 0x02000001,
        ifType: 6,
        ifSpeed: 10_000_000_000,
        ifDirection: 1,
        ifAdminUp: true,
        ifOperUp: false,
        inOctets: 2 ** 40 + 5,
        inUcastPkts: 4_000_000_000,
        inMulticastPkts: 11,
        inBroadcastPkts: 12,
        inDiscards: 13,
        inErrors: 14,
        inUnknownProtos: 15,
        outOctets: 2 ** 33,
        outUcastPkts: 7,
        outMulticastPkts: 21,
        outBroadcastPkts: 22,
        outDiscards: 23,
        outErrors: 24,
        promiscuous: 1,
      },
    ]);
    expect(ctx.state.source('2001:db8::9', 3, 0, 0x02000001)).toMatchObject({ counterSamples: 1, flowSamples: 0 });
  });

  it('compact counter sample; no counter sink is fine', () => {
    const buf = datagram({ samples: [counterSample({ sourceIdIndex: 4, records: [genericInterface({ ifIndex: 4, ifSpeed: 1e9 })] })] });
    const ctx = context();
    decodeSflowDatagram(buf, ctx, () => undefined);
    expect(ctx.counters.errors.size).toBe(0);
    expect(decode(buf).counters.map((c) => [c.sourceIdIndex, c.ifIndex, c.ifSpeed])).toEqual([[4, 4, 1e9]]);
  });
});

describe('unknown formats are skipped by their length', () => {
  it('skips unknown records (enterprise != 0, unknown standard formats) and unknown sample types', () => {
    const frame = ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 6, tcp(80, 1024, 0x11)));
    const buf = datagram({
      samples: [
        tagged(0, 5, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), // discarded-packet sample: not decoded
        tagged(4413, 1, new Uint8Array(12)), // vendor sample using format 1: must not be read as a flow sample
        flowSample({
          records: [
            tagged(4413, 1, new Uint8Array(20)), // vendor record with a standard-looking format number
            tagged(0, 2, new Uint8Array(24)), // sampled ethernet: not used
            tagged(0, 1004, new Uint8Array(8)), // extended user
            rawHeader(frame, 70),
            tagged(9, 4095, new Uint8Array(0)),
          ],
        }),
        counterSample({ records: [tagged(4413, 1, new Uint8Array(88)), tagged(0, 1001, new Uint8Array(4))] }),
      ],
    });
    const ctx = context();
    const { records, counters } = decode(buf, ctx);
    expect(ctx.counters.errors.size).toBe(0);
    expect(counters).toHaveLength(0);
    expect(records).toHaveLength(1);
    expect([addr(records[0]).src, records[0].srcPort, records[0].dstPort, records[0].tcpFlags, records[0].bytes]).toEqual(['10.0.0.1', 80, 1024, 0x11, 70]);
  });
});

describe('agents and sequence numbers', () => {
  const frame = ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 2)));
  const dg = (sequence: number, uptimeMs: number, flowSequence: number, pool: number, drops = 0, agent = '192.0.2.1', subAgentId = 0) =>
    datagram({ agent, subAgentId, sequence, uptimeMs, samples: [flowSample({ sequence: flowSequence, samplingRate: 100, samplePool: pool, drops, records: [rawHeader(frame, 64)] })] });

  it('counts datagram gaps per (agent, sub-agent), ignores duplicates, late datagrams and restarts', () => {
    const ctx = context();
    const run = (buf: Uint8Array) => decodeSflowDatagram(buf, ctx, () => undefined);
    run(dg(1, 100_000, 1, 100));
    run(dg(2, 101_000, 2, 200));
    run(dg(5, 103_000, 5, 500)); // 3 and 4 lost
    expect(ctx.counters.sequenceGapDatagrams).toBe(2);
    run(dg(5, 103_000, 5, 500)); // duplicate
    run(dg(4, 102_500, 4, 400)); // late: older, but within the reorder window
    run(dg(1, 10, 1, 100, 0, '192.0.2.1', 1)); // another sub-agent: its own sequence
    run(dg(2, 20, 2, 200, 0, '192.0.2.1', 1));
    run(dg(6, 104_000, 6, 600));
    expect(ctx.counters.sequenceGapDatagrams).toBe(2);
    run(dg(1, 5, 1, 100)); // agent restarted: uptime and sequence start over
    run(dg(3, 2005, 3, 300)); // 2 lost after the restart
    expect(ctx.counters.sequenceGapDatagrams).toBe(3);
    const agents = ctx.state.agents();
    expect(agents.map((a) => [a.agent, a.subAgentId, a.datagrams, a.sequenceGapDatagrams])).toEqual([
      ['192.0.2.1', 0, 8, 3],
      ['192.0.2.1', 1, 2, 0],
    ]);
    expect(agents[0].restarts).toBe(1);
  });

  it('a late datagram within the reorder window is not a restart', () => {
    const ctx = context();
    const run = (buf: Uint8Array) => decodeSflowDatagram(buf, ctx, () => undefined);
    run(dg(10, 1000, 10, 1000));
    run(dg(12, 1200, 12, 1200)); // 11 missing
    run(dg(11, 1200, 11, 1100)); // arrives late (same uptime second)
    run(dg(13, 1300, 13, 1300));
    expect(ctx.counters.sequenceGapDatagrams).toBe(1);
    expect(ctx.state.agents()[0].restarts).toBe(0);
  });

  it('flow-sample sequence gaps and drops give the samples lost; the pool gives the effective rate', () => {
    const ctx = context();
    const run = (buf: Uint8Array) => decodeSflowDatagram(buf, ctx, () => undefined);
    run(dg(1, 1000, 1, 1000));
    run(dg(2, 2000, 2, 1100));
    run(dg(3, 3000, 5, 1500, 2)); // flow samples 3, 4 missing (a datagram lost upstream); 2 drops
    run(dg(4, 4000, 6, 1600, 2));
    const s = ctx.state.source('192.0.2.1', 0, 0, 1)!;
    expect(s).toMatchObject({ samplingRate: 100, flowSamples: 4, sequenceGapSamples: 2, drops: 2, samplesLost: 4, samplePoolDelta: 600, poolSamples: 3 });
    // 600 packets went by for 3 samples received after the first: each stands for 200 packets.
    expect(s.effectiveRate).toBe(200);
    expect(ctx.state.samplesLost).toBe(4);
    expect(ctx.counters.sequenceGapDatagrams).toBe(0);
  });

  it('agent address type 0 (unknown) takes the UDP source as exporter', () => {
    const buf = datagram({ agent: '', samples: [flowSample({ records: [rawHeader(frame, 64)] })] });
    expect(oneRecord(buf).exporter).toBe('198.51.100.7');
  });

  it('bounds the agents it tracks', () => {
    const ctx = context({ state: new SflowAgentState({ maxAgents: 2 }) });
    for (let i = 0; i < 5; i++) {
      const r = oneRecord(dg(1, 1, 1, 1, 0, `192.0.2.${i + 1}`), ctx);
      expect(r.exporter).toBe(`192.0.2.${i + 1}`);
    }
    expect(ctx.state.agents()).toHaveLength(2);
    expect(ctx.state.untrackedAgentDatagrams).toBe(3);
  });
});

describe('packet header parser on its own', () => {
  it('reports how deep it got', () => {
    const rec = createFlowRecord();
    const arp = ethernet(0x0806, new Uint8Array(28));
    expect(decodePacketHeader(arp, 0, arp.length, HeaderProtocol.ethernet, rec)).toBe(HeaderResult.l2);
    const frame = ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 50, new Uint8Array(8)));
    expect(decodePacketHeader(frame, 0, frame.length, HeaderProtocol.ethernet, rec)).toBe(HeaderResult.l3);
    const tcpFrame = ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 0)));
    expect(decodePacketHeader(tcpFrame, 0, tcpFrame.length, HeaderProtocol.ethernet, rec)).toBe(HeaderResult.l4);
    expect(decodePacketHeader(tcpFrame, 0, 5, HeaderProtocol.ethernet, rec)).toBe(HeaderResult.none);
    // `end` past the buffer is clamped, never read.
    expect(decodePacketHeader(tcpFrame, 0, tcpFrame.length + 100, HeaderProtocol.ethernet, rec)).toBe(HeaderResult.l4);
  });
});
