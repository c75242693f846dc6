import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressTextCache } from '../src/enrich/address-text.js';
import { formatIPv4, formatIPv6 } from '../src/util/address.js';

/** 16 address bytes from eight 16-bit groups, most of them zero or small so that zero runs of every length and place occur. */
const groupsArb = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 0xff }), fc.integer({ min: 0, max: 0xffff })), {
  minLength: 8,
  maxLength: 8,
});

function bytesOf(groups: number[]): Uint8Array {
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    b[2 * i] = g >> 8;
    b[2 * i + 1] = g & 0xff;
  });
  return b;
}

describe('AddressTextCache text', () => {
  it('is the text of formatIPv6 for any IPv6 address, on a miss and on the hit after it', () => {
    const cache = new AddressTextCache(16);
    fc.assert(
      fc.property(groupsArb, fc.boolean(), (groups, mapped) => {
        const b = bytesOf(groups);
        // IPv4-mapped, and its near misses (::fffe:..., ::1:ffff:...), keep the dotted tail only when mapped.
        if (mapped) b.fill(0, 0, 10).fill(0xff, 10, 12);
        const want = formatIPv6(b);
        expect(cache.text(6, b)).toBe(want);
        expect(cache.text(6, b)).toBe(want);
      }),
      { numRuns: 5000 },
    );
    for (const text of ['::', '::1', '1::', '::ffff:0:0', '::ffff:ffff:ffff', '::fffe:102:304', '::1:ffff:102:304', '0:0:1::', '1:0:0:2::3', '1::2:0:0:3', 'fe80::1:0:0:0', '1:2:3:4:5:6:7:8']) {
      const b = new Uint8Array(16);
      for (const [i, g] of expandIPv6(text).entries()) {
        b[2 * i] = g >> 8;
        b[2 * i + 1] = g & 0xff;
      }
      expect(cache.text(6, b)).toBe(formatIPv6(b));
    }
  });

  it('is the text of formatIPv4 for any IPv4 address', () => {
    const cache = new AddressTextCache(16);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (a) => {
        const b = new Uint8Array(16);
        b.set(a);
        expect(cache.text(4, b)).toBe(formatIPv4(b));
        expect(cache.text(4, b)).toBe(formatIPv4(b));
      }),
      { numRuns: 5000 },
    );
    const b = new Uint8Array(16);
    for (const v of [0, 9, 10, 99, 100, 255]) {
      b.fill(v, 0, 4);
      expect(cache.text(4, b)).toBe(`${v}.${v}.${v}.${v}`);
    }
  });
});

/** The eight groups of an IPv6 text (test input only: no dotted tails). */
function expandIPv6(text: string): number[] {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':').map((x) => parseInt(x, 16)) : [];
  if (tail === undefined) return h;
  const t = tail ? tail.split(':').map((x) => parseInt(x, 16)) : [];
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}
