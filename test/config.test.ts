import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, DEFAULT_HTTP_PORT, defaultConfig } from '../src/config/defaults.js';
import { ConfigError, ConfigLoadError, loadConfig, parseConfig } from '../src/config/load.js';
import { configSchema } from '../src/config/schema.js';
import { DEFAULT_ROLLUPS } from '../src/rollup/defaults.js';
import { minimumBudget, validateRollupDefinition } from '../src/rollup/rollup-family.js';
import type { RollupLabel } from '../src/config/types.js';
import { FlowPipeline } from '../src/pipeline.js';
import { HeavyHitterSelection, SELECTION_DEFAULTS } from '../src/rollup/heavy-hitters.js';
import { createFlowLabels } from '../src/rollup/types.js';

const examplePath = fileURLToPath(new URL('../flowgauge.example.yaml', import.meta.url));

/** Text from lines, so line numbers in assertions are easy to read off. */
function lines(...ls: string[]): string {
  return ls.join('\n') + '\n';
}

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigError[] {
  const r = parseConfig(text, 'test.yaml', env);
  expect(r.config).toBeUndefined();
  return r.errors;
}

function only(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  const errors = errorsOf(text, env);
  expect(errors.map(String)).toHaveLength(1);
  return errors[0];
}

describe('defaults', () => {
  it('loadConfig() without a path returns the embedded defaults', async () => {
    const cfg = await loadConfig();
    expect(cfg).toEqual(DEFAULT_CONFIG);
    expect(cfg.listen).toEqual({
      http: `0.0.0.0:${DEFAULT_HTTP_PORT}`,
      netflow: ['0.0.0.0:2055', '0.0.0.0:4739'],
      sflow: ['0.0.0.0:6343'],
    });
    expect(DEFAULT_HTTP_PORT).toBeGreaterThanOrEqual(9100);
    expect(DEFAULT_HTTP_PORT).toBeLessThanOrEqual(9999);
    expect(DEFAULT_HTTP_PORT).not.toBe(9943);
    expect(cfg.localNetworks).toEqual([
      '10.0.0.0/8',
      '172.16.0.0/12',
      '192.168.0.0/16',
      '100.64.0.0/10',
      '169.254.0.0/16',
      'fc00::/7',
      'fe80::/10',
    ]);
    expect(cfg.rollups).toEqual(DEFAULT_ROLLUPS);
    expect(cfg.rollups.map((r) => [r.name, r.labels, r.budget])).toEqual([
      ['flow_exporter', ['exporter', 'source'], 500],
      ['flow_device', ['device', 'direction'], 2000],
      ['flow_app', ['device', 'app'], 4000],
      ['flow_peer', ['device', 'peer'], 4000],
    ]);
    expect(cfg.netflow).toEqual({
      receiveBufferBytes: 33554432,
      defaultSamplingRate: 1,
      samplingRateOverrides: {},
      pendingRecordsPerExporter: 1024,
    });
    expect(cfg.stateDir).toBe('./state');
    expect(cfg.log.level).toBe('info');
  });

  it('hands out copies: changing one does not touch DEFAULT_CONFIG', async () => {
    const cfg = await loadConfig();
    cfg.listen.netflow.push('0.0.0.0:9999');
    cfg.rollups[0].budget = 1;
    expect(DEFAULT_CONFIG.listen.netflow).toHaveLength(2);
    expect(DEFAULT_CONFIG.rollups[0].budget).toBe(500);
    expect(DEFAULT_ROLLUPS[0].budget).toBe(500);
    expect(Object.isFrozen(DEFAULT_CONFIG.listen)).toBe(true);
  });

  it('an empty file and a comments-only file give the defaults', () => {
    expect(parseConfig('', 'empty.yaml', {})).toEqual({ config: defaultConfig(), errors: [], envValues: [] });
    expect(parseConfig('# nothing here\n', 'c.yaml', {}).config).toEqual(defaultConfig());
  });

  it('keys left out take their defaults; partial mappings merge key by key', () => {
    const r = parseConfig(lines('listen:', '  http: "127.0.0.1:9000"', 'netflow:', '  default_sampling_rate: 10'), 'p.yaml', {});
    expect(r.errors).toEqual([]);
    expect(r.config!.listen).toEqual({ http: '127.0.0.1:9000', netflow: ['0.0.0.0:2055', '0.0.0.0:4739'], sflow: ['0.0.0.0:6343'] });
    expect(r.config!.netflow.defaultSamplingRate).toBe(10);
    expect(r.config!.netflow.receiveBufferBytes).toBe(33554432);
    expect(r.config!.rollups).toEqual(DEFAULT_ROLLUPS);
  });

  it('a key with no value (only commented entries below it) takes its default', () => {
    const r = parseConfig(lines('inventory:', '  # - { match: "10.0.0.1", name: "x" }', 'local_networks:'), 'n.yaml', {});
    expect(r.errors).toEqual([]);
    expect(r.config!.inventory).toEqual([]);
    expect(r.config!.localNetworks).toEqual(DEFAULT_CONFIG.localNetworks);
  });
});

