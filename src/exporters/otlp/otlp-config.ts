/**
 * The `otlp:` config section: its checks and building (called from config/load.ts), and the
 * resolution of the effective push settings at start time.
 *
 * Precedence, per setting: the config file, then the metrics-specific OTEL_EXPORTER_OTLP_METRICS_*
 * variable, then the generic OTEL_EXPORTER_OTLP_* variable, then the built-in default. The file
 * plays the part of OTel's declarative configuration file, which the specification puts above
 * the SDK environment variables; the signal-specific variable beats the generic one as the OTLP
 * exporter specification requires. Headers merge per name in the same order.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseKeyPairsIntoRecord } from '@opentelemetry/core';
import type { OtlpConfig } from '../../config/types.js';
import { registerSecretValues } from '../../log.js';
import type { OtlpTemporality } from './rollup-metric-producer.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type OtlpCompression = 'gzip' | 'none';

export const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json'];
export const OTLP_COMPRESSIONS: readonly OtlpCompression[] = ['gzip', 'none'];
export const OTLP_TEMPORALITIES: readonly OtlpTemporality[] = ['cumulative', 'delta'];

export const OTLP_DEFAULTS = Object.freeze({
  /** The OTLP/HTTP default receiver; `/v1/metrics` is appended. */
  endpoint: 'http://localhost:4318',
  protocol: 'http/protobuf' as OtlpProtocol,
  // Rollup exports are thousands of similar points: gzip shrinks them about tenfold.
  compression: 'gzip' as OtlpCompression,
  intervalMs: 60_000,
  timeoutMs: 10_000,
  temporality: 'cumulative' as OtlpTemporality,
});

const METRICS_PATH = 'v1/metrics';
/** RFC 9110 token: what an HTTP header name may contain. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DURATION = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Longest interval or timeout accepted: a day. Longer is a typo, and timers cap at 2^31-1 ms. */
const MAX_DURATION_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// The file side

type Report = (path: Array<string | number>, message: string, atKey?: boolean) => void;

/** Milliseconds of a duration written as seconds (a number) or with a unit ("500ms", "10s", "1m"). */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? Math.round(value * 1000) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = DURATION.exec(value);
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * DURATION_UNIT_MS[m[2] ?? 's']);
  return ms > 0 ? ms : undefined;
}

/** Problems with an endpoint URL, or undefined when it is a usable http(s) URL. */
export function checkEndpointUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text)} is not a URL; expected like "http://otel-collector:4318"`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `${JSON.stringify(text)}: OTLP/HTTP needs an http:// or https:// URL (gRPC is not supported; use the receiver's HTTP port, usually 4318)`;
  }
  if (url.username || url.password) return `${JSON.stringify(text)}: put credentials in otlp.headers, not in the URL`;
  return undefined;
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Checks of the `otlp:` section that its JSON schema cannot express. */
export function checkOtlpSection(raw: unknown, report: Report): void {
  const o = asObject(raw);
  if (!o) return;
  for (const key of ['endpoint', 'metrics_endpoint'] as const) {
    if (typeof o[key] === 'string') {
      const msg = checkEndpointUrl(o[key] as string);
      if (msg) report(['otlp', key], msg);
    }
  }
  const durations: Record<string, number | undefined> = {};
  for (const key of ['interval', 'timeout'] as const) {
    if (o[key] === undefined) continue;
    const ms = parseDuration(o[key]);
    durations[key] = ms;
    if (ms === undefined) {
      report(['otlp', key], `${JSON.stringify(o[key])} is not a duration; write seconds (30) or a number with a unit ("500ms", "30s", "1m")`);
    } else if (ms > MAX_DURATION_MS) {
      report(['otlp', key], `${JSON.stringify(o[key])} is longer than a day; use at most "24h"`);
    }
  }
  if (durations.interval !== undefined && durations.timeout !== undefined && durations.timeout > durations.interval) {
    report(['otlp', 'timeout'], `the timeout (${o.timeout}) is longer than the interval (${o.interval}); an export must end before the next one is due`);
  }
  const headers = asObject(o.headers);
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!HEADER_NAME.test(name)) report(['otlp', 'headers', name], `"${name}" is not a valid HTTP header name`, true);
    else if (typeof value === 'string' && /[\r\n\0]/.test(value)) report(['otlp', 'headers', name], 'header values must not contain line breaks or NUL');
  }
  const tls = asObject(o.tls);
  if (tls && (typeof tls.cert_file === 'string') !== (typeof tls.key_file === 'string')) {
    report(['otlp', 'tls', typeof tls.cert_file === 'string' ? 'cert_file' : 'key_file'], 'a client certificate needs both cert_file and key_file');
  }
  const attributes = asObject(o.resource_attributes);
  for (const name of Object.keys(attributes ?? {})) {
    if (name.trim() === '') report(['otlp', 'resource_attributes', name], 'attribute names must not be empty', true);
  }
}

