/**
 * Malformed input: only DecodeError ever escapes, nothing hangs, the counters say what was wrong,
 * and the next good datagram decodes normally (one bad datagram must not wedge the exporter).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../src/decoders/types.js';
import {
  concat,
  edgePayloads,
  ipfixMessage,
  ipfixTemplate,
  makeDecoder,
  NETFLOW_FILES,
  set,
  totals,
  v9Packet,
  v9Template,
  Writer,
  type Decoder,
} from './decoders-netflow-helpers.js';

const V9_GOOD = edgePayloads('softflowd-v9')[0];
const IPFIX_GOOD = edgePayloads('pmacctd-nfprobe-ipfix')[0];
const V5_GOOD = edgePayloads('softflowd-v5')[0];

function decodeError(dec: Decoder, buf: Uint8Array): DecodeError {
  try {
    dec.decode(buf);
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return e as DecodeError;
  }
  throw new Error('expected a DecodeError');
}

/** The good datagram decodes fully after whatever came before. */
function expectGoodAfter(dec: Decoder): void {
  for (const [good, n] of [
    [V5_GOOD, 29],
    [V9_GOOD, 18],
    [IPFIX_GOOD, 2],
  ] as const) {
    const before = dec.records.length;
    const pendingBefore = dec.ctx.state.pending.count;
    dec.decode(good);
    const got = dec.records.length - before;
    // Sets held from the bad input may be released by the good datagram's templates.
    if (pendingBefore === 0) expect(got).toBe(n);
    else expect(got).toBeGreaterThanOrEqual(n);
  }
}

