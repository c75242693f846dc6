/**
 * The `otlp:` config section and the effective push settings: file keys, errors with key and
 * line, OTEL_EXPORTER_OTLP_* fallbacks in the documented order, endpoint paths, headers as
 * secrets, TLS files, and the resource attributes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { OtlpConfig } from '../src/config/types.js';
import {
  describeOtlpSettings,
  OtlpConfigError,
  parseDuration,
  resolveOtlpSettings,
} from '../src/exporters/otlp/otlp-config.js';
import { scrubSecrets } from '../src/log.js';
import { otlpConfig } from './helpers/otlp-compare.js';

function bare(overrides: Partial<OtlpConfig> = {}): OtlpConfig {
  return { enabled: true, headers: {}, tls: {}, resourceAttributes: {}, ...overrides };
}

describe('otlp: in the config file', () => {
  it('reads every key', () => {
    const result = parseConfig(
      [
        'otlp:',
        '  endpoint: "https://collector.example:4318"',
        '  metrics_endpoint: "https://gateway.example/otlp/v1/metrics"',
        '  protocol: http/json',
        '  headers: { Authorization: "Bearer ${OTLP_TOKEN}" }',
        '  tls: { ca_file: ca.pem, cert_file: client.pem, key_file: client.key, insecure_skip_verify: false }',
        '  compression: none',
        '  interval: 30s',
        '  timeout: 2500ms',
        '  temporality: delta',
        '  resource_attributes: { deployment.environment: lab, rack: 7 }',
        '  max_export_batch_size: 5000',
      ].join('\n'),
      'flowgauge.yaml',
      { OTLP_TOKEN: 'token-from-env-1234' },
    );
    expect(result.errors.map(String)).toEqual([]);
    expect(result.config!.otlp).toEqual({
      enabled: true,
      endpoint: 'https://collector.example:4318',
      metricsEndpoint: 'https://gateway.example/otlp/v1/metrics',
      protocol: 'http/json',
      headers: { Authorization: 'Bearer token-from-env-1234' },
      tls: { caFile: 'ca.pem', certFile: 'client.pem', keyFile: 'client.key', insecureSkipVerify: false },
      compression: 'none',
      intervalMs: 30_000,
      timeoutMs: 2_500,
      temporality: 'delta',
      resourceAttributes: { 'deployment.environment': 'lab', rack: 7 },
      maxExportBatchSize: 5000,
    });
    // The token came from the environment: it never reaches a log line.
    expect(scrubSecrets('{"h":"Bearer token-from-env-1234"}')).not.toContain('token-from-env-1234');
  });

  it('is off unless given; `otlp: {}` turns it on with env and defaults; enabled: false turns it off', () => {
    expect(parseConfig('log: { level: info }\n', 'a.yaml').config!.otlp).toBeUndefined();
    expect(parseConfig('otlp: {}\n', 'a.yaml').config!.otlp).toEqual(bare());
    expect(parseConfig('otlp: { enabled: false }\n', 'a.yaml').config!.otlp?.enabled).toBe(false);
  });

  it('reports bad values with key and line', () => {
    const result = parseConfig(
      [
        'otlp:',
        '  endpoint: "collector:4317"',
        '  protocol: grpc',
        '  headers: { "bad header": x }',
        '  interval: soon',
        '  timeout: 90',
        '  tls: { cert_file: client.pem }',
        '  temperality: delta',
      ].join('\n'),
      'f.yaml',
    );
    const errors = result.errors.map(String);
    expect(errors).toEqual([
      expect.stringMatching(/^f\.yaml:2:\d+: otlp\.endpoint: "collector:4317": OTLP\/HTTP needs an http:\/\/ or https:\/\/ URL/),
      expect.stringMatching(/^f\.yaml:3:\d+: otlp\.protocol: .*use one of: http\/protobuf, http\/json/),
      expect.stringMatching(/^f\.yaml:4:\d+: otlp\.headers\["bad header"\]: "bad header" is not a valid HTTP header name/),
      expect.stringMatching(/^f\.yaml:5:\d+: otlp\.interval: "soon" is not a duration/),
      expect.stringMatching(/^f\.yaml:7:\d+: otlp\.tls\.cert_file: a client certificate needs both cert_file and key_file/),
      expect.stringMatching(/^f\.yaml:8:\d+: otlp\.temperality: unknown key "temperality"; did you mean "temporality"\?/),
    ]);
    const timeout = parseConfig('otlp:\n  interval: 10s\n  timeout: 20s\n', 'g.yaml').errors.map(String);
    expect(timeout).toEqual([expect.stringMatching(/^g\.yaml:3:\d+: otlp\.timeout: the timeout \(20s\) is longer than the interval \(10s\)/)]);
  });

  it('parses durations as seconds or with a unit', () => {
    expect(parseDuration(15)).toBe(15_000);
    expect(parseDuration(0.5)).toBe(500);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1_500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    for (const bad of [0, -1, '0s', '', 'ten seconds', '5d', null]) expect(parseDuration(bad)).toBeUndefined();
  });
});

describe('effective settings', () => {
  const opts = (env: NodeJS.ProcessEnv = {}) => ({ env, hostname: 'edge-7', version: '1.2.3' });

  it('defaults: http/protobuf to localhost:4318/v1/metrics, gzip, 60 s, 10 s, cumulative', () => {
    const s = resolveOtlpSettings(bare(), opts());
    expect(s).toMatchObject({
      url: 'http://localhost:4318/v1/metrics',
      protocol: 'http/protobuf',
      compression: 'gzip',
      intervalMs: 60_000,
      timeoutMs: 10_000,
      temporality: 'cumulative',
      headers: {},
      maxExportBatchSize: undefined,
    });
    expect(s.tls).toEqual({ ca: undefined, cert: undefined, key: undefined, rejectUnauthorized: true });
    expect(s.resourceAttributes).toEqual({
      'service.name': 'flowgauge',
      'service.version': '1.2.3',
      'service.instance.id': 'edge-7',
      'host.name': 'edge-7',
    });
  });

  it('endpoint gets /v1/metrics; metrics_endpoint and OTEL_EXPORTER_OTLP_METRICS_ENDPOINT are used as is', () => {
    expect(resolveOtlpSettings(bare({ endpoint: 'https://gw.example/otlp' }), opts()).url).toBe('https://gw.example/otlp/v1/metrics');
    expect(resolveOtlpSettings(bare({ endpoint: 'https://gw.example/otlp/' }), opts()).url).toBe('https://gw.example/otlp/v1/metrics');
    expect(resolveOtlpSettings(bare({ endpoint: 'https://a', metricsEndpoint: 'https://b/custom' }), opts()).url).toBe('https://b/custom');
    expect(resolveOtlpSettings(bare(), opts({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).url).toBe('http://c:4318/v1/metrics');
    expect(
      resolveOtlpSettings(bare(), opts({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://d/m' })).url,
    ).toBe('http://d/m');
  });

  it('the file wins over the metrics variable, which wins over the generic one', () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://generic:4318',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://metrics:4318/v1/metrics',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
      OTEL_EXPORTER_OTLP_TIMEOUT: '4000',
      OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '3000',
      OTEL_METRIC_EXPORT_INTERVAL: '15000',
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta',
    };
    const fromEnv = resolveOtlpSettings(bare(), opts(env));
    expect(fromEnv).toMatchObject({
      url: 'http://metrics:4318/v1/metrics',
      protocol: 'http/protobuf',
      compression: 'none',
      timeoutMs: 3000,
      intervalMs: 15_000,
      temporality: 'delta',
    });
    expect(fromEnv.sources).toMatchObject({
      url: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
      protocol: 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
      compression: 'OTEL_EXPORTER_OTLP_COMPRESSION',
      timeout: 'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT',
      interval: 'OTEL_METRIC_EXPORT_INTERVAL',
      temporality: 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
    });
    const fromFile = resolveOtlpSettings(
      otlpConfig({ endpoint: 'http://file:4318', protocol: 'http/json', compression: 'gzip', timeoutMs: 1000, intervalMs: 5000, temporality: 'cumulative' }),
      opts(env),
    );
    expect(fromFile).toMatchObject({
      url: 'http://file:4318/v1/metrics',
      protocol: 'http/json',
      compression: 'gzip',
      timeoutMs: 1000,
      intervalMs: 5000,
      temporality: 'cumulative',
    });
    expect(new Set(Object.values(fromFile.sources).filter((s) => s !== 'config' && s !== 'default'))).toEqual(new Set());
  });

  it('lowmemory temporality means cumulative for snapshot counters', () => {
    const s = resolveOtlpSettings(bare(), opts({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'LowMemory' }));
    expect(s.temporality).toBe('cumulative');
  });

  it('refuses unusable variables with the variable named', () => {
    const bad: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_PROTOCOL="grpc" is not supported \(gRPC is not supported/],
      [{ OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: 'zstd' }, /OTEL_EXPORTER_OTLP_METRICS_COMPRESSION="zstd" is not supported/],
      [{ OTEL_EXPORTER_OTLP_TIMEOUT: 'soon' }, /OTEL_EXPORTER_OTLP_TIMEOUT="soon" is not a duration in milliseconds/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318\/v1\/metrics": OTLP\/HTTP needs an http/],
      [{ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'sometimes' }, /TEMPORALITY_PREFERENCE="sometimes" is not supported/],
      [
        { OTEL_EXPORTER_OTLP_TIMEOUT: '120000', OTEL_METRIC_EXPORT_INTERVAL: '60000' },
        /export timeout \(120000 ms, from OTEL_EXPORTER_OTLP_TIMEOUT\) is longer than the interval \(60000 ms, from OTEL_METRIC_EXPORT_INTERVAL\)/,
      ],
    ];
    for (const [env, message] of bad) {
      expect(() => resolveOtlpSettings(bare(), opts(env))).toThrow(OtlpConfigError);
      expect(() => resolveOtlpSettings(bare(), opts(env))).toThrow(message);
    }
  });

  it('merges headers per name (generic, metrics, file) and never describes their values', () => {
    const s = resolveOtlpSettings(
      bare({ headers: { 'X-Scope-OrgID': 'tenant-file' } }),
      opts({
        OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Basic%20generic-secret-value,X-Scope-OrgID=tenant-env',
        OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'authorization=Bearer metrics-secret-value',
      }),
    );
    // One header per name whatever the case, spelt as first given, valued by the last source.
    expect(s.headers).toEqual({ Authorization: 'Bearer metrics-secret-value', 'X-Scope-OrgID': 'tenant-file' });
    const described = JSON.stringify(describeOtlpSettings(s));
    expect(described).toContain('Authorization');
    expect(described).not.toContain('secret-value');
    // Header values from the environment are registered with the log scrubber.
    expect(scrubSecrets('Bearer metrics-secret-value')).not.toContain('metrics-secret-value');
    expect(scrubSecrets('Basic generic-secret-value')).not.toContain('generic-secret-value');
  });

  it('reads TLS files from the file keys or the certificate variables', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-otlp-tls-'));
    for (const f of ['ca.pem', 'client.pem', 'client.key', 'env-ca.pem']) writeFileSync(path.join(dir, f), `PEM ${f}`);
    const s = resolveOtlpSettings(
      bare({ tls: { caFile: path.join(dir, 'ca.pem'), certFile: path.join(dir, 'client.pem'), keyFile: path.join(dir, 'client.key'), insecureSkipVerify: true } }),
      opts(),
    );
    expect(s.tls.ca?.toString()).toBe('PEM ca.pem');
    expect(s.tls.cert?.toString()).toBe('PEM client.pem');
    expect(s.tls.key?.toString()).toBe('PEM client.key');
    expect(s.tls.rejectUnauthorized).toBe(false);
    const e = resolveOtlpSettings(bare(), opts({ OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: path.join(dir, 'env-ca.pem') }));
    expect(e.tls.ca?.toString()).toBe('PEM env-ca.pem');
    expect(() => resolveOtlpSettings(bare(), opts({ OTEL_EXPORTER_OTLP_CERTIFICATE: path.join(dir, 'missing.pem') }))).toThrow(
      /OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read .*missing\.pem/,
    );
    expect(() => resolveOtlpSettings(bare(), opts({ OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: path.join(dir, 'client.pem') }))).toThrow(
      /needs both a certificate and a key/,
    );
  });

  it('resource: built-in identity, then OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME, then the file', () => {
    const s = resolveOtlpSettings(
      bare({ resourceAttributes: { 'deployment.environment': 'prod', 'service.instance.id': 'edge-7-a' } }),
      opts({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,cloud.region=eu-west-1,deployment.environment=dev', OTEL_SERVICE_NAME: 'flows-edge' }),
    );
    expect(s.resourceAttributes).toEqual({
      'service.name': 'flows-edge',
      'service.version': '1.2.3',
      'service.instance.id': 'edge-7-a',
      'host.name': 'edge-7',
      'cloud.region': 'eu-west-1',
      'deployment.environment': 'prod',
    });
  });
});
