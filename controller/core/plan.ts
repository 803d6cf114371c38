// Policy and injection in one step: what every adapter (initializer sync, webhook, CLI) asks.
import { InjectionError } from './errors.ts';
import { injectPod, injectWorkload } from './inject.ts';
import { decideInjection, type PolicyContext } from './policy.ts';
import type { InjectionStatus } from './status-record.ts';
import type { MeshConfig, Pod, Workload } from './types.ts';
import { jobPodCandidate, workloadCandidate } from './workload.ts';

export type InjectionPlan<T> =
  | { action: 'inject'; object: T; changed: boolean; status: InjectionStatus; meshConfig: MeshConfig; reason: string }
  | { action: 'skip'; reason: string; meshConfig?: MeshConfig }
  | { action: 'error'; error: InjectionError; meshConfig: MeshConfig };

function attempt<T>(meshConfig: MeshConfig, reason: string, inject: () => { object: T; changed: boolean; status: InjectionStatus }): InjectionPlan<T> {
  try {
    return { action: 'inject', ...inject(), meshConfig, reason };
  } catch (error) {
    if (error instanceof InjectionError) return { action: 'error', error, meshConfig };
    throw error;
  }
}

export function planWorkloadInjection(workload: Workload, context: PolicyContext): InjectionPlan<Workload> {
  const decision = decideInjection(workloadCandidate(workload), context);
  if (!decision.inject) return { action: 'skip', reason: decision.reason, ...(decision.meshConfig ? { meshConfig: decision.meshConfig } : {}) };
  return attempt(decision.meshConfig, decision.reason, () => injectWorkload(workload, decision.meshConfig));
}

/** A Pod created by a Job: policy and placeholders come from the Job (`{{workload.kind}}` is Job). */
export function planJobPodInjection(pod: Pod, job: Workload, context: PolicyContext): InjectionPlan<Pod> {
  const decision = decideInjection(jobPodCandidate(pod, job), context);
  if (!decision.inject) return { action: 'skip', reason: decision.reason, ...(decision.meshConfig ? { meshConfig: decision.meshConfig } : {}) };
  const identity = { kind: job.kind, name: job.metadata.name ?? '', namespace: job.metadata.namespace ?? pod.metadata.namespace ?? '' };
  return attempt(decision.meshConfig, decision.reason, () => injectPod(pod, decision.meshConfig, identity));
}
