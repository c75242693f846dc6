/**
 * Kernel-side UDP drop counters (receive buffer overflows) from /proc/net/udp and /proc/net/udp6,
 * summed per local port over the sockets of one process. Linux only; elsewhere the map is empty.
 *
 * Rows are matched by socket inode to the process's own file descriptors (/proc/PID/fd), not by
 * port alone: another program may have a socket with the same port number on another address,
 * and its drops are not ours. The sockets of ingest workers share the process's descriptor table,
 * so a SO_REUSEPORT group is summed whole.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const PROC_NET_UDP = ['/proc/net/udp', '/proc/net/udp6'];

/** Inodes of the sockets open in a process (default: this one); empty when /proc cannot tell. */
export function socketInodes(pid: number | 'self' = 'self'): Set<number> {
  const inodes = new Set<number>();
  const dir = `/proc/${pid}/fd`;
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`${dir}/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (target.startsWith('socket:[')) inodes.add(Number(target.slice(8, -1)));
  }
  return inodes;
}

/**
 * Drops per local port for the UDP sockets of process `pid` (default: this process). Pass
 * `pid: 'all'` for every socket of the network namespace.
 */
export function readUdpDrops(options: { pid?: number | 'self' | 'all'; files?: string[] } = {}): Map<number, number> {
  const drops = new Map<number, number>();
  const pid = options.pid ?? 'self';
  const inodes = pid === 'all' ? undefined : socketInodes(pid);
  for (const file of options.files ?? PROC_NET_UDP) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    parseProcNetUdp(text, drops, inodes);
  }
  return drops;
}

/**
 * Parses the /proc/net/udp table: local_address is HEXADDR:HEXPORT, inode the tenth column, drops
 * the last. With `inodes`, only those sockets count.
 */
export function parseProcNetUdp(text: string, into = new Map<number, number>(), inodes?: ReadonlySet<number>): Map<number, number> {
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const cols = lines[i].trim().split(/\s+/);
    if (cols.length < 13) continue;
    if (inodes !== undefined && !inodes.has(Number(cols[9]))) continue;
    const local = cols[1];
    const colon = local.lastIndexOf(':');
    const port = parseInt(local.slice(colon + 1), 16);
    const d = Number(cols[cols.length - 1]);
    if (!Number.isFinite(port) || !Number.isFinite(d)) continue;
    into.set(port, (into.get(port) ?? 0) + d);
  }
  return into;
}
