/**
 * Parses a sampled packet header (the first bytes of a frame, as sFlow's raw packet header record
 * carries them) into the L2-L4 fields of a FlowRecord: MACs, VLAN, address family, addresses, IP
 * protocol, ports, TCP flags.
 *
 * Handles Ethernet II, 802.3 LLC/SNAP, 802.1Q and stacked tags (QinQ: 0x88a8, 0x9100, 0x9200),
 * PPPoE sessions, PPP/POS framing, MPLS label stacks, IPv4 (options, fragments), IPv6 with extension
 * headers (hop-by-hop, routing, fragment, destination options, AH, mobility, HIP, shim6), TCP, UDP,
 * UDP-Lite, SCTP, ICMP and ICMPv6. On request it also looks inside GRE, VXLAN, IP-in-IP and
 * IPv6-in-IP and reports the inner packet's L3/L4 fields.
 *
 * Sampled headers are cut short on purpose (often 128 bytes), so running out of bytes is normal, not
 * an error: whatever was read before the end stays in the record. Nothing here reads past `end`,
 * throws, or allocates.
 */
import type { FlowRecord } from '../record.js';

/** sFlow header_protocol values (sFlow v5, sampled_header) this parser understands. */
export const HeaderProtocol = {
  ethernet: 1,
  ppp: 7,
  ipv4: 11,
  ipv6: 12,
  mpls: 13,
  pos: 14,
} as const;

/** How far the parser got; higher is deeper. */
export const HeaderResult = {
  /** Unsupported header protocol, or too short for even the link header. */
  none: 0,
  /** Link layer only: MACs (and VLAN) set, no IP (ARP, LLDP, truncated, unknown ethertype...). */
  l2: 1,
  /** IP addresses and protocol set; no ports (fragment, truncated, or a protocol without ports). */
  l3: 2,
  /** Ports (or ICMP type/code) set as well. */
  l4: 3,
} as const;
export type HeaderResult = (typeof HeaderResult)[keyof typeof HeaderResult];

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_MPLS_UC = 0x8847;
const ETH_MPLS_MC = 0x8848;
const ETH_PPPOE_SESSION = 0x8864;
const ETH_TEB = 0x6558; // transparent Ethernet bridging inside GRE

const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;
const PPP_MPLS_UC = 0x0281;

const IPPROTO_ICMP = 1;
const IPPROTO_IPIP = 4;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_IPV6 = 41;
const IPPROTO_GRE = 47;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_SCTP = 132;
const IPPROTO_UDPLITE = 136;

const VXLAN_PORT = 4789;

/** Bounds on loops driven by packet contents (they also stop at `end`). */
const MAX_VLAN_TAGS = 4;
const MAX_MPLS_LABELS = 16;
const MAX_IPV6_EXT_HEADERS = 12;
const MAX_TUNNEL_DEPTH = 2;

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/**
 * Fills `rec` from the header bytes b[off, end). `rec` should be freshly reset: fields the header
 * does not reach keep their values. `decapsulate` replaces the outer L3/L4 fields by those of a
 * GRE / VXLAN / IP-in-IP payload when the inner IP header is complete (MACs and VLAN stay outer).
 */
export function decodePacketHeader(
  b: Uint8Array,
  off: number,
  end: number,
  headerProtocol: number,
  rec: FlowRecord,
  decapsulate = false,
): HeaderResult {
  if (end > b.length) end = b.length;
  if (off >= end) return HeaderResult.none;
  const depth = decapsulate ? 0 : MAX_TUNNEL_DEPTH;
  switch (headerProtocol) {
    case HeaderProtocol.ethernet:
      return parseEthernet(b, off, end, rec, depth, true);
    case HeaderProtocol.ipv4:
      return parseIPv4(b, off, end, rec, depth);
    case HeaderProtocol.ipv6:
      return parseIPv6(b, off, end, rec, depth);
    case HeaderProtocol.mpls:
      return parseMpls(b, off, end, rec, depth);
    case HeaderProtocol.ppp:
    case HeaderProtocol.pos:
      return parsePpp(b, off, end, rec, depth);
    default:
      return HeaderResult.none;
  }
}

