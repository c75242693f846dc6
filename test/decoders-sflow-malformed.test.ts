/**
 * Malformed sFlow: every rejected datagram throws DecodeError with its reason, every problem inside a
 * datagram is counted and decoding goes on where the lengths allow; random and mutated datagrams
 * never crash, hang or read outside the datagram, and the state still decodes good datagrams after.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeaderProtocol, decodePacketHeader } from '../src/decoders/packet-header.js';
import { decodeSflowDatagram, isSflowDatagram, type InterfaceCounters, type SflowDecodeContext } from '../src/decoders/sflow.js';
import { SflowAgentState } from '../src/decoders/sflow-state.js';
import { createDecodeCounters, DecodeError, type DecodeErrorReason } from '../src/decoders/types.js';
import { cloneFlowRecord, createFlowRecord, resetFlowRecord, type FlowRecord } from '../src/record.js';
import {
  counterSample,
  datagram,
  ethernet,
  extendedGateway,
  flowSample,
  genericInterface,
  ipv4,
  ipv6,
  rawHeader,
  sampledIp,
  tagged,
  tcp,
  udp,
  Xdr,
} from './decoders-sflow-builder.js';
import { corpusDatagrams } from './helpers/corpus.js';

function context(): SflowDecodeContext {
  return { exporter: '192.0.2.200', nowMs: 1_700_000_000_000, state: new SflowAgentState(), counters: createDecodeCounters() };
}

function decode(buf: Uint8Array, ctx = context()) {
  const records: FlowRecord[] = [];
  const counters: InterfaceCounters[] = [];
  decodeSflowDatagram(buf, ctx, (r) => records.push(cloneFlowRecord(r)), (c) => counters.push({ ...c }));
  return { records, counters, errors: Object.fromEntries(ctx.counters.errors), ctx };
}

function rejects(buf: Uint8Array, reason: DecodeErrorReason): void {
  const ctx = context();
  let thrown: unknown;
  try {
    decodeSflowDatagram(buf, ctx, () => undefined);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(DecodeError);
  expect((thrown as DecodeError).reason).toBe(reason);
  expect((thrown as DecodeError).message).toMatch(/sFlow/);
  // The caller counts the thrown reason; the decoder counts the datagram only.
  expect(ctx.counters.errors.size).toBe(0);
  expect(ctx.counters.datagrams).toBe(1);
  expect(ctx.counters.records).toBe(0);
}

const frame = ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1000, 443, 0x10)));
const goodFlow = (sequence = 1) => flowSample({ sequence, samplingRate: 10, records: [rawHeader(frame, frame.length + 4)] });

/** A tagged structure whose declared length differs from the bytes that follow. */
function lying(format: number, declared: number, body: Uint8Array): Uint8Array {
  return new Xdr().u32(format).u32(declared).raw(body).build();
}

describe('rejected datagrams', () => {
  it('too short for a header: 0, 1 and 7 bytes, and a header cut inside', () => {
    rejects(new Uint8Array(0), 'truncated_header');
    rejects(new Uint8Array([0]), 'truncated_header');
    rejects(new Uint8Array([0, 0, 0, 5, 0, 0, 0]), 'truncated_header');
    const whole = datagram({ samples: [] });
    rejects(whole.slice(0, whole.length - 1), 'truncated_header');
    // An IPv6 agent address needs 16 bytes, not 4.
    const v6 = datagram({ agent: '2001:db8::1', samples: [] });
    rejects(v6.slice(0, 8 + 4 + 16), 'truncated_header');
  });

  it('version other than 5 (NetFlow v5 and sFlow v4 included)', () => {
    rejects(datagram({ version: 4, samples: [] }), 'unknown_version');
    const netflow5 = new Xdr().u16(5).u16(1).u32(1).u32(2).u32(3).u32(4).u32(0).build();
    expect(isSflowDatagram(netflow5)).toBe(false);
    rejects(netflow5, 'unknown_version');
    expect(isSflowDatagram(datagram({ samples: [] }))).toBe(true);
    expect(isSflowDatagram(new Uint8Array([0, 0, 0]))).toBe(false);
  });

  it('agent address type other than 0, 1, 2', () => {
    const buf = datagram({ samples: [] });
    buf[7] = 3;
    rejects(buf, 'unsupported');
  });
});