describe('the example config', () => {
  it('parses into the expected FlowgaugeConfig', async () => {
    const cfg = await loadConfig(examplePath);
    expect(cfg.listen).toEqual({ http: '0.0.0.0:9893', netflow: ['0.0.0.0:2055', '0.0.0.0:4739'], sflow: ['0.0.0.0:6343'] });
    expect(cfg.exporterAllowlist).toEqual(['10.0.0.0/8', '192.0.2.0/24']);
    expect(cfg.netflow).toEqual({
      receiveBufferBytes: 33554432,
      defaultSamplingRate: 1,
      samplingRateOverrides: { '192.0.2.1': 100 },
      pendingRecordsPerExporter: 1024,
    });
    expect(cfg.localNetworks).toEqual(['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8']);
    expect(cfg.inventory).toEqual([
      { match: '192.168.1.20', name: 'thermostat-1', type: 'hvac', site: 'lab' },
      { match: '192.168.2.0/24', name: 'camera-net', type: 'camera', site: 'lab' },
      { match: 'aa:bb:cc:00:11:22', name: 'plc-7', type: 'plc', site: 'plant' },
    ]);
    expect(cfg.apps).toEqual([
      { name: 'historian', protocol: 6, ports: [5450, [6000, 6010]] },
      { name: 'modbus', protocol: 6, ports: [502] },
    ]);
    expect(cfg.peerNetworks).toEqual([{ match: '203.0.113.0/24', name: 'vendor-cloud' }]);
    const selection = { halfLifeMs: 600_000, margin: 0.5, admitAfterMs: 30_000, evictAfterMs: 60_000, readmitHoldoffMs: 600_000 };
    expect(cfg.rollups).toEqual([
      { name: 'flow_exporter', labels: ['exporter', 'source'], budget: 500, selection },
      { name: 'flow_device', labels: ['device', 'direction'], budget: 2000, selection },
      { name: 'flow_app', labels: ['device', 'app'], budget: 4000, selection },
      { name: 'flow_peer', labels: ['device', 'peer'], budget: 4000, fallback: ['peer', 'device'], selection },
    ]);
    // The example spells out the selection defaults: they must be the engine's.
    expect(selection).toMatchObject({
      halfLifeMs: SELECTION_DEFAULTS.halfLifeMs,
      margin: SELECTION_DEFAULTS.margin,
      admitAfterMs: SELECTION_DEFAULTS.admitAfterMs,
      evictAfterMs: SELECTION_DEFAULTS.evictAfterMs,
      readmitHoldoffMs: SELECTION_DEFAULTS.readmitHoldoffMs,
    });
    // The other sections it shows carry their defaults.
    expect(cfg.histograms).toEqual(DEFAULT_CONFIG.histograms);
    expect(cfg.distinct).toEqual(DEFAULT_CONFIG.distinct);
    expect(cfg.info).toEqual(DEFAULT_CONFIG.info);
    expect(cfg.interfaces).toEqual(DEFAULT_CONFIG.interfaces);
    expect(cfg.ingest).toEqual({ workers: 1, flowKeyCacheEntries: 65536 });
    expect(cfg.limits).toEqual(DEFAULT_CONFIG.limits);
    expect(cfg.webConfigFile).toBe('');
    expect(cfg.otlp).toBeUndefined();
    expect(cfg.log.level).toBe('info');
  });

  it('takes state_dir from the environment when set, the default otherwise', () => {
    const text = readFileSync(examplePath, 'utf8');
    expect(parseConfig(text, 'ex', {}).config!.stateDir).toBe('./state');
    expect(parseConfig(text, 'ex', { FLOWGAUGE_STATE_DIR: '/var/lib/flowgauge' }).config!.stateDir).toBe('/var/lib/flowgauge');
  });
});

describe('normalization', () => {
  it('MACs in any common form become lower-case colon form; protocols become numbers', () => {
    const r = parseConfig(
      lines(
        'inventory:',
        '  - { match: "AA-BB-CC-DD-EE-01", name: a }',
        '  - { match: "aabb.ccdd.ee02", name: b }',
        'apps:',
        '  - { name: x, protocol: UDP, ports: ["53"] }',
        '  - { name: y, protocol: 132, ports: [" 100 - 200 "] }',
        '  - { name: z, ports: [1] }',
      ),
      'n.yaml',
      {},
    );
    expect(r.errors).toEqual([]);
    expect(r.config!.inventory.map((e) => e.match)).toEqual(['aa:bb:cc:dd:ee:01', 'aa:bb:cc:dd:ee:02']);
    expect(r.config!.apps).toEqual([
      { name: 'x', protocol: 17, ports: [53] },
      { name: 'y', protocol: 132, ports: [[100, 200]] },
      { name: 'z', ports: [1] },
    ]);
  });

  it('sampling rate overrides are keyed by the canonical address text', () => {
    const r = parseConfig(
      lines('netflow:', '  sampling_rate_overrides:', '    "2001:DB8:0:0::1": 64', '    "192.0.2.1": 100'),
      'o.yaml',
      {},
    );
    expect(r.errors).toEqual([]);
    expect(r.config!.netflow.samplingRateOverrides).toEqual({ '2001:db8::1': 64, '192.0.2.1': 100 });
  });

  it('accepts IPv6 listeners, host names, an empty host and "" for http', () => {
    const r = parseConfig(
      lines('listen:', '  http: ""', '  netflow: ["[::]:2055", "localhost:4739", ":9995"]', '  sflow: ["[fe80::1]:6343"]'),
      'l.yaml',
      {},
    );
    expect(r.errors).toEqual([]);
    expect(r.config!.listen).toEqual({ http: '', netflow: ['[::]:2055', 'localhost:4739', ':9995'], sflow: ['[fe80::1]:6343'] });
  });
});

