/**
 * The daemon as the UDP benchmarks run it: a child process with the default configuration except
 * loopback listeners, a temporary state_dir, warn-level logs, and what argv[2] (JSON) sets:
 * {"port": UDP port (0 = any), "workers": ingest workers}. Prints {"http":PORT,"udp":PORT} once
 * listening; stops gracefully on SIGTERM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { defaultConfig } from '../src/config/defaults.js';
import { startDaemon } from '../src/daemon.js';

interface Options {
  port?: number;
  workers?: number;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as Options;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-bench-'));
  const config = defaultConfig();
  config.listen = { http: '127.0.0.1:0', netflow: [`127.0.0.1:${options.port ?? 0}`], sflow: [] };
  config.stateDir = stateDir;
  config.log.level = 'warn';
  if (options.workers !== undefined) config.ingest = { workers: options.workers };
  // Logs go to stderr: stdout carries only the ports line the harness reads.
  const daemon = await startDaemon(config, pino({ level: 'warn' }, pino.destination(2)));
  process.stdout.write(JSON.stringify({ http: daemon.http?.port ?? 0, udp: daemon.listeners[0]?.boundPort ?? 0 }) + '\n');
  process.once('SIGTERM', () => {
    void daemon.stop('benchmark done').finally(() => {
      rmSync(stateDir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`benchmark daemon: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
