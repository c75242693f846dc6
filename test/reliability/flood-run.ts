/**
 * `npm run flood`: floods the real daemon over loopback at 3x its measured capacity for a minute
 * (FLOOD_SECONDS, FLOOD_FACTOR, FLOOD_CAPTURE override) and prints the figures docs/reliability.md records.
 * Exit status 1 when a check fails: the daemon went down, /metrics stopped answering, RSS went over
 * the bound, the books do not balance, or the flood fell short of the factor (the Node fallback
 * sender, used where gcc is missing, usually cannot reach 3x).
 */
import { floodChecks, runFlood } from './flood.js';

const seconds = Number(process.env.FLOOD_SECONDS ?? 60);
const factor = Number(process.env.FLOOD_FACTOR ?? 3);
const mib = (b: number): string => `${(b / 1048576).toFixed(0)} MiB`;

const r = await runFlood({ durationMs: seconds * 1000, factor, capture: process.env.FLOOD_CAPTURE, log: (l) => console.log(l) });
// Paced sending ends a hair after its schedule: 1% below the factor is still the factor.
const checks: Array<[string, boolean]> = [...floodChecks(r), [`flood held ${factor}x the measured capacity`, r.achievedRate >= 0.99 * factor * r.capacity]];
console.log(`
sender:   ${r.sender === 'c' ? 'C (bench/c/udp-sender.c, sendmmsg)' : 'Node (fallback)'}
datagram: ${r.datagramBytes} bytes, ${r.recordsPerDatagram} NetFlow v9 records (${r.capture})
capacity: ${r.capacity.toFixed(0)} datagrams/s = ${(r.capacity * r.recordsPerDatagram).toFixed(0)} records/s (sender max ${r.senderMax.toFixed(0)}/s)
flood:    ${(r.durationMs / 1000).toFixed(1)} s at ${r.achievedRate.toFixed(0)} datagrams/s (target ${r.targetRate.toFixed(0)}/s, ${(r.achievedRate / r.capacity).toFixed(2)}x capacity)
daemon decoded ${r.floodDecodedRate.toFixed(0)} datagrams/s during the flood (${(r.achievedRate / r.floodDecodedRate).toFixed(2)}x that was sent)
sent ${r.sent}, received ${r.received}, kernel drops ${r.kernelDrops} (${((100 * r.kernelDrops) / r.sent).toFixed(1)}%), application drops ${r.appDrops}
sequence gaps ${r.sequenceGapDatagrams} datagrams; decode errors ${r.decodeErrors}, template misses ${r.templateMisses}, held ${r.pendingRecords}
records decoded ${r.records}; rollup flows ${JSON.stringify(r.rollupFlows)}
/metrics: ${r.scrapes} scrapes, ${r.scrapeFailures} failed, median ${r.scrapeMedianMs.toFixed(0)} ms, max ${r.scrapeMaxMs.toFixed(0)} ms
RSS: ${mib(r.rssStartBytes)} at start, ${mib(r.rssMaxBytes)} at most; socket receive buffer ${r.receiveBufferBytes} bytes
`);
for (const [what, ok] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
