/**
 * Reads the YAML config file, expands `${VAR}` references, validates it (JSON Schema, then the
 * checks a schema cannot express) and returns the FlowgaugeConfig the daemon consumes.
 *
 * Every problem becomes a ConfigError naming the key path (`listen.netflow[1]`), the line and
 * column in the file, and how to fix it; all problems are reported together.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { buildOtlpConfig, checkOtlpSection, parseDuration } from '../exporters/otlp/otlp-config.js';
import { registerSecretValues } from '../log.js';
import { formatAddress, parseAddress } from '../util/address.js';
import { applyMeasureConfig, checkMeasureConfig } from '../rollup/measure-config.js';
import { minimumBudget } from '../rollup/rollup-family.js';
import { defaultConfig } from './defaults.js';
import { configSchema, LOG_LEVELS, ROLLUP_LABELS } from './schema.js';
import type { AppRule, FlowgaugeConfig, InventoryEntry, PeerNetwork, RollupDefinition, RollupLabel, RollupSelection } from './types.js';
import { buildCloudFlowLogSources, checkCloudFlowLogsSection } from '../sources/cloud/cloud-config.js';

type PathSegment = string | number;

export class ConfigError {
  constructor(
    /** Key path in the file, like `listen.netflow[1]`; `(file)` for problems with the file as a whole. */
    readonly key: string,
    /** 1-based; 0 when the problem has no position (an unreadable file). */
    readonly line: number,
    readonly column: number,
    readonly message: string,
    /** File name as given, when known. */
    readonly source?: string,
  ) {}

  /** `FILE:LINE:COL: key: message`, the form editors and CI annotations understand. */
  toString(): string {
    const pos = this.line > 0 ? `${this.line}:${this.column}` : '';
    const where = [this.source, pos].filter((s) => s).join(':');
    return `${where ? `${where}: ` : ''}${this.key}: ${this.message}`;
  }
}

/** Thrown by loadConfig when the file cannot be read or is not valid. */
export class ConfigLoadError extends Error {
  constructor(
    readonly source: string,
    readonly errors: ConfigError[],
  ) {
    super(
      errors.length === 1
        ? errors[0].toString()
        : `${source}: ${errors.length} configuration errors:\n${errors.map((e) => `  ${e.toString()}`).join('\n')}`,
    );
    this.name = 'ConfigLoadError';
  }
}

export interface ParseResult {
  config?: FlowgaugeConfig;
  errors: ConfigError[];
  /** Values that came from environment variables; also registered with the log scrubber. */
  envValues?: string[];
}

/** The config from `path`, or the embedded defaults when no path is given. Throws ConfigLoadError. */
export async function loadConfig(path?: string): Promise<FlowgaugeConfig> {
  if (path === undefined) return defaultConfig();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new ConfigLoadError(path, [
      new ConfigError('(file)', 0, 0, `cannot read the config file: ${why}`, path),
    ]);
  }
  const result = parseConfig(text, path);
  if (!result.config) throw new ConfigLoadError(path, result.errors);
  return result.config;
}

/** Parses and validates config text; `sourceName` only labels the errors. */
export function parseConfig(text: string, sourceName: string, env: NodeJS.ProcessEnv = process.env): ParseResult {
  const ctx = new Context(text, sourceName);
  const { doc } = ctx;

  for (const e of doc.errors) {
    const pos = e.linePos?.[0];
    ctx.errors.push(
      new ConfigError('(yaml)', pos?.line ?? 1, pos?.col ?? 1, `YAML syntax: ${firstLine(e.message).replace(/ at line \d+, column \d+:?$/, '')}`, sourceName),
    );
  }
  if (ctx.errors.length > 0) return { errors: ctx.errors };

  const root = doc.contents;
  if (root !== null && !isMap(root)) {
    ctx.errorAt([], 'the file must be a mapping of keys (like "listen:", "local_networks:"), not a list or a single value');
    return { errors: ctx.errors };
  }

  const envValues: string[] = [];
  if (root) expandEnv(root, [], ctx, env, envValues);
  registerSecretValues(envValues);
  // A value whose ${...} could not be expanded has already been reported; checking the
  // unexpanded text as well would only add noise.
  const envErrorCount = ctx.errors.length;
  const unexpanded = new Set(ctx.errors.map((e) => e.key));

  const raw = stripNulls(doc.toJS({ maxAliasCount: 1000 }) ?? {}) as Record<string, unknown>;
  validateSchema(raw, ctx);
  checkSemantics(raw, ctx);

  const errors = dedupeAndSort(ctx.errors.filter((e, i) => i < envErrorCount || !unexpanded.has(e.key)));
  if (errors.length > 0) return { errors, envValues };
  return { config: buildConfig(raw), errors: [], envValues };
}

