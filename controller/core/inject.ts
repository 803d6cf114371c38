// Puts a rendered sidecar into a pod spec. Everything is upserted by name against the status
// record, so injecting twice changes nothing, an upgrade replaces exactly what an earlier run
// added, and anything the user wrote under a name we want is an error rather than overwritten.
import { deepEqual } from './equal.ts';
import { STATUS_ANNOTATION } from './constants.ts';
import { InjectionError } from './errors.ts';
import type { WorkloadIdentity } from './render.ts';
import { renderSidecarFor, type SidecarMemo } from './sidecar-memo.ts';
import { formatInjectionStatus, readInjectionStatus, type InjectionStatus } from './status-record.ts';
import type { MeshConfig, ObjectMeta, Pod, PodSpec, PodTemplateCarrier } from './types.ts';
import { podTemplateField, podTemplateOf, withPodTemplate } from './workload.ts';

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

function clash(where: string, field: string, name: string): InjectionError {
  return new InjectionError(
    `${where}: ${field} already has ${JSON.stringify(name)}, which meshinit did not inject; rename it, or opt the workload out with annotation sidecar.meshinit.dev/inject: "false"`,
  );
}

/**
 * Replaces the recorded items with the desired ones, as one block in MeshConfig order, where the
 * first recorded item stood (a fresh injection: first for init containers, last otherwise). The
 * user's items keep their relative order, and a re-injection lands exactly where the last one did.
 */
