/**
 * A loopback OTLP/HTTP metrics receiver for tests. Protobuf bodies are decoded with protobufjs from
 * the official opentelemetry-proto files (as shipped in the @elastic/mockotlpserver package), JSON
 * bodies with JSON.parse; both are flattened into the same point records.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const PROTO_DIR = path.dirname(require.resolve('@elastic/mockotlpserver/package.json'));
const REQUEST_TYPE = 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest';
const RESPONSE_TYPE = 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse';

let root: protobuf.Root | undefined;
function protoRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  // The protos import each other by paths relative to the proto root, not to the importing file.
  r.resolvePath = (_origin: string, target: string) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
  r.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto');
  root = r;
  return r;
}

export interface ReceivedPoint {
  metric: string;
  description: string;
  unit: string;
  kind: 'sum' | 'gauge' | 'histogram';
  isMonotonic: boolean;
  /** 1 = delta, 2 = cumulative (OTLP AggregationTemporality). */
  temporality: number;
  attributes: Record<string, string>;
  /** The OTLP value type of each attribute (`attributes` holds them all as text). */
  attributeTypes: Record<string, AttributeType>;
  value: number;
  /** Histograms: bucket counts and bounds. */
  bucketCounts?: number[];
  explicitBounds?: number[];
  count?: number;
  sum?: number;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
}

export interface ReceivedRequest {
  contentType: string;
  contentEncoding: string | undefined;
  headers: http.IncomingHttpHeaders;
  resource: Record<string, string | number | boolean>;
  scopes: Array<{ name: string; version?: string }>;
  points: ReceivedPoint[];
  bytes: number;
}

/** What the receiver does with the next requests. */
export type ReceiverMode =
  | { kind: 'ok' }
  /** Answer with `status`; after `times` such answers (when given), go back to ok. */
  | { kind: 'status'; status: number; retryAfterSeconds?: number; times?: number };

export class OtlpReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Requests answered with something other than 200 (their bodies are not kept). */
  rejected = 0;
  mode: ReceiverMode = { kind: 'ok' };
  port = 0;
  private server: http.Server | https.Server | undefined;
  private readonly sockets = new Set<Socket>();

  tlsErrors = 0;

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  get points(): ReceivedPoint[] {
    return this.requests.flatMap((r) => r.points);
  }

  /** PEM key and certificate: serve HTTPS instead of HTTP. */
  tls: { key: Buffer; cert: Buffer } | undefined;

  /** Listens on 127.0.0.1 (an ephemeral port the first time, the same port after refuse()). */
  async start(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.handle(req, res);
    const server = this.tls ? https.createServer({ key: this.tls.key, cert: this.tls.cert }, handler) : http.createServer(handler);
    // Count failed TLS handshakes: a client that rejects the certificate never gets to a request.
    server.on('tlsClientError', () => this.tlsErrors++);
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening, so connections are refused, and cuts open keep-alive connections. */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async stop(): Promise<void> {
    await this.refuse();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mode = this.mode;
      if (mode.kind === 'status') {
        this.rejected++;
        if (mode.times !== undefined && --mode.times <= 0) this.mode = { kind: 'ok' };
        const headers: Record<string, string> = { 'content-type': 'text/plain' };
        if (mode.retryAfterSeconds !== undefined) headers['retry-after'] = String(mode.retryAfterSeconds);
        res.writeHead(mode.status, headers).end('receiver unavailable');
        return;
      }
      let body = Buffer.concat(chunks);
      const encoding = req.headers['content-encoding'];
      if (encoding === 'gzip') body = zlib.gunzipSync(body);
      const contentType = String(req.headers['content-type'] ?? '');
      const json = contentType.startsWith('application/json');
      const decoded = json ? (JSON.parse(body.toString('utf8')) as ExportRequest) : decodeProtobuf(body);
      this.requests.push({ ...flatten(decoded), contentType, contentEncoding: encoding, headers: req.headers, bytes: body.length });
      if (json) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        const Response = protoRoot().lookupType(RESPONSE_TYPE);
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(Response.encode(Response.create({})).finish()));
      }
    });
  }
}

export async function startOtlpReceiver(tls?: { key: Buffer; cert: Buffer }): Promise<OtlpReceiver> {
  const r = new OtlpReceiver();
  r.tls = tls;
  await r.start();
  return r;
}

