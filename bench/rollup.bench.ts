/**
 * Hot-path cost of the rollup: records whose label sets are kept (the steady state) and an
 * adversarial stream where every record is a new peer (the fold path). Run: npm run bench:rollup
 */
import { test } from 'vitest';
import { fromDist } from './dist.js';

const { defaultRollups } = await fromDist<typeof import('../src/rollup/defaults.js')>('rollup/defaults.js');
const { RollupEngine } = await fromDist<typeof import('../src/rollup/rollup-engine.js')>('rollup/rollup-engine.js');
type RollupEngine = InstanceType<typeof RollupEngine>;
const { createFlowLabels } = await fromDist<typeof import('../src/rollup/types.js')>('rollup/types.js');

const RECORDS = 100_000;

function engineWithKeptKeys(): { engine: RollupEngine; peers: string[]; devices: string[] } {
  const engine = new RollupEngine(defaultRollups());
  const devices = Array.from({ length: 50 }, (_, i) => `device-${i}`);
  const peers = Array.from({ length: 60 }, (_, i) => `203.0.113.${i}`);
  const l = createFlowLabels();
  for (const d of devices) for (const p of peers) {
    l.device = d;
    l.peer = p;
    engine.add(l, 1, 1, 1);
  }
  return { engine, peers, devices };
}

test('rollup add (4 default rollups)', async ({ bench }) => {
  const kept = engineWithKeptKeys();
  const l = createFlowLabels();
  l.exporter = '192.0.2.1';
  l.source = 'ipfix';
  l.direction = 'egress';
  l.app = 'https';
  await bench(`${RECORDS} records, kept label sets`, () => {
    for (let i = 0; i < RECORDS; i++) {
      l.device = kept.devices[i % 50];
      l.peer = kept.peers[i % 60];
      kept.engine.add(l, 1500, 1, 1);
    }
  }).run();

  const folded = engineWithKeptKeys();
  const scanPeers = Array.from({ length: RECORDS }, (_, i) => `198.51.${i >> 8}.${i & 255}`);
  await bench(`${RECORDS} records, a new peer each (fold path)`, () => {
    for (let i = 0; i < RECORDS; i++) {
      l.device = folded.devices[i % 50];
      l.peer = scanPeers[i];
      folded.engine.add(l, 60, 1, 1);
    }
  }).run();
});
