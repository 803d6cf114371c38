// Per-workload rendering of a MeshConfig's sidecar. Only the four documented placeholders are
// replaced, by plain string substitution: nothing is evaluated, so a MeshConfig author cannot run
// code in the controller, and a workload name cannot inject template syntax of its own.
import type { Placeholder } from './constants.ts';
import { hashString } from './status-record.ts';
import type { PodTemplateKind, SidecarSpec } from './types.ts';

export interface WorkloadIdentity {
  kind: PodTemplateKind;
  name: string;
  namespace: string;
}

export type PlaceholderValues = Record<Placeholder, string>;

export function placeholderValues(workload: WorkloadIdentity, meshConfigName: string): PlaceholderValues {
  return {
    'workload.name': workload.name,
    'workload.namespace': workload.namespace,
    'workload.kind': workload.kind,
    'meshConfig.name': meshConfigName,
  };
}

const PLACEHOLDER_PATTERN = /\{\{\s*(workload\.name|workload\.namespace|workload\.kind|meshConfig\.name)\s*\}\}/g;

export function renderString(template: string, values: PlaceholderValues): string {
  // A replacer function, not a replacement string: `$&` or `$1` in a value stays literal.
  return template.replace(PLACEHOLDER_PATTERN, (_match, name: Placeholder) => values[name]);
}

function renderValue(value: unknown, values: PlaceholderValues): unknown {
  // Most strings of a sidecar hold no placeholder: a substring test is cheaper than the pattern.
  if (typeof value === 'string') return value.includes('{{') ? renderString(value, values) : value;
  if (Array.isArray(value)) return value.map((item) => renderValue(item, values));
  if (typeof value === 'object' && value !== null) {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(result, key, { value: renderValue(item, values), enumerable: true, writable: true, configurable: true });
    }
    return result;
  }
  return value;
}

/** A fresh copy of the sidecar with placeholders replaced; the MeshConfig itself is not touched. */
export function renderSidecar(sidecar: SidecarSpec, values: PlaceholderValues): SidecarSpec {
  return renderValue(sidecar, values) as SidecarSpec;
}

/**
 * canonicalJson (status-record.ts) of a template, cut at every string that holds a placeholder:
 * rendering changes only those strings, never keys or structure, so the canonical JSON of any
 * rendering is `parts` joined by those strings rendered and JSON-quoted.
 */
interface CanonicalTemplate {
  parts: string[];
  holes: string[];
}

function canonicalTemplate(value: unknown, out: CanonicalTemplate): void {
  const emit = (text: string): void => { out.parts[out.parts.length - 1] += text; };
  if (Array.isArray(value)) {
    emit('[');
    value.forEach((item, i) => {
      if (i > 0) emit(',');
      canonicalTemplate(item, out);
    });
    emit(']');
    return;
  }
  if (typeof value === 'object' && value !== null) {
    emit('{');
    Object.keys(value).sort().forEach((key, i) => {
      emit(`${i > 0 ? ',' : ''}${JSON.stringify(key)}:`);
      canonicalTemplate((value as Record<string, unknown>)[key], out);
    });
    emit('}');
    return;
  }
  if (typeof value === 'string' && HAS_PLACEHOLDER.test(value)) {
    out.holes.push(value);
    out.parts.push('');
    return;
  }
  emit(JSON.stringify(value) ?? 'null');
}

// The pattern without /g, so that test() keeps no lastIndex between calls.
const HAS_PLACEHOLDER = new RegExp(PLACEHOLDER_PATTERN.source);

// Keyed by the MeshConfig's sidecar object, which the store replaces (never edits) on a change.
const canonicalTemplates = new WeakMap<SidecarSpec, CanonicalTemplate>();

/**
 * The status record's hash of the rendered sidecar, without rendering and walking it again for
 * every workload: equal to hashString(canonicalJson(renderSidecar(sidecar, values))).
 */
export function renderedSidecarHash(sidecar: SidecarSpec, values: PlaceholderValues): string {
  let template = canonicalTemplates.get(sidecar);
  if (!template) {
    template = { parts: [''], holes: [] };
    canonicalTemplate(sidecar, template);
    canonicalTemplates.set(sidecar, template);
  }
  let text = template.parts[0]!;
  for (let i = 0; i < template.holes.length; i++) text += JSON.stringify(renderString(template.holes[i]!, values)) + template.parts[i + 1]!;
  return hashString(text);
}