describe('validation errors name the key, the line and the column', () => {
  it('unknown key on line 7 -> error on line 7 with a suggestion', () => {
    const e = only(
      lines(
        'listen:', //                       1
        '  http: "0.0.0.0:9893"', //        2
        'netflow:', //                      3
        '  default_sampling_rate: 1', //    4
        'inventory: []', //                 5
        '# a comment', //                   6
        'local_network: ["10.0.0.0/8"]', // 7
      ),
    );
    expect(e).toMatchObject({ key: 'local_network', line: 7, column: 1 });
    expect(e.message).toContain('unknown key "local_network"');
    expect(e.message).toContain('did you mean "local_networks"?');
    expect(e.toString()).toBe('test.yaml:7:1: local_network: unknown key "local_network"; did you mean "local_networks"?');
  });

  it('ingest.flow_key_cache_entries sizes the flow key cache, within 16 .. 2^24', () => {
    const cfg = parseConfig(lines('ingest:', '  flow_key_cache_entries: 1000'), 'c.yaml', {}).config!;
    expect(cfg.ingest).toEqual({ workers: 1, flowKeyCacheEntries: 1000 });
    expect(new FlowPipeline(cfg).keyCache.entries).toBe(1024);
    expect(new FlowPipeline(defaultConfig()).keyCache.entries).toBe(65536);
    const both = parseConfig(lines('ingest:', '  workers: 3', '  flow_key_cache_entries: 16'), 'c.yaml', {}).config!;
    expect(both.ingest).toEqual({ workers: 3, flowKeyCacheEntries: 16 });
    for (const bad of ['8', '16777217', '1000.5', '"lots"']) {
      const e = only(lines('ingest:', `  flow_key_cache_entries: ${bad}`));
      expect(e).toMatchObject({ key: 'ingest.flow_key_cache_entries', line: 2 });
    }
  });

  it('unknown nested key points at the key itself', () => {
    const e = only(lines('netflow:', '  receive_buffer_bytes: 1', '  sampling_rate: 5'));
    expect(e).toMatchObject({ key: 'netflow.sampling_rate', line: 3, column: 3 });
    expect(e.message).toMatch(/^unknown key "sampling_rate"; /);
  });

  it('unknown key in a list entry without a close match lists the allowed keys', () => {
    const e = only(lines('inventory:', '  - match: "10.0.0.1"', '    name: a', '    colour: red'));
    expect(e).toMatchObject({ key: 'inventory[0].colour', line: 4, column: 5 });
    expect(e.message).toBe('unknown key "colour"; allowed keys here: match, name, type, site');
  });

  it('bad listen address -> exact index, line and column, with the expected form', () => {
    const e = only(lines('listen:', '  netflow:', '    - "0.0.0.0:2055"', '    - "0.0.0.0"'));
    expect(e).toMatchObject({ key: 'listen.netflow[1]', line: 4, column: 7 });
    expect(e.message).toBe('"0.0.0.0" has no port; expected host:port like "0.0.0.0:2055" (IPv6 as "[::]:2055")');
  });

  it('listen address problems: port range, unbracketed IPv6, bad host, bad bracket, duplicate', () => {
    const errors = errorsOf(
      lines(
        'listen:', //                              1
        '  http: "0.0.0.0:70000"', //              2
        '  netflow: ["::2055", "bad_host!:2055"]', // 3
        '  sflow:', //                             4
        '    - "[10.0.0.1]:6343"', //              5
        '    - "0.0.0.0:6343"', //                 6
        '    - "0.0.0.0:6343"', //                 7
      ),
    );
    expect(errors.map((e) => [e.key, e.line, e.column])).toEqual([
      ['listen.http', 2, 9],
      ['listen.netflow[0]', 3, 13],
      ['listen.netflow[1]', 3, 23],
      ['listen.sflow[0]', 5, 7],
      ['listen.sflow[2]', 7, 7],
    ]);
    expect(errors[0].message).toContain('port 70000 is above 65535');
    expect(errors[0].message).toContain('or "" to turn HTTP off');
    expect(errors[1].message).toContain('"::2055" is an IPv6 address without a port, or an IPv6 host without brackets');
    expect(errors[2].message).toContain('"bad_host!" is neither an IP address nor a host name');
    expect(errors[3].message).toContain('"[10.0.0.1]" is not an IPv6 address');
    expect(errors[4].message).toBe('"0.0.0.0:6343" is already used by listen.sflow[1]; each UDP listener needs its own address');
  });

  it('port 0 (kernel-chosen) listeners may repeat', () => {
    const r = parseConfig('listen: { netflow: ["127.0.0.1:0"], sflow: ["127.0.0.1:0"] }\n', 'z.yaml', {});
    expect(r.errors).toEqual([]);
  });

  it('wrong types say what was expected and what was found', () => {
    const errors = errorsOf(
      lines(
        'listen:', //                          1
        '  netflow: "0.0.0.0:2055"', //        2
        'netflow:', //                         3
        '  receive_buffer_bytes: "lots"', //   4
        '  default_sampling_rate: 0', //       5
        '  pending_records_per_exporter: 1.5', // 6
        'local_networks: 10.0.0.0/8', //       7
        'state_dir: ""', //                    8
      ),
    );
    expect(errors.map((e) => [e.key, e.line, e.column])).toEqual([
      ['listen.netflow', 2, 12],
      ['netflow.receive_buffer_bytes', 4, 25],
      ['netflow.default_sampling_rate', 5, 26],
      ['netflow.pending_records_per_exporter', 6, 33],
      ['local_networks', 7, 17],
      ['state_dir', 8, 12],
    ]);
    expect(errors[0].message).toBe('expected a list (like [a, b] or "- a" lines), got the string "0.0.0.0:2055"');
    expect(errors[1].message).toBe('expected a whole number, got the string "lots"');
    expect(errors[2].message).toBe('the number 0 is out of range; it must be >= 1');
    expect(errors[3].message).toBe('expected a whole number, got the fraction 1.5');
    expect(errors[5].message).toBe('must not be empty');
  });

  it('CIDRs and IPs: bad address, bad prefix, host bits set (with the fix), bad override key', () => {
    const errors = errorsOf(
      lines(
        'exporter_allowlist: ["10.0.0.0/33"]', //   1
        'local_networks:', //                       2
        '  - "10.1.2.3/8"', //                      3
        '  - "fd00::1/8"', //                       4
        '  - "banana"', //                          5
        'netflow:', //                              6
        '  sampling_rate_overrides:', //            7
        '    "192.0.2.1": 10', //                   8
        '    "router-1": 10', //                    9
        'peer_networks:', //                        10
        '  - { match: "300.0.0.0/8", name: x }', // 11
      ),
    );
    expect(errors.map((e) => [e.key, e.line, e.column])).toEqual([
      ['exporter_allowlist[0]', 1, 22],
      ['local_networks[0]', 3, 5],
      ['local_networks[1]', 4, 5],
      ['local_networks[2]', 5, 5],
      ['netflow.sampling_rate_overrides["router-1"]', 9, 5],
      ['peer_networks[0].match', 11, 14],
    ]);
    expect(errors[0].message).toBe('"10.0.0.0/33": prefix length must be 0-32 for IPv4');
    expect(errors[1].message).toBe('"10.1.2.3/8" has host bits set; did you mean "10.0.0.0/8"?');
    expect(errors[2].message).toBe('"fd00::1/8" has host bits set; did you mean "fd00::/8"?');
    expect(errors[3].message).toContain('is not a CIDR; expected address/prefix like "10.0.0.0/8"');
    expect(errors[4].message).toContain('"router-1" is not an exporter IP address');
    expect(errors[5].message).toContain('"300.0.0.0/8" is not a CIDR');
  });

  it('inventory: bad match, missing name, duplicate device match', () => {
    const errors = errorsOf(
      lines(
        'inventory:', //                                         1
        '  - { match: "aa:bb:cc:dd:ee", name: short-mac }', //   2
        '  - { match: "10.0.0.5" }', //                          3
        '  - { match: "AA:BB:CC:DD:EE:FF", name: a }', //        4
        '  - { match: "aa-bb-cc-dd-ee-ff", name: b }', //        5
      ),
    );
    expect(errors.map((e) => [e.key, e.line, e.column])).toEqual([
      ['inventory[0].match', 2, 14],
      ['inventory[1]', 3, 5],
      ['inventory[3].match', 5, 14],
    ]);
    expect(errors[0].message).toContain('is not an IP address, CIDR or MAC address');
    expect(errors[1].message).toBe('missing required key "name"');
    expect(errors[2].message).toBe('"aa-bb-cc-dd-ee-ff" is already matched by inventory[2]; each address, network or MAC can name one device');
  });

  it('apps: unknown protocol, bad ports and ranges', () => {
    const errors = errorsOf(
      lines(
        'apps:', //                                                          1
        '  - name: a', //                                                    2
        '    protocol: tcpp', //                                             3
        '    ports: [0, 80, "90-80", "http", 70000, "1-65536", true]', //    4
      ),
    );
    expect(errors.map((e) => [e.key, e.line, e.column])).toEqual([
      ['apps[0].protocol', 3, 15],
      ['apps[0].ports[0]', 4, 13],
      ['apps[0].ports[2]', 4, 20],
      ['apps[0].ports[3]', 4, 29],
      ['apps[0].ports[4]', 4, 37],
      ['apps[0].ports[5]', 4, 44],
      ['apps[0].ports[6]', 4, 55],
    ]);
    expect(errors[0].message).toMatch(/^unknown protocol "tcpp"; use icmp, igmp, tcp, udp/);
    expect(errors[1].message).toBe('port 0 is out of range; expected a port 1-65535 or a range like "6000-6010"');
    expect(errors[2].message).toBe('"90-80" runs backwards (90 > 80); expected a port 1-65535 or a range like "6000-6010"');
    expect(errors[3].message).toContain('"http" is not a port or range');
    expect(errors[6].message).toBe('expected a whole number or a string, got boolean true');
  });

  it('rollups: bad metric name, reserved prefix and suffix, unknown label, duplicate name, fallback outside labels', () => {
    const errors = errorsOf(
      lines(
        'rollups:', //                                                                  1
        '  - { name: "9flows", labels: [device], budget: 10 }', //                      2
        '  - { name: flowgauge_x, labels: [device], budget: 10 }', //                   3
        '  - { name: flow_dev_total, labels: [device], budget: 10 }', //                4
        '  - { name: flow_peer, labels: [device, peers], budget: 10 }', //              5
        '  - { name: flow_peer, labels: [device, peer], budget: 0, fallback: [app] }', // 6
        '  - { name: flow_x, labels: [device, device], budget: 10 }', //                7
        '  - { name: "flow:x", labels: [], budget: 10 }', //                            8
      ),
    );
    expect(errors.map((e) => [e.key, e.line, e.column])).toEqual([
      ['rollups[0].name', 2, 13],
      ['rollups[1].name', 3, 13],
      ['rollups[2].name', 4, 13],
      ['rollups[3].labels[1]', 5, 41],
      ['rollups[4].name', 6, 13],
      ['rollups[4].budget', 6, 56],
      ['rollups[4].fallback[0]', 6, 70],
      ['rollups[5].labels', 7, 29],
      ['rollups[6].name', 8, 13],
      ['rollups[6].labels', 8, 31],
    ]);
    expect(errors[0].message).toContain('"9flows" is not a valid Prometheus metric name prefix');
    expect(errors[1].message).toContain('the flowgauge_ prefix is reserved');
    expect(errors[2].message).toContain('ends in a suffix flowgauge appends itself');
    expect(errors[3].message).toMatch(/^the string "peers" is not allowed; did you mean "peer"\? use one of: exporter, source, device/);
    expect(errors[4].message).toBe('rollup name "flow_peer" is already used by rollups[3]; rollup names must be unique');
    expect(errors[5].message).toBe('the number 0 is out of range; it must be >= 1');
    expect(errors[6].message).toContain('"app" is not one of this rollup\'s labels (device, peer)');
    expect(errors[7].message).toBe('lists the same value twice (entries 0 and 1); keep one');
    expect(errors[8].message).toContain('"flow:x" is not a valid Prometheus metric name prefix');
    expect(errors[9].message).toBe('must have at least 1 entry');
  });

  it('an empty rollups list says how to get the defaults', () => {
    const e = only('rollups: []\n');
    expect(e).toMatchObject({ key: 'rollups', line: 1, column: 10 });
    expect(e.message).toContain('leave "rollups" out to use the default families');
  });

  it('log level: unknown value with a suggestion', () => {
    const e = only(lines('log:', '  level: warning'));
    expect(e).toMatchObject({ key: 'log.level', line: 2, column: 10 });
    expect(e.message).toBe('the string "warning" is not allowed; did you mean "warn"? use one of: trace, debug, info, warn, error, fatal');
  });

  it('reports every error in one go, sorted by position', () => {
    const errors = errorsOf(
      lines(
        'listen:', //                        1
        '  http: "nope"', //                 2
        '  udp: []', //                      3
        'local_networks: ["10.0.0.0/40"]', // 4
        'rollups:', //                       5
        '  - { name: a, labels: [x], budget: 1 }', // 6
        'state_dri: ./state', //             7
      ),
    );
    expect(errors.map((e) => `${e.line}:${e.column} ${e.key}`)).toEqual([
      '2:9 listen.http',
      '3:3 listen.udp',
      '4:18 local_networks[0]',
      '6:25 rollups[0].labels[0]',
      '7:1 state_dri',
    ]);
    expect(errors[4].message).toContain('did you mean "state_dir"?');
  });

  it('the top level must be a mapping', () => {
    const e = only('- listen\n- netflow\n');
    expect(e).toMatchObject({ key: '(top level)', line: 1, column: 1 });
    expect(e.message).toContain('must be a mapping');
  });
});

