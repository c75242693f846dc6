/**
 * The status document served at /status: listeners, cloud flow-log pollers, exporters with their
 * protocols, templates and counters, and each rollup's budget use. It names no file paths and no configuration values.
 */
import type { FlowPipeline } from '../pipeline.js';
import type { CloudFlowLogPoller } from '../sources/cloud/cloud-flow-log-poller.js';
import type { UdpListener } from '../sources/udp-listener.js';

export interface StatusDocument {
  version: string;
  uptimeSeconds: number;
  listeners: Array<{ listener: string; datagrams: number; rejected: number; receiveBufferBytes: number }>;
  exporters: Array<{
    exporter: string;
    protocol: string;
    firstSeen: string;
    lastSeen: string;
    datagrams: number;
    records: number;
    decodeErrors: Record<string, number>;
    templateMisses: number;
    pendingRecords: number;
    sequenceGapDatagrams: number;
    sequenceGapRecords: number;
    templates: unknown[];
  }>;
  /** Traffic rollups (kind counter), then the histogram, gauge and info families. */
  rollups: Array<{
    rollup: string;
    kind: 'counter' | 'histogram' | 'gauge' | 'info';
    labels: string[];
    budget: number;
    seriesInUse: number;
    foldedRecords: number;
  }>;
  drops: Record<string, number>;
  /** Cloud flow-log sources by their configured name (not their bucket or credentials). */
  cloudPollers: Array<{
    poller: string;
    format: string;
    polls: number;
    failedPolls: number;
    objects: number;
    records: number;
    trackedObjects: number;
    lastSuccess: string | null;
    newestObject: string | null;
    errors: Record<string, number>;
  }>;
}

export function buildStatus(
  pipeline: FlowPipeline,
  listeners: UdpListener[],
  version: string,
  startedAtMs: number,
  cloudPollers: readonly CloudFlowLogPoller[] = [],
): StatusDocument {
  return {
    version,
    uptimeSeconds: Math.round((Date.now() - startedAtMs) / 1000),
    listeners: listeners.map((l) => ({
      listener: l.label,
      datagrams: l.datagrams,
      rejected: l.rejected,
      receiveBufferBytes: l.receiveBufferBytes,
    })),
    exporters: [...pipeline.exporters.values()].map((e) => {
      let datagrams = 0;
      for (const n of e.datagramsByProtocol.values()) datagrams += n;
      return {
        exporter: e.address,
        protocol: e.lastProtocol,
        firstSeen: new Date(e.firstSeenMs).toISOString(),
        lastSeen: new Date(e.lastSeenMs).toISOString(),
        datagrams,
        records: e.counters.records,
        decodeErrors: Object.fromEntries(e.counters.errors),
        templateMisses: e.counters.templateMisses,
        pendingRecords: e.counters.pendingRecords,
        sequenceGapDatagrams: e.counters.sequenceGapDatagrams,
        sequenceGapRecords: e.counters.sequenceGapRecords,
        templates: e.netflow ? e.netflow.templates() : [],
      };
    }),
    rollups: [
      ...pipeline.rollups.families().map((f) => {
        const s = f.stats();
        return {
          rollup: f.definition.name,
          kind: 'counter' as const,
          labels: [...f.definition.labels],
          budget: s.budget,
          seriesInUse: s.seriesInUse,
          foldedRecords: s.foldedRecords,
        };
      }),
      ...pipeline.rollups.measureStats().map((s) => ({
        rollup: s.name,
        kind: s.kind,
        labels: s.labels,
        budget: s.budget,
        seriesInUse: s.seriesInUse,
        foldedRecords: s.foldedRecords,
      })),
    ],
    drops: { ...pipeline.drops },
    cloudPollers: cloudPollers.map((p) => ({
      poller: p.name,
      format: p.kind,
      polls: p.counters.polls,
      failedPolls: p.counters.failedPolls,
      objects: p.counters.objects,
      records: p.counters.records,
      trackedObjects: p.counters.tracked,
      lastSuccess: isoOrNull(p.counters.lastSuccessMs),
      newestObject: isoOrNull(p.counters.newestObjectMs),
      errors: Object.fromEntries(p.counters.errors),
    })),
  };
}

function isoOrNull(ms: number): string | null {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}
