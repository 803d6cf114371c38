// Why a workload was (or would be) injected or not: every MeshConfig considered and why each one
// that lost did, the decision of each mode in the words its controller logs, and what the sidecar
// adds. Built only from the functions the controller decides with (meshConfigMismatch,
// compareMeshConfigs, planWorkloadInjection, the mode verdicts), never a second copy of the rules.
import { diffJson } from './json-diff.ts';
import { admissionVerdict, initializerNotHeldReason, initializerVerdict, targetPodsReason, type AdmissionAction, type InitializerAction } from './outcome.ts';
import type { JsonPatchOperation } from './patch.ts';
import { planWorkloadInjection, type InjectionPlan } from './plan.ts';
import type { PolicyContext } from './policy.ts';
import type { ReasonCode } from './reasons.ts';
import { placeholderValues, renderedSidecarHash } from './render.ts';
import { compareMeshConfigs, meshConfigMismatch, type SelectionTarget } from './selection.ts';
import { readInjectionStatus, type InjectionStatus } from './status-record.ts';
import type { Container, LabelSelector, MeshConfig, NamespaceInfo, NativeSidecarMode, PodTemplateCarrier } from './types.ts';
import { isWorkloadKind, podTemplateOf, workloadCandidate } from './workload.ts';

/**
 * A MeshConfig as the controller holds it: valid, or invalid with the version that serves in its
 * place (the last valid one, kept in memory or recorded in status.lastValidSpec), if any.
 */
export type MeshConfigEntry =
  | { name: string; valid: true; meshConfig: MeshConfig }
  | { name: string; valid: false; problems: readonly string[]; serving?: MeshConfig };

export type ExplainMode = 'initializer' | 'webhook';

export type MeshConfigVerdict = 'selected' | 'namespaceSelector' | 'selector' | 'kind' | 'lowerPriority' | 'invalid';

export interface MeshConfigExplanation {
  name: string;
  verdict: MeshConfigVerdict;
  /** One sentence: why it was selected, or why it was not. */
  reason: string;
  /** Of the version in use (for an invalid edit, the last valid one); absent when none is. */
  priority?: number;
  policy?: string;
  generation?: number;
  /** For `lowerPriority`: the MeshConfig that won. */
  lostTo?: string;
  /** Problems of the current spec, when it is invalid (then `servingLastValid` tells whether an older version serves). */
  problems?: string[];
  servingLastValid?: boolean;
}

/**
 * The Initializer mode's decision for a kind its InitializerConfiguration does not list (a CronJob,
 * a ReplicaSet, a bare Pod, ...): the object is never held for it, so it never decides anything.
 */
export type NotHeldAction = 'not-held';

export interface ModeDecision {
  mode: ExplainMode;
  action: InitializerAction | AdmissionAction | NotHeldAction;
  /** The `reason` field of the controller's log line for this workload. */
  reason: string;
  /** The `code` field of that log line: the rule, from the fixed list in reasons.ts. */
  code: ReasonCode;
  meshConfig?: string;
  /** Webhook: the admission warning kubectl prints. */
  warning?: string;
  /** Webhook: the message of the 403 when the create is refused. */
  denial?: string;
  /**
   * Webhook, for a kind --target pods does not mutate itself (a CronJob, a ReplicaSet, a bare Pod,
   * ...): what it does instead. The decision above is --target workloads'; for the four workload
   * kinds it holds for both targets (--target pods judges the Pods as their workload).
   */
  targetPods?: string;
}

export interface InjectedItem {
  name: string;
  image?: string;
}

/** What the sidecar adds to the pod template, with the JSON Patch from the workload to the injected one. */
export interface InjectionSummary {
  meshConfig: string;
  generation: number;
  hash: string;
  initContainers: InjectedItem[];
  containers: InjectedItem[];
  volumes: string[];
  imagePullSecrets: string[];
  podAnnotations: string[];
  podLabels: string[];
  patch: JsonPatchOperation[];
}

export type InjectedState =
  | { state: 'none' }
  | { state: 'current'; record: InjectionStatus }
  | { state: 'outdated'; record: InjectionStatus; reason: string }
  | { state: 'corrupt'; reason: string };

/**
 * How the selected MeshConfig's sidecar goes in on this server, when it asks for native sidecars
 * (nativeSidecar Auto or Always): the layout resolved for the server, and why when it is not native.
 */
export interface SidecarLayoutExplanation {
  meshConfig: string;
  nativeSidecar: NativeSidecarMode;
  layout: 'native' | 'containers';
  /** The server's version, or why it is not known (offline without --kube-version). */
  server: string;
  note?: string;
  /** Always on a server without native sidecars: why nothing is injected. */
  refusal?: string;
}

