/**
 * The embedded defaults: what `flowgauge` runs with when no config file is given, and what every
 * key left out of a config file falls back to.
 */
import { DEFAULT_ROLLUPS } from '../rollup/defaults.js';
import { DEFAULT_DISTINCT } from '../rollup/distinct-family.js';
import { DEFAULT_HISTOGRAMS } from '../rollup/histogram-family.js';
import { DEFAULT_INFO } from '../rollup/info-series.js';
import { DEFAULT_INTERFACE_BUDGET } from '../rollup/interface-counters.js';
import type { FlowgaugeConfig } from './types.js';

/**
 * HTTP port for /metrics, /healthz, /readyz and status. Taken from the Prometheus exporter range
 * (9100-9999); docs/configuration.md records how it was checked against the port allocation list.
 */
export const DEFAULT_HTTP_PORT = 9893;
export const DEFAULT_NETFLOW_PORTS = [2055, 4739] as const;
export const DEFAULT_SFLOW_PORT = 6343;

/** RFC 1918, RFC 6598 shared address space, IPv4 link-local, IPv6 ULA and link-local. */
export const DEFAULT_LOCAL_NETWORKS: readonly string[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
  'fc00::/7',
  'fe80::/10',
];

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Frozen: take `defaultConfig()` for a copy you can change. */
export const DEFAULT_CONFIG: FlowgaugeConfig = deepFreeze({
  listen: {
    http: `0.0.0.0:${DEFAULT_HTTP_PORT}`,
    netflow: DEFAULT_NETFLOW_PORTS.map((p) => `0.0.0.0:${p}`),
    sflow: [`0.0.0.0:${DEFAULT_SFLOW_PORT}`],
  },
  exporterAllowlist: [],
  netflow: {
    // 32 MiB absorbs the bursts a router sends when it flushes its cache; the kernel caps it at
    // net.core.rmem_max, and the daemon reports what it actually got.
    receiveBufferBytes: 32 * 1024 * 1024,
    defaultSamplingRate: 1,
    samplingRateOverrides: {},
    pendingRecordsPerExporter: 1024,
  },
  localNetworks: [...DEFAULT_LOCAL_NETWORKS],
  inventory: [],
  apps: [],
  peerNetworks: [],
  // A structured copy: freezing must not reach into the rollup module's own export.
  rollups: structuredClone(DEFAULT_ROLLUPS),
  histograms: structuredClone(DEFAULT_HISTOGRAMS) as FlowgaugeConfig['histograms'],
  distinct: { ...DEFAULT_DISTINCT },
  info: { ...DEFAULT_INFO },
  interfaces: { budget: DEFAULT_INTERFACE_BUDGET, idleSeconds: 3600 },
  stateDir: './state',
  webConfigFile: '',
  ingest: { workers: 1 },
  limits: { maxExporters: 1000, exporterIdleSeconds: 3600 },
  log: { level: 'info' },
  cloudFlowLogs: [],
});

/** A fresh, mutable copy of DEFAULT_CONFIG. */
export function defaultConfig(): FlowgaugeConfig {
  return structuredClone(DEFAULT_CONFIG) as FlowgaugeConfig;
}
