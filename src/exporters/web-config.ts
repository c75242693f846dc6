/**
 * TLS, basic auth and response headers for the HTTP side, configured with the web configuration file
 * format of the Prometheus exporter toolkit (`--web.config.file`), so a Prometheus user can reuse the
 * file they already have for node_exporter:
 *
 *   tls_server_config: { cert_file, key_file | cert, key, client_auth_type, client_ca_file | client_ca,
 *                        client_allowed_sans, min_version, max_version, cipher_suites,
 *                        prefer_server_cipher_suites, curve_preferences }
 *   http_server_config: { http2, headers: { Content-Security-Policy, X-Frame-Options, ... } }
 *   basic_auth_users: { user: bcrypt hash }
 *   rate_limit: { interval, burst }
 *
 * File paths inside the file are relative to the file's own folder. Errors name the file and the
 * key, never a value: the file holds secrets (a private key, password hashes).
 *
 * Basic auth: passwords are checked with bcrypt (bcryptjs); a successful check is cached for a short
 * time under a SHA-256 of (user, hash, password), so a scrape every 15 s does not pay a bcrypt round
 * each time. Unknown users are checked against a decoy hash of the same cost so that timing does not
 * tell which users exist, user names are compared in constant time, and bcrypt checks run one at a
 * time so a burst of bad logins cannot take every core.
 */
import { createHash, timingSafeEqual, type X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SecureVersion } from 'node:tls';
import bcrypt from 'bcryptjs';
import { isMap, parseDocument } from 'yaml';

export type ClientAuthType =
  | 'NoClientCert'
  | 'RequestClientCert'
  | 'RequireAnyClientCert'
  | 'VerifyClientCertIfGiven'
  | 'RequireAndVerifyClientCert';

export interface WebTlsSettings {
  cert: string;
  key: string;
  /** PEM of the CAs client certificates are verified against. */
  clientCa: string | undefined;
  clientAuth: ClientAuthType;
  clientAllowedSans: string[];
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  /** OpenSSL cipher list for TLS 1.2 and below; undefined = Node's defaults. */
  ciphers: string | undefined;
  honorCipherOrder: boolean;
  /** OpenSSL curve list ("P-256:X25519"); undefined = Node's defaults. */
  ecdhCurve: string | undefined;
}

export interface WebConfig {
  /** The file it came from (for messages; never served). */
  file: string;
  tls: WebTlsSettings | undefined;
  headers: Record<string, string>;
  /** user -> bcrypt hash; empty = no authentication. */
  users: Map<string, string>;
  /** Token bucket: one request per intervalMs, bursts of `burst`; undefined = no limit. */
  rateLimit: { intervalMs: number; burst: number } | undefined;
}

/** A problem in the web config file; the message names the file and key, never a value. */
export class WebConfigError extends Error {
  constructor(file: string, key: string, problem: string) {
    super(`web config ${file}: ${key}: ${problem}`);
    this.name = 'WebConfigError';
  }
}

const CLIENT_AUTH_TYPES: readonly ClientAuthType[] = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
];

const TLS_VERSIONS: Record<string, SecureVersion> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };
const VERSION_ORDER: readonly SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** Go cipher suite names (as the exporter toolkit takes them) and their OpenSSL names. */
const CIPHER_SUITES: Record<string, string> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
};

const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

/** Response headers the file may set, with their allowed values (undefined = any). */
const HEADERS: Record<string, readonly string[] | undefined> = {
  'Content-Security-Policy': undefined,
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-Content-Type-Options': ['nosniff'],
  'X-XSS-Protection': undefined,
  'Strict-Transport-Security': undefined,
};

const TOP_KEYS = ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit'];
const TLS_KEYS = [
  'cert',
  'key',
  'client_ca',
  'cert_file',
  'key_file',
  'client_auth_type',
  'client_ca_file',
  'client_allowed_sans',
  'min_version',
  'max_version',
  'cipher_suites',
  'prefer_server_cipher_suites',
  'curve_preferences',
];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Go-style duration ("1s", "500ms", "1m30s") in milliseconds, or NaN. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(text)) !== null) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    consumed = re.lastIndex;
  }
  return consumed === text.length && consumed > 0 ? total : NaN;
}

