/**
 * The fuzzing loop: picks an input from the pool, mutates it (a few stacked mutations of one of its
 * datagrams, sometimes a chain of two pool entries), feeds it to one long-lived exporter state (or,
 * now and then, a fresh one), and keeps inputs that produced an outcome not seen before (a new
 * combination of error reasons, rejection reason, record count class, template and pending
 * changes). That outcome feedback stands in for code coverage, which a JavaScript engine does not
 * report cheaply per input.
 *
 * Every so often the state is checked against its limits and the rollups against conservation, and
 * a known-good canary input is fed to the long-lived state: it must still decode (a decoder that
 * wedges itself after bad input, as some collectors do, fails here).
 */
import { DecoderHarness, FuzzFailure, REASONS, type FailureKind, type HarnessOptions, type StateSize } from './harness.js';
import { mutate, Rng } from './mutator.js';
import { seedsFor, type FuzzProtocol, type Seed } from './seeds.js';

export interface FuzzOptions extends HarnessOptions {
  protocol: FuzzProtocol;
  /** Datagrams to decode (each datagram of a chained input counts). */
  inputs: number;
  seed?: number;
  /** State and rollup checks every this many datagrams. */
  checkEvery?: number;
  /** Share of inputs fed to a fresh state instead of the long-lived one. */
  freshShare?: number;
  /** Largest pool of kept inputs. */
  maxPool?: number;
  /** Stop after this many failures (each is recorded with its input). */
  maxFailures?: number;
  /** Called every checkEvery datagrams. */
  onProgress?: (done: number) => void;
  /** Called before each input is fed, with the datagrams about to go in (for hang reports). */
  onInput?: (input: Seed) => void;
  /** Seeds to use instead of the protocol's own (tests, regression replays). */
  seeds?: Seed[];
}

export interface FuzzFailureReport {
  kind: FailureKind;
  message: string;
  /** The input, hex per datagram, in the order fed. */
  input: string[];
  /** Fed to the long-lived state (its history matters) or to a fresh one. */
  state: 'long-lived' | 'fresh';
}

