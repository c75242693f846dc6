/**
 * Kernel-side UDP drop counters (receive buffer overflows) from /proc/net/udp and /proc/net/udp6,
 * summed per local port. Linux only; elsewhere the map is empty.
 */
import { readFileSync } from 'node:fs';

export function readUdpDrops(files: string[] = ['/proc/net/udp', '/proc/net/udp6']): Map<number, number> {
  const drops = new Map<number, number>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    parseProcNetUdp(text, drops);
  }
  return drops;
}

/** Parses the /proc/net/udp table: local_address is HEXADDR:HEXPORT, drops is the last column. */
export function parseProcNetUdp(text: string, into = new Map<number, number>()): Map<number, number> {
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const cols = lines[i].trim().split(/\s+/);
    if (cols.length < 13) continue;
    const local = cols[1];
    const colon = local.lastIndexOf(':');
    const port = parseInt(local.slice(colon + 1), 16);
    const d = Number(cols[cols.length - 1]);
    if (!Number.isFinite(port) || !Number.isFinite(d)) continue;
    into.set(port, (into.get(port) ?? 0) + d);
  }
  return into;
}
