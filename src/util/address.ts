/** Address formatting and parsing for the 16-byte address buffers of FlowRecord. */
import { isIP } from 'node:net';

export function formatIPv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 text form (lower case, longest zero run compressed). */
export function formatIPv6(b: Uint8Array, off = 0): string {
  const words = new Array<number>(8);
  for (let i = 0; i < 8; i++) words[i] = (b[off + 2 * i] << 8) | b[off + 2 * i + 1];
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // IPv4-mapped addresses keep their dotted tail, as other tools print them.
  if (bestStart === 0 && bestLen === 5 && words[5] === 0xffff) {
    return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  }
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      parts.push(i === 0 ? ':' : '');
      i += bestLen - 1;
      if (i === 7) parts.push('');
      continue;
    }
    parts.push(words[i].toString(16));
  }
  return parts.join(':');
}

export function formatAddress(af: number, b: Uint8Array): string {
  if (af === 4) return formatIPv4(b);
  if (af === 6) return formatIPv6(b);
  return '';
}

/** Parses an IPv4 or IPv6 literal into a 16-byte buffer; returns the family, or 0 when invalid. */
export function parseAddress(text: string, out: Uint8Array): 0 | 4 | 6 {
  const kind = isIP(text);
  out.fill(0);
  if (kind === 4) {
    const p = text.split('.');
    for (let i = 0; i < 4; i++) out[i] = Number(p[i]);
    return 4;
  }
  if (kind === 6) {
    let s = text;
    const zone = s.indexOf('%');
    if (zone >= 0) s = s.slice(0, zone);
    let tail: number[] = [];
    const lastColon = s.lastIndexOf(':');
    if (s.indexOf('.', lastColon) >= 0) {
      tail = s.slice(lastColon + 1).split('.').map(Number);
      s = s.slice(0, lastColon + 1) + '0:0';
    }
    const [head, rest] = s.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const r = rest !== undefined ? (rest ? rest.split(':') : []) : [];
    const words = new Array<number>(8).fill(0);
    h.forEach((w, i) => (words[i] = parseInt(w, 16)));
    r.forEach((w, i) => (words[8 - r.length + i] = parseInt(w, 16)));
    for (let i = 0; i < 8; i++) {
      out[2 * i] = words[i] >> 8;
      out[2 * i + 1] = words[i] & 0xff;
    }
    if (tail.length === 4) out.set(tail, 12);
    return 6;
  }
  return 0;
}

export function formatMac(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + b[i].toString(16).padStart(2, '0');
  return s;
}
