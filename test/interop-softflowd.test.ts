/**
 * softflowd, a real NetFlow v5/v9/IPFIX exporter, turns the corpus input traffic into exports; a
 * relay hands every datagram at once to the daemon and to nfcapd (nfdump's collector). What nfdump
 * decodes must equal the daemon's /metrics exactly: totals and every (device, peer) pair.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { corpusOracle, corpusPath } from './helpers/corpus.js';
import { startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import {
  collectorSummary,
  datagramsSeenBy,
  devicePeerKey,
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

const skip = skipWithoutTools('softflowd', 'nfcapd', 'nfdump');
let peers = new PeerSet();

afterEach(async () => {
  await peers.cleanup();
  peers = new PeerSet();
});

const VERSIONS = [
  { version: 5, oracle: 'edge/softflowd-v5.json', args: [] as string[] },
  // -A milli: flow times as absolute milliseconds (IEs 152/153); the uptime-based default gives
  // wrong times for a capture from the past.
  { version: 9, oracle: 'edge/softflowd-v9.json', args: ['-A', 'milli'] },
  { version: 10, oracle: 'edge/softflowd-ipfix.json', args: ['-A', 'milli'] },
];

describe('softflowd -> relay -> daemon and nfcapd', () => {
  for (const { version, oracle, args } of VERSIONS) {
    it.skipIf(skip)(`NetFlow version ${version}: /metrics equals what nfdump decodes`, async () => {
      const daemon = await startTestDaemon({ localNetworks: TEST_LOCAL_NETWORKS, stateDir: peers.tempDir('state') });
      peers.onCleanup(() => daemon.stop('test done'));
      const nfcapd = await startNfdumpCollector(peers, 'nfcapd');
      const relay = await UdpRelay.start([daemon.udpPort, nfcapd.port]);
      peers.onCleanup(() => relay.close());

      const work = peers.tempDir('softflowd');
      // -r reads the capture and exits at EOF; -c none: otherwise it waits forever on its control
      // socket; -a takes the clock from the capture; -6 keeps IPv6 flows (v5 cannot carry them).
      const softflowd = peers.spawn('softflowd', [
        '-d',
        '-r', corpusPath('edge/input-traffic.pcap'),
        '-n', `127.0.0.1:${relay.port}`,
        '-v', String(version),
        '-6', '-a', ...args,
        '-c', 'none',
        '-p', path.join(work, 'softflowd.pid'),
      ]);
      const status = await softflowd.waitExit(30_000);
      expect(status.code, softflowd.output).toBe(0);
      // "Flows exported: 25 (44 records) in 3 packets (0 failures)"
      const sent = /in (\d+) packets \((\d+) failures\)/.exec(softflowd.output);
      expect(sent, softflowd.output).not.toBeNull();
      const datagrams = Number(sent![1]);
      expect(Number(sent![2])).toBe(0);
      expect(datagrams).toBeGreaterThan(0);

      await waitFor(() => relay.received === datagrams, 10_000, `the relay to receive ${datagrams} datagrams`);
      await relay.settle();
      expect(relay.sendErrors).toBe(0);
      await waitFor(() => datagramsSeenBy(daemon) === datagrams, 10_000, `the daemon to take ${datagrams} datagrams`);
      const { drops } = await stopNfdumpCollector(nfcapd);
      expect(drops ?? 0).toBe(0);

      const flows = await readNfdumpFlows(nfcapd.dir);
      const peerTotals = totalsOfFlows(flows);
      // nfcapd's own exit summary agrees with what nfdump reads back from its file. (Its sequence
      // error count is not checked: softflowd's IPFIX sequence numbers include the current message,
      // which nfcapd counts as errors.)
      expect(collectorSummary(nfcapd.process.output), nfcapd.process.output).toMatchObject({ ...peerTotals, badPackets: 0 });

      // The harness itself: nfdump on this live run agrees with the corpus oracle for this version.
      const o = corpusOracle(oracle);
      expect(peerTotals).toEqual({ flows: o.totals.flows, packets: o.totals.packets, bytes: o.totals.bytes });
      const oraclePairs = new Map<string, [number, number]>();
      for (const row of o.by_host_pair) {
        const key = devicePeerKey(row.src, row.dst);
        const cur = oraclePairs.get(key) ?? [0, 0];
        oraclePairs.set(key, [cur[0] + row.bytes, cur[1] + row.packets]);
      }
      const nfdumpPairs = pairTotalsOfFlows(flows);
      expect(Object.fromEntries([...nfdumpPairs].map(([k, v]) => [k, [v.bytes, v.packets]]))).toEqual(Object.fromEntries(oraclePairs));

      // The daemon against the peer, from the same datagrams.
      const res = await fetch(`${daemon.httpUrl}/metrics`);
      expect(res.status).toBe(200);
      const samples = parseExposition(await res.text());
      expect(sumOf(samples, 'flowgauge_decode_errors_total')).toBe(0);
      expect({
        flows: sumOf(samples, 'flow_exporter_flows_total'),
        packets: sumOf(samples, 'flow_exporter_packets_total'),
        bytes: sumOf(samples, 'flow_exporter_bytes_total'),
      }).toEqual(peerTotals);
      expect(Object.fromEntries(pairTotalsOfMetrics(samples))).toEqual(Object.fromEntries(nfdumpPairs));
    });
  }
});
