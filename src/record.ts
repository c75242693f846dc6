/**
 * The normalized flow record: one shape for every source (NetFlow, IPFIX, sFlow, cloud logs).
 *
 * Decoders fill one reusable record and hand it to a sink synchronously; the sink must copy
 * whatever it keeps. That keeps the decode -> enrich -> rollup path free of per-record allocation.
 * Addresses stay as bytes; they become strings only when something needs a label.
 */

export type SourceKind = 'netflow5' | 'netflow9' | 'ipfix' | 'sflow' | 'aws' | 'azure' | 'gcp';

/** Direction as reported by the source (not the orientation that enrichment computes). */
export const Direction = { unknown: 0, ingress: 1, egress: 2 } as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

export const Action = { unknown: 0, accept: 1, reject: 2 } as const;
export type Action = (typeof Action)[keyof typeof Action];

export interface FlowRecord {
  sourceKind: SourceKind;
  /** Exporter identity as a label value: the datagram's source address, or the cloud account/resource. */
  exporter: string;
  /** NetFlow v9 source id, IPFIX observation domain, sFlow sub-agent id; 0 otherwise. */
  observationDomain: number;
  /** Milliseconds since the Unix epoch; 0 when unknown. */
  timeStartMs: number;
  timeEndMs: number;
  /** 4 or 6; 0 when the record carries no IP addresses. */
  af: 0 | 4 | 6;
  /** 16 bytes each; an IPv4 address occupies bytes 0..3. */
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  protocol: number;
  /** Raw counters as carried on the wire (not scaled by sampling). */
  bytes: number;
  packets: number;
  /** Flow records this record stands for: 1 for a flow record or a sample. */
  flows: number;
  /** 1 when unsampled; bytes and packets are multiplied by it in the rollup. */
  samplingRate: number;
  tcpFlags: number;
  inputIf: number;
  outputIf: number;
  direction: Direction;
  action: Action;
  /** Exporter-provided application (IPFIX 94-96, nProbe L7); 0 / '' when absent. */
  appId: number;
  appName: string;
  /** Round-trip / network latency in milliseconds; NaN when the source says nothing. */
  rttMs: number;
  /** MAC addresses when the source carries them; hasSrcMac/hasDstMac say whether they are set. */
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  hasSrcMac: boolean;
  hasDstMac: boolean;
  vlan: number;
  /** Small optional bag for cloud metadata (vpc, subnet, instance, region, zone, rule...). */
  meta: Record<string, string> | undefined;
}

export function createFlowRecord(): FlowRecord {
  return {
    sourceKind: 'netflow5',
    exporter: '',
    observationDomain: 0,
    timeStartMs: 0,
    timeEndMs: 0,
    af: 0,
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
    srcPort: 0,
    dstPort: 0,
    protocol: 0,
    bytes: 0,
    packets: 0,
    flows: 1,
    samplingRate: 1,
    tcpFlags: 0,
    inputIf: 0,
    outputIf: 0,
    direction: Direction.unknown,
    action: Action.unknown,
    appId: 0,
    appName: '',
    rttMs: NaN,
    srcMac: new Uint8Array(6),
    dstMac: new Uint8Array(6),
    hasSrcMac: false,
    hasDstMac: false,
    vlan: 0,
    meta: undefined,
  };
}

/** Clears a reused record; address buffers are zeroed in place. */
export function resetFlowRecord(r: FlowRecord): void {
  r.observationDomain = 0;
  r.timeStartMs = 0;
  r.timeEndMs = 0;
  r.af = 0;
  // A plain loop: for 16 bytes it is cheaper than two TypedArray.fill calls (measurable per sFlow sample).
  const src = r.src;
  const dst = r.dst;
  for (let i = 0; i < 16; i++) {
    src[i] = 0;
    dst[i] = 0;
  }
  r.srcPort = 0;
  r.dstPort = 0;
  r.protocol = 0;
  r.bytes = 0;
  r.packets = 0;
  r.flows = 1;
  r.samplingRate = 1;
  r.tcpFlags = 0;
  r.inputIf = 0;
  r.outputIf = 0;
  r.direction = Direction.unknown;
  r.action = Action.unknown;
  r.appId = 0;
  r.appName = '';
  r.rttMs = NaN;
  r.hasSrcMac = false;
  r.hasDstMac = false;
  r.vlan = 0;
  r.meta = undefined;
}

/** Deep copy, for tests and for buffers that must outlive the sink call. */
export function cloneFlowRecord(r: FlowRecord): FlowRecord {
  return {
    ...r,
    src: r.src.slice(),
    dst: r.dst.slice(),
    srcMac: r.srcMac.slice(),
    dstMac: r.dstMac.slice(),
    meta: r.meta ? { ...r.meta } : undefined,
  };
}

export type RecordSink = (record: FlowRecord) => void;
