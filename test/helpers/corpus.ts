/** Locates the shared corpus: ../shared/corpus beside the checkout, or FLOWGAUGE_CORPUS. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPcap, type UdpDatagram } from '../../src/sources/pcap-reader.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const CORPUS_DIR = process.env.FLOWGAUGE_CORPUS ?? path.resolve(repoRoot, '..', 'shared', 'corpus');

export function corpusPath(rel: string): string {
  const p = path.join(CORPUS_DIR, rel);
  if (!existsSync(p)) throw new Error(`corpus file ${p} not found: set FLOWGAUGE_CORPUS to the corpus folder`);
  return p;
}

export function corpusDatagrams(rel: string): UdpDatagram[] {
  return readPcap(readFileSync(corpusPath(rel)), rel).datagrams;
}

export interface OracleRow {
  src: string;
  dst: string;
  proto?: number;
  src_port?: number;
  dst_port?: number;
  packets: number;
  bytes: number;
  flows?: number;
  samples?: number;
  packets_scaled?: number;
  bytes_scaled?: number;
}

export interface Oracle {
  version: number | string;
  sampling_rate: number;
  datagrams: number;
  totals: { flows: number; packets: number; bytes: number; samples?: number };
  totals_scaled?: { flows?: number; packets: number; bytes: number };
  by_host_pair: OracleRow[];
  by_pair: OracleRow[];
  [k: string]: unknown;
}

export function corpusOracle(rel: string): Oracle {
  return JSON.parse(readFileSync(corpusPath(rel), 'utf8')) as Oracle;
}

export { repoRoot };
