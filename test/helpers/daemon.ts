/** Starts a daemon on loopback with ephemeral ports for a test, and sends datagrams to it. */
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DEFAULT_CONFIG } from '../../src/config/defaults.js';
import type { FlowgaugeConfig } from '../../src/config/types.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon.js';

export async function startTestDaemon(overrides: Partial<FlowgaugeConfig> = {}): Promise<RunningDaemon & { httpUrl: string; udpPort: number; stateDir: string }> {
  const stateDir = overrides.stateDir ?? mkdtempSync(path.join(os.tmpdir(), 'flowgauge-test-'));
  const config: FlowgaugeConfig = {
    ...DEFAULT_CONFIG,
    listen: { http: '127.0.0.1:0', netflow: ['127.0.0.1:0'], sflow: [] },
    stateDir,
    ...overrides,
  };
  const daemon = await startDaemon(config, pino({ level: 'silent' }));
  return {
    ...daemon,
    httpUrl: `http://127.0.0.1:${daemon.http?.port ?? 0}`,
    udpPort: daemon.listeners[0]?.boundPort ?? 0,
    stateDir,
  };
}

/** Sends each payload to 127.0.0.1:port from one socket, waiting for each send to complete. */
export async function sendDatagrams(port: number, payloads: Uint8Array[], host = '127.0.0.1'): Promise<void> {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    for (const p of payloads) {
      await new Promise<void>((resolve, reject) => sock.send(p, port, host, (err) => (err ? reject(err) : resolve())));
    }
  } finally {
    sock.close();
  }
}

/** Polls until check() is true or the timeout passes. */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
