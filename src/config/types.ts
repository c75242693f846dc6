/**
 * The validated configuration, as the rest of the daemon sees it (defaults applied, env expanded).
 * The YAML schema in schema.ts is the user-facing side of the same shape; keep the two in step.
 */
import type { CloudFlowLogSource } from '../sources/cloud/cloud-config.js';

export interface InventoryEntry {
  /** IP address, CIDR, or MAC address (aa:bb:cc:dd:ee:ff). */
  match: string;
  name: string;
  type?: string;
  site?: string;
}

export interface AppRule {
  name: string;
  /** IP protocol number or name (tcp, udp, icmp, ...); omitted = any. */
  protocol?: number;
  /** Single ports and ranges ("8000-8100"). */
  ports: Array<number | [number, number]>;
}

export interface PeerNetwork {
  /** CIDR */
  match: string;
  /** Label value used as `peer` for every address in the network. */
  name: string;
}

export type RollupLabel =
  | 'exporter'
  | 'source'
  | 'device'
  | 'peer'
  | 'direction'
  | 'app'
  | 'protocol'
  | 'action'
  | 'input_interface'
  | 'output_interface'
  | 'site'
  | 'type'
  | 'region'
  | 'vpc'
  | 'zone';

export interface RollupDefinition {
  /** Metric name prefix: `<name>_bytes_total`, `<name>_packets_total`, `<name>_flows_total`. */
  name: string;
  labels: RollupLabel[];
  /** Hard cap on label sets (each label set yields one bytes, one packets and one flows series). */
  budget: number;
  /** Labels folded to "other" first, in order; default: the labels from last to first. */
  fallback?: RollupLabel[];
  help?: string;
  /** Heavy-hitter selection settings; keys left out take the engine defaults (SELECTION_DEFAULTS). */
  selection?: RollupSelection;
}

/**
 * Which label sets keep rows once a rollup's budget is full (src/rollup/heavy-hitters.ts): the
 * user-facing subset of SelectionOptions, from the file's `selection:` / `rollup_selection:`.
 */
export interface RollupSelection {
  /** Half-life of the decayed byte rate that ranks label sets. */
  halfLifeMs?: number;
  /** A challenger must beat a row by this factor (0.5 = by 50%). */
  margin?: number;
  /** How long a challenger must stay ahead before it takes a row. */
  admitAfterMs?: number;
  /** How long a row must stay behind before it gives its place up. */
  evictAfterMs?: number;
  /** An evicted label set gets no row again for this long. */
  readmitHoldoffMs?: number;
}

/** What a histogram observes per record: `rtt` (record latency), `duration` (flow end - start). */
export type HistogramValue = 'rtt' | 'duration';

export interface HistogramDefinition {
  /** Metric name: `<name>_bucket`, `<name>_sum`, `<name>_count`. */
  name: string;
  value: HistogramValue;
  labels: RollupLabel[];
  /** Hard cap on label sets (each label set yields one series per bucket, `+Inf`, `_sum`, `_count`). */
  budget: number;
  /** Bucket upper bounds in seconds, strictly increasing (`+Inf` is implied). */
  buckets: number[];
  /** Labels folded to "other" first, in order; default: the labels from last to first. */
  fallback?: RollupLabel[];
  help?: string;
}

/** The `flow_device_distinct_peers` / `_ports` gauges (HyperLogLog per device over a sliding window). */
export interface DistinctSettings {
  /** Devices with their own series, the `other` row included; 0 turns the gauges off. */
  budget: number;
  windowSeconds: number;
  /** The window moves in steps of windowSeconds / subWindows. */
  subWindows: number;
  /** HyperLogLog precision p: 2^p registers, standard error 1.04 / sqrt(2^p). */
  precision: number;
}

/** Budgets of the `flow_device_info` and `flow_exporter_info` series; 0 turns one off. */
export interface InfoSettings {
  deviceBudget: number;
  exporterBudget: number;
}

