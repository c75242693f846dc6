/**
 * The /metrics text, as served after real exports went through the daemon, passes Prometheus' own
 * linter (`promtool check metrics`) without a single complaint: names, suffixes, HELP/TYPE, units.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { corpusDatagrams } from './helpers/corpus.js';
import { sendDatagrams, startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import { datagramsSeenBy, PeerSet, runTool, skipWithoutTools, TEST_LOCAL_NETWORKS } from './helpers/peers.js';

const skip = skipWithoutTools('promtool');
let peers = new PeerSet();

afterEach(async () => {
  await peers.cleanup();
  peers = new PeerSet();
});

async function startDaemon(): Promise<Awaited<ReturnType<typeof startTestDaemon>>> {
  const daemon = await startTestDaemon({ localNetworks: TEST_LOCAL_NETWORKS, stateDir: peers.tempDir('state') });
  peers.onCleanup(() => daemon.stop('test done'));
  return daemon;
}

async function scrapePrometheusText(httpUrl: string): Promise<string> {
  const res = await fetch(`${httpUrl}/metrics`, { headers: { accept: 'text/plain' } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** promtool's verdict: exit code 0 and nothing printed, since it prints only problems. */
async function expectPromtoolClean(text: string): Promise<void> {
  const { code, stdout, stderr } = await runTool('promtool', ['check', 'metrics'], { input: text });
  expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
}

describe('promtool check metrics', () => {
  it.skipIf(skip)('accepts the exposition of a daemon that has seen nothing yet', async () => {
    const daemon = await startDaemon();
    await expectPromtoolClean(await scrapePrometheusText(daemon.httpUrl));
  });

  it.skipIf(skip)('accepts the exposition after NetFlow v5, IPFIX and sFlow exports and a bad datagram', async () => {
    const daemon = await startDaemon();
    // One exporter address speaking three protocols fills every traffic family, the sFlow counter
    // sample path, and the decode-error series (the 3-byte datagram) in one exposition.
    const payloads = [
      ...corpusDatagrams('edge/softflowd-v5.pcap').map((d) => d.payload),
      ...corpusDatagrams('edge/softflowd-ipfix.pcap').map((d) => d.payload),
      ...corpusDatagrams('edge/pmacctd-sfprobe-rate1.pcap').map((d) => d.payload),
      Uint8Array.of(0, 9, 0),
    ];
    await sendDatagrams(daemon.udpPort, payloads);
    await waitFor(() => datagramsSeenBy(daemon) === payloads.length, 10_000, `${payloads.length} datagrams`);

    const text = await scrapePrometheusText(daemon.httpUrl);
    const samples = parseExposition(text);
    // The lint must see real traffic series, not an empty page.
    expect(sumOf(samples, 'flow_exporter_flows_total')).toBeGreaterThan(0);
    expect(sumOf(samples, 'flow_peer_bytes_total')).toBeGreaterThan(0);
    expect(sumOf(samples, 'flowgauge_decode_errors_total')).toBeGreaterThan(0);
    await expectPromtoolClean(text);
  });

  // The OpenMetrics half is left out on purpose: promtool 2.x `check metrics` parses its input as
  // Prometheus text 0.0.4 only. A conformant OpenMetrics counter family is named without `_total`
  // (`# TYPE x_bytes counter` over `x_bytes_total 5`), which that parser reads as a sample without
  // HELP, so promtool exits 3 ("x_bytes_total no help text") on every valid OpenMetrics page.
});
