/**
 * Seed inputs for the decoder fuzzer: every datagram of the edge corpus captures of the protocol,
 * short chains of consecutive datagrams (so a template datagram and the data after it are mutated
 * together), and hand-built datagrams for structures the captures do not contain (variable-length
 * and enterprise fields, withdrawals, sampler options, expanded sFlow samples, counters, IPv6 and
 * tunnelled headers, BGP gateway records).
 */
import { IE, NTOP_V9_BASE, PEN } from '../../src/decoders/information-elements.js';
import {
  concat as nfConcat,
  ipfixMessage,
  ipfixOptionsTemplate,
  ipfixTemplate,
  set,
  v9OptionsTemplate,
  v9Packet,
  v9Template,
  Writer,
} from '../decoders-netflow-helpers.js';
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
  tcp,
  udp,
} from '../decoders-sflow-builder.js';
import { corpusDatagrams } from '../helpers/corpus.js';

export type FuzzProtocol = 'netflow5' | 'netflow9' | 'ipfix' | 'sflow';

/** A seed: one datagram, or several sent in order to the same exporter state. */
export type Seed = Uint8Array[];

export const CORPUS_FILES: Record<FuzzProtocol, string[]> = {
  netflow5: ['softflowd-v5', 'pmacctd-nfprobe-v5', 'softflowd-v5-s10'],
  netflow9: ['softflowd-v9', 'pmacctd-nfprobe-v9', 'pmacctd-nfprobe-v9-s10', 'pmacctd-nfprobe-v9-large'],
  ipfix: ['softflowd-ipfix', 'pmacctd-nfprobe-ipfix', 'softflowd-ipfix-s10'],
  sflow: ['pmacctd-sfprobe-rate1', 'pmacctd-sfprobe-rate10'],
};

function corpusSeeds(protocol: FuzzProtocol): Seed[] {
  const seeds: Seed[] = [];
  for (const name of CORPUS_FILES[protocol]) {
    // Copies: the payloads are views into the capture file's buffer.
    const dgs = corpusDatagrams(`edge/${name}.pcap`).map((d) => new Uint8Array(d.payload));
    for (let i = 0; i < dgs.length; i++) {
      seeds.push([dgs[i]]);
      if (i + 1 < dgs.length) seeds.push([dgs[i], dgs[i + 1]]);
      // The template datagram with data from later in the capture.
      if (i > 1) seeds.push([dgs[0], dgs[i]]);
    }
  }
  return seeds;
}

function v4Flow(w: Writer, src: string, dst: string, bytes: number, packets: number): Writer {
  return w.ipv4(src).ipv4(dst).u16(40000).u16(443).u8(6).u32(bytes).u32(packets);
}