describe('problems inside a datagram are counted, decoding goes on', () => {
  it('0xFFFFFFFF samples in a ~100-byte datagram: counted once, the loop is bounded by the bytes', () => {
    const buf = datagram({ sampleCount: 0xffffffff, samples: [goodFlow()] });
    expect(buf.length).toBeLessThan(200);
    const t0 = performance.now();
    const { records, errors } = decode(buf);
    expect(performance.now() - t0).toBeLessThan(50);
    expect(records).toHaveLength(1);
    expect(errors).toEqual({ too_many_samples: 1 });
  });

  it('a count a little too high is counted when the bytes run out', () => {
    const buf = datagram({ sampleCount: 3, samples: [goodFlow(1), goodFlow(2)] });
    const { records, errors } = decode(buf);
    expect(records).toHaveLength(2);
    expect(errors).toEqual({ too_many_samples: 1 });
  });

  it('a sample length overrunning the datagram stops decoding; earlier samples stand', () => {
    const bad = lying(1, 10_000, new Uint8Array(40));
    const { records, errors } = decode(datagram({ samples: [goodFlow(1), bad, goodFlow(3)] }));
    expect(records).toHaveLength(1);
    expect(errors).toEqual({ truncated_record: 1 });
  });

  it('a record overrunning its sample drops that sample only', () => {
    const body = new Xdr().u32(2).u32(0x01).u32(10).u32(100).u32(0).u32(0).u32(0).u32(1).raw(lying(1, 500, new Uint8Array(16))).build();
    const { records, errors } = decode(datagram({ samples: [tagged(0, 1, body), goodFlow(2)] }));
    expect(records).toHaveLength(1);
    expect(records[0].srcPort).toBe(1000);
    expect(errors).toEqual({ bad_sample: 1 });
  });

  it('an absurd record count drops the sample without looping on it', () => {
    const sample = flowSample({ recordCount: 0xffffffff, records: [rawHeader(frame, 64)] });
    const { records, errors } = decode(datagram({ samples: [sample, goodFlow(2)] }));
    expect(records).toHaveLength(1);
    expect(errors).toEqual({ bad_sample: 1 });
  });

  it('a flow sample shorter than its fixed fields is skipped by its length', () => {
    const { records, errors } = decode(datagram({ samples: [tagged(0, 1, new Uint8Array(20)), tagged(0, 3, new Uint8Array(40)), goodFlow(2)] }));
    expect(records).toHaveLength(1);
    expect(errors).toEqual({ bad_sample: 2 });
  });

  it('records that do not fill their sample: counted, the sample stands', () => {
    const sample = flowSample({ records: [rawHeader(frame, 64), new Uint8Array(8)], recordCount: 1 });
    const { records, errors } = decode(datagram({ samples: [sample] }));
    expect(records).toHaveLength(1);
    expect(records[0].bytes).toBe(64);
    expect(errors).toEqual({ bad_sample: 1 });
  });

  it('a raw header longer than its record: the record is skipped, the sample stands', () => {
    const bad = tagged(0, 1, new Xdr().u32(1).u32(1518).u32(4).u32(1000).raw(frame).build());
    const { records, errors } = decode(datagram({ samples: [flowSample({ records: [bad] })] }));
    expect(records).toHaveLength(1);
    expect([records[0].af, records[0].bytes, records[0].packets]).toEqual([0, 0, 1]);
    expect(errors).toEqual({ bad_record: 1 });
  });

  it('short sampled IPv4, extended switch and generic interface records are skipped', () => {
    const shortV4 = tagged(0, 3, sampledIp({ length: 1, protocol: 6, src: '1.1.1.1', dst: '2.2.2.2', srcPort: 1, dstPort: 2 }).slice(8, 8 + 28));
    const shortSwitch = tagged(0, 1001, new Uint8Array(12));
    const flow = decode(datagram({ samples: [flowSample({ records: [shortV4, shortSwitch] })] }));
    expect(flow.records).toHaveLength(1);
    expect(flow.records[0].af).toBe(0);
    expect(flow.errors).toEqual({ bad_record: 2 });
    const shortIf = tagged(0, 1, genericInterface({ ifIndex: 1, ifSpeed: 1 }).slice(8, 8 + 80));
    const ctr = decode(datagram({ samples: [counterSample({ records: [shortIf] })] }));
    expect(ctr.counters).toHaveLength(0);
    expect(ctr.errors).toEqual({ bad_record: 1 });
  });

  it('extended gateway with an absurd AS path: the record is skipped, nothing leaks into meta', () => {
    const gw = extendedGateway('192.0.2.1', 1, 2, 3, [[10, 20]]);
    const view = new DataView(gw.buffer);
    view.setUint32(8 + 8 + 12, 0xffffffff); // segment count
    let r = decode(datagram({ samples: [flowSample({ records: [gw, rawHeader(frame, 64)] })] }));
    expect(r.records).toHaveLength(1);
    expect(r.records[0].meta).toBeUndefined();
    expect(r.errors).toEqual({ bad_record: 1 });
    view.setUint32(8 + 8 + 12, 1);
    view.setUint32(8 + 8 + 16 + 4, 0x40000000); // AS count of the segment
    r = decode(datagram({ samples: [flowSample({ records: [gw] })] }));
    expect(r.records[0].meta).toBeUndefined();
    expect(r.errors).toEqual({ bad_record: 1 });
  });

  it('counter sample with an overrunning or absurdly counted record list', () => {
    const overrun = new Xdr().u32(1).u32(1).u32(1).raw(lying(1, 5000, new Uint8Array(88))).build();
    let r = decode(datagram({ samples: [tagged(0, 2, overrun), goodFlow()] }));
    expect(r.counters).toHaveLength(0);
    expect(r.records).toHaveLength(1);
    expect(r.errors).toEqual({ bad_sample: 1 });
    r = decode(datagram({ samples: [counterSample({ recordCount: 0xffffffff, records: [genericInterface({ ifIndex: 9, ifSpeed: 1 })] })] }));
    expect(r.counters.map((c) => c.ifIndex)).toEqual([9]); // the record that fits was read
    expect(r.errors).toEqual({ bad_sample: 1 });
    r = decode(datagram({ samples: [tagged(0, 4, new Uint8Array(12))] }));
    expect(r.errors).toEqual({ bad_sample: 1 });
  });

  it('bytes after the declared samples', () => {
    const buf = datagram({ samples: [goodFlow(1), goodFlow(2)], sampleCount: 1 });
    const { records, errors } = decode(buf);
    expect(records).toHaveLength(1);
    expect(errors).toEqual({ bad_length: 1 });
  });

  it('a sampled header cut anywhere is not an error', () => {
    const full = ethernet(0x86dd, ipv6('2001:db8::1', '2001:db8::2', 17, udp(53, 53), [{ type: 0, length: 8 }]), [{ tpid: 0x8100, vid: 9 }]);
    for (let n = 0; n <= full.length; n++) {
      const { records, errors } = decode(datagram({ samples: [flowSample({ records: [rawHeader(full.slice(0, n), 200)] })] }));
      expect(records).toHaveLength(1);
      expect(errors).toEqual({});
      expect(records[0].bytes).toBe(200);
      if (n < 18) expect(records[0].vlan).toBe(0);
      if (n >= full.length - 8 + 4) expect(records[0].dstPort).toBe(53);
    }
  });
});

