// What a rollout needs to know of a workload besides its injection record: whether the workload's
// own controller has finished rolling out its current template (so meshinit never starts a second
// rollout on top of one still going), and the workload-level opt-outs policy looks at. Read from
// the whole object (the executor's fresh GET) or kept in the informer summary of an injected
// workload, in both cases by rolloutFacts, so the plan and the re-check cannot disagree.
import { INJECT_ANNOTATION } from './constants.ts';
import { rolloutRecordOf, type RolloutRecord } from './rollout-record.ts';
import type { KubeObject, WorkloadKind } from './types.ts';
import { isRecord } from './untrusted.ts';

/** The raw fields, kind-agnostic: the summariser does not know the kind (list items carry none). */
export interface RolloutFacts {
  readonly generation: number;
  readonly observedGeneration: number;
  /** Deployment, StatefulSet: spec.replicas (the server defaults it to 1). */
  readonly replicas?: number;
  readonly updatedReplicas?: number;
  /** status.replicas: old Pods still there count here until they are gone. */
  readonly statusReplicas?: number;
  readonly availableReplicas?: number;
  readonly readyReplicas?: number;
  /** DaemonSet. */
  readonly desiredNumberScheduled?: number;
  readonly updatedNumberScheduled?: number;
  readonly numberAvailable?: number;
  /** StatefulSet: the revisions differ until every Pod runs the update revision. */
  readonly currentRevision?: string;
  readonly updateRevision?: string;
  /** sidecar.meshinit.dev/inject on the workload, else on its pod template (policy reads both). */
  readonly injectAnnotation?: string;
  readonly podInjectAnnotation?: string;
  readonly hostNetwork?: true;
  /** The last rollout meshinit started on it (sidecar.meshinit.dev/rollout), by any replica. */
  readonly rolloutRecord?: Readonly<RolloutRecord>;
}

/** Rollouts are started only for these: a Job's pod template is immutable on the server (422). */
export const ROLLOUT_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

function int(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function injectAnnotationOf(metadata: unknown): string | undefined {
  const annotations = isRecord(metadata) ? metadata.annotations : undefined;
  return isRecord(annotations) && Object.hasOwn(annotations, INJECT_ANNOTATION) ? str(annotations[INJECT_ANNOTATION]) : undefined;
}

export function rolloutFacts(object: KubeObject): RolloutFacts {
  const spec = isRecord(object.spec) ? object.spec : {};
  const status = isRecord(object.status) ? object.status : {};
  const template = isRecord(spec.template) ? spec.template : {};
  const podSpec = isRecord(template.spec) ? template.spec : {};
  const facts: Record<string, unknown> = {
    generation: int(object.metadata?.generation) ?? 0,
    observedGeneration: int(status.observedGeneration) ?? 0,
    replicas: int(spec.replicas),
    updatedReplicas: int(status.updatedReplicas),
    statusReplicas: int(status.replicas),
    availableReplicas: int(status.availableReplicas),
    readyReplicas: int(status.readyReplicas),
    desiredNumberScheduled: int(status.desiredNumberScheduled),
    updatedNumberScheduled: int(status.updatedNumberScheduled),
    numberAvailable: int(status.numberAvailable),
    currentRevision: str(status.currentRevision),
    updateRevision: str(status.updateRevision),
    injectAnnotation: injectAnnotationOf(object.metadata),
    podInjectAnnotation: injectAnnotationOf(template.metadata),
    hostNetwork: podSpec.hostNetwork === true ? true : undefined,
    rolloutRecord: rolloutRecordOf(object),
  };
  for (const key of Object.keys(facts)) if (facts[key] === undefined) delete facts[key];
  return facts as unknown as RolloutFacts;
}

/**
 * Why the workload's own rollout is still under way, or undefined when it is not: its controller
 * has not yet seen the latest spec (generation ahead of observedGeneration), fewer Pods run the
 * current template than it wants, or old Pods are still there. meshinit starts no rollout on top of
 * one under way. Availability is not asked: a workload whose Pods are unready (crashing, a node
 * down) is not rolling, and the new sidecar may be what it needs.
 */
export function rolloutUnderWay(kind: WorkloadKind, facts: RolloutFacts): string | undefined {
  if (facts.generation > facts.observedGeneration) {
    return `its controller has not observed generation ${facts.generation} yet (observedGeneration ${facts.observedGeneration})`;
  }
  if (kind === 'DaemonSet') {
    const desired = facts.desiredNumberScheduled ?? 0;
    const updated = facts.updatedNumberScheduled ?? 0;
    return updated < desired ? `${updated} of ${desired} scheduled Pods run the current template` : undefined;
  }
  const desired = facts.replicas ?? 1;
  const updated = facts.updatedReplicas ?? 0;
  if (updated < desired) return `${updated} of ${desired} replicas run the current template`;
  if (kind === 'StatefulSet') {
    if (facts.currentRevision !== undefined && facts.updateRevision !== undefined && facts.currentRevision !== facts.updateRevision) {
      return `currentRevision ${facts.currentRevision} is not yet updateRevision ${facts.updateRevision}`;
    }
    return undefined;
  }
  const total = facts.statusReplicas ?? updated;
  return total > updated ? `${total - updated} old replicas are pending termination` : undefined;
}

/**
 * Why a rollout meshinit started has not finished yet, as `kubectl rollout status` judges it: not
 * under way any more, and every updated Pod available (ready).
 */
export function rolloutUnfinished(kind: WorkloadKind, facts: RolloutFacts): string | undefined {
  const underWay = rolloutUnderWay(kind, facts);
  if (underWay !== undefined) return underWay;
  if (kind === 'DaemonSet') {
    const desired = facts.desiredNumberScheduled ?? 0;
    const available = facts.numberAvailable ?? 0;
    return available < desired ? `${available} of ${desired} Pods available` : undefined;
  }
  if (kind === 'StatefulSet') {
    const desired = facts.replicas ?? 1;
    const ready = facts.readyReplicas ?? 0;
    return ready < desired ? `${ready} of ${desired} replicas ready` : undefined;
  }
  const updated = facts.updatedReplicas ?? 0;
  const available = facts.availableReplicas ?? 0;
  return available < updated ? `${available} of ${updated} updated replicas available` : undefined;
}
