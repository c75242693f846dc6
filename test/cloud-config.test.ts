import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';

function lines(...ls: string[]): string {
  return ls.join('\n') + '\n';
}

function errors(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  const r = parseConfig(text, 'test.yaml', env);
  expect(r.config).toBeUndefined();
  return r.errors.map(String);
}

describe('cloud_flow_logs config', () => {
  it('builds one source per entry, with defaults and secrets from the environment', () => {
    const r = parseConfig(
      lines(
        'cloud_flow_logs:',
        '  - name: prod-vpc',
        '    format: aws',
        '    s3: { bucket: flow-logs, region: eu-west-1 }',
        '    prefixes: ["AWSLogs/111122223333/vpcflowlogs/eu-west-1/{yyyy}/{mm}/{dd}/"]',
        '  - name: nsg',
        '    format: azure',
        '    azure_blob:',
        '      container: insights-logs-networksecuritygroupflowevent',
        '      connection_string: ${AZURE_STORAGE_CONNECTION_STRING}',
        '    poll_interval: 30s',
        '    lookback: 6h',
        '  - name: gke',
        '    format: gcp',
        '    gcs: { bucket: vpc-flows, project_id: demo }',
      ),
      'test.yaml',
      { AZURE_STORAGE_CONNECTION_STRING: 'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net' },
    );
    expect(r.errors.map(String)).toEqual([]);
    expect(r.config!.cloudFlowLogs).toEqual([
      {
        name: 'prod-vpc',
        format: 'aws',
        store: { type: 's3', bucket: 'flow-logs', region: 'eu-west-1' },
        prefixes: ['AWSLogs/111122223333/vpcflowlogs/eu-west-1/{yyyy}/{mm}/{dd}/'],
        pollIntervalMs: 60_000,
        lookbackMs: 86_400_000,
      },
      {
        name: 'nsg',
        format: 'azure',
        store: {
          type: 'azure_blob',
          container: 'insights-logs-networksecuritygroupflowevent',
          connectionString: 'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net',
        },
        prefixes: [''],
        pollIntervalMs: 30_000,
        lookbackMs: 6 * 3_600_000,
      },
      { name: 'gke', format: 'gcp', store: { type: 'gcs', bucket: 'vpc-flows', projectId: 'demo' }, prefixes: [''], pollIntervalMs: 60_000, lookbackMs: 86_400_000 },
    ]);
    expect(r.envValues).toContain('DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net');
  });

  it('names the key and line of each mistake', () => {
    const out = errors(
      lines(
        'cloud_flow_logs:',
        '  - name: a',
        '    format: aws',
        '    s3: { bucket: b }',
        '    gcs: { bucket: c }',
        '  - name: a',
        '    format: azure',
        '    azure_blob: { container: x }',
        '    prefixes: ["y={YYYY}/"]',
        '    poll_interval: 100ms',
        '    aws_format: "version srcaddr"',
        '  - name: "bad name/.."',
        '    format: gcp',
        '  - name: k',
        '    format: aws',
        '    s3: { bucket: b, access_key_id: AKIA, endpoint: "http://user:pw@127.0.0.1:4569" }',
        '    lookback: 40d',
      ),
    );
    expect(out).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^test\.yaml:2:\d+: cloud_flow_logs\[0\]: names s3 and gcs; a source reads one store/),
        expect.stringMatching(/^test\.yaml:6:\d+: cloud_flow_logs\[1\]\.name: "a" is also the name of cloud_flow_logs\[0\]/),
        expect.stringMatching(/^test\.yaml:8:\d+: cloud_flow_logs\[1\]\.azure_blob: needs connection_string, or account_url/),
        expect.stringMatching(/^test\.yaml:9:\d+: cloud_flow_logs\[1\]\.prefixes\[0\]: unknown placeholder \{YYYY\}/),
        expect.stringMatching(/^test\.yaml:10:\d+: cloud_flow_logs\[1\]\.poll_interval: "100ms" is shorter than a second/),
        expect.stringMatching(/^test\.yaml:11:\d+: cloud_flow_logs\[1\]\.aws_format: applies to format: aws only/),
        expect.stringMatching(/^test\.yaml:12:\d+: cloud_flow_logs\[2\]\.name: "bad name\/\.\.": use letters, digits/),
        expect.stringMatching(/^test\.yaml:12:\d+: cloud_flow_logs\[2\]: says where the logs are with one of s3, azure_blob or gcs/),
        expect.stringMatching(/^test\.yaml:16:\d+: cloud_flow_logs\[3\]\.s3: access_key_id and secret_access_key go together/),
        expect.stringMatching(/^test\.yaml:16:\d+: cloud_flow_logs\[3\]\.s3\.endpoint: put credentials in their own keys/),
        expect.stringMatching(/^test\.yaml:17:\d+: cloud_flow_logs\[3\]\.lookback: "40d" is not a duration|^test\.yaml:17:\d+: cloud_flow_logs\[3\]\.lookback: "40d" is longer than 31 days/),
      ]),
    );
  });

  it('refuses unknown keys with a suggestion', () => {
    const out = errors(lines('cloud_flow_logs:', '  - name: a', '    format: aws', '    s3: { bucket: b, regoin: eu-west-1 }'));
    expect(out).toEqual([expect.stringMatching(/cloud_flow_logs\[0\]\.s3\.regoin: unknown key "regoin"; did you mean "region"\?/)]);
  });
});
