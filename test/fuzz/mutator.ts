/**
 * Structured mutation of export datagrams for the decoder fuzzer.
 *
 * A coverage-guided engine (libFuzzer through Jazzer.js) does not run here: its current release ships
 * a native addon built for a newer glibc than Debian 12 has, and the older release downloads its
 * addon at install time. So mutation is structure-aware instead: besides blind byte operations, the
 * mutator knows where the length, count and id fields of each protocol sit (set headers, template
 * records, field specifiers, sFlow sample and record headers) and sets them to boundary values, which
 * is where decoders break.
 *
 * Deterministic: every choice comes from one seeded PRNG, so a run is reproducible from its seed.
 */

/** xoshiro128** (32-bit words): fast, and good enough for choosing mutations. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the four words.
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next() | 1;
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Uniform 32-bit unsigned integer (xoshiro128**). */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : this.u32() % n;
  }

  chance(p: number): boolean {
    return this.u32() < p * 4294967296;
  }

  pick<T>(a: readonly T[]): T {
    return a[this.below(a.length)];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A field of a datagram worth mutating: where it is and how wide (bytes). */
export interface FieldRef {
  offset: number;
  width: 1 | 2 | 4;
  kind: 'length' | 'count' | 'id' | 'fieldType' | 'fieldLength' | 'value';
}

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => b[o] * 16777216 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);

/**
 * The length, count and id fields of a NetFlow v5/v9, IPFIX or sFlow datagram, found by a lenient
 * walk (it stops where the structure stops making sense; what it found so far is returned).
 */
export function structureOf(b: Uint8Array): FieldRef[] {
  const out: FieldRef[] = [];
  if (b.length >= 4 && u32(b, 0) === 5) {
    sflowStructure(b, out);
    return out;
  }
  if (b.length < 4) return out;
  const version = u16(b, 0);
  if (version === 5) {
    out.push({ offset: 2, width: 2, kind: 'count' }, { offset: 22, width: 2, kind: 'value' }, { offset: 20, width: 2, kind: 'id' });
  } else if (version === 9) {
    out.push({ offset: 2, width: 2, kind: 'count' }, { offset: 16, width: 4, kind: 'id' }, { offset: 12, width: 4, kind: 'value' });
    setsStructure(b, 20, b.length, 9, out);
  } else if (version === 10) {
    out.push({ offset: 2, width: 2, kind: 'length' }, { offset: 12, width: 4, kind: 'id' }, { offset: 8, width: 4, kind: 'value' });
    setsStructure(b, 16, Math.min(b.length, u16(b, 2)), 10, out);
  }
  return out;
}

function setsStructure(b: Uint8Array, start: number, end: number, version: 9 | 10, out: FieldRef[]): void {
  let off = start;
  while (off + 4 <= end) {
    const setId = u16(b, off);
    const len = u16(b, off + 2);
    out.push({ offset: off, width: 2, kind: 'id' }, { offset: off + 2, width: 2, kind: 'length' });
    if (len < 4 || off + len > end) return;
    const body = off + 4;
    const setEnd = off + len;
    if (version === 9 && setId === 0) v9TemplateFields(b, body, setEnd, false, out);
    else if (version === 9 && setId === 1) v9TemplateFields(b, body, setEnd, true, out);
    else if (version === 10 && (setId === 2 || setId === 3)) ipfixTemplateFields(b, body, setEnd, setId === 3, out);
    else if (version === 10 && setId >= 256) ipfixVarLengths(b, body, setEnd, out);
    off = setEnd;
  }
}

function v9TemplateFields(b: Uint8Array, o: number, end: number, options: boolean, out: FieldRef[]): void {
  while (o + (options ? 6 : 4) <= end) {
    out.push({ offset: o, width: 2, kind: 'id' });
    let count: number;
    let p: number;
    if (options) {
      out.push({ offset: o + 2, width: 2, kind: 'length' }, { offset: o + 4, width: 2, kind: 'length' });
      count = (u16(b, o + 2) + u16(b, o + 4)) >> 2;
      p = o + 6;
    } else {
      out.push({ offset: o + 2, width: 2, kind: 'count' });
      count = u16(b, o + 2);
      p = o + 4;
    }
    if (count === 0) return;
    for (let i = 0; i < count && p + 4 <= end; i++, p += 4) {
      out.push({ offset: p, width: 2, kind: 'fieldType' }, { offset: p + 2, width: 2, kind: 'fieldLength' });
    }
    o = p;
  }
}

