// What each MeshConfig's status says, so `kubectl get mc` tells the story without the logs: is it
// in use (condition Ready, reasons Valid, InvalidSpec, NotSelected), which version the controller
// saw (observedGeneration, and observedSpecHash, which 1.9 needs: custom resources there have no
// metadata.generation), how many workloads it wins, and how many carry its current or an older
// sidecar. The spec of the last accepted version is kept there too (lastValidGeneration,
// lastValidSpec), so that a meshinit restarted after an invalid edit still serves it.
// The writer (meshconfig-status-writer.ts) sends it; this file only decides it.
import type { MeshConfigCounts, RolloutStatus } from '../core/meshconfig-counts.ts';
import { isShadowed } from '../core/meshconfig-counts.ts';
import { canonicalJson, hashString } from '../core/status-record.ts';
import type { KubeObject } from '../core/types.ts';
import type { MeshConfigVerdict } from './meshconfig-store.ts';

/** Condition type on MeshConfig status: True when the controller uses this MeshConfig for some workload. */
export const CONDITION_READY = 'Ready';
/** Ready=True: the spec is valid and in use for the workloads it wins. */
export const REASON_VALID = 'Valid';
/** Ready=False: the spec fails validation; the last valid version (if any) keeps serving. */
export const REASON_INVALID_SPEC = 'InvalidSpec';
/** Ready=False: it selects workloads, but a MeshConfig of higher priority wins every one of them. */
export const REASON_NOT_SELECTED = 'NotSelected';

/** Said in webhook mode --target pods, where templates are never injected and Pods are not cached. */
export const NOT_COUNTED_IN_POD_MODE = 'injected and outdated workloads are not counted in webhook mode --target pods: the sidecar is in Pods, not in workload templates';
/** Said in webhook mode --target pods of a MeshConfig with updatePolicy Rollout, whose rollout reads the Pods. */
export const COUNTED_FROM_PODS = 'in webhook mode --target pods, injected and outdated workloads are counted from the Pods the rollout reads (updatePolicy Rollout, every 15 s on the replica leading it; kept as they were while it is paused)';

export interface MeshConfigCondition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface MeshConfigStatus {
  /** metadata.generation of the spec this status describes; absent where the server keeps none (1.9). */
  observedGeneration?: number;
  /** Hash of the spec this status describes, on every server: compare it with `meshinit explain` or another replica. */
  observedSpecHash: string;
  conditions: MeshConfigCondition[];
  matchedWorkloads?: number;
  injectedWorkloads?: number;
  outdatedWorkloads?: number;
  rollout?: RolloutStatus;
  lastValidGeneration?: number;
  lastValidSpec?: unknown;
}

type ConditionVerdict = Omit<MeshConfigCondition, 'lastTransitionTime'>;

function readyCondition(verdict: MeshConfigVerdict, counts: MeshConfigCounts | undefined, previous: MeshConfigCondition | undefined): ConditionVerdict {
  if (!verdict.valid) {
    return {
      type: CONDITION_READY,
      status: 'False',
      reason: REASON_INVALID_SPEC,
      message: `${verdict.problems.join('; ')}${verdict.servingPrevious ? ' (the last valid version keeps serving)' : ''}`,
    };
  }
  // Not counted yet (caches still syncing after a restart): a shadowed MeshConfig stays reported so.
  if (counts === undefined && previous?.reason === REASON_NOT_SELECTED) return { type: previous.type, status: previous.status, reason: previous.reason, message: previous.message };
  if (counts && isShadowed(counts)) {
    const winners = counts.takenBy.map((name) => `MeshConfig ${name}`).join(', ');
    return {
      type: CONDITION_READY,
      status: 'False',
      reason: REASON_NOT_SELECTED,
      message: `selects ${counts.selecting} workload(s), but ${winners} (higher priority, or same priority and an earlier name) wins all of them`,
    };
  }
  // The same on every replica (the one reading the Pods and the others), so they agree on status.
  const note = counts?.fromPods
    ? `; ${verdict.meshConfig.spec.updatePolicy === 'Rollout' ? COUNTED_FROM_PODS : NOT_COUNTED_IN_POD_MODE}`
    : counts && counts.injected === undefined ? `; ${NOT_COUNTED_IN_POD_MODE}` : '';
  return { type: CONDITION_READY, status: 'True', reason: REASON_VALID, message: `in use for new workloads${note}` };
}

type CountField = 'matchedWorkloads' | 'injectedWorkloads' | 'outdatedWorkloads' | 'rollout';

/**
 * status.rollout when this count has none: a MeshConfig still rolling out keeps what the status
 * says (a webhook replica that does not hold the rollout lock counts the rest alike, but not the
 * rollout, which only the leader knows), any other drops it.
 */