interface RawOtlp {
  enabled?: boolean;
  endpoint?: string;
  metrics_endpoint?: string;
  protocol?: OtlpProtocol;
  headers?: Record<string, string>;
  tls?: { ca_file?: string; cert_file?: string; key_file?: string; insecure_skip_verify?: boolean };
  compression?: OtlpCompression;
  interval?: number | string;
  timeout?: number | string;
  temporality?: OtlpTemporality;
  resource_attributes?: Record<string, string | number | boolean>;
  max_export_batch_size?: number;
}

/** The OtlpConfig of a validated `otlp:` section. */
export function buildOtlpConfig(raw: unknown): OtlpConfig {
  const r = (asObject(raw) ?? {}) as RawOtlp;
  const out: OtlpConfig = {
    enabled: r.enabled ?? true,
    headers: { ...(r.headers ?? {}) },
    tls: {},
    resourceAttributes: { ...(r.resource_attributes ?? {}) },
  };
  if (r.endpoint !== undefined) out.endpoint = r.endpoint;
  if (r.metrics_endpoint !== undefined) out.metricsEndpoint = r.metrics_endpoint;
  if (r.protocol !== undefined) out.protocol = r.protocol;
  if (r.compression !== undefined) out.compression = r.compression;
  if (r.interval !== undefined) out.intervalMs = parseDuration(r.interval);
  if (r.timeout !== undefined) out.timeoutMs = parseDuration(r.timeout);
  if (r.temporality !== undefined) out.temporality = r.temporality;
  if (r.max_export_batch_size !== undefined) out.maxExportBatchSize = r.max_export_batch_size;
  if (r.tls?.ca_file !== undefined) out.tls.caFile = r.tls.ca_file;
  if (r.tls?.cert_file !== undefined) out.tls.certFile = r.tls.cert_file;
  if (r.tls?.key_file !== undefined) out.tls.keyFile = r.tls.key_file;
  if (r.tls?.insecure_skip_verify !== undefined) out.tls.insecureSkipVerify = r.tls.insecure_skip_verify;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Effective settings

/** A setting that cannot be used; names the key or variable it came from. */
export class OtlpConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OtlpConfigError';
  }
}

export interface OtlpSettings {
  /** The full metrics URL requests go to. */
  url: string;
  protocol: OtlpProtocol;
  /** Request headers, one per name whatever its case. Values are secrets: never log them. */
  headers: Record<string, string>;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
  compression: OtlpCompression;
  intervalMs: number;
  timeoutMs: number;
  temporality: OtlpTemporality;
  resourceAttributes: Record<string, string | number | boolean>;
  maxExportBatchSize: number | undefined;
  /** Where each setting came from: "config", an environment variable name, or "default". */
  sources: Record<string, string>;
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  hostname?: string;
  version?: string;
  readFile?: (path: string) => Buffer;
}

/**
 * The settings the push runs with: the file's values, the OTEL_* environment variables for what
 * the file leaves out, then the defaults. Throws OtlpConfigError for an unusable value.
 */
