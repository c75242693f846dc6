/**
 * All configured rollups over the same stream: each record is counted once in every family, so the
 * sum over any rollup equals the sum over any other of the same traffic.
 */
import type { RollupDefinition } from '../config/types.js';
import type { FlowRecord } from '../record.js';
import type { MeasureSnapshots, MeasureStats } from './measure-snapshot.js';
import { MeasureSet, type MeasureSetOptions } from './measures.js';
import { RollupFamily, type RollupFamilyOptions, validCounts } from './rollup-family.js';
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

  /**
   * A route for one flow key (one label set and one peer address, as FlowKeyCache keys records):
   * the rows its records land in and the hash of its peer address, remembered by countRouted() so
   * that later records of the same key skip every lookup. Holds only slot numbers, the
   * generations they were learned at, and that hash; a route whose rows changed hands is
   * refreshed on its next record, so a stale route costs a lookup and never miscounts.
   */
  newRoute(): Int32Array {
    return new Int32Array(this.routeLength).fill(-1);
  }

  /** Int32 cells of a route, for a caller that lays routes out in an array of its own. */
  get routeLength(): number {
    return 2 * this.list.length + this.measures.cacheCells;
  }

  /** Forgets what `route` remembered (the caller is reusing it for another label set). */
  resetRoute(route: Int32Array): void {
    this.resetRouteAt(route, 0);
  }

  /** resetRoute() for the route at `cells[base .. base + routeLength)`. */
  resetRouteAt(cells: Int32Array, base: number): void {
    // A loop: TypedArray.fill is a builtin call, costly for a route of a dozen cells.
    const end = base + this.routeLength;
    for (let i = base; i < end; i++) cells[i] = -1;
  }

  /**
   * add() + observe() for a record of the flow key `route` belongs to (the same route for the
   * same label values and peer address, every time). Counts exactly what add() and observe() would.
   */
  countRouted(route: Int32Array, r: FlowRecord, labels: FlowLabels, bytes: number, packets: number, flows: number): void {
    this.countRoutedAt(route, 0, r, labels, bytes, packets, flows);
  }

  /** countRouted() for the route at `cells[base .. base + routeLength)`. */
  countRoutedAt(cells: Int32Array, base: number, r: FlowRecord, labels: FlowLabels, bytes: number, packets: number, flows: number): void {
    bytes = Math.round(bytes);
    packets = Math.round(packets);
    flows = Math.round(flows);
    const list = this.list;
    if (!validCounts(bytes, packets, flows)) {
      // Each rollup counts the refusal, as add() does.
      for (let i = 0; i < list.length; i++) list[i].add(labels, bytes, packets, flows);
    } else {
      for (let i = 0; i < list.length; i++) {
        const family = list[i];
        const c = base + 2 * i;
        const slot = cells[c];
        if (slot >= 0 && cells[c + 1] === family.generation) {
          family.addAt(slot, bytes, packets, flows);
        } else {
          family.addCounts(labels, bytes, packets, flows);
          cells[c] = family.lastOwnSlot;
          cells[c + 1] = family.generation;
        }
      }
    }
    this.measures.observeCached(r, labels, cells, base + 2 * list.length);
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
