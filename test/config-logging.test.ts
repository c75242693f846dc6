import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { componentLogger, createLogger } from '../src/log.js';

function memoryLogger(level: Parameters<typeof createLogger>[0] = 'info') {
  const lines: string[] = [];
  const logger = createLogger(level, { write: (s: string) => void lines.push(s) });
  return { logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), raw: () => lines.join('') };
}

describe('logging', () => {
  it('writes one JSON object per line with level name, time, message and bindings', () => {
    const { logger, records, raw } = memoryLogger('debug');
    componentLogger(logger, 'udp', { listener: 'netflow' }).info({ port: 2055 }, 'listening');
    logger.trace('not at debug');
    expect(raw().endsWith('\n')).toBe(true);
    const [r] = records();
    expect(records()).toHaveLength(1);
    expect(r).toMatchObject({ level: 'info', name: 'flowgauge', component: 'udp', listener: 'netflow', port: 2055, msg: 'listening' });
    expect(typeof r.time).toBe('string');
    expect(Number.isNaN(Date.parse(r.time as string))).toBe(false);
  });

  it('redacts secret fields by name, at the top level, one level down and in headers', () => {
    const { logger, raw } = memoryLogger();
    logger.info(
      {
        password: 'hunter2-pw',
        azure: { connectionString: 'DefaultEndpointsProtocol=https;AccountKey=abc123==', container: 'flows' },
        req: { headers: { authorization: 'Bearer tok-123456', host: 'x' } },
        key: 'k-999999',
      },
      'poll',
    );
    const text = raw();
    for (const secret of ['hunter2-pw', 'AccountKey=abc123==', 'tok-123456', 'k-999999']) expect(text).not.toContain(secret);
    expect(text).toContain('"container":"flows"');
    expect(text).toContain('"host":"x"');
    expect(text).toContain('[REDACTED]');
  });

  it('never writes a value that came from an environment variable in the config, wherever it appears', () => {
    const secret = 'sv=2024-01-01&sig=Zm9vYmFy%2F"quoted"';
    const r = parseConfig('state_dir: "/data/${FG_TEST_SAS_TOKEN}"\n', 'secret.yaml', { FG_TEST_SAS_TOKEN: secret });
    expect(r.errors).toEqual([]);
    expect(r.envValues).toContain(secret);
    const { logger, raw } = memoryLogger();
    logger.info({ stateDir: r.config!.stateDir, nested: { note: `url?${secret}` } }, `opening ${r.config!.stateDir}`);
    logger.error(new Error(`failed with ${secret}`), 'boom');
    const text = raw();
    expect(text).not.toContain('Zm9vYmFy');
    expect(text).toContain('[REDACTED]');
    // Still valid JSON after scrubbing.
    for (const line of text.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('leaves short env values alone (they would mangle every line) but values from defaults are not secrets', () => {
    const r = parseConfig('log: { level: "${FG_TEST_LEVEL:-warn}" }\nstate_dir: "${FG_TEST_DIR}"\n', 'x.yaml', { FG_TEST_DIR: 'ab' });
    expect(r.config!.log.level).toBe('warn');
    expect(r.envValues).toEqual(['ab', 'ab']);
    const { logger, records } = memoryLogger();
    logger.info({ dir: 'ab', level: 'warn' }, 'ok');
    expect(records()[0]).toMatchObject({ dir: 'ab' });
  });
});
