/**
 * (protocol, ports) -> application label.
 *
 * Everything is precomputed into per-protocol port tables (a Uint16Array of 65536 indexes into an
 * array of interned names), so a lookup is two array reads and never builds a string. Labels are
 * bounded: an unknown port yields "tcp-other" / "udp-other", never a port number.
 *
 * Precedence, first hit wins:
 *  1. the name the exporter gave the flow (IPFIX applicationName, NBAR, nProbe L7), sanitized;
 *  2. the user's port rules (`apps:`), then the user's protocol-wide rules (a rule without ports,
 *     or for a protocol that has no ports, like icmp, gre or esp: its ports are not looked at);
 *  3. the built-in catalogue below;
 *  4. icmp / icmpv6 / the protocol's name / "proto-N"; "tcp-other", "udp-other", "sctp".
 * Within a port table, when both ports of a flow are listed the lower one wins: service ports
 * are low and clients' ephemeral ports high, so this names both directions of a session alike.
 */
import type { AppRule } from '../config/types.js';

/** IANA protocol keywords (lower case) for the protocols a flow exporter plausibly reports. */
const PROTOCOL_NAMES: Record<number, string> = {
  1: 'icmp',
  2: 'igmp',
  4: 'ipencap',
  6: 'tcp',
  8: 'egp',
  17: 'udp',
  33: 'dccp',
  41: 'ipv6',
  43: 'ipv6-route',
  44: 'ipv6-frag',
  46: 'rsvp',
  47: 'gre',
  50: 'esp',
  51: 'ah',
  58: 'icmpv6',
  59: 'ipv6-nonxt',
  60: 'ipv6-opts',
  88: 'eigrp',
  89: 'ospf',
  94: 'ipip',
  97: 'etherip',
  103: 'pim',
  108: 'ipcomp',
  112: 'vrrp',
  115: 'l2tp',
  124: 'isis',
  132: 'sctp',
  136: 'udplite',
  137: 'mpls-in-ip',
  143: 'ethernet',
};

/** `protocol` label per protocol number: keyword, else the number as text; '' for 0 (unknown). */
export const PROTOCOL_LABELS: readonly string[] = Array.from({ length: 256 }, (_, n) =>
  n === 0 ? '' : (PROTOCOL_NAMES[n] ?? String(n)),
);

/** `app` fallback per protocol number for protocols without ports: keyword, else "proto-N". */
const PROTOCOL_APPS: readonly string[] = Array.from({ length: 256 }, (_, n) =>
  n === 0 ? '' : (PROTOCOL_NAMES[n] ?? `proto-${n}`),
);

export const TCP = 6;
export const UDP = 17;
export const SCTP = 132;

type BuiltinEntry = [name: string, tcp: readonly number[], udp: readonly number[]];

/**
 * The built-in catalogue: IANA service ports for IoT, industrial, infrastructure and common
 * protocols. Names are short, lower case and stable (they are label values).
 */
export const BUILTIN_APPS: readonly BuiltinEntry[] = [
  // IoT messaging and device protocols
  ['mqtt', [1883], [1883]],
  ['mqtts', [8883], [8883]],
  ['coap', [5683], [5683]],
  ['coaps', [5684], [5684]],
  ['amqp', [5672], []],
  ['amqps', [5671], []],
  ['matter', [5540], [5540]],
  ['lorawan', [], [1700]], // Semtech UDP packet forwarder (LoRaWAN gateways)
  ['xmpp', [5222, 5223], []],
  ['nats', [4222], []],
  ['kafka', [9092], []],
  // Industrial / building automation
  ['modbus', [502], [502]],
  ['opcua', [4840], [4840]],
  ['bacnet', [47808], [47808]],
  ['dnp3', [20000], [20000]],
  ['enip', [44818], [44818, 2222]], // EtherNet/IP explicit and implicit (I/O) messaging
  ['s7comm', [102], []],
  ['iec104', [2404], []],
  // Name, time, address services
  ['dns', [53], [53]],
  ['dot', [853], []],
  ['doq', [], [853]],
  ['ntp', [], [123]],
  ['dhcp', [], [67, 68]],
  ['dhcpv6', [], [546, 547]],
  ['mdns', [], [5353]],
  ['llmnr', [5355], [5355]],
  ['ssdp', [], [1900]],
  ['netbios', [137, 139], [137, 138]],
  // Web
  ['http', [80, 8080], []],
  ['https', [443, 8443], []],
  ['quic', [], [443]],
  // Remote access and management
  ['ssh', [22], []],
  ['telnet', [23], []],
  ['rdp', [3389], [3389]],
  ['vnc', [5900], []],
  ['snmp', [161], [161]],
  ['snmp-trap', [162], [162]],
  ['syslog', [514, 6514], [514]],
  ['ldap', [389], [389]],
  ['ldaps', [636], []],
  ['kerberos', [88], [88]],
  ['radius', [], [1812, 1813]],
  ['tftp', [], [69]],
  ['ftp', [20, 21], []],
  ['smtp', [25, 465, 587], []],
  ['imap', [143, 993], []],
  ['pop3', [110, 995], []],
  ['smb', [445], []],
  ['nfs', [2049], [2049]],
  ['iscsi', [3260], []],
  ['bgp', [179], []],
  // Media and voice
  ['rtsp', [554], [554]],
  ['sip', [5060, 5061], [5060]],
  ['stun', [3478, 5349], [3478]],
  // Databases and brokers
  ['postgresql', [5432], []],
  ['mysql', [3306], []],
  ['redis', [6379], []],
  ['mongodb', [27017], []],
  ['memcached', [11211], []],
  // Flow telemetry itself
  ['netflow', [], [2055]],
  ['ipfix', [4739], [4739]],
  ['sflow', [], [6343]],
  // Tunnels and VPNs
  ['wireguard', [], [51820]],
  ['openvpn', [1194], [1194]],
  ['ipsec', [], [500, 4500]],
  ['l2tp', [], [1701]],
  ['pptp', [1723], []],
  ['vxlan', [], [4789]],
  ['geneve', [], [6081]],
];