function ipfixTemplateFields(b: Uint8Array, o: number, end: number, options: boolean, out: FieldRef[]): void {
  while (o + 4 <= end) {
    out.push({ offset: o, width: 2, kind: 'id' }, { offset: o + 2, width: 2, kind: 'count' });
    const count = u16(b, o + 2);
    let p = o + 4;
    if (count === 0) {
      o = p;
      continue;
    }
    if (options) {
      if (p + 2 > end) return;
      out.push({ offset: p, width: 2, kind: 'count' });
      p += 2;
    }
    for (let i = 0; i < count && p + 4 <= end; i++) {
      out.push({ offset: p, width: 2, kind: 'fieldType' }, { offset: p + 2, width: 2, kind: 'fieldLength' });
      const enterprise = (b[p] & 0x80) !== 0;
      p += 4;
      if (enterprise) {
        if (p + 4 > end) return;
        out.push({ offset: p, width: 4, kind: 'id' });
        p += 4;
      }
    }
    o = p;
  }
}

/** Possible variable-length prefixes inside an IPFIX data set: bytes equal to 255 or small. */
function ipfixVarLengths(b: Uint8Array, o: number, end: number, out: FieldRef[]): void {
  for (let p = o; p < end && out.length < 512; p++) {
    if (b[p] === 255 && p + 2 < end) out.push({ offset: p + 1, width: 2, kind: 'length' });
  }
}

function sflowStructure(b: Uint8Array, out: FieldRef[]): void {
  const end = b.length;
  if (end < 8) return;
  out.push({ offset: 4, width: 4, kind: 'id' });
  const type = u32(b, 4);
  const alen = type === 1 ? 4 : type === 2 ? 16 : 0;
  let p = 8 + alen;
  if (p + 16 > end) return;
  out.push({ offset: p, width: 4, kind: 'id' }, { offset: p + 4, width: 4, kind: 'value' }, { offset: p + 12, width: 4, kind: 'count' });
  const samples = u32(b, p + 12);
  p += 16;
  for (let i = 0; i < samples && p + 8 <= end; i++) {
    out.push({ offset: p, width: 4, kind: 'id' }, { offset: p + 4, width: 4, kind: 'length' });
    const format = u32(b, p);
    const len = u32(b, p + 4);
    const body = p + 8;
    if (len > end - body) return;
    const sampleEnd = body + len;
    const fixed = format === 1 ? 32 : format === 3 ? 44 : format === 2 ? 12 : format === 4 ? 16 : -1;
    if (fixed >= 0 && body + fixed <= sampleEnd) {
      // Sequence, source id, rate / pool / drops or interface words, then the record count.
      for (let w = body; w < body + fixed - 4; w += 4) out.push({ offset: w, width: 4, kind: 'value' });
      out.push({ offset: body + fixed - 4, width: 4, kind: 'count' });
      let q = body + fixed;
      const records = u32(b, body + fixed - 4);
      for (let j = 0; j < records && q + 8 <= sampleEnd; j++) {
        out.push({ offset: q, width: 4, kind: 'id' }, { offset: q + 4, width: 4, kind: 'length' });
        const rformat = u32(b, q);
        const rlen = u32(b, q + 4);
        if (rlen > sampleEnd - q - 8) break;
        if ((format === 1 || format === 3) && rformat === 1 && rlen >= 16) {
          // Raw packet header: protocol, frame length, stripped, header length.
          out.push(
            { offset: q + 8, width: 4, kind: 'id' },
            { offset: q + 12, width: 4, kind: 'value' },
            { offset: q + 20, width: 4, kind: 'length' },
          );
          packetHeaderFields(b, q + 24, q + 8 + rlen, out);
        }
        q += 8 + rlen;
      }
    }
    p = sampleEnd;
  }
}

