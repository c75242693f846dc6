/**
 * JSON Schema of the YAML config file (the user-facing, snake_case side of FlowgaugeConfig).
 * It checks shape only: types, allowed keys, enums, numeric bounds. Checks the schema cannot
 * express (addresses, CIDRs, port ranges, metric names, uniqueness across entries) live in load.ts.
 * `additionalProperties: false` everywhere, so a typo such as `local_network` is an error, not a
 * silently ignored key.
 */
import type { RollupLabel } from './types.js';
import { cloudFlowLogsSchema } from '../sources/cloud/cloud-config.js';

export const ROLLUP_LABELS: readonly RollupLabel[] = [
  'exporter',
  'source',
  'device',
  'peer',
  'direction',
  'app',
  'protocol',
  'action',
  'input_interface',
  'output_interface',
  'site',
  'type',
  'region',
  'vpc',
  'zone',
];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** Upper bound on a rollup budget: far above any sane setting, low enough to catch a stray digit. */
export const MAX_ROLLUP_BUDGET = 1_000_000;

const stringList = { type: 'array', items: { type: 'string' } } as const;

const selectionDuration = (what: string) => ({ type: ['number', 'string'], description: `${what}: seconds, or with a unit ("30s", "10m", "1h").` }) as const;

/** Heavy-hitter selection of a rollup (docs/configuration.md, `rollups`); durations are checked in load.ts. */
const selectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    half_life: selectionDuration('Half-life of the decayed byte rate that ranks label sets'),
    margin: { type: 'number', minimum: 0, maximum: 100, description: 'A challenger must beat a row by this factor (0.5 = by 50%).' },
    admit_after: selectionDuration('How long a challenger must stay ahead before it takes a row'),
    evict_after: selectionDuration('How long a row must stay behind before it gives its place up'),
    readmit_holdoff: selectionDuration('How long an evicted label set gets no row again'),
  },
} as const;

