/**
 * The traffic rollups flowgauge runs when the config names none (see docs/metrics.md).
 * Histogram rollups (flow_rtt_seconds, flow_duration_seconds) get their own definitions beside these.
 */
import type { RollupDefinition } from '../config/types.js';

export const DEFAULT_ROLLUPS: RollupDefinition[] = [
  {
    name: 'flow_exporter',
    labels: ['exporter', 'source'],
    budget: 500,
    help: 'Traffic per flow exporter and source kind',
  },
  {
    name: 'flow_device',
    labels: ['device', 'direction'],
    budget: 2000,
    help: 'Traffic per local device and direction',
  },
  {
    name: 'flow_app',
    labels: ['device', 'app'],
    budget: 4000,
    help: 'Traffic per local device and application',
  },
  {
    name: 'flow_peer',
    labels: ['device', 'peer'],
    budget: 4000,
    help: 'Traffic per local device and remote peer',
  },
];

/** Fresh copies, so a caller can adjust budgets without touching the shared defaults. */
export function defaultRollups(): RollupDefinition[] {
  return DEFAULT_ROLLUPS.map((d) => ({ ...d, labels: [...d.labels] }));
}
