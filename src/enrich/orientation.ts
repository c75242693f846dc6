/**
 * Which end of a flow is the device and which the peer, and the direction label.
 *
 * | src    | dst    | direction  | device | peer |
 * |--------|--------|------------|--------|------|
 * | local  | remote | egress     | src    | dst  |
 * | remote | local  | ingress    | dst    | src  |
 * | local  | local  | internal   | src    | dst  |
 * | remote | remote | transit    | src    | dst  |
 *
 * Transit keeps the source address as the device (rather than a constant "transit" device) so a
 * flow is attributed to its originator, the same convention as `internal`; the rollup budget
 * bounds the addresses, and the `transit` direction marks them. Seeing public addresses as
 * transit devices usually means `local_networks` lacks the site's own public ranges.
 *
 * Cloud flow logs are captured at one interface (ENI, NIC, VM), and their decoders set
 * record.direction to what the reporter saw: egress = the reporter sent it (device = src),
 * ingress = the reporter received it (device = dst). The reporter is the device whatever the
 * address ranges say; the direction is `internal` when the other end is local too.
 */
import { Direction, type SourceKind } from '../record.js';
import { PrefixTable, InvalidCidrError } from './prefix-table.js';

/** The default local networks live with the other config defaults; re-exported for callers here. */
export { DEFAULT_LOCAL_NETWORKS } from '../config/defaults.js';

export const Orientation = {
  /** No addresses on the record. */
  unknown: 0,
  egress: 1,
  ingress: 2,
  internal: 3,
  transit: 4,
  /** Cloud record reported by the receiving end with a local sender: internal, device = dst. */
  internalAtDst: 5,
} as const;
export type Orientation = (typeof Orientation)[keyof typeof Orientation];

/** `direction` label per Orientation value. */
export const ORIENTATION_DIRECTION: readonly string[] = ['', 'egress', 'ingress', 'internal', 'transit', 'internal'];

export function deviceIsDst(o: Orientation): boolean {
  return o === Orientation.ingress || o === Orientation.internalAtDst;
}

export function isCloudSource(kind: SourceKind): boolean {
  return kind === 'aws' || kind === 'azure' || kind === 'gcp';
}

/**
 * The orientation of a flow from the locality of its ends. `reported` is the direction the
 * source claims for the reporter; pass Direction.unknown for anything but cloud flow logs
 * (a router's ingress/egress is about its interface, not about which end is the device).
 */
export function orient(srcLocal: boolean, dstLocal: boolean, reported: Direction = Direction.unknown): Orientation {
  if (reported === Direction.egress) return dstLocal ? Orientation.internal : Orientation.egress;
  if (reported === Direction.ingress) return srcLocal ? Orientation.internalAtDst : Orientation.ingress;
  if (srcLocal) return dstLocal ? Orientation.internal : Orientation.egress;
  return dstLocal ? Orientation.ingress : Orientation.transit;
}

export class LocalNetworks {
  private readonly table = new PrefixTable<true>();

  /** Throws an error naming `local_networks[i]` and the text when a CIDR is invalid. */
  constructor(cidrs: readonly string[]) {
    cidrs.forEach((cidr, i) => {
      try {
        this.table.insert(cidr, true);
      } catch (err) {
        const why = err instanceof InvalidCidrError ? err.message : String(err);
        throw new Error(`local_networks[${i}]: ${why}`);
      }
    });
  }

  contains(af: number, addr: Uint8Array): boolean {
    return this.table.lookup(af, addr) === true;
  }
}
