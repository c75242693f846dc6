/**
 * Persistence of what an exporter taught us (templates, options templates, sampling, system init
 * time): a state rebuilt from toJSON() decodes data datagrams without seeing the templates again.
 */
import { describe, expect, it } from 'vitest';
import { NetflowExporterState } from '../src/decoders/netflow-state.js';
import { corpusOracle } from './helpers/corpus.js';
import {
  edgePayloads,
  ipfixMessage,
  ipfixOptionsTemplate,
  ipfixTemplate,
  makeDecoder,
  set,
  totals,
  Writer,
} from './decoders-netflow-helpers.js';

function roundTrip(st: NetflowExporterState): NetflowExporterState {
  return NetflowExporterState.fromJSON(JSON.parse(JSON.stringify(st.toJSON())));
}

describe('toJSON / fromJSON', () => {
  it('a restored state decodes pmacctd v9 data datagrams without the templates', () => {
    const p = edgePayloads('pmacctd-nfprobe-v9-large');
    const ref = makeDecoder();
    for (const d of p.slice(0, 18)) ref.decode(d);
    const learned = makeDecoder();
    learned.decode(p[0]);
    const restored = makeDecoder({ state: roundTrip(learned.ctx.state) });
    for (const d of p.slice(1, 18)) restored.decode(d);
    expect(restored.ctx.counters.pendingRecords).toBe(0);
    expect(restored.ctx.counters.templateMisses).toBe(0);
    expect(restored.records).toEqual(ref.records.slice(learned.records.length));
    expect(restored.ctx.state.templates()).toEqual(learned.ctx.state.templates());
  });

  it('keeps learned sampling: restored softflowd IPFIX -s 10 records carry rate 10', () => {
    const p = edgePayloads('softflowd-ipfix-s10');
    const oracle = corpusOracle('edge/softflowd-ipfix-s10.json');
    const learned = makeDecoder();
    learned.decode(p[0]);
    const restored = makeDecoder({ state: roundTrip(learned.ctx.state) });
    for (const d of p.slice(1)) restored.decode(d);
    const all = [...learned.records, ...restored.records];
    expect(totals(all)).toEqual(oracle.totals);
    expect(new Set(all.map((r) => r.samplingRate))).toEqual(new Set([10]));
  });

  it('keeps sampler tables and system init time', () => {
    const dec = makeDecoder();
    dec.decode(
      ipfixMessage(
        { domain: 7 },
        set(3, ipfixOptionsTemplate(256, 1, [[48, 1], [160, 8], [34, 4]])),
        set(256, new Writer().u8(3).u64(1_700_000_000_000).u32(50).done()),
        set(2, ipfixTemplate(257, [[1, 4], [48, 1], [22, 4], [21, 4]])),
      ),
    );
    const restored = makeDecoder({ state: roundTrip(dec.ctx.state) });
    restored.decode(ipfixMessage({ domain: 7 }, set(257, new Writer().u32(9).u8(3).u32(100).u32(200).done())));
    const r = restored.records[0];
    expect([r.samplingRate, r.timeStartMs, r.timeEndMs]).toEqual([50, 1_700_000_000_100, 1_700_000_000_200]);
    expect(restored.ctx.state.sampling()).toEqual(dec.ctx.state.sampling());
  });

  it('the saved form is plain data with numbers, not strings, for ids', () => {
    const dec = makeDecoder();
    dec.decode(edgePayloads('softflowd-v9')[0]);
    const doc = dec.ctx.state.toJSON() as { format: number; domains: Array<{ templates: Array<{ fields: unknown[] }> }> };
    expect(doc.format).toBe(1);
    expect(doc.domains[0].templates[0].fields[0]).toEqual([8, 0, 4]);
  });

  it.each([
    [null, /expected an object/],
    [{ format: 2, domains: [] }, /unsupported format 2/],
    [{ format: 1 }, /"domains" must be an array/],
    [{ format: 1, domains: [{ protocol: 7, domain: 0, templates: [] }] }, /protocol must be 9 or 10/],
    [{ format: 1, domains: [{ protocol: 9, domain: -1, templates: [] }] }, /domain must be an integer/],
    [{ format: 1, domains: [{ protocol: 9, domain: 0, templates: [{ id: 12, kind: 'data', fields: [] }] }] }, /id must be an integer 256\.\.65535/],
    [{ format: 1, domains: [{ protocol: 9, domain: 0, templates: [{ id: 256, kind: 'x', fields: [] }] }] }, /kind must be/],
    [{ format: 1, domains: [{ protocol: 9, domain: 0, templates: [{ id: 256, kind: 'data', fields: [[8, 0, 0]] }] }] }, /length must be 1\.\.65535/],
    [{ format: 1, domains: [{ protocol: 9, domain: 0, templates: [{ id: 256, kind: 'data', fields: [] }] }] }, /invalid template/],
    [{ format: 1, domains: [{ protocol: 9, domain: 0, templates: [{ id: 256, kind: 'data', fields: [[8, 9, 4]] }] }] }, /bad enterprise/],
    [{ format: 1, domains: [{ protocol: 10, domain: 0, sampling: { rate: 'x' }, templates: [] }] }, /sampling.rate/],
  ])('rejects bad input with a clear error (%#)', (data, message) => {
    expect(() => NetflowExporterState.fromJSON(data)).toThrow(message);
  });

  it('applies the limits of the new process', () => {
    const dec = makeDecoder();
    dec.decode(edgePayloads('softflowd-v9')[0]);
    const saved = JSON.parse(JSON.stringify(dec.ctx.state.toJSON()));
    expect(() => NetflowExporterState.fromJSON(saved, { maxTemplatesPerDomain: 2 })).toThrow(/exceeds the limit of 2/);
    expect(() => NetflowExporterState.fromJSON(saved, { maxFieldsPerTemplate: 4 })).toThrow(/too many fields/);
    expect(NetflowExporterState.fromJSON(saved).templates()).toHaveLength(5);
  });
});
