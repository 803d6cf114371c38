// One level-based sync per object key: read the object from the informer cache, act only when our
// name is first in pending, decide with the pure core, and send ONE conditional JSON Patch that
// removes our entry (and, when injecting, adds the sidecar). Event payloads are never trusted and
// cached objects are never modified; a conflict means the cache was stale, so we re-read and retry.
import { isOwnTurn } from '../core/initializers.ts';
import { buildFailurePatch, buildInitializationPatch, type JsonPatchOperation } from '../core/patch.ts';
import { planJobPodInjection, planWorkloadInjection, type InjectionPlan } from '../core/plan.ts';
import { initializerVerdict } from '../core/outcome.ts';
import type { PolicyContext } from '../core/policy.ts';
import type { ReasonCode } from '../core/reasons.ts';
import type { KubeObject, MeshConfig, NamespaceInfo, Pod, Workload, WorkloadKind } from '../core/types.ts';
import { controllerOwner, recognisePod, recogniseWorkload } from '../core/workload.ts';
import { isKubeApiError } from '../kube/errors.ts';
import { involvedObjectOf, REASON_INJECTION_FAILED, REASON_INJECTION_SKIPPED, REASON_RELEASED_WITHOUT_SIDECAR, REASON_SIDECAR_INJECTED, skippedEventType, type EventRecorder } from '../kube/events.ts';
import { JOB, NAMESPACE, POD, objectPath, workloadDescriptor } from '../kube/resources.ts';
import type { KubeApi } from '../kube/types.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

export type SyncKind = WorkloadKind | 'Pod';

export interface ObjectRef {
  kind: SyncKind;
  namespace: string;
  name: string;
}