// Shapes of the decoded request (protobufjs toObject and OTLP JSON agree on lowerCamelCase names).
interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface NumberPoint {
  attributes?: KeyValue[];
  startTimeUnixNano?: string | number;
  timeUnixNano?: string | number;
  asInt?: string | number;
  asDouble?: number;
}
interface HistogramPoint extends NumberPoint {
  count?: string | number;
  sum?: number;
  bucketCounts?: Array<string | number>;
  explicitBounds?: number[];
}
interface Metric {
  name: string;
  description?: string;
  unit?: string;
  sum?: { dataPoints?: NumberPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  gauge?: { dataPoints?: NumberPoint[] };
  histogram?: { dataPoints?: HistogramPoint[]; aggregationTemporality?: number };
}
interface ExportRequest {
  resourceMetrics?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeMetrics?: Array<{ scope?: { name?: string; version?: string }; metrics?: Metric[] }>;
  }>;
}

function decodeProtobuf(body: Buffer): ExportRequest {
  const Request = protoRoot().lookupType(REQUEST_TYPE);
  return Request.toObject(Request.decode(body), { longs: String, enums: Number, defaults: false }) as ExportRequest;
}

function anyValue(v: AnyValue | undefined): string | number | boolean {
  if (v === undefined) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return '';
}

export type AttributeType = 'string' | 'int' | 'double' | 'bool' | 'other';

function attributeTypes(list: KeyValue[] | undefined): Record<string, AttributeType> {
  const out: Record<string, AttributeType> = {};
  for (const kv of list ?? []) {
    const v = kv.value;
    out[kv.key] =
      v?.stringValue !== undefined ? 'string' : v?.intValue !== undefined ? 'int' : v?.doubleValue !== undefined ? 'double' : v?.boolValue !== undefined ? 'bool' : 'other';
  }
  return out;
}

function attributes(list: KeyValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) out[kv.key] = String(anyValue(kv.value));
  return out;
}

function flatten(req: ExportRequest): Pick<ReceivedRequest, 'resource' | 'scopes' | 'points'> {
  const resource: Record<string, string | number | boolean> = {};
  const scopes: Array<{ name: string; version?: string }> = [];
  const points: ReceivedPoint[] = [];
  for (const rm of req.resourceMetrics ?? []) {
    for (const kv of rm.resource?.attributes ?? []) resource[kv.key] = anyValue(kv.value);
    for (const sm of rm.scopeMetrics ?? []) {
      scopes.push({ name: sm.scope?.name ?? '', version: sm.scope?.version });
      for (const m of sm.metrics ?? []) {
        const base = { metric: m.name, description: m.description ?? '', unit: m.unit ?? '' };
        const times = (p: NumberPoint) => ({
          attributes: attributes(p.attributes),
          attributeTypes: attributeTypes(p.attributes),
          startTimeUnixNano: BigInt(p.startTimeUnixNano ?? 0),
          timeUnixNano: BigInt(p.timeUnixNano ?? 0),
        });
        if (m.sum) {
          for (const p of m.sum.dataPoints ?? []) {
            points.push({
              ...base,
              kind: 'sum',
              isMonotonic: m.sum.isMonotonic === true,
              temporality: m.sum.aggregationTemporality ?? 0,
              value: Number(p.asInt ?? p.asDouble ?? 0),
              ...times(p),
            });
          }
        } else if (m.gauge) {
          for (const p of m.gauge.dataPoints ?? []) {
            points.push({ ...base, kind: 'gauge', isMonotonic: false, temporality: 0, value: Number(p.asInt ?? p.asDouble ?? 0), ...times(p) });
          }
        } else if (m.histogram) {
          for (const p of m.histogram.dataPoints ?? []) {
            points.push({
              ...base,
              kind: 'histogram',
              isMonotonic: false,
              temporality: m.histogram.aggregationTemporality ?? 0,
              value: Number(p.count ?? 0),
              count: Number(p.count ?? 0),
              sum: p.sum,
              bucketCounts: (p.bucketCounts ?? []).map(Number),
              explicitBounds: p.explicitBounds ?? [],
              ...times(p),
            });
          }
        }
      }
    }
  }
  return { resource, scopes, points };
}

/** `name{a="1",b="2"}` with labels sorted: a series key shared by /metrics and OTLP comparisons. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}
