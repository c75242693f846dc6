/**
 * NetFlow v9 export datagrams for the UDP benchmarks, built the way softflowd builds them: its
 * IPv4 template 1024 (the field list in the corpus README), ~1.5 kB datagrams of 29 records. The
 * key space (local devices x remote peers) is a parameter, so one builder serves the end-to-end
 * run (a small, corpus-like mix), the scrape run (enough keys for ~10k series) and the key-scale
 * run (up to a million distinct keys). Peers come from 198.18.0.0/15 (RFC 2544, benchmarking).
 */
import { writeFileSync } from 'node:fs';

/** softflowd's IPv4 data template: [element id, length]. */
export const SOFTFLOWD_IPV4_TEMPLATE: ReadonlyArray<readonly [number, number]> = [
  [8, 4], [12, 4], [152, 8], [153, 8], [1, 4], [2, 4], [10, 4], [14, 4],
  [61, 1], [136, 1], [7, 2], [11, 2], [4, 1], [6, 1], [60, 1], [5, 1],
];
export const TEMPLATE_ID = 1024;
export const RECORD_LENGTH = SOFTFLOWD_IPV4_TEMPLATE.reduce((n, [, len]) => n + len, 0);
export const RECORDS_PER_DATAGRAM = 29;

const APP_PORTS = [443, 443, 443, 80, 53, 1883, 8883, 22, 123, 5683];
const T0_MS = 1_700_000_000_000;

export interface KeySpace {
  /** Local devices (10.0.0.0/8). */
  devices: number;
  /** Remote peers per device (198.18.0.0/15, shifted per device so pairs are distinct). */
  peers: number;
}

class Out {
  readonly b: Buffer;
  o = 0;
  constructor(size: number) {
    this.b = Buffer.alloc(size);
  }
  u8(v: number): this {
    this.b[this.o++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.b.writeUInt16BE(v & 0xffff, this.o);
    this.o += 2;
    return this;
  }
  u32(v: number): this {
    this.b.writeUInt32BE(v >>> 0, this.o);
    this.o += 4;
    return this;
  }
  u64(v: number): this {
    return this.u32(Math.floor(v / 4294967296)).u32(v % 4294967296);
  }
}

function header(w: Out, count: number, seq: number): void {
  w.u16(9).u16(count).u32(3_600_000).u32(T0_MS / 1000 + 60).u32(seq).u32(0);
}

/** The templates datagram an exporter sends first (the template flowset only). */
export function helloDatagram(): Buffer {
  const setLen = 4 + 4 + SOFTFLOWD_IPV4_TEMPLATE.length * 4;
  const w = new Out(20 + setLen);
  header(w, 1, 0);
  w.u16(0).u16(setLen).u16(TEMPLATE_ID).u16(SOFTFLOWD_IPV4_TEMPLATE.length);
  for (const [id, len] of SOFTFLOWD_IPV4_TEMPLATE) w.u16(id).u16(len);
  return w.b;
}

/** The addresses of key k: device 10.a.b.c, peer 198.18.x.y; keys cycle through devices first. */
export function keyAddresses(k: number, space: KeySpace): { device: number; peer: number } {
  const d = k % space.devices;
  const p = Math.floor(k / space.devices) % space.peers;
  const device = (10 << 24) + 1 + d;
  // Spread a device's peers over 198.18.0.0/15 from an offset of its own.
  const peer = ((198 << 24) | (18 << 16)) + ((d * 7919 + p) % 131072);
  return { device: device >>> 0, peer: peer >>> 0 };
}

/**
 * `count` data datagrams whose records walk the key space in order (record n is key n mod keys,
 * or keyAt(n) when given), alternating direction (device -> peer, then peer -> device) and ports
 * from a small app mix.
 */
export function dataDatagrams(count: number, space: KeySpace, firstKey = 0, keyAt?: (n: number) => number): Buffer[] {
  const keys = space.devices * space.peers;
  const out: Buffer[] = [];
  let n = firstKey;
  for (let i = 0; i < count; i++) {
    const setLen = 4 + RECORDS_PER_DATAGRAM * RECORD_LENGTH;
    const w = new Out(20 + setLen);
    header(w, RECORDS_PER_DATAGRAM, i + 1);
    w.u16(TEMPLATE_ID).u16(setLen);
    for (let r = 0; r < RECORDS_PER_DATAGRAM; r++, n++) {
      const k = keyAt === undefined ? n % keys : keyAt(n) % keys;
      const { device, peer } = keyAddresses(k, space);
      const outbound = (n & 1) === 0;
      const appPort = APP_PORTS[k % APP_PORTS.length];
      const ephemeral = 32768 + (n % 28000);
      const proto = appPort === 53 || appPort === 123 || appPort === 5683 ? 17 : 6;
      w.u32(outbound ? device : peer).u32(outbound ? peer : device);
      w.u64(T0_MS + (n % 60_000)).u64(T0_MS + (n % 60_000) + 1500);
      w.u32(200 + (n % 1300) * 7).u32(1 + (n % 40));
      w.u32(1).u32(2);
      w.u8(outbound ? 1 : 0).u8(1);
      w.u16(outbound ? ephemeral : appPort).u16(outbound ? appPort : ephemeral);
      w.u8(proto).u8(proto === 6 ? 0x1b : 0).u8(4).u8(0);
    }
    out.push(w.b);
  }
  return out;
}

/** The sender's file: [u32 length][bytes] per datagram, hello first. */
export function writeSenderFile(path: string, hello: Buffer, data: Buffer[]): void {
  const parts: Buffer[] = [];
  for (const d of [hello, ...data]) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(d.length);
    parts.push(len, d);
  }
  writeFileSync(path, Buffer.concat(parts));
}
