/**
 * Enriched labels and rollup routes per flow key, cached.
 *
 * Every label of a record is a function of a few of its fields: exporter, source kind, address
 * family, both addresses, protocol, application (from the ports or the exporter's name), action,
 * interfaces, the cloud-reported direction, and the MAC addresses when the inventory names
 * devices by MAC. Traffic repeats those keys record after record (a device talks to the same
 * peers about the same applications), while the ports, counters and times change. So the cache
 * keys on exactly those fields and keeps, per key, the labels the enricher gave and the route
 * (see RollupEngine.newRoute) through which the rollups remember that key's rows, laid out right
 * after the key in one typed array, so that a hit reads one or two cache lines. A hit skips
 * the address lookups, the label text and every rollup lookup; a miss costs what the uncached
 * path costs plus filling the entry.
 *
 * Set-associative with eight ways, like a CPU cache: bounded by construction, no eviction
 * bookkeeping (a free way, else a random one, is replaced). An entry's key is a run of integers
 * (the strings in it, exporter, source kind and application, as small interned ids), so that a
 * lookup reads one or two cache lines per way it compares. Records with a metadata bag (cloud
 * sources) are not cached: their labels also come from the bag.
 */
import type { Enricher } from './enrich/enricher.js';
import { isCloudSource } from './enrich/orientation.js';
import type { FlowRecord } from './record.js';
import { createFlowLabels, type FlowLabels } from './rollup/types.js';

/** Entries held at most by default (eight per set). */
export const DEFAULT_FLOW_KEY_CACHE_ENTRIES = 65536;
/** Bounds of a configured size (ingest.flow_key_cache_entries). */
export const MIN_FLOW_KEY_CACHE_ENTRIES = 16;
export const MAX_FLOW_KEY_CACHE_ENTRIES = 1 << 24;

/** Entries a cache asked for `entries` holds: rounded up to a power of two within the bounds. */
export function flowKeyCacheSize(entries = DEFAULT_FLOW_KEY_CACHE_ENTRIES): number {
  let size = MIN_FLOW_KEY_CACHE_ENTRIES;
  while (size < entries && size < MAX_FLOW_KEY_CACHE_ENTRIES) size *= 2;
  return size;
}

/**
 * Int32 words per entry: [0] 1 + af with action and direction; [1] exporter id, [2] source kind
 * id, [3] application (the catalogue's code, or minus the interned id of an exporter-given name);
 * then the addresses (one word each for IPv4, four for IPv6), protocol and the two interfaces.
 */
const KEY_WORDS = 15;
const WAYS = 8;
/** Interned strings (exporters, source kinds, applications) at most before the ids start over. */
const MAX_IDS = 65535;

