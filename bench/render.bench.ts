/** Scrape cost: snapshot and render the four default rollups filled to their budgets. Run: npx vitest bench --run bench/ */
import { test } from 'vitest';
import { renderExposition } from '../src/exporters/exposition.js';
import { defaultRollups } from '../src/rollup/defaults.js';
import { RollupEngine } from '../src/rollup/rollup-engine.js';
import { createFlowLabels } from '../src/rollup/types.js';

const engine = new RollupEngine(defaultRollups());
const l = createFlowLabels();
for (let i = 0; i < 20_000; i++) {
  l.exporter = `192.0.2.${i % 700}`;
  l.source = 'netflow9';
  l.device = `device-${i % 1000}`;
  l.direction = i % 2 ? 'egress' : 'ingress';
  l.app = `app-${i % 7}`;
  l.peer = `203.0.${(i >> 8) & 255}.${i & 255}`;
  engine.add(l, 1_000_000 + i, 1000, 1);
}

test('render full budgets (~10,500 label sets, ~31,500 samples)', async ({ bench }) => {
  await bench.compare(
    bench('snapshot', () => {
      engine.snapshot();
    }),
    bench('snapshot + Prometheus text', () => {
      renderExposition(engine.snapshot(), 'prometheus');
    }),
    bench('snapshot + OpenMetrics', () => {
      renderExposition(engine.snapshot(), 'openmetrics');
    }),
  );
});
