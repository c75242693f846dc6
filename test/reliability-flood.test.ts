/**
 * A short loopback flood of the real daemon at 3x its measured capacity (`npm run flood` runs the
 * minute-long one and prints the figures): the daemon stays up, /metrics answers all along, RSS stays
 * under its bound, every datagram is accounted for (received or dropped by the kernel, the drops also
 * seen as sequence gaps) and the rollups hold exactly the records decoded. The C sender
 * (bench/c/udp-sender.c) sends when gcc is there; elsewhere, outside CI, a Node sender, which may
 * fall short of 3x, so the rate is checked against what the sender could do as well.
 */
import { describe, expect, it } from 'vitest';
import { FLOOD_RSS_BOUND_BYTES, floodChecks, runFlood } from './reliability/flood.js';

describe('loopback flood', () => {
  it('5 s at 3x capacity: up, answering, bounded, and the books balance', async () => {
    const r = await runFlood({ durationMs: Number(process.env.FLOOD_TEST_MS ?? 5_000), capacityMs: 1_500 });
    const failed = floodChecks(r).filter(([, ok]) => !ok).map(([what]) => what);
    expect(failed, JSON.stringify(r, null, 2)).toEqual([]);
    // The flood really was beyond what the daemon could take (or as fast as the sender could go).
    expect(r.achievedRate).toBeGreaterThan(Math.min(1.5 * r.capacity, 0.8 * r.senderMax));
    expect(r.kernelDrops).toBeGreaterThan(0);
    expect(r.rssMaxBytes).toBeLessThan(FLOOD_RSS_BOUND_BYTES);
  }, 120_000);
});
