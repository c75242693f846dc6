/**
 * The cloud storage emulators the tests run: s3rver (S3) and Azurite (Azure Blob Storage), each on
 * a loopback port, with its data in a temp folder, stopped by its own process id.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './daemon.js';
import { freeTcpPort, PeerProcess } from './peers.js';

export interface RunningEmulator {
  /** Base URL: http://127.0.0.1:PORT for s3rver, http://127.0.0.1:PORT/devstoreaccount1 for Azurite. */
  url: string;
  port: number;
  process: PeerProcess;
  stop(): Promise<void>;
}

/** s3rver's built-in key pair: static and fake. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Azurite's built-in account: its name and key are public, the same in every installation. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function azuriteConnectionString(accountUrl: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${accountUrl};`;
}

function resolveBin(pkg: string, ...rel: string[]): string {
  return path.join(path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), ...rel);
}

/** s3rver with `buckets` created; a port taken between the probe and the bind gets another try. */
export async function startS3rver(buckets: string[]): Promise<RunningEmulator> {
  const bin = resolveBin('s3rver', 'bin', 's3rver.js');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-s3rver-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freeTcpPort();
    // s3rver builds its continuation tokens with DES, which OpenSSL 3 only has in its legacy
    // provider: without it every truncated listing answers 500.
    const child = spawn(
      process.execPath,
      ['--openssl-legacy-provider', bin, '-d', dataDir, '-a', '127.0.0.1', '-p', String(port), '--silent', ...buckets.flatMap((b) => ['--configure-bucket', b])],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const proc = new PeerProcess('s3rver', child);
    await waitFor(() => /S3rver listening/.test(proc.output) || !proc.running, 45_000, 's3rver to start');
    if (proc.running) {
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        process: proc,
        async stop() {
          await proc.stop('SIGTERM', 5_000);
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    }
    if (attempt >= 3) {
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`s3rver did not start:\n${proc.output}`);
    }
  }
}

/** Azurite's blob service on a port it picks, in memory, telemetry off. */
export async function startAzurite(): Promise<RunningEmulator> {
  const main = resolveBin('azurite', 'dist', 'src', 'blob', 'main.js');
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-azurite-'));
  const child = spawn(
    process.execPath,
    [main, '--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--silent'],
    { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const proc = new PeerProcess('azurite', child);
  const listening = (): RegExpExecArray | null => /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(proc.output);
  try {
    await waitFor(() => listening() !== null || !proc.running, 60_000, 'Azurite to start');
    if (!proc.running) throw new Error(`Azurite exited before listening:\n${proc.output}`);
  } catch (err) {
    await proc.stop('SIGKILL', 5_000);
    rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
  const port = Number(listening()![1]);
  return {
    url: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
    port,
    process: proc,
    async stop() {
      await proc.stop('SIGTERM', 10_000);
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
