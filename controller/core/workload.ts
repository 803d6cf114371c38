// Recognising workloads in untrusted input (API objects, YAML documents, AdmissionReviews): a
// malformed object yields a reason, never an exception deep inside injection.
import type { InjectionCandidate } from './policy.ts';
import { isRecord, nestsDeeperThan, quote } from './untrusted.ts';
import type { WorkloadIdentity } from './render.ts';
import type { KubeObject, ObjectMeta, OwnerReference, Pod, PodTemplateCarrier, PodTemplateKind, PodTemplateSpec, Workload, WorkloadKind, WorkloadMetadata } from './types.ts';
import { POD_TEMPLATE_KINDS, WORKLOAD_KINDS } from './types.ts';


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

export function isPodTemplateKind(kind: unknown): kind is PodTemplateKind {
  return typeof kind === 'string' && (POD_TEMPLATE_KINDS as readonly string[]).includes(kind);
}

/**
 * Where a kind keeps its pod template, as a path of fields from the object: a CronJob's is inside
 * its Job template (as `istioctl kube-inject` finds it), a bare Pod is its own (empty path: its
 * metadata and spec are the template's).
 */
export function podTemplatePath(kind: PodTemplateKind): readonly string[] {
  switch (kind) {
    case 'CronJob':
      return ['spec', 'jobTemplate', 'spec', 'template'];
    case 'Pod':
      return [];
    default:
      return ['spec', 'template'];
  }
}

/** The path as a reader writes it: `spec.jobTemplate.spec.template`; a Pod's template is itself. */
export function podTemplateField(kind: PodTemplateKind): string {
  const path = podTemplatePath(kind);
  return path.length === 0 ? '(the Pod itself)' : path.join('.');
}

/** The pod template of a recognised object (a Pod: its own metadata and spec), or undefined. */
export function podTemplateOf(object: PodTemplateCarrier): PodTemplateSpec | undefined {
  let at: unknown = object;
  for (const field of podTemplatePath(object.kind)) at = isRecord(at) ? at[field] : undefined;
  return isRecord(at) ? (at as PodTemplateSpec) : undefined;
}

/** A copy of `object` holding `template` at its kind's path; every object on the way is copied, nothing mutated. */
export function withPodTemplate<T extends PodTemplateCarrier>(object: T, template: PodTemplateSpec): T {
  const put = (at: unknown, path: readonly string[]): Record<string, unknown> => {
    const [field, ...rest] = path;
    if (field === undefined) return { ...(isRecord(at) ? at : {}), ...template };
    const record = isRecord(at) ? at : {};
    return { ...record, [field]: put(record[field], rest) };
  };
  return put(object, podTemplatePath(object.kind)) as T;
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

/**
 * An object of any of the POD_TEMPLATE_KINDS whose pod template has a containers list, or why not.
 * For a bare Pod, the template's metadata is the Pod's own (checked as such above).
 */
export function recognisePodTemplateCarrier(object: unknown): Recognised<PodTemplateCarrier> {
  if (!isRecord(object)) return { ok: false, reason: 'not an object' };
  if (nestsDeeperThan(object, MAX_OBJECT_DEPTH)) return { ok: false, reason: `the object is nested more than ${MAX_OBJECT_DEPTH} levels deep` };
  if (!isPodTemplateKind(object.kind)) return { ok: false, reason: `kind ${quote(object.kind)} carries no pod template meshinit injects` };
  const metadataIssue = metadataProblem(object.metadata, object.kind);
  if (metadataIssue) return { ok: false, reason: metadataIssue };
  const metadata = object.metadata as ObjectMeta;
  const what = `${object.kind} ${metadata.name ?? metadata.generateName ?? ''}`;
  const path = podTemplatePath(object.kind);
  const field = path.length === 0 ? 'spec' : `${path.join('.')}.spec`;
  if (!isRecord(object.spec)) return { ok: false, reason: `${what} has no ${field}.containers list` };
  const template = podTemplateOf(object as PodTemplateCarrier);
  if (template === undefined || !isRecord(template.spec) || !Array.isArray(template.spec.containers)) return { ok: false, reason: `${what} has no ${field}.containers list` };
  if (path.length > 0 && template.metadata !== undefined) {
    const templateIssue = isRecord(template.metadata) && isStringMap(template.metadata.labels) && isStringMap(template.metadata.annotations)
      ? undefined
      : `${what}: ${path.join('.')}.metadata must be an object whose labels and annotations are maps of strings`;
    if (templateIssue) return { ok: false, reason: templateIssue };
  }
  return { ok: true, value: object as PodTemplateCarrier };
}

/** A Deployment/StatefulSet/DaemonSet/Job whose template has a containers list, or why not. */
export function recogniseWorkload(object: unknown): Recognised<Workload> {
  if (isRecord(object) && !isWorkloadKind(object.kind)) return { ok: false, reason: `kind ${quote(object.kind)} is not a workload meshinit injects` };
  const recognised = recognisePodTemplateCarrier(object);
  return recognised.ok ? { ok: true, value: recognised.value as Workload } : recognised;
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

export function workloadCandidate(workload: PodTemplateCarrier): InjectionCandidate {
  // Defensive: callers should recognise first, but a missing template must reach injection (and
  // become an InjectionError there), not throw a TypeError here.
  const template = podTemplateOf(workload);
  const owner = controllerOwner(workload);
  return {
    kind: workload.kind,
    name: workload.metadata.name ?? workload.metadata.generateName ?? '',
    namespace: workload.metadata.namespace ?? '',
    labels: stringMap(workload.metadata.labels),
    annotations: stringMap(workload.metadata.annotations),
    podAnnotations: stringMap(template?.metadata?.annotations),
    podLabels: stringMap(template?.metadata?.labels),
    podSpec: template?.spec,
    ...(owner && isPodTemplateKind(owner.kind) ? { templateOwner: { kind: owner.kind, name: owner.name } } : {}),
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
    podLabels: stringMap(pod.metadata.labels),
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
    podLabels: stringMap(pod.metadata.labels),
    podSpec: pod.spec,
  };
}

const POD_TEMPLATE_HASH = 'pod-template-hash';

/**
 * The workload a Pod belongs to, from its controlling owner: a ReplicaSet made by a Deployment is
 * named `<deployment>-<pod-template-hash>`, so the Deployment's name is recovered from it without
 * an API read. Bare Pods and Pods of other controllers get a reason instead.
 */
export function podOwnerIdentity(pod: Pod, namespace: string): Recognised<WorkloadIdentity & { kind: WorkloadKind }> {
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