export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'flowgauge configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: {
      type: 'object',
      additionalProperties: false,
      description: 'Addresses to listen on, as host:port (IPv6 as [::]:port).',
      properties: {
        http: { type: 'string', description: '/metrics, /healthz, /readyz and status; "" disables HTTP.' },
        netflow: { ...stringList, description: 'UDP listeners for NetFlow v5/v9 and IPFIX.' },
        sflow: { ...stringList, description: 'UDP listeners for sFlow v5.' },
      },
    },
    exporter_allowlist: { ...stringList, description: 'IPs or CIDRs allowed to send; empty = any.' },
    netflow: {
      type: 'object',
      additionalProperties: false,
      properties: {
        receive_buffer_bytes: { type: 'integer', minimum: 0 },
        default_sampling_rate: { type: 'integer', minimum: 1 },
        sampling_rate_overrides: {
          type: 'object',
          description: 'Sampling rate per exporter address.',
          additionalProperties: { type: 'integer', minimum: 1 },
        },
        pending_records_per_exporter: { type: 'integer', minimum: 0 },
      },
    },
    local_networks: { ...stringList, description: 'CIDRs that hold devices; everything else is a peer.' },
    inventory: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['match', 'name'],
        properties: {
          match: { type: 'string', description: 'IP address, CIDR or MAC address.' },
          name: { type: 'string', minLength: 1 },
          type: { type: 'string' },
          site: { type: 'string' },
        },
      },
    },
    apps: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'ports'],
        properties: {
          name: { type: 'string', minLength: 1 },
          protocol: { type: ['string', 'integer'], description: 'tcp, udp, ... or an IP protocol number.' },
          ports: {
            type: 'array',
            minItems: 1,
            items: { type: ['integer', 'string'], description: 'A port or a range "low-high".' },
          },
        },
      },
    },
    peer_networks: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['match', 'name'],
        properties: {
          match: { type: 'string', description: 'CIDR (or a single IP).' },
          name: { type: 'string', minLength: 1 },
        },
      },
    },
    rollups: {
      type: 'array',
      minItems: 1,
      description: 'Replaces the default rollup families when given.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'labels', 'budget'],
        properties: {
          name: { type: 'string', minLength: 1 },
          labels: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...ROLLUP_LABELS] } },
          budget: { type: 'integer', minimum: 1, maximum: MAX_ROLLUP_BUDGET },
          fallback: { type: 'array', uniqueItems: true, items: { enum: [...ROLLUP_LABELS] } },
          help: { type: 'string' },
          selection: selectionSchema,
        },
      },
    },
    rollup_selection: { ...selectionSchema, description: 'Selection settings of every rollup; a rollup\'s own selection: keys win.' },
    interfaces: {
      type: 'object',
      additionalProperties: false,
      description: 'Interface metrics from sFlow counter samples.',
      properties: {
        budget: { type: 'integer', minimum: 0, maximum: MAX_ROLLUP_BUDGET, description: 'Interfaces (exporter, ifIndex) with series; 0 turns them off.' },
        idle_seconds: {
          type: 'integer',
          minimum: 0,
          maximum: 31_536_000,
          description: 'Silence after which an interface may give its series to a new one when the budget is full; 0 never.',
        },
      },
    },
    otlp: {
      type: 'object',
      additionalProperties: false,
      description: 'OTLP/HTTP push of the rollups (docs/otlp.md); keys left out fall back to the OTEL_EXPORTER_OTLP_* variables.',
      properties: {
        enabled: { type: 'boolean' },
        endpoint: { type: 'string', minLength: 1, description: 'Base URL; /v1/metrics is appended.' },
        metrics_endpoint: { type: 'string', minLength: 1, description: 'Full metrics URL, used as is.' },
        protocol: { enum: ['http/protobuf', 'http/json'] },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        tls: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ca_file: { type: 'string', minLength: 1 },
            cert_file: { type: 'string', minLength: 1 },
            key_file: { type: 'string', minLength: 1 },
            insecure_skip_verify: { type: 'boolean' },
          },
        },
        compression: { enum: ['gzip', 'none'] },
        interval: { type: ['number', 'string'], description: 'Seconds, or with a unit: "500ms", "30s", "1m".' },
        timeout: { type: ['number', 'string'], description: 'Seconds, or with a unit; at most the interval.' },
        temporality: { enum: ['cumulative', 'delta'] },
        resource_attributes: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
        max_export_batch_size: { type: 'integer', minimum: 1, maximum: MAX_ROLLUP_BUDGET },
      },
    },
    histograms: {
      type: 'array',
      description: 'Replaces the default histogram families (flow_rtt_seconds, flow_duration_seconds) when given; [] turns them off.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'value', 'labels', 'budget'],
        properties: {
          name: { type: 'string', minLength: 1 },
          value: { enum: ['rtt', 'duration'], description: 'rtt: latency the source reports; duration: flow end - start.' },
          labels: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...ROLLUP_LABELS] } },
          budget: { type: 'integer', minimum: 1, maximum: MAX_ROLLUP_BUDGET },
          buckets: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'number', minimum: 0 }, description: 'Upper bounds in seconds, increasing.' },
          fallback: { type: 'array', uniqueItems: true, items: { enum: [...ROLLUP_LABELS] } },
          help: { type: 'string' },
        },
      },
    },
    distinct: {
      type: 'object',
      additionalProperties: false,
      description: 'flow_device_distinct_peers / _ports: HyperLogLog per device over a sliding window.',
      properties: {
        budget: { type: 'integer', minimum: 0, maximum: MAX_ROLLUP_BUDGET, description: 'Devices with series, "other" included; 0 turns them off.' },
        window_seconds: { type: 'integer', minimum: 1, maximum: 86400 },
        sub_windows: { type: 'integer', minimum: 1, maximum: 60 },
        precision: { type: 'integer', minimum: 4, maximum: 16 },
      },
    },
    info: {
      type: 'object',
      additionalProperties: false,
      description: 'Budgets of flow_device_info and flow_exporter_info; 0 turns one off.',
      properties: {
        device_budget: { type: 'integer', minimum: 0, maximum: MAX_ROLLUP_BUDGET },
        exporter_budget: { type: 'integer', minimum: 0, maximum: MAX_ROLLUP_BUDGET },
      },
    },
    state_dir: { type: 'string', minLength: 1 },
    web_config_file: { type: 'string', description: 'Web config file (exporter-toolkit format): TLS and basic auth for the HTTP side.' },
    ingest: {
      type: 'object',
      additionalProperties: false,
      description: 'Ingest threads (docs/performance.md).',
      properties: {
        workers: { type: 'integer', minimum: 1, maximum: 64, description: 'Threads that receive (SO_REUSEPORT), decode and enrich; 1 = the single-thread path.' },
        flow_key_cache_entries: {
          type: 'integer',
          minimum: 16,
          maximum: 16777216,
          description: 'Flow keys whose labels and rows are remembered (per ingest thread), rounded up to a power of two; default 65536.',
        },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      description: 'Bounds on state keyed by network data (docs/reliability.md).',
      properties: {
        max_exporters: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'Exporters tracked; datagrams from more are dropped and counted.' },
        exporter_idle_seconds: {
          type: 'integer',
          minimum: 0,
          maximum: 31_536_000,
          description: 'Silence after which an exporter may give its place to a new one when max_exporters is reached; 0 never.',
        },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: [...LOG_LEVELS] },
      },
    },
    cloud_flow_logs: cloudFlowLogsSchema,
  },
} as const;
