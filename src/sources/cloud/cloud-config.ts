/**
 * The `cloud_flow_logs:` section: where each cloud delivers its flow logs and how often to look.
 * Its JSON Schema (merged into config/schema.ts), the checks the schema cannot express, and the
 * typed settings the daemon starts pollers from.
 */
import type { CloudKind } from '../../decoders/cloud-flow-log.js';
import { checkAwsFormat } from '../../decoders/aws-vpc-flow-log.js';
import { parseDuration } from '../../exporters/otlp/otlp-config.js';
import { checkPrefixTemplate } from './prefix-template.js';

export type CloudStoreSettings =
  | {
      type: 's3';
      bucket: string;
      region?: string;
      endpoint?: string;
      forcePathStyle?: boolean;
      accessKeyId?: string;
      secretAccessKey?: string;
      sessionToken?: string;
    }
  | { type: 'azure_blob'; container: string; connectionString?: string; accountUrl?: string; sasToken?: string }
  | { type: 'gcs'; bucket: string; projectId?: string; apiEndpoint?: string; keyFile?: string };

export interface CloudFlowLogSource {
  /** Unique; names the checkpoint file and the self-metric series. */
  name: string;
  format: CloudKind;
  store: CloudStoreSettings;
  /** Listing prefixes with {yyyy} {mm} {dd} {hh} placeholders; [""] lists the whole bucket. */
  prefixes: string[];
  pollIntervalMs: number;
  lookbackMs: number;
  /** AWS: the log record format of logs written without a header line. */
  awsFormat?: string;
}

export const DEFAULT_POLL_INTERVAL_MS = 60_000;
/** A day: AWS delivers within minutes, Azure blobs grow for an hour, GCS sinks write hourly files. */
export const DEFAULT_LOOKBACK_MS = 24 * 3_600_000;
const MAX_LOOKBACK_MS = 31 * 24 * 3_600_000;
const MIN_POLL_INTERVAL_MS = 1000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const duration = (what: string) => ({ type: ['number', 'string'], description: `${what}: seconds, or with a unit ("30s", "5m", "24h").` }) as const;

export const cloudFlowLogsSchema = {
  type: 'array',
  description: 'Cloud flow-log sources to poll (docs/cloud-flow-logs.md).',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'format'],
    properties: {
      name: { type: 'string', minLength: 1, description: 'Unique name: the checkpoint file and the `source` label of the poll self-metrics.' },
      format: { enum: ['aws', 'azure', 'gcp'], description: 'Which cloud wrote the logs.' },
      s3: {
        type: 'object',
        additionalProperties: false,
        required: ['bucket'],
        properties: {
          bucket: { type: 'string', minLength: 1 },
          region: { type: 'string', minLength: 1 },
          endpoint: { type: 'string', minLength: 1, description: 'S3-compatible endpoint URL; default: AWS for the region.' },
          force_path_style: { type: 'boolean' },
          access_key_id: { type: 'string', minLength: 1, description: 'Default: the AWS default credential chain (env, profile, IRSA, ECS, EC2 instance role).' },
          secret_access_key: { type: 'string', minLength: 1 },
          session_token: { type: 'string', minLength: 1 },
        },
      },
      azure_blob: {
        type: 'object',
        additionalProperties: false,
        required: ['container'],
        properties: {
          container: { type: 'string', minLength: 1, description: 'insights-logs-networksecuritygroupflowevent (NSG) or insights-logs-flowlogflowevent (VNet).' },
          connection_string: { type: 'string', minLength: 1 },
          account_url: { type: 'string', minLength: 1, description: 'https://ACCOUNT.blob.core.windows.net; with sas_token, or alone for DefaultAzureCredential.' },
          sas_token: { type: 'string', minLength: 1 },
        },
      },
      gcs: {
        type: 'object',
        additionalProperties: false,
        required: ['bucket'],
        properties: {
          bucket: { type: 'string', minLength: 1 },
          project_id: { type: 'string', minLength: 1 },
          api_endpoint: { type: 'string', minLength: 1 },
          key_file: { type: 'string', minLength: 1, description: 'Service account key file; default: Application Default Credentials.' },
        },
      },
      prefixes: {
        type: 'array',
        minItems: 1,
        items: { type: 'string' },
        description: 'Prefixes to list; {yyyy} {mm} {dd} {hh} (UTC) list only the folders of the look-back window.',
      },
      poll_interval: duration('Time between two polls'),
      lookback: duration('How far back objects are read'),
      aws_format: { type: 'string', minLength: 1, description: 'AWS: the log record format of logs without a header line.' },
    },
  },
} as const;

