/**
 * The enrich stage's address lookups against a reference written here the plain way: a list of
 * prefixes scanned for the longest one covering the address, with the family rules spelled out
 * (an IPv4 a/n is the IPv4-mapped ::ffff:a/(96+n); an IPv4 lookup sees only IPv4 and mapped
 * prefixes). Random tables mix /0, host prefixes (/32, /128), nested and overlapping networks and
 * host bits set in the configured network; probes are drawn around the prefixes' boundaries.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InventoryEntry, PeerNetwork } from '../src/config/types.js';
import { Enricher } from '../src/enrich/enricher.js';
import { DeviceInventory, type DeviceInfo } from '../src/enrich/inventory.js';
import { LocalNetworks } from '../src/enrich/orientation.js';
import { PrefixTable } from '../src/enrich/prefix-table.js';
import { createFlowRecord, type SourceKind } from '../src/record.js';
import { createFlowLabels } from '../src/rollup/types.js';
import { formatIPv4, formatIPv6 } from '../src/util/address.js';

interface Prefix {
  af: 4 | 6;
  /** 16 bytes; IPv4 in bytes 0..3. Bits past `len` may be set (host bits in the configured text). */
  bytes: Uint8Array;
  len: number;
}

/** The prefix in the 128-bit space: IPv4 a/n as ::ffff:a/(96+n). */
function to128(p: Prefix): { bytes: Uint8Array; len: number } {
  if (p.af === 6) return { bytes: p.bytes, len: p.len };
  return { bytes: mapped(p.bytes), len: 96 + p.len };
}

/** ::ffff:a.b.c.d for the IPv4 address in bytes 0..3 (the rest of `b` is ignored). */
function mapped(b: Uint8Array): Uint8Array {
  const o = new Uint8Array(16);
  o[10] = 0xff;
  o[11] = 0xff;
  o.set(b.subarray(0, 4), 12);
  return o;
}

function bit(b: Uint8Array, i: number): number {
  return (b[i >> 3] >> (7 - (i & 7))) & 1;
}

function covers(p: Uint8Array, len: number, a: Uint8Array): boolean {
  for (let i = 0; i < len; i++) if (bit(p, i) !== bit(a, i)) return false;
  return true;
}

/** Family, length and network bits: two prefixes with the same key are the same prefix. */
function prefixKey(p: Prefix): string {
  const { bytes, len } = to128(p);
  let bits = '';
  for (let i = 0; i < len; i++) bits += bit(bytes, i);
  return bits;
}

/** Index of the longest prefix in `list` covering the address (the later of equal ones), or -1. */
function referenceMatch(list: readonly Prefix[], af: 4 | 6, addr: Uint8Array): number {
  const a = af === 4 ? mapped(addr) : addr;
  let best = -1;
  let bestLen = -1;
  list.forEach((p, i) => {
    const { bytes, len } = to128(p);
    if (af === 4 && len < 96) return; // an IPv4 lookup sees IPv4 (and IPv4-mapped) prefixes only
    if (len >= bestLen && covers(bytes, len, a)) {
      best = i;
      bestLen = len;
    }
  });
  return best;
}

function prefixText(p: Prefix, bare: boolean): string {
  const text = p.af === 4 ? formatIPv4(p.bytes) : formatIPv6(p.bytes);
  return bare ? text : `${text}/${p.len}`;
}

// A few base addresses that the prefixes share, so that they nest and overlap.
const BASES: readonly Uint8Array[] = [
  Uint8Array.from([10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  Uint8Array.from([192, 168, 77, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  Uint8Array.from([0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x10]),
  Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0xaa, 0x01]),
  Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7]),
];

const V4_LENGTHS = [0, 1, 3, 4, 5, 8, 12, 16, 23, 24, 25, 31, 32, 32];
const V6_LENGTHS = [0, 1, 4, 7, 8, 32, 48, 64, 95, 96, 97, 104, 120, 127, 128, 128];

