/**
 * Render cost: flowgauge's exposition of 10k and 100k counter series against prom-client's
 * registry.metrics() holding the same series (same names, labels, values), in the same process,
 * interleaved. Also the whole /metrics body as the daemon serves it (rollups, histograms and other
 * families, interface metrics, self-metrics) from a pipeline holding the same series.
 *
 *   npm run bench:render          (= npm run build && npx tsx bench/render.ts)
 *
 * Series: one rollup over (device, peer) whose label sets each give three counters (bytes,
 * packets, flows): 3,334 label sets for 10k series, 33,334 for 100k. flowgauge's time includes the
 * snapshot (the copy of the live counters that rendering works from); both are timed until the body
 * is bytes, as an HTTP response needs it.
 */
import client from 'prom-client';
import type { RollupDefinition } from '../src/config/types.js';
import type { RollupSnapshot } from '../src/rollup/snapshot.js';
import { fromDist } from './dist.js';
import { median, printMachine, printTable } from './machine.js';

const { defaultConfig } = await fromDist<typeof import('../src/config/defaults.js')>('config/defaults.js');
const { renderExposition } = await fromDist<typeof import('../src/exporters/exposition.js')>('exporters/exposition.js');
const { renderMetrics } = await fromDist<typeof import('../src/exporters/http-server.js')>('exporters/http-server.js');
const { createSelfMetrics } = await fromDist<typeof import('../src/exporters/self-metrics.js')>('exporters/self-metrics.js');
const { FlowPipeline } = await fromDist<typeof import('../src/pipeline.js')>('pipeline.js');
const { RollupEngine } = await fromDist<typeof import('../src/rollup/rollup-engine.js')>('rollup/rollup-engine.js');
const { createFlowLabels } = await fromDist<typeof import('../src/rollup/types.js')>('rollup/types.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

function definition(labelSets: number): RollupDefinition {
  // Level-0 rows may use the budget minus the reserves for `other` rows (a quarter, plus one).
  return {
    name: 'flow_peer',
    labels: ['device', 'peer'],
    budget: Math.ceil(labelSets / 0.75) + 4,
    help: 'Traffic per local device and remote peer',
  };
}

function fill(add: (device: string, peer: string, i: number) => void, labelSets: number): void {
  for (let i = 0; i < labelSets; i++) {
    add(`10.0.${(i >> 8) & 255}.${i & 255}`, `198.18.${(i >> 8) & 255}.${(i * 7) & 255}`, i);
  }
}

function promClientRegistry(snap: RollupSnapshot): client.Registry {
  const registry = new client.Registry();
  const columns = [
    ['bytes', snap.bytes],
    ['packets', snap.packets],
    ['flows', snap.flows],
  ] as const;
  for (const [what, values] of columns) {
    const counter = new client.Counter({
      name: `${snap.name}_${what}_total`,
      help: `${snap.help}: ${what}.`,
      labelNames: ['device', 'peer'] as const,
      registers: [registry],
    });
    for (let r = 0; r < snap.labelValues.length; r++) {
      const [device, peer] = snap.labelValues[r];
      counter.inc({ device, peer }, values[r]);
    }
  }
  return registry;
}

function samplesOf(body: Buffer): { count: number; sum: number } {
  const text = body.toString();
  let count = 0;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    count++;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { count, sum };
}

async function timeIt(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  printMachine('Render: /metrics time and bytes, flowgauge vs prom-client registry.metrics()', 'npm run bench:render');
  console.log(`rounds: ${ROUNDS}, interleaved; times are medians\n`);
  const rows: Array<Array<string | number>> = [];
  const ratios: Array<[number, number]> = [];
  for (const series of [10_000, 100_000]) {
    const labelSets = Math.ceil(series / 3);
    const def = definition(labelSets);
    const engine = new RollupEngine([def]);
    const labels = createFlowLabels();
    fill((device, peer, i) => {
      labels.device = device;
      labels.peer = peer;
      engine.add(labels, 1_000_000 + i * 13, 1000 + i, 1 + (i % 7));
    }, labelSets);
    const snap = engine.snapshot()[0];
    if (snap.labelValues.length !== labelSets) throw new Error(`expected ${labelSets} label sets, got ${snap.labelValues.length}`);
    const registry = promClientRegistry(snap);

    // The daemon's /metrics over a pipeline holding the same rollup (plus its other families).
    const config = defaultConfig();
    config.rollups = [def];
    const pipeline = new FlowPipeline(config);
    fill((device, peer, i) => {
      labels.device = device;
      labels.peer = peer;
      pipeline.rollups.add(labels, 1_000_000 + i * 13, 1000 + i, 1 + (i % 7));
    }, labelSets);
    const selfMetrics = createSelfMetrics({ pipeline, listeners: () => [] });

    // Timed up to the bytes an HTTP response sends (a string built by concatenation is only
    // flattened when it is encoded, so stopping at the string would leave work uncounted).
    const ours = (): Buffer => Buffer.from(renderExposition(engine.snapshot(), 'prometheus'));
    const theirs = async (): Promise<Buffer> => Buffer.from(await registry.metrics());
    const full = async (): Promise<Buffer> => Buffer.from(await renderMetrics(pipeline, selfMetrics, 'prometheus'));
    const a = samplesOf(ours());
    const b = samplesOf(await theirs());
    if (a.count !== b.count || a.sum !== b.sum) throw new Error(`different series: flowgauge ${a.count}/${a.sum}, prom-client ${b.count}/${b.sum}`);
    for (let i = 0; i < 3; i++) {
      ours();
      await theirs();
      await full();
    }
    const tOurs: number[] = [];
    const tTheirs: number[] = [];
    const tFull: number[] = [];
    const r: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const x = await timeIt(ours);
      const y = await timeIt(theirs);
      tOurs.push(x);
      tTheirs.push(y);
      r.push(x / y);
      tFull.push(await timeIt(full));
    }
    const ratio = median(r);
    ratios.push([series, ratio]);
    const bytesOurs = ours().length;
    const bytesTheirs = (await theirs()).length;
    const fullText = await full();
    rows.push([
      a.count,
      `${median(tOurs).toFixed(1)} ms`,
      `${(bytesOurs / 1e6).toFixed(2)} MB`,
      `${median(tTheirs).toFixed(1)} ms`,
      `${(bytesTheirs / 1e6).toFixed(2)} MB`,
      `${ratio.toFixed(3)}x`,
      `${median(tFull).toFixed(1)} ms / ${(fullText.length / 1e6).toFixed(2)} MB / ${samplesOf(fullText).count} samples`,
    ]);
  }
  printTable(
    ['series', 'flowgauge time', 'flowgauge bytes', 'prom-client time', 'prom-client bytes', 'time ratio', 'flowgauge full /metrics'],
    rows,
  );
  const worst = Math.max(...ratios.map(([, x]) => x));
  console.log(`\ngoal: <= 0.25x prom-client's render time: worst ratio ${worst.toFixed(3)}x, ${worst <= 0.25 ? 'met' : 'NOT met'}`);
  console.log('time ratio = median over rounds of (flowgauge time / prom-client time) measured back to back');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