describe('YAML syntax errors give line and column', () => {
  it('bad indentation', () => {
    const e = only(lines('listen:', '  http: "0.0.0.0:1"', ' netflow: []'));
    expect(e).toMatchObject({ key: '(yaml)', line: 3, column: 1 });
    expect(e.message).toBe('YAML syntax: All mapping items must start at the same column');
    expect(e.toString()).toBe('test.yaml:3:1: (yaml): YAML syntax: All mapping items must start at the same column');
  });

  it('unclosed flow sequence', () => {
    const e = errorsOf(lines('state_dir: x', 'local_networks: ["10.0.0.0/8"', 'log: { level: info }'))[0];
    expect(e).toMatchObject({ key: '(yaml)', line: 3, column: 1 });
    expect(e.message).toContain('must be sufficiently indented and end with a ]');
  });

  it('duplicate keys', () => {
    const e = only(lines('state_dir: a', 'log: { level: info }', 'state_dir: b'));
    expect(e).toMatchObject({ key: '(yaml)', line: 3, column: 1 });
    expect(e.message).toBe('YAML syntax: Map keys must be unique');
  });
});

describe('environment variables', () => {
  it('expands ${NAME} and ${NAME:-default} in string values, $$ is a literal $', () => {
    const r = parseConfig(
      lines(
        'listen:',
        '  http: "${BIND:-0.0.0.0}:${HTTP_PORT}"',
        'state_dir: "${STATE_ROOT}/flowgauge"',
        'inventory:',
        '  - { match: "${DEV_IP}", name: "cost$$center-${SITE:-x}" }',
      ),
      'env.yaml',
      { HTTP_PORT: '9000', STATE_ROOT: '/srv/data', DEV_IP: '10.1.1.1', SITE: '' },
    );
    expect(r.errors).toEqual([]);
    expect(r.config!.listen.http).toBe('0.0.0.0:9000');
    expect(r.config!.stateDir).toBe('/srv/data/flowgauge');
    expect(r.config!.inventory).toEqual([{ match: '10.1.1.1', name: 'cost$center-x' }]);
    expect(r.envValues).toEqual(expect.arrayContaining(['9000', '/srv/data', '/srv/data/flowgauge', '10.1.1.1']));
  });

  it('expanded values are validated like literal ones, at the line of the reference', () => {
    const e = only(lines('listen:', '  netflow: ["${NF_ADDR}"]'), { NF_ADDR: 'not-an-address' });
    expect(e).toMatchObject({ key: 'listen.netflow[0]', line: 2, column: 13 });
    expect(e.message).toContain('is not host:port');
  });

  it('an unset variable without a default is an error naming the key and the variable', () => {
    const errors = errorsOf(
      lines('state_dir: "${AZURE_STORAGE_KEY}"', 'inventory:', '  - { match: "10.0.0.1", name: "${DEVICE_NAME}" }'),
      {},
    );
    expect(errors.map((e) => [e.key, e.line, e.column])).toEqual([
      ['state_dir', 1, 12],
      ['inventory[0].name', 3, 32],
    ]);
    expect(errors[0].message).toBe('environment variable AZURE_STORAGE_KEY is not set; set it, or give a default with ${AZURE_STORAGE_KEY:-value}');
    expect(errors[1].message).toContain('DEVICE_NAME is not set');
  });

  it('a set-but-empty variable without a default expands to ""', () => {
    const r = parseConfig('listen: { http: "${HTTP_ADDR}" }\n', 'e.yaml', { HTTP_ADDR: '' });
    expect(r.errors).toEqual([]);
    expect(r.config!.listen.http).toBe('');
  });

  it('malformed references are errors', () => {
    const errors = errorsOf(lines('state_dir: "${1BAD}"', 'log: { level: "${LEVEL" }'), {});
    expect(errors.map((e) => [e.key, e.line])).toEqual([
      ['state_dir', 1],
      ['log.level', 2],
    ]);
    expect(errors[0].message).toContain('"${1BAD}" is not a valid variable reference');
    expect(errors[1].message).toContain('unterminated "${"');
  });

  it('keys are not expanded, and YAML structure cannot be injected through a variable', () => {
    const r = parseConfig('state_dir: "${EVIL}"\n', 'e.yaml', { EVIL: 'x\nlog: { level: trace }' });
    expect(r.errors).toEqual([]);
    expect(r.config!.stateDir).toBe('x\nlog: { level: trace }');
    expect(r.config!.log.level).toBe('info');
  });
});

