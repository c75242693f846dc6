import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readPcap, PcapFormatError } from '../src/sources/pcap-reader.js';
import { corpusPath } from './helpers/corpus.js';

describe('readPcap', () => {
  it('extracts every export datagram of a corpus capture', () => {
    const r = readPcap(readFileSync(corpusPath('edge/softflowd-v9.pcap')));
    expect(r.datagrams).toHaveLength(3); // the oracle JSON says 3 datagrams
    for (const d of r.datagrams) {
      expect(d.dstPort).toBe(2055);
      expect(d.af).toBe(4);
      expect([...d.srcAddr.subarray(0, 4)]).toEqual([127, 0, 0, 1]);
      expect((d.payload[0] << 8) | d.payload[1]).toBe(9);
    }
  });

  it('counts the sFlow capture datagrams like the oracle', () => {
    const r = readPcap(readFileSync(corpusPath('edge/pmacctd-sfprobe-rate1.pcap')));
    expect(r.datagrams).toHaveLength(130);
  });

  it('rejects a file that is not a capture with a clear error', () => {
    expect(() => readPcap(Buffer.from('hello world, not a pcap'), 'x.txt')).toThrow(PcapFormatError);
    expect(() => readPcap(Buffer.from('hello world, not a pcap'), 'x.txt')).toThrow(/x\.txt/);
  });
});