function word(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

/** What the routes are for (RollupEngine): their length, and how to forget one. */
export interface RouteSource {
  readonly routeLength: number;
  resetRouteAt(cells: Int32Array, base: number): void;
}

/** Lookups per window of the miss-rate estimate. */
const WINDOW = 1024;
/** While more than half of a window's lookups missed, only one miss in FILL_WHEN_THRASHING fills an entry. */
const FILL_WHEN_THRASHING = 8;

export class FlowKeyCache {
  readonly entries: number;
  /** Lookups served from the cache, and those that enriched. */
  hits = 0;
  misses = 0;
  /** Misses that filled no entry, because most lookups were missing at the time (see bypass). */
  bypassed = 0;
  /**
   * The route of the last resolve()'s key is `cells[routeBase .. routeBase + routeLength)`
   * (RollupEngine.countRoutedAt); routeBase is -1 when the record has none and is to be counted
   * without one (no routes kept, or a miss that filled no entry).
   */
  readonly cells: Int32Array;
  routeBase = -1;
  /**
   * Entry of the last resolve() (0 .. entries-1), or -1 when it filled none (bypass): an id for
   * its label set until that entry is filled again, which lastFilled announces (the entry then
   * holds another label set).
   */
  lastEntry = -1;
  lastFilled = false;

  private readonly enricher: Enricher;
  private readonly routeSource: RouteSource | undefined;
  private readonly macAware: boolean;
  private readonly shift: number;
  private readonly keys: Int32Array;
  /** Per entry: 0 when free, else a tag from the key's hash (see resolve). */
  private readonly tags: Int32Array;
  /** State of the xorshift generator that picks the way to replace. */
  private random = 0x6d2b79f5;
  private readonly macs: Uint8Array;
  private readonly labels: Array<FlowLabels | undefined>;
  /** Int32 words per entry: the key, then its route. */
  private readonly stride: number;
  /** Small ids for the strings of the key; cleared (with every entry) when it reaches MAX_IDS. */
  private readonly ids = new Map<string, number>();
  private readonly maxIds: number;
  /** Times the ids started over (every entry dropped). */
  restarts = 0;
  /** Bumped when the ids start over. */
  private idGeneration = 0;
  /** Source kind of the previous lookup and its id. */
  private lastKind = '';
  private kindId = 0;
  /** Exporter of the previous lookup, its id and a hash of it (records come in runs per exporter). */
  private lastExporter = '';
  private exporterId = 0;
  private exporterHash = 0x2545f491;
  private window = 0;
  private windowMisses = 0;
  private fillEvery = 1;
  private skips = 0;
  private readonly scratch: FlowLabels = createFlowLabels();
  /** The record's key, built once per lookup. */
  private readonly key = new Int32Array(KEY_WORDS);

  /**
   * `routes`: the rollup engine whose routes to keep per entry (omit to cache labels only, as an
   * ingest worker does). `entries` is rounded up to a power of two. `maxIds` (tests): interned
   * strings before every entry is dropped and the ids start over.
   */
  constructor(enricher: Enricher, routes?: RouteSource, entries = DEFAULT_FLOW_KEY_CACHE_ENTRIES, maxIds = MAX_IDS) {
    if (!(Number.isInteger(maxIds) && maxIds >= 3 && maxIds <= MAX_IDS)) {
      throw new Error(`flow key cache: maxIds must be an integer from 3 to ${MAX_IDS}, got ${maxIds}`);
    }
    this.maxIds = maxIds;
    this.enricher = enricher;
    this.routeSource = routes;
    // The inventory's MAC entries name a device only through its MAC: then the MACs are key too.
    this.macAware = enricher.inventory.entries.some((e) => e.kind === 'mac');
    this.entries = flowKeyCacheSize(entries);
    const bits = Math.log2(this.entries);
    // One set per WAYS entries: the hash's top log2(entries / WAYS) bits pick it.
    this.shift = 32 - (bits - Math.log2(WAYS));
    this.stride = KEY_WORDS + (routes === undefined ? 0 : routes.routeLength);
    this.keys = new Int32Array(this.entries * this.stride);
    this.cells = this.keys;
    this.tags = new Int32Array(this.entries);
    this.macs = new Uint8Array(this.macAware ? this.entries * 14 : 0);
    this.labels = new Array<FlowLabels | undefined>(this.entries).fill(undefined);
  }

  /**
   * The labels of `r` (a cached object: read it, do not keep or change it), and in routeBase
   * where its key's route is. Records with a metadata bag must not come here (see top).
   */
  resolve(r: FlowRecord): FlowLabels {
    const k = this.key;
    const af = r.af;
    // The application as a number straight from the ports; only an exporter-given name is interned.
    const appCode = this.enricher.appCode(r);
    // Several exporters often report the same flows (both ends of a path, or a fleet of gateways
    // with the same private addressing): the exporter must spread keys over sets too.
    const idsBefore = this.idGeneration;
    if (r.sourceKind !== this.lastKind) {
      this.lastKind = r.sourceKind;
      this.kindId = this.idOf(r.sourceKind);
    }
    let appId = appCode >= 0 ? appCode : -this.idOf(this.enricher.appLabel(r));
    if (r.exporter !== this.lastExporter) {
      this.lastExporter = r.exporter;
      this.exporterId = this.idOf(r.exporter);
      this.exporterHash = Math.imul(this.exporterId ^ 0x2545f491, 0x9e3779b1);
    }
    if (this.idGeneration !== idsBefore) {
      // The ids started over while this key was built: take all three from the new numbering.
      this.kindId = this.idOf(r.sourceKind);
      if (appCode < 0) appId = -this.idOf(this.enricher.appLabel(r));
      this.exporterId = this.idOf(r.exporter);
      this.exporterHash = Math.imul(this.exporterId ^ 0x2545f491, 0x9e3779b1);
    }
    k[0] = 1 + (af | (r.action << 8) | ((isCloudSource(r.sourceKind) ? r.direction : 0) << 16));
    k[1] = this.exporterId;
    k[2] = this.kindId;
    k[3] = appId;
    let w: number;
    if (af === 6) {
      k[4] = word(r.src, 0);
      k[5] = word(r.src, 4);
      k[6] = word(r.src, 8);
      k[7] = word(r.src, 12);
      k[8] = word(r.dst, 0);
      k[9] = word(r.dst, 4);
      k[10] = word(r.dst, 8);
      k[11] = word(r.dst, 12);
      w = 12;
    } else {
      k[4] = af === 4 ? word(r.src, 0) : 0;
      k[5] = af === 4 ? word(r.dst, 0) : 0;
      w = 6;
    }
    k[w] = r.protocol;
    k[w + 1] = r.inputIf | 0;
    k[w + 2] = r.outputIf | 0;
    // The first word fixes the key's length (af), so keys of different lengths never compare equal.
    const words = w + 3;

    let h = this.exporterHash ^ k[0];
    for (let i = 2; i < words; i++) h = Math.imul(h ^ k[i], 0x85ebca6b) ^ (h >>> 13);
    // MurmurHash3's finaliser: the set comes from the top bits, which must depend on every input bit.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;

    if (++this.window === WINDOW) {
      this.fillEvery = this.windowMisses > WINDOW / 2 ? FILL_WHEN_THRASHING : 1;
      this.window = 0;
      this.windowMisses = 0;
    }
    const keys = this.keys;
    const tags = this.tags;
    const first = (h >>> this.shift) * WAYS;
    // The hash's low bits as a tag, never 0 (free): a set's tags share one cache line, so only a
    // way whose tag matches has its key read.
    const tag = (h & 0xffffff) | 0x1000000;
    let free = -1;
    for (let e = first; e < first + WAYS; e++) {
      const t = tags[e];
      if (t !== tag) {
        if (t === 0 && free < 0) free = e;
        continue;
      }
      const o = e * this.stride;
      let i = 0;
      while (i < words && keys[o + i] === k[i]) i++;
      if (i === words && (!this.macAware || this.macsMatch(e, r))) {
        this.hits++;
        this.lastEntry = e;
        this.lastFilled = false;
        this.routeBase = this.routeSource === undefined ? -1 : o + KEY_WORDS;
        return this.labels[e]!;
      }
    }
    this.misses++;
    this.windowMisses++;
    if (free < 0 && this.fillEvery > 1 && ++this.skips % this.fillEvery !== 0) return this.bypass(r);
    const e = free >= 0 ? free : first + this.randomWay();
    this.lastEntry = e;
    this.lastFilled = true;
    tags[e] = tag;
    return this.fill(e, r, words);
  }

  /** A small id for a string of the key (exporter, source kind, application). */
  private idOf(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      if (this.ids.size >= this.maxIds) this.clear();
      id = this.ids.size + 1;
      this.ids.set(s, id);
    }
    return id;
  }

  /** Forgets every entry (the ids start over, so no key may keep an old one). */
  private clear(): void {
    this.ids.clear();
    this.tags.fill(0);
    this.idGeneration++;
    this.restarts++;
  }

  /**
   * A miss not worth an entry: while the keys in flight outnumber the entries (a scan, a flood
   * of new addresses), filling on every miss would only churn entries, evicting the keys that
   * repeat. The record is enriched into a scratch object and counted without a route.
   */
  private bypass(r: FlowRecord): FlowLabels {
    this.bypassed++;
    this.lastEntry = -1;
    this.lastFilled = false;
    this.routeBase = -1;
    this.enricher.enrich(r, this.scratch);
    return this.scratch;
  }

  /**
   * The way to replace in a full set, at random: unlike round robin (or LRU), a set that more
   * keys than ways cycle through still keeps most of them.
   */
  private randomWay(): number {
    let x = this.random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.random = x;
    return (x >>> 0) % WAYS;
  }

  private macsMatch(e: number, r: FlowRecord): boolean {
    const m = this.macs;
    const o = e * 14;
    if (m[o + 12] !== (r.hasSrcMac ? 1 : 0) || m[o + 13] !== (r.hasDstMac ? 1 : 0)) return false;
    for (let i = 0; i < 6; i++) if (m[o + i] !== r.srcMac[i] || m[o + 6 + i] !== r.dstMac[i]) return false;
    return true;
  }

  private fill(e: number, r: FlowRecord, words: number): FlowLabels {
    const keys = this.keys;
    const o = e * this.stride;
    for (let i = 0; i < words; i++) keys[o + i] = this.key[i];
    if (this.macAware) {
      const m = this.macs;
      const mo = e * 14;
      for (let i = 0; i < 6; i++) {
        m[mo + i] = r.srcMac[i];
        m[mo + 6 + i] = r.dstMac[i];
      }
      m[mo + 12] = r.hasSrcMac ? 1 : 0;
      m[mo + 13] = r.hasDstMac ? 1 : 0;
    }
    let labels = this.labels[e];
    if (labels === undefined) {
      labels = createFlowLabels();
      this.labels[e] = labels;
    }
    this.enricher.enrich(r, labels);
    const source = this.routeSource;
    if (source !== undefined) {
      source.resetRouteAt(keys, o + KEY_WORDS);
      this.routeBase = o + KEY_WORDS;
    } else {
      this.routeBase = -1;
    }
    return labels;
  }
}