/** Inside a sampled Ethernet frame: ethertype, IP header length / total length, next header. */
function packetHeaderFields(b: Uint8Array, o: number, end: number, out: FieldRef[]): void {
  if (o + 14 > end) return;
  out.push({ offset: o + 12, width: 2, kind: 'id' });
  const ip = o + 14;
  if (ip + 20 > end) return;
  out.push({ offset: ip, width: 1, kind: 'length' }, { offset: ip + 2, width: 2, kind: 'length' }, { offset: ip + 6, width: 2, kind: 'value' });
  out.push({ offset: ip + 9, width: 1, kind: 'id' }, { offset: ip + 6, width: 1, kind: 'id' });
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x40, 0x45, 0x60, 0x46, 0x4f];
const INTERESTING_16 = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 16, 20, 24, 48, 0x7f, 0x80, 0xfe, 0xff, 0x100, 0x101, 0x3fff, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_32 = [0, 1, 2, 4, 5, 8, 0x7f, 0xff, 0x100, 0xffff, 0x10000, 0x3fffffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
/** Information elements the readers treat specially (addresses, counters, times, sampling, names, ntop / Cisco). */
const ELEMENT_IDS = [
  1, 2, 4, 6, 7, 8, 10, 11, 12, 14, 21, 22, 27, 28, 32, 34, 35, 48, 49, 50, 56, 57, 58, 59, 60, 61, 80, 81, 82, 85, 86, 94, 95, 96,
  136, 139, 143, 144, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 243, 302, 304, 305, 306, 309, 310,
  57472 + 118, 57472 + 119, 57472 + 123, 57472 + 124, 9282 | 0x8000, 9313 | 0x8000, 9316 | 0x8000, 9319 | 0x8000, 118 | 0x8000,
];
const FIELD_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 32, 255, 256, 0x7fff, 0xfffe, 0xffff];

function write(b: Uint8Array, f: FieldRef, v: number): void {
  const o = f.offset;
  if (o + f.width > b.length) return;
  if (f.width === 1) b[o] = v;
  else if (f.width === 2) {
    b[o] = v >>> 8;
    b[o + 1] = v;
  } else {
    b[o] = v >>> 24;
    b[o + 1] = v >>> 16;
    b[o + 2] = v >>> 8;
    b[o + 3] = v;
  }
}

function read(b: Uint8Array, f: FieldRef): number {
  if (f.offset + f.width > b.length) return 0;
  return f.width === 1 ? b[f.offset] : f.width === 2 ? u16(b, f.offset) : u32(b, f.offset);
}

/** A new value for a structural field: a boundary, a small step, or one related to the datagram's size. */
function fieldValue(rng: Rng, f: FieldRef, b: Uint8Array): number {
  const cur = read(b, f);
  const mask = f.width === 1 ? 0xff : f.width === 2 ? 0xffff : 0xffffffff;
  switch (rng.below(6)) {
    case 0:
      return (cur + 1 + rng.below(8)) & mask;
    case 1:
      return (cur - 1 - rng.below(8)) & mask;
    case 2:
      if (f.kind === 'fieldType') return rng.pick(ELEMENT_IDS);
      if (f.kind === 'fieldLength') return rng.pick(FIELD_LENGTHS);
      return (b.length - f.offset + rng.below(9) - 4) & mask;
    case 3:
      return rng.u32() & mask;
    default:
      return f.width === 1 ? rng.pick(INTERESTING_8) : f.width === 2 ? rng.pick(INTERESTING_16) : rng.pick(INTERESTING_32);
  }
}

export type MutationName =
  | 'bitflip'
  | 'byte'
  | 'interesting'
  | 'insert'
  | 'delete'
  | 'duplicate'
  | 'truncate'
  | 'extend'
  | 'field'
  | 'templateField'
  | 'splice'
  | 'random';

export const MUTATIONS: readonly MutationName[] = [
  'bitflip',
  'byte',
  'interesting',
  'insert',
  'delete',
  'duplicate',
  'truncate',
  'extend',
  'field',
  'field',
  'field',
  'templateField',
  'templateField',
  'splice',
  'random',
];

