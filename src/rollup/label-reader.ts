/**
 * Reads a family's label values out of a FlowLabels object into an array, in the family's order,
 * with '' (no value) read as "unknown".
 *
 * A loop over the label names (`labels[names[i]]`) is a keyed load whose key changes from family
 * to family, which V8 runs as a slow megamorphic lookup, several times per record and family. A
 * function generated once per family reads `labels.device`, `labels.peer`, ... as plain property
 * loads instead. Only the validated label names (identifiers from createFlowLabels) go into the
 * generated text, never input.
 */
import type { RollupLabel } from '../config/types.js';
import { createFlowLabels, type FlowLabels } from './types.js';

export type LabelReader = (labels: FlowLabels, out: string[]) => void;

const KNOWN: ReadonlySet<string> = new Set(Object.keys(createFlowLabels()));

export function compileLabelReader(names: readonly RollupLabel[], unknown: string): LabelReader {
  for (const n of names) {
    if (!KNOWN.has(n) || !/^[a-z_]+$/.test(n)) throw new Error(`unknown label "${String(n)}"`);
  }
  const body = names.map((n, i) => `v = labels.${n};\nout[${i}] = v === '' || v === undefined ? unknown : v;`).join('\n');
  const make = new Function('unknown', `return function readLabels(labels, out) {\nlet v;\n${body}\n};`) as (
    unknown: string,
  ) => LabelReader;
  return make(unknown);
}
