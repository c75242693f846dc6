/**
 * Process metrics under the standard names (process_*) plus Node.js event loop delay and heap use.
 * Written here rather than taken from prom-client's default set because that set includes gauges
 * ending in _total, which promtool's lint (and Prometheus naming rules) reject.
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import client from 'prom-client';

export function registerProcessMetrics(registers: client.Registry<client.RegistryContentType>[]): () => void {
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  new client.Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
  new client.Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new client.Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    registers,
    collect() {
      this.set(startTime);
    },
  });
  new client.Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers,
    collect() {
      try {
        this.set(readdirSync('/proc/self/fd').length);
      } catch {
        // Not Linux: leave the gauge empty.
      }
    },
  });
  new client.Gauge({
    name: 'nodejs_heap_used_bytes',
    help: 'V8 heap in use in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  new client.Gauge({
    name: 'nodejs_eventloop_delay_p99_seconds',
    help: '99th percentile of event loop delay since the previous scrape, in seconds.',
    registers,
    collect() {
      this.set(loop.percentile(99) / 1e9);
      loop.reset();
    },
  });
  return () => loop.disable();
}