function carriedRollout(verdict: MeshConfigVerdict, current: Partial<MeshConfigStatus> | undefined): Pick<MeshConfigStatus, 'rollout'> {
  const inForce = verdict.valid ? verdict.meshConfig : verdict.serving;
  return inForce?.spec.updatePolicy === 'Rollout' && current?.rollout !== undefined ? { rollout: current.rollout } : {};
}

function carriedRecordCounts(current: Partial<MeshConfigStatus> | undefined): Pick<MeshConfigStatus, 'injectedWorkloads' | 'outdatedWorkloads'> {
  return {
    ...(typeof current?.injectedWorkloads === 'number' ? { injectedWorkloads: current.injectedWorkloads } : {}),
    ...(typeof current?.outdatedWorkloads === 'number' ? { outdatedWorkloads: current.outdatedWorkloads } : {}),
  };
}

function countFields(verdict: MeshConfigVerdict, object: KubeObject, counts: MeshConfigCounts | undefined, current: Partial<MeshConfigStatus> | undefined): Pick<MeshConfigStatus, CountField> {
  if (counts === undefined) {
    // Carried over until the first count: a restart must not show zeros for a few seconds.
    return { ...(typeof current?.matchedWorkloads === 'number' ? { matchedWorkloads: current.matchedWorkloads } : {}), ...carriedRecordCounts(current) };
  }
  // --target pods without a reading of the Pods (a replica not leading the rollout, or it is
  // paused): a Rollout MeshConfig keeps what the reading replica wrote, as status.rollout is kept,
  // but only numbers counted for this very spec: after an edit they are the previous version's.
  const inForce = verdict.valid ? verdict.meshConfig : verdict.serving;
  const sameSpec = current?.observedSpecHash === specHash(object.spec);
  const carried = counts.injected === undefined && counts.fromPods && inForce?.spec.updatePolicy === 'Rollout' && sameSpec ? carriedRecordCounts(current) : {};
  return {
    matchedWorkloads: counts.matched,
    ...carried,
    ...(counts.injected !== undefined ? { injectedWorkloads: counts.injected } : {}),
    ...(counts.outdated !== undefined ? { outdatedWorkloads: counts.outdated } : {}),
    ...(counts.rollout !== undefined ? { rollout: counts.rollout } : {}),
  };
}

/** Another spec: a new generation, or (1.9 keeps none for custom resources) other spec content; not a write of status or metadata alone. */
export function specChanged(previous: KubeObject, object: KubeObject): boolean {
  return previous.metadata?.generation !== object.metadata?.generation || JSON.stringify(previous.spec) !== JSON.stringify(object.spec);
}

/** The hash in status.observedSpecHash: the canonical JSON of the spec as stored, so key order does not matter. */
export function specHash(spec: unknown): string {
  return hashString(canonicalJson(spec ?? null));
}

/**
 * The status `object` should have. `counts` is this MeshConfig's entry of the last count, or
 * undefined before the first one; `current` is the status the server holds (or the one this
 * process wrote last, when the informer has not shown it yet).
 */
export function desiredStatus(verdict: MeshConfigVerdict, object: KubeObject, now: Date, counts?: MeshConfigCounts, current = object.status as Partial<MeshConfigStatus> | undefined): MeshConfigStatus {
  const generation = typeof object.metadata?.generation === 'number' && object.metadata.generation > 0 ? object.metadata.generation : undefined;
  const previous = current?.conditions?.find((c) => c.type === CONDITION_READY);
  const condition = readyCondition(verdict, counts, previous);
  // lastTransitionTime moves only when the condition's status does, as Kubernetes conditions do.
  const lastTransitionTime = previous && previous.status === condition.status && previous.lastTransitionTime ? previous.lastTransitionTime : now.toISOString();
  // For an invalid edit, what this process serves wins over what status recorded: a status write
  // for the previous valid version may not have landed yet.
  const lastValid = verdict.valid
    ? { lastValidGeneration: generation ?? 0, lastValidSpec: object.spec }
    : verdict.serving
      ? { lastValidGeneration: verdict.serving.generation, lastValidSpec: verdict.serving.spec }
      : current?.lastValidSpec !== undefined
        ? { lastValidGeneration: current.lastValidGeneration ?? 0, lastValidSpec: current.lastValidSpec }
        : {};
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    observedSpecHash: specHash(object.spec),
    conditions: [{ ...condition, lastTransitionTime }],
    ...carriedRollout(verdict, current),
    ...countFields(verdict, object, counts, current),
    ...lastValid,
  };
}