function ipfixSeeds(): Seed[] {
  const flowTpl = ipfixTemplate(256, [
    [IE.sourceIPv4Address, 4],
    [IE.destinationIPv4Address, 4],
    [IE.sourceTransportPort, 2],
    [IE.destinationTransportPort, 2],
    [IE.protocolIdentifier, 1],
    [IE.octetDeltaCount, 4],
    [IE.packetDeltaCount, 4],
  ]);
  const varTpl = ipfixTemplate(257, [
    [IE.sourceIPv6Address, 16],
    [IE.destinationIPv6Address, 16],
    [IE.octetDeltaCount, 8],
    [IE.packetDeltaCount, 8],
    [IE.flowStartMilliseconds, 8],
    [IE.flowEndMilliseconds, 8],
    [IE.applicationName, 65535],
    [IE.interfaceName, 65535],
    [118, 2, PEN.ntop],
    [IE.sourceMacAddress, 6],
    [IE.flowDirection, 1],
  ]);
  const varRecord = new Writer()
    .bytes([0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x10])
    .bytes([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    .u64(123456)
    .u64(99)
    .u64(1_700_000_000_000)
    .u64(1_700_000_001_000)
    .varText('https')
    .varText('eth0', true)
    .u16(7)
    .bytes([2, 0, 0, 0, 0, 0x0a])
    .u8(1)
    .done();
  const optionsTpl = ipfixOptionsTemplate(258, 1, [
    [IE.meteringProcessId, 4],
    [IE.samplingInterval, 4],
    [IE.samplingAlgorithm, 1],
    [IE.systemInitTimeMilliseconds, 8],
  ]);
  const optionsRecord = new Writer().u32(1).u32(10).u8(1).u64(1_699_999_000_000).done();
  const samplerTpl = ipfixOptionsTemplate(259, 1, [
    [IE.selectorId, 4],
    [IE.samplingPacketInterval, 4],
    [IE.samplingPacketSpace, 4],
  ]);
  const samplerRecord = new Writer().u32(5).u32(1).u32(99).done();
  const data = set(256, nfConcat(v4Flow(new Writer(), '192.168.1.10', '192.0.2.1', 1500, 3).done(), v4Flow(new Writer(), '10.0.0.5', '198.51.100.7', 60, 1).done()));
  return [
    [ipfixMessage({ seq: 0 }, set(2, flowTpl), data)],
    [ipfixMessage({ seq: 0 }, set(2, varTpl)), ipfixMessage({ seq: 0 }, set(257, nfConcat(varRecord, varRecord)))],
    [ipfixMessage({ seq: 0 }, set(3, nfConcat(optionsTpl, samplerTpl)), set(258, optionsRecord), set(259, samplerRecord), set(2, flowTpl), data)],
    // Data before its template, then the template: the held set is released.
    [ipfixMessage({ seq: 0, domain: 7 }, data), ipfixMessage({ seq: 2, domain: 7 }, set(2, flowTpl))],
    // Withdrawal of one template, then of all of them.
    [
      ipfixMessage({ seq: 0 }, set(2, flowTpl), data),
      ipfixMessage({ seq: 2 }, set(2, new Writer().u16(256).u16(0).done())),
      ipfixMessage({ seq: 2 }, set(2, nfConcat(flowTpl, new Writer().u16(2).u16(0).done()))),
    ],
  ];
}

function v9Seeds(): Seed[] {
  const tpl = v9Template(300, [
    [IE.sourceIPv4Address, 4],
    [IE.destinationIPv4Address, 4],
    [IE.sourceTransportPort, 2],
    [IE.destinationTransportPort, 2],
    [IE.protocolIdentifier, 1],
    [IE.octetDeltaCount, 4],
    [IE.packetDeltaCount, 4],
    [IE.flowStartSysUpTime, 4],
    [IE.flowEndSysUpTime, 4],
    [IE.samplerId, 1],
    [NTOP_V9_BASE + 118, 2],
    [NTOP_V9_BASE + 123, 4],
  ]);
  const rec = (w: Writer): Writer => v4Flow(w, '192.168.1.23', '203.0.113.9', 4000, 5).u32(90_000).u32(95_000).u8(2).u16(7).u32(12);
  const optTpl = v9OptionsTemplate(301, [[1, 4]], [
    [IE.samplerId, 1],
    [IE.samplerMode, 1],
    [IE.samplerRandomInterval, 4],
  ]);
  const optRec = new Writer().u32(0).u8(2).u8(2).u32(100).done();
  return [
    [v9Packet({ seq: 1 }, set(0, tpl), set(1, optTpl), set(301, optRec, 2), set(300, nfConcat(rec(new Writer()).done(), rec(new Writer()).done())))],
    [v9Packet({ seq: 1, sourceId: 3 }, set(300, rec(new Writer()).done())), v9Packet({ seq: 2, sourceId: 3 }, set(0, tpl))],
    [v9Packet({ seq: 1, unixSecs: 0, uptimeMs: 5 }, set(0, tpl), set(300, rec(new Writer()).done()))],
  ];
}

function sflowSeeds(): Seed[] {
  const tcpHeader = ethernet(0x0800, ipv4('192.168.1.10', '192.0.2.1', 6, tcp(40000, 443, 0x18, 20)));
  const v6Header = ethernet(0x86dd, ipv6('fd12:3456:789a:1::10', '2001:db8::1', 17, udp(5353, 53, new Uint8Array(12)), [{ type: 0, length: 8 }, { type: 44, length: 8 }]));
  const vlanHeader = ethernet(0x0800, ipv4('10.0.0.5', '198.51.100.7', 1, icmp(8, 0)), [{ tpid: 0x8100, vid: 20 }, { tpid: 0x8100, vid: 30 }]);
  const mplsHeader = ethernet(0x8847, mpls([100, 200], ipv4('10.0.0.20', '203.0.113.5', 17, udp(123, 123))));
  const greHeader = ethernet(0x0800, ipv4('192.0.2.10', '192.0.2.20', 47, new Uint8Array([0, 0, 0x08, 0, ...ipv4('10.1.1.1', '10.2.2.2', 6, tcp(1, 2, 2))])));
  const flows = [
    flowSample({ records: [rawHeader(tcpHeader, 1518), extendedSwitch(10), extendedRouter('192.0.2.254')] }),
    flowSample({ expanded: true, inputFormat: 0, input: 0xffffffff, outputFormat: 1, output: 0, records: [rawHeader(v6Header, 200), extendedGateway('2001:db8::fe', 64500, 64501, 64502, [[64503, 64504], [64505]], [1, 2], 100)] }),
    flowSample({ records: [sampledIp({ length: 1500, protocol: 6, src: '192.168.1.51', dst: '192.0.2.8', srcPort: 1883, dstPort: 50000 })] }),
    flowSample({ expanded: true, records: [sampledIp({ length: 80, protocol: 17, src: 'fd12:3456:789a:1::51', dst: '2001:db8::5', srcPort: 5683, dstPort: 5683 })] }),
    flowSample({ records: [rawHeader(vlanHeader, 102)] }),
    flowSample({ records: [rawHeader(mplsHeader, 90)] }),
    flowSample({ records: [rawHeader(greHeader, 90)] }),
  ];
  const counters = [
    counterSample({ records: [genericInterface({ ifIndex: 3, ifSpeed: 1e9, inOctets: 123456789, outOctets: 987654321 })] }),
    counterSample({ expanded: true, sourceIdIndex: 9, records: [genericInterface({ ifIndex: 9, ifSpeed: 1e10 })] }),
  ];
  return [
    [datagram({ samples: flows })],
    [datagram({ agent: '2001:db8::1', samples: [...flows.slice(0, 3), ...counters] })],
    [datagram({ agent: '', samples: counters })],
    [datagram({ sequence: 1, samples: flows.slice(0, 2) }), datagram({ sequence: 5, samples: flows.slice(2, 4) })],
  ];
}

/** Every seed of one protocol: corpus datagrams and chains, then the hand-built ones. */
export function seedsFor(protocol: FuzzProtocol): Seed[] {
  const handBuilt = protocol === 'ipfix' ? ipfixSeeds() : protocol === 'netflow9' ? v9Seeds() : protocol === 'sflow' ? sflowSeeds() : [];
  return [...corpusSeeds(protocol), ...handBuilt];
}