// ---------------------------------------------------------------------------------------------
// Positions

class Context {
  readonly lineCounter = new LineCounter();
  readonly doc: Document;
  readonly errors: ConfigError[] = [];

  constructor(
    text: string,
    readonly source: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lineCounter, prettyErrors: true, uniqueKeys: true });
  }

  /**
   * Error at the node for `path`; with `atKey`, at the mapping key named by the last segment
   * (for unknown keys). Falls back to the nearest ancestor present in the file.
   */
  errorAt(path: PathSegment[], message: string, atKey = false): void {
    const { line, col } = this.position(path, atKey);
    this.errors.push(new ConfigError(formatPath(path), line, col, message, this.source));
  }

  private position(path: PathSegment[], atKey: boolean): { line: number; col: number } {
    let node: unknown = this.doc.contents;
    let best: Node | null = isNode(node) ? node : null;
    for (let i = 0; i < path.length; i++) {
      if (isAlias(node)) node = node.resolve(this.doc);
      const seg = path[i];
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (atKey && i === path.length - 1 && isNode(pair.key)) {
          best = pair.key;
          break;
        }
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else {
        break;
      }
      if (!isNode(node)) break;
      best = node;
    }
    const offset = best?.range?.[0];
    if (offset === undefined) return { line: 1, col: 1 };
    return this.lineCounter.linePos(offset);
  }
}

