/**
 * Templates of one (exporter, protocol, observation domain): validation, compile-on-learn,
 * refresh, withdrawal and the limits that keep a hostile exporter from growing memory.
 */
import { DomainSampling } from './sampling.js';
import { SequenceTracker } from './sequence.js';
import {
  compileReader,
  type CompiledReader,
  type DomainTimeBase,
  type ExportProtocolVersion,
  type FieldSpec,
  type TemplateKind,
} from './template-reader.js';
import { VARIABLE_LENGTH } from './information-elements.js';

export interface Template {
  readonly id: number;
  readonly kind: TemplateKind;
  /** Options templates: how many leading fields are scope fields. */
  readonly scopeCount: number;
  readonly fields: readonly FieldSpec[];
  readonly reader: CompiledReader;
  lastSeenMs: number;
}

/** Largest record a template may describe: it has to fit in one set of one UDP datagram. */
export const MAX_RECORD_LENGTH = 65535 - 16 - 4;

export type TemplateProblem = 'bad_template' | 'template_limit';

/** Checks a field list; returns the problem or undefined when the template is usable. */
export function checkTemplate(
  fields: readonly FieldSpec[],
  kind: TemplateKind,
  scopeCount: number,
  version: ExportProtocolVersion,
  maxFields: number,
): TemplateProblem | undefined {
  if (fields.length === 0) return 'bad_template';
  if (fields.length > maxFields) return 'template_limit';
  // IPFIX requires at least one scope field; NetFlow v9 exporters are seen with none.
  if (kind === 'options' && (scopeCount < (version === 10 ? 1 : 0) || scopeCount > fields.length)) return 'bad_template';
  let fixed = 0;
  for (const f of fields) {
    // A zero-length field would make zero-length records (an endless loop for naive readers).
    if (f.length === 0) return 'bad_template';
    if (f.length === VARIABLE_LENGTH) {
      if (version !== 10) return 'bad_template';
      fixed += 1;
    } else {
      fixed += f.length;
    }
  }
  if (fixed > MAX_RECORD_LENGTH) return 'bad_template';
  return undefined;
}

export class DomainState implements DomainTimeBase {
  readonly version: ExportProtocolVersion;
  readonly domain: number;
  readonly templates = new Map<number, Template>();
  readonly sampling = new DomainSampling();
  readonly sequence = new SequenceTracker();
  systemInitMs = NaN;
  /** Fields over all templates of the domain (the exporter-wide template budget counts these). */
  fieldCount = 0;

  constructor(version: ExportProtocolVersion, domain: number) {
    this.version = version;
    this.domain = domain;
  }

  /**
   * Learns (or refreshes) a template. An identical refresh keeps the compiled reader; a changed
   * layout replaces it. Returns the problem when the template is refused. `fieldBudget` is how many
   * more fields the exporter may hold over all its domains (a replaced layout gives its own back).
   */
  learn(
    id: number,
    kind: TemplateKind,
    scopeCount: number,
    fields: readonly FieldSpec[],
    nowMs: number,
    maxTemplates: number,
    maxFields: number,
    fieldBudget = Infinity,
  ): TemplateProblem | undefined {
    const problem = checkTemplate(fields, kind, scopeCount, this.version, maxFields);
    if (problem) return problem;
    const old = this.templates.get(id);
    if (old && old.kind === kind && old.scopeCount === scopeCount && sameFields(old.fields, fields)) {
      old.lastSeenMs = nowMs;
      return undefined;
    }
    if (!old && this.templates.size >= maxTemplates) return 'template_limit';
    const added = fields.length - (old ? old.fields.length : 0);
    if (added > fieldBudget) return 'template_limit';
    this.fieldCount += added;
    this.templates.set(id, {
      id,
      kind,
      scopeCount,
      fields,
      reader: compileReader(fields, kind, scopeCount, this.version),
      lastSeenMs: nowMs,
    });
    return undefined;
  }

  /** IPFIX withdrawal of one template; returns whether it existed. */
  withdraw(id: number): boolean {
    const t = this.templates.get(id);
    if (t === undefined) return false;
    this.fieldCount -= t.fields.length;
    return this.templates.delete(id);
  }

  /** IPFIX all-templates withdrawal (template id 2 for data, 3 for options templates). */
  withdrawAll(kind: TemplateKind): number {
    let n = 0;
    for (const [id, t] of this.templates) {
      if (t.kind === kind) {
        this.templates.delete(id);
        this.fieldCount -= t.fields.length;
        n++;
      }
    }
    return n;
  }
}

export function sameFields(a: readonly FieldSpec[], b: readonly FieldSpec[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].id !== b[i].id || a[i].enterprise !== b[i].enterprise || a[i].length !== b[i].length) return false;
  }
  return true;
}
