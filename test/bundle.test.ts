/**
 * The shipped Prometheus and Grafana bundle: promtool accepts the scrape config and the rules, every
 * dashboard query is valid PromQL, and every metric the bundle names is one flowgauge serves.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config/defaults.js';
import { runReplay } from '../src/replay.js';
import { corpusPath, repoRoot } from './helpers/corpus.js';

const promtool = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();
const skip = promtool === undefined && !process.env.CI;

interface Panel {
  title: string;
  targets?: Array<{ expr: string }>;
}
const dashboardFile = path.join(repoRoot, 'grafana', 'dashboards', 'flowgauge-overview.json');
const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: Panel[]; templating: { list: unknown[] } };
const rulesFile = path.join(repoRoot, 'prometheus', 'rules', 'flowgauge.rules.yml');

function dashboardExprs(): string[] {
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

/** Grafana variables replaced by values Prometheus accepts, so promtool can parse the query. */
function concrete(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$device', '.*');
}

function promtoolRun(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(promtool ?? 'promtool', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('Prometheus and Grafana bundle', () => {
  it.skipIf(skip)('promtool accepts the scrape config and the rules', () => {
    const cfg = promtoolRun(['check', 'config', path.join(repoRoot, 'prometheus', 'prometheus.yml')]);
    expect(cfg.out).toContain('SUCCESS');
    expect(cfg.status).toBe(0);
    const rules = promtoolRun(['check', 'rules', rulesFile]);
    expect(rules.status).toBe(0);
  });

  it.skipIf(skip)('the alerts fire on the series they watch and only on those (promtool test rules)', () => {
    const r = promtoolRun(['test', 'rules', path.join(repoRoot, 'prometheus', 'rules', 'flowgauge.rules.test.yml')]);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it.skipIf(skip)('every dashboard query is valid PromQL', () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(10);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-dash-'));
    const file = path.join(dir, 'dashboard-queries.yml');
    const rules = exprs.map((e, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(concrete(e))}`).join('\n');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
    const r = promtoolRun(['check', 'rules', file]);
    expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.status).toBe(0);
  });

  it('the dashboard type-checks against Grafana\'s published schema (@grafana/schema)', () => {
    // The JSON goes inline into a TypeScript module so literal types (variable types, units) are kept,
    // then `satisfies Dashboard` makes tsc reject unknown keys, wrong types and missing grid positions.
    const dir = path.join(repoRoot, 'test', '.typecheck');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'dashboard.mts');
    writeFileSync(
      file,
      `import type { Dashboard } from '@grafana/schema';\nexport const checked = ${readFileSync(dashboardFile, 'utf8')} satisfies Dashboard;\n`,
    );
    try {
      const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
      const r = spawnSync(
        process.execPath,
        [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--types', 'node', file],
        { encoding: 'utf8', cwd: repoRoot },
      );
      expect(`${r.stdout}${r.stderr}`).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names only metric families that flowgauge serves', async () => {
    let text = '';
    const out = new Writable({
      write(chunk, _e, cb) {
        text += String(chunk);
        cb();
      },
    });
    expect(await runReplay({ ...DEFAULT_CONFIG }, [corpusPath('edge/softflowd-ipfix.pcap'), corpusPath('edge/pmacctd-sfprobe-rate1.pcap')], out)).toBe(0);
    const served = new Set<string>();
    for (const line of text.split('\n')) {
      const m = /^# (?:HELP|TYPE) (\S+)/.exec(line);
      if (m) served.add(m[1]);
    }
    // up is Prometheus' own; families render HELP even with no series yet.
    const named = new Set<string>();
    const rulesText = readFileSync(rulesFile, 'utf8');
    for (const expr of [...dashboardExprs(), ...rulesText.split('\n').filter((l) => /expr:/.test(l))]) {
      for (const m of expr.matchAll(/\b((?:flow|flowgauge)_[a-z0-9_]+)/g)) named.add(m[1]);
    }
    const base = (n: string): string => n.replace(/_(bucket|sum|count)$/, '');
    const missing = [...named].filter((n) => !served.has(n) && !served.has(base(n)));
    expect(missing).toEqual([]);
  });
});