/** A prefix near one of the bases (or anywhere), host bits filled with noise. */
const prefixArb: fc.Arbitrary<Prefix> = fc
  .record({
    af: fc.constantFrom<4 | 6>(4, 6),
    base: fc.integer({ min: 0, max: BASES.length }),
    len: fc.oneof(fc.constantFrom(...V6_LENGTHS), fc.integer({ min: 0, max: 128 })),
    noise: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    flip: fc.integer({ min: -1, max: 127 }),
  })
  .map(({ af, base, len, noise, flip }) => {
    const b = base < BASES.length ? BASES[base].slice() : noise.slice();
    let l: number;
    if (af === 4) {
      // IPv4 from the IPv4 bases, or the tail of the mapped one.
      if (b[10] === 0xff && b[11] === 0xff) b.copyWithin(0, 12, 16);
      b.fill(0, 4);
      l = V4_LENGTHS.includes(len) ? len : len % 33;
    } else {
      l = len;
    }
    const width = af === 4 ? 32 : 128;
    // Bits past the length are noise (host bits set); one bit inside may flip to make a sibling.
    for (let i = l; i < width; i++) if (bit(noise, i)) b[i >> 3] ^= 1 << (7 - (i & 7));
    if (flip >= 0 && flip < l) b[flip >> 3] ^= 1 << (7 - (flip & 7));
    return { af, bytes: b, len: l };
  });

/** An address near a prefix (its bits, then noise), often on the other side of its boundary. */
function probeFrom(list: readonly Prefix[], pick: number, noise: Uint8Array, shape: number): { af: 4 | 6; addr: Uint8Array } {
  if (list.length === 0 || shape === 0) {
    const af: 4 | 6 = pick % 2 === 0 ? 4 : 6;
    return { af, addr: noise.slice() };
  }
  const p = list[pick % list.length];
  const width = p.af === 4 ? 32 : 128;
  const a = noise.slice();
  for (let i = 0; i < p.len; i++) {
    const m = 1 << (7 - (i & 7));
    a[i >> 3] = (a[i >> 3] & ~m) | (p.bytes[i >> 3] & m);
  }
  // shape 2: flip the prefix's last bit (just outside it); shape 3: the first bit after it.
  const flipAt = shape === 2 ? p.len - 1 : shape === 3 ? p.len : -1;
  if (flipAt >= 0 && flipAt < width) a[flipAt >> 3] ^= 1 << (7 - (flipAt & 7));
  return { af: p.af, addr: a };
}

const probesArb = fc.array(
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 4 })),
  { minLength: 1, maxLength: 80 },
);

/** Each probe, plus the IPv4-mapped spelling of every IPv4 one. */
function* probes(list: readonly Prefix[], raw: ReadonlyArray<[number, Uint8Array, number]>): Generator<{ af: 4 | 6; addr: Uint8Array }> {
  for (const [pick, noise, shape] of raw) {
    const p = probeFrom(list, pick, noise, shape);
    yield p;
    if (p.af === 4) yield { af: 6, addr: mapped(p.addr) };
  }
}

