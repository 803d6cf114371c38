// What each mode does with an injection plan, and the words it logs for it. The Initializer sync
// and the webhook's admission build their writes and answers from these verdicts, and
// `meshinit explain` prints them: one source for the reasons, so an explanation says exactly what
// the controller would log.
import type { OtherMesh } from './other-mesh.ts';
import type { InjectionPlan } from './plan.ts';
import type { ReasonCode } from './reasons.ts';
import { WORKLOAD_KINDS, type PodTemplateKind, type WorkloadKind } from './types.ts';

/** Why a Job is released untouched: the rule is the server's, recorded on 1.9 and 1.13. */
export const JOB_RELEASE_REASON =
  'a Job\'s pod template cannot be changed, not even while it is uninitialized (the API server answers 422 "field is immutable"), ' +
  'so the Job was released without a sidecar; inject its manifest with "meshinit inject", or run meshinit with --job-pods to inject the Job\'s Pods';

export function alreadyInjectedReason(meshConfigName: string): string {
  return `already injected by MeshConfig ${meshConfigName}`;
}

/**
 * Why a pod template that already has another mesh is left alone. The same words in every mode
 * (offline warning, Initializer log line and Event, webhook log line and admission warning).
 */
export function otherMeshReason(otherMesh: OtherMesh): string {
  const found = `${otherMesh.evidence.join(', ')}`;
  // Nothing is taken out again: say that meshinit's earlier injection is still there beside it.
  const own = otherMesh.besideOwn ? '; meshinit\'s sidecar from an earlier injection is still in it: remove one of the two' : '';
  if (otherMesh.mesh.startsWith('spec.conflictingContainers')) {
    return `the pod template has ${found}, listed in ${otherMesh.mesh}: meshinit does not add its sidecar beside it${own}`;
  }
  return `the pod template belongs to another mesh, ${otherMesh.mesh} (${found}): two meshes in one pod would both redirect its traffic to their own proxy, so meshinit leaves it to ${otherMesh.mesh}${own}`;
}

/**
 * Why a copy of another object's template (a Deployment's ReplicaSet, a CronJob's Job, a
 * ReplicaSet's Pod) is left alone: its controller would write its own template back over the copy.
 */
export function templateOwnerReason(kind: PodTemplateKind, owner: { kind: string; name: string }): string {
  return `its pod template is copied from its controller, ${owner.kind} ${owner.name}: meshinit injects the ${owner.kind}'s template ` +
    `("meshinit inject", or the webhook with --target workloads), not the ${kind} made from it`;
}

/** How a reader names the objects of a kind, in the plural. */
const PLURAL: Readonly<Record<PodTemplateKind, string>> = {
  Deployment: 'Deployments', StatefulSet: 'StatefulSets', DaemonSet: 'DaemonSets', Job: 'Jobs', CronJob: 'CronJobs',
  ReplicaSet: 'ReplicaSets', ReplicationController: 'ReplicationControllers', DeploymentConfig: 'DeploymentConfigs', Pod: 'bare Pods',
};

// The kinds the Initializer mode does not hold, with what it does instead (--job-pods) where it does something.
const NOT_HELD = 'the Initializer mode does not hold';
const NOT_HELD_INSTEAD: Readonly<Partial<Record<PodTemplateKind, string>>> = { CronJob: ' (with --job-pods it injects their Jobs\' Pods)' };

/** What the webhook with --target pods does with the Pods of a kind it does not hold as a workload. */
export const TARGET_PODS_COVERAGE: Readonly<Partial<Record<PodTemplateKind, string>>> = {
  CronJob: 'injects their Jobs\' Pods',
  ReplicaSet: 'injects their Pods',
  ReplicationController: 'does not inject their Pods',
  DeploymentConfig: 'does not inject their Pods',
  Pod: 'injects only Pods that have a controller',
};

/** Why the Initializer mode never sees an object of a kind outside its InitializerConfiguration. */
export function initializerNotHeldReason(kind: PodTemplateKind): string {
  return `${NOT_HELD} ${PLURAL[kind]}: its InitializerConfiguration lists ${WORKLOAD_KINDS.map((held) => PLURAL[held]).join(', ').replace(/, (?=[^,]*$)/, ' and ')}` +
    (NOT_HELD_INSTEAD[kind] ?? '');
}

/** What the webhook with --target pods does for an object of `kind` (for the kinds it does not mutate themselves). */
export function targetPodsReason(kind: PodTemplateKind): string | undefined {
  const coverage = TARGET_PODS_COVERAGE[kind];
  if (coverage === undefined) return undefined;
  return kind === 'Pod' ? `the webhook with --target pods ${coverage}` : `the webhook with --target pods does not mutate ${PLURAL[kind]} and ${coverage}`;
}

/**
 * What meshinit running on a cluster does with an object of this kind that was not injected
 * offline, for the kinds some mode does not inject: `meshinit inject` prints it beside each such
 * document it injects, so nobody counts on a mode that would pass the kind through.
 */
export const CLUSTER_COVERAGE: Readonly<Partial<Record<PodTemplateKind, string>>> = Object.fromEntries(
  Object.entries(TARGET_PODS_COVERAGE).map(([kind, pods]) => [
    kind,
    `on a cluster, only the webhook with --target workloads injects ${PLURAL[kind as PodTemplateKind]}; ${NOT_HELD} them${NOT_HELD_INSTEAD[kind as PodTemplateKind] ?? ''}, and --target pods ${pods}`,
  ]),
);

