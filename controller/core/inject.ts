// Puts a rendered sidecar into a pod spec. Everything is upserted by name against the status
// record, so injecting twice changes nothing, an upgrade replaces exactly what an earlier run
// added, and anything the user wrote under a name we want is an error rather than overwritten.
import isEqual from 'lodash/isEqual.js';
import { STATUS_ANNOTATION } from './constants.ts';
import { InjectionError } from './errors.ts';
import { placeholderValues, renderSidecar, type WorkloadIdentity } from './render.ts';
import { canonicalJson, formatInjectionStatus, hashString, readInjectionStatus, type InjectionStatus } from './status-record.ts';
import type { MeshConfig, ObjectMeta, Pod, PodSpec, Workload } from './types.ts';

export interface InjectionResult<T> {
  /** A new object; the input is never modified (it may be a frozen informer-cache object). */
  object: T;
  /** False when the object already carried this exact injection. */
  changed: boolean;
  status: InjectionStatus;
}

interface Named {
  name: string;
}

interface UpsertRequest<T extends Named> {
  existing: unknown;
  desired: T[];
  recorded: readonly string[];
  field: string;
  where: string;
  placement: 'append' | 'prepend';
  /** Pull secrets are merged: one the user already lists is theirs, not a clash. */
  userCopyWins: boolean;
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function nameOf(item: unknown): string | undefined {
  return typeof item === 'object' && item !== null && typeof (item as Named).name === 'string' ? (item as Named).name : undefined;
}

function upsertNamed<T extends Named>(request: UpsertRequest<T>): { items: unknown[]; owned: string[] } {
  const { existing, desired, field, where } = request;
  if (existing !== undefined && existing !== null && !Array.isArray(existing)) {
    throw new InjectionError(`${where}: ${field} must be a list`);
  }
  const recorded = new Set(request.recorded);
  const desiredNames = new Set(desired.map((item) => item.name));
  // Items an earlier injection added that the current MeshConfig no longer has are removed.
  const items = ((existing as unknown[] | undefined) ?? []).filter((item) => {
    const name = nameOf(item);
    return name === undefined || !recorded.has(name) || desiredNames.has(name);
  });
  const owned: string[] = [];
  let prependAt = 0;
  for (const item of desired) {
    const index = items.findIndex((candidate) => nameOf(candidate) === item.name);
    if (index >= 0 && recorded.has(item.name)) {
      items[index] = item;
      owned.push(item.name);
      prependAt = index + 1;
    } else if (index >= 0 && request.userCopyWins) {
      continue;
    } else if (index >= 0) {
      throw new InjectionError(
        `${where}: ${field} already has ${JSON.stringify(item.name)}, which meshinit did not inject; rename it, or opt the workload out with annotation sidecar.meshinit.dev/inject: "false"`,
      );
    } else if (request.placement === 'prepend') {
      items.splice(prependAt, 0, item);
      prependAt += 1;
      owned.push(item.name);
    } else {
      items.push(item);
      owned.push(item.name);
    }
  }
  return { items, owned };
}

function upsertMap(existing: unknown, desired: Record<string, string>, recordedKeys: readonly string[], field: string, where: string) {
  if (existing !== undefined && existing !== null && (typeof existing !== 'object' || Array.isArray(existing))) {
    throw new InjectionError(`${where}: ${field} must be a map of strings`);
  }
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries((existing as Record<string, unknown> | undefined) ?? {})) setOwn(result, key, value);
  const recorded = new Set(recordedKeys);
  for (const key of recorded) if (!Object.hasOwn(desired, key)) delete result[key];
  const owned: string[] = [];
  for (const [key, value] of Object.entries(desired)) {
    // Added where absent: a value the user set themselves is left alone and not recorded as ours.
    if (Object.hasOwn(result, key) && !recorded.has(key)) continue;
    setOwn(result, key, value);
    owned.push(key);
  }
  return { map: result as Record<string, string>, owned };
}

interface PodParts {
  metadata: ObjectMeta | undefined;
  spec: PodSpec;
}