/** A copy that owns its bytes (Buffer#slice would share them with the capture it came from). */
function copy(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

/** Largest datagram the mutator makes: a UDP payload cannot be bigger. */
export const MAX_DATAGRAM = 65507;

/**
 * One mutation of `b` (never modified): returns a new datagram. `other` is a second datagram for
 * splicing (from the same protocol's pool).
 */
export function mutate(rng: Rng, b: Uint8Array, other: Uint8Array | undefined, op: MutationName = rng.pick(MUTATIONS)): Uint8Array {
  const n = b.length;
  switch (op) {
    case 'bitflip': {
      if (n === 0) return Uint8Array.of(rng.u32() & 0xff);
      const out = copy(b);
      const flips = 1 + rng.below(4);
      for (let i = 0; i < flips; i++) out[rng.below(n)] ^= 1 << rng.below(8);
      return out;
    }
    case 'byte': {
      if (n === 0) return Uint8Array.of(rng.u32() & 0xff);
      const out = copy(b);
      out[rng.below(n)] = rng.u32() & 0xff;
      return out;
    }
    case 'interesting': {
      if (n < 4) return mutate(rng, b, other, 'extend');
      const out = copy(b);
      const width = rng.pick([1, 2, 4] as const);
      const at = rng.below(n - width + 1);
      write(out, { offset: at, width, kind: 'value' }, width === 1 ? rng.pick(INTERESTING_8) : width === 2 ? rng.pick(INTERESTING_16) : rng.pick(INTERESTING_32));
      return out;
    }
    case 'insert': {
      const at = rng.below(n + 1);
      const len = 1 + rng.below(rng.chance(0.8) ? 8 : 64);
      if (n + len > MAX_DATAGRAM) return copy(b);
      const out = new Uint8Array(n + len);
      out.set(b.subarray(0, at), 0);
      const fill = rng.below(3);
      for (let i = 0; i < len; i++) out[at + i] = fill === 0 ? 0 : fill === 1 ? 0xff : rng.u32() & 0xff;
      out.set(b.subarray(at), at + len);
      return out;
    }
    case 'delete': {
      if (n === 0) return copy(b);
      const at = rng.below(n);
      const len = 1 + rng.below(Math.min(n - at, rng.chance(0.8) ? 8 : 256));
      const out = new Uint8Array(n - len);
      out.set(b.subarray(0, at), 0);
      out.set(b.subarray(at + len), at);
      return out;
    }
    case 'duplicate': {
      if (n === 0) return copy(b);
      const from = rng.below(n);
      const len = 1 + rng.below(Math.min(n - from, 512));
      const at = rng.below(n + 1);
      if (n + len > MAX_DATAGRAM) return copy(b);
      const out = new Uint8Array(n + len);
      out.set(b.subarray(0, at), 0);
      out.set(b.subarray(from, from + len), at);
      out.set(b.subarray(at), at + len);
      return out;
    }
    case 'truncate':
      return copy(b.subarray(0, rng.below(n + 1)));
    case 'extend': {
      const len = 1 + rng.below(rng.chance(0.9) ? 32 : 2048);
      if (n + len > MAX_DATAGRAM) return copy(b);
      const out = new Uint8Array(n + len);
      out.set(b, 0);
      if (rng.chance(0.5)) for (let i = n; i < n + len; i++) out[i] = rng.u32() & 0xff;
      return out;
    }
    case 'field':
    case 'templateField': {
      const fields = structureOf(b);
      const wanted = op === 'templateField' ? fields.filter((f) => f.kind === 'fieldType' || f.kind === 'fieldLength' || f.kind === 'count') : fields;
      const pool = wanted.length > 0 ? wanted : fields;
      if (pool.length === 0) return mutate(rng, b, other, 'interesting');
      const out = copy(b);
      const f = rng.pick(pool);
      write(out, f, fieldValue(rng, f, b));
      return out;
    }
    case 'splice': {
      if (other === undefined || other.length === 0 || n === 0) return mutate(rng, b, undefined, 'duplicate');
      // Head of one datagram, tail of another: the structures meet at arbitrary offsets.
      const cut = rng.below(n + 1);
      const from = rng.below(other.length + 1);
      const tail = other.subarray(from);
      const len = Math.min(cut + tail.length, MAX_DATAGRAM);
      const out = new Uint8Array(len);
      out.set(b.subarray(0, cut), 0);
      out.set(tail.subarray(0, len - cut), cut);
      return out;
    }
    case 'random': {
      // A valid-looking header followed by noise: gets past the version checks into the walkers.
      const len = rng.below(rng.chance(0.9) ? 256 : 4096);
      const out = new Uint8Array(len);
      for (let i = 0; i < len; i++) out[i] = rng.u32() & 0xff;
      out.set(b.subarray(0, Math.min(len, rng.pick([2, 4, 8, 16, 20, 24, 28]))), 0);
      return out;
    }
  }
}