function isNode(v: unknown): v is Node {
  return isScalar(v) || isMap(v) || isSeq(v) || isAlias(v);
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

/** `listen.netflow[1]`, `netflow.sampling_rate_overrides["192.0.2.1"]`; `(top level)` for []. */
export function formatPath(path: PathSegment[]): string {
  if (path.length === 0) return '(top level)';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function dedupeAndSort(errors: ConfigError[]): ConfigError[] {
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const e of errors) {
    const k = `${e.line}:${e.column}:${e.key}:${e.message}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(e);
    }
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

// ---------------------------------------------------------------------------------------------
// Environment expansion

// `${` with no closing brace is matched on its own so it is reported rather than kept literally.
const ENV_REF = /\$\$|\$\{([^}]*)\}|\$\{/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Expands `${NAME}` and `${NAME:-default}` in string values (not keys), in place on the YAML
 * tree so errors keep their positions. `$$` is a literal `$`. As in the shell, `:-` also applies
 * when the variable is set but empty.
 */
function expandEnv(node: unknown, path: PathSegment[], ctx: Context, env: NodeJS.ProcessEnv, envValues: string[]): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      expandEnv(pair.value, [...path, key], ctx, env, envValues);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => expandEnv(item, [...path, i], ctx, env, envValues));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('$')) {
    const text = node.value;
    let fromEnv = false;
    let failed = false;
    const expanded = text.replace(ENV_REF, (whole, body: string | undefined) => {
      if (whole === '$$') return '$';
      if (body === undefined) {
        ctx.errorAt(path, `unterminated "\${" in ${JSON.stringify(text)}; write \${NAME} or \${NAME:-default}, or $$ for a literal $`);
        failed = true;
        return whole;
      }
      const sep = body!.indexOf(':-');
      const name = sep >= 0 ? body!.slice(0, sep) : body!;
      if (!ENV_NAME.test(name)) {
        ctx.errorAt(path, `"\${${body}}" is not a valid variable reference; write \${NAME} or \${NAME:-default}`);
        failed = true;
        return whole;
      }
      const value = env[name];
      if (sep >= 0) {
        if (value === undefined || value === '') return body!.slice(sep + 2);
      } else if (value === undefined) {
        ctx.errorAt(path, `environment variable ${name} is not set; set it, or give a default with \${${name}:-value}`);
        failed = true;
        return whole;
      }
      fromEnv = true;
      envValues.push(value);
      return value;
    });
    if (failed) return;
    node.value = expanded;
    if (fromEnv) envValues.push(expanded);
  }
}

/** Drops mapping keys written with no value (`inventory:` followed only by comments): they take their defaults. */
function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = stripNulls(x);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Schema

let compiled: ReturnType<Ajv['compile']> | undefined;

function validateSchema(raw: unknown, ctx: Context): void {
  compiled ??= new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(configSchema);
  if (compiled(raw)) return;
  for (const err of compiled.errors ?? []) reportSchemaError(err, raw, ctx);
}

function decodePointer(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const out: PathSegment[] = [];
  let cur = data;
  for (const part of pointer.slice(1).split('/')) {
    const seg = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function valueAt(data: unknown, path: PathSegment[]): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the fraction ${v}`;
  return `${typeof v} ${String(v)}`;
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping (key: value lines)',
  array: 'a list (like [a, b] or "- a" lines)',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
};

/** Schema object for a path of the data, to list the allowed keys in "unknown key" errors. */
function schemaAt(path: PathSegment[]): Record<string, unknown> | undefined {
  let s: Record<string, unknown> | undefined = configSchema as unknown as Record<string, unknown>;
  for (const seg of path) {
    if (!s) return undefined;
    if (typeof seg === 'number') s = s.items as Record<string, unknown> | undefined;
    else s = (s.properties as Record<string, Record<string, unknown>> | undefined)?.[seg];
  }
  return s;
}

function reportSchemaError(err: ErrorObject, raw: unknown, ctx: Context): void {
  const path = decodePointer(err.instancePath, raw);
  const value = valueAt(raw, path);
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = Object.keys((schemaAt(path)?.properties as object | undefined) ?? {});
      const guess = closest(key, allowed);
      const hint = guess ? `did you mean "${guess}"?` : `allowed keys here: ${allowed.join(', ')}`;
      ctx.errorAt([...path, key], `unknown key "${key}"; ${hint}`, true);
      return;
    }
    case 'required':
      ctx.errorAt(path, `missing required key "${String(params.missingProperty)}"`);
      return;
    case 'type': {
      const want = String(params.type)
        .split(',')
        .map((t) => TYPE_WORDS[t] ?? t)
        .join(' or ');
      ctx.errorAt(path, `expected ${want}, got ${describe(value)}`);
      return;
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const guess = typeof value === 'string' ? closest(value, allowed) : undefined;
      ctx.errorAt(
        path,
        `${describe(value)} is not allowed; ${guess ? `did you mean "${guess}"? ` : ''}use one of: ${allowed.join(', ')}`,
      );
      return;
    }
    case 'minimum':
    case 'maximum':
      ctx.errorAt(path, `${describe(value)} is out of range; it must be ${params.comparison} ${params.limit}`);
      return;
    case 'minItems':
      ctx.errorAt(
        path,
        path.length === 1 && path[0] === 'rollups'
          ? 'must name at least one rollup; leave "rollups" out to use the default families'
          : `must have at least ${params.limit} entr${params.limit === 1 ? 'y' : 'ies'}`,
      );
      return;
    case 'minLength':
      ctx.errorAt(path, 'must not be empty');
      return;
    case 'uniqueItems':
      ctx.errorAt(path, `lists the same value twice (entries ${params.j} and ${params.i}); keep one`);
      return;
    default:
      ctx.errorAt(path, err.message ?? 'is not valid');
  }
}

/** The allowed word nearest to `word`, if it is plausibly a typo of it. */
function closest(word: string, allowed: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const a of allowed) {
    const d = editDistance(word.toLowerCase(), a.toLowerCase());
    if (d < bestDist) {
      bestDist = d;
      best = a;
    }
  }
  // Short words are close to many others by chance: allow fewer edits for them.
  const maxDist = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  if (best !== undefined && bestDist <= maxDist) return best;
  // "warning" for "warn", "local_networks_v4" for "local_networks": one is a prefix of the other.
  const w = word.toLowerCase();
  return allowed.find((a) => a.length >= 3 && w.length >= 3 && (w.startsWith(a.toLowerCase()) || a.toLowerCase().startsWith(w)));
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

// ---------------------------------------------------------------------------------------------
// Checks the schema cannot express. Each one only looks at values of the right type, so a
// schema error elsewhere never hides these (all problems are reported in one go).

const HOST_PORT_HINT = 'expected host:port like "0.0.0.0:2055" (IPv6 as "[::]:2055")';

/** Returns an error message, or undefined when `text` is a usable listen address. */
export function checkListenAddress(text: string): string | undefined {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]+)$/.exec(text);
  if (!m) {
    if (isIP(text) === 6) return `${JSON.stringify(text)} is an IPv6 address without a port, or an IPv6 host without brackets; ${HOST_PORT_HINT}`;
    if (isIP(text) === 4) return `${JSON.stringify(text)} has no port; ${HOST_PORT_HINT}`;
    return `${JSON.stringify(text)} is not host:port; ${HOST_PORT_HINT}`;
  }
  const [, v6, host, portText] = m;
  if (v6 !== undefined && isIP(v6) !== 6) return `"[${v6}]" is not an IPv6 address; ${HOST_PORT_HINT}`;
  if (host && isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
    return `"${host}" is neither an IP address nor a host name; ${HOST_PORT_HINT}`;
  }
  const port = Number(portText);
  if (port > 65535) return `port ${port} is above 65535; ${HOST_PORT_HINT}`;
  return undefined;
}

