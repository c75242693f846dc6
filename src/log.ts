/**
 * Structured JSON logs (one object per line) on stderr; stdout stays free for `flowgauge replay`.
 * Two layers keep secrets out of the logs: pino's path redaction for fields that are secret by
 * name (password, authorization, key, ...), and a value scrubber for strings that came from
 * environment variables in the config file, wherever they end up in a log line.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const REDACTED = '[REDACTED]';

/** Field names whose values are never written, at the top level or one object down. */
const SECRET_FIELDS = [
  'password',
  'passwd',
  'secret',
  'token',
  'key',
  'apiKey',
  'accessKey',
  'secretAccessKey',
  'sessionToken',
  'accountKey',
  'connectionString',
  'sas',
  'sasToken',
  'credentials',
  'authorization',
  'cookie',
];
const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

/**
 * Values shorter than this are not scrubbed: they cannot be meaningful secrets, and replacing
 * them would mangle ordinary numbers and words in every line.
 */
export const MIN_SCRUBBED_LENGTH = 4;

const secretValues = new Set<string>();
// JSON-escaped forms, longest first so a secret containing another is replaced whole.
let scrubList: string[] = [];

/** Marks values (for example expanded `${VAR}`s of the config) that must never appear in a log line. */
export function registerSecretValues(values: Iterable<string>): void {
  let changed = false;
  for (const v of values) {
    if (v.length >= MIN_SCRUBBED_LENGTH && !secretValues.has(v)) {
      secretValues.add(v);
      changed = true;
    }
  }
  if (changed) {
    scrubList = [...secretValues].map((v) => JSON.stringify(v).slice(1, -1)).sort((a, b) => b.length - a.length);
  }
}

/** Replaces every registered secret value in an already serialized log line. */
export function scrubSecrets(line: string): string {
  let out = line;
  for (const s of scrubList) {
    if (out.includes(s)) out = out.split(s).join(REDACTED);
  }
  return out;
}

/**
 * A logger writing JSON lines to `destination` (default: stderr, synchronously, so the last lines
 * before an exit are not lost).
 */
export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      name: 'flowgauge',
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: { streamWrite: scrubSecrets },
    },
    destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** A child logger tagged with the pipeline stage or component it logs for. */
export function componentLogger(parent: Logger, component: string, bindings: Record<string, unknown> = {}): Logger {
  return parent.child({ component, ...bindings });
}
