/** Counts garbage collections while `work` runs: the allocation-free hot-path tests assert on it. */
import { performance, PerformanceObserver } from 'node:perf_hooks';

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

export async function gcCountDuring(work: () => void): Promise<number> {
  const starts: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) starts.push(e.startTime);
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    await settle();
    const t0 = performance.now();
    work();
    const t1 = performance.now();
    await settle(); // gc entries are delivered asynchronously
    // Only collections that started while `work` ran: the test runner's own traffic between the
    // settle windows is not the code under test.
    return starts.filter((t) => t >= t0 && t <= t1).length;
  } finally {
    observer.disconnect();
  }
}