export function resolveOtlpSettings(cfg: OtlpConfig, options: ResolveOptions = {}): OtlpSettings {
  const env = options.env ?? process.env;
  const hostname = options.hostname ?? os.hostname();
  const readFile = options.readFile ?? ((p: string) => readFileSync(p));
  const sources: Record<string, string> = {};
  const fromEnv = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  /** First of: the file's value, the metrics variable, the generic variable. */
  const pick = <T>(setting: string, fileValue: T | undefined, suffix: string, parse: (text: string, variable: string) => T): T | undefined => {
    if (fileValue !== undefined) {
      sources[setting] = 'config';
      return fileValue;
    }
    for (const variable of [`OTEL_EXPORTER_OTLP_METRICS_${suffix}`, `OTEL_EXPORTER_OTLP_${suffix}`]) {
      const text = fromEnv(variable);
      if (text !== undefined) {
        sources[setting] = variable;
        return parse(text, variable);
      }
    }
    return undefined;
  };
  const orDefault = <T>(setting: string, value: T | undefined, fallback: T): T => {
    if (value !== undefined) return value;
    sources[setting] = 'default';
    return fallback;
  };

  // Endpoint: a metrics URL is used as is; a base URL gets /v1/metrics (OTLP exporter spec).
  let url: string | undefined;
  if (cfg.metricsEndpoint !== undefined) {
    url = cfg.metricsEndpoint;
    sources.url = 'config';
  } else if (cfg.endpoint !== undefined) {
    url = appendMetricsPath(cfg.endpoint);
    sources.url = 'config';
  } else if (fromEnv('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT') !== undefined) {
    url = fromEnv('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');
    sources.url = 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT';
  } else if (fromEnv('OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined) {
    url = appendMetricsPath(fromEnv('OTEL_EXPORTER_OTLP_ENDPOINT')!);
    sources.url = 'OTEL_EXPORTER_OTLP_ENDPOINT';
  } else {
    url = appendMetricsPath(OTLP_DEFAULTS.endpoint);
    sources.url = 'default';
  }
  const urlProblem = checkEndpointUrl(url!);
  if (urlProblem) throw new OtlpConfigError(`${describeSource('endpoint', sources.url)}: ${urlProblem}`);

  const protocol = orDefault(
    'protocol',
    pick<OtlpProtocol>('protocol', cfg.protocol, 'PROTOCOL', (text, variable) => {
      if ((OTLP_PROTOCOLS as readonly string[]).includes(text)) return text as OtlpProtocol;
      const grpc = text === 'grpc' ? ' (gRPC is not supported; point the push at the receiver\'s OTLP/HTTP port, usually 4318)' : '';
      throw new OtlpConfigError(`${variable}=${JSON.stringify(text)} is not supported${grpc}; use ${OTLP_PROTOCOLS.join(' or ')}`);
    }),
    OTLP_DEFAULTS.protocol,
  );

  const compression = orDefault(
    'compression',
    pick<OtlpCompression>('compression', cfg.compression, 'COMPRESSION', (text, variable) => {
      if ((OTLP_COMPRESSIONS as readonly string[]).includes(text)) return text as OtlpCompression;
      throw new OtlpConfigError(`${variable}=${JSON.stringify(text)} is not supported; use gzip or none`);
    }),
    OTLP_DEFAULTS.compression,
  );

  const timeoutMs = orDefault(
    'timeout',
    pick<number>('timeout', cfg.timeoutMs, 'TIMEOUT', (text, variable) => envMillis(variable, text)),
    OTLP_DEFAULTS.timeoutMs,
  );
  let intervalMs: number;
  if (cfg.intervalMs !== undefined) {
    intervalMs = cfg.intervalMs;
    sources.interval = 'config';
  } else if (fromEnv('OTEL_METRIC_EXPORT_INTERVAL') !== undefined) {
    intervalMs = envMillis('OTEL_METRIC_EXPORT_INTERVAL', fromEnv('OTEL_METRIC_EXPORT_INTERVAL')!);
    sources.interval = 'OTEL_METRIC_EXPORT_INTERVAL';
  } else {
    intervalMs = Math.max(OTLP_DEFAULTS.intervalMs, timeoutMs);
    sources.interval = 'default';
  }
  if (timeoutMs > intervalMs) {
    throw new OtlpConfigError(
      `the export timeout (${timeoutMs} ms, from ${sources.timeout}) is longer than the interval (${intervalMs} ms, from ${sources.interval}); an export must end before the next one is due`,
    );
  }

  let temporality: OtlpTemporality;
  const preference = fromEnv('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE')?.toLowerCase();
  if (cfg.temporality !== undefined) {
    temporality = cfg.temporality;
    sources.temporality = 'config';
  } else if (preference !== undefined) {
    // "lowmemory" asks for whichever temporality costs the exporter less memory; for counters read
    // from snapshots that is cumulative (delta needs a baseline per series).
    if (preference === 'delta') temporality = 'delta';
    else if (preference === 'cumulative' || preference === 'lowmemory') temporality = 'cumulative';
    else throw new OtlpConfigError(`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=${JSON.stringify(preference)} is not supported; use cumulative, delta or lowmemory`);
    sources.temporality = 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE';
  } else {
    temporality = OTLP_DEFAULTS.temporality;
    sources.temporality = 'default';
  }

  // Headers: generic variable, then metrics variable, then the file, each overriding per name
  // (names compare case-insensitively). A name keeps the spelling it first had: the OTLP exporter
  // also merges the variables' headers under the request's, and must meet the same key to replace.
  const merged = new Map<string, { name: string; value: string }>();
  const setHeader = (name: string, value: string): void => {
    const lower = name.toLowerCase();
    merged.set(lower, { name: merged.get(lower)?.name ?? name, value });
  };
  const envHeaderValues: string[] = [];
  for (const variable of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_METRICS_HEADERS']) {
    const text = fromEnv(variable);
    if (text === undefined) continue;
    for (const [name, value] of Object.entries(parseKeyPairsIntoRecord(text))) {
      if (!HEADER_NAME.test(name)) throw new OtlpConfigError(`${variable}: "${name}" is not a valid HTTP header name`);
      setHeader(name, value);
      envHeaderValues.push(value);
    }
  }
  // Header values from the environment are secrets like ${VAR}s of the file: keep them out of logs.
  registerSecretValues(envHeaderValues);
  for (const [name, value] of Object.entries(cfg.headers)) setHeader(name, value);
  const headers: Record<string, string> = {};
  for (const { name, value } of merged.values()) headers[name] = value;

  const tlsFile = (setting: string, fileValue: string | undefined, suffix: string): Buffer | undefined => {
    const path = pick<string>(setting, fileValue, suffix, (text) => text);
    if (path === undefined) return undefined;
    try {
      return readFile(path);
    } catch (err) {
      throw new OtlpConfigError(`${describeSource(setting, sources[setting])}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const tls = {
    ca: tlsFile('tls.ca_file', cfg.tls.caFile, 'CERTIFICATE'),
    cert: tlsFile('tls.cert_file', cfg.tls.certFile, 'CLIENT_CERTIFICATE'),
    key: tlsFile('tls.key_file', cfg.tls.keyFile, 'CLIENT_KEY'),
    rejectUnauthorized: cfg.tls.insecureSkipVerify !== true,
  };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new OtlpConfigError('a client certificate needs both a certificate and a key (otlp.tls.cert_file and otlp.tls.key_file)');
  }

  // Resource: built-in identity, then OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME, then the file.
  const resourceAttributes: Record<string, string | number | boolean> = {
    'service.name': 'flowgauge',
    'service.instance.id': hostname,
    'host.name': hostname,
  };
  if (options.version !== undefined) resourceAttributes['service.version'] = options.version;
  Object.assign(resourceAttributes, parseKeyPairsIntoRecord(fromEnv('OTEL_RESOURCE_ATTRIBUTES')));
  const serviceName = fromEnv('OTEL_SERVICE_NAME');
  if (serviceName !== undefined) resourceAttributes['service.name'] = serviceName;
  Object.assign(resourceAttributes, cfg.resourceAttributes);

  return {
    url: url!,
    protocol,
    headers,
    tls,
    compression,
    intervalMs,
    timeoutMs,
    temporality,
    resourceAttributes,
    maxExportBatchSize: cfg.maxExportBatchSize,
    sources,
  };
}

/** The settings as they may be logged: header names only, TLS as flags. */
export function describeOtlpSettings(s: OtlpSettings): Record<string, unknown> {
  return {
    url: s.url,
    protocol: s.protocol,
    headerNames: Object.keys(s.headers),
    compression: s.compression,
    intervalMs: s.intervalMs,
    timeoutMs: s.timeoutMs,
    temporality: s.temporality,
    tls: { ca: s.tls.ca !== undefined, clientCertificate: s.tls.cert !== undefined, verify: s.tls.rejectUnauthorized },
    resource: s.resourceAttributes,
    maxExportBatchSize: s.maxExportBatchSize,
    sources: s.sources,
  };
}

function appendMetricsPath(base: string): string {
  return base.endsWith('/') ? base + METRICS_PATH : `${base}/${METRICS_PATH}`;
}

function envMillis(variable: string, text: string): number {
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_DURATION_MS) {
    throw new OtlpConfigError(`${variable}=${JSON.stringify(text)} is not a duration in milliseconds (1 to ${MAX_DURATION_MS})`);
  }
  return Math.round(ms);
}

function describeSource(setting: string, source: string | undefined): string {
  return source === undefined || source === 'config' ? `otlp.${setting}` : source === 'default' ? `default ${setting}` : source;
}
