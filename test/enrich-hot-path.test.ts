import { describe, expect, it } from 'vitest';
import { Enricher, type EnricherConfig } from '../src/enrich/enricher.js';
import { DEFAULT_LOCAL_NETWORKS } from '../src/enrich/orientation.js';
import { createFlowRecord, type FlowRecord } from '../src/record.js';
import { createFlowLabels } from '../src/rollup/types.js';
import { parseAddress } from '../src/util/address.js';
import { gcCountDuring } from './helpers/gc.js';

const BASE: EnricherConfig = { localNetworks: [...DEFAULT_LOCAL_NETWORKS], inventory: [], apps: [], peerNetworks: [] };

function record(src: string, dst: string, mac = false): FlowRecord {
  const r = createFlowRecord();
  r.af = parseAddress(src, r.src) as 4 | 6;
  parseAddress(dst, r.dst);
  r.sourceKind = 'netflow9';
  r.exporter = '127.0.0.1';
  r.protocol = 6;
  r.srcPort = 50000;
  r.dstPort = 443;
  r.inputIf = 1;
  r.outputIf = 2;
  if (mac) {
    r.hasSrcMac = true;
    r.srcMac.set([2, 0, 0, 0, 0, 0x60]);
  }
  return r;
}

const RECORDS = [
  record('10.0.0.1', '198.18.0.7'),
  record('198.18.3.9', '10.0.0.2'),
  record('fd00:0:0:1::1', '2001:db8:1::7'),
  record('::ffff:192.168.1.20', '::ffff:198.18.0.7'),
  record('192.168.1.60', '203.0.113.5', true),
];

/** Collections while enriching three million cached records (after a warm-up that fills the caches). */
async function collections(e: Enricher, records = RECORDS): Promise<number> {
  const out = createFlowLabels();
  for (let i = 0; i < 20_000; i++) e.enrich(records[i % records.length], out);
  return gcCountDuring(() => {
    for (let i = 0; i < 3_000_000; i++) e.enrich(records[i % records.length], out);
  });
}

describe('enrich allocates nothing per record once addresses are cached', () => {
  it('with the default config (no inventory, no peer networks)', async () => {
    expect(await collections(new Enricher(BASE))).toBeLessThanOrEqual(1);
  });

  it('with inventory hosts, networks and MACs, and peer networks', async () => {
    const e = new Enricher({
      ...BASE,
      inventory: [
        { match: '10.0.0.1', name: 'sensor-1' },
        { match: 'fd00:0:0:1::1', name: 'sensor-v6' },
        { match: '::ffff:192.168.1.20', name: 'mapped-host' },
        { match: '192.168.1.0/24', name: 'lan' },
        { match: '02:00:00:00:00:60', name: 'camera' },
      ],
      peerNetworks: [
        { match: '198.18.0.0/24', name: 'bench' },
        { match: '2001:db8::/32', name: 'doc' },
      ],
    });
    const out = createFlowLabels();
    e.enrich(RECORDS[4], out);
    expect(out).toMatchObject({ device: 'camera', peer: '203.0.113.5', direction: 'egress' });
    e.enrich(RECORDS[3], out);
    expect(out).toMatchObject({ device: 'mapped-host', peer: 'bench' });
    expect(await collections(e)).toBeLessThanOrEqual(1);
    // The MAC lookup alone: a 48-bit Map key would box a number per lookup (16 bytes a record).
    expect(await collections(e, [RECORDS[4]])).toBeLessThanOrEqual(1);
  });
});