/** Returns an error message, or undefined when `text` is a CIDR (or, with allowBareIp, a single address). */
export function checkCidr(text: string, allowBareIp = true): string | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  const example = 'like "10.0.0.0/8" or "fd00::/8"';
  if (family === 0) return `${JSON.stringify(text)} is not a CIDR; expected address/prefix ${example}`;
  if (addr.includes('%')) return `${JSON.stringify(text)}: zone indexes (%...) are not allowed here`;
  if (slash < 0) return allowBareIp ? undefined : `${JSON.stringify(text)} has no prefix length; expected ${example}`;
  const lenText = text.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > max) {
    return `${JSON.stringify(text)}: prefix length must be 0-${max} for IPv${family}`;
  }
  const len = Number(lenText);
  const bytes = new Uint8Array(16);
  parseAddress(addr, bytes);
  const width = family === 4 ? 4 : 16;
  let hostBits = false;
  for (let bit = len; bit < width * 8; bit++) {
    if (bytes[bit >> 3] & (0x80 >> (bit & 7))) {
      hostBits = true;
      break;
    }
  }
  if (hostBits) {
    for (let bit = len; bit < width * 8; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
    const net = family === 4 ? Array.from(bytes.subarray(0, 4)).join('.') : formatV6(bytes);
    return `${JSON.stringify(text)} has host bits set; did you mean "${net}/${len}"?`;
  }
  return undefined;
}

function formatV6(b: Uint8Array): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] << 8) | b[i + 1]).toString(16));
  // Compress the longest run of zero words, as addresses are usually written.
  const s = words.join(':');
  const runs = s.match(/(?:^|:)0(?::0)+(?::|$)/g);
  if (!runs) return s;
  const longest = runs.reduce((a, r) => (r.length > a.length ? r : a));
  return s.replace(longest, '::');
}

const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i;
const MAC_DOTTED = /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i;