// ---- property tests ----

/** A view of `buf` that throws on any read outside it (a bounds check the decoder must never need). */
function guarded(buf: Uint8Array): Uint8Array {
  return new Proxy(buf, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && /^-?\d+$/.test(prop)) {
        const i = Number(prop);
        if (i < 0 || i >= target.length) throw new RangeError(`read at ${i} outside ${target.length} bytes`);
        return target[i];
      }
      const v = Reflect.get(target, prop, target);
      void receiver;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Decodes; anything thrown other than DecodeError fails the property. */
function decodeSafely(buf: Uint8Array, ctx: SflowDecodeContext): void {
  try {
    decodeSflowDatagram(guarded(buf), ctx, () => undefined, () => undefined);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
}

const corpus = [
  ...corpusDatagrams('edge/pmacctd-sfprobe-rate1.pcap').slice(0, 10),
  ...corpusDatagrams('edge/pmacctd-sfprobe-rate10.pcap').slice(0, 3),
].map((d) => Uint8Array.from(d.payload));

const richDatagram = datagram({
  agent: '2001:db8::1',
  subAgentId: 2,
  samples: [
    flowSample({
      expanded: true,
      sourceIdIndex: 7,
      samplingRate: 100,
      records: [rawHeader(ethernet(0x8100, new Uint8Array(0), [], undefined, undefined), 60), rawHeader(frame, 70), extendedGateway('192.0.2.1', 1, 2, 3, [[4, 5]])],
    }),
    counterSample({ expanded: true, records: [genericInterface({ ifIndex: 7, ifSpeed: 1e10 })] }),
    flowSample({ records: [sampledIp({ length: 100, protocol: 17, src: 'fd00::1', dst: 'fd00::2', srcPort: 1, dstPort: 2 })] }),
  ],
});

const references = [corpus[0], richDatagram];
const expected = references.map((buf) => decode(buf));

/** The property's epilogue: the same state and counters still decode good datagrams exactly. */
function stillDecodesGoodDatagrams(ctx: SflowDecodeContext): void {
  references.forEach((buf, i) => {
    const errorsBefore = JSON.stringify([...ctx.counters.errors]);
    const records: FlowRecord[] = [];
    const counters: InterfaceCounters[] = [];
    decodeSflowDatagram(buf, ctx, (r) => records.push(cloneFlowRecord(r)), (c) => counters.push({ ...c }));
    expect(records).toEqual(expected[i].records);
    expect(counters).toEqual(expected[i].counters);
    expect(JSON.stringify([...ctx.counters.errors])).toBe(errorsBefore);
  });
}

const interestingWords = [0, 1, 3, 4, 5, 8, 0x3fffffff, 0x7fffffff, 0x80000000, 0xfffffff8, 0xffffffff];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('word' as const), at: fc.nat(), value: fc.constantFrom(...interestingWords) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), value: fc.constant(0) }),
);

