/**
 * OTLP over HTTPS to a loopback receiver with a certificate made for the test: the push verifies
 * it against `tls.ca_file`, fails without it, and goes through with `insecure_skip_verify`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RollupEngine } from '../src/rollup/rollup-engine.js';
import { createFlowLabels } from '../src/rollup/types.js';
import type { RollupDefinition } from '../src/config/types.js';
import { makePusher, otlpConfig } from './helpers/otlp-compare.js';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver.js';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
const ROLLUPS: RollupDefinition[] = [{ name: 'flow_tls', labels: ['device'], budget: 10 }];

describe.skipIf(!haveOpenssl)('OTLP over HTTPS', () => {
  let dir: string;
  let receiver: OtlpReceiver;
  const engine = new RollupEngine(ROLLUPS);
  const labels = createFlowLabels();
  labels.device = 'sensor-1';
  engine.add(labels, 1500, 3, 1);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-otlp-tls-'));
    // A self-signed certificate for 127.0.0.1: it is its own CA.
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    receiver = await startOtlpReceiver({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) });
  });
  afterAll(async () => {
    await receiver?.stop();
  });

  async function push(tls: Parameters<typeof otlpConfig>[0]['tls']): Promise<{ success: number; failure: number; dropped: number }> {
    const pusher = makePusher(() => engine.snapshot(), otlpConfig({ endpoint: receiver.url, timeoutMs: 500, tls }), ROLLUPS);
    try {
      await pusher.flush();
      return { ...pusher.counts };
    } finally {
      await pusher.stop();
    }
  }

  it('verifies the receiver against ca_file', async () => {
    const before = receiver.requests.length;
    expect(await push({ caFile: path.join(dir, 'cert.pem') })).toMatchObject({ success: 1, failure: 0 });
    // The final export on stop goes through too.
    expect(receiver.requests.length).toBe(before + 2);
    expect(receiver.requests.at(-1)!.points.find((p) => p.metric === 'flow_tls_bytes')?.value).toBe(1500);
  });

  it('refuses an unknown certificate without ca_file, and accepts it with insecure_skip_verify', async () => {
    const errorsBefore = receiver.tlsErrors;
    const requestsBefore = receiver.requests.length;
    expect(await push({})).toMatchObject({ success: 0, failure: 1 });
    expect(receiver.tlsErrors).toBeGreaterThan(errorsBefore);
    expect(receiver.requests.length).toBe(requestsBefore);
    expect(await push({ insecureSkipVerify: true })).toMatchObject({ success: 1, failure: 0 });
  });
});
