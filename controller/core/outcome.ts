// What each mode does with an injection plan, and the words it logs for it. The Initializer sync
// and the webhook's admission build their writes and answers from these verdicts, and
// `meshinit explain` prints them: one source for the reasons, so an explanation says exactly what
// the controller would log.
import type { InjectionPlan } from './plan.ts';
import type { ReasonCode } from './reasons.ts';
import type { WorkloadKind } from './types.ts';

/** Why a Job is released untouched: the rule is the server's, recorded on 1.9 and 1.13. */
export const JOB_RELEASE_REASON =
  'a Job\'s pod template cannot be changed, not even while it is uninitialized (the API server answers 422 "field is immutable"), ' +
  'so the Job was released without a sidecar; inject its manifest with "meshinit inject", or run meshinit with --job-pods to inject the Job\'s Pods';

export function alreadyInjectedReason(meshConfigName: string): string {
  return `already injected by MeshConfig ${meshConfigName}`;
}

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
  if (plan.action === 'skip') return { action: 'skipped', reason: plan.reason, code: plan.code, ...meshConfig, level: 'info' };
  const problem = input.rejection ?? (plan.action === 'error' ? plan.error.message : undefined);
  if (problem !== undefined) {
    const code: ReasonCode = input.rejection !== undefined ? 'rejected_by_server' : 'injection_error';
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
}

/** What the webhook answers for a plan: the patch itself is the adapter's (a diff of the plan's object). */
export function admissionVerdict(plan: InjectionPlan<unknown>): AdmissionVerdict {
  if (plan.action === 'skip' && plan.degraded) {
    return { action: 'allowed-uninjected', reason: plan.reason, code: plan.code, warning: `meshinit admitted this without a sidecar: ${plan.reason}` };
  }
  if (plan.action === 'skip') return { action: 'skipped', reason: plan.reason, code: plan.code, ...(plan.meshConfig ? { meshConfig: plan.meshConfig.name } : {}) };
  if (plan.action === 'error') {
    const message = `meshinit could not inject the sidecar: ${plan.error.message}`;
    const meshConfig = plan.meshConfig.name;
    if (plan.meshConfig.spec.failurePolicy === 'Fail') {
      return { action: 'denied', reason: plan.error.message, code: 'injection_error', meshConfig, denial: `${message} (MeshConfig ${meshConfig} has failurePolicy Fail)` };
    }
    return { action: 'allowed-uninjected', reason: plan.error.message, code: 'injection_error', meshConfig, warning: `${message}; admitted without a sidecar (failurePolicy Ignore)` };
  }
  if (!plan.changed) return { action: 'skipped', reason: alreadyInjectedReason(plan.meshConfig.name), code: 'already_injected', meshConfig: plan.meshConfig.name };
  return { action: 'injected', reason: plan.reason, code: plan.code, meshConfig: plan.meshConfig.name };
}