/** `outer` = the frame on the wire: its MACs and VLAN go into the record; inner frames only add L3/L4. */
function parseEthernet(b: Uint8Array, off: number, end: number, rec: FlowRecord, depth: number, outer: boolean): HeaderResult {
  if (end - off < 14) {
    if (outer && end - off >= 12) setMacs(b, off, rec);
    return outer && end - off >= 12 ? HeaderResult.l2 : HeaderResult.none;
  }
  if (outer) setMacs(b, off, rec);
  let type = u16(b, off + 12);
  let p = off + 14;
  let tagged = false;
  for (let i = 0; i < MAX_VLAN_TAGS && isVlanTpid(type); i++) {
    if (end - p < 4) return HeaderResult.l2;
    // The outer tag is the one the device switched on (IPFIX dot1qVlanId); inner C-tags are not kept.
    if (outer && !tagged) rec.vlan = u16(b, p) & 0x0fff;
    tagged = true;
    type = u16(b, p + 2);
    p += 4;
  }
  if (type < 0x0600) {
    // 802.3 length field: only LLC/SNAP (AA-AA-03) says what follows.
    if (end - p < 8 || b[p] !== 0xaa || b[p + 1] !== 0xaa || b[p + 2] !== 0x03) return HeaderResult.l2;
    type = u16(b, p + 6);
    p += 8;
  }
  const r = parseEtherType(b, type, p, end, rec, depth);
  return r === HeaderResult.none ? HeaderResult.l2 : r;
}

function isVlanTpid(type: number): boolean {
  return type === 0x8100 || type === 0x88a8 || type === 0x9100 || type === 0x9200;
}

function setMacs(b: Uint8Array, off: number, rec: FlowRecord): void {
  const dst = rec.dstMac;
  const src = rec.srcMac;
  for (let i = 0; i < 6; i++) {
    dst[i] = b[off + i];
    src[i] = b[off + 6 + i];
  }
  rec.hasDstMac = true;
  rec.hasSrcMac = true;
}

function parseEtherType(b: Uint8Array, type: number, p: number, end: number, rec: FlowRecord, depth: number): HeaderResult {
  switch (type) {
    case ETH_IPV4:
      return parseIPv4(b, p, end, rec, depth);
    case ETH_IPV6:
      return parseIPv6(b, p, end, rec, depth);
    case ETH_MPLS_UC:
    case ETH_MPLS_MC:
      return parseMpls(b, p, end, rec, depth);
    case ETH_PPPOE_SESSION:
      // ver/type, code, session id, length, then the PPP protocol field.
      if (end - p < 8) return HeaderResult.none;
      return parsePppProtocol(b, u16(b, p + 6), p + 8, end, rec, depth);
    default:
      return HeaderResult.none;
  }
}

/** PPP in HDLC-like framing (RFC 1662; POS, RFC 2615): optional FF 03, then a 1- or 2-byte protocol. */
function parsePpp(b: Uint8Array, off: number, end: number, rec: FlowRecord, depth: number): HeaderResult {
  let p = off;
  if (end - p >= 2 && b[p] === 0xff && b[p + 1] === 0x03) p += 2;
  if (end - p < 1) return HeaderResult.none;
  // Protocol-field compression: an odd first byte is a complete 1-byte protocol.
  if (b[p] & 1) return parsePppProtocol(b, b[p], p + 1, end, rec, depth);
  if (end - p < 2) return HeaderResult.none;
  return parsePppProtocol(b, u16(b, p), p + 2, end, rec, depth);
}

function parsePppProtocol(b: Uint8Array, proto: number, p: number, end: number, rec: FlowRecord, depth: number): HeaderResult {
  if (proto === PPP_IPV4) return parseIPv4(b, p, end, rec, depth);
  if (proto === PPP_IPV6) return parseIPv6(b, p, end, rec, depth);
  if (proto === PPP_MPLS_UC) return parseMpls(b, p, end, rec, depth);
  return HeaderResult.none;
}

