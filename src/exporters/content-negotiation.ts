/**
 * Prometheus scrape content negotiation: OpenMetrics 1.0 when the Accept header prefers it,
 * otherwise the Prometheus text format 0.0.4, which every scraper understands (never a 406).
 */

export type ExpositionFormat = 'prometheus' | 'openmetrics';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export interface NegotiatedFormat {
  format: ExpositionFormat;
  contentType: string;
}

const PROMETHEUS: NegotiatedFormat = Object.freeze({ format: 'prometheus', contentType: PROMETHEUS_CONTENT_TYPE });
const OPENMETRICS: NegotiatedFormat = Object.freeze({ format: 'openmetrics', contentType: OPENMETRICS_CONTENT_TYPE });

/** OpenMetrics versions whose text we can answer with (0.0.1 and 1.0.0 share the same syntax). */
const OPENMETRICS_VERSIONS = new Set(['1.0.0', '0.0.1']);
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Picks the format for an Accept header: the acceptable range with the highest q wins; among equal
 * q, an exact media type beats a wildcard, then the earlier one wins. Wildcards and text/plain (any
 * version) mean the text format; only an explicit application/openmetrics-text (version 1.0.0,
 * 0.0.1 or none) selects OpenMetrics. Ranges with q=0 or an invalid q are not acceptable.
 */
export function negotiateFormat(acceptHeader: string | string[] | undefined): NegotiatedFormat {
  const header = Array.isArray(acceptHeader) ? acceptHeader.join(',') : acceptHeader;
  if (header === undefined || header.trim() === '') return PROMETHEUS;
  let best: NegotiatedFormat | undefined;
  let bestQ = 0;
  let bestExact = false;
  for (const range of header.split(',')) {
    const params = range.split(';');
    const media = params[0].trim().toLowerCase();
    let q = 1;
    let version: string | undefined;
    for (let i = 1; i < params.length; i++) {
      const eq = params[i].indexOf('=');
      if (eq < 0) continue;
      const key = params[i].slice(0, eq).trim().toLowerCase();
      const value = params[i].slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (key === 'q') q = QVALUE.test(value) ? Number(value) : 0;
      else if (key === 'version') version = value;
    }
    if (q <= 0) continue;
    let candidate: NegotiatedFormat | undefined;
    let exact = true;
    if (media === 'application/openmetrics-text') {
      if (version === undefined || OPENMETRICS_VERSIONS.has(version)) candidate = OPENMETRICS;
    } else if (media === 'text/plain') {
      candidate = PROMETHEUS;
    } else if (media === '*/*' || media === 'text/*') {
      candidate = PROMETHEUS;
      exact = false;
    }
    if (candidate === undefined) continue;
    if (q > bestQ || (q === bestQ && exact && !bestExact)) {
      best = candidate;
      bestQ = q;
      bestExact = exact;
    }
  }
  return best ?? PROMETHEUS;
}
