/**
 * The pmacctd sfprobe captures replayed through `flowgauge replay`: the interface families carry the
 * counter sample's values exactly as tshark decodes them from the same capture, the sampling
 * self-metrics agree with tshark's sample_pool / drops / sequence numbers, and promtool accepts the
 * whole exposition in both formats.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config/defaults.js';
import { INTERFACE_COUNTERS } from '../src/rollup/interface-counters.js';
import { runReplay } from '../src/replay.js';
import { corpusPath } from './helpers/corpus.js';
import { parseExposition, sumOf, type Sample } from './helpers/exposition.js';

const FILES = ['pmacctd-sfprobe-rate1', 'pmacctd-sfprobe-rate10'] as const;

const found = (cmd: string, arg: string): boolean => spawnSync(cmd, [arg]).error === undefined;
// CI installs tshark and promtool: there a missing one must fail, not skip.
const skipTshark = !found('tshark', '--version') && !process.env.CI;
const skipPromtool = !found('promtool', '--version') && !process.env.CI;

/** tshark's field for each interface counter family (generic interface counters, sflow_245.*). */
const TSHARK_FIELD: Record<string, string> = {
  flow_interface_in_bytes: 'sflow_245.ifinoct',
  flow_interface_in_unicast_packets: 'sflow_245.ifinpkt',
  flow_interface_in_multicast_packets: 'sflow_245.ifinmcast',
  flow_interface_in_broadcast_packets: 'sflow_245.ifinbcast',
  flow_interface_in_discards: 'sflow_245.ifindisc',
  flow_interface_in_errors: 'sflow_245.ifinerr',
  flow_interface_out_bytes: 'sflow_245.ifoutoct',
  flow_interface_out_unicast_packets: 'sflow_245.ifoutpkt',
  flow_interface_out_multicast_packets: 'sflow_245.ifoutmcast',
  flow_interface_out_broadcast_packets: 'sflow_245.ifoutbcast',
  flow_interface_out_discards: 'sflow_245.ifoutdisc',
  flow_interface_out_errors: 'sflow_245.ifouterr',
};