export interface Explanation {
  workload: { kind: string; namespace: string; name: string };
  namespace: NamespaceInfo;
  meshConfigs: MeshConfigExplanation[];
  /** The MeshConfig selection picks (policy may still decline it: see the decisions). */
  selected?: string;
  decisions: ModeDecision[];
  injection?: InjectionSummary;
  /** Only when the selected MeshConfig asks for native sidecars (Auto or Always). */
  sidecarLayout?: SidecarLayoutExplanation;
  /** What the workload carries now (its status annotation), against what would be injected today. */
  injected: InjectedState;
}

export interface ExplainRequest {
  /** A recognised object of one of the POD_TEMPLATE_KINDS, metadata.namespace filled in. */
  workload: PodTemplateCarrier;
  namespace: NamespaceInfo;
  meshConfigs: readonly MeshConfigEntry[];
  modes: readonly ExplainMode[];
  controllerNamespace?: string;
  injectNamespaces?: readonly string[];
}

function selectorText(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  for (const { key, operator, values } of selector.matchExpressions ?? []) {
    if (operator === 'Exists') parts.push(key);
    else if (operator === 'DoesNotExist') parts.push(`!${key}`);
    else parts.push(`${key} ${operator.toLowerCase()} (${(values ?? []).join(',')})`);
  }
  return parts.length === 0 ? '(everything)' : parts.join(',');
}

function labelsText(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '(none)' : entries.map(([key, value]) => `${key}=${value}`).join(',');
}

function serving(entry: MeshConfigEntry): MeshConfig | undefined {
  return entry.valid ? entry.meshConfig : entry.serving;
}

function mismatchReason(meshConfig: MeshConfig, target: SelectionTarget, verdict: 'namespaceSelector' | 'selector' | 'kind'): string {
  switch (verdict) {
    case 'namespaceSelector':
      return `namespaceSelector ${selectorText(meshConfig.spec.namespaceSelector)} does not match namespace ${target.namespace.name} (labels ${labelsText(target.namespace.labels)})`;
    case 'selector':
      return `selector ${selectorText(meshConfig.spec.selector)} does not match the ${target.kind}'s labels (${labelsText(target.labels)})`;
    case 'kind':
      return `kinds ${meshConfig.spec.kinds.join(', ')} do not include ${target.kind}`;
  }
}

function lostReason(loser: MeshConfig, winner: MeshConfig): string {
  if (loser.spec.priority === winner.spec.priority) {
    return `matches, but MeshConfig ${winner.name} has the same priority ${winner.spec.priority} and comes first by name`;
  }
  return `matches, but MeshConfig ${winner.name} has a higher priority (${winner.spec.priority} > ${loser.spec.priority})`;
}

/** Every MeshConfig's verdict for `target`, in selection order (priority, then name), the unusable ones last. */
export function explainMeshConfigs(entries: readonly MeshConfigEntry[], target: SelectionTarget): { meshConfigs: MeshConfigExplanation[]; selected?: MeshConfig } {
  const usable = entries.map(serving).filter((mc): mc is MeshConfig => mc !== undefined).sort(compareMeshConfigs);
  const selected = usable.find((mc) => meshConfigMismatch(mc, target) === undefined);
  const explanations: MeshConfigExplanation[] = [];
  for (const meshConfig of usable) {
    const entry = entries.find((candidate) => serving(candidate) === meshConfig)!;
    const mismatch = meshConfigMismatch(meshConfig, target);
    const reason = mismatch !== undefined
      ? mismatchReason(meshConfig, target, mismatch)
      : meshConfig === selected ? `highest priority (${meshConfig.spec.priority}) of the MeshConfigs that match` : lostReason(meshConfig, selected!);
    const verdict: MeshConfigVerdict = mismatch ?? (meshConfig === selected ? 'selected' : 'lowerPriority');
    explanations.push({
      name: meshConfig.name,
      verdict,
      reason,
      priority: meshConfig.spec.priority,
      policy: meshConfig.spec.policy,
      generation: meshConfig.generation,
      ...(verdict === 'lowerPriority' ? { lostTo: selected!.name } : {}),
      ...(entry.valid ? {} : { problems: [...entry.problems], servingLastValid: true }),
    });
  }
  for (const entry of entries) {
    if (entry.valid || entry.serving) continue;
    explanations.push({ name: entry.name, verdict: 'invalid', reason: `invalid and never used (no earlier valid version): ${entry.problems.join('; ')}`, problems: [...entry.problems], servingLastValid: false });
  }
  return { meshConfigs: explanations, ...(selected ? { selected } : {}) };
}