export function refKey(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

export function parseRefKey(key: string): ObjectRef {
  const [kind, namespace, ...rest] = key.split('/');
  if (!kind || namespace === undefined || rest.length === 0) throw new Error(`malformed work queue key ${JSON.stringify(key)}`);
  return { kind: kind as SyncKind, namespace, name: rest.join('/') };
}

/** What sync reads: informer caches only, so a decision costs no API round trip. */
export interface ClusterView {
  object(ref: ObjectRef): KubeObject | undefined;
  job(namespace: string, name: string): Workload | undefined;
  namespace(name: string): NamespaceInfo | undefined;
  meshConfigs(): readonly MeshConfig[];
  /** Why MeshConfigs cannot be used right now (see ClusterConfig); undefined when they can. */
  meshConfigsUnavailable(): string | undefined;
}

export interface SyncDeps {
  api: KubeApi;
  view: ClusterView;
  log: Logger;
  now: () => number;
  initializerName: string;
  controllerNamespace: string;
  /** `--namespace`: inject only there; workloads elsewhere are released unchanged. */
  injectNamespaces?: readonly string[];
  /** Re-reads after 409 Conflict before giving the key back to the queue's backoff. */
  maxConflictRetries?: number;
  /** An Event for every decision (see decisionEvent). */
  events?: EventRecorder;
  metrics?: Pick<Metrics, 'decision' | 'syncSeconds' | 'workloadWaited' | 'conflict'>;
  /** Wall-clock ms, for how long a workload waited since its creationTimestamp. Default Date.now. */
  wallClock?: () => number;
}

export type SyncAction = 'injected' | 'skipped' | 'released' | 'failed';

export interface SyncResult {
  action: SyncAction | 'none';
  reason: string;
  /** Set when action is not 'none'. */
  code?: ReasonCode;
  meshConfig?: string;
}

interface Decision {
  action: SyncAction;
  reason: string;
  code: ReasonCode;
  meshConfig?: string;
  /** Releasing the many Pods that are not a Job's is routine: debug, not info. */
  level: 'debug' | 'info' | 'warn' | 'error';
  ops: JsonPatchOperation[];
}

// Re-exported: tests and callers have always found it here.
export { JOB_RELEASE_REASON } from '../core/outcome.ts';

function pathOf(ref: ObjectRef): string {
  const descriptor = ref.kind === 'Pod' ? POD : workloadDescriptor(ref.kind);
  return objectPath(descriptor, ref.namespace, ref.name);
}

/** The namespace's labels, or why they cannot be had (then the workload is released, not held). */
async function namespaceInfo(name: string, deps: SyncDeps): Promise<NamespaceInfo | string> {
  const cached = deps.view.namespace(name);
  if (cached) return cached;
  // The workload's namespace exists (the server checked on create); the watch is just behind, or
  // the namespace list is failing. A passing failure is retried; a lasting one (403: RBAC without
  // namespaces) would hold the workload forever, so it releases it instead.
  try {
    const object = await deps.api.get<KubeObject>(objectPath(NAMESPACE, undefined, name));
    return { name, labels: { ...(object.metadata?.labels ?? {}) } };
  } catch (error) {
    if (isKubeApiError(error) && !error.isRetryable) return error.message;
    throw error;
  }
}

const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

async function owningJob(pod: Pod, namespace: string, deps: SyncDeps): Promise<Workload | undefined> {
  const owner = controllerOwner(pod);
  // An owner reference no Job could have (no name, a path in it) is not a Job to look up.
  if (!owner || owner.kind !== 'Job' || typeof owner.name !== 'string' || !OBJECT_NAME.test(owner.name)) return undefined;
  const cached = deps.view.job(namespace, owner.name);
  if (cached) return cached;
  try {
    const job = await deps.api.get<unknown>(objectPath(JOB, namespace, owner.name));
    const recognised = recogniseWorkload(job);
    return recognised.ok ? recognised.value : undefined;
  } catch (error) {
    if (isKubeApiError(error) && error.isNotFound) return undefined;
    throw error;
  }
}

function release(original: KubeObject, deps: SyncDeps): JsonPatchOperation[] {
  return buildInitializationPatch({ original, desired: original, initializerName: deps.initializerName });
}

function fromPlan<T extends KubeObject>(plan: InjectionPlan<T>, original: KubeObject, deps: SyncDeps, kind: SyncKind, rejection: string | undefined): Decision {
  const { failure, ...verdict } = initializerVerdict(plan, { kind, ...(rejection !== undefined ? { rejection } : {}) });
  if (verdict.action === 'failed') return { ...verdict, ops: buildFailurePatch({ original, initializerName: deps.initializerName, message: failure ?? verdict.reason }) };
  if (verdict.action === 'injected' && plan.action === 'inject') {
    return { ...verdict, ops: buildInitializationPatch({ original, desired: plan.object, initializerName: deps.initializerName }) };
  }
  return { ...verdict, ops: release(original, deps) };
}

async function decide(ref: ObjectRef, original: KubeObject, deps: SyncDeps, rejection: string | undefined): Promise<Decision> {
  const namespace = await namespaceInfo(ref.namespace, deps);
  if (typeof namespace === 'string') {
    return { action: 'released', reason: `namespace ${ref.namespace} could not be read, so no sidecar was injected: ${namespace}`, code: 'namespace_unreadable', level: 'warn', ops: release(original, deps) };
  }
  const unavailable = deps.view.meshConfigsUnavailable();
  const context: PolicyContext = {
    namespace,
    meshConfigs: deps.view.meshConfigs(),
    controllerNamespace: deps.controllerNamespace,
    ...(unavailable !== undefined ? { meshConfigsUnavailable: unavailable } : {}),
    ...(deps.injectNamespaces ? { injectNamespaces: deps.injectNamespaces } : {}),
  };
  if (ref.kind === 'Pod') {
    const pod = recognisePod(original);
    const job = pod.ok ? await owningJob(pod.value, ref.namespace, deps) : undefined;
    if (!pod.ok || !job) {
      const reason = pod.ok
        ? 'the Pod is not owned by a (still existing) Job; only Job Pods are injected here (other Pods get the sidecar from their workload\'s template)'
        : `malformed Pod: ${pod.reason}`;
      return { action: 'released', reason, code: pod.ok ? 'not_job_pod' : 'malformed', level: pod.ok ? 'debug' : 'warn', ops: release(original, deps) };
    }
    return fromPlan(planJobPodInjection(pod.value, job, context), original, deps, 'Pod', rejection);
  }
  const workload = recogniseWorkload(original);
  if (!workload.ok) return { action: 'released', reason: `malformed ${ref.kind}, released unchanged: ${workload.reason}`, code: 'malformed', level: 'warn', ops: release(original, deps) };
  return fromPlan(planWorkloadInjection(workload.value, context), original, deps, ref.kind, rejection);
}

/** Syncs one object; resolves when it is done with it, throws for the work queue to retry. */
export async function syncObject(ref: ObjectRef, deps: SyncDeps): Promise<SyncResult> {
  const started = deps.now();
  const maxAttempts = (deps.maxConflictRetries ?? 5) + 1;
  let current = deps.view.object(ref);
  let rejection: string | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (!current) return { action: 'none', reason: 'object no longer exists' };
    if (!isOwnTurn(current.metadata, deps.initializerName)) return { action: 'none', reason: 'not our turn in metadata.initializers.pending' };
    if (current.metadata?.initializers?.result) return { action: 'none', reason: 'a failure result is already set; the API server deletes the object' };
    const decision = await decide(ref, current, deps, rejection);
    try {
      await deps.api.patchIgnoringAnswer(pathOf(ref), decision.ops, 'application/json-patch+json');
    } catch (error) {
      if (!isKubeApiError(error)) throw error;
      if (error.isNotFound) return { action: 'none', reason: 'object was deleted before it was initialized' };
      if (error.isConflict) {
        deps.metrics?.conflict('409');
        current = await readLatest(ref, deps);
        continue;
      }
      if (error.statusCode === 422 || error.statusCode === 500) {
        // Our `test` failing because someone changed the object since we read it is a conflict by
        // another name: 422 on 1.13, 500 on 1.9. Otherwise 422 is the server refusing the
        // injected object itself, and 500 a passing fault.
        const latest = await readLatest(ref, deps);
        if (latest?.metadata?.resourceVersion !== current.metadata?.resourceVersion) {
          deps.metrics?.conflict(error.statusCode === 422 ? '422' : '500');
          current = latest;
          continue;
        }
        // Unchanged object, refused content (say, a sidecar field this server does not know):
        // fall back to the MeshConfig's failurePolicy instead of leaving the object pending.
        if (error.statusCode === 422 && decision.action === 'injected' && rejection === undefined) {
          rejection = `the API server rejected the injected ${ref.kind}: ${error.serverMessage}`;
          continue;
        }
      }
      throw error;
    }
    const durationMs = deps.now() - started;
    const fields = {
      kind: ref.kind,
      namespace: ref.namespace,
      name: ref.name,
      uid: current.metadata?.uid,
      action: decision.action,
      reason: decision.reason,
      code: decision.code,
      meshConfig: decision.meshConfig,
      durationMs,
      attempts: attempt,
    };
    const message = { injected: 'Injected sidecar', skipped: 'Skipped injection', released: 'Released without sidecar', failed: 'Failed initialization' }[decision.action];
    deps.log[decision.level](message, fields);
    deps.metrics?.decision('initializer', ref.kind, decision.action, decision.code);
    deps.metrics?.syncSeconds(durationMs / 1000);
    deps.metrics?.workloadWaited(current.metadata?.creationTimestamp, (deps.wallClock ?? Date.now)());
    const event = decisionEvent(decision);
    const involved = event && involvedObjectOf(current);
    if (event && involved) deps.events?.record({ object: involved, ...event, message: decision.reason });
    return { action: decision.action, reason: decision.reason, code: decision.code, ...(decision.meshConfig ? { meshConfig: decision.meshConfig } : {}) };
  }
  throw new Error(`${ref.kind} ${ref.namespace}/${ref.name}: still conflicting after ${maxAttempts} attempts; will retry`);
}

/**
 * The Event a decision gets: Normal for injected and skipped, Warning for a release an operator
 * may need to act on (a Job, failurePolicy Ignore, an unreadable input) and for a failure. A Pod
 * that is not a Job's gets none: it is not a decision on injection (its workload's template had
 * that), and with --job-pods it would be one Event per Pod in the cluster.
 */
function decisionEvent(decision: Decision): { type: 'Normal' | 'Warning'; reason: string } | undefined {
  switch (decision.action) {
    case 'injected': return { type: 'Normal', reason: REASON_SIDECAR_INJECTED };
    case 'skipped': return { type: skippedEventType(decision.code), reason: REASON_INJECTION_SKIPPED };
    case 'failed': return { type: 'Warning', reason: REASON_INJECTION_FAILED };
    case 'released': return decision.code === 'not_job_pod' ? undefined : { type: 'Warning', reason: REASON_RELEASED_WITHOUT_SIDECAR };
  }
}

async function readLatest(ref: ObjectRef, deps: SyncDeps): Promise<KubeObject | undefined> {
  try {
    return await deps.api.get<KubeObject>(pathOf(ref));
  } catch (error) {
    if (isKubeApiError(error) && error.isNotFound) return undefined;
    throw error;
  }
}
