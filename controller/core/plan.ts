// Policy and injection in one step: what every adapter (initializer sync, webhook, CLI) asks.
import { InjectionError } from './errors.ts';
import { injectPod, injectWorkload, type InjectionResult } from './inject.ts';
import { decideInjection, type InjectionCandidate, type PolicyContext } from './policy.ts';
import type { WorkloadIdentity } from './render.ts';
import type { ReasonCode } from './reasons.ts';
import type { InjectionStatus } from './status-record.ts';
import type { OtherMesh } from './other-mesh.ts';
import type { MeshConfig, Pod, PodTemplateCarrier, PodTemplateKind, Workload, WorkloadMetadata } from './types.ts';
import { ownedPodCandidate, podCandidate, workloadCandidate } from './workload.ts';

export type InjectionPlan<T> =
  | { action: 'inject'; object: T; changed: boolean; status: InjectionStatus; meshConfig: MeshConfig; reason: string; code: ReasonCode }
  /** `degraded`: skipped because an input of the decision was missing, not because policy said so. */
  /** `copiedFrom`: the object's template is its controller's copy (a CronJob's Job), injected there. */
  | { action: 'skip'; reason: string; code: ReasonCode; meshConfig?: MeshConfig; degraded?: true; otherMesh?: OtherMesh; copiedFrom?: { kind: PodTemplateKind; name: string } }
  | { action: 'error'; error: InjectionError; meshConfig: MeshConfig };

function plan<T>(candidate: InjectionCandidate, context: PolicyContext, inject: (meshConfig: MeshConfig) => InjectionResult<T>): InjectionPlan<T> {
  const decision = decideInjection(candidate, context);
  if (!decision.inject) {
    return {
      action: 'skip',
      reason: decision.reason,
      code: decision.code,
      ...(decision.meshConfig ? { meshConfig: decision.meshConfig } : {}),
      ...(decision.degraded ? { degraded: true } : {}),
      ...(decision.otherMesh ? { otherMesh: decision.otherMesh } : {}),
      ...(decision.copiedFrom ? { copiedFrom: decision.copiedFrom } : {}),
    };
  }
  try {
    return { action: 'inject', ...inject(decision.meshConfig), meshConfig: decision.meshConfig, reason: decision.reason, code: decision.code };
  } catch (error) {
    if (error instanceof InjectionError) return { action: 'error', error, meshConfig: decision.meshConfig };
    throw error;
  }
}

/** Any object of the POD_TEMPLATE_KINDS (the four workload kinds included), injected in its pod template. */
export function planWorkloadInjection<T extends PodTemplateCarrier>(workload: T, context: PolicyContext): InjectionPlan<T> {
  return plan(workloadCandidate(workload), context, (meshConfig) => injectWorkload(workload, meshConfig, context.sidecars));
}

/**
 * A Pod, placeholders from its owning workload. Judged as that workload (its labels, its
 * opt-out) when the caller has it, else on the Pod's own labels and annotations.
 */
export function planPodInjection(pod: Pod, owner: WorkloadIdentity, context: PolicyContext, workload?: WorkloadMetadata): InjectionPlan<Pod> {
  const candidate = workload ? ownedPodCandidate(pod, workload) : podCandidate(pod, owner);
  return plan(candidate, context, (meshConfig) => injectPod(pod, meshConfig, owner, context.sidecars));
}

/** A Pod created by a Job: policy and placeholders come from the Job (`{{workload.kind}}` is Job). */
export function planJobPodInjection(pod: Pod, job: Workload, context: PolicyContext): InjectionPlan<Pod> {
  const identity = { kind: job.kind, name: job.metadata.name ?? '', namespace: job.metadata.namespace ?? pod.metadata.namespace ?? '' };
  return plan(ownedPodCandidate(pod, job), context, (meshConfig) => injectPod(pod, meshConfig, identity, context.sidecars));
}