function decisionFor(mode: ExplainMode, plan: InjectionPlan<PodTemplateCarrier>, kind: PodTemplateCarrier['kind']): ModeDecision {
  if (mode === 'initializer') {
    // Only the kinds the InitializerConfiguration lists are ever held; no verdict for the others.
    if (!isWorkloadKind(kind)) return { mode, action: 'not-held', reason: initializerNotHeldReason(kind), code: 'not_targeted' };
    const { action, reason, code, meshConfig } = initializerVerdict(plan, { kind });
    return { mode, action, reason, code, ...(meshConfig !== undefined ? { meshConfig } : {}) };
  }
  const targetPods = targetPodsReason(kind);
  return { mode, ...admissionVerdict(plan), ...(targetPods !== undefined ? { targetPods } : {}) };
}

function items(names: readonly string[], containers: readonly Container[] | undefined): InjectedItem[] {
  return names.map((name) => {
    const image = containers?.find((container) => container.name === name)?.image;
    return typeof image === 'string' ? { name, image } : { name };
  });
}

function summary(workload: PodTemplateCarrier, plan: InjectionPlan<PodTemplateCarrier>): InjectionSummary | undefined {
  if (plan.action !== 'inject') return undefined;
  const { status } = plan;
  const spec = podTemplateOf(plan.object)?.spec;
  return {
    meshConfig: status.meshConfig,
    generation: status.generation,
    hash: status.hash,
    initContainers: items(status.initContainers, spec?.initContainers),
    containers: items(status.containers, spec?.containers),
    volumes: [...status.volumes],
    imagePullSecrets: [...status.imagePullSecrets],
    podAnnotations: [...status.podAnnotations],
    podLabels: [...status.podLabels],
    patch: diffJson(workload, plan.object),
  };
}

/** The workload's status record against the injection `selected` would make today. */
export function injectedState(workload: PodTemplateCarrier, selected: MeshConfig | undefined, wouldInject: boolean): InjectedState {
  const where = `${workload.kind} ${workload.metadata.namespace ?? ''}/${workload.metadata.name ?? ''}`;
  let record: InjectionStatus | undefined;
  try {
    record = readInjectionStatus(podTemplateOf(workload)?.metadata?.annotations, where);
  } catch (error) {
    return { state: 'corrupt', reason: (error as Error).message };
  }
  if (!record) return { state: 'none' };
  const carried = `MeshConfig ${record.meshConfig} generation ${record.generation} (sidecar hash ${record.hash})`;
  if (!selected || !wouldInject) return { state: 'outdated', record, reason: `carries ${carried}, but no MeshConfig would inject it today` };
  const identity = { kind: workload.kind, name: workload.metadata.name ?? '', namespace: workload.metadata.namespace ?? '' };
  const hash = renderedSidecarHash(selected.layout.sidecar, placeholderValues(identity, selected.name));
  if (record.meshConfig === selected.name && record.hash === hash) return { state: 'current', record };
  return { state: 'outdated', record, reason: `carries ${carried}; today MeshConfig ${selected.name} generation ${selected.generation} would inject sidecar hash ${hash}` };
}

function layoutExplanation(selected: MeshConfig | undefined): SidecarLayoutExplanation | undefined {
  if (!selected || selected.layout.requested === 'Never') return undefined;
  const { requested, effective, server, note, refusal } = selected.layout;
  return { meshConfig: selected.name, nativeSidecar: requested, layout: effective, server, ...(note !== undefined ? { note } : {}), ...(refusal !== undefined ? { refusal } : {}) };
}

export function explainWorkload(request: ExplainRequest): Explanation {
  const { workload, namespace } = request;
  const context: PolicyContext = {
    namespace,
    meshConfigs: request.meshConfigs.map(serving).filter((mc): mc is MeshConfig => mc !== undefined),
    ...(request.controllerNamespace !== undefined ? { controllerNamespace: request.controllerNamespace } : {}),
    ...(request.injectNamespaces ? { injectNamespaces: request.injectNamespaces } : {}),
  };
  const plan = planWorkloadInjection(workload, context);
  // The labels exactly as policy reads them (workloadCandidate), so both judge the same target.
  const target: SelectionTarget = { kind: workload.kind, labels: workloadCandidate(workload).labels, namespace };
  const { meshConfigs, selected } = explainMeshConfigs(request.meshConfigs, target);
  const injection = summary(workload, plan);
  const sidecarLayout = layoutExplanation(selected);
  return {
    workload: { kind: workload.kind, namespace: workload.metadata.namespace ?? namespace.name, name: workload.metadata.name ?? workload.metadata.generateName ?? '' },
    namespace,
    meshConfigs,
    ...(selected ? { selected: selected.name } : {}),
    decisions: request.modes.map((mode) => decisionFor(mode, plan, workload.kind)),
    ...(injection ? { injection } : {}),
    ...(sidecarLayout ? { sidecarLayout } : {}),
    injected: injectedState(workload, selected, plan.action !== 'skip'),
  };
}
