import { PerformanceObserver, constants } from 'node:perf_hooks';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidCidrError, PrefixTable, parsePrefix } from '../src/enrich/prefix-table.js';
import { formatIPv4, formatIPv6, parseAddress } from '../src/util/address.js';

function addr(text: string): Uint8Array {
  const b = new Uint8Array(16);
  if (parseAddress(text, b) === 0) throw new Error(`bad test address ${text}`);
  return b;
}

describe('PrefixTable', () => {
  it('returns the longest matching prefix for IPv4 and IPv6', () => {
    const t = new PrefixTable<string>();
    t.insert('10.0.0.0/8', 'ten');
    t.insert('10.1.0.0/16', 'ten-one');
    t.insert('10.1.2.3', 'host');
    t.insert('fd00::/8', 'ula');
    t.insert('fd12:3456:789a:1::/64', 'lab');
    expect(t.lookup(4, addr('10.9.9.9'))).toBe('ten');
    expect(t.lookup(4, addr('10.1.9.9'))).toBe('ten-one');
    expect(t.lookup(4, addr('10.1.2.3'))).toBe('host');
    expect(t.lookup(4, addr('11.0.0.1'))).toBeUndefined();
    expect(t.lookup(6, addr('fd12:3456:789a:1::10'))).toBe('lab');
    expect(t.lookup(6, addr('fd99::1'))).toBe('ula');
    expect(t.lookup(6, addr('2001:db8::1'))).toBeUndefined();
    expect(t.lookup(0, addr('10.1.2.3'))).toBeUndefined();
    expect(t.size).toBe(5);
  });

  it('keeps families apart: ::/0 does not match IPv4, 0.0.0.0/0 does not match native IPv6', () => {
    const t = new PrefixTable<string>();
    t.insert('::/0', 'v6-default');
    expect(t.lookup(4, addr('192.0.2.1'))).toBeUndefined();
    t.insert('0.0.0.0/0', 'v4-default');
    expect(t.lookup(4, addr('192.0.2.1'))).toBe('v4-default');
    expect(t.lookup(6, addr('2001:db8::1'))).toBe('v6-default');
  });

  it('matches IPv4-mapped IPv6 addresses against IPv4 prefixes, and mapped prefixes against IPv4', () => {
    const t = new PrefixTable<string>();
    t.insert('192.168.0.0/16', 'home');
    t.insert('::ffff:10.0.0.0/104', 'mapped-ten');
    t.insert('::/0', 'v6-default');
    expect(t.lookup(6, addr('::ffff:192.168.1.10'))).toBe('home');
    expect(t.lookup(4, addr('10.0.0.5'))).toBe('mapped-ten');
    expect(t.lookup(6, addr('::ffff:10.0.0.5'))).toBe('mapped-ten');
    // A mapped address outside every IPv4 prefix still matches the shorter IPv6 ones.
    expect(t.lookup(6, addr('::ffff:198.51.100.1'))).toBe('v6-default');
  });

  it('clears host bits and replaces the value of a prefix inserted twice', () => {
    const t = new PrefixTable<number>();
    t.insert('192.168.1.77/24', 1);
    t.insert('192.168.1.0/24', 2);
    expect(t.size).toBe(1);
    expect(t.lookup(4, addr('192.168.1.200'))).toBe(2);
    expect(parsePrefix('fd12::ffff/16')).toMatchObject({ af: 6, length: 16, host: false });
    expect(formatIPv6(parsePrefix('fd12::ffff/16').bytes)).toBe('fd12::');
  });

  it('rejects invalid CIDRs with an error naming the text', () => {
    const t = new PrefixTable<number>();
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fd00::/129', 'not-an-address', '10.0.0.0/8/1', '10.0.0.0/-1', '10.0.0.0/', '300.1.1.1', '']) {
      expect(() => t.insert(bad, 1), bad).toThrow(InvalidCidrError);
      expect(() => t.insert(bad, 1), bad).toThrow(`"${bad}"`);
    }
    expect(t.size).toBe(0);
  });

  it('agrees with a naive longest-prefix scan on random prefixes and addresses', () => {
    interface P {
      af: 4 | 6;
      bytes: Uint8Array;
      len: number;
    }
    const mask = (b: Uint8Array, len: number): Uint8Array => {
      const out = b.slice();
      for (let i = 0; i < 16; i++) {
        const keep = len - 8 * i;
        if (keep < 8) out[i] = keep <= 0 ? 0 : out[i] & (0xff << (8 - keep));
      }
      return out;
    };
    // Everything in the 128-bit space: IPv4 a/len is ::ffff:a/(96+len).
    const to128 = (af: number, b: Uint8Array): Uint8Array => {
      if (af === 6) return b;
      const o = new Uint8Array(16);
      o[10] = 0xff;
      o[11] = 0xff;
      o.set(b.subarray(0, 4), 12);
      return o;
    };
    const covers = (p: Uint8Array, len: number, a: Uint8Array): boolean => {
      for (let i = 0; i < len; i++) {
        const bit = 7 - (i & 7);
        if (((p[i >> 3] >> bit) & 1) !== ((a[i >> 3] >> bit) & 1)) return false;
      }
      return true;
    };
    const naive = (ps: P[], af: 4 | 6, a: Uint8Array): number | undefined => {
      const a128 = to128(af, a);
      let best: number | undefined;
      let bestLen = -1;
      ps.forEach((p, i) => {
        const p128 = to128(p.af, p.bytes);
        const len128 = p.af === 4 ? p.len + 96 : p.len;
        if (af === 4 && len128 < 96) return; // IPv4 lookups only see IPv4(-mapped) prefixes
        if (covers(p128, len128, a128) && len128 >= bestLen) {
          best = i;
          bestLen = len128;
        }
      });
      return best;
    };

    const prefixArb = fc
      .record({
        af: fc.constantFrom<4 | 6>(4, 6, 6),
        raw: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        len: fc.integer({ min: 0, max: 128 }),
        mapped: fc.boolean(),
      })
      .map(({ af, raw, len, mapped }): P => {
        if (af === 4) {
          const b = new Uint8Array(16);
          b.set(raw.subarray(0, 4));
          return { af, bytes: mask(b, len % 33), len: len % 33 };
        }
        const b = raw.slice();
        if (mapped) {
          b.fill(0, 0, 10);
          b[10] = 0xff;
          b[11] = 0xff;
          len = 96 + (len % 33);
        } else if (b[0] < 0x40) {
          b[0] |= 0x20; // keep most native IPv6 prefixes out of the mapped range
        }
        return { af, bytes: mask(b, len), len };
      });

    fc.assert(
      fc.property(
        fc.array(prefixArb, { minLength: 0, maxLength: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(), fc.constantFrom(0, 1, 2)), {
          minLength: 1,
          maxLength: 60,
        }),
        (ps, probes) => {
          const t = new PrefixTable<number>();
          ps.forEach((p, i) => t.insert(`${p.af === 4 ? formatIPv4(p.bytes) : formatIPv6(p.bytes)}/${p.len}`, i));
          for (const [pick, noise, bits, mode] of probes) {
            // Probes near a stored prefix (its bits, then noise) exercise deep matches.
            const base = ps.length > 0 && mode !== 0 ? ps[pick % ps.length] : undefined;
            const af: 4 | 6 = base ? base.af : mode === 0 && bits % 2 === 0 ? 4 : 6;
            const a = new Uint8Array(16);
            const width = af === 4 ? 32 : 128;
            const keep = base ? Math.min(base.len + (bits % 3), width) : 0;
            for (let i = 0; i < width; i++) {
              const bit = 7 - (i & 7);
              const src = i < keep && base ? base.bytes : noise;
              a[i >> 3] |= ((src[i >> 3] >> bit) & 1) << bit;
            }
            const got = t.lookup(af, a);
            const want = naive(ps, af, a);
            // Equal prefixes inserted twice keep the later value, which is the naive tie-break too.
            expect(got === undefined ? undefined : ps[got].len + (ps[got].af === 4 ? 96 : 0)).toBe(
              want === undefined ? undefined : ps[want].len + (ps[want].af === 4 ? 96 : 0),
            );
            expect(got).toBe(want);
            // The same IPv4 address spelled as IPv4-mapped IPv6 must find the same prefix.
            if (af === 4 && got !== undefined) expect(t.lookup(6, to128(4, a))).toBe(got);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not allocate per lookup (no young-generation collection over two million lookups)', async () => {
    const t = new PrefixTable<string>();
    for (const c of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fe80::/10']) t.insert(c, c);
    const a4 = addr('192.168.1.10');
    const a6 = addr('fd12:3456:789a:1::10');
    const mapped = addr('::ffff:10.1.2.3');
    let hits = 0;
    for (let i = 0; i < 10_000; i++) if (t.lookup(4, a4) && t.lookup(6, a6)) hits++;
    let gcs = 0;
    const obs = new PerformanceObserver((list) => {
      // Scavenges only: a major collection may still be finishing the previous test's garbage.
      for (const entry of list.getEntries()) if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs++;
    });
    obs.observe({ entryTypes: ['gc'] });
    for (let i = 0; i < 2_000_000; i++) if (t.lookup(4, a4) && t.lookup(6, a6) && t.lookup(6, mapped)) hits++;
    await new Promise((resolve) => setTimeout(resolve, 50));
    obs.disconnect();
    expect(hits).toBe(2_010_000);
    expect(gcs).toBeLessThanOrEqual(1);
  });
});