export type InitializerAction = 'injected' | 'skipped' | 'released' | 'failed';

export interface InitializerVerdict {
  action: InitializerAction;
  reason: string;
  /** The rule that decided, from the fixed list in reasons.ts (a metric label). */
  code: ReasonCode;
  meshConfig?: string;
  level: 'info' | 'warn' | 'error';
  /** For `failed`: the message of the failure result (the API server then deletes the object). */
  failure?: string;
}

export interface InitializerVerdictInput {
  /** The kind held for us; a Job's template cannot be changed, whatever policy says. */
  kind: WorkloadKind | 'Pod';
  /** The API server refused the injected object (422) for this reason, on an earlier attempt. */
  rejection?: string;
}

/** What the Initializer mode does with a plan for an object it holds. */
export function initializerVerdict(plan: InjectionPlan<unknown>, input: InitializerVerdictInput): InitializerVerdict {
  const meshConfig = plan.meshConfig ? { meshConfig: plan.meshConfig.name } : {};
  if (input.kind === 'Job' && plan.action !== 'skip') return { action: 'released', reason: JOB_RELEASE_REASON, code: 'job_template_immutable', ...meshConfig, level: 'warn' };
  if (plan.action === 'skip' && plan.degraded) return { action: 'released', reason: plan.reason, code: plan.code, level: 'warn' };
  // A CronJob's Job: the Initializer never sees the CronJob, so the Job goes out without a
  // sidecar every time it runs, as any Job does here: the same warning, naming where to inject.
  if (plan.action === 'skip' && plan.copiedFrom && input.kind === 'Job') {
    return { action: 'released', reason: `${plan.reason}; or run meshinit with --job-pods to inject the Job's Pods`, code: plan.code, level: 'warn' };
  }
  if (plan.action === 'skip') return { action: 'skipped', reason: plan.reason, code: plan.code, ...meshConfig, level: plan.otherMesh ? 'warn' : 'info' };
  const problem = input.rejection ?? (plan.action === 'error' ? plan.error.message : undefined);
  if (problem !== undefined) {
    const code: ReasonCode = input.rejection !== undefined ? 'rejected_by_server' : plan.action === 'error' ? plan.error.code : 'injection_error';
    if (plan.meshConfig.spec.failurePolicy === 'Fail') {
      return {
        action: 'failed',
        code,
        reason: `injection failed and MeshConfig ${plan.meshConfig.name} has failurePolicy Fail, so the API server deletes the object: ${problem}`,
        meshConfig: plan.meshConfig.name,
        level: 'error',
        failure: problem,
      };
    }
    return { action: 'released', reason: `injection failed, released without a sidecar (failurePolicy Ignore): ${problem}`, code, meshConfig: plan.meshConfig.name, level: 'warn' };
  }
  if (plan.action !== 'inject') throw new Error('unreachable');
  if (!plan.changed) return { action: 'skipped', reason: alreadyInjectedReason(plan.meshConfig.name), code: 'already_injected', meshConfig: plan.meshConfig.name, level: 'info' };
  return { action: 'injected', reason: plan.reason, code: plan.code, meshConfig: plan.meshConfig.name, level: 'info' };
}

export type AdmissionAction = 'injected' | 'skipped' | 'allowed-uninjected' | 'denied';

export interface AdmissionVerdict {
  action: AdmissionAction;
  reason: string;
  /** The rule that decided, from the fixed list in reasons.ts (a metric label). */
  code: ReasonCode;
  meshConfig?: string;
  /** The admission warning the client (kubectl) shows, for an object admitted without its sidecar. */
  warning?: string;
  /** For `denied`: the message of the 403 the client gets. */
  denial?: string;
  /** Skipped for another mesh (`Istio`, ...): logged as a warning, not as routine. */
  otherMesh?: string;
}

/** What the webhook answers for a plan: the patch itself is the adapter's (a diff of the plan's object). */
export function admissionVerdict(plan: InjectionPlan<unknown>): AdmissionVerdict {
  if (plan.action === 'skip' && plan.degraded) {
    return { action: 'allowed-uninjected', reason: plan.reason, code: plan.code, warning: `meshinit admitted this without a sidecar: ${plan.reason}` };
  }
  if (plan.action === 'skip') {
    // Another mesh: the client hears it too, as an admission warning (kubectl prints it).
    const warning = plan.otherMesh ? { warning: `meshinit did not inject its sidecar: ${plan.reason}`, otherMesh: plan.otherMesh.mesh } : {};
    return { action: 'skipped', reason: plan.reason, code: plan.code, ...(plan.meshConfig ? { meshConfig: plan.meshConfig.name } : {}), ...warning };
  }
  if (plan.action === 'error') {
    const message = `meshinit could not inject the sidecar: ${plan.error.message}`;
    const meshConfig = plan.meshConfig.name;
    if (plan.meshConfig.spec.failurePolicy === 'Fail') {
      return { action: 'denied', reason: plan.error.message, code: plan.error.code, meshConfig, denial: `${message} (MeshConfig ${meshConfig} has failurePolicy Fail)` };
    }
    return { action: 'allowed-uninjected', reason: plan.error.message, code: plan.error.code, meshConfig, warning: `${message}; admitted without a sidecar (failurePolicy Ignore)` };
  }
  if (!plan.changed) return { action: 'skipped', reason: alreadyInjectedReason(plan.meshConfig.name), code: 'already_injected', meshConfig: plan.meshConfig.name };
  return { action: 'injected', reason: plan.reason, code: plan.code, meshConfig: plan.meshConfig.name };
}