/** Lower-case colon form of a MAC address, or undefined when `text` is not one. */
export function normalizeMac(text: string): string | undefined {
  let hex: string;
  if (MAC.test(text)) hex = text.replace(/[:-]/g, '');
  else if (MAC_DOTTED.test(text)) hex = text.replace(/\./g, '');
  else return undefined;
  return hex.toLowerCase().match(/../g)!.join(':');
}

export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  'ipv6-icmp': 58,
  ospf: 89,
  sctp: 132,
};

function parseProtocol(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 255 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  if (/^[0-9]{1,3}$/.test(v)) return parseProtocol(Number(v));
  return PROTOCOL_NUMBERS[v.toLowerCase()];
}

function parsePortSpec(v: unknown): number | [number, number] | string {
  const bad = (why: string): string => `${why}; expected a port 1-65535 or a range like "6000-6010"`;
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 && v <= 65535 ? v : bad(`port ${v} is out of range`);
  if (typeof v !== 'string') return bad('not a port');
  const m = /^\s*([0-9]{1,5})\s*(?:-\s*([0-9]{1,5})\s*)?$/.exec(v);
  if (!m) return bad(`${JSON.stringify(v)} is not a port or range`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535 || lo > 65535) return bad(`${JSON.stringify(v)} is out of range`);
  if (lo > hi) return bad(`${JSON.stringify(v)} runs backwards (${lo} > ${hi})`);
  return m[2] === undefined ? lo : [lo, hi];
}

