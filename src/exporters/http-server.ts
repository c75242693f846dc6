/**
 * The HTTP side: /metrics (Prometheus text or OpenMetrics by content negotiation), /healthz, /readyz,
 * /status (JSON) and a small index page. Only reads snapshots; never touches decoder state on write.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FlowPipeline } from '../pipeline.js';
import type { UdpListener } from '../sources/udp-listener.js';
import { negotiateFormat, renderExposition } from './exposition.js';
import { renderInterfaceMetrics } from './interface-exposition.js';
import type { SelfMetrics } from './self-metrics.js';
import { buildStatus } from './status.js';
import { peerOf, tlsServerOptions, type WebAccess } from './web-config.js';
import type { CloudFlowLogPoller } from '../sources/cloud/cloud-flow-log-poller.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  pipeline: FlowPipeline;
  selfMetrics: SelfMetrics;
  listeners: () => UdpListener[];
  /** Cloud flow-log pollers, for /status. */
  cloudPollers?: () => readonly CloudFlowLogPoller[];
  ready: () => boolean;
  version: string;
  startedAtMs: number;
  /** TLS, basic auth, headers and rate limit from the web config file; undefined = plain HTTP, open. */
  web?: WebAccess;
  /** Told about errors while serving a request (the client only gets a generic 500). */
  onError?: (err: unknown) => void;
}

/** Renders what /metrics serves; also used by `flowgauge replay`. */
export async function renderMetrics(
  pipeline: FlowPipeline,
  selfMetrics: SelfMetrics,
  format: 'prometheus' | 'openmetrics',
): Promise<string> {
  const started = performance.now();
  const snapshots = pipeline.rollups.snapshot();
  const measures = pipeline.measureSnapshots(snapshots);
  const interfaces = renderInterfaceMetrics(pipeline.interfaces.snapshot(), format);
  const self = format === 'openmetrics' ? await selfMetrics.openmetrics.metrics() : await selfMetrics.prometheus.metrics();
  // Interface families go before the self-metrics; renderExposition ends OpenMetrics with one # EOF.
  const text = renderExposition(snapshots, format, interfaces + self, measures);
  selfMetrics.observeRender((performance.now() - started) / 1000);
  return text;
}

export class HttpServer {
  private server: http.Server | https.Server | undefined;
  private readonly options: HttpServerOptions;
  port = 0;

  constructor(options: HttpServerOptions) {
    this.options = options;
  }

  start(): Promise<void> {
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        // The message may name files or settings: it goes to the log, not to the client.
        this.options.onError?.(err);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('internal error\n');
      });
    };
    const tls = this.options.web?.config.tls;
    // Check for overdue requests every second (Node's default is 30 s), so the timeouts below hold.
    const limits = { connectionsCheckingInterval: 1_000 };
    const server = tls ? https.createServer({ ...tlsServerOptions(tls), ...limits }, onRequest) : http.createServer(limits, onRequest);
    // Bound slow or oversized clients: nothing here needs a request body.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.maxHeadersCount = 100;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot listen on http ${this.options.host}:${this.options.port}: ${err.message}`)));
      server.listen(this.options.port, this.options.host, () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const web = this.options.web;
    if (web !== undefined) {
      for (const [name, value] of Object.entries(web.config.headers)) res.setHeader(name, value);
      const socket = req.socket as Partial<import('node:tls').TLSSocket>;
      const peer = web.config.tls ? peerOf(socket) : undefined;
      const decision = await web.check(req.headers.authorization, peer);
      if (!decision.ok) {
        const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8' };
        if (decision.challenge) headers['www-authenticate'] = 'Basic realm="flowgauge", charset="UTF-8"';
        res.writeHead(decision.status, headers);
        res.end(decision.status === 401 ? 'unauthorized\n' : decision.status === 403 ? 'forbidden\n' : 'too many requests\n');
        return;
      }
    }
    // Nothing here takes a request body: refuse one rather than read it.
    if ((req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined) {
      res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end('request body not accepted\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        const { format, contentType } = negotiateFormat(req.headers.accept);
        const body = await renderMetrics(this.options.pipeline, this.options.selfMetrics, format);
        res.writeHead(200, { 'content-type': contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('ok\n');
        return;
      case '/readyz': {
        const ready = this.options.ready();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(ready ? 'ready\n' : 'starting\n');
        return;
      }
      case '/status':
      case '/api/v1/status': {
        const status = buildStatus(
          this.options.pipeline,
          this.options.listeners(),
          this.options.version,
          this.options.startedAtMs,
          this.options.cloudPollers?.() ?? [],
        );
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(status, null, 2));
        return;
      }
      case '/':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          `<!doctype html><html><head><title>flowgauge</title></head><body><h1>flowgauge ${escapeHtml(this.options.version)}</h1>` +
            '<ul><li><a href="/metrics">/metrics</a></li><li><a href="/status">/status</a></li>' +
            '<li><a href="/healthz">/healthz</a></li><li><a href="/readyz">/readyz</a></li></ul></body></html>\n',
        );
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('not found\n');
    }
  }

  stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
