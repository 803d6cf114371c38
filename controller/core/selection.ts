// Label selectors and MeshConfig selection, with the semantics of metav1.LabelSelector: an empty
// selector matches everything, requirements are ANDed.
import type { ReasonCode } from './reasons.ts';
import type { LabelSelector, MeshConfig, NamespaceInfo, PodTemplateKind } from './types.ts';

export function matchesLabelSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  for (const requirement of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, requirement.key);
    const value = labels[requirement.key];
    const values = requirement.values ?? [];
    switch (requirement.operator) {
      case 'In':
        if (!has || value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export interface SelectionTarget {
  kind: PodTemplateKind;
  labels: Record<string, string>;
  namespace: NamespaceInfo;
}

export type Selection =
  | { selected: MeshConfig }
  | { selected: undefined; reason: string; code: Extract<ReasonCode, 'no_meshconfig' | 'not_selected' | 'kind_not_selected'> };

/** Highest priority wins, then name order, so the choice never depends on informer timing. */
export function compareMeshConfigs(a: MeshConfig, b: MeshConfig): number {
  if (a.spec.priority !== b.spec.priority) return b.spec.priority - a.spec.priority;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Why one MeshConfig does not apply to a target, checked in the order selection uses: its
 * namespaceSelector, its selector, then its kinds. `undefined`: it applies (priority decides
 * among those that do). Selection itself is built on this, so an explanation (`meshinit explain`)
 * and the controller can never disagree.
 */
export type MeshConfigMismatch = 'namespaceSelector' | 'selector' | 'kind';

export function meshConfigMismatch(meshConfig: MeshConfig, target: SelectionTarget): MeshConfigMismatch | undefined {
  if (!matchesLabelSelector(meshConfig.spec.namespaceSelector, target.namespace.labels)) return 'namespaceSelector';
  if (!matchesLabelSelector(meshConfig.spec.selector, target.labels)) return 'selector';
  if (!meshConfig.spec.kinds.includes(target.kind)) return 'kind';
  return undefined;
}

export function selectMeshConfig(meshConfigs: readonly MeshConfig[], target: SelectionTarget): Selection {
  if (meshConfigs.length === 0) return { selected: undefined, reason: 'no MeshConfig exists', code: 'no_meshconfig' };
  const bySelectors: MeshConfig[] = [];
  const byKind: MeshConfig[] = [];
  for (const mc of meshConfigs) {
    const mismatch = meshConfigMismatch(mc, target);
    if (mismatch === 'namespaceSelector' || mismatch === 'selector') continue;
    bySelectors.push(mc);
    if (mismatch === undefined) byKind.push(mc);
  }
  if (bySelectors.length === 0) {
    return { selected: undefined, reason: `no MeshConfig selects it (namespace ${target.namespace.name} or workload labels do not match)`, code: 'not_selected' };
  }
  if (byKind.length === 0) {
    const names = bySelectors.map((mc) => mc.name).sort().join(', ');
    return { selected: undefined, reason: `kind ${target.kind} is not in the kinds of MeshConfig ${names}`, code: 'kind_not_selected' };
  }
  const [best] = byKind.sort(compareMeshConfigs);
  return best ? { selected: best } : { selected: undefined, reason: 'no MeshConfig selects it', code: 'not_selected' };
}
