/**
 * The rollup's input: label values for one enriched flow (filled in place by the enrich stage, one
 * reused object) plus its sampling-scaled counts. Every value is a ready label string; '' is
 * rendered as "unknown" by the rollup where a label needs a value.
 */
import type { RollupLabel } from '../config/types.js';

export type FlowLabels = Record<RollupLabel, string>;

export function createFlowLabels(): FlowLabels {
  return {
    exporter: '',
    source: '',
    device: '',
    peer: '',
    direction: '',
    app: '',
    protocol: '',
    action: '',
    input_interface: '',
    output_interface: '',
    site: '',
    type: '',
    region: '',
    vpc: '',
    zone: '',
  };
}

/** The value a label folds to when its key does not get a series of its own. */
export const OTHER = 'other';