describe('loadConfig from files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowgauge-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('throws ConfigLoadError carrying every error, with the file name', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, lines('listen:', '  htp: ":1"', 'rollups: []'));
    const err = await loadConfig(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigLoadError);
    const { errors } = err as ConfigLoadError;
    expect(errors.map(String)).toEqual([
      `${file}:2:3: listen.htp: unknown key "htp"; did you mean "http"?`,
      `${file}:3:10: rollups: must name at least one rollup; leave "rollups" out to use the default families`,
    ]);
  });

  it('a missing file is a ConfigLoadError, not a crash', async () => {
    const file = join(dir, 'absent.yaml');
    const err = (await loadConfig(file).catch((e: unknown) => e)) as ConfigLoadError;
    expect(err).toBeInstanceOf(ConfigLoadError);
    expect(err.errors[0].toString()).toBe(`${file}: (file): cannot read the config file: no such file`);
  });
});

describe('rollup and histogram budgets below the engine minimum', () => {
  it('a rollup budget too small for its own "other" rows is an error at the budget key', () => {
    const e = only(
      lines(
        'rollups:', //                                                                 1
        '  - { name: flow_ok, labels: [device], budget: 1 }', //                        2
        '  - name: flow_small', //                                                     3
        '    labels: [device, peer, app]', //                                          4
        '    budget: 2', //                                                            5
      ),
    );
    expect(e).toMatchObject({ key: 'rollups[1].budget', line: 5, column: 13 });
    expect(e.message).toBe(
      'budget 2 cannot hold the rollup\'s own "other" rows: with 3 labels it needs at least 3 ' +
        '(2 partially folded row(s) such as (device, other), plus 1 all-"other" row)',
    );
  });

  it('the loader accepts exactly the budgets the engine accepts', () => {
    const labelSets: RollupLabel[][] = [['device'], ['device', 'peer'], ['device', 'peer', 'app'], ['exporter', 'device', 'peer', 'app']];
    for (const labels of labelSets) {
      for (let budget = 1; budget <= 6; budget++) {
        const r = parseConfig(`rollups:\n  - { name: flow_x, labels: [${labels.join(', ')}], budget: ${budget} }\n`, 'test.yaml', {});
        let engineError: unknown;
        try {
          validateRollupDefinition({ name: 'flow_x', labels, budget });
        } catch (err) {
          engineError = err;
        }
        expect(r.config === undefined, `${labels.length} labels, budget ${budget}`).toBe(engineError !== undefined);
        expect(budget >= minimumBudget(labels.length)).toBe(r.config !== undefined);
      }
    }
  });

  it('a histogram budget below its label count is an error at the budget key', () => {
    const e = only(
      lines(
        'histograms:', //                                                               1
        '  - { name: flow_rtt_seconds, value: rtt, labels: [device, peer], budget: 1 }', // 2
      ),
    );
    expect(e).toMatchObject({ key: 'histograms[0].budget', line: 2, column: 75 });
    expect(e.message).toContain('budget 1 cannot hold its own "other" rows: with 2 label(s) it needs at least 2');
  });
});