/** Prometheus metric name, without colons (those are for recording rules). */
const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function checkSemantics(raw: Record<string, unknown>, ctx: Context): void {
  const listen = asObject(raw.listen);
  if (listen) {
    if (typeof listen.http === 'string' && listen.http !== '') {
      const msg = checkListenAddress(listen.http);
      if (msg) ctx.errorAt(['listen', 'http'], `${msg}; or "" to turn HTTP off`);
    }
    // Two UDP listeners on one address would fail at bind time; say so now, with both lines.
    const udpSeen = new Map<string, string>();
    for (const kind of ['netflow', 'sflow'] as const) {
      asArray(listen[kind]).forEach((addr, i) => {
        if (typeof addr !== 'string') return;
        const msg = checkListenAddress(addr);
        if (msg) {
          ctx.errorAt(['listen', kind, i], msg);
          return;
        }
        if (addr.endsWith(':0')) return; // port 0: the kernel picks a distinct port for each
        const prev = udpSeen.get(addr);
        if (prev) ctx.errorAt(['listen', kind, i], `"${addr}" is already used by ${prev}; each UDP listener needs its own address`);
        else udpSeen.set(addr, formatPath(['listen', kind, i]));
      });
    }
  }

  asArray(raw.exporter_allowlist).forEach((c, i) => {
    if (typeof c === 'string') {
      const msg = checkCidr(c);
      if (msg) ctx.errorAt(['exporter_allowlist', i], msg);
    }
  });
  asArray(raw.local_networks).forEach((c, i) => {
    if (typeof c === 'string') {
      const msg = checkCidr(c);
      if (msg) ctx.errorAt(['local_networks', i], msg);
    }
  });

  const overrides = asObject(asObject(raw.netflow)?.sampling_rate_overrides);
  for (const key of Object.keys(overrides ?? {})) {
    if (isIP(key) === 0) {
      ctx.errorAt(['netflow', 'sampling_rate_overrides', key], `"${key}" is not an exporter IP address; key each override by the exporter's address, like "192.0.2.1": 100`, true);
    }
  }

  const inventoryMatches = new Map<string, string>();
  asArray(raw.inventory).forEach((entry, i) => {
    const match = asObject(entry)?.match;
    if (typeof match !== 'string') return;
    let normalized = match;
    if (isIP(match) === 0 && !match.includes('/')) {
      const mac = normalizeMac(match);
      if (!mac) {
        ctx.errorAt(['inventory', i, 'match'], `${JSON.stringify(match)} is not an IP address, CIDR or MAC address (like "192.168.1.20", "192.168.1.0/24" or "aa:bb:cc:dd:ee:ff")`);
        return;
      }
      normalized = mac;
    } else {
      const msg = checkCidr(match);
      if (msg) {
        ctx.errorAt(['inventory', i, 'match'], msg);
        return;
      }
    }
    const prev = inventoryMatches.get(normalized);
    if (prev) ctx.errorAt(['inventory', i, 'match'], `"${match}" is already matched by ${prev}; each address, network or MAC can name one device`);
    else inventoryMatches.set(normalized, formatPath(['inventory', i]));
  });

  asArray(raw.apps).forEach((entry, i) => {
    const app = asObject(entry);
    if (!app) return;
    if (app.protocol !== undefined && (typeof app.protocol === 'string' || typeof app.protocol === 'number')) {
      if (parseProtocol(app.protocol) === undefined) {
        ctx.errorAt(['apps', i, 'protocol'], `unknown protocol ${JSON.stringify(app.protocol)}; use ${Object.keys(PROTOCOL_NUMBERS).join(', ')} or a number 0-255`);
      }
    }
    asArray(app.ports).forEach((p, j) => {
      if (typeof p !== 'string' && typeof p !== 'number') return;
      const parsed = parsePortSpec(p);
      if (typeof parsed === 'string') ctx.errorAt(['apps', i, 'ports', j], parsed);
    });
  });

  asArray(raw.peer_networks).forEach((entry, i) => {
    const match = asObject(entry)?.match;
    if (typeof match === 'string') {
      const msg = checkCidr(match);
      if (msg) ctx.errorAt(['peer_networks', i, 'match'], msg);
    }
  });

  checkOtlpSection(raw.otlp, (path, message, atKey) => ctx.errorAt(path, message, atKey));
  checkCloudFlowLogsSection(raw.cloud_flow_logs, (path, message, atKey) => ctx.errorAt(path, message, atKey));

  checkMeasureConfig(raw, (path, message) => ctx.errorAt(path, message));

  checkSelection(raw.rollup_selection, ['rollup_selection'], ctx);
  const rollupNames = new Map<string, string>();
  asArray(raw.rollups).forEach((entry, i) => {
    const r = asObject(entry);
    if (!r) return;
    checkSelection(r.selection, ['rollups', i, 'selection'], ctx);
    if (typeof r.name === 'string' && r.name !== '') {
      if (!METRIC_NAME.test(r.name)) {
        ctx.errorAt(['rollups', i, 'name'], `"${r.name}" is not a valid Prometheus metric name prefix; use letters, digits and underscores, not starting with a digit (like "flow_peer")`);
      } else if (r.name.startsWith('flowgauge_')) {
        ctx.errorAt(['rollups', i, 'name'], `"${r.name}": the flowgauge_ prefix is reserved for flowgauge's own metrics; pick another name`);
      } else if (/_(total|bytes|packets|flows)$/.test(r.name)) {
        ctx.errorAt(['rollups', i, 'name'], `"${r.name}" ends in a suffix flowgauge appends itself (_bytes_total, _packets_total, _flows_total); drop it`);
      }
      const prev = rollupNames.get(r.name);
      if (prev) ctx.errorAt(['rollups', i, 'name'], `rollup name "${r.name}" is already used by ${prev}; rollup names must be unique`);
      else rollupNames.set(r.name, formatPath(['rollups', i]));
    }
    const labels = asArray(r.labels).filter((l): l is string => typeof l === 'string');
    // The engine refuses such a rollup at start; say so here, where the key and line are known.
    const minBudget = minimumBudget(labels.length);
    if (Number.isInteger(r.budget) && labels.length > 0 && (r.budget as number) >= 1 && (r.budget as number) < minBudget) {
      ctx.errorAt(
        ['rollups', i, 'budget'],
        `budget ${String(r.budget)} cannot hold the rollup's own "other" rows: with ${labels.length} labels it needs at least ${minBudget} ` +
          `(${labels.length - 1} partially folded row(s) such as (${labels[0]}, other), plus 1 all-"other" row)`,
      );
    }
    asArray(r.fallback).forEach((l, j) => {
      if (typeof l === 'string' && (ROLLUP_LABELS as readonly string[]).includes(l) && !labels.includes(l)) {
        ctx.errorAt(['rollups', i, 'fallback', j], `"${l}" is not one of this rollup's labels (${labels.join(', ')}); fallback can only fold labels the rollup has`);
      }
    });
  });
}

