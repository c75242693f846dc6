/**
 * All configured rollups over the same stream: each record is counted once in every family, so the
 * sum over any rollup equals the sum over any other of the same traffic.
 */
import type { RollupDefinition } from '../config/types.js';
import type { FlowRecord } from '../record.js';
import type { MeasureSnapshots, MeasureStats } from './measure-snapshot.js';
import { MeasureSet, type MeasureSetOptions } from './measures.js';
import { RollupFamily, type RollupFamilyOptions } from './rollup-family.js';
import type { RollupSnapshot, RollupStats } from './snapshot.js';
import type { FlowLabels } from './types.js';

/** The counter names a rollup puts into the exposition (samples and OpenMetrics family names). */
export function rollupMetricNames(name: string): string[] {
  const out: string[] = [];
  for (const what of ['bytes', 'packets', 'flows']) {
    out.push(`${name}_${what}`, `${name}_${what}_total`, `${name}_${what}_created`);
  }
  return out;
}

export class RollupEngine {
  private readonly list: RollupFamily[];
  /** Histograms, distinct-count gauges and info series fed from the same records. */
  readonly measures: MeasureSet;

  constructor(
    defs: RollupDefinition[],
    options: RollupFamilyOptions | ((def: RollupDefinition) => RollupFamilyOptions) = {},
    measures: MeasureSetOptions = {},
  ) {
    if (!Array.isArray(defs)) throw new Error('rollups must be a list of rollup definitions');
    const byName = new Map<string, RollupDefinition>();
    const byMetric = new Map<string, RollupDefinition>();
    for (const def of defs) {
      const prev = byName.get(def.name);
      if (prev !== undefined) {
        const differ = prev.labels.join(',') !== def.labels.join(',');
        throw new Error(
          `rollup "${def.name}" is defined twice` +
            (differ ? ` with different labels (${prev.labels.join(', ')} vs ${def.labels.join(', ')})` : '') +
            '; rollup names must be unique',
        );
      }
      byName.set(def.name, def);
      for (const metric of rollupMetricNames(def.name)) {
        const other = byMetric.get(metric);
        if (other !== undefined) {
          const sameLabels = other.labels.join(',') === def.labels.join(',');
          throw new Error(
            `rollups "${other.name}" and "${def.name}" both produce metric "${metric}"` +
              (sameLabels ? '' : ` with different labels (${other.labels.join(', ')} vs ${def.labels.join(', ')})`),
          );
        }
        byMetric.set(metric, def);
      }
    }
    this.list = defs.map((d) => new RollupFamily(d, typeof options === 'function' ? options(d) : options));
    this.measures = new MeasureSet(measures);
    for (const [metric, owner] of this.measures.metricNames()) {
      const rollup = byMetric.get(metric);
      if (rollup !== undefined) throw new Error(`rollup "${rollup.name}" and ${owner} both produce metric "${metric}"`);
    }
  }

  /**
   * Sets the receive time (ms) of the records that follow, for the sliding windows and the rollups'
   * heavy-hitter selection (decay, hysteresis dwell times): once per datagram.
   */
  setReceiveTime(receivedMs: number): void {
    this.measures.setTime(receivedMs);
    const list = this.list;
    for (let i = 0; i < list.length; i++) list[i].advanceTime(receivedMs);
  }

  /** Feeds one enriched record to the histograms and distinct counts (after add() counted it). */
  observe(record: FlowRecord, labels: FlowLabels): void {
    this.measures.observe(record, labels);
  }

  /** Histogram, gauge and info snapshots; `rollups` are this render's traffic snapshots. */
  measureSnapshots(nowMs: number, rollups: readonly RollupSnapshot[] = []): MeasureSnapshots {
    return this.measures.snapshot(nowMs, rollups);
  }

  /** Budget use of the histogram, gauge and info families, like stats() for the rollups. */
  measureStats(): MeasureStats[] {
    return this.measures.stats();
  }

  /** Count one record in every rollup. */
  add(labels: FlowLabels, bytes: number, packets: number, flows: number): void {
    const list = this.list;
    for (let i = 0; i < list.length; i++) list[i].add(labels, bytes, packets, flows);
  }

  families(): RollupFamily[] {
    return this.list.slice();
  }

  family(name: string): RollupFamily | undefined {
    return this.list.find((f) => f.name === name);
  }

  snapshot(): RollupSnapshot[] {
    return this.list.map((f) => f.snapshot());
  }

  stats(): RollupStats[] {
    return this.list.map((f) => f.stats());
  }
}