function injectPodParts(parts: PodParts, meshConfig: MeshConfig, identity: WorkloadIdentity, where: string) {
  if (typeof parts.spec !== 'object' || parts.spec === null || !Array.isArray(parts.spec.containers)) {
    throw new InjectionError(`${where}: the pod spec has no containers list`);
  }
  const sidecar = renderSidecar(meshConfig.spec.sidecar, placeholderValues(identity, meshConfig.name));
  const hash = hashString(canonicalJson(sidecar));
  const previous = readInjectionStatus(parts.metadata?.annotations, where);
  const recorded = (field: keyof InjectionStatus): string[] => (previous ? (previous[field] as string[]) : []);
  const spec: PodSpec = { ...parts.spec };
  const common = { where, userCopyWins: false };

  const initContainers = upsertNamed({ ...common, existing: spec.initContainers, desired: sidecar.initContainers, recorded: recorded('initContainers'), field: 'initContainers', placement: 'prepend' });
  const containers = upsertNamed({ ...common, existing: spec.containers, desired: sidecar.containers, recorded: recorded('containers'), field: 'containers', placement: 'append' });
  const volumes = upsertNamed({ ...common, existing: spec.volumes, desired: sidecar.volumes, recorded: recorded('volumes'), field: 'volumes', placement: 'append' });
  const pullSecrets = upsertNamed({ ...common, userCopyWins: true, existing: spec.imagePullSecrets, desired: sidecar.imagePullSecrets, recorded: recorded('imagePullSecrets'), field: 'imagePullSecrets', placement: 'append' });
  spec.containers = containers.items as PodSpec['containers'];
  // Only write optional lists that end up non-empty or were there before: no `volumes: []` noise.
  if (initContainers.items.length > 0 || spec.initContainers !== undefined) spec.initContainers = initContainers.items as PodSpec['containers'];
  if (volumes.items.length > 0 || spec.volumes !== undefined) spec.volumes = volumes.items as PodSpec['volumes'];
  if (pullSecrets.items.length > 0 || spec.imagePullSecrets !== undefined) spec.imagePullSecrets = pullSecrets.items as PodSpec['imagePullSecrets'];

  const metadata: ObjectMeta = { ...(parts.metadata ?? {}) };
  const annotations = upsertMap(metadata.annotations, sidecar.podAnnotations, recorded('podAnnotations'), 'metadata.annotations', where);
  const labels = upsertMap(metadata.labels, sidecar.podLabels, recorded('podLabels'), 'metadata.labels', where);
  const unchangedSidecar = previous !== undefined && previous.hash === hash && previous.meshConfig === meshConfig.name;
  const status: InjectionStatus = {
    meshConfig: meshConfig.name,
    // Keep the recorded generation when the sidecar is identical, so a MeshConfig edit that does
    // not change the sidecar (say, its priority) rewrites no workload.
    generation: unchangedSidecar ? previous.generation : meshConfig.generation,
    hash,
    initContainers: initContainers.owned,
    containers: containers.owned,
    volumes: volumes.owned,
    imagePullSecrets: pullSecrets.owned,
    podAnnotations: annotations.owned,
    podLabels: labels.owned,
  };
  setOwn(annotations.map, STATUS_ANNOTATION, formatInjectionStatus(status));
  metadata.annotations = annotations.map;
  if (Object.keys(labels.map).length > 0 || metadata.labels !== undefined) metadata.labels = labels.map;
  return { metadata, spec, status };
}

function describe(kind: string, metadata: ObjectMeta | undefined): string {
  return `${kind} ${metadata?.namespace ?? ''}/${metadata?.name ?? metadata?.generateName ?? '(unnamed)'}`;
}

/** Injects into spec.template of a Deployment, StatefulSet, DaemonSet or Job. */
export function injectWorkload(workload: Workload, meshConfig: MeshConfig): InjectionResult<Workload> {
  const where = describe(workload.kind, workload.metadata);
  const template = workload.spec?.template;
  if (typeof template !== 'object' || template === null) throw new InjectionError(`${where}: spec.template is missing`);
  const identity: WorkloadIdentity = { kind: workload.kind, name: workload.metadata.name ?? '', namespace: workload.metadata.namespace ?? '' };
  const injected = injectPodParts({ metadata: template.metadata, spec: template.spec }, meshConfig, identity, where);
  const annotations: Record<string, string> = { ...(workload.metadata.annotations ?? {}) };
  setOwn(annotations, STATUS_ANNOTATION, formatInjectionStatus(injected.status));
  const object: Workload = {
    ...workload,
    metadata: { ...workload.metadata, annotations },
    spec: { ...workload.spec, template: { ...template, metadata: injected.metadata, spec: injected.spec } },
  };
  return { object, changed: !isEqual(object, workload), status: injected.status };
}

/**
 * Injects into a Pod's own spec. `identity` names the workload the Pod belongs to (for a Job's
 * Pod, the Job), so placeholders render the same as they would in the Job's template.
 */
export function injectPod(pod: Pod, meshConfig: MeshConfig, identity: WorkloadIdentity): InjectionResult<Pod> {
  const where = describe('Pod', pod.metadata);
  const injected = injectPodParts({ metadata: pod.metadata, spec: pod.spec }, meshConfig, identity, where);
  const object: Pod = { ...pod, metadata: injected.metadata, spec: injected.spec };
  return { object, changed: !isEqual(object, pod), status: injected.status };
}
