/**
 * Runs the real CLI (`node bin/flowgauge.js`) as a child process for tests that need a process to
 * kill, signal or restart: builds dist/ when it is older than the sources, reads the JSON log lines
 * from stderr, and finds the HTTP and UDP ports the daemon bound from its own log.
 */
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { repoRoot } from './corpus.js';

/** Compiles src/ into dist/ when dist/cli.js is missing or older than a source file. */
export function ensureBuilt(): void {
  const dist = path.join(repoRoot, 'dist', 'cli.js');
  const sources = readdirSync(path.join(repoRoot, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const stale = !existsSync(dist) || sources.some((s) => statSync(path.join(repoRoot, 'src', s)).mtimeMs > statSync(dist).mtimeMs);
  if (!stale) return;
  try {
    execFileSync(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', repoRoot], { stdio: 'pipe' });
  } catch {
    // Type errors elsewhere in the tree still emit JavaScript; the tests' assertions tell.
  }
}

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

export class DaemonProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Everything written to stderr (the JSON log), raw. */
  stderr = '';
  stdout = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitedFlag = false;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'flowgauge.js'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.child.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.child.stdout.on('data', (c: Buffer) => (this.stdout += c.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exitedFlag = true;
        resolve({ code, signal });
      }),
    );
  }

  get running(): boolean {
    return !this.exitedFlag;
  }

  /** Parsed log lines so far (a partial last line is left out). */
  logs(): LogLine[] {
    const out: LogLine[] = [];
    for (const line of this.stderr.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as LogLine);
      } catch {
        // a line still being written
      }
    }
    return out;
  }

  /** Waits for a log line with this message (and matching fields); returns it. */
  async waitForLog(msg: string, timeoutMs = 20_000, match: (l: LogLine) => boolean = () => true): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs().find((l) => l.msg === msg && match(l));
      if (hit) return hit;
      if (!this.running) throw new Error(`daemon exited before logging "${msg}"; stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for log "${msg}"; stderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits for "flowgauge started" and returns the bound HTTP port and UDP listener ports. */
  async started(timeoutMs = 20_000): Promise<{ httpPort: number; udpPorts: number[] }> {
    await this.waitForLog('flowgauge started', timeoutMs);
    const serving = this.logs().find((l) => l.msg === 'serving /metrics, /status, /healthz, /readyz');
    const httpPort = serving ? Number(String(serving.address).split(':').pop()) : 0;
    const udpPorts = this.logs()
      .filter((l) => l.msg === 'listening for flow exports')
      .map((l) => Number(String(l.listener).split(':').pop()));
    return { httpPort, udpPorts };
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }
}