describe('rejected datagrams', () => {
  it.each([
    ['empty', new Uint8Array(0), 'truncated_header'],
    ['1 byte', Uint8Array.of(9), 'truncated_header'],
    ['v5 header cut', V5_GOOD.slice(0, 23), 'truncated_header'],
    ['v9 header cut', V9_GOOD.slice(0, 19), 'truncated_header'],
    ['IPFIX header cut', IPFIX_GOOD.slice(0, 15), 'truncated_header'],
    ['unknown version', Uint8Array.of(0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 'unknown_version'],
    ['sFlow-looking', Uint8Array.of(0, 0, 0, 5, 0, 0, 0, 1), 'unknown_version'],
    ['IPFIX length beyond the datagram', IPFIX_GOOD.slice(0, IPFIX_GOOD.length - 1), 'bad_length'],
    ['IPFIX length below the header', concat(Uint8Array.of(0, 10, 0, 8), IPFIX_GOOD.slice(4)), 'bad_length'],
  ])('%s', (_label, buf, reason) => {
    const dec = makeDecoder();
    expect(decodeError(dec, buf).reason).toBe(reason);
    expectGoodAfter(dec);
  });
});

describe('problems inside a datagram are counted and decoding goes on', () => {
  const tpl = set(0, v9Template(256, [[8, 4], [12, 4], [1, 4], [2, 4]]));
  const rec = new Writer().ipv4('10.0.0.1').ipv4('192.0.2.1').u32(100).u32(1).done();

  it('set length < 4 stops the walk (no endless loop)', () => {
    for (const len of [0, 1, 2, 3]) {
      const dec = makeDecoder();
      dec.decode(v9Packet({}, tpl, set(256, rec), new Writer().u16(256).u16(len).u32(0).done(), set(256, rec)));
      expect(dec.records).toHaveLength(1);
      expect(Object.fromEntries(dec.ctx.counters.errors)).toEqual({ bad_set: 1 });
      expectGoodAfter(dec);
    }
  });

  it('a set length overrunning the datagram is counted as bad_length', () => {
    const dec = makeDecoder();
    dec.decode(v9Packet({}, tpl, set(256, rec), new Writer().u16(256).u16(200).bytes(rec).done()));
    expect(dec.records).toHaveLength(1);
    expect(Object.fromEntries(dec.ctx.counters.errors)).toEqual({ bad_length: 1 });
    expectGoodAfter(dec);
  });

  it('zero-length and oversized template fields are refused', () => {
    const dec = makeDecoder();
    dec.decode(v9Packet({}, set(0, v9Template(300, [[8, 4], [1, 0]])), set(300, rec)));
    dec.decode(ipfixMessage({}, set(2, ipfixTemplate(301, [[8, 4], [82, 65000], [83, 65000]]))));
    dec.decode(v9Packet({}, set(0, v9Template(302, [[8, 65535]])))); // variable length is IPFIX only
    expect(dec.ctx.counters.errors.get('bad_template')).toBe(3);
    expect(dec.ctx.state.templates()).toEqual([]);
    expect(dec.records).toHaveLength(0);
    expectGoodAfter(dec);
  });

  it('a template whose field count runs past its set is refused; the next set still decodes', () => {
    const dec = makeDecoder();
    const looping = set(0, new Writer().u16(400).u16(60000).u16(8).u16(4).done());
    dec.decode(v9Packet({}, looping, tpl, set(256, rec)));
    expect(dec.ctx.counters.errors.get('bad_template')).toBe(1);
    expect(dec.records).toHaveLength(1);
    const ipfixLoop = set(2, new Writer().u16(400).u16(3).u16(0x8008).u16(4).u16(0).done());
    dec.decode(ipfixMessage({}, ipfixLoop));
    expect(dec.ctx.counters.errors.get('bad_template')).toBe(2);
    expectGoodAfter(dec);
  });

  it('reserved set ids and template ids below 256 are counted, not decoded', () => {
    const dec = makeDecoder();
    dec.decode(v9Packet({}, set(7, rec), set(0, v9Template(12, [[8, 4]])), tpl, set(256, rec)));
    expect(Object.fromEntries(dec.ctx.counters.errors)).toEqual({ bad_set: 1, bad_template: 1 });
    expect(dec.records).toHaveLength(1);
  });

  it('a NetFlow v5 count beyond the datagram decodes the records present', () => {
    const dec = makeDecoder();
    dec.decode(V5_GOOD.slice(0, 24 + 48 * 3 + 10));
    expect(dec.records).toHaveLength(3);
    expect(dec.ctx.counters.errors.get('truncated_record')).toBe(1);
    expectGoodAfter(dec);
  });

  it('a variable-length record cut short is counted as truncated_record', () => {
    const dec = makeDecoder();
    const t = set(2, ipfixTemplate(256, [[1, 4], [96, 65535]]));
    const data = new Writer().u32(5).varText('ok').u32(6).u8(200).text('short').done();
    dec.decode(ipfixMessage({}, t, set(256, data)));
    expect(dec.records.map((r) => [r.bytes, r.appName])).toEqual([[5, 'ok']]);
    expect(dec.ctx.counters.errors.get('truncated_record')).toBe(1);
    expectGoodAfter(dec);
  });

  it('after a 1-byte datagram and a truncated one, a whole capture still decodes exactly', () => {
    const p = edgePayloads('pmacctd-nfprobe-v9');
    const dec = makeDecoder();
    expect(() => dec.decode(Uint8Array.of(0))).toThrow(DecodeError);
    expect(() => dec.decode(p[1].slice(0, 10))).toThrow(DecodeError);
    for (const d of p) dec.decode(d);
    expect(totals(dec.records)).toEqual({ packets: 915, bytes: 615195, flows: 44 });
  });
});

describe('property: random and mutated input, behind an out-of-bounds guard', () => {
  const corpus = NETFLOW_FILES.flatMap((n) => edgePayloads(n));

  /**
   * The datagram behind a guard that throws on any read past its end: a typed array would quietly
   * return undefined there, which would hide a missing bounds check.
   */
  function guarded(buf: Uint8Array): Uint8Array {
    return new Proxy(buf, {
      get(target, prop) {
        if (typeof prop === 'string' && /^\d+$/.test(prop) && Number(prop) >= target.length) {
          throw new RangeError(`read at ${prop} past the end of a ${target.length}-byte datagram`);
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  /** Runs one datagram: returns normally or throws DecodeError, anything else fails the test. */
  function feed(dec: Decoder, buf: Uint8Array): void {
    try {
      dec.decode(guarded(buf));
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
  }

  it('the guard catches an out-of-bounds read', () => {
    expect(() => guarded(Uint8Array.of(1, 2))[2]).toThrow(RangeError);
    expect(guarded(Uint8Array.of(1, 2)).slice(1)).toEqual(Uint8Array.of(2));
  });

  it('random bytes, with and without a plausible version, only raise DecodeError', () => {
    const versioned = fc
      .tuple(fc.constantFrom(5, 9, 10), fc.uint8Array({ minLength: 0, maxLength: 1500 }))
      .map(([v, rest]) => concat(Uint8Array.of(0, v), rest));
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 200 }), versioned), { maxLength: 8 }), (bufs) => {
        const dec = makeDecoder({ limits: { maxPendingRecords: 8 } });
        for (const b of bufs) feed(dec, b);
        expectGoodAfter(dec);
      }),
      { numRuns: 400 },
    );
  });

  it('mutated corpus datagrams (flips, truncation, splices) only raise DecodeError', () => {
    const mutated = fc
      .tuple(
        fc.constantFrom(...corpus),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }),
        fc.option(fc.nat(), { nil: undefined }),
      )
      .map(([base, flips, cut]) => {
        const b = base.slice();
        // Header and set headers are the interesting targets: bias half the flips to the first 64 bytes.
        flips.forEach(([pos, val], i) => {
          b[i % 2 === 0 ? pos % Math.min(64, b.length) : pos % b.length] = val;
        });
        return cut === undefined ? b : b.slice(0, cut % (b.length + 1));
      });
    fc.assert(
      fc.property(fc.array(mutated, { minLength: 1, maxLength: 6 }), (bufs) => {
        const dec = makeDecoder({ limits: { maxPendingRecords: 16 } });
        for (const b of bufs) feed(dec, b);
        expectGoodAfter(dec);
      }),
      { numRuns: 400 },
    );
  });
});