describe('heavy-hitter selection settings', () => {
  function policyOf(pipeline: FlowPipeline, name: string): HeavyHitterSelection {
    const policy = pipeline.rollups.family(name)!.policy;
    expect(policy).toBeInstanceOf(HeavyHitterSelection);
    return policy as HeavyHitterSelection;
  }

  it('per-rollup selection and the rollup_selection default reach each family\'s policy', () => {
    const r = parseConfig(
      lines(
        'rollup_selection: { half_life: 5m, admit_after: 0, readmit_holdoff: "1h" }',
        'rollups:',
        '  - name: flow_peer',
        '    labels: [device, peer]',
        '    budget: 100',
        '    selection: { half_life: 120, margin: 0.25, evict_after: "90s" }',
        '  - { name: flow_app, labels: [device, app], budget: 100 }',
      ),
      'test.yaml',
      {},
    );
    expect(r.errors).toEqual([]);
    expect(r.config!.rollups.map((d) => d.selection)).toEqual([
      { halfLifeMs: 120_000, admitAfterMs: 0, readmitHoldoffMs: 3_600_000, margin: 0.25, evictAfterMs: 90_000 },
      { halfLifeMs: 300_000, admitAfterMs: 0, readmitHoldoffMs: 3_600_000 },
    ]);
    const pipeline = new FlowPipeline(r.config!);
    const peer = policyOf(pipeline, 'flow_peer');
    expect([peer.halfLifeMs, peer.margin, peer.admitAfterMs, peer.evictAfterMs, peer.readmitHoldoffMs]).toEqual([120_000, 0.25, 0, 90_000, 3_600_000]);
    const app = policyOf(pipeline, 'flow_app');
    expect([app.halfLifeMs, app.margin, app.admitAfterMs, app.evictAfterMs, app.readmitHoldoffMs]).toEqual([
      300_000,
      SELECTION_DEFAULTS.margin,
      0,
      SELECTION_DEFAULTS.evictAfterMs,
      3_600_000,
    ]);
  });

  it('rollup_selection also applies to the built-in rollups; without any, the engine defaults hold', () => {
    const tuned = parseConfig('rollup_selection: { half_life: 30s }\n', 'test.yaml', {}).config!;
    expect(tuned.rollups.map((d) => d.name)).toEqual(DEFAULT_ROLLUPS.map((d) => d.name));
    for (const def of tuned.rollups) expect(policyOf(new FlowPipeline(tuned), def.name).halfLifeMs).toBe(30_000);
    const plain = defaultConfig();
    expect(plain.rollups.every((d) => d.selection === undefined)).toBe(true);
    expect(policyOf(new FlowPipeline(plain), plain.rollups[0].name).halfLifeMs).toBe(SELECTION_DEFAULTS.halfLifeMs);
  });

  it('a configured half-life changes how fast a quiet row loses its place', () => {
    // Budget 2 with one label: one row of its own plus the "other" row. "a" is heavy early, then
    // only "b" sends; with a short half-life "b" overtakes "a" within minutes, with the default not.
    const run = (halfLife: string): string[] => {
      const cfg = parseConfig(
        lines(
          'rollups:',
          '  - name: flow_device',
          '    labels: [device]',
          '    budget: 2',
          `    selection: { half_life: ${halfLife}, admit_after: 0, evict_after: 0 }`,
        ),
        'test.yaml',
        {},
      ).config!;
      const engine = new FlowPipeline(cfg).rollups;
      const labels = createFlowLabels();
      let t = 1_000_000;
      engine.setReceiveTime(t);
      labels.device = 'a';
      engine.add(labels, 10_000_000, 1, 1);
      labels.device = 'b';
      for (let s = 0; s < 600; s++) {
        t += 1000;
        engine.setReceiveTime(t);
        engine.add(labels, 2_000, 1, 1);
      }
      return engine.family('flow_device')!.snapshot().labelValues.map((v) => v[0]).sort();
    };
    expect(run('20s')).toEqual(['b', 'other']);
    expect(run('1h')).toEqual(['a', 'other']);
  });

  it('bad selection values are errors at their key and line', () => {
    const errors = errorsOf(
      lines(
        'rollup_selection:', //                                  1
        '  half_life: 0', //                                     2
        '  margin: -1', //                                       3
        'rollups:', //                                           4
        '  - name: flow_peer', //                                5
        '    labels: [device, peer]', //                         6
        '    budget: 100', //                                    7
        '    selection:', //                                     8
        '      admit_after: "soon"', //                          9
        '      evict_after: 30d', //                             10
        '      readmit_holdoff: "200h"', //                      11
        '      half_lif: 10m', //                                12
      ),
    );
    expect(errors.map((e) => [e.key, e.line, e.column])).toEqual([
      ['rollup_selection.half_life', 2, 14],
      ['rollup_selection.margin', 3, 11],
      ['rollups[0].selection.admit_after', 9, 20],
      ['rollups[0].selection.evict_after', 10, 20],
      ['rollups[0].selection.readmit_holdoff', 11, 24],
      ['rollups[0].selection.half_lif', 12, 7],
    ]);
    expect(errors[0].message).toBe('0 is not a positive duration; write seconds (600) or a number with a unit ("30s", "10m", "1h")');
    expect(errors[1].message).toBe('the number -1 is out of range; it must be >= 0');
    expect(errors[2].message).toBe('"soon" is not a duration; write seconds (600) or a number with a unit ("30s", "10m", "1h")');
    expect(errors[3].message).toContain('"30d" is not a duration');
    expect(errors[4].message).toBe('"200h" is longer than a week; use at most "168h"');
    expect(errors[5].message).toBe('unknown key "half_lif"; did you mean "half_life"?');
  });
});

