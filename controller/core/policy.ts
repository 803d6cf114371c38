// Whether a workload gets a sidecar, as small ordered checks that each return a human reason. The
// same reason becomes a log line, a CLI warning and (in webhook mode) an admission warning.
import { INJECT_ANNOTATION, NAMESPACE_INJECTION_DISABLED, NAMESPACE_INJECTION_LABEL, SYSTEM_NAMESPACES } from './constants.ts';
import { otherMeshReason, templateOwnerReason } from './outcome.ts';
import { detectOtherMesh, type OtherMesh } from './other-mesh.ts';
import type { ReasonCode } from './reasons.ts';
import { selectMeshConfig } from './selection.ts';
import type { SidecarMemo } from './sidecar-memo.ts';
import type { MeshConfig, NamespaceInfo, PodSpec, PodTemplateKind } from './types.ts';

/** What policy looks at: the workload (for a Job's Pod, the owning Job) and its pod spec. */
export interface InjectionCandidate {
  kind: PodTemplateKind;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  podAnnotations: Record<string, string>;
  /** The pod template's labels (a Pod's own): another mesh's opt-in label is looked for there. */
  podLabels?: Record<string, string>;
  podSpec: PodSpec | undefined;
  /**
   * The controller whose template this object's template is copied from (a Deployment's
   * ReplicaSet, a CronJob's Job, a ReplicaSet's Pod): meshinit injects that template, not the copy.
   */
  templateOwner?: { kind: PodTemplateKind; name: string };
}

export interface PolicyContext {
  namespace: NamespaceInfo;
  meshConfigs: readonly MeshConfig[];
  /** The controller's own namespace: injecting it could make meshinit wait on its own proxy. */
  controllerNamespace?: string;
  /**
   * Why no MeshConfig can be read (the CRD is not installed, RBAC refuses the list): then no
   * workload is injected, and the decision says it was this, not policy.
   */
  meshConfigsUnavailable?: string;
  /** `--namespace`: when set, workloads elsewhere are never injected (released / admitted unchanged). */
  injectNamespaces?: readonly string[];
  /** Not read by policy: sidecars already rendered, for injection to reuse (a long-running adapter keeps one). */
  sidecars?: SidecarMemo;
}

/** `code`: the rule that decided, from a fixed list (a metric label; see reasons.ts). */
export type InjectionDecision =
  | { inject: true; meshConfig: MeshConfig; reason: string; code: ReasonCode }
  /** `otherMesh`: skipped because another mesh's sidecar is (or will be) in the pod; every mode warns. */
  | { inject: false; reason: string; code: ReasonCode; meshConfig?: MeshConfig; degraded?: true; otherMesh?: OtherMesh; copiedFrom?: { kind: PodTemplateKind; name: string } };

function annotation(candidate: InjectionCandidate, key: string): string | undefined {
  if (Object.hasOwn(candidate.annotations, key)) return candidate.annotations[key];
  if (Object.hasOwn(candidate.podAnnotations, key)) return candidate.podAnnotations[key];
  return undefined;
}

/** Why no workload of namespace `ns` is ever injected, or undefined when its workloads may be. */
export function namespaceExclusion(
  ns: NamespaceInfo,
  context: Pick<PolicyContext, 'controllerNamespace' | 'injectNamespaces'>,
): { reason: string; code: ReasonCode } | undefined {
  if (SYSTEM_NAMESPACES.includes(ns.name)) return { reason: `namespace ${ns.name} is a system namespace and is never injected`, code: 'system_namespace' };
  if (context.controllerNamespace && ns.name === context.controllerNamespace) {
    return { reason: `namespace ${ns.name} is meshinit's own namespace and is never injected`, code: 'controller_namespace' };
  }
  if (context.injectNamespaces && context.injectNamespaces.length > 0 && !context.injectNamespaces.includes(ns.name)) {
    return { reason: `namespace ${ns.name} is not one of meshinit's --namespace ${context.injectNamespaces.join(', ')}`, code: 'namespace_not_watched' };
  }
  if (ns.labels[NAMESPACE_INJECTION_LABEL] === NAMESPACE_INJECTION_DISABLED) {
    return { reason: `namespace ${ns.name} has label ${NAMESPACE_INJECTION_LABEL}=${NAMESPACE_INJECTION_DISABLED}`, code: 'namespace_disabled' };
  }
  return undefined;
}

export function decideInjection(candidate: InjectionCandidate, context: PolicyContext): InjectionDecision {
  const ns = context.namespace;
  const excluded = namespaceExclusion(ns, context);
  if (excluded !== undefined) return { inject: false, ...excluded };
  if (candidate.templateOwner) {
    return { inject: false, copiedFrom: candidate.templateOwner, reason: templateOwnerReason(candidate.kind, candidate.templateOwner), code: 'template_copied' };
  }
  const optIn = annotation(candidate, INJECT_ANNOTATION);
  if (optIn === 'false') return { inject: false, reason: `${candidate.kind} has annotation ${INJECT_ANNOTATION}: "false"`, code: 'opted_out' };
  if (candidate.podSpec?.hostNetwork === true) {
    return { inject: false, reason: 'the pod template uses hostNetwork: a proxy would capture the node\'s traffic', code: 'host_network' };
  }
  if (context.meshConfigsUnavailable !== undefined) {
    // Not a policy verdict: an input is missing. Adapters release the workload unchanged and warn,
    // as failurePolicy Ignore would, rather than hold every create in the cluster.
    return { inject: false, degraded: true, reason: `no MeshConfig can be read, so no sidecar was injected: ${context.meshConfigsUnavailable}`, code: 'meshconfig_unavailable' };
  }
  const selection = selectMeshConfig(context.meshConfigs, { kind: candidate.kind, labels: candidate.labels, namespace: ns });
  if (selection.selected === undefined) return { inject: false, reason: selection.reason, code: selection.code };
  const meshConfig = selection.selected;
  if (meshConfig.spec.policy === 'Disabled' && optIn !== 'true') {
    return { inject: false, meshConfig, reason: `MeshConfig ${meshConfig.name} has policy Disabled and the ${candidate.kind} is not annotated ${INJECT_ANNOTATION}: "true"`, code: 'policy_disabled' };
  }
  // Last: it matters only for a pod meshinit would inject. Skipped, not failed, whatever the
  // failurePolicy: the workload runs fine under the mesh it has, and Fail would refuse (webhook) or
  // delete (Initializer) it for that.
  const otherMesh = detectOtherMesh({ podSpec: candidate.podSpec, annotations: [candidate.annotations, candidate.podAnnotations], labels: candidate.podLabels ?? {} }, meshConfig);
  if (otherMesh) return { inject: false, meshConfig, otherMesh, reason: otherMeshReason(otherMesh), code: 'other_mesh' };
  const why = meshConfig.spec.policy === 'Disabled' ? `annotated ${INJECT_ANNOTATION}: "true"` : 'policy Enabled';
  return { inject: true, meshConfig, reason: `selected by MeshConfig ${meshConfig.name} (${why})`, code: meshConfig.spec.policy === 'Disabled' ? 'opted_in' : 'policy_enabled' };
}
