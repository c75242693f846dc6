/**
 * A short run of the decoder fuzzer (`npm run fuzz` runs a million datagrams per decoder): for each
 * of NetFlow v5, NetFlow v9, IPFIX and sFlow, mutated corpus datagrams and chains against one
 * long-lived exporter state. Nothing but DecodeError escapes, every datagram decodes within its time
 * and work bounds, records stay sane and conserved through enrich and rollup, the state stays within
 * its limits and still decodes good input afterwards.
 *
 * Also replays the saved regression inputs (test/fuzz/regressions/*.json, written by the fuzzer into
 * fuzz/findings/ and moved here once fixed), and the failures other collectors are known for.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IE } from '../src/decoders/information-elements.js';
import { DecoderHarness } from './fuzz/harness.js';
import { runFuzz } from './fuzz/engine.js';
import { mutate, MUTATIONS, Rng, structureOf } from './fuzz/mutator.js';
import type { FuzzProtocol } from './fuzz/seeds.js';
import { edgePayloads, ipfixMessage, ipfixTemplate, set, v9Packet, v9Template, Writer } from './decoders-netflow-helpers.js';
import { datagram, ethernet, flowSample, ipv4, rawHeader, tcp } from './decoders-sflow-builder.js';

const PROTOCOLS: FuzzProtocol[] = ['netflow5', 'netflow9', 'ipfix', 'sflow'];
/** Per decoder in the test suite: about a second each. */
const SHORT_RUN = Number(process.env.FLOWGAUGE_FUZZ_INPUTS ?? 30_000);

describe('decoder fuzzing (short run)', () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol}: ${SHORT_RUN} mutated datagrams, no failure, state within limits`, () => {
      const report = runFuzz({ protocol, inputs: SHORT_RUN, seed: 20240601, checkEvery: 5_000 });
      expect(report.failures.map((f) => `${f.message.split('\n')[0]} <- ${f.input.join(' ')}`)).toEqual([]);
      expect(report.inputs).toBeGreaterThanOrEqual(SHORT_RUN);
      // The run exercised both sides: rejected datagrams and decoded records, and the canary checks ran.
      expect(Object.values(report.rejected).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(report.records).toBeGreaterThan(0);
      expect(report.canaryChecks).toBeGreaterThanOrEqual(SHORT_RUN / 5_000);
      expect(report.distinctOutcomes).toBeGreaterThan(50);
    });
  }
});

describe('mutator', () => {
  it('never modifies its input and stays within a UDP payload', () => {
    const rng = new Rng(7);
    const base = edgePayloads('softflowd-ipfix')[0];
    const copy = base.slice();
    for (let i = 0; i < 20_000; i++) {
      const out = mutate(rng, base, copy, MUTATIONS[i % MUTATIONS.length]);
      expect(out.length).toBeLessThanOrEqual(65507);
    }
    expect(Buffer.compare(Buffer.from(base), Buffer.from(copy))).toBe(0);
  });

  it('finds the length and template fields of each protocol', () => {
    const kinds = (b: Uint8Array): Set<string> => new Set(structureOf(b).map((f) => f.kind));
    expect(kinds(edgePayloads('softflowd-v9')[0])).toEqual(new Set(['count', 'id', 'value', 'length', 'fieldType', 'fieldLength']));
    expect(kinds(edgePayloads('softflowd-ipfix')[0])).toContain('fieldLength');
    expect(kinds(edgePayloads('pmacctd-sfprobe-rate1')[0])).toContain('length');
  });
});

describe('regression inputs', () => {
  it('every saved input in test/fuzz/regressions decodes without failure', () => {
    const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fuzz', 'regressions');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    for (const file of files) {
      const saved = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { protocol: FuzzProtocol; input: string[] };
      const h = new DecoderHarness(saved.protocol);
      let nowMs = 1_700_000_100_000;
      for (const hex of saved.input) h.feed(Buffer.from(hex, 'hex'), (nowMs += 10));
      h.check();
    }
  });
});

describe('failures other collectors are known for', () => {
  it('a template id reused by two observation domains of one exporter keeps both layouts (keyed by domain, not address)', () => {
    const h = new DecoderHarness('ipfix');
    const small = ipfixTemplate(256, [
      [IE.sourceIPv4Address, 4],
      [IE.destinationIPv4Address, 4],
      [IE.octetDeltaCount, 4],
    ]);
    const wide = ipfixTemplate(256, [
      [IE.sourceIPv4Address, 4],
      [IE.destinationIPv4Address, 4],
      [IE.octetDeltaCount, 8],
      [IE.packetDeltaCount, 8],
    ]);
    const rec12 = new Writer().ipv4('10.0.0.1').ipv4('192.0.2.1').u32(100).done();
    const rec24 = new Writer().ipv4('10.0.0.2').ipv4('192.0.2.2').u64(200).u64(2).done();
    h.feed(ipfixMessage({ domain: 1 }, set(2, small)), 1);
    h.feed(ipfixMessage({ domain: 2 }, set(2, wide)), 2);
    h.feed(ipfixMessage({ domain: 1, seq: 0 }, set(256, rec12)), 3);
    h.feed(ipfixMessage({ domain: 2, seq: 0 }, set(256, rec24)), 4);
    expect(h.recordsSunk).toBe(2);
    const exporter = h.rollups.family('flow_exporter')!.snapshot();
    expect(exporter.bytes.reduce((a, b) => a + b, 0)).toBe(300);
  });

  it('a template with a zero-length field is refused instead of looping on zero-length records', () => {
    const h = new DecoderHarness('netflow9');
    const tpl = v9Template(300, [
      [IE.sourceIPv4Address, 0],
      [IE.octetDeltaCount, 0],
    ]);
    h.feed(v9Packet({ seq: 1 }, set(0, tpl), set(300, new Uint8Array(1000))), 1);
    expect(h.counters.errors.get('bad_template')).toBe(1);
    expect(h.recordsSunk).toBe(0);
    h.check();
  });

  it('one truncated datagram does not stop decoding of the next ones', () => {
    const good = edgePayloads('softflowd-v9');
    const h = new DecoderHarness('netflow9');
    for (const cut of [1, 3, 19, 21, 30, good[0].length - 1]) h.feed(good[0].subarray(0, cut), cut);
    for (const d of good) h.feed(d, 100);
    expect(h.recordsSunk).toBeGreaterThanOrEqual(44);
  });

  it('expanded sFlow flow samples decode', () => {
    const h = new DecoderHarness('sflow');
    const frame = ethernet(0x0800, ipv4('192.168.1.10', '192.0.2.1', 6, tcp(40000, 443, 0x18)));
    h.feed(datagram({ samples: [flowSample({ expanded: true, input: 0xffffffff, records: [rawHeader(frame, 1000)] })] }), 1);
    expect(h.recordsSunk).toBe(1);
    expect(h.counters.errors.size).toBe(0);
  });
});