describe('PrefixTable against a longest-prefix scan', () => {
  it('finds the same prefix for random tables and addresses, IPv4 and IPv6', () => {
    fc.assert(
      fc.property(fc.array(prefixArb, { maxLength: 40 }), probesArb, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (list, raw, viaText) => {
        const t = new PrefixTable<number>();
        list.forEach((p, i) => {
          // Half through the text form (parsePrefix clears host bits), half through insertPrefix
          // with the host bits still set, which must ignore them.
          if (viaText[i]) t.insert(prefixText(p, p.len === (p.af === 4 ? 32 : 128) && i % 2 === 0), i);
          else t.insertPrefix(p.af, p.bytes.slice(), p.len, i);
        });
        expect(t.size).toBe(new Set(list.map(prefixKey)).size);
        for (const { af, addr } of probes(list, raw)) {
          const want = referenceMatch(list, af, addr);
          const got = t.lookup(af, addr);
          if (got !== (want < 0 ? undefined : want)) {
            throw new Error(`${af === 4 ? formatIPv4(addr) : formatIPv6(addr)}: got ${got}, want ${want} in ${list.map((p) => prefixText(p, false)).join(' ')}`);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('agrees on large tables (thousands of hosts and networks, grown tables)', () => {
    fc.assert(
      fc.property(fc.array(prefixArb, { minLength: 1500, maxLength: 3000 }), probesArb, (list, raw) => {
        const t = new PrefixTable<number>();
        list.forEach((p, i) => t.insertPrefix(p.af, p.bytes, p.len, i));
        expect(t.size).toBe(new Set(list.map(prefixKey)).size);
        for (const { af, addr } of probes(list, raw)) {
          const want = referenceMatch(list, af, addr);
          expect(t.lookup(af, addr)).toBe(want < 0 ? undefined : want);
        }
      }),
      // Shrinking thousands of prefixes takes minutes: report the first counterexample as it is.
      { numRuns: 12, endOnFailure: true },
    );
  });

  it('ignores everything past byte 4 of an IPv4 address and answers nothing for af 0', () => {
    const t = new PrefixTable<string>();
    t.insert('10.0.0.0/8', 'ten');
    t.insert('10.1.2.3', 'host');
    t.insert('0.0.0.0/0', 'any');
    const a = Uint8Array.from([10, 1, 2, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(t.lookup(4, a)).toBe('host');
    a[3] = 4;
    expect(t.lookup(4, a)).toBe('ten');
    a[0] = 11;
    expect(t.lookup(4, a)).toBe('any');
    expect(t.lookup(0, a)).toBeUndefined();
  });
});

describe('LocalNetworks and DeviceInventory against the reference', () => {
  it('LocalNetworks.contains is "some configured network covers the address"', () => {
    fc.assert(
      fc.property(fc.array(prefixArb, { maxLength: 20 }), probesArb, (list, raw) => {
        const local = new LocalNetworks(list.map((p) => prefixText(p, false)));
        for (const { af, addr } of probes(list, raw)) {
          expect(local.contains(af, addr)).toBe(referenceMatch(list, af, addr) >= 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('lookupAddress is the longest entry; lookup puts an exact address, then the MAC, then the network', () => {
    fc.assert(
      fc.property(
        fc.array(prefixArb, { maxLength: 30 }),
        probesArb,
        fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }),
        fc.integer({ min: 0, max: 7 }),
        (raw, rawProbes, macs, probeMac) => {
          // Inventory entries are unique by prefix.
          const seen = new Set<string>();
          const list = raw.filter((p) => !seen.has(prefixKey(p)) && seen.add(prefixKey(p)));
          const entries: InventoryEntry[] = list.map((p, i) => ({ match: prefixText(p, i % 3 === 0 && p.len === (p.af === 4 ? 32 : 128)), name: `e${i}`, site: `s${i}` }));
          const macSet = [...new Set(macs)];
          for (const m of macSet) entries.push({ match: `02:00:00:00:00:0${m}`, name: `mac${m}` });
          const inv = new DeviceInventory(entries);
          const mac = Uint8Array.from([2, 0, 0, 0, 0, probeMac]);
          for (const { af, addr } of probes(list, rawProbes)) {
            const want = referenceMatch(list, af, addr);
            const byAddr = inv.lookupAddress(af, addr);
            expect(byAddr?.name).toBe(want < 0 ? undefined : `e${want}`);
            const isHost = want >= 0 && list[want].len === (list[want].af === 4 ? 32 : 128);
            expect(byAddr?.kind).toBe(want < 0 ? undefined : isHost ? 'address' : 'network');
            const macName = macSet.includes(probeMac) ? `mac${probeMac}` : undefined;
            expect(inv.lookup(af, addr, mac)?.name).toBe(isHost ? `e${want}` : (macName ?? byAddr?.name));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Enricher against a reference enrichment', () => {
  const SOURCES: SourceKind[] = ['netflow9', 'ipfix', 'sflow', 'aws', 'azure', 'gcp'];

  interface Reference {
    local: Prefix[];
    inventory: Prefix[];
    peers: Prefix[];
    macs: Map<number, string>;
  }

  /** What enrich() must give for device, peer, direction, site and type: the documented rules, step by step. */
  function referenceLabels(ref: Reference, af: 4 | 6, src: Uint8Array, dst: Uint8Array, kind: SourceKind, reported: number, srcMac: number, dstMac: number) {
    const entry = (a: Uint8Array): { i: number; host: boolean } | undefined => {
      const i = referenceMatch(ref.inventory, af, a);
      if (i < 0) return undefined;
      const p = ref.inventory[i];
      return { i, host: p.len === (p.af === 4 ? 32 : 128) };
    };
    const text = (a: Uint8Array) => (af === 4 ? formatIPv4(a) : formatIPv6(a));
    const srcEntry = entry(src);
    const dstEntry = entry(dst);
    const srcLocal = srcEntry !== undefined || referenceMatch(ref.local, af, src) >= 0;
    const dstLocal = dstEntry !== undefined || referenceMatch(ref.local, af, dst) >= 0;
    const cloud = kind === 'aws' || kind === 'azure' || kind === 'gcp';
    let direction: string;
    let deviceIsDst: boolean;
    if (cloud && reported === 2) [direction, deviceIsDst] = [dstLocal ? 'internal' : 'egress', false];
    else if (cloud && reported === 1) [direction, deviceIsDst] = [srcLocal ? 'internal' : 'ingress', true];
    else if (srcLocal) [direction, deviceIsDst] = [dstLocal ? 'internal' : 'egress', false];
    else [direction, deviceIsDst] = [dstLocal ? 'ingress' : 'transit', dstLocal];
    // An end's name: exact address entry, else its MAC when the end is local, else the network entry.
    const name = (e: typeof srcEntry, local: boolean, mac: number): { name: string; site: string } | undefined => {
      if (e?.host) return { name: `inv${e.i}`, site: `site${e.i}` };
      const byMac = local && mac > 0 ? ref.macs.get(mac) : undefined;
      if (byMac !== undefined) return { name: byMac, site: '' };
      return e === undefined ? undefined : { name: `inv${e.i}`, site: `site${e.i}` };
    };
    const [devAddr, peerAddr] = deviceIsDst ? [dst, src] : [src, dst];
    const dev = deviceIsDst ? name(dstEntry, dstLocal, dstMac) : name(srcEntry, srcLocal, srcMac);
    const peerEntry = deviceIsDst ? name(srcEntry, srcLocal, srcMac) : name(dstEntry, dstLocal, dstMac);
    const peerNet = referenceMatch(ref.peers, af, peerAddr);
    return {
      direction,
      device: dev?.name ?? text(devAddr),
      site: dev?.site ?? '',
      peer: peerNet >= 0 ? `net${peerNet}` : (peerEntry?.name ?? text(peerAddr)),
    };
  }

  const unique = (list: Prefix[]): Prefix[] => {
    const seen = new Set<string>();
    return list.filter((p) => !seen.has(prefixKey(p)) && seen.add(prefixKey(p)));
  };

  it('gives the same device, peer, direction and site for random configs and records', () => {
    fc.assert(
      fc.property(
        fc.record({
          local: fc.array(prefixArb, { maxLength: 8 }),
          inventory: fc.array(prefixArb, { maxLength: 12 }),
          peers: fc.array(prefixArb, { maxLength: 6 }),
          macs: fc.uniqueArray(fc.integer({ min: 1, max: 5 }), { maxLength: 3 }),
        }),
        fc.array(
          fc.record({
            src: fc.tuple(fc.nat(), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 4 })),
            dst: fc.tuple(fc.nat(), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 4 })),
            v6: fc.boolean(),
            kind: fc.constantFrom(...SOURCES),
            reported: fc.integer({ min: 0, max: 2 }),
            srcMac: fc.integer({ min: 0, max: 6 }),
            dstMac: fc.integer({ min: 0, max: 6 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (cfg, recs) => {
          const ref: Reference = {
            local: cfg.local,
            inventory: unique(cfg.inventory),
            peers: unique(cfg.peers),
            macs: new Map(cfg.macs.map((m) => [m, `mac${m}`])),
          };
          const inventory: InventoryEntry[] = ref.inventory.map((p, i) => ({ match: prefixText(p, false), name: `inv${i}`, site: `site${i}` }));
          for (const m of cfg.macs) inventory.push({ match: `02:00:00:00:00:0${m}`, name: `mac${m}` });
          const peerNetworks: PeerNetwork[] = ref.peers.map((p, i) => ({ match: prefixText(p, false), name: `net${i}` }));
          const e = new Enricher({ localNetworks: cfg.local.map((p) => prefixText(p, false)), inventory, apps: [], peerNetworks });
          const all = [...ref.local, ...ref.inventory, ...ref.peers];
          const r = createFlowRecord();
          const out = createFlowLabels();
          for (const rec of recs) {
            const s = probeFrom(all, rec.src[0], rec.src[1], rec.src[2]);
            // Both ends in one family: IPv4, or IPv6 with IPv4 ends written IPv4-mapped.
            const af: 4 | 6 = rec.v6 || s.af === 6 ? 6 : 4;
            const d = probeFrom(all, rec.dst[0], rec.dst[1], rec.dst[2]);
            const spell = (p: { af: 4 | 6; addr: Uint8Array }): Uint8Array => {
              if (af === 6) return p.af === 4 ? mapped(p.addr) : p.addr;
              const b = new Uint8Array(16);
              b.set(p.addr.subarray(0, 4));
              return b;
            };
            r.af = af;
            r.src.set(spell(s));
            r.dst.set(spell(d));
            r.sourceKind = rec.kind;
            r.direction = rec.reported as 0 | 1 | 2;
            r.hasSrcMac = rec.srcMac > 0;
            r.srcMac.set([2, 0, 0, 0, 0, rec.srcMac]);
            r.hasDstMac = rec.dstMac > 0;
            r.dstMac.set([2, 0, 0, 0, 0, rec.dstMac]);
            e.enrich(r, out);
            const want = referenceLabels(ref, af, r.src, r.dst, rec.kind, rec.reported, rec.srcMac, rec.dstMac);
            expect({ direction: out.direction, device: out.device, site: out.site, peer: out.peer }).toEqual(want);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