export interface NetflowListenerSettings {
  /** Socket receive buffer in bytes (SO_RCVBUF); the kernel caps it at net.core.rmem_max. */
  receiveBufferBytes: number;
  /** Sampling rate for exporters that never announce one. */
  defaultSamplingRate: number;
  /** Per-exporter sampling rate overrides, by exporter address. */
  samplingRateOverrides: Record<string, number>;
  /** Data records kept per exporter while waiting for their template. */
  pendingRecordsPerExporter: number;
}

export interface FlowgaugeConfig {
  listen: {
    /** host:port for /metrics, /healthz, /readyz, /status; '' disables HTTP. */
    http: string;
    netflow: string[];
    sflow: string[];
  };
  /** CIDRs of exporters allowed to send; empty = any. */
  exporterAllowlist: string[];
  netflow: NetflowListenerSettings;
  localNetworks: string[];
  inventory: InventoryEntry[];
  /** Extra app rules, checked before the built-in catalogue. */
  apps: AppRule[];
  peerNetworks: PeerNetwork[];
  rollups: RollupDefinition[];
  /** Histogram families (flow_rtt_seconds, flow_duration_seconds); replaces the defaults when given. */
  histograms: HistogramDefinition[];
  distinct: DistinctSettings;
  info: InfoSettings;
  /** Interface metrics from sFlow counter samples. */
  interfaces: {
    /** Interfaces (exporter, ifIndex) with series; 0 turns interface metrics off. */
    budget: number;
    /** Seconds without a sample after which an interface may give its series to a new one when the budget is full; 0 never. */
    idleSeconds: number;
  };
  stateDir: string;
  /**
   * Prometheus exporter-toolkit web config file (TLS, basic auth, headers) for the HTTP side;
   * '' = plain HTTP without authentication.
   */
  webConfigFile: string;
  /**
   * Ingest threads (docs/performance.md). Absent or workers 1: one thread receives, decodes and
   * counts. workers N > 1: N threads with SO_REUSEPORT sockets decode and enrich, the main thread counts.
   */
  ingest?: {
    workers: number;
    /**
     * Entries of the flow key cache (rounded up to a power of two; default 65,536), in the one
     * thread or in each ingest worker. About 450 bytes each when full, with the default rollups.
     */
    flowKeyCacheEntries?: number;
  };
  /** Bounds on state keyed by network data (docs/reliability.md). */
  limits: {
    /** Exporters (UDP source addresses) tracked with their own state and self-metric labels. */
    maxExporters: number;
    /**
     * Seconds an exporter must have been silent before a new exporter may take its place in a full
     * table (maxExporters reached); 0 never. Its templates and self-metric series go with it.
     */
    exporterIdleSeconds: number;
  };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' };
  /** OTLP/HTTP push of the rollups; absent = no push (see docs/otlp.md). */
  otlp?: OtlpConfig;
  /** Cloud flow-log sources to poll (docs/cloud-flow-logs.md); none by default. */
  cloudFlowLogs: CloudFlowLogSource[];
}

export interface OtlpTlsConfig {
  /** PEM file of the CA(s) that sign the receiver's certificate. */
  caFile?: string;
  /** PEM client certificate and key, for mutual TLS. */
  certFile?: string;
  keyFile?: string;
  insecureSkipVerify?: boolean;
}

/**
 * The `otlp:` section as written in the file. A key left undefined falls back to the standard
 * OTEL_EXPORTER_OTLP_* environment variables, then to the built-in default, when the push starts.
 */
export interface OtlpConfig {
  enabled: boolean;
  /** Base URL; `/v1/metrics` is appended (like OTEL_EXPORTER_OTLP_ENDPOINT). */
  endpoint?: string;
  /** Full URL used as is (like OTEL_EXPORTER_OTLP_METRICS_ENDPOINT); wins over endpoint. */
  metricsEndpoint?: string;
  protocol?: 'http/protobuf' | 'http/json';
  headers: Record<string, string>;
  tls: OtlpTlsConfig;
  compression?: 'gzip' | 'none';
  intervalMs?: number;
  timeoutMs?: number;
  temporality?: 'cumulative' | 'delta';
  resourceAttributes: Record<string, string | number | boolean>;
  /** Most data points per request; larger exports are split. Undefined = one request. */
  maxExportBatchSize?: number;
}