/** One row per packet of `fields` (tab separated; several occurrences in a packet joined by ';'). */
function tshark(pcap: string, filter: string, fields: string[]): string[][] {
  const args = ['-r', pcap, '-d', 'udp.port==6343,sflow', '-Y', filter, '-T', 'fields', '-E', 'separator=/t', '-E', 'aggregator=;'];
  for (const f of fields) args.push('-e', f);
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

async function replay(files: string[], format: 'prometheus' | 'openmetrics' = 'prometheus'): Promise<string> {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  expect(await runReplay({ ...DEFAULT_CONFIG }, files, out, format)).toBe(0);
  return text;
}

function only(samples: Sample[], name: string): Sample[] {
  return samples.filter((s) => s.name === name);
}

describe.skipIf(skipTshark)('interface metrics from the sfprobe counter samples, checked against tshark', () => {
  for (const name of FILES) {
    it(`${name}: every interface family equals tshark's decode of the counter sample`, async () => {
      const pcap = corpusPath(`edge/${name}.pcap`);
      const fields = ['sflow_245.agent', 'sflow_245.ifindex', 'sflow_245.ifspeed', 'sflow_245.ifoper_status', ...INTERFACE_COUNTERS.map((d) => TSHARK_FIELD[d.name])];
      const rows = tshark(pcap, 'sflow_245.ifindex', fields).map((r) => r.map((v) => v.split(';')));
      // sfprobe sends each counter sample alone in its datagram, one generic interface record each.
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) for (const v of r) expect(v).toHaveLength(1);
      const values = rows.map((r) => r.map((v) => v[0]));
      // Counters only grow between these samples, so the exposed counters are the last sample's.
      for (let i = 1; i < values.length; i++) {
        for (let f = 4; f < fields.length; f++) expect(Number(values[i][f])).toBeGreaterThanOrEqual(Number(values[i - 1][f]));
      }
      const last = values[values.length - 1];
      const [agent, ifIndex, ifSpeed, operStatus] = last;
      expect(ifIndex).toBe('1073741823'); // 0x3FFFFFFF: sfprobe reports the device itself
      expect(ifSpeed).toBe('100000000');

      const samples = parseExposition(await replay([pcap]));
      const labels = { exporter: agent, if_index: ifIndex };
      expect(only(samples, 'flow_interface_speed_bytes_per_second')).toEqual([
        { name: 'flow_interface_speed_bytes_per_second', labels, value: Number(ifSpeed) / 8 },
      ]);
      expect(Number(ifSpeed)).toBe(100_000_000);
      expect(only(samples, 'flow_interface_oper_up')).toEqual([{ name: 'flow_interface_oper_up', labels, value: Number(operStatus) === 1 ? 1 : 0 }]);
      expect(Number(operStatus)).toBe(1);
      INTERFACE_COUNTERS.forEach((d, i) => {
        expect(only(samples, `${d.name}_total`), d.name).toEqual([{ name: `${d.name}_total`, labels, value: Number(last[4 + i]) }]);
      });
      // The sample is not trivial: the interface had traffic.
      expect(sumOf(samples, 'flow_interface_in_bytes_total')).toBeGreaterThan(0);
      expect(sumOf(samples, 'flowgauge_interface_series')).toBe(1);
      expect(sumOf(samples, 'flowgauge_interface_records_ignored_total')).toBe(0);
      expect(sumOf(samples, 'flowgauge_interface_decreases_total')).toBe(0);
    });

    it(`${name}: sampling self-metrics equal what tshark's sample_pool, drops and sequence numbers give`, async () => {
      const pcap = corpusPath(`edge/${name}.pcap`);
      const fields = [
        'sflow_245.agent',
        'sflow_245.sub_agent_id',
        // Compact flow samples (all sfprobe sends): the source id class and index of one word.
        'sflow.flow_sample.source_id_class',
        'sflow.flow_sample.index',
        'sflow.flow_sample.sequence_number',
        'sflow.flow_sample.sample_pool',
        'sflow.flow_sample.dropped_packets',
        'sflow.flow_sample.sampling_rate',
      ];
      // Flatten to one entry per flow sample, in capture order.
      const bySource = new Map<string, Array<{ seq: number; pool: number; drops: number; rate: number }>>();
      for (const r of tshark(pcap, 'sflow.flow_sample.sequence_number', fields)) {
        const [agent, subAgent] = r;
        const cols = r.slice(2).map((v) => v.split(';'));
        for (const c of cols) {
          expect(c).toHaveLength(cols[0].length);
          for (const x of c) expect(x).toMatch(/^\d+$/);
        }
        for (let i = 0; i < cols[0].length; i++) {
          const key = `${agent}|${subAgent}|${Number(cols[0][i])}:${Number(cols[1][i])}`;
          let list = bySource.get(key);
          if (!list) bySource.set(key, (list = []));
          list.push({ seq: Number(cols[2][i]), pool: Number(cols[3][i]), drops: Number(cols[4][i]), rate: Number(cols[5][i]) });
        }
      }
      expect(bySource.size).toBe(1);
      const samples = parseExposition(await replay([pcap]));
      let lostByAgent = 0;
      for (const [key, list] of bySource) {
        const [agent, subAgent, sourceId] = key.split('|');
        const labels = { exporter: agent, sub_agent: subAgent, source_id: sourceId };
        // Effective rate: packets the pool grew by per sample after the first.
        const first = list[0];
        const lastSample = list[list.length - 1];
        let gaps = 0;
        for (let i = 1; i < list.length; i++) gaps += list[i].seq - list[i - 1].seq - 1;
        lostByAgent += gaps + (lastSample.drops - first.drops);
        expect(only(samples, 'flowgauge_sflow_effective_sampling_rate')).toEqual([
          { name: 'flowgauge_sflow_effective_sampling_rate', labels, value: (lastSample.pool - first.pool) / (list.length - 1) },
        ]);
        expect(only(samples, 'flowgauge_sflow_sampling_rate')).toEqual([{ name: 'flowgauge_sflow_sampling_rate', labels, value: lastSample.rate }]);
        if (name === 'pmacctd-sfprobe-rate1') expect((lastSample.pool - first.pool) / (list.length - 1)).toBe(1);
        if (name === 'pmacctd-sfprobe-rate10') {
          expect(lastSample.rate).toBe(10);
          // sfprobe's 1:10 sampler skips a random 1..19 packets: about 10 packets per sample.
          expect((lastSample.pool - first.pool) / (list.length - 1)).toBeGreaterThan(9);
          expect((lastSample.pool - first.pool) / (list.length - 1)).toBeLessThan(11);
        }
      }
      expect(only(samples, 'flowgauge_sflow_samples_lost_total')).toEqual([
        { name: 'flowgauge_sflow_samples_lost_total', labels: { exporter: '127.0.0.1' }, value: lostByAgent },
      ]);
    });
  }
});

describe.skipIf(skipPromtool)('promtool accepts the exposition with the interface families', () => {
  const files = () => FILES.map((f) => corpusPath(`edge/${f}.pcap`));

  it('Prometheus text: promtool check metrics reports nothing', async () => {
    const text = await replay(files());
    expect(text).toContain('flow_interface_in_bytes_total{');
    expect(text).toContain('flowgauge_sflow_effective_sampling_rate{');
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });

  it("OpenMetrics: Prometheus's own parser reads every sample (promtool tsdb create-blocks-from openmetrics)", async () => {
    const text = await replay(files(), 'openmetrics');
    expect(text.endsWith('# EOF\n')).toBe(true);
    expect(text.match(/^# EOF$/gm)).toHaveLength(1);
    expect(text).toContain('# UNIT flow_interface_in_bytes bytes\n');
    const stamped = text
      .split('\n')
      .map((line) => (line === '' || line.startsWith('#') ? line : `${line} 1700000000`))
      .join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'flowgauge-if-'));
    try {
      writeFileSync(join(dir, 'metrics.om'), stamped);
      const r = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'metrics.om'), join(dir, 'blocks')], { encoding: 'utf8' });
      const output = `${r.stdout}${r.stderr}`;
      expect(output).not.toMatch(/error/i);
      expect(r.status).toBe(0);
      const sampleLines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
      expect(output).toMatch(new RegExp(`\\b${sampleLines}\\b`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