/** MPLS label stack, then IP guessed from the version nibble (the stack does not say what it carries). */
function parseMpls(b: Uint8Array, off: number, end: number, rec: FlowRecord, depth: number): HeaderResult {
  let p = off;
  for (let i = 0; i < MAX_MPLS_LABELS; i++) {
    if (end - p < 4) return HeaderResult.none;
    const bottom = b[p + 2] & 1;
    p += 4;
    if (bottom) {
      if (end - p < 1) return HeaderResult.none;
      const version = b[p] >> 4;
      if (version === 4) return parseIPv4(b, p, end, rec, depth);
      if (version === 6) return parseIPv6(b, p, end, rec, depth);
      // 0 = pseudowire control word (Ethernet over MPLS...): not guessed.
      return HeaderResult.none;
    }
  }
  return HeaderResult.none;
}

function clearL3(rec: FlowRecord): void {
  if (rec.af !== 0) {
    rec.src.fill(0);
    rec.dst.fill(0);
  }
  rec.srcPort = 0;
  rec.dstPort = 0;
  rec.tcpFlags = 0;
}

function parseIPv4(b: Uint8Array, p: number, end: number, rec: FlowRecord, depth: number): HeaderResult {
  if (end - p < 20) return HeaderResult.none;
  const ihl = (b[p] & 0x0f) * 4;
  if (b[p] >> 4 !== 4 || ihl < 20) return HeaderResult.none;
  clearL3(rec);
  rec.af = 4;
  const src = rec.src;
  const dst = rec.dst;
  for (let i = 0; i < 4; i++) {
    src[i] = b[p + 12 + i];
    dst[i] = b[p + 16 + i];
  }
  const proto = b[p + 9];
  rec.protocol = proto;
  // Non-first fragments carry no transport header.
  if ((u16(b, p + 6) & 0x1fff) !== 0) return HeaderResult.l3;
  return parseTransport(b, proto, p + ihl, end, rec, depth, 4);
}

function parseIPv6(b: Uint8Array, p: number, end: number, rec: FlowRecord, depth: number): HeaderResult {
  if (end - p < 40) return HeaderResult.none;
  if (b[p] >> 4 !== 6) return HeaderResult.none;
  clearL3(rec);
  rec.af = 6;
  const src = rec.src;
  const dst = rec.dst;
  for (let i = 0; i < 16; i++) {
    src[i] = b[p + 8 + i];
    dst[i] = b[p + 24 + i];
  }
  let next = b[p + 6];
  let q = p + 40;
  for (let i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
    let len: number;
    switch (next) {
      case 0: // hop-by-hop options
      case 43: // routing
      case 60: // destination options
      case 135: // mobility
      case 139: // HIP
      case 140: // shim6
      case 253: // experimental
      case 254:
        if (end - q < 2) {
          rec.protocol = next;
          return HeaderResult.l3;
        }
        len = (b[q + 1] + 1) * 8;
        break;
      case 44: // fragment: fixed 8 bytes
        if (end - q < 8) {
          rec.protocol = next;
          return HeaderResult.l3;
        }
        if ((u16(b, q + 2) & 0xfff8) !== 0) {
          rec.protocol = b[q];
          return HeaderResult.l3;
        }
        len = 8;
        break;
      case 51: // AH: length in 4-byte units, minus 2
        if (end - q < 2) {
          rec.protocol = next;
          return HeaderResult.l3;
        }
        len = (b[q + 1] + 2) * 4;
        break;
      default:
        rec.protocol = next;
        return parseTransport(b, next, q, end, rec, depth, 6);
    }
    next = b[q];
    q += len;
  }
  rec.protocol = next;
  return HeaderResult.l3;
}

