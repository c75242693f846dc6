/**
 * pmacctd's sfprobe plugin, a real sFlow v5 agent, samples the corpus input traffic 1:1; a relay hands
 * every datagram at once to the daemon and to sfcapd (nfdump's sFlow collector). The daemon's /metrics
 * must equal what nfdump decodes from the same run: samples, frame bytes, and every (device, peer).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { corpusOracle, corpusPath } from './helpers/corpus.js';
import { startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import {
  collectorSummary,
  datagramsSeenBy,
  pairTotalsOfFlows,
  pairTotalsOfMetrics,
  PeerSet,
  readNfdumpFlows,
  skipWithoutTools,
  startNfdumpCollector,
  stopNfdumpCollector,
  TEST_LOCAL_NETWORKS,
  totalsOfFlows,
  UdpRelay,
} from './helpers/peers.js';

const skip = skipWithoutTools('pmacctd', 'sfcapd', 'nfdump');
let peers = new PeerSet();

afterEach(async () => {
  await peers.cleanup();
  peers = new PeerSet();
});

/** pmacctd reading a capture file, one sFlow sample per packet, sent to the relay. */
function sfprobeConfig(pcap: string, receiverPort: number): string {
  return [
    'daemonize: false',
    `pcap_savefile: ${pcap}`,
    // No pcap_savefile_wait: with it pmacctd counts every packet twice. No pcap_savefile_delay
    // either: it only keeps pmacctd alive long enough for a counter sample, which this test skips.
    'plugins: sfprobe[sp]',
    `sfprobe_receiver[sp]: 127.0.0.1:${receiverPort}`,
    'sfprobe_agentip[sp]: 127.0.0.1',
    'sfprobe_agentsubid[sp]: 1',
    'sampling_rate[sp]: 1',
    '',
  ].join('\n');
}

describe('pmacctd sfprobe -> relay -> daemon and sfcapd', () => {
  it.skipIf(skip)('sFlow v5 at 1:1: /metrics equals what nfdump decodes from the same run', async () => {
    const daemon = await startTestDaemon({ localNetworks: TEST_LOCAL_NETWORKS, stateDir: peers.tempDir('state') });
    peers.onCleanup(() => daemon.stop('test done'));
    const sfcapd = await startNfdumpCollector(peers, 'sfcapd');
    const relay = await UdpRelay.start([daemon.udpPort, sfcapd.port]);
    peers.onCleanup(() => relay.close());

    const work = peers.tempDir('pmacctd');
    const config = path.join(work, 'pmacctd-sfprobe.conf');
    writeFileSync(config, sfprobeConfig(corpusPath('edge/input-traffic.pcap'), relay.port));
    // pmacctd sleeps 2 s before reading a savefile, then flushes at EOF and exits by itself.
    const pmacctd = peers.spawn('pmacctd', ['-f', config], { cwd: work });
    const status = await pmacctd.waitExit(45_000);
    // At EOF the core tells the plugin to flush and stop. If the plugin is gone before the core
    // notices, the core logs "no more plugins active" and exits 1 (seen under load); that is the
    // same normal end, and the sequence check below proves nothing was lost.
    const pluginStopped = /sfprobe \): Shutting down on user request/.test(pmacctd.output);
    const normalEnd = status.code === 0 || (status.code === 1 && pluginStopped && /no more plugins active/.test(pmacctd.output));
    expect(normalEnd, pmacctd.output).toBe(true);

    await relay.settle(500);
    expect(relay.received).toBeGreaterThan(0);
    expect(relay.sendErrors).toBe(0);
    await waitFor(() => datagramsSeenBy(daemon) === relay.received, 10_000, `the daemon to take ${relay.received} datagrams`);
    const { drops } = await stopNfdumpCollector(sfcapd);
    expect(drops ?? 0).toBe(0);
    // sFlow datagrams carry a sequence number: no gap means the relay lost nothing of pmacctd's.
    const summary = collectorSummary(sfcapd.process.output);
    expect(summary, sfcapd.process.output).toMatchObject({ sequenceErrors: 0, badPackets: 0 });

    const flows = await readNfdumpFlows(sfcapd.dir);
    const peerTotals = totalsOfFlows(flows);
    // One sample per packet at 1:1, bytes = frame length incl. FCS. sfprobe leaves out the last few
    // packets of the file (how many varies between builds and runs), so the count is bounded, not
    // fixed; when it matches the corpus run, the totals must match the corpus oracle too.
    const input = corpusOracle('edge/pmacctd-sfprobe-rate1.json');
    expect(peerTotals.packets).toBe(peerTotals.flows);
    expect(peerTotals.flows).toBeGreaterThan(900);
    expect(peerTotals.flows).toBeLessThanOrEqual(915);
    expect(summary).toMatchObject({ flows: peerTotals.flows, packets: peerTotals.packets, bytes: peerTotals.bytes });
    if (peerTotals.flows === input.totals.samples) {
      expect(peerTotals.bytes).toBe(input.totals.bytes);
    }

    const res = await fetch(`${daemon.httpUrl}/metrics`);
    expect(res.status).toBe(200);
    const samples = parseExposition(await res.text());
    expect(sumOf(samples, 'flowgauge_decode_errors_total')).toBe(0);
    // A sample is one record: flows_total counts samples.
    expect({
      flows: sumOf(samples, 'flow_exporter_flows_total'),
      packets: sumOf(samples, 'flow_exporter_packets_total'),
      bytes: sumOf(samples, 'flow_exporter_bytes_total'),
    }).toEqual(peerTotals);
    expect(Object.fromEntries(pairTotalsOfMetrics(samples))).toEqual(Object.fromEntries(pairTotalsOfFlows(flows)));
  });
});