describe('the example config, commented sections switched on', () => {
  it('every commented-out key block parses and carries its values', () => {
    const text = readFileSync(examplePath, 'utf8')
      .split('\n')
      .map((l) => l.replace(/^# (?=[a-z_]+:|\s)/, '').replace(/^(\s+)# (?=selection:)/, '$1'))
      .join('\n');
    const r = parseConfig(text, 'example', { OTLP_TOKEN: 'secret-token', AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' });
    expect(r.errors.map(String)).toEqual([]);
    const cfg = r.config!;
    expect(cfg.webConfigFile).toBe('/etc/flowgauge/web.yml');
    expect(cfg.otlp).toMatchObject({ enabled: true, endpoint: 'http://otel-collector:4318', intervalMs: 60_000, temporality: 'cumulative' });
    expect(cfg.otlp!.headers).toEqual({ authorization: 'Bearer secret-token' });
    // The example's histograms are the defaults less their help texts.
    expect(cfg.histograms).toEqual(DEFAULT_CONFIG.histograms.map(({ help: _help, ...h }) => h));
    expect(cfg.rollups.find((d) => d.name === 'flow_peer')!.selection!.halfLifeMs).toBe(120_000);
    expect(cfg.rollups.find((d) => d.name === 'flow_app')!.selection!.halfLifeMs).toBe(600_000);
    expect(cfg.cloudFlowLogs.map((c) => [c.name, c.format, c.store.type, c.pollIntervalMs])).toEqual([
      ['prod-vpc', 'aws', 's3', 60_000],
      ['hub-vnet', 'azure', 'azure_blob', 60_000],
      ['gke', 'gcp', 'gcs', 300_000],
    ]);
  });
});

describe('docs/configuration.md', () => {
  const doc = readFileSync(fileURLToPath(new URL('../docs/configuration.md', import.meta.url)), 'utf8');

  /** Every key the schema accepts: dotted paths for mapping keys, bare names for keys of list entries. */
  function schemaKeys(schema: Record<string, unknown>, prefix: string, inList: boolean, out: string[]): string[] {
    const props = schema.properties as Record<string, Record<string, unknown>> | undefined;
    for (const [key, sub] of Object.entries(props ?? {})) {
      const name = inList ? key : prefix ? `${prefix}.${key}` : key;
      out.push(name);
      if (sub.type === 'object') schemaKeys(sub, name, inList, out);
      if (sub.type === 'array' && (sub.items as Record<string, unknown> | undefined)?.type === 'object') {
        schemaKeys(sub.items as Record<string, unknown>, name, true, out);
      }
    }
    return out;
  }

  it('documents every key the schema accepts', () => {
    const keys = schemaKeys(configSchema as unknown as Record<string, unknown>, '', false, []);
    expect(keys).toContain('rollup_selection.half_life');
    expect(keys).toContain('otlp.tls.ca_file');
    expect(keys).toContain('budget');
    const missing = keys.filter((k) => !doc.includes(`\`${k}\``) && !doc.includes(`\`${k.split('.').pop()}\``));
    expect(missing).toEqual([]);
    for (const section of Object.keys(configSchema.properties)) expect(doc, section).toContain(`\`${section}\``);
  });
});
