/**
 * Scrape under load: datagram loss and /metrics latency while a scraper fetches ~10k series every
 * second and a C sender pushes NetFlow v9 at a fixed rate (50k datagrams/s by default). Each rate
 * runs twice back to back, without and with the scraper, so the loss the scrapes add is the
 * difference of two figures taken under the same machine noise.
 *
 *   npm run bench:scrape          (= npm run build && npx tsx bench/scrape-under-load.ts)
 *
 * The datagrams cover 40 devices x 80 peers, which fills the default rollups to ~10k series.
 * Configurations: ingest.workers 1 and one worker per CPU. Environment: BENCH_RATES (datagrams/s,
 * comma-separated, default "50000,15000"), BENCH_SECONDS (per phase, default 10), BENCH_WORKERS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dataDatagrams, helloDatagram, RECORDS_PER_DATAGRAM, writeSenderFile } from './e2e-udp-datagrams.js';
import { buildCTools, freeUdpPort, kernelDrops, metricSum, runSender, settle, startBenchDaemon, type BenchDaemon } from './e2e-udp-harness.js';
import { median, printMachine, printTable, si } from './machine.js';

const RATES = (process.env.BENCH_RATES ?? '50000,15000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WORKERS = Number(process.env.BENCH_WORKERS ?? os.availableParallelism());
const SOURCES = 8;
const KEYS = { devices: 40, peers: 80 };

interface Phase {
  sent: number;
  sentRate: number;
  lost: number;
  kernelDrops: number;
  scrapes: number[];
  bytes: number;
  series: number;
  renderMs: number;
}

function seriesIn(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('flow_') && !line.startsWith('#')) n++;
  return n;
}

async function phase(daemon: BenchDaemon, sender: string, file: string, rate: number, scrape: boolean): Promise<Phase> {
  const before = await settle(() => daemon.datagrams());
  const dropsBefore = kernelDrops(daemon.pid, daemon.udp);
  const renderBefore = metricSum((await daemon.scrape()).text, 'flowgauge_scrape_render_seconds_sum');
  const scrapes: number[] = [];
  let bytes = 0;
  let series = 0;
  let sending = true;
  const scraper = (async () => {
    if (!scrape) return;
    // One scrape per second while the sender runs, like a Prometheus with scrape_interval 1s.
    let next = performance.now() + 1000;
    while (sending) {
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      next += 1000;
      if (!sending) break;
      const s = await daemon.scrape();
      scrapes.push(s.ms);
      bytes = Buffer.byteLength(s.text);
      series = seriesIn(s.text);
    }
  })();
  const sent = await runSender(sender, daemon.udp, file, rate, SECONDS, SOURCES);
  sending = false;
  await scraper;
  const after = await settle(() => daemon.datagrams());
  const text = (await daemon.scrape()).text;
  const renderAfter = metricSum(text, 'flowgauge_scrape_render_seconds_sum');
  // The settle scrapes (before and after) are not timed phases' scrapes: one render each.
  const renders = scrapes.length + 1;
  return {
    sent: sent.sent,
    sentRate: sent.rate,
    lost: Math.max(0, sent.sent - (after - before - SOURCES)),
    kernelDrops: kernelDrops(daemon.pid, daemon.udp) - dropsBefore,
    scrapes,
    bytes,
    series: series || seriesIn(text),
    renderMs: ((renderAfter - renderBefore) * 1000) / renders,
  };
}

async function main(): Promise<void> {
  printMachine('Scrape under load: loss and /metrics latency, scraping ~10k series every second', 'npm run bench:scrape');
  console.log(`datagrams: NetFlow v9, ${RECORDS_PER_DATAGRAM} records; ${SOURCES} exporters; ${SECONDS} s per phase\n`);
  const bins = buildCTools();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowgauge-scrape-'));
  const file = path.join(dir, 'v9.bin');
  writeSenderFile(file, helloDatagram(), dataDatagrams(Math.ceil((KEYS.devices * KEYS.peers * 2) / RECORDS_PER_DATAGRAM), KEYS));
  const rows: Array<Array<string | number>> = [];
  const verdicts: string[] = [];
  try {
    for (const workers of WORKERS > 1 ? [1, WORKERS] : [1]) {
      const daemon = await startBenchDaemon({ port: await freeUdpPort(), workers });
      try {
        // Every key once, so the scrapes render the full set of series from the start.
        await runSender(bins.sender, daemon.udp, file, 5000, 1, SOURCES);
        for (const rate of RATES) {
          const quiet = await phase(daemon, bins.sender, file, rate, false);
          const loaded = await phase(daemon, bins.sender, file, rate, true);
          const lossPct = (p: Phase): string => `${((100 * p.lost) / p.sent).toFixed(3)}%`;
          rows.push([
            workers,
            `${si(rate)}/s (sent ${si(loaded.sentRate)}/s)`,
            `${lossPct(quiet)} (${quiet.kernelDrops})`,
            `${lossPct(loaded)} (${loaded.kernelDrops})`,
            `${median(loaded.scrapes).toFixed(1)} / ${Math.max(...loaded.scrapes).toFixed(1)} ms`,
            `${loaded.renderMs.toFixed(1)} ms`,
            loaded.series,
            `${(loaded.bytes / 1e6).toFixed(2)} MB`,
          ]);
          const extra = loaded.lost - quiet.lost;
          if (rate === RATES[0]) {
            verdicts.push(
              `workers ${workers} at ${si(rate)}/s: loss with scrapes ${lossPct(loaded)}, without ${lossPct(quiet)}: ` +
                `zero loss goal ${loaded.lost === 0 ? 'met' : 'NOT met'}` +
                (loaded.lost > 0 ? ` (scrapes added ${extra > 0 ? extra : 0} lost datagrams)` : ''),
            );
          }
        }
      } finally {
        await daemon.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    ['workers', 'rate', 'loss, no scrapes (kernel drops)', 'loss, scraping 1/s (kernel drops)', 'scrape latency median / max', 'render (daemon)', 'series', 'body'],
    rows,
  );
  console.log('');
  for (const v of verdicts) console.log(`goal: ${v}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