/** The duration keys of a `selection:` map, their RollupSelection names, and whether 0 makes sense. */
const SELECTION_DURATIONS = [
  ['half_life', 'halfLifeMs', false],
  ['admit_after', 'admitAfterMs', true],
  ['evict_after', 'evictAfterMs', true],
  ['readmit_holdoff', 'readmitHoldoffMs', true],
] as const;
/** Longest selection duration accepted: a week. Longer is a typo (a half-life of months never forgets). */
const MAX_SELECTION_MS = 7 * 86_400_000;
const ZERO_DURATION = /^\s*0+(?:\.0+)?\s*(?:ms|s|m|h)?\s*$/;

/** Milliseconds of a selection duration; 0 only where `allowZero`; undefined when not a duration. */
function selectionDurationMs(v: unknown, allowZero: boolean): number | undefined {
  if (allowZero && (v === 0 || (typeof v === 'string' && ZERO_DURATION.test(v)))) return 0;
  return parseDuration(v);
}

function checkSelection(v: unknown, path: PathSegment[], ctx: Context): void {
  const sel = asObject(v);
  if (!sel) return;
  for (const [key, , allowZero] of SELECTION_DURATIONS) {
    const value = sel[key];
    if (typeof value !== 'number' && typeof value !== 'string') continue;
    const ms = selectionDurationMs(value, allowZero);
    if (ms === undefined) {
      ctx.errorAt(
        [...path, key],
        `${JSON.stringify(value)} is not a ${allowZero ? '' : 'positive '}duration; write seconds (600) or a number with a unit ("30s", "10m", "1h")`,
      );
    } else if (ms > MAX_SELECTION_MS) {
      ctx.errorAt([...path, key], `${JSON.stringify(value)} is longer than a week; use at most "168h"`);
    }
  }
}

