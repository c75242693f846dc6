/**
 * Reads UDP datagrams out of a pcap or pcapng capture: the offline input of `flowgauge replay` and
 * of the tests. Handles classic pcap (µs and ns, both byte orders) and pcapng (SHB/IDB/EPB/SPB, both
 * byte orders); link types Ethernet (with 802.1Q/QinQ), Linux cooked v1/v2, BSD loopback/null and raw
 * IP; IPv4 (unfragmented) and IPv6 (with extension headers). Non-UDP packets are skipped and counted.
 */

export interface UdpDatagram {
  /** Capture time in milliseconds since the epoch. */
  timeMs: number;
  af: 4 | 6;
  /** Source address, 16 bytes (IPv4 in the first 4). */
  srcAddr: Uint8Array;
  dstAddr: Uint8Array;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

export interface PcapReadResult {
  datagrams: UdpDatagram[];
  /** Packets that were not UDP over IP (or were fragments / truncated). */
  skipped: number;
}

const LINKTYPE_NULL = 0;
const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_LOOP = 108;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;
const LINKTYPE_IPV4 = 228;
const LINKTYPE_IPV6 = 229;

export class PcapFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PcapFormatError';
  }
}

export function readPcap(data: Uint8Array, source = 'capture'): PcapReadResult {
  if (data.length < 4) throw new PcapFormatError(`${source}: too short to be a pcap or pcapng file`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magicBE = view.getUint32(0, false);
  if (magicBE === 0x0a0d0d0a) return readPcapng(data, view, source);
  return readClassic(data, view, source);
}

function readClassic(data: Uint8Array, view: DataView, source: string): PcapReadResult {
  if (data.length < 24) throw new PcapFormatError(`${source}: truncated pcap global header`);
  const m = view.getUint32(0, true);
  let le: boolean;
  let nano: boolean;
  if (m === 0xa1b2c3d4) [le, nano] = [true, false];
  else if (m === 0xa1b23c4d) [le, nano] = [true, true];
  else if (m === 0xd4c3b2a1) [le, nano] = [false, false];
  else if (m === 0x4d3cb2a1) [le, nano] = [false, true];
  else throw new PcapFormatError(`${source}: not a pcap or pcapng file (magic 0x${view.getUint32(0, false).toString(16)})`);
  const linkType = view.getUint32(20, le) & 0x0fffffff;
  const out: PcapReadResult = { datagrams: [], skipped: 0 };
  let off = 24;
  while (off + 16 <= data.length) {
    const sec = view.getUint32(off, le);
    const frac = view.getUint32(off + 4, le);
    const capLen = view.getUint32(off + 8, le);
    off += 16;
    if (off + capLen > data.length) break; // truncated last packet
    const timeMs = sec * 1000 + (nano ? frac / 1e6 : frac / 1e3);
    pushPacket(out, data.subarray(off, off + capLen), linkType, timeMs);
    off += capLen;
  }
  return out;
}

function readPcapng(data: Uint8Array, view: DataView, source: string): PcapReadResult {
  const out: PcapReadResult = { datagrams: [], skipped: 0 };
  let le = true;
  let interfaces: Array<{ linkType: number; tsDiv: number }> = [];
  let off = 0;
  while (off + 12 <= data.length) {
    const typeBE = view.getUint32(off, false);
    if (typeBE === 0x0a0d0d0a) {
      const bom = view.getUint32(off + 8, true);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new PcapFormatError(`${source}: bad pcapng byte-order magic`);
      interfaces = [];
    }
    const type = view.getUint32(off, le);
    const len = view.getUint32(off + 4, le);
    if (len < 12 || off + len > data.length) break;
    const body = off + 8;
    if (type === 1) {
      // Interface Description Block: link type, then options (if_tsresol = 9).
      const linkType = view.getUint16(body, le);
      let tsDiv = 1e3; // default resolution: microseconds -> ms divisor
      let o = body + 8;
      const end = off + len - 4;
      while (o + 4 <= end) {
        const code = view.getUint16(o, le);
        const olen = view.getUint16(o + 2, le);
        if (code === 0) break;
        if (code === 9 && olen >= 1) {
          const r = data[o + 4];
          const unitsPerSec = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
          tsDiv = unitsPerSec / 1000;
        }
        o += 4 + ((olen + 3) & ~3);
      }
      interfaces.push({ linkType, tsDiv });
    } else if (type === 6) {
      const ifIdx = view.getUint32(body, le);
      const tsHigh = view.getUint32(body + 4, le);
      const tsLow = view.getUint32(body + 8, le);
      const capLen = view.getUint32(body + 12, le);
      const iface = interfaces[ifIdx];
      const start = body + 20;
      if (iface && start + capLen <= off + len) {
        const timeMs = (tsHigh * 4294967296 + tsLow) / iface.tsDiv;
        pushPacket(out, data.subarray(start, start + capLen), iface.linkType, timeMs);
      } else out.skipped++;
    } else if (type === 3) {
      const iface = interfaces[0];
      const origLen = view.getUint32(body, le);
      const start = body + 4;
      const capLen = Math.min(origLen, off + len - 4 - start);
      if (iface) pushPacket(out, data.subarray(start, start + capLen), iface.linkType, 0);
      else out.skipped++;
    }
    off += len;
  }
  return out;
}

function pushPacket(out: PcapReadResult, pkt: Uint8Array, linkType: number, timeMs: number): void {
  const d = decodeLink(pkt, linkType, timeMs);
  if (d) out.datagrams.push(d);
  else out.skipped++;
}

function decodeLink(p: Uint8Array, linkType: number, timeMs: number): UdpDatagram | undefined {
  let off = 0;
  let etherType = -1;
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (p.length < 14) return undefined;
      off = 12;
      etherType = (p[off] << 8) | p[off + 1];
      off += 2;
      while ((etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) && off + 4 <= p.length) {
        etherType = (p[off + 2] << 8) | p[off + 3];
        off += 4;
      }
      break;
    }
    case LINKTYPE_LINUX_SLL:
      if (p.length < 16) return undefined;
      etherType = (p[14] << 8) | p[15];
      off = 16;
      break;
    case LINKTYPE_LINUX_SLL2:
      if (p.length < 20) return undefined;
      etherType = (p[0] << 8) | p[1];
      off = 20;
      break;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (p.length < 4) return undefined;
      // The address family is host byte order for NULL and network order for LOOP; 2 = AF_INET.
      const fam = p[0] || p[3];
      etherType = fam === 2 ? 0x0800 : 0x86dd;
      off = 4;
      break;
    }
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      if (p.length < 1) return undefined;
      etherType = p[0] >> 4 === 4 ? 0x0800 : 0x86dd;
      break;
    default:
      return undefined;
  }
  if (etherType === 0x0800) return decodeIPv4(p, off, timeMs);
  if (etherType === 0x86dd) return decodeIPv6(p, off, timeMs);
  return undefined;
}