/** Reads and validates a web config file. Throws WebConfigError. */
export async function loadWebConfig(file: string): Promise<WebConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new WebConfigError(file, '(file)', code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : 'cannot be read');
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    const pos = doc.errors[0].linePos?.[0];
    throw new WebConfigError(file, '(yaml)', `not valid YAML${pos ? ` (line ${pos.line})` : ''}`);
  }
  if (doc.contents !== null && !isMap(doc.contents)) throw new WebConfigError(file, '(top level)', 'must be a mapping of keys');
  const raw = (doc.toJS() ?? {}) as Obj;
  return parseWebConfig(raw, file, path.dirname(path.resolve(file)));
}

async function readPem(file: string, dir: string, key: string, where: string): Promise<string> {
  try {
    return await readFile(path.resolve(dir, file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new WebConfigError(where, key, code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : 'cannot be read');
  }
}

function checkKeys(o: Obj, allowed: string[], where: string, prefix: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new WebConfigError(where, `${prefix}${k}`, `unknown key; allowed: ${allowed.join(', ')}`);
  }
}

function stringList(v: unknown, where: string, key: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new WebConfigError(where, key, 'must be a list of strings');
  return v as string[];
}

/** Validates the parsed file (exported for tests); `dir` resolves the file paths in it. */
export async function parseWebConfig(raw: Obj, where: string, dir: string): Promise<WebConfig> {
  checkKeys(raw, TOP_KEYS, where, '');
  const out: WebConfig = { file: where, tls: undefined, headers: {}, users: new Map(), rateLimit: undefined };

  const tlsRaw = raw.tls_server_config;
  if (tlsRaw !== undefined && tlsRaw !== null) {
    if (!isObj(tlsRaw)) throw new WebConfigError(where, 'tls_server_config', 'must be a mapping');
    checkKeys(tlsRaw, TLS_KEYS, where, 'tls_server_config.');
    out.tls = await parseTls(tlsRaw, where, dir);
  }

  const httpRaw = raw.http_server_config;
  if (httpRaw !== undefined && httpRaw !== null) {
    if (!isObj(httpRaw)) throw new WebConfigError(where, 'http_server_config', 'must be a mapping');
    checkKeys(httpRaw, ['http2', 'headers'], where, 'http_server_config.');
    if (httpRaw.http2 !== undefined && typeof httpRaw.http2 !== 'boolean') {
      throw new WebConfigError(where, 'http_server_config.http2', 'must be true or false');
    }
    const headers = httpRaw.headers ?? {};
    if (!isObj(headers)) throw new WebConfigError(where, 'http_server_config.headers', 'must be a mapping of header names to values');
    for (const [name, value] of Object.entries(headers)) {
      const key = `http_server_config.headers.${name}`;
      if (!(name in HEADERS)) throw new WebConfigError(where, key, `this header cannot be set; allowed: ${Object.keys(HEADERS).join(', ')}`);
      if (typeof value !== 'string') throw new WebConfigError(where, key, 'must be a string');
      const allowed = HEADERS[name];
      if (allowed !== undefined && value !== '' && !allowed.includes(value)) throw new WebConfigError(where, key, `must be one of: ${allowed.join(', ')}`);
      if (/[\r\n]/.test(value)) throw new WebConfigError(where, key, 'must be one line');
      if (value !== '') out.headers[name] = value;
    }
  }

  const users = raw.basic_auth_users;
  if (users !== undefined && users !== null) {
    if (!isObj(users)) throw new WebConfigError(where, 'basic_auth_users', 'must be a mapping of user names to bcrypt hashes');
    for (const [user, hash] of Object.entries(users)) {
      const key = `basic_auth_users.${user}`;
      if (user === '' || user.includes(':')) throw new WebConfigError(where, 'basic_auth_users', 'user names must be non-empty and contain no ":"');
      if (typeof hash !== 'string' || !isBcryptHash(hash)) {
        throw new WebConfigError(where, key, 'must be a bcrypt hash (like the output of htpasswd -nBC 10 "" | tr -d \':\\n\'), not a plain password');
      }
      out.users.set(user, hash);
    }
  }

  const rl = raw.rate_limit;
  if (rl !== undefined && rl !== null) {
    if (!isObj(rl)) throw new WebConfigError(where, 'rate_limit', 'must be a mapping with interval and burst');
    checkKeys(rl, ['interval', 'burst'], where, 'rate_limit.');
    const intervalMs = typeof rl.interval === 'string' ? parseDuration(rl.interval) : typeof rl.interval === 'number' && rl.interval === 0 ? 0 : NaN;
    if (!Number.isFinite(intervalMs) || intervalMs < 0) throw new WebConfigError(where, 'rate_limit.interval', 'must be a duration like "1s" or "500ms" (0 disables)');
    const burst = rl.burst ?? 1;
    if (!Number.isInteger(burst) || (burst as number) < 1) throw new WebConfigError(where, 'rate_limit.burst', 'must be an integer >= 1');
    if (intervalMs > 0) out.rateLimit = { intervalMs, burst: burst as number };
  }
  return out;
}

async function parseTls(t: Obj, where: string, dir: string): Promise<WebTlsSettings> {
  const str = (k: string): string | undefined => {
    const v = t[k];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new WebConfigError(where, `tls_server_config.${k}`, 'must be a string');
    return v;
  };
  const pair = async (inline: string, file: string, required: boolean): Promise<string | undefined> => {
    const a = str(inline);
    const b = str(file);
    if (a !== undefined && b !== undefined) throw new WebConfigError(where, `tls_server_config.${inline}`, `give ${inline} or ${file}, not both`);
    if (a !== undefined) return a;
    if (b !== undefined) return readPem(b, dir, `tls_server_config.${file}`, where);
    if (required) throw new WebConfigError(where, `tls_server_config.${file}`, `required (or ${inline} inline)`);
    return undefined;
  };
  const cert = (await pair('cert', 'cert_file', true)) as string;
  const key = (await pair('key', 'key_file', true)) as string;
  const clientCa = await pair('client_ca', 'client_ca_file', false);

  const clientAuth = (str('client_auth_type') ?? 'NoClientCert') as ClientAuthType;
  if (!CLIENT_AUTH_TYPES.includes(clientAuth)) {
    throw new WebConfigError(where, 'tls_server_config.client_auth_type', `must be one of: ${CLIENT_AUTH_TYPES.join(', ')}`);
  }
  if ((clientAuth === 'RequireAndVerifyClientCert' || clientAuth === 'VerifyClientCertIfGiven') && clientCa === undefined) {
    throw new WebConfigError(where, 'tls_server_config.client_ca_file', `required with client_auth_type ${clientAuth}`);
  }
  const clientAllowedSans = stringList(t.client_allowed_sans, where, 'tls_server_config.client_allowed_sans');
  if (clientAllowedSans.length > 0 && clientAuth !== 'RequireAnyClientCert' && clientAuth !== 'RequireAndVerifyClientCert') {
    throw new WebConfigError(where, 'tls_server_config.client_allowed_sans', 'needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert');
  }

  const version = (k: string, dflt: SecureVersion): SecureVersion => {
    const v = str(k);
    if (v === undefined) return dflt;
    const mapped = TLS_VERSIONS[v];
    if (mapped === undefined) throw new WebConfigError(where, `tls_server_config.${k}`, `must be one of: ${Object.keys(TLS_VERSIONS).join(', ')}`);
    return mapped;
  };
  const minVersion = version('min_version', 'TLSv1.2');
  const maxVersion = version('max_version', 'TLSv1.3');
  if (VERSION_ORDER.indexOf(minVersion) > VERSION_ORDER.indexOf(maxVersion)) {
    throw new WebConfigError(where, 'tls_server_config.min_version', 'is above max_version');
  }

  const suites = stringList(t.cipher_suites, where, 'tls_server_config.cipher_suites');
  for (const s of suites) {
    if (!(s in CIPHER_SUITES)) throw new WebConfigError(where, 'tls_server_config.cipher_suites', `unknown cipher suite ${s}; known: ${Object.keys(CIPHER_SUITES).join(', ')}`);
  }
  const curves = stringList(t.curve_preferences, where, 'tls_server_config.curve_preferences');
  for (const c of curves) {
    if (!(c in CURVES)) throw new WebConfigError(where, 'tls_server_config.curve_preferences', `unknown curve ${c}; known: ${Object.keys(CURVES).join(', ')}`);
  }
  const prefer = t.prefer_server_cipher_suites ?? true;
  if (typeof prefer !== 'boolean') throw new WebConfigError(where, 'tls_server_config.prefer_server_cipher_suites', 'must be true or false');

  return {
    cert,
    key,
    clientCa,
    clientAuth,
    clientAllowedSans,
    minVersion,
    maxVersion,
    ciphers: suites.length > 0 ? suites.map((s) => CIPHER_SUITES[s]).join(':') : undefined,
    honorCipherOrder: prefer,
    ecdhCurve: curves.length > 0 ? curves.map((c) => CURVES[c]).join(':') : undefined,
  };
}

const BCRYPT = /^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/;

function isBcryptHash(s: string): boolean {
  if (!BCRYPT.test(s)) return false;
  try {
    const rounds = bcrypt.getRounds(s);
    return rounds >= 4 && rounds <= 31;
  } catch {
    return false;
  }
}

/** Options for node:https.createServer from the TLS settings. */
export function tlsServerOptions(t: WebTlsSettings): import('node:https').ServerOptions {
  const opts: import('node:https').ServerOptions = {
    cert: t.cert,
    key: t.key,
    minVersion: t.minVersion,
    maxVersion: t.maxVersion,
    honorCipherOrder: t.honorCipherOrder,
    requestCert: t.clientAuth !== 'NoClientCert',
    // Verification failures of an optional certificate are judged per request (VerifyClientCertIfGiven).
    rejectUnauthorized: t.clientAuth === 'RequireAndVerifyClientCert',
  };
  if (t.clientCa !== undefined) opts.ca = t.clientCa;
  if (t.ciphers !== undefined) opts.ciphers = t.ciphers;
  if (t.ecdhCurve !== undefined) opts.ecdhCurve = t.ecdhCurve;
  return opts;
}

/** The TLS socket facts a request check needs (kept narrow so tests can fake them). */
export interface PeerInfo {
  /** Whether the peer sent a certificate. */
  hasCert: boolean;
  /** Whether it verified against client_ca. */
  authorized: boolean;
  /** subjectaltname of the peer certificate ("DNS:a, IP Address:1.2.3.4"). */
  subjectAltName: string | undefined;
}

export type AccessDecision = { ok: true } | { ok: false; status: 401 | 403 | 429; challenge?: boolean };

/** A bcrypt hash (cost 10) of a random string nobody knows: what unknown users are checked against. */
const DECOY_HASH = '$2b$10$NfWO7ngMyLqEi5BM.fvkqe0eeD2fNTYfCbraGsTAAGt/5uxxigQhS';

/** How long a successful password check is remembered. */
export const AUTH_CACHE_TTL_MS = 60_000;
const AUTH_CACHE_MAX = 256;

/**
 * Decides whether a request may be served: client certificate rules, rate limit, basic auth.
 * One instance per server; holds the success cache and the rate limiter's bucket.
 */
export class WebAccess {
  readonly config: WebConfig;
  private readonly userDigests: Array<{ digest: Buffer; user: string; hash: string }>;
  private readonly cache = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();
  private tokens: number;
  private lastRefill = NaN;
  /** bcrypt comparisons run (cache misses), for tests and self-checks. */
  bcryptChecks = 0;

  constructor(config: WebConfig) {
    this.config = config;
    this.userDigests = [...config.users].map(([user, hash]) => ({ digest: sha256(user), user, hash }));
    this.tokens = config.rateLimit?.burst ?? 0;
  }

  get authRequired(): boolean {
    return this.config.users.size > 0;
  }

  /** Checks a request. `authorization` is the raw header; `peer` is undefined on plain HTTP. */
  async check(authorization: string | undefined, peer: PeerInfo | undefined, nowMs = Date.now()): Promise<AccessDecision> {
    const tls = this.config.tls;
    if (tls !== undefined && peer !== undefined) {
      const needCert = tls.clientAuth === 'RequireAnyClientCert' || tls.clientAuth === 'RequireAndVerifyClientCert';
      if (needCert && !peer.hasCert) return { ok: false, status: 403 };
      if ((tls.clientAuth === 'VerifyClientCertIfGiven' || tls.clientAuth === 'RequireAndVerifyClientCert') && peer.hasCert && !peer.authorized) {
        return { ok: false, status: 403 };
      }
      if (tls.clientAllowedSans.length > 0 && !sanAllowed(peer.subjectAltName, tls.clientAllowedSans)) return { ok: false, status: 403 };
    }
    if (!this.takeToken(nowMs)) return { ok: false, status: 429 };
    if (!this.authRequired) return { ok: true };
    const creds = parseBasic(authorization);
    if (creds === undefined) return { ok: false, status: 401, challenge: true };
    return (await this.verify(creds.user, creds.password, nowMs)) ? { ok: true } : { ok: false, status: 401, challenge: true };
  }

  private takeToken(nowMs: number): boolean {
    const rl = this.config.rateLimit;
    if (rl === undefined) return true;
    if (Number.isNaN(this.lastRefill)) this.lastRefill = nowMs;
    const refill = Math.floor((nowMs - this.lastRefill) / rl.intervalMs);
    if (refill > 0) {
      this.tokens = Math.min(rl.burst, this.tokens + refill);
      this.lastRefill += refill * rl.intervalMs;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }

  private async verify(user: string, password: string, nowMs: number): Promise<boolean> {
    // Compare the user against every configured user in constant time, so that neither the answer
    // nor the time taken depends on where (or whether) the name matches.
    const digest = sha256(user);
    let match: { user: string; hash: string } | undefined;
    for (const u of this.userDigests) if (timingSafeEqual(u.digest, digest) && match === undefined) match = u;
    const hash = match?.hash ?? DECOY_HASH;
    const key = createHash('sha256').update(user).update('\0').update(hash).update('\0').update(password).digest('base64');
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (cached > nowMs) return match !== undefined;
      this.cache.delete(key);
    }
    // One bcrypt at a time: each costs tens of milliseconds of CPU.
    const run = this.queue.then(() => bcrypt.compare(password, hash));
    this.queue = run.catch(() => undefined);
    this.bcryptChecks++;
    const ok = (await run) && match !== undefined;
    if (ok) {
      if (this.cache.size >= AUTH_CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, nowMs + AUTH_CACHE_TTL_MS);
    }
    return ok;
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** user and password of a Basic authorization header, or undefined. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Whether a certificate's subjectaltname string has an entry equal to one of `allowed`. */
export function sanAllowed(subjectAltName: string | undefined, allowed: string[]): boolean {
  if (subjectAltName === undefined) return false;
  for (const part of subjectAltName.split(/,\s*/)) {
    const colon = part.indexOf(':');
    const value = colon < 0 ? part : part.slice(colon + 1);
    if (allowed.includes(value)) return true;
  }
  return false;
}

/** PeerInfo of a TLS socket's client certificate. */
export function peerOf(socket: { authorized?: boolean; getPeerX509Certificate?: () => X509Certificate | undefined }): PeerInfo {
  const cert = socket.getPeerX509Certificate?.();
  return { hasCert: cert !== undefined, authorized: socket.authorized === true, subjectAltName: cert?.subjectAltName };
}
