import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppCatalogue, AppRuleError, BUILTIN_APPS, PROTOCOL_LABELS, sanitizeAppName } from '../src/enrich/app-catalogue.js';
import { repoRoot } from './helpers/corpus.js';

const TCP = 6;
const UDP = 17;
const EPHEMERAL = 51234;

describe('AppCatalogue built-in', () => {
  const cat = new AppCatalogue();

  it('names IoT and common services from the server port, in both directions', () => {
    const cases: Array<[number, number, string]> = [
      [TCP, 1883, 'mqtt'],
      [TCP, 8883, 'mqtts'],
      [UDP, 5683, 'coap'],
      [UDP, 5684, 'coaps'],
      [TCP, 5672, 'amqp'],
      [TCP, 5671, 'amqps'],
      [TCP, 502, 'modbus'],
      [TCP, 4840, 'opcua'],
      [UDP, 47808, 'bacnet'],
      [TCP, 20000, 'dnp3'],
      [TCP, 44818, 'enip'],
      [TCP, 102, 's7comm'],
      [TCP, 53, 'dns'],
      [UDP, 53, 'dns'],
      [TCP, 853, 'dot'],
      [UDP, 123, 'ntp'],
      [TCP, 80, 'http'],
      [TCP, 8080, 'http'],
      [TCP, 443, 'https'],
      [UDP, 443, 'quic'],
      [TCP, 22, 'ssh'],
      [TCP, 23, 'telnet'],
      [UDP, 161, 'snmp'],
      [UDP, 162, 'snmp-trap'],
      [UDP, 514, 'syslog'],
      [UDP, 67, 'dhcp'],
      [UDP, 5353, 'mdns'],
      [UDP, 1900, 'ssdp'],
      [TCP, 554, 'rtsp'],
      [UDP, 5060, 'sip'],
      [TCP, 3389, 'rdp'],
      [TCP, 445, 'smb'],
      [TCP, 389, 'ldap'],
      [TCP, 636, 'ldaps'],
      [TCP, 9092, 'kafka'],
      [TCP, 6379, 'redis'],
      [TCP, 5432, 'postgresql'],
      [TCP, 3306, 'mysql'],
      [UDP, 2055, 'netflow'],
      [UDP, 4739, 'ipfix'],
      [UDP, 6343, 'sflow'],
      [UDP, 51820, 'wireguard'],
      [UDP, 1194, 'openvpn'],
      [UDP, 500, 'ipsec'],
      [UDP, 4500, 'ipsec'],
    ];
    for (const [proto, port, name] of cases) {
      expect(cat.lookup(proto, EPHEMERAL, port), `${proto}/${port} request`).toBe(name);
      expect(cat.lookup(proto, port, EPHEMERAL), `${proto}/${port} reply`).toBe(name);
    }
  });

  it('is protocol specific: a TCP-only service port over UDP is unknown, and the reverse', () => {
    expect(cat.lookup(UDP, EPHEMERAL, 1883)).toBe('mqtt'); // MQTT-SN style: listed for both
    expect(cat.lookup(UDP, EPHEMERAL, 22)).toBe('udp-other');
    expect(cat.lookup(TCP, EPHEMERAL, 123)).toBe('tcp-other');
    expect(cat.lookup(TCP, EPHEMERAL, 5353)).toBe('tcp-other');
  });

  it('prefers the lower port when both are listed, so both directions agree', () => {
    // A client whose ephemeral port happens to be WireGuard's talks HTTPS.
    expect(cat.lookup(TCP, 51820, 443)).toBe('https');
    expect(cat.lookup(UDP, 47808, 5683)).toBe('coap');
    expect(cat.lookup(UDP, 5683, 47808)).toBe('coap');
    expect(cat.lookup(UDP, 123, 123)).toBe('ntp');
  });

  it('labels unknown ports and portless protocols without ever using a number from the ports', () => {
    expect(cat.lookup(TCP, 40000, 40001)).toBe('tcp-other');
    expect(cat.lookup(UDP, 40000, 40001)).toBe('udp-other');
    expect(cat.lookup(1, 0, 2048)).toBe('icmp'); // pmacct puts type*256+code in the port
    expect(cat.lookup(58, 0, 0x8000)).toBe('icmpv6');
    expect(cat.lookup(47, 0, 0)).toBe('gre');
    expect(cat.lookup(50, 0, 0)).toBe('esp');
    expect(cat.lookup(89, 0, 0)).toBe('ospf');
    expect(cat.lookup(132, 1000, 2000)).toBe('sctp');
    expect(cat.lookup(253, 0, 0)).toBe('proto-253');
    expect(cat.lookup(999, 0, 0)).toBe('');
    for (let port = 0; port < 65536; port += 7) {
      expect(cat.lookup(TCP, 65535 - port, port)).not.toMatch(/\d{3,}/);
    }
  });

  it('has one name per (protocol, port) and only bounded, label-safe names', () => {
    const seen = new Map<string, string>();
    for (const [name, tcp, udp] of BUILTIN_APPS) {
      expect(sanitizeAppName(name)).toBe(name);
      for (const key of [...tcp.map((p) => `tcp/${p}`), ...udp.map((p) => `udp/${p}`)]) {
        expect(seen.get(key), `${key} listed for ${seen.get(key)} and ${name}`).toBeUndefined();
        seen.set(key, name);
      }
    }
    expect(PROTOCOL_LABELS[6]).toBe('tcp');
    expect(PROTOCOL_LABELS[17]).toBe('udp');
    expect(PROTOCOL_LABELS[58]).toBe('icmpv6');
    expect(PROTOCOL_LABELS[253]).toBe('253');
    expect(PROTOCOL_LABELS[0]).toBe('');
  });
});