type Report = (path: Array<string | number>, message: string, atKey?: boolean) => void;

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

const STORES = ['s3', 'azure_blob', 'gcs'] as const;

/** Checks beyond the schema; `raw` is the section as written (already schema-valid in shape). */
export function checkCloudFlowLogsSection(raw: unknown, report: Report): void {
  if (!Array.isArray(raw)) return;
  const names = new Map<string, number>();
  raw.forEach((entry, i) => {
    const o = asObject(entry);
    if (o === undefined) return;
    const at = (...rest: Array<string | number>): Array<string | number> => ['cloud_flow_logs', i, ...rest];
    if (typeof o.name === 'string') {
      if (!NAME.test(o.name)) {
        report(at('name'), `${JSON.stringify(o.name)}: use letters, digits, "_", "." and "-" (at most 64, starting with a letter or digit); it names the checkpoint file`);
      }
      const first = names.get(o.name);
      if (first !== undefined) report(at('name'), `"${o.name}" is also the name of cloud_flow_logs[${first}]; names must be unique`);
      else names.set(o.name, i);
    }
    const stores = STORES.filter((s) => o[s] !== undefined);
    if (stores.length !== 1) {
      report(
        at(),
        stores.length === 0
          ? 'says where the logs are with one of s3, azure_blob or gcs'
          : `names ${stores.join(' and ')}; a source reads one store (add another source for the other)`,
      );
    }
    const az = asObject(o.azure_blob);
    if (az !== undefined) {
      if (az.connection_string === undefined && az.account_url === undefined) {
        report(at('azure_blob'), 'needs connection_string, or account_url (with sas_token, or alone for DefaultAzureCredential)');
      }
      if (az.connection_string !== undefined && (az.account_url !== undefined || az.sas_token !== undefined)) {
        report(at('azure_blob'), 'gives connection_string and account_url/sas_token; keep one way to connect');
      }
      if (az.sas_token !== undefined && az.account_url === undefined) report(at('azure_blob', 'sas_token'), 'needs account_url');
      if (typeof az.account_url === 'string') checkUrl(az.account_url, at('azure_blob', 'account_url'), report);
    }
    const s3 = asObject(o.s3);
    if (s3 !== undefined) {
      if ((s3.access_key_id === undefined) !== (s3.secret_access_key === undefined)) {
        report(at('s3'), 'access_key_id and secret_access_key go together; leave both out to use the AWS default credential chain');
      }
      if (s3.session_token !== undefined && s3.access_key_id === undefined) report(at('s3', 'session_token'), 'needs access_key_id and secret_access_key');
      if (typeof s3.endpoint === 'string') checkUrl(s3.endpoint, at('s3', 'endpoint'), report);
    }
    const gcs = asObject(o.gcs);
    if (gcs !== undefined && typeof gcs.api_endpoint === 'string') checkUrl(gcs.api_endpoint, at('gcs', 'api_endpoint'), report);
    if (Array.isArray(o.prefixes)) {
      o.prefixes.forEach((p, j) => {
        if (typeof p !== 'string') return;
        const why = checkPrefixTemplate(p);
        if (why !== undefined) report(at('prefixes', j), why);
      });
    }
    const interval = o.poll_interval === undefined ? DEFAULT_POLL_INTERVAL_MS : parseDuration(o.poll_interval);
    if (interval === undefined) report(at('poll_interval'), `${JSON.stringify(o.poll_interval)} is not a duration; write seconds (60) or with a unit ("1m")`);
    else if (interval < MIN_POLL_INTERVAL_MS) report(at('poll_interval'), `${JSON.stringify(o.poll_interval)} is shorter than a second; poll at most once a second`);
    const lookback = o.lookback === undefined ? DEFAULT_LOOKBACK_MS : parseDuration(o.lookback);
    if (lookback === undefined) report(at('lookback'), `${JSON.stringify(o.lookback)} is not a duration; write seconds or with a unit ("24h")`);
    else if (lookback > MAX_LOOKBACK_MS) report(at('lookback'), `${JSON.stringify(o.lookback)} is longer than 31 days ("744h")`);
    if (o.aws_format !== undefined) {
      if (o.format !== 'aws') report(at('aws_format'), 'applies to format: aws only');
      else if (typeof o.aws_format === 'string') {
        const why = checkAwsFormat(o.aws_format);
        if (why !== undefined) report(at('aws_format'), why);
      }
    }
  });
}