function mutate(source: Uint8Array, mutations: { kind: 'byte' | 'word' | 'truncate'; at: number; value: number }[]): Uint8Array {
  let buf = Uint8Array.from(source); // a copy: Buffer.slice would share the corpus bytes
  for (const m of mutations) {
    if (buf.length === 0) break;
    if (m.kind === 'byte') buf[m.at % buf.length] = m.value;
    else if (m.kind === 'truncate') buf = buf.slice(0, m.at % buf.length);
    else if (buf.length >= 4) {
      const at = ((m.at % (buf.length >> 2)) << 2) >>> 0;
      new DataView(buf.buffer, buf.byteOffset, buf.byteLength).setUint32(at, m.value);
    }
  }
  return buf;
}

describe('property: malformed input never crashes, hangs or reads outside the datagram', () => {
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
        const ctx = context();
        decodeSafely(bytes, ctx);
        stillDecodesGoodDatagrams(ctx);
      }),
      { numRuns: 300 },
    );
  });

  it('a valid header followed by random bytes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('192.0.2.1', '2001:db8::1', ''),
        fc.nat({ max: 40 }),
        fc.uint8Array({ maxLength: 1500 }),
        (agent, count, tail) => {
          const ctx = context();
          const head = datagram({ agent, sampleCount: count, samples: [] });
          const buf = new Uint8Array(head.length + tail.length);
          buf.set(head);
          buf.set(tail, head.length);
          decodeSafely(buf, ctx);
          stillDecodesGoodDatagrams(ctx);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('mutated corpus and hand-built datagrams', () => {
    const sources = [...corpus, richDatagram];
    fc.assert(
      fc.property(fc.nat({ max: sources.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 8 }), (which, mutations) => {
        const ctx = context();
        decodeSafely(mutate(sources[which], mutations), ctx);
        stillDecodesGoodDatagrams(ctx);
      }),
      { numRuns: 1000 },
    );
  });

  it('the packet header parser never reads past `end`: bytes beyond it change nothing', () => {
    const protocols = [HeaderProtocol.ethernet, HeaderProtocol.ipv4, HeaderProtocol.ipv6, HeaderProtocol.mpls, HeaderProtocol.ppp, HeaderProtocol.pos, 99];
    const seeds = [frame, ethernet(0x8847, new Xdr().u32(0x10140).raw(ipv4('1.1.1.1', '2.2.2.2', 47, new Xdr().u16(0xb000).u16(0x6558).u32(1).u32(2).raw(ethernet(0x86dd, ipv6('::1', '::2', 6, tcp(1, 2, 3)))).build())).build())];
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { maxLength: 4 })).map(([s, m]) => mutate(s, m))),
        fc.constantFrom(...protocols),
        fc.boolean(),
        fc.nat(),
        (header, protocol, decapsulate, cut) => {
          const end = header.length === 0 ? 0 : cut % (header.length + 1);
          const a = header.slice();
          const b = header.slice();
          for (let i = end; i < b.length; i++) b[i] ^= 0xff;
          const ra = createFlowRecord();
          const rb = createFlowRecord();
          resetFlowRecord(ra);
          resetFlowRecord(rb);
          const resA = decodePacketHeader(guarded(a), 0, end, protocol, ra, decapsulate);
          const resB = decodePacketHeader(guarded(b), 0, end, protocol, rb, decapsulate);
          expect(resB).toBe(resA);
          expect(rb).toEqual(ra);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
