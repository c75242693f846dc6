/**
 * Information element numbers the NetFlow v9 / IPFIX decoders act on (IANA "IPFIX Information
 * Elements"; NetFlow v9 field types 1-127 share the numbering), vendor elements we understand,
 * and a small name table for the status page. Everything not listed here is carried by length
 * and skipped.
 */

/** IANA private enterprise numbers. */
export const PEN = {
  cisco: 9,
  /** ntop (nProbe). */
  ntop: 35632,
} as const;

/** Standard elements (enterprise 0). */
export const IE = {
  octetDeltaCount: 1,
  packetDeltaCount: 2,
  protocolIdentifier: 4,
  tcpControlBits: 6,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  ingressInterface: 10,
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  egressInterface: 14,
  flowEndSysUpTime: 21,
  flowStartSysUpTime: 22,
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  icmpTypeCodeIPv4: 32,
  samplingInterval: 34,
  samplingAlgorithm: 35,
  samplerId: 48,
  samplerMode: 49,
  samplerRandomInterval: 50,
  sourceMacAddress: 56,
  postDestinationMacAddress: 57,
  vlanId: 58,
  postVlanId: 59,
  ipVersion: 60,
  flowDirection: 61,
  destinationMacAddress: 80,
  postSourceMacAddress: 81,
  interfaceName: 82,
  octetTotalCount: 85,
  packetTotalCount: 86,
  applicationDescription: 94,
  applicationId: 95,
  applicationName: 96,
  flowEndReason: 136,
  icmpTypeCodeIPv6: 139,
  meteringProcessId: 143,
  exportingProcessId: 144,
  flowStartSeconds: 150,
  flowEndSeconds: 151,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  flowStartMicroseconds: 154,
  flowEndMicroseconds: 155,
  flowStartNanoseconds: 156,
  flowEndNanoseconds: 157,
  flowStartDeltaMicroseconds: 158,
  flowEndDeltaMicroseconds: 159,
  systemInitTimeMilliseconds: 160,
  dot1qVlanId: 243,
  selectorId: 302,
  selectorAlgorithm: 304,
  samplingPacketInterval: 305,
  samplingPacketSpace: 306,
  samplingSize: 309,
  samplingPopulation: 310,
} as const;

/**
 * nProbe elements. In IPFIX nProbe sends them under PEN 35632 with these ids; in NetFlow v9 (no
 * enterprise numbers) it sends the same id plus NTOP_V9_BASE, e.g. L7_PROTO_NAME = 57591.
 */
export const NTOP_V9_BASE = 57472;
export const NTOP = {
  /** L7_PROTO: nDPI protocol number (2 bytes). */
  l7Proto: 118,
  /** L7_PROTO_NAME: nDPI protocol name, e.g. "TLS.Google" (text). */
  l7ProtoName: 119,
  /** CLIENT_NW_LATENCY_MS: half the network RTT between client and probe, milliseconds. */
  clientNwLatencyMs: 123,
  /** SERVER_NW_LATENCY_MS: half the network RTT between probe and server, milliseconds. */
  serverNwLatencyMs: 124,
} as const;

/**
 * Cisco AVC "application response time" elements (PEN 9, IPFIX). The network delay sums are in
 * milliseconds and add up over the connections counted in artCountNewConnections.
 */
export const CISCO_ART = {
  countNewConnections: 9282,
  /** Client + server network delay, summed over new connections. */
  networkTimeSum: 9313,
  clientNetworkTimeSum: 9316,
  serverNetworkTimeSum: 9319,
} as const;

/** IPFIX field length meaning "variable length, encoded in the record". */
export const VARIABLE_LENGTH = 65535;

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
export const NTP_UNIX_OFFSET_S = 2208988800;

const NAMES = new Map<number, string>();
for (const [name, id] of Object.entries(IE)) NAMES.set(id, name);

/** A readable name for the status page ("octetDeltaCount", "35632/119"), or the bare number. */
export function elementName(id: number, enterprise: number): string {
  if (enterprise === 0) return NAMES.get(id) ?? String(id);
  return `${enterprise}/${id}`;
}
