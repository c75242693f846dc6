/** Counts garbage collections while `work` runs: the allocation-free hot-path tests assert on it. */
import { PerformanceObserver } from 'node:perf_hooks';

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

export async function gcCountDuring(work: () => void): Promise<number> {
  let collections = 0;
  const observer = new PerformanceObserver((list) => {
    collections += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    await settle();
    collections = 0;
    work();
    await settle(); // gc entries are delivered asynchronously
    return collections;
  } finally {
    observer.disconnect();
  }
}