function checkUrl(text: string, path: Array<string | number>, report: Report): void {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') report(path, `${JSON.stringify(text)} is not an http:// or https:// URL`);
    if (url.search.length > 1 || url.username || url.password) report(path, 'put credentials in their own keys, not in the URL');
  } catch {
    report(path, `${JSON.stringify(text)} is not a URL`);
  }
}

/** Typed settings from a section that passed the schema and checkCloudFlowLogsSection. */
export function buildCloudFlowLogSources(raw: unknown): CloudFlowLogSource[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((entry) => {
    const o = entry as Record<string, unknown>;
    const source: CloudFlowLogSource = {
      name: o.name as string,
      format: o.format as CloudKind,
      store: buildStore(o),
      prefixes: Array.isArray(o.prefixes) ? [...(o.prefixes as string[])] : [''],
      pollIntervalMs: o.poll_interval === undefined ? DEFAULT_POLL_INTERVAL_MS : parseDuration(o.poll_interval)!,
      lookbackMs: o.lookback === undefined ? DEFAULT_LOOKBACK_MS : parseDuration(o.lookback)!,
    };
    if (typeof o.aws_format === 'string') source.awsFormat = o.aws_format;
    return source;
  });
}

function buildStore(o: Record<string, unknown>): CloudStoreSettings {
  const s3 = asObject(o.s3);
  if (s3 !== undefined) {
    const out: CloudStoreSettings = { type: 's3', bucket: s3.bucket as string };
    if (typeof s3.region === 'string') out.region = s3.region;
    if (typeof s3.endpoint === 'string') out.endpoint = s3.endpoint;
    if (typeof s3.force_path_style === 'boolean') out.forcePathStyle = s3.force_path_style;
    if (typeof s3.access_key_id === 'string') out.accessKeyId = s3.access_key_id;
    if (typeof s3.secret_access_key === 'string') out.secretAccessKey = s3.secret_access_key;
    if (typeof s3.session_token === 'string') out.sessionToken = s3.session_token;
    return out;
  }
  const az = asObject(o.azure_blob);
  if (az !== undefined) {
    const out: CloudStoreSettings = { type: 'azure_blob', container: az.container as string };
    if (typeof az.connection_string === 'string') out.connectionString = az.connection_string;
    if (typeof az.account_url === 'string') out.accountUrl = az.account_url;
    if (typeof az.sas_token === 'string') out.sasToken = az.sas_token;
    return out;
  }
  const gcs = asObject(o.gcs)!;
  const out: CloudStoreSettings = { type: 'gcs', bucket: gcs.bucket as string };
  if (typeof gcs.project_id === 'string') out.projectId = gcs.project_id;
  if (typeof gcs.api_endpoint === 'string') out.apiEndpoint = gcs.api_endpoint;
  if (typeof gcs.key_file === 'string') out.keyFile = gcs.key_file;
  return out;
}
