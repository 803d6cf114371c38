// Per-workload rendering of a MeshConfig's sidecar. Only the four documented placeholders are
// replaced, by plain string substitution: nothing is evaluated, so a MeshConfig author cannot run
// code in the controller, and a workload name cannot inject template syntax of its own.
import type { Placeholder } from './constants.ts';
import type { SidecarSpec, WorkloadKind } from './types.ts';

export interface WorkloadIdentity {
  kind: WorkloadKind;
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
  if (typeof value === 'string') return renderString(value, values);
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
