/**
 * Generated record readers (built for a fixed-length template once it has read
 * GENERATE_AFTER_RECORDS records) decode exactly what the per-field setters decode: the same
 * datagrams give field-for-field identical records before and after the switch.
 */
import { describe, expect, it } from 'vitest';
import type { NetflowExporterState } from '../src/decoders/netflow-state.js';
import { GENERATE_AFTER_RECORDS } from '../src/decoders/template-reader.js';
import { formatAddress } from '../src/util/address.js';
import { edgePayloads, makeDecoder, set, v9Packet, v9Template, Writer, type FieldDef } from './decoders-netflow-helpers.js';

function generatedReaders(state: NetflowExporterState, version: 9 | 10, domain: number): { fixed: number; generated: number } {
  const dom = state.domain(version, domain);
  let fixed = 0;
  let generated = 0;
  for (const t of dom?.templates.values() ?? []) {
    if (t.reader.variable) continue;
    fixed++;
    if (t.reader.generated !== undefined) generated++;
  }
  return { fixed, generated };
}

describe('generated record readers', () => {
  it.each(['softflowd-v9', 'softflowd-ipfix', 'pmacctd-nfprobe-v9-large', 'pmacctd-nfprobe-ipfix', 'softflowd-ipfix-s10', 'pmacctd-nfprobe-v9-s10'])(
    '%s: records after the switch equal the records before it',
    (name) => {
      const payloads = edgePayloads(name);
      const dec = makeDecoder();
      for (const p of payloads) dec.decode(p);
      const first = dec.records.splice(0);
      // Enough passes for every data template in the capture to read GENERATE_AFTER_RECORDS records.
      for (let pass = 0; pass < GENERATE_AFTER_RECORDS; pass++) {
        for (const p of payloads) dec.decode(p);
        if (pass < GENERATE_AFTER_RECORDS - 1) dec.records.length = 0;
      }
      expect(dec.records).toEqual(first);
      const version = name.includes('ipfix') ? 10 : 9;
      const used = generatedReaders(dec.ctx.state, version, 0);
      expect(used.generated).toBeGreaterThan(0);
    },
  );

  it('every field kind with a snippet reads the same through the generated reader', () => {
    // v9 template: MACs, VLAN, direction, IPv6 addresses, uptimes, 2-byte flags and interfaces,
    // a 3-byte (reduced size) octet counter, 8-byte packets, sampler id, an unknown field.
    const fields: FieldDef[] = [
      [56, 6],
      [80, 6],
      [58, 2],
      [61, 1],
      [27, 16],
      [28, 16],
      [22, 4],
      [21, 4],
      [7, 2],
      [11, 2],
      [4, 1],
      [6, 2],
      [10, 2],
      [14, 2],
      [1, 3],
      [2, 8],
      [48, 1],
      [999, 5],
    ];
    const records = GENERATE_AFTER_RECORDS + 16;
    const data = new Writer();
    for (let i = 0; i < records; i++) {
      data
        .u8(0x02, 0, 0, 0, 0, i)
        .u8(0x02, 0, 0, 0, 1, i)
        .u16(0xf000 | (100 + i))
        .u8(i % 3)
        .u16(0xfd12).u16(0x3456).u16(0x789a).u16(1).u32(0).u32(i)
        .u16(0x2001).u16(0x0db8).u32(0).u32(0).u32(i * 7)
        .u32(90_000 + i)
        .u32(99_000 + i)
        .u16(40_000 + i)
        .u16(443)
        .u8(6)
        .u16(0x0118)
        .u16(3)
        .u16(7 + i)
        .u8(0x01, i, 0x10)
        .u64(2 ** 40 + i)
        .u8(0)
        .u8(1, 2, 3, 4, 5);
    }
    const packet = (seq: number): Uint8Array =>
      v9Packet({ seq, uptimeMs: 100_000 }, set(0, v9Template(300, fields)), set(300, data.done()));
    const dec = makeDecoder();
    dec.decode(packet(1));
    const before = dec.records.splice(0);
    dec.decode(packet(2));
    expect(generatedReaders(dec.ctx.state, 9, 0)).toEqual({ fixed: 1, generated: 1 });
    expect(before).toHaveLength(records);
    expect(dec.records).toEqual(before);
    const r = dec.records[4];
    expect(formatAddress(r.af, r.src)).toBe('fd12:3456:789a:1::4');
    expect(formatAddress(r.af, r.dst)).toBe('2001:db8::1c');
    expect([...r.srcMac]).toEqual([2, 0, 0, 0, 0, 4]);
    expect(r.hasDstMac).toBe(true);
    expect(r.vlan).toBe(104);
    expect(r.direction).toBe(2); // flowDirection 1 = egress
    expect(r.bytes).toBe(0x010410);
    expect(r.packets).toBe(2 ** 40 + 4);
    expect(r.tcpFlags).toBe(0x0118);
    expect(r.outputIf).toBe(11);
    expect(r.timeEndMs - r.timeStartMs).toBe(9000);
  });
});
