/**
 * Listing prefixes with date placeholders. Cloud flow logs are filed under date folders
 * (AWS `.../2026/11/28/`, Azure `.../y=2026/m=11/d=28/h=09/...`, GCS sinks `.../2026/11/28/`), so a
 * poller that lists only the folders of its look-back window reads a handful of pages a minute,
 * not a bucket's whole history.
 *
 * Placeholders, in UTC: {yyyy} year, {mm} month, {dd} day, {hh} hour. A prefix with {hh} expands
 * to one prefix per hour of the window, one with only day fields to one per day, one without any
 * to itself.
 */

const PLACEHOLDER = /\{(yyyy|mm|dd|hh)\}/g;
const ANY_BRACE = /\{[^}]*\}/g;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Why a prefix template is unusable, or undefined when it is fine. */
export function checkPrefixTemplate(template: string): string | undefined {
  for (const m of template.matchAll(ANY_BRACE)) {
    if (!/^\{(yyyy|mm|dd|hh)\}$/.test(m[0])) {
      return `unknown placeholder ${m[0]} in ${JSON.stringify(template)}; use {yyyy}, {mm}, {dd} or {hh} (UTC)`;
    }
  }
  const has = (p: string): boolean => template.includes(`{${p}}`);
  if (has('hh') && !has('dd')) return `${JSON.stringify(template)} has {hh} without {dd}; an hour folder needs its day`;
  if (has('dd') && !has('mm')) return `${JSON.stringify(template)} has {dd} without {mm}`;
  if (has('mm') && !has('yyyy')) return `${JSON.stringify(template)} has {mm} without {yyyy}`;
  return undefined;
}

/** The prefixes `template` names for the window [fromMs, toMs], oldest first, without repeats. */
export function expandPrefixTemplate(template: string, fromMs: number, toMs: number): string[] {
  if (!template.includes('{')) return [template];
  const step = template.includes('{hh}') ? HOUR_MS : template.includes('{dd}') ? DAY_MS : undefined;
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (ms: number): void => {
    const p = fill(template, new Date(ms));
    if (!seen.has(p)) {
      seen.add(p);
      out.push(p);
    }
  };
  if (step === undefined) {
    // Month or year folders: walk by day, the repeats collapse.
    for (let t = floorTo(fromMs, DAY_MS); t <= toMs; t += DAY_MS) add(t);
  } else {
    for (let t = floorTo(fromMs, step); t <= toMs; t += step) add(t);
  }
  add(toMs);
  return out;
}

function floorTo(ms: number, step: number): number {
  return Math.floor(ms / step) * step;
}

function fill(template: string, d: Date): string {
  return template.replace(PLACEHOLDER, (_, p: string) => {
    switch (p) {
      case 'yyyy':
        return String(d.getUTCFullYear()).padStart(4, '0');
      case 'mm':
        return String(d.getUTCMonth() + 1).padStart(2, '0');
      case 'dd':
        return String(d.getUTCDate()).padStart(2, '0');
      default:
        return String(d.getUTCHours()).padStart(2, '0');
    }
  });
}
