// What a controller keeps of a workload it will not inject again: enough to find it (identity and
// version), to count it for MeshConfig status (namespace, name, kind, labels for selection) and
// whose sidecar it carries (the status record's MeshConfig and hash, not its JSON). At 50,000
// workloads this is most of the process's memory, so the record is parsed once, on the informer
// event, and identical records share one frozen object.
import { STATUS_ANNOTATION } from './constants.ts';
import type { CountedWorkload, InjectionMark } from './meshconfig-counts.ts';
import { rolloutFacts, type RolloutFacts } from './rollout-progress.ts';
import type { RolloutCandidate } from './rollout.ts';
import type { KubeObject, WorkloadKind } from './types.ts';
import { isRecord } from './untrusted.ts';

/**
 * The field a summary keeps the record's mark in. Not a Kubernetes field: a summary is never sent
 * to the server, and the pod template it replaces is gone.
 */
export const SUMMARY_INJECTION = 'meshinitInjection';

/**
 * Where a summary keeps what a rollout of a changed MeshConfig needs (generations, updated
 * replicas, the opt-out annotations): only for workloads meshinit injected, the only ones a
 * rollout can touch, so the others stay as small as before.
 */
export const SUMMARY_ROLLOUT = 'meshinitRollout';

/** Distinct marks shared, at most: a sidecar with placeholders has one hash per workload. */
export const MAX_SHARED_MARKS = 4096;

export type WorkloadSummariser = (object: KubeObject) => KubeObject;

/** The MeshConfig and hash of a status record (annotation value), or undefined when there is none or it is corrupt. */
export function parseInjectionMark(raw: string | undefined): InjectionMark | undefined {
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || typeof parsed.meshConfig !== 'string' || typeof parsed.hash !== 'string') return undefined;
  const generation = typeof parsed.generation === 'number' && Number.isSafeInteger(parsed.generation) ? parsed.generation : 0;
  return { meshConfig: parsed.meshConfig, generation, hash: parsed.hash };
}

function templateAnnotation(object: KubeObject): string | undefined {
  const spec = object.spec;
  const template = isRecord(spec) ? spec.template : undefined;
  const metadata = isRecord(template) ? template.metadata : undefined;
  const annotations = isRecord(metadata) ? metadata.annotations : undefined;
  if (!isRecord(annotations) || !Object.hasOwn(annotations, STATUS_ANNOTATION)) return undefined;
  const value = annotations[STATUS_ANNOTATION];
  return typeof value === 'string' ? value : undefined;
}

/** A summariser with its own table of shared marks (one per controller, not per module). */
export function createWorkloadSummariser(maxShared = MAX_SHARED_MARKS): WorkloadSummariser {
  const shared = new Map<string, InjectionMark>();
  const share = (mark: InjectionMark): InjectionMark => {
    const key = `${mark.meshConfig}\u0000${mark.generation}\u0000${mark.hash}`;
    const found = shared.get(key);
    if (found) return found;
    const frozen = Object.freeze({ meshConfig: mark.meshConfig, generation: mark.generation, hash: mark.hash });
    if (shared.size < maxShared) shared.set(key, frozen);
    return frozen;
  };
  return (object) => {
    const { name, namespace, uid, resourceVersion, labels } = object.metadata ?? {};
    const summary: KubeObject = { metadata: { name, namespace, uid, resourceVersion, ...(isRecord(labels) ? { labels } : {}) } };
    if (object.apiVersion !== undefined) summary.apiVersion = object.apiVersion;
    if (object.kind !== undefined) summary.kind = object.kind;
    const mark = parseInjectionMark(templateAnnotation(object));
    if (mark) {
      summary[SUMMARY_INJECTION] = share(mark);
      summary[SUMMARY_ROLLOUT] = Object.freeze(rolloutFacts(object));
    }
    return summary;
  };
}

function stringLabels(labels: unknown): Readonly<Record<string, string>> {
  if (!isRecord(labels)) return {};
  for (const value of Object.values(labels)) if (typeof value !== 'string') return {};
  return labels as Record<string, string>;
}

/** A cached workload (a summary, or the whole object while it is pending) as the counts read it. */
export function countedWorkload(kind: WorkloadKind, object: KubeObject): CountedWorkload {
  const metadata = object.metadata;
  const kept = object[SUMMARY_INJECTION];
  const injection = isRecord(kept) && typeof kept.meshConfig === 'string' && typeof kept.generation === 'number' && typeof kept.hash === 'string'
    ? (kept as unknown as InjectionMark)
    : parseInjectionMark(templateAnnotation(object));
  return {
    kind,
    name: typeof metadata?.name === 'string' ? metadata.name : '',
    namespace: typeof metadata?.namespace === 'string' ? metadata.namespace : '',
    labels: stringLabels(metadata?.labels),
    injection,
    memoKey: object,
  };
}

/**
 * A cached workload as the rollout planner reads it. A workload still pending in the Initializer
 * mode (metadata.initializers) has no facts: it is not running yet, there is nothing to roll.
 */
export function rolloutCandidate(kind: WorkloadKind, object: KubeObject): RolloutCandidate {
  const kept = object[SUMMARY_ROLLOUT];
  const pending = object.metadata?.initializers !== undefined;
  const facts = isRecord(kept) ? (kept as unknown as RolloutFacts) : pending || object.spec === undefined ? undefined : rolloutFacts(object);
  const uid = object.metadata?.uid;
  return { ...countedWorkload(kind, object), uid: typeof uid === 'string' ? uid : '', facts };
}
