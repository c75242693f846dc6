/**
 * Kernel drop accounting: when the socket buffer overflows, /proc/net/udp counts the drops for the
 * listener's port and flowgauge_udp_kernel_drops_total shows the same number; every datagram sent
 * is either taken or counted as dropped. Linux only (/proc/net/udp).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parseProcNetUdp, readUdpDrops } from '../src/sources/kernel-udp-stats.js';
import { startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';

type TestDaemon = Awaited<ReturnType<typeof startTestDaemon>>;
let running: TestDaemon[] = [];

afterEach(async () => {
  await Promise.all(running.map((d) => d.stop('test done')));
  running = [];
});

/**
 * Sends `count` datagrams of `size` bytes from a child process. spawnSync blocks this process's
 * event loop meanwhile, so the listener reads nothing until the flood is over: the buffer fills.
 */
function flood(port: number, count: number, size: number): void {
  const script = `
    const dgram = require('node:dgram');
    const s = dgram.createSocket('udp4');
    const buf = Buffer.alloc(${size}, 7);
    let left = ${count};
    const next = () => {
      if (left === 0) return s.close();
      left--;
      s.send(buf, ${port}, '127.0.0.1', next);
    };
    next();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`flood failed: ${r.stderr}`);
}

const PROC_NET_UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
    5: 0100007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1001 2 00000000b91d694a 12
    6: 0100007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1002 2 00000000b91d694b 30
    7: 0200007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2001 2 00000000b91d694c 500
    8: 0100007F:18EB 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1003 2 00000000b91d694d 0
`;

describe('/proc/net/udp parsing', () => {
  it('sums drops per port over the given sockets only (a reuseport group, not a stranger on another address)', () => {
    expect(parseProcNetUdp(PROC_NET_UDP, new Map(), new Set([1001, 1002, 1003]))).toEqual(new Map([[2055, 42], [6379, 0]]));
    expect(parseProcNetUdp(PROC_NET_UDP).get(2055)).toBe(542);
  });
});

describe.skipIf(!existsSync('/proc/net/udp'))('kernel UDP drop accounting', () => {
  it.each([1, 2])('ingest.workers %i: a flood into a tiny buffer shows up as kernel drops, in /proc and in the self-metric', async (workers) => {
    // The kernel raises a tiny SO_RCVBUF to its minimum (a few KiB): a handful of datagrams.
    const d = await startTestDaemon({
      ingest: { workers },
      netflow: { receiveBufferBytes: 1, defaultSamplingRate: 1, samplingRateOverrides: {}, pendingRecordsPerExporter: 1024 },
    });
    running.push(d);
    const sent = 2000;
    flood(d.udpPort, sent, 1400);
    const taken = (): number => d.listeners.reduce((n, l) => n + l.datagrams, 0);
    const drops = (): number => readUdpDrops().get(d.udpPort) ?? 0;
    // Everything sent is either taken by the listener or dropped by the kernel.
    await waitFor(() => taken() + drops() === sent, 10_000, 'taken + dropped = sent');
    // With one thread the flood arrives while the event loop is blocked, so drops are certain; a
    // worker thread keeps reading meanwhile and may keep up.
    if (workers === 1) expect(drops()).toBeGreaterThan(0);
    const samples = parseExposition(await (await fetch(`${d.httpUrl}/metrics`)).text());
    expect(sumOf(samples, 'flowgauge_udp_kernel_drops_total')).toBe(drops());
    expect(sumOf(samples, 'flowgauge_udp_receive_buffer_bytes')).toBeLessThan(64 * 1024);
  });
});