function upsertNamed<T extends Named>(request: UpsertRequest<T>): { items: unknown[] | undefined; owned: string[] } {
  const { existing, desired, field, where } = request;
  if (existing !== undefined && existing !== null && !Array.isArray(existing)) {
    throw new InjectionError(`${where}: ${field} must be a list`);
  }
  const recorded = new Set(request.recorded);
  const current = (existing as unknown[] | undefined) ?? [];
  const isOurs = (item: unknown): boolean => {
    const name = nameOf(item);
    return name !== undefined && recorded.has(name);
  };
  const firstOurs = current.findIndex(isOurs);
  const kept = current.filter((item) => !isOurs(item));
  const anchor = firstOurs >= 0 ? current.slice(0, firstOurs).filter((item) => !isOurs(item)).length : request.placement === 'prepend' ? 0 : kept.length;
  const userNames = new Set(kept.map(nameOf).filter((name): name is string => name !== undefined));
  const added: T[] = [];
  for (const item of desired) {
    if (!userNames.has(item.name)) added.push(item);
    else if (!request.userCopyWins) throw clash(where, field, item.name);
  }
  const items = [...kept.slice(0, anchor), ...added, ...kept.slice(anchor)];
  // A list that held only our items and ends up empty goes away, as if we had never been there.
  const omit = items.length === 0 && (existing === undefined || current.length > 0);
  return { items: omit ? undefined : items, owned: added.map((item) => item.name) };
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

function injectPodParts(parts: PodParts, meshConfig: MeshConfig, identity: WorkloadIdentity, where: string, sidecars: SidecarMemo | undefined) {
  if (typeof parts.spec !== 'object' || parts.spec === null || !Array.isArray(parts.spec.containers)) {
    throw new InjectionError(`${where}: the pod spec has no containers list`);
  }
  // Before anything is rendered: the layout asked for would be mangled by this server (an old
  // one drops an init container's restartPolicy and the Pod never leaves Init).
  if (meshConfig.layout.refusal !== undefined) throw new InjectionError(`${where}: MeshConfig ${meshConfig.name} asks for ${meshConfig.layout.refusal}`, 'native_sidecar_unsupported');
  const { sidecar, hash } = sidecars ? sidecars.get(meshConfig, identity) : renderSidecarFor(meshConfig, identity);
  const previous = readInjectionStatus(parts.metadata?.annotations, where);
  const recorded = (field: keyof InjectionStatus): string[] => (previous ? (previous[field] as string[]) : []);
  const spec: PodSpec = { ...parts.spec };
  const common = { where, userCopyWins: false };
  const sidecarInit = new Set(sidecar.initContainers.map((c) => c.name));
  const sidecarMain = new Set(sidecar.containers.map((c) => c.name));
  // Container names are unique across both lists in a pod: a user container may not take the name
  // of a sidecar init container, nor a user init container that of a sidecar container.
  const crossCheck = (list: unknown, names: Set<string>, ownRecord: string[], field: string): void => {
    for (const item of Array.isArray(list) ? list : []) {
      const name = nameOf(item);
      if (name !== undefined && names.has(name) && !ownRecord.includes(name)) throw clash(where, field, name);
    }
  };
  crossCheck(spec.containers, sidecarInit, recorded('containers'), 'containers');
  crossCheck(spec.initContainers, sidecarMain, recorded('initContainers'), 'initContainers');

  const initContainers = upsertNamed({ ...common, existing: spec.initContainers, desired: sidecar.initContainers, recorded: recorded('initContainers'), field: 'initContainers', placement: 'prepend' });
  const containers = upsertNamed({ ...common, existing: spec.containers, desired: sidecar.containers, recorded: recorded('containers'), field: 'containers', placement: 'append' });
  const volumes = upsertNamed({ ...common, existing: spec.volumes, desired: sidecar.volumes, recorded: recorded('volumes'), field: 'volumes', placement: 'append' });
  const pullSecrets = upsertNamed({ ...common, userCopyWins: true, existing: spec.imagePullSecrets, desired: sidecar.imagePullSecrets, recorded: recorded('imagePullSecrets'), field: 'imagePullSecrets', placement: 'append' });
  spec.containers = (containers.items ?? []) as PodSpec['containers'];
  const setList = (key: 'initContainers' | 'volumes' | 'imagePullSecrets', items: unknown[] | undefined): void => {
    if (items === undefined) delete spec[key];
    else (spec as Record<string, unknown>)[key] = items;
  };
  setList('initContainers', initContainers.items);
  setList('volumes', volumes.items);
  setList('imagePullSecrets', pullSecrets.items);

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

const WORKLOAD_NAME_PLACEHOLDER = /\{\{\s*workload\.name\s*\}\}/;

/**
 * Injects into the pod template of any of the POD_TEMPLATE_KINDS (spec.template; a CronJob's
 * spec.jobTemplate.spec.template; a bare Pod's own spec). The status record goes on the pod
 * template and on the object itself, so either tells what was injected.
 */
export function injectWorkload<T extends PodTemplateCarrier>(workload: T, meshConfig: MeshConfig, sidecars?: SidecarMemo): InjectionResult<T> {
  const where = describe(workload.kind, workload.metadata);
  const template = podTemplateOf(workload);
  if (template === undefined) throw new InjectionError(`${where}: ${podTemplateField(workload.kind)} is missing`);
  // At admission a workload created with only generateName has no name yet (the server picks the
  // suffix after the webhooks): rendering the prefix would name every such workload alike.
  if (!workload.metadata.name && WORKLOAD_NAME_PLACEHOLDER.test(JSON.stringify(meshConfig.spec.sidecar))) {
    throw new InjectionError(
      `${where}: has only metadata.generateName ${JSON.stringify(workload.metadata.generateName ?? '')}, so its name is not known yet and ` +
        `{{workload.name}} in MeshConfig ${meshConfig.name} cannot be rendered; give the workload a name, or inject its Pods (--target pods)`,
    );
  }
  const identity: WorkloadIdentity = { kind: workload.kind, name: workload.metadata.name ?? workload.metadata.generateName ?? '', namespace: workload.metadata.namespace ?? '' };
  const injected = injectPodParts({ metadata: template.metadata, spec: template.spec }, meshConfig, identity, where, sidecars);
  const withTemplate = withPodTemplate(workload, { ...template, metadata: injected.metadata, spec: injected.spec });
  // A bare Pod is its own template: its metadata already carries the record.
  const annotations: Record<string, string> = { ...(withTemplate.metadata.annotations ?? {}) };
  setOwn(annotations, STATUS_ANNOTATION, formatInjectionStatus(injected.status));
  const object: T = { ...withTemplate, metadata: { ...withTemplate.metadata, annotations } };
  return { object, changed: !deepEqual(object, workload), status: injected.status };
}

/**
 * Injects into a Pod's own spec. `identity` names the workload the Pod belongs to (for a Job's
 * Pod, the Job), so placeholders render the same as they would in the Job's template.
 */
export function injectPod(pod: Pod, meshConfig: MeshConfig, identity: WorkloadIdentity, sidecars?: SidecarMemo): InjectionResult<Pod> {
  const where = describe('Pod', pod.metadata);
  const injected = injectPodParts({ metadata: pod.metadata, spec: pod.spec }, meshConfig, identity, where, sidecars);
  const object: Pod = { ...pod, metadata: injected.metadata, spec: injected.spec };
  return { object, changed: !deepEqual(object, pod), status: injected.status };
}