function decodeIPv4(p: Uint8Array, off: number, timeMs: number): UdpDatagram | undefined {
  if (off + 20 > p.length || p[off] >> 4 !== 4) return undefined;
  const ihl = (p[off] & 0x0f) * 4;
  const total = (p[off + 2] << 8) | p[off + 3];
  const fragBits = ((p[off + 6] << 8) | p[off + 7]) & 0x3fff; // MF flag + offset
  if (fragBits !== 0 || p[off + 9] !== 17) return undefined;
  const end = Math.min(p.length, off + total);
  const src = new Uint8Array(16);
  const dst = new Uint8Array(16);
  src.set(p.subarray(off + 12, off + 16));
  dst.set(p.subarray(off + 16, off + 20));
  return decodeUdp(p, off + ihl, end, 4, src, dst, timeMs);
}

function decodeIPv6(p: Uint8Array, off: number, timeMs: number): UdpDatagram | undefined {
  if (off + 40 > p.length || p[off] >> 4 !== 6) return undefined;
  const payloadLen = (p[off + 4] << 8) | p[off + 5];
  let next = p[off + 6];
  const src = p.slice(off + 8, off + 24);
  const dst = p.slice(off + 24, off + 40);
  const end = Math.min(p.length, off + 40 + payloadLen);
  let o = off + 40;
  // Hop-by-hop, routing, destination options; a fragment header means we cannot read the UDP header.
  while ((next === 0 || next === 43 || next === 60) && o + 8 <= end) {
    next = p[o];
    o += (p[o + 1] + 1) * 8;
  }
  if (next !== 17) return undefined;
  return decodeUdp(p, o, end, 6, src, dst, timeMs);
}

function decodeUdp(
  p: Uint8Array,
  off: number,
  ipEnd: number,
  af: 4 | 6,
  srcAddr: Uint8Array,
  dstAddr: Uint8Array,
  timeMs: number,
): UdpDatagram | undefined {
  if (off + 8 > ipEnd) return undefined;
  const srcPort = (p[off] << 8) | p[off + 1];
  const dstPort = (p[off + 2] << 8) | p[off + 3];
  const udpLen = (p[off + 4] << 8) | p[off + 5];
  const end = udpLen >= 8 ? Math.min(ipEnd, off + udpLen) : ipEnd;
  return { timeMs, af, srcAddr, dstAddr, srcPort, dstPort, payload: p.slice(off + 8, end) };
}