function parseTransport(b: Uint8Array, proto: number, q: number, end: number, rec: FlowRecord, depth: number, af: 4 | 6): HeaderResult {
  switch (proto) {
    case IPPROTO_TCP:
      if (end - q < 4) return HeaderResult.l3;
      rec.srcPort = u16(b, q);
      rec.dstPort = u16(b, q + 2);
      if (end - q >= 14) rec.tcpFlags = b[q + 13];
      return HeaderResult.l4;
    case IPPROTO_UDP:
      if (end - q < 4) return HeaderResult.l3;
      rec.srcPort = u16(b, q);
      rec.dstPort = u16(b, q + 2);
      if (depth < MAX_TUNNEL_DEPTH && rec.dstPort === VXLAN_PORT && end - q >= 16 && (b[q + 8] & 0x08) !== 0) {
        // VXLAN (RFC 7348): 8-byte header with the I flag, then the inner Ethernet frame.
        const inner = innerEthernetIp(b, q + 16, end);
        if (inner >= 0) return parseEtherPayload(b, inner, end, rec, depth + 1);
      }
      return HeaderResult.l4;
    case IPPROTO_SCTP:
    case IPPROTO_UDPLITE:
      if (end - q < 4) return HeaderResult.l3;
      rec.srcPort = u16(b, q);
      rec.dstPort = u16(b, q + 2);
      return HeaderResult.l4;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      // Type and code go where NetFlow exporters put them: dstPort = type * 256 + code, srcPort 0.
      if ((proto === IPPROTO_ICMP) !== (af === 4)) return HeaderResult.l3;
      if (end - q < 2) return HeaderResult.l3;
      rec.srcPort = 0;
      rec.dstPort = (b[q] << 8) | b[q + 1];
      return HeaderResult.l4;
    case IPPROTO_GRE:
      if (depth < MAX_TUNNEL_DEPTH) return parseGre(b, q, end, rec, depth);
      return HeaderResult.l3;
    case IPPROTO_IPIP:
      if (depth < MAX_TUNNEL_DEPTH && completeIp(b, q, end, 4)) return parseIPv4(b, q, end, rec, depth + 1);
      return HeaderResult.l3;
    case IPPROTO_IPV6:
      if (depth < MAX_TUNNEL_DEPTH && completeIp(b, q, end, 6)) return parseIPv6(b, q, end, rec, depth + 1);
      return HeaderResult.l3;
    default:
      return HeaderResult.l3;
  }
}

/** GRE (RFC 2784 / 2890): version 0 only; checksum, key and sequence fields skipped. */
function parseGre(b: Uint8Array, q: number, end: number, rec: FlowRecord, depth: number): HeaderResult {
  if (end - q < 4) return HeaderResult.l3;
  const flags = u16(b, q);
  // Version 1 is PPTP's enhanced GRE; the routing bit (RFC 1701) adds variable fields: keep the outer.
  if ((flags & 0x7) !== 0 || (flags & 0x4000) !== 0) return HeaderResult.l3;
  const proto = u16(b, q + 2);
  let p = q + 4;
  if (flags & 0x8000) p += 4;
  if (flags & 0x2000) p += 4;
  if (flags & 0x1000) p += 4;
  if (proto === ETH_TEB) {
    const inner = innerEthernetIp(b, p, end);
    return inner >= 0 ? parseEtherPayload(b, inner, end, rec, depth + 1) : HeaderResult.l3;
  }
  if (proto === ETH_IPV4 && completeIp(b, p, end, 4)) return parseIPv4(b, p, end, rec, depth + 1);
  if (proto === ETH_IPV6 && completeIp(b, p, end, 6)) return parseIPv6(b, p, end, rec, depth + 1);
  return HeaderResult.l3;
}

/** Offset of the IP header inside an inner Ethernet frame when it is complete, else -1. */
function innerEthernetIp(b: Uint8Array, off: number, end: number): number {
  if (end - off < 14) return -1;
  let type = u16(b, off + 12);
  let p = off + 14;
  for (let i = 0; i < MAX_VLAN_TAGS && isVlanTpid(type); i++) {
    if (end - p < 4) return -1;
    type = u16(b, p + 2);
    p += 4;
  }
  if (type === ETH_IPV4 && completeIp(b, p, end, 4)) return p;
  if (type === ETH_IPV6 && completeIp(b, p, end, 6)) return p;
  return -1;
}

function parseEtherPayload(b: Uint8Array, p: number, end: number, rec: FlowRecord, depth: number): HeaderResult {
  return b[p] >> 4 === 4 ? parseIPv4(b, p, end, rec, depth) : parseIPv6(b, p, end, rec, depth);
}

/** An inner IP header is used only when its fixed part is all there, so the outer one is never half-replaced. */
function completeIp(b: Uint8Array, p: number, end: number, version: 4 | 6): boolean {
  if (version === 4) return end - p >= 20 && b[p] >> 4 === 4 && (b[p] & 0x0f) >= 5;
  return end - p >= 40 && b[p] >> 4 === 6;
}