/** RollupSelection of a valid raw `selection:` map. */
function buildSelection(raw: Record<string, unknown> | undefined): RollupSelection {
  const out: RollupSelection = {};
  if (!raw) return out;
  for (const [key, name, allowZero] of SELECTION_DURATIONS) {
    if (raw[key] !== undefined) out[name] = selectionDurationMs(raw[key], allowZero);
  }
  if (typeof raw.margin === 'number') out.margin = raw.margin;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Valid raw object -> FlowgaugeConfig

function buildConfig(raw: Record<string, unknown>): FlowgaugeConfig {
  const cfg = defaultConfig();
  const r = raw as {
    listen?: { http?: string; netflow?: string[]; sflow?: string[] };
    exporter_allowlist?: string[];
    netflow?: {
      receive_buffer_bytes?: number;
      default_sampling_rate?: number;
      sampling_rate_overrides?: Record<string, number>;
      pending_records_per_exporter?: number;
    };
    local_networks?: string[];
    inventory?: InventoryEntry[];
    apps?: Array<{ name: string; protocol?: string | number; ports: Array<number | string> }>;
    peer_networks?: PeerNetwork[];
    rollups?: Array<{ name: string; labels: RollupLabel[]; budget: number; fallback?: RollupLabel[]; help?: string; selection?: Record<string, unknown> }>;
    rollup_selection?: Record<string, unknown>;
    interfaces?: { budget?: number; idle_seconds?: number };
    state_dir?: string;
    web_config_file?: string;
    limits?: { max_exporters?: number; exporter_idle_seconds?: number };
    ingest?: { workers?: number; flow_key_cache_entries?: number };
    log?: { level?: (typeof LOG_LEVELS)[number] };
  };
  if (r.listen) {
    if (r.listen.http !== undefined) cfg.listen.http = r.listen.http;
    if (r.listen.netflow) cfg.listen.netflow = r.listen.netflow;
    if (r.listen.sflow) cfg.listen.sflow = r.listen.sflow;
  }
  if (r.exporter_allowlist) cfg.exporterAllowlist = r.exporter_allowlist;
  if (r.netflow) {
    const n = r.netflow;
    if (n.receive_buffer_bytes !== undefined) cfg.netflow.receiveBufferBytes = n.receive_buffer_bytes;
    if (n.default_sampling_rate !== undefined) cfg.netflow.defaultSamplingRate = n.default_sampling_rate;
    if (n.sampling_rate_overrides) {
      // Keyed the way the pipeline prints exporter addresses, so "2001:DB8::1" finds 2001:db8::1.
      const out: Record<string, number> = {};
      const buf = new Uint8Array(16);
      for (const [addr, rate] of Object.entries(n.sampling_rate_overrides)) out[formatAddress(parseAddress(addr, buf), buf)] = rate;
      cfg.netflow.samplingRateOverrides = out;
    }
    if (n.pending_records_per_exporter !== undefined) cfg.netflow.pendingRecordsPerExporter = n.pending_records_per_exporter;
  }
  if (r.local_networks) cfg.localNetworks = r.local_networks;
  if (r.inventory) {
    cfg.inventory = r.inventory.map((e) => {
      const out: InventoryEntry = { match: normalizeMac(e.match) ?? e.match, name: e.name };
      if (e.type !== undefined) out.type = e.type;
      if (e.site !== undefined) out.site = e.site;
      return out;
    });
  }
  if (r.apps) {
    cfg.apps = r.apps.map((a) => {
      const out: AppRule = { name: a.name, ports: a.ports.map((p) => parsePortSpec(p) as number | [number, number]) };
      if (a.protocol !== undefined) out.protocol = parseProtocol(a.protocol);
      return out;
    });
  }
  if (r.peer_networks) cfg.peerNetworks = r.peer_networks.map((p) => ({ match: p.match, name: p.name }));
  if (r.rollups) {
    cfg.rollups = r.rollups.map((x) => {
      const out: RollupDefinition = { name: x.name, labels: [...x.labels], budget: x.budget };
      if (x.fallback) out.fallback = [...x.fallback];
      if (x.help !== undefined) out.help = x.help;
      if (x.selection !== undefined) out.selection = buildSelection(x.selection);
      return out;
    });
  }
  // The top-level defaults apply to every rollup, the built-in ones included; a rollup's own keys win.
  const sharedSelection = buildSelection(r.rollup_selection);
  if (Object.keys(sharedSelection).length > 0) {
    for (const def of cfg.rollups) def.selection = { ...sharedSelection, ...def.selection };
  }
  if (r.interfaces?.budget !== undefined) cfg.interfaces.budget = r.interfaces.budget;
  if (r.interfaces?.idle_seconds !== undefined) cfg.interfaces.idleSeconds = r.interfaces.idle_seconds;
  if (raw.otlp !== undefined) cfg.otlp = buildOtlpConfig(raw.otlp);
  if (raw.cloud_flow_logs !== undefined) cfg.cloudFlowLogs = buildCloudFlowLogSources(raw.cloud_flow_logs);
  applyMeasureConfig(raw, cfg);
  if (r.state_dir !== undefined) cfg.stateDir = r.state_dir;
  if (r.web_config_file !== undefined) cfg.webConfigFile = r.web_config_file;
  if (r.limits?.max_exporters !== undefined) cfg.limits.maxExporters = r.limits.max_exporters;
  if (r.limits?.exporter_idle_seconds !== undefined) cfg.limits.exporterIdleSeconds = r.limits.exporter_idle_seconds;
  if (r.ingest !== undefined) {
    cfg.ingest = { workers: r.ingest.workers ?? cfg.ingest?.workers ?? 1 };
    if (r.ingest.flow_key_cache_entries !== undefined) cfg.ingest.flowKeyCacheEntries = r.ingest.flow_key_cache_entries;
  }
  if (r.log?.level) cfg.log.level = r.log.level;
  return cfg;
}
