// Recognising workloads in untrusted input (API objects, YAML documents, AdmissionReviews): a
// malformed object yields a reason, never an exception deep inside injection.
import type { InjectionCandidate } from './policy.ts';
import { isRecord, nestsDeeperThan, quote } from './untrusted.ts';
import type { WorkloadIdentity } from './render.ts';
import type { KubeObject, ObjectMeta, OwnerReference, Pod, Workload, WorkloadKind, WorkloadMetadata } from './types.ts';
import { WORKLOAD_KINDS } from './types.ts';


function stringMap(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  const result: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === 'string') Object.defineProperty(result, key, { value: entry, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

export function isWorkloadKind(kind: unknown): kind is WorkloadKind {
  return typeof kind === 'string' && (WORKLOAD_KINDS as readonly string[]).includes(kind);
}

export type Recognised<T> = { ok: true; value: T } | { ok: false; reason: string };

function isStringMap(value: unknown): boolean {
  return value === undefined || (isRecord(value) && Object.values(value).every((entry) => typeof entry === 'string'));
}

/** What is wrong with an object's metadata for meshinit to work with it, or undefined. */
function metadataProblem(metadata: unknown, what: string): string | undefined {
  if (!isRecord(metadata)) return `${what} has no metadata`;
  const { name, generateName, namespace } = metadata;
  if (name !== undefined && typeof name !== 'string') return `${what}: metadata.name must be a string, got ${quote(name)}`;
  if (generateName !== undefined && typeof generateName !== 'string') return `${what}: metadata.generateName must be a string`;
  if (name === undefined && generateName === undefined) return `${what} has no metadata.name`;
  if (namespace !== undefined && typeof namespace !== 'string') return `${what}: metadata.namespace must be a string, got ${quote(namespace)}`;
  if (!isStringMap(metadata.labels)) return `${what}: metadata.labels must be a map of strings`;
  if (!isStringMap(metadata.annotations)) return `${what}: metadata.annotations must be a map of strings`;
  return undefined;
}

/**
 * Far deeper than any real workload or Pod (a few dozen levels): past it, an object is refused
 * before injection, diffing and cloning, which all recurse, ever see it.
 */
export const MAX_OBJECT_DEPTH = 200;

/** A Deployment/StatefulSet/DaemonSet/Job whose template has a containers list, or why not. */
export function recogniseWorkload(object: unknown): Recognised<Workload> {
  if (!isRecord(object)) return { ok: false, reason: 'not an object' };
  if (nestsDeeperThan(object, MAX_OBJECT_DEPTH)) return { ok: false, reason: `the object is nested more than ${MAX_OBJECT_DEPTH} levels deep` };
  if (!isWorkloadKind(object.kind)) return { ok: false, reason: `kind ${quote(object.kind)} is not a workload meshinit injects` };
  const metadataIssue = metadataProblem(object.metadata, object.kind);
  if (metadataIssue) return { ok: false, reason: metadataIssue };
  const metadata = object.metadata as ObjectMeta;
  const what = `${object.kind} ${metadata.name ?? metadata.generateName ?? ''}`;
  const spec = object.spec;
  const template = isRecord(spec) ? spec.template : undefined;
  const podSpec = isRecord(template) ? template.spec : undefined;
  if (!isRecord(template) || !isRecord(podSpec) || !Array.isArray(podSpec.containers)) {
    return { ok: false, reason: `${what} has no spec.template.spec.containers list` };
  }
  if (template.metadata !== undefined) {
    const templateIssue = isRecord(template.metadata) && isStringMap(template.metadata.labels) && isStringMap(template.metadata.annotations)
      ? undefined
      : `${what}: spec.template.metadata must be an object whose labels and annotations are maps of strings`;
    if (templateIssue) return { ok: false, reason: templateIssue };
  }
  return { ok: true, value: object as Workload };
}

export function recognisePod(object: unknown): Recognised<Pod> {
  if (!isRecord(object)) return { ok: false, reason: 'not an object' };
  if (nestsDeeperThan(object, MAX_OBJECT_DEPTH)) return { ok: false, reason: `the object is nested more than ${MAX_OBJECT_DEPTH} levels deep` };
  if (object.kind !== undefined && object.kind !== 'Pod') return { ok: false, reason: `kind ${quote(object.kind)} is not Pod` };
  const metadataIssue = metadataProblem(object.metadata, 'Pod');
  if (metadataIssue) return { ok: false, reason: metadataIssue };
  if (!isRecord(object.spec) || !Array.isArray(object.spec.containers)) return { ok: false, reason: 'Pod has no spec.containers list' };
  return { ok: true, value: { ...object, kind: 'Pod' } as Pod };
}

export function workloadCandidate(workload: Workload): InjectionCandidate {
  // Defensive: callers should recognise first, but a missing template must reach injection (and
  // become an InjectionError there), not throw a TypeError here.
  const template = (workload.spec as Workload['spec'] | undefined)?.template;
  return {
    kind: workload.kind,
    name: workload.metadata.name ?? workload.metadata.generateName ?? '',
    namespace: workload.metadata.namespace ?? '',
    labels: stringMap(workload.metadata.labels),
    annotations: stringMap(workload.metadata.annotations),
    podAnnotations: stringMap(template?.metadata?.annotations),
    podSpec: template?.spec,
  };
}

/**
 * A Pod judged as its workload (a Job's Pod in Initializer mode, any workload's Pod in the
 * webhook): selector labels and the workload-level opt-out are the workload's, the pod-template
 * annotations and hostNetwork the Pod's own (the Pod carries its template's, and would carry the proxy).
 */
export function ownedPodCandidate(pod: Pod, workload: WorkloadMetadata): InjectionCandidate {
  return {
    kind: workload.kind,
    name: workload.metadata.name ?? '',
    namespace: workload.metadata.namespace ?? pod.metadata.namespace ?? '',
    labels: stringMap(workload.metadata.labels),
    annotations: stringMap(workload.metadata.annotations),
    podAnnotations: stringMap(pod.metadata.annotations),
    podSpec: pod.spec,
  };
}

/** The controlling owner reference (`controller: true`), as Kubernetes garbage collection uses it. */
export function controllerOwner(object: KubeObject): OwnerReference | undefined {
  const owners = object.metadata?.ownerReferences;
  if (!Array.isArray(owners)) return undefined;
  return owners.find((owner) => isRecord(owner) && owner.controller === true);
}

/**
 * A Pod judged on its own (webhook mode): its labels and annotations are the template's, copied
 * by the controller that created it, and its workload identity comes from its owner.
 */
export function podCandidate(pod: Pod, owner: WorkloadIdentity): InjectionCandidate {
  const annotations = stringMap(pod.metadata.annotations);
  return {
    kind: owner.kind,
    name: owner.name,
    namespace: owner.namespace,
    labels: stringMap(pod.metadata.labels),
    annotations,
    podAnnotations: annotations,
    podSpec: pod.spec,
  };
}

const POD_TEMPLATE_HASH = 'pod-template-hash';

/**
 * The workload a Pod belongs to, from its controlling owner: a ReplicaSet made by a Deployment is
 * named `<deployment>-<pod-template-hash>`, so the Deployment's name is recovered from it without
 * an API read. Bare Pods and Pods of other controllers get a reason instead.
 */
export function podOwnerIdentity(pod: Pod, namespace: string): Recognised<WorkloadIdentity> {
  const owner = controllerOwner(pod);
  if (!owner) return { ok: false, reason: 'the Pod has no controller (bare Pods are not injected; inject their manifest with "meshinit inject")' };
  if (owner.kind === 'ReplicaSet') {
    const hash = stringMap(pod.metadata.labels)[POD_TEMPLATE_HASH];
    const name = hash && owner.name.endsWith(`-${hash}`) ? owner.name.slice(0, -(hash.length + 1)) : owner.name;
    return { ok: true, value: { kind: 'Deployment', name, namespace } };
  }
  if (isWorkloadKind(owner.kind)) return { ok: true, value: { kind: owner.kind, name: owner.name, namespace } };
  return { ok: false, reason: `the Pod's controller is a ${owner.kind}, not one of ${WORKLOAD_KINDS.join(', ')}` };
}