export interface FuzzReport {
  protocol: FuzzProtocol;
  seed: number;
  /** Datagrams decoded. */
  inputs: number;
  seconds: number;
  inputsPerSecond: number;
  /** Datagrams rejected whole with DecodeError, by reason. */
  rejected: Record<string, number>;
  /** Records that went through enrich and rollup. */
  records: number;
  distinctOutcomes: number;
  pool: number;
  seeds: number;
  slowestMs: number;
  /** Datagrams over the time budget once but fast when decoded again (GC or scheduling pauses). */
  pauses: number;
  canaryChecks: number;
  /** The long-lived state at the end, and its largest size at any check. */
  finalState: StateSize;
  peakState: StateSize;
  failures: FuzzFailureReport[];
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export function runFuzz(options: FuzzOptions): FuzzReport {
  const seed = options.seed ?? 1;
  const rng = new Rng(seed);
  const checkEvery = options.checkEvery ?? 20_000;
  const freshShare = options.freshShare ?? 0.15;
  const maxPool = options.maxPool ?? 4096;
  const maxFailures = options.maxFailures ?? 10;
  const seeds = options.seeds ?? seedsFor(options.protocol);
  if (seeds.length === 0) throw new Error(`no seeds for ${options.protocol}`);

  const longLived = new DecoderHarness(options.protocol, options);
  const fresh = new DecoderHarness(options.protocol, options);
  const pool: Seed[] = seeds.slice();
  const outcomes = new Set<number>();
  const rejected: Record<string, number> = {};
  const failures: FuzzFailureReport[] = [];
  const peak = longLived.size();
  let canaryChecks = 0;

  // The canary: the seed that yields the most records from a fresh state.
  let canary: Seed = seeds[0];
  let canaryRecords = -1;
  for (const s of seeds) {
    const h = new DecoderHarness(options.protocol, options);
    let nowMs = 1_700_000_100_000;
    for (const d of s) h.feed(d, (nowMs += 10));
    if (h.recordsSunk > canaryRecords) {
      canaryRecords = h.recordsSunk;
      canary = s;
    }
  }

  let nowMs = 1_700_000_100_000;
  // The canary's domains and templates exist from the start, so a state filled to its limits by
  // what follows must still decode it.
  for (const dg of canary) longLived.feed(dg, (nowMs += 10));
  let done = 0;
  let nextCheck = checkEvery;
  const started = process.hrtime.bigint();

  while (done < options.inputs && failures.length < maxFailures) {
    const parent = pool[rng.below(pool.length)];
    const input: Seed = parent.slice();
    if (rng.chance(0.05) && input.length < 4) {
      const more = pool[rng.below(pool.length)];
      for (const d of more) if (input.length < 4) input.push(d);
    }
    const at = rng.below(input.length);
    let d = input[at];
    const stack = 1 + (rng.chance(0.5) ? 0 : rng.below(4));
    for (let k = 0; k < stack; k++) {
      const donor = pool[rng.below(pool.length)];
      d = mutate(rng, d, donor[rng.below(donor.length)]);
    }
    input[at] = d;
    // Sometimes mutate a second datagram of a chain too (a template and its data both damaged).
    if (input.length > 1 && rng.chance(0.2)) {
      const j = rng.below(input.length);
      input[j] = mutate(rng, input[j], undefined);
    }

    const useFresh = rng.chance(freshShare);
    const h = useFresh ? fresh : longLived;
    if (useFresh) h.resetState();
    options.onInput?.(input);
    let signature = 0;
    try {
      for (const dg of input) {
        // Time moves on slowly; sometimes it jumps (held sets and templates age out).
        nowMs += rng.chance(0.001) ? 600_000 : 1 + rng.below(50);
        const sig = h.feed(dg, nowMs);
        signature = (signature * 31 + sig) % 2147483647;
        const thrownIndex = (sig >> 11) & 15;
        if (thrownIndex > 0) {
          const reason = REASONS[thrownIndex - 1];
          rejected[reason] = (rejected[reason] ?? 0) + 1;
        }
        done++;
      }
    } catch (err) {
      if (!(err instanceof FuzzFailure)) throw err;
      failures.push({ kind: err.kind, message: err.message, input: input.map(hex), state: useFresh ? 'fresh' : 'long-lived' });
      // Start over from clean states: the failure may have left them inconsistent.
      longLived.resetState();
      for (const dg of canary) longLived.feed(dg, (nowMs += 10));
      continue;
    }
    if (!outcomes.has(signature)) {
      outcomes.add(signature);
      if (pool.length < maxPool) pool.push(input);
      else pool[seeds.length + rng.below(maxPool - seeds.length)] = input;
    }

    if (done >= nextCheck || done >= options.inputs) {
      nextCheck = done + checkEvery;
      try {
        longLived.check();
        fresh.check();
        const s = longLived.size();
        for (const k of Object.keys(s) as Array<keyof StateSize>) if (s[k] > peak[k]) peak[k] = s[k];
        // The long-lived state must still decode a known-good input.
        const before = longLived.recordsSunk;
        const refusedBefore = longLived.counters.errors.get('template_limit') ?? 0;
        for (const dg of canary) longLived.feed(dg, (nowMs += 10));
        canaryChecks++;
        // A template refused because its domain is full of other templates is the limit working.
        const refused = (longLived.counters.errors.get('template_limit') ?? 0) > refusedBefore;
        if (longLived.recordsSunk === before && canaryRecords > 0 && !refused) {
          throw new FuzzFailure('wedged', 'the long-lived state no longer decodes the canary input');
        }
      } catch (err) {
        if (!(err instanceof FuzzFailure)) throw err;
        failures.push({ kind: err.kind, message: err.message, input: canary.map(hex), state: 'long-lived' });
        longLived.resetState();
        for (const dg of canary) longLived.feed(dg, (nowMs += 10));
      }
      options.onProgress?.(done);
    }
  }

  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    protocol: options.protocol,
    seed,
    inputs: done,
    seconds,
    inputsPerSecond: done / seconds,
    rejected,
    records: longLived.recordsSunk + fresh.recordsSunk,
    distinctOutcomes: outcomes.size,
    pool: pool.length,
    seeds: seeds.length,
    slowestMs: Math.max(longLived.maxMsSeen, fresh.maxMsSeen),
    pauses: longLived.pauses + fresh.pauses,
    canaryChecks,
    finalState: longLived.size(),
    peakState: peak,
    failures,
  };
}
