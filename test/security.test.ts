/**
 * The HTTP side locked down with an exporter-toolkit web config file (TLS with a certificate made at
 * test time by the openssl CLI, client certificates, bcrypt basic auth with its cache, headers, rate
 * limit), HTTP request limits, no paths or secrets on the status and error pages, secrets kept out
 * of the logs of the real daemon, and the exporter allowlist over UDP.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AUTH_CACHE_TTL_MS,
  loadWebConfig,
  parseBasic,
  parseDuration,
  parseWebConfig,
  sanAllowed,
  WebAccess,
  WebConfigError,
} from '../src/exporters/web-config.js';
import { DaemonProcess, ensureBuilt } from './helpers/cli-process.js';
import { corpusDatagrams, repoRoot } from './helpers/corpus.js';
import { sendDatagrams, startTestDaemon, waitFor } from './helpers/daemon.js';
import { parseExposition, sumOf } from './helpers/exposition.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-security-'));
const write = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

// Cost 4 keeps the tests fast; the daemon accepts any cost from 4 to 31.
const PASSWORD = 'correct horse battery staple';
const HASH = bcrypt.hashSync(PASSWORD, 4);

type TestDaemon = Awaited<ReturnType<typeof startTestDaemon>>;
let running: TestDaemon[] = [];
afterEach(async () => {
  await Promise.all(running.map((d) => d.stop('test done')));
  running = [];
});
async function start(overrides = {}): Promise<TestDaemon> {
  const d = await startTestDaemon(overrides);
  running.push(d);
  return d;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, opts: https.RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, { agent: false, ...opts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('web config file', () => {
  const parse = (raw: Record<string, unknown>) => parseWebConfig(raw, 'web.yml', dir);

  it('reads users, headers and rate limit; refuses plain passwords without echoing them', async () => {
    const c = await parse({
      basic_auth_users: { prometheus: HASH },
      http_server_config: { headers: { 'X-Frame-Options': 'deny', 'Content-Security-Policy': "default-src 'none'" } },
      rate_limit: { interval: '100ms', burst: 3 },
    });
    expect(c.users.get('prometheus')).toBe(HASH);
    expect(c.headers).toEqual({ 'X-Frame-Options': 'deny', 'Content-Security-Policy': "default-src 'none'" });
    expect(c.rateLimit).toEqual({ intervalMs: 100, burst: 3 });
    const err = await parse({ basic_auth_users: { admin: 'hunter2-plaintext' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebConfigError);
    expect(String(err)).toContain('basic_auth_users.admin');
    expect(String(err)).not.toContain('hunter2');
  });

  it('names the key of each mistake', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ tls_config: {} }, 'tls_config: unknown key'],
      [{ http_server_config: { headers: { Server: 'x' } } }, 'http_server_config.headers.Server: this header cannot be set'],
      [{ http_server_config: { headers: { 'X-Frame-Options': 'allow' } } }, 'must be one of: deny, sameorigin'],
      [{ tls_server_config: { key_file: 'k.pem' } }, 'tls_server_config.cert_file: required'],
      [{ tls_server_config: { cert: 'x', key: 'y', min_version: 'SSL3' } }, 'tls_server_config.min_version: must be one of'],
      [{ tls_server_config: { cert: 'x', key: 'y', min_version: 'TLS13', max_version: 'TLS12' } }, 'min_version: is above max_version'],
      [{ tls_server_config: { cert: 'x', key: 'y', client_auth_type: 'RequireAndVerifyClientCert' } }, 'client_ca_file: required'],
      [{ tls_server_config: { cert: 'x', key: 'y', cipher_suites: ['TLS_FANCY'] } }, 'unknown cipher suite TLS_FANCY'],
      [{ tls_server_config: { cert_file: 'missing.pem', key: 'y' } }, 'tls_server_config.cert_file: file not found'],
      [{ rate_limit: { interval: 'soon' } }, 'rate_limit.interval'],
    ];
    for (const [raw, msg] of cases) {
      const err = await parse(raw).catch((e: unknown) => e);
      expect(err, msg).toBeInstanceOf(WebConfigError);
      expect(String(err)).toContain(msg);
    }
    expect(String(await loadWebConfig(path.join(dir, 'nope.yml')).catch((e: unknown) => e))).toContain('no such file');
    expect(String(await loadWebConfig(write('bad.yml', 'basic_auth_users: [')).catch((e: unknown) => e))).toContain('not valid YAML');
  });

  it('helpers: durations, basic credentials, SAN matching', () => {
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1x')).toBeNaN();
    expect(parseBasic(basic('a', 'b:c'))).toEqual({ user: 'a', password: 'b:c' });
    expect(parseBasic('Bearer x')).toBeUndefined();
    expect(sanAllowed('DNS:scraper.example, IP Address:10.0.0.9', ['10.0.0.9'])).toBe(true);
    expect(sanAllowed('DNS:other.example', ['scraper.example'])).toBe(false);
  });
});

describe('basic auth checks', () => {
  it('caches a successful bcrypt check for a while, never a failed one; unknown users cost a bcrypt round too', async () => {
    const access = new WebAccess(await parseWebConfig({ basic_auth_users: { prometheus: HASH } }, 'web.yml', dir));
    const t0 = 1_000_000;
    expect(await access.check(undefined, undefined, t0)).toEqual({ ok: false, status: 401, challenge: true });
    expect(await access.check(basic('prometheus', PASSWORD), undefined, t0)).toEqual({ ok: true });
    expect(access.bcryptChecks).toBe(1);
    // A scrape every 15 s within the cache lifetime costs no bcrypt round.
    for (let i = 1; i <= 3; i++) expect((await access.check(basic('prometheus', PASSWORD), undefined, t0 + i * 15_000)).ok).toBe(true);
    expect(access.bcryptChecks).toBe(1);
    // After the lifetime, checked again.
    expect((await access.check(basic('prometheus', PASSWORD), undefined, t0 + AUTH_CACHE_TTL_MS + 1)).ok).toBe(true);
    expect(access.bcryptChecks).toBe(2);
    // Wrong passwords are checked every time (a failure is never cached) and fail.
    expect((await access.check(basic('prometheus', 'wrong'), undefined, t0)).ok).toBe(false);
    expect((await access.check(basic('prometheus', 'wrong'), undefined, t0)).ok).toBe(false);
    expect(access.bcryptChecks).toBe(4);
    // An unknown user goes through bcrypt against the decoy hash, so timing tells nothing.
    expect((await access.check(basic('nobody', PASSWORD), undefined, t0)).ok).toBe(false);
    expect(access.bcryptChecks).toBe(5);
    // The decoy's cost is the usual 10: an unknown user is not answered faster than a known one.
    const started = performance.now();
    await access.check(basic('nobody', 'x'), undefined, t0);
    expect(performance.now() - started).toBeGreaterThan(10);
  });

  it('the rate limit answers 429 once the burst is spent and refills with time', async () => {
    const access = new WebAccess(await parseWebConfig({ rate_limit: { interval: '1s', burst: 2 } }, 'web.yml', dir));
    expect((await access.check(undefined, undefined, 0)).ok).toBe(true);
    expect((await access.check(undefined, undefined, 10)).ok).toBe(true);
    expect(await access.check(undefined, undefined, 20)).toEqual({ ok: false, status: 429 });
    expect((await access.check(undefined, undefined, 1_100)).ok).toBe(true);
  });
});

const hasOpenssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
// CI has openssl; elsewhere the TLS tests are skipped when it is missing.
const describeTls = hasOpenssl || process.env.CI ? describe : describe.skip;

describeTls('TLS from a web config file (certificates made by openssl at test time)', () => {
  const certs = path.join(dir, 'certs');
  const pem = (name: string): string => path.join(certs, name);
  let ca = '';

  beforeAll(() => {
    mkdirSync(certs, { recursive: true });
    const run = (...args: string[]): void => {
      const r = spawnSync('openssl', args, { cwd: certs, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
    };
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=flowgauge test CA');
    for (const [name, san] of [
      ['server', 'IP:127.0.0.1,DNS:localhost'],
      ['client', 'DNS:scraper.example'],
      ['stranger', 'DNS:stranger.example'],
    ]) {
      writeFileSync(path.join(certs, `${name}.ext`), `subjectAltName=${san}\n`);
      run('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
    }
    // A client certificate from a CA the server does not trust.
    run('req', '-x509', ...ec, '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '2', '-subj', '/CN=rogue', '-addext', 'subjectAltName=DNS:scraper.example');
    ca = readFileSync(pem('ca.crt'), 'utf8');
  });

  const client = (name: string): https.RequestOptions => ({ cert: readFileSync(pem(`${name}.crt`)), key: readFileSync(pem(`${name}.key`)) });

  it('serves HTTPS with basic auth and the configured headers; plain HTTP gets nothing', async () => {
    const web = write(
      'web-tls.yml',
      [
        'tls_server_config:',
        '  cert_file: certs/server.crt', // relative to the web config file's folder
        '  key_file: certs/server.key',
        '  min_version: TLS12',
        'http_server_config:',
        '  headers:',
        '    X-Content-Type-Options: nosniff',
        '    Strict-Transport-Security: max-age=31536000',
        'basic_auth_users:',
        `  prometheus: "${HASH}"`,
        '',
      ].join('\n'),
    );
    const d = await start({ webConfigFile: web });
    const url = `https://127.0.0.1:${d.http!.port}`;
    const ok = await request(`${url}/metrics`, { ca, headers: { authorization: basic('prometheus', PASSWORD) } });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('flowgauge_exporters');
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    expect(ok.headers['strict-transport-security']).toBe('max-age=31536000');

    const anonymous = await request(`${url}/metrics`, { ca });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic /);
    expect(anonymous.body).not.toContain('flowgauge_');
    expect((await request(`${url}/status`, { ca, headers: { authorization: basic('prometheus', 'nope') } })).status).toBe(401);
    // Every path is behind the login, health endpoints included (as with the exporter toolkit).
    expect((await request(`${url}/healthz`, { ca })).status).toBe(401);

    // The certificate is checked by the client against the test CA: no verification switch-offs.
    await expect(request(`${url}/metrics`, {})).rejects.toThrow();
    // Plain HTTP to the TLS port does not get an answer with data.
    const plain = await request(`http://127.0.0.1:${d.http!.port}/metrics`).catch((e: unknown) => e);
    expect(plain instanceof Error || (plain as Reply).status === 400).toBe(true);
  });

  it('TLS 1.3 only: a TLS 1.2 client is refused', async () => {
    const web = write('web-tls13.yml', `tls_server_config:\n  cert_file: ${pem('server.crt')}\n  key_file: ${pem('server.key')}\n  min_version: TLS13\n`);
    const d = await start({ webConfigFile: web });
    const url = `https://127.0.0.1:${d.http!.port}/healthz`;
    expect((await request(url, { ca, minVersion: 'TLSv1.3' })).status).toBe(200);
    await expect(request(url, { ca, maxVersion: 'TLSv1.2' })).rejects.toThrow();
  });

  it('RequireAndVerifyClientCert with client_allowed_sans: only a trusted certificate with an allowed name gets in', async () => {
    const web = write(
      'web-mtls.yml',
      [
        'tls_server_config:',
        `  cert_file: ${pem('server.crt')}`,
        `  key_file: ${pem('server.key')}`,
        '  client_auth_type: RequireAndVerifyClientCert',
        `  client_ca_file: ${pem('ca.crt')}`,
        '  client_allowed_sans: ["scraper.example"]',
        '',
      ].join('\n'),
    );
    const d = await start({ webConfigFile: web });
    const url = `https://127.0.0.1:${d.http!.port}/metrics`;
    expect((await request(url, { ca, ...client('client') })).status).toBe(200);
    // Trusted CA, name not allowed.
    expect((await request(url, { ca, ...client('stranger') })).status).toBe(403);
    // No certificate, or one from an untrusted CA: the handshake fails.
    await expect(request(url, { ca })).rejects.toThrow();
    await expect(request(url, { ca, ...client('rogue') })).rejects.toThrow();
  });

  it('a broken web config stops the start with the file and key named', async () => {
    const web = write('web-broken.yml', 'tls_server_config:\n  cert_file: certs/none.crt\n  key_file: certs/server.key\n');
    await expect(startTestDaemon({ webConfigFile: web })).rejects.toThrow(/web config .*web-broken\.yml: tls_server_config\.cert_file: file not found/);
  });
});

describe('HTTP request limits and disclosure', () => {
  it('refuses methods and bodies; oversized headers get 431', async () => {
    const d = await start();
    const url = `http://127.0.0.1:${d.http!.port}`;
    expect((await request(`${url}/metrics`, { method: 'POST' })).status).toBe(405);
    const withBody = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${url}/metrics`, { method: 'GET', agent: false, headers: { 'content-length': '5' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('hello');
    });
    expect(withBody).toBe(413);
    const big = await request(`${url}/metrics`, { headers: { 'x-filler': 'a'.repeat(20_000) } }).catch((e: unknown) => e);
    expect(big instanceof Error || (big as Reply).status === 431).toBe(true);
  });

  it('a client that never finishes its headers is cut off', async () => {
    const d = await start();
    const closedAfter = await new Promise<number>((resolve) => {
      const started = Date.now();
      const sock = net.connect(d.http!.port, '127.0.0.1', () => sock.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'));
      sock.on('data', () => undefined);
      sock.on('close', () => resolve(Date.now() - started));
    });
    // headersTimeout is 5 s, checked every second.
    expect(closedAfter).toBeGreaterThanOrEqual(4_000);
    expect(closedAfter).toBeLessThan(8_000);
  }, 60_000);

  it('status and error pages carry no file paths, config values or secrets; paths outside the routes are 404', async () => {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-state-secret-'));
    const d = await start({ stateDir, exporterAllowlist: ['127.0.0.0/8'] });
    await sendDatagrams(d.udpPort, corpusDatagrams('edge/softflowd-v9.pcap').map((x) => x.payload));
    await waitFor(() => [...d.pipeline.exporters.values()].some((e) => e.counters.records === 44), 10_000, 'records');
    const url = `http://127.0.0.1:${d.http!.port}`;
    const status = await request(`${url}/status`);
    expect(status.status).toBe(200);
    const pages = [status.body, (await request(`${url}/`)).body, (await request(`${url}/metrics`)).body];
    for (const p of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/state', '/templates.json', `/${stateDir}`, '/dist/cli.js', '/.env']) {
      const r = await request(`${url}${p}`);
      expect(r.status, p).toBe(404);
      expect(r.body).toBe('not found\n');
      pages.push(r.body);
    }
    for (const page of pages) {
      expect(page).not.toContain(stateDir);
      expect(page).not.toContain(os.tmpdir());
      expect(page).not.toContain('127.0.0.0/8'); // the allowlist
      expect(page).not.toContain(process.cwd());
      expect(page).not.toMatch(/root:|\/etc\/|\.yaml|\.yml|\.pem/);
    }
  });
});

describe('the exporter allowlist over UDP', () => {
  it('takes datagrams from allowed exporters, counts and drops the others, from v4 and v6 sources', async () => {
    const d = await start({
      listen: { http: '127.0.0.1:0', netflow: ['[::]:0'], sflow: [] },
      exporterAllowlist: ['127.0.0.1/32'],
    });
    const v9 = corpusDatagrams('edge/softflowd-v9.pcap').map((x) => x.payload);
    await sendDatagrams(d.udpPort, v9, '127.0.0.1');
    await sendDatagrams(d.udpPort, v9, '::1');
    await waitFor(() => d.pipeline.drops.notAllowed === v9.length && [...d.pipeline.exporters.values()].some((e) => e.counters.records === 44), 10_000, 'allowed and refused datagrams');
    // Only the allowed exporter has state and self-metric labels; the refused one has none.
    expect([...d.pipeline.exporters.keys()]).toEqual(['127.0.0.1']);
    const samples = parseExposition((await request(`http://127.0.0.1:${d.http!.port}/metrics`)).body);
    expect(sumOf(samples, 'flowgauge_datagrams_dropped_total', { reason: 'not_allowed' })).toBe(v9.length);
    expect(sumOf(samples, 'flow_exporter_flows_total')).toBe(44);
  });
});

describe('secrets stay out of the logs (the real daemon)', () => {
  const secret = 'fg-Secret-7c1d93e0a5b4';
  let daemon: DaemonProcess | undefined;
  beforeAll(() => ensureBuilt(), 180_000);
  afterAll(() => daemon?.kill('SIGKILL'));

  it('a secret from the environment never appears in the log, at debug level, through start, errors and stop', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const cfg = write(
      'secret.yaml',
      [
        'listen:',
        '  http: "127.0.0.1:0"',
        '  netflow: ["127.0.0.1:0"]',
        '  sflow: []',
        // The state folder's name holds the secret, and a corrupt state file there gets reported
        // (with its path) at start: the log line is written, the secret in it must not be.
        `state_dir: "${path.join(dir, 'state-')}\${FG_TEST_SECRET}"`,
        'log: { level: debug }',
        'otlp:',
        '  enabled: true',
        `  endpoint: "http://127.0.0.1:${closed}"`,
        '  headers: { authorization: "Bearer ${FG_TEST_SECRET}" }',
        '  interval: 300ms',
        '  timeout: 200ms',
        '',
      ].join('\n'),
    );
    mkdirSync(path.join(dir, `state-${secret}`), { recursive: true });
    writeFileSync(path.join(dir, `state-${secret}`, 'templates.json'), '{"kind": "flowgauge-templates", "version": 1, "data": ');
    daemon = new DaemonProcess(['--config', cfg], { FG_TEST_SECRET: secret });
    const { httpPort, udpPorts } = await daemon.started();
    await sendDatagrams(udpPorts[0], corpusDatagrams('edge/softflowd-v9.pcap').map((x) => x.payload));
    // Let some OTLP exports fail against the closed port (each failure is logged).
    await daemon.waitForLog('OTLP export failed; retrying every interval', 10_000);
    const pages = [(await request(`http://127.0.0.1:${httpPort}/status`)).body, (await request(`http://127.0.0.1:${httpPort}/metrics`)).body];
    daemon.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
    const log = daemon.stderr;
    expect(log.length).toBeGreaterThan(0);
    expect(log).toContain('OTLP export failed');
    expect(log).toContain('template state file was corrupt');
    expect(log).not.toContain(secret);
    expect(log).toContain('[REDACTED]');
    for (const p of pages) expect(p).not.toContain(secret);
  }, 60_000);

  it('a config error quoting a value from the environment does not print it', () => {
    const cfg = write('leaky.yaml', 'otlp:\n  enabled: true\n  endpoint: "http://scraper:${FG_TEST_SECRET}@127.0.0.1:4318"\n');
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'flowgauge.js'), 'check-config', '--config', cfg], {
      encoding: 'utf8',
      env: { ...process.env, FG_TEST_SECRET: secret },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('otlp.endpoint');
    expect(r.stderr).not.toContain(secret);
  });

  it('a web config holding a plain password stops the start and the log names the key, not the password', async () => {
    const web = write('web-plain.yml', `basic_auth_users:\n  admin: ${secret}\n`);
    const cfg = write('plain.yaml', `listen: { http: "127.0.0.1:0", netflow: [], sflow: [] }\nstate_dir: ${JSON.stringify(path.join(dir, 'plain-state'))}\n`);
    const d = new DaemonProcess(['--config', cfg, '--web.config.file', web]);
    const { code } = await d.exited;
    expect(code).toBe(2);
    expect(d.stderr).toContain('basic_auth_users.admin');
    expect(d.stderr).not.toContain(secret);
  }, 30_000);
});
