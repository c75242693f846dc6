import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { DEFAULT_HTTP_PORT } from '../src/config/defaults.js';
import { corpusOracle, corpusPath } from './helpers/corpus.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const dir = mkdtempSync(join(tmpdir(), 'flowgauge-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = capture();
  const err = capture();
  const code = await main(argv, { stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('check-config', () => {
  it('exits 0 and prints FILE: OK for a valid file (the shipped example)', async () => {
    const example = join(root, 'flowgauge.example.yaml');
    const r = await run('check-config', '--config', example);
    expect(r).toEqual({ code: 0, stdout: `${example}: OK\n`, stderr: '' });
  });

  it('exits 1 and prints every error as FILE:LINE:COL: key: message', async () => {
    const bad = file(
      'bad.yaml',
      ['listen:', '  http: "0.0.0.0:9893"', '  netflow: ["0.0.0.0:2055", "0.0.0.0"]', 'local_network: ["10.0.0.0/8"]', 'rollups:', '  - { name: flow_x, labels: [device, nope], budget: 10 }', ''].join('\n'),
    );
    const r = await run('check-config', '--config', bad);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `${bad}:3:29: listen.netflow[1]: "0.0.0.0" has no port; expected host:port like "0.0.0.0:2055" (IPv6 as "[::]:2055")`,
      `${bad}:4:1: local_network: unknown key "local_network"; did you mean "local_networks"?`,
      `${bad}:6:38: rollups[0].labels[1]: the string "nope" is not allowed; use one of: exporter, source, device, peer, direction, app, protocol, action, input_interface, output_interface, site, type, region, vpc, zone`,
    ]);
  });

  it('exits 1 with one line for a YAML syntax error', async () => {
    const bad = file('syntax.yaml', 'listen:\n  http: "0.0.0.0:1"\n netflow: []\n');
    const r = await run('check-config', '--config', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${bad}:3:1: (yaml): YAML syntax: All mapping items must start at the same column\n`);
  });

  it('exits 1 for a missing file, without a stack trace', async () => {
    const missing = join(dir, 'nope.yaml');
    const r = await run('check-config', '--config', missing);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${missing}: (file): cannot read the config file: no such file\n`);
  });

  it('exits 1 when --config is not given', async () => {
    const r = await run('check-config');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("flowgauge: required option '-c, --config <file>' not specified (see flowgauge --help)\n");
  });

  it('names an unset environment variable', async () => {
    const f = file('env.yaml', 'state_dir: "${FLOWGAUGE_TEST_UNSET_VAR}"\n');
    delete process.env.FLOWGAUGE_TEST_UNSET_VAR;
    const r = await run('check-config', '--config', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}:1:12: state_dir: environment variable FLOWGAUGE_TEST_UNSET_VAR is not set`);
  });
});

describe('usage', () => {
  it('--version prints the package version', async () => {
    expect(await run('--version')).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    expect((await run('-V')).stdout).toBe(`${pkg.version}\n`);
  });

  it('--help lists the subcommands, the default ports and the config file', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/Usage: flowgauge \[options\] \[command\]/);
    expect(r.stdout).toMatch(/check-config \[options\]/);
    expect(r.stdout).toMatch(/replay \[options\] <input\.\.\.>/);
    expect(r.stdout).toContain('--config <file>');
    expect(r.stdout).toContain(`${DEFAULT_HTTP_PORT}/tcp`);
    expect(r.stdout).toContain('2055/udp, 4739/udp');
    expect(r.stdout).toContain('6343/udp');
    expect(r.stdout).toContain('flowgauge.example.yaml');
  });

  it('replay --help shows the format choices', async () => {
    const r = await run('replay', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--format <format>');
    expect(r.stdout).toMatch(/choices: "prometheus",\s+"openmetrics", default: "prometheus"/);
  });

  it('an unknown option or command is a usage error (exit 1, one line)', async () => {
    const a = await run('--bogus');
    expect(a.code).toBe(1);
    expect(a.stderr).toBe("flowgauge: unknown option '--bogus' (see flowgauge --help)\n");
    const b = await run('frobnicate');
    expect(b.code).toBe(1);
    expect(b.stderr.split('\n')).toHaveLength(2);
    expect(b.stderr).toMatch(/^flowgauge: .*frobnicate/);
  });

  it('replay rejects an unknown --format and a missing input', async () => {
    const a = await run('replay', '--format', 'json', 'x.pcap');
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^flowgauge: option '--format <format>' argument 'json' is invalid/);
    const b = await run('replay');
    expect(b.code).toBe(1);
    expect(b.stderr).toBe("flowgauge: missing required argument 'input' (see flowgauge --help)\n");
  });

  it('replay --aws-format reads AWS CloudWatch messages in a custom format, and refuses a field list with unknown fields', async () => {
    const file = corpusPath('cloud/aws/otel-contrib/valid_vpc_flow_cw_custom.json');
    const plain = await run('replay', file);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('flowgauge_cloud_records_skipped_total{source="aws",reason="bad_record"} 2');
    const custom = await run('replay', '--aws-format', '${version} ${interface-id} ${srcaddr} ${dstaddr}', file);
    expect(custom.code).toBe(0);
    expect(custom.stdout).toContain('flowgauge_cloud_records_total{source="aws"} 2');
    expect(custom.stdout).toContain('flow_exporter_flows_total{exporter="eni-1235b8ca123456789",source="aws"} 2');
    const bad = await run('replay', '--aws-format', 'version interface-id src-address', file);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown field(s) "src-address"');
  });

  it('the daemon and replay stop with 1 on an invalid config, before starting anything', async () => {
    const bad = file('bad2.yaml', 'log: { level: loud }\n');
    const daemon = await run('--config', bad);
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(`${bad}:1:15: log.level: the string "loud" is not allowed`);
    const replay = await run('replay', '--config', bad, 'x.pcap');
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain(`${bad}:1:15: log.level`);
    // The program-level --config also applies to replay.
    const replay2 = await run('--config', bad, 'replay', 'x.pcap');
    expect(replay2.code).toBe(1);
    expect(replay2.stderr).toContain(`${bad}:1:15: log.level`);
  });
});

describe('replay', () => {
  /** Sum of one metric's samples in exposition text. */
  function total(text: string, metric: string): number {
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  it('prints the metrics of a capture on stdout, matching the oracle totals', async () => {
    const oracle = corpusOracle('edge/pmacctd-nfprobe-v5.json');
    const r = await run('replay', corpusPath('edge/pmacctd-nfprobe-v5.pcap'));
    expect(r.code).toBe(0);
    expect(total(r.stdout, 'flow_exporter_bytes_total')).toBe(oracle.totals.bytes);
    expect(total(r.stdout, 'flow_exporter_packets_total')).toBe(oracle.totals.packets);
    expect(total(r.stdout, 'flow_exporter_flows_total')).toBe(oracle.totals.flows);
    expect(r.stdout).not.toContain('# EOF');
  });

  it('uses the rollups of --config and honours --format openmetrics', async () => {
    const oracle = corpusOracle('edge/pmacctd-nfprobe-v5.json');
    const cfg = file('replay.yaml', 'rollups:\n  - { name: traffic_by_exporter, labels: [exporter], budget: 10 }\n');
    const r = await run('replay', '--config', cfg, '--format', 'openmetrics', corpusPath('edge/pmacctd-nfprobe-v5.pcap'));
    expect(r.code).toBe(0);
    expect(total(r.stdout, 'traffic_by_exporter_bytes_total')).toBe(oracle.totals.bytes);
    expect(r.stdout).not.toContain('flow_peer_bytes_total');
    expect(r.stdout.endsWith('# EOF\n')).toBe(true);
  });
});

describe('through bin/flowgauge.js', () => {
  // The bin runs the compiled dist/cli.js; build it when it is missing or older than the sources.
  beforeAll(() => {
    const dist = join(root, 'dist', 'cli.js');
    const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const stale = !existsSync(dist) || sources.some((s) => statSync(join(root, 'src', s)).mtimeMs > statSync(dist).mtimeMs);
    if (stale) {
      try {
        execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'pipe' });
      } catch {
        // Type errors elsewhere in the tree still emit JavaScript; the assertions below tell.
      }
    }
  }, 180_000);

  it('--version prints the package version and exits 0', () => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'flowgauge.js'), '--version'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${pkg.version}\n`);
    expect(r.status).toBe(0);
  });

  it('--help exits 0; check-config of a bad file exits 1 with file:line:col', () => {
    const help = spawnSync(process.execPath, [join(root, 'bin', 'flowgauge.js'), '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('check-config');
    const bad = file('bin-bad.yaml', 'listen:\n  sflow: ["0.0.0.0:99999"]\n');
    const r = spawnSync(process.execPath, [join(root, 'bin', 'flowgauge.js'), 'check-config', '--config', bad], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`${bad}:2:11: listen.sflow[0]: port 99999 is above 65535; expected host:port like "0.0.0.0:2055" (IPv6 as "[::]:2055")\n`);
  });

  it('runs the daemon from a config file, logs JSON on stderr only, and exits 0 on SIGTERM', async () => {
    const cfg = file(
      'daemon.yaml',
      [
        'listen:',
        '  http: "127.0.0.1:0"',
        '  netflow: ["127.0.0.1:0"]',
        '  sflow: ["127.0.0.1:0"]',
        `state_dir: ${JSON.stringify(join(dir, 'state'))}`,
        'log: { level: info }',
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [join(root, 'bin', 'flowgauge.js'), '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon did not start; stderr:\n${stderr}`)), 20_000);
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes('"flowgauge started"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        reject(new Error(`daemon exited early; stderr:\n${stderr}`));
      });
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toBe('');
    const records = stderr
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: string; msg: string; name: string });
    expect(records.every((r) => r.name === 'flowgauge' && typeof r.level === 'string')).toBe(true);
    expect(records.map((r) => r.msg)).toContain('flowgauge started');
  }, 60_000);
});
