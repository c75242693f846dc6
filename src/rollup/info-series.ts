/**
 * Info series: `<name>_info{...} 1`, one per label set, carrying descriptive attributes (device
 * type and site, exporter address and source kind) so the traffic counters need not repeat them.
 * Join them in PromQL with `* on (device) group_left (type, site) flow_device_info`.
 *
 * Each family has a hard budget of label sets; past it, new label sets are refused and counted.
 */
import type { InfoSettings, InventoryEntry } from '../config/types.js';
import { UNKNOWN_LABEL } from './label-slots.js';
import type { InfoSnapshot, MeasureStats } from './measure-snapshot.js';
import { OTHER } from './types.js';

export const DEFAULT_INFO: Readonly<InfoSettings> = Object.freeze({ deviceBudget: 2000, exporterBudget: 500 });

export const DEVICE_INFO = 'flow_device';
export const EXPORTER_INFO = 'flow_exporter';

type Trie = Map<string, Trie | true>;

function labelValue(v: string): string {
  return v === '' ? UNKNOWN_LABEL : v;
}

/** A bounded set of label sets, first come first kept. */
export class InfoSeries {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly budget: number;
  private readonly rows: Array<readonly string[]> = [];
  private readonly root: Trie = new Map();
  /** Label sets refused because the budget was full (each time one was offered). */
  refused = 0;

  constructor(name: string, labelNames: readonly string[], budget: number, help: string) {
    if (!Number.isSafeInteger(budget) || budget < 0) throw new Error(`${name}_info: budget must be an integer of 0 or more, got ${budget}`);
    if (labelNames.length === 0) throw new Error(`${name}_info: needs at least one label`);
    this.name = name;
    this.help = help;
    this.labelNames = Object.freeze([...labelNames]);
    this.budget = budget;
  }

  get size(): number {
    return this.rows.length;
  }

  /**
   * Adds a label set (values in labelNames order; '' reads "unknown"). Returns true when it is
   * present afterwards. Allocates only when the label set is new.
   */
  add(values: readonly string[]): boolean {
    const n = this.labelNames.length;
    let node: Trie = this.root;
    for (let i = 0; i < n - 1; i++) {
      const next = node.get(labelValue(values[i]));
      if (next === undefined) return this.insert(values);
      node = next as Trie;
    }
    return node.has(labelValue(values[n - 1])) || this.insert(values);
  }

  has(values: readonly string[]): boolean {
    let node: Trie | true | undefined = this.root;
    for (let i = 0; i < this.labelNames.length; i++) {
      if (node === undefined || node === true) return false;
      node = node.get(labelValue(values[i]));
    }
    return node !== undefined;
  }

  snapshot(): InfoSnapshot {
    return { name: this.name, help: this.help, labelNames: this.labelNames, labelValues: this.rows.slice() };
  }

  stats(): MeasureStats {
    return {
      name: `${this.name}_info`,
      kind: 'info',
      labels: [...this.labelNames],
      seriesInUse: this.rows.length,
      budget: this.budget,
      admissions: this.rows.length,
      evictions: 0,
      foldedRecords: this.refused,
      foldedBytes: 0,
    };
  }

  private insert(values: readonly string[]): boolean {
    if (this.rows.length >= this.budget) {
      this.refused++;
      return false;
    }
    const n = this.labelNames.length;
    const kept = Object.freeze(Array.from({ length: n }, (_, i) => labelValue(values[i] ?? '')));
    let node: Trie = this.root;
    for (let i = 0; i < n - 1; i++) {
      let next = node.get(kept[i]) as Trie | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(kept[i], next);
      }
      node = next;
    }
    node.set(kept[n - 1], true);
    this.rows.push(kept);
    return true;
  }
}

/**
 * `flow_device_info{device,address,type,site}`: one row per inventory entry (address = its match:
 * IP, CIDR or MAC), then, at render time, one per device that holds a series of its own in a
 * traffic rollup or the distinct gauges and is not an inventory name (address = the device's
 * address, which is its name). Bounded by the budget, inventory first.
 */
export class DeviceInfo {
  readonly budget: number;
  private readonly inventoryRows: Array<readonly string[]> = [];
  private readonly inventoryNames = new Set<string>();
  /** Kept devices left out of the last render because the budget was full. */
  leftOut = 0;
  /** Devices left out over all renders (a counter for the self-metrics). */
  leftOutTotal = 0;
  private lastRows = 0;
  private readonly help = 'Descriptive attributes of local devices: inventory entries, and devices with series of their own.';

  constructor(budget: number, inventory: readonly InventoryEntry[]) {
    if (!Number.isSafeInteger(budget) || budget < 0) throw new Error(`${DEVICE_INFO}_info: budget must be an integer of 0 or more, got ${budget}`);
    this.budget = budget;
    const seen = new Set<string>();
    for (const e of inventory) {
      this.inventoryNames.add(e.name);
      const row = Object.freeze([labelValue(e.name), labelValue(e.match), labelValue(e.type ?? ''), labelValue(e.site ?? '')]);
      const key = row.join('\u0000');
      if (seen.has(key)) continue;
      seen.add(key);
      if (this.inventoryRows.length < budget) this.inventoryRows.push(row);
    }
  }

  /** The info rows, given the devices that hold series of their own right now. */
  snapshot(keptDevices: Iterable<string>): InfoSnapshot {
    const rows = this.inventoryRows.slice();
    const added = new Set<string>();
    let leftOut = 0;
    for (const d of keptDevices) {
      if (d === OTHER || d === UNKNOWN_LABEL || d === '' || this.inventoryNames.has(d) || added.has(d)) continue;
      added.add(d);
      if (rows.length >= this.budget) {
        leftOut++;
        continue;
      }
      rows.push(Object.freeze([d, d, UNKNOWN_LABEL, UNKNOWN_LABEL]));
    }
    this.leftOut = leftOut;
    this.leftOutTotal += leftOut;
    this.lastRows = rows.length;
    return { name: DEVICE_INFO, help: this.help, labelNames: ['device', 'address', 'type', 'site'], labelValues: rows };
  }

  stats(): MeasureStats {
    return {
      name: `${DEVICE_INFO}_info`,
      kind: 'info',
      labels: ['device', 'address', 'type', 'site'],
      seriesInUse: Math.max(this.lastRows, this.inventoryRows.length),
      budget: this.budget,
      // Rows are derived at each render from the kept devices: none is admitted or evicted here.
      admissions: 0,
      evictions: 0,
      foldedRecords: this.leftOutTotal,
      foldedBytes: 0,
    };
  }
}

export function createExporterInfo(budget: number): InfoSeries {
  return new InfoSeries(EXPORTER_INFO, ['exporter', 'address', 'source'], budget, 'Flow exporters seen: address and source kind.');
}
