/**
 * What every benchmark prints first: the machine and runtime, so a figure is never quoted without
 * them. The load average shows how noisy a shared machine was while it ran.
 */
import os from 'node:os';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  loadAverage: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverage: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

export function printMachine(title: string, command: string): void {
  const m = machineInfo();
  console.log(`# ${title}`);
  console.log(`command: ${command}`);
  console.log(
    `machine: ${m.cpus} CPU(s), ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.kernel}; node ${m.node}; load average ${m.loadAverage}`,
  );
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** 1234567 -> "1.23M", 12345 -> "12.3k". */
export function si(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(n % 1 === 0 ? 0 : 2);
}

/** A plain table with aligned columns, for terminal output and for pasting into docs. */
export function printTable(header: string[], rows: Array<Array<string | number>>): void {
  const text = rows.map((r) => r.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of text) console.log(line(r));
}
