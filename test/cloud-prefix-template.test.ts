import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appendedRecordsDocument, recordsFooterOffset } from '../src/sources/cloud/growing-json-records.js';
import { checkPrefixTemplate, expandPrefixTemplate } from '../src/sources/cloud/prefix-template.js';

const HOUR = 3_600_000;

describe('expandPrefixTemplate', () => {
  it('gives one prefix per UTC day of the window, across a month and a year end', () => {
    const to = Date.UTC(2027, 0, 1, 3, 0);
    expect(expandPrefixTemplate('AWSLogs/1/vpcflowlogs/us-east-1/{yyyy}/{mm}/{dd}/', to - 48 * HOUR, to)).toEqual([
      'AWSLogs/1/vpcflowlogs/us-east-1/2026/12/30/',
      'AWSLogs/1/vpcflowlogs/us-east-1/2026/12/31/',
      'AWSLogs/1/vpcflowlogs/us-east-1/2027/01/01/',
    ]);
  });

  it('gives one prefix per hour with {hh}, the current hour included', () => {
    const to = Date.UTC(2026, 10, 28, 9, 59);
    const out = expandPrefixTemplate('x/y={yyyy}/m={mm}/d={dd}/h={hh}/', to - 3 * HOUR, to);
    expect(out).toEqual(['x/y=2026/m=11/d=28/h=06/', 'x/y=2026/m=11/d=28/h=07/', 'x/y=2026/m=11/d=28/h=08/', 'x/y=2026/m=11/d=28/h=09/']);
  });

  it('keeps a prefix without placeholders as it is, and month folders without repeats', () => {
    expect(expandPrefixTemplate('AWSLogs/', 0, 10 * 24 * HOUR)).toEqual(['AWSLogs/']);
    const to = Date.UTC(2026, 11, 2);
    expect(expandPrefixTemplate('logs/{yyyy}/{mm}/', to - 5 * 24 * HOUR, to)).toEqual(['logs/2026/11/', 'logs/2026/12/']);
  });

  it('names what is wrong with a template', () => {
    expect(checkPrefixTemplate('a/{yyyy}/{mm}/{dd}/{hh}/')).toBeUndefined();
    expect(checkPrefixTemplate('a/{YYYY}/')).toMatch(/unknown placeholder \{YYYY\}.*\{yyyy\}/);
    expect(checkPrefixTemplate('a/{hh}/')).toMatch(/\{hh\} without \{dd\}/);
    expect(checkPrefixTemplate('a/{mm}/{dd}/')).toMatch(/\{mm\} without \{yyyy\}/);
  });
});

describe('growing Azure flow-log blobs', () => {
  const enc = (s: string): Buffer => Buffer.from(s);

  it('finds where the footer begins, whitespace allowed, and refuses other endings', () => {
    expect(recordsFooterOffset(enc('{"records":[{"a":1}]}'))).toBe(19);
    expect(recordsFooterOffset(enc('{"records":[{"a":1}]\n}\n'))).toBe(19);
    expect(recordsFooterOffset(enc('{"records":[{"a":1}'))).toBe(-1);
    expect(recordsFooterOffset(enc('{"a":1}'))).toBe(-1);
    expect(recordsFooterOffset(enc(''))).toBe(-1);
  });

  it('turns the bytes after the old footer into a records document of their own', () => {
    expect(appendedRecordsDocument(enc(',{"a":2},{"a":3}]}'))).toEqual({ text: '{"records":[{"a":2},{"a":3}]}', footerOffset: 16 });
    // The first records of a blob that was empty when last read have no leading comma.
    expect(appendedRecordsDocument(enc('{"a":1}]}'))?.text).toBe('{"records":[{"a":1}]}');
    // Nothing new: only the footer.
    expect(appendedRecordsDocument(enc(']}'))).toEqual({ text: '{"records":[]}', footerOffset: 0 });
    // Multi-byte text: offsets are in bytes.
    const tail = enc(',{"n":"é"}]}');
    expect(appendedRecordsDocument(tail)?.footerOffset).toBe(tail.length - 2);
    // Not growth: rewritten content.
    expect(appendedRecordsDocument(enc('"records":[]}'))).toBeUndefined();
    expect(appendedRecordsDocument(enc(',{"a":2}'))).toBeUndefined();
  });

  it('reading each growth from where the footer began yields every record exactly once, whatever the records hold', () => {
    const record = fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.constant(']}')), { maxKeys: 4 });
    fc.assert(
      fc.property(fc.array(fc.array(record, { maxLength: 4 }), { minLength: 1, maxLength: 6 }), fc.boolean(), (growths, pretty) => {
        const all: unknown[] = [];
        let blob = Buffer.from('{"records":[]}');
        let offset = recordsFooterOffset(blob);
        const seen: unknown[] = [];
        for (const batch of growths) {
          // Append the batch before the footer, as a re-committed block list does.
          const blocks = batch.map((r, i) => (all.length + i === 0 ? '' : ',') + (pretty ? JSON.stringify(r, null, 1) : JSON.stringify(r)));
          all.push(...batch);
          const footerAt = recordsFooterOffset(blob);
          blob = Buffer.concat([blob.subarray(0, footerAt), Buffer.from(blocks.join('')), Buffer.from(pretty ? ']\n}\n' : ']}')]);
          const appended = appendedRecordsDocument(blob.subarray(offset));
          expect(appended).toBeDefined();
          seen.push(...(JSON.parse(appended!.text) as { records: unknown[] }).records);
          offset += appended!.footerOffset;
        }
        expect(seen).toEqual(all);
        expect(JSON.parse(blob.toString()).records).toEqual(all);
      }),
      { numRuns: 300 },
    );
  });
});