export class AppRuleError extends Error {
  constructor(
    readonly index: number,
    readonly ruleName: string,
    reason: string,
  ) {
    super(`apps[${index}] ("${ruleName}"): ${reason}`);
    this.name = 'AppRuleError';
  }
}

export const APP_NAME_MAX_LENGTH = 48;

/** Exporter application names that say "not classified": they fall through to the ports. */
const UNCLASSIFIED = new Set(['', 'unknown', 'unclassified', 'none', 'other', 'n-a', 'null']);

/**
 * Lower case, trimmed, runs of anything but [a-z0-9._+-] folded to one '-', at most 48 characters.
 * Returns '' when nothing usable is left.
 */
export function sanitizeAppName(raw: string): string {
  let s = raw.trim().toLowerCase().replace(/[^a-z0-9._+-]+/g, '-');
  s = s.replace(/^[-.]+|[-.]+$/g, '');
  if (s.length > APP_NAME_MAX_LENGTH) s = s.slice(0, APP_NAME_MAX_LENGTH).replace(/[-.]+$/, '');
  return s;
}

/** Index of a port-carrying protocol in the port tables, -1 for the others. */
function portProtocolIndex(protocol: number): number {
  return protocol === TCP ? 0 : protocol === UDP ? 1 : protocol === SCTP ? 2 : -1;
}
const OTHER_BY_PORT_PROTOCOL = ['tcp-other', 'udp-other', 'sctp'];
/** lookupCode() ranges beyond the interned names (at most 0xffff of them). */
const OTHER_BY_PORT_PROTOCOL_CODE = 0x10000;
const PROTOCOL_APP_CODE = 0x20000;
/** lookupCode() of the empty label. */
export const EMPTY_APP_CODE = 0x30000;

/** Lower port wins when both are listed; index 0 means "not listed". */
function pick(table: Uint16Array, srcPort: number, dstPort: number): number {
  const d = table[dstPort & 0xffff];
  const s = table[srcPort & 0xffff];
  if (d !== 0 && s !== 0) return srcPort < dstPort ? s : d;
  return d !== 0 ? d : s;
}

export class AppCatalogue {
  /** Interned names; index 0 is unused so that 0 means "no entry" in the tables. */
  private readonly names: string[] = [''];
  private readonly nameIndex = new Map<string, number>();
  private readonly userPorts: Array<Uint16Array | undefined> = [undefined, undefined, undefined];
  private readonly userProtocols = new Uint16Array(256);
  private readonly builtinPorts: Uint16Array[];
  /** Exporter-provided names -> sanitized label, bounded (cleared when full). */
  private readonly exporterNames = new Map<string, string>();
  private static readonly EXPORTER_NAME_CACHE = 4096;

  /** Throws AppRuleError naming the rule for an empty name, a bad port or range, a bad protocol. */
  constructor(rules: readonly AppRule[] = []) {
    this.builtinPorts = [new Uint16Array(65536), new Uint16Array(65536), new Uint16Array(65536)];
    rules.forEach((rule, index) => this.addRule(rule, index));
    for (const [name, tcp, udp] of BUILTIN_APPS) {
      const id = this.intern(name);
      for (const p of tcp) if (this.builtinPorts[0][p] === 0) this.builtinPorts[0][p] = id;
      for (const p of udp) if (this.builtinPorts[1][p] === 0) this.builtinPorts[1][p] = id;
    }
  }

  private intern(name: string): number {
    let id = this.nameIndex.get(name);
    if (id === undefined) {
      id = this.names.length;
      if (id > 0xffff) throw new Error('too many distinct application names (more than 65535)');
      this.names.push(name);
      this.nameIndex.set(name, id);
    }
    return id;
  }

