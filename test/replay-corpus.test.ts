/**
 * Every edge capture of the corpus, replayed offline through the whole pipeline (decode, enrich,
 * rollup, exposition), gives the third-party oracle's numbers exactly: in total (exporter rollup) and
 * per host pair (peer rollup, oriented device -> peer).
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config/defaults.js';
import { runReplay } from '../src/replay.js';
import { corpusOracle, corpusPath } from './helpers/corpus.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import { assertMetricsMatch, EDGE_FILES, expectedFromOracle } from './helpers/oracle-metrics.js';

async function replayToText(files: string[]): Promise<string> {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  const code = await runReplay({ ...DEFAULT_CONFIG }, files, out);
  expect(code).toBe(0);
  return text;
}

describe('flowgauge replay on the edge corpus', () => {
  for (const name of EDGE_FILES) {
    it(`${name}: totals and per-host-pair counters equal the oracle`, async () => {
      const oracle = corpusOracle(`edge/${name}.json`);
      const samples = parseExposition(await replayToText([corpusPath(`edge/${name}.pcap`)]));
      assertMetricsMatch(samples, expectedFromOracle(oracle));
      // Nothing was lost or rejected on the way.
      expect(sumOf(samples, 'flowgauge_decode_errors_total')).toBe(0);
      expect(sumOf(samples, 'flowgauge_sequence_gap_datagrams_total')).toBe(0);
      expect(sumOf(samples, 'flowgauge_sequence_gap_records_total')).toBe(0);
      expect(sumOf(samples, 'flowgauge_template_misses_total')).toBe(0);
      expect(sumOf(samples, 'flowgauge_datagrams_total')).toBe(oracle.datagrams);
    });
  }
});