describe('AppCatalogue user rules', () => {
  const cat = new AppCatalogue([
    { name: 'Fleet Telemetry', protocol: TCP, ports: [1883] },
    { name: 'scada', ports: [[9000, 9010]] },
    { name: 'later-loses', protocol: TCP, ports: [9005] },
    { name: 'tunnel', protocol: 47, ports: [] },
    { name: 'all-sctp', protocol: 132, ports: [] },
    { name: 'vpn', protocol: 50, ports: [1] }, // ESP has no ports: the rule names all of ESP
  ]);

  it('win over the built-in catalogue, earlier rules over later ones', () => {
    expect(cat.lookup(TCP, EPHEMERAL, 1883)).toBe('fleet-telemetry');
    expect(cat.lookup(UDP, EPHEMERAL, 1883)).toBe('mqtt'); // the rule is TCP only
    expect(cat.lookup(TCP, EPHEMERAL, 9005)).toBe('scada');
    expect(cat.lookup(UDP, 9010, EPHEMERAL)).toBe('scada');
    expect(cat.lookup(UDP, EPHEMERAL, 9011)).toBe('udp-other');
    expect(cat.lookup(47, 0, 0)).toBe('tunnel');
    expect(cat.lookup(132, 1, 2)).toBe('all-sctp');
    expect(cat.lookup(50, 0, 0)).toBe('vpn');
    expect(cat.lookup(51, 0, 0)).toBe('ah');
    // A user port on either end beats a built-in port on the other.
    expect(cat.lookup(TCP, 9001, 443)).toBe('scada');
  });

  it('give every label one code (lookupCode): records with equal codes get equal labels', () => {
    const plain = new AppCatalogue();
    for (const c of [cat, plain]) {
      const labelOf = new Map<number, string>();
      const ports = [0, 1, 22, 53, 80, 443, 1883, 5683, 8883, 9000, 9005, 9010, 9011, 40000, 65535];
      for (let protocol = -1; protocol <= 257; protocol++) {
        for (const sp of ports) {
          for (const dp of ports) {
            const code = c.lookupCode(protocol, sp, dp);
            const label = c.lookup(protocol, sp, dp);
            expect(Number.isInteger(code) && code >= 0).toBe(true);
            const seen = labelOf.get(code);
            if (seen === undefined) labelOf.set(code, label);
            else expect(label, `code ${code} for protocol ${protocol} ports ${sp}/${dp}`).toBe(seen);
          }
        }
      }
      // Different labels did get different codes (at least one per label seen).
      expect(labelOf.size).toBeGreaterThan(20);
    }
  });

  it('rejects bad rules with an error naming the rule', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ name: '***', ports: [1] }, /apps\[0\].*name is empty/],
      [{ name: 'x', ports: [70000] }, /apps\[0\] \("x"\): port 70000/],
      [{ name: 'x', ports: [[10, 5]] }, /reversed/],
      [{ name: 'x', ports: [1.5] }, /port 1.5/],
      [{ name: 'x', protocol: 300, ports: [1] }, /protocol 300/],
      [{ name: 'x', ports: [] }, /needs ports, a protocol/],
    ];
    for (const [rule, msg] of bad) {
      expect(() => new AppCatalogue([rule as never])).toThrow(AppRuleError);
      expect(() => new AppCatalogue([rule as never])).toThrow(msg);
    }
  });
});

describe('exporter-provided application names', () => {
  const cat = new AppCatalogue([{ name: 'mine', protocol: TCP, ports: [443] }]);

  it('win over user rules and ports, lowercased, trimmed and sanitized', () => {
    expect(cat.appFor(TCP, EPHEMERAL, 443, 'YouTube')).toBe('youtube');
    expect(cat.appFor(TCP, EPHEMERAL, 443, '  TLS.Google  ')).toBe('tls.google');
    expect(cat.appFor(TCP, EPHEMERAL, 443, 'ms office/365 {x}')).toBe('ms-office-365-x');
    expect(cat.appFor(TCP, EPHEMERAL, 443, '')).toBe('mine');
  });

  it('fall through to the ports when they say "unknown" or sanitize to nothing', () => {
    for (const raw of ['Unknown', 'unclassified', '   ', '!!!', 'other', 'N/A']) {
      expect(cat.appFor(TCP, EPHEMERAL, 443, raw), raw).toBe('mine');
    }
  });

  it('are bounded in length', () => {
    const long = 'a'.repeat(300);
    expect(sanitizeAppName(long)).toHaveLength(48);
    expect(cat.appFor(TCP, EPHEMERAL, 443, long)).toHaveLength(48);
    expect(sanitizeAppName(`${'b'.repeat(47)}-tail`)).toBe('b'.repeat(47));
  });

  it('keep answering correctly after the name cache has been cleared', () => {
    for (let i = 0; i < 10_000; i++) expect(cat.exporterLabel(`App ${i}`)).toBe(`app-${i}`);
    expect(cat.exporterLabel('App 3')).toBe('app-3');
  });
});

describe('docs/enrichment.md', () => {
  it('lists the built-in catalogue exactly as the code has it', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs', 'enrichment.md'), 'utf8');
    const rows = doc.split('\n').filter((l) => /^\| `[a-z0-9.+-]+` \| [0-9–]/.test(l));
    const want = BUILTIN_APPS.map(([name, tcp, udp]) => `| \`${name}\` | ${tcp.join(', ') || '–'} | ${udp.join(', ') || '–'} |`);
    expect(rows).toEqual(want);
  });
});