  private addRule(rule: AppRule, index: number): void {
    const rawName = typeof rule?.name === 'string' ? rule.name : '';
    const name = sanitizeAppName(rawName);
    if (!name) throw new AppRuleError(index, rawName, 'name is empty after sanitizing (use letters, digits, . _ + -)');
    const protocol = rule.protocol;
    if (protocol !== undefined && !(Number.isInteger(protocol) && protocol >= 0 && protocol <= 255)) {
      throw new AppRuleError(index, name, `protocol ${String(protocol)} is not an IP protocol number 0-255`);
    }
    const ports = Array.isArray(rule.ports) ? rule.ports : [];
    if (ports.length === 0 && protocol === undefined) throw new AppRuleError(index, name, 'needs ports, a protocol, or both');
    const ranges: Array<[number, number]> = [];
    for (const p of ports) {
      const [lo, hi] = Array.isArray(p) ? p : [p, p];
      if (!isPort(lo) || !isPort(hi)) throw new AppRuleError(index, name, `port ${JSON.stringify(p)} is not a port number 0-65535`);
      if (lo > hi) throw new AppRuleError(index, name, `port range ${lo}-${hi} is reversed`);
      ranges.push([lo, hi]);
    }
    const id = this.intern(name);
    // No ports, or a protocol without ports (icmp, gre, esp...): the rule names the whole
    // protocol. Earlier rules win, as for ports.
    if (protocol !== undefined && (ranges.length === 0 || portProtocolIndex(protocol) < 0)) {
      if (this.userProtocols[protocol] === 0) this.userProtocols[protocol] = id;
      return;
    }
    const targets = protocol === undefined ? [0, 1, 2] : [portProtocolIndex(protocol)];
    for (const [lo, hi] of ranges) {
      for (const t of targets) {
        const table = (this.userPorts[t] ??= new Uint16Array(65536));
        for (let port = lo; port <= hi; port++) if (table[port] === 0) table[port] = id;
      }
    }
  }

  /** App label from protocol and ports alone (steps 2-4 above). */
  lookup(protocol: number, srcPort: number, dstPort: number): string {
    const pi = portProtocolIndex(protocol);
    if (pi >= 0) {
      const user = this.userPorts[pi];
      if (user !== undefined) {
        const id = pick(user, srcPort, dstPort);
        if (id !== 0) return this.names[id];
      }
      const up = this.userProtocols[protocol];
      if (up !== 0) return this.names[up];
      const id = pick(this.builtinPorts[pi], srcPort, dstPort);
      return id !== 0 ? this.names[id] : OTHER_BY_PORT_PROTOCOL[pi];
    }
    const p = protocol & 0xff;
    if (p !== protocol) return '';
    const up = this.userProtocols[p];
    return up !== 0 ? this.names[up] : PROTOCOL_APPS[p];
  }

  /**
   * lookup() as a number, for keys that must not hold strings: records with equal codes get the
   * same label (one name per code; a name may have more than one code). Names of the catalogue
   * are their index; the per-protocol fallbacks and the empty label are codes above 0xffff.
   */
  lookupCode(protocol: number, srcPort: number, dstPort: number): number {
    const pi = portProtocolIndex(protocol);
    if (pi >= 0) {
      const user = this.userPorts[pi];
      if (user !== undefined) {
        const id = pick(user, srcPort, dstPort);
        if (id !== 0) return id;
      }
      const up = this.userProtocols[protocol];
      if (up !== 0) return up;
      const id = pick(this.builtinPorts[pi], srcPort, dstPort);
      return id !== 0 ? id : OTHER_BY_PORT_PROTOCOL_CODE + pi;
    }
    const p = protocol & 0xff;
    if (p !== protocol) return EMPTY_APP_CODE;
    const up = this.userProtocols[p];
    return up !== 0 ? up : PROTOCOL_APP_CODE + p;
  }

  /**
   * App label for a flow: the exporter's own application name when it gave a usable one, else the
   * port lookup. `exporterName` is record.appName.
   */
  appFor(protocol: number, srcPort: number, dstPort: number, exporterName: string): string {
    if (exporterName !== '') {
      const named = this.exporterLabel(exporterName);
      if (named !== '') return named;
    }
    return this.lookup(protocol, srcPort, dstPort);
  }

  /** Sanitized exporter name ('' when unusable), cached so repeated names cost one Map read. */
  exporterLabel(raw: string): string {
    let s = this.exporterNames.get(raw);
    if (s === undefined) {
      s = sanitizeAppName(raw);
      if (UNCLASSIFIED.has(s)) s = '';
      if (this.exporterNames.size >= AppCatalogue.EXPORTER_NAME_CACHE) this.exporterNames.clear();
      this.exporterNames.set(raw, s);
    }
    return s;
  }
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
}
