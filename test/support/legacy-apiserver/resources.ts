// The resources the double serves and how a URL maps onto them, as on a 1.9/1.13 kube-apiserver:
// `/api/v1/...` for the core group, `/apis/GROUP/VERSION/...` otherwise, `namespaces/NS/` before
// the plural for namespaced resources, and an optional subresource after the name.

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** A custom resource (CRD): no strategic merge patch, status through a subresource on 1.13. */
  custom: boolean;
  /** Held by InitializerConfiguration rules (the workload kinds and Pods). */
  initializable: boolean;
  /** Carries metadata.generation (bumped when spec changes). */
  generation: boolean;
}

function type(group: string, version: string, plural: string, kind: string, extra: Partial<ResourceType> = {}): ResourceType {
  return { group, version, plural, kind, namespaced: true, custom: false, initializable: false, generation: false, ...extra };
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  type('apps', 'v1', 'deployments', 'Deployment', { initializable: true, generation: true }),
  type('apps', 'v1', 'statefulsets', 'StatefulSet', { initializable: true, generation: true }),
  type('apps', 'v1', 'daemonsets', 'DaemonSet', { initializable: true, generation: true }),
  type('batch', 'v1', 'jobs', 'Job', { initializable: true }),
  type('', 'v1', 'pods', 'Pod', { initializable: true }),
  type('', 'v1', 'namespaces', 'Namespace', { namespaced: false }),
  type('', 'v1', 'events', 'Event'),
  type('meshinit.dev', 'v1alpha1', 'meshconfigs', 'MeshConfig', { namespaced: false, custom: true, generation: true }),
];

export function apiVersionOf(t: ResourceType): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

/** `deployments.apps`, or `pods` in the core group: how messages name a resource. */
export function qualifiedResource(t: ResourceType): string {
  return t.group ? `${t.plural}.${t.group}` : t.plural;
}

/** `Deployment.apps`, or `Pod`: how validation messages name a kind. */
export function qualifiedKind(t: ResourceType): string {
  return t.group ? `${t.kind}.${t.group}` : t.kind;
}

export function collectionPath(t: ResourceType, namespace?: string): string {
  const base = t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`;
  return namespace && t.namespaced ? `${base}/namespaces/${namespace}/${t.plural}` : `${base}/${t.plural}`;
}

export function selfLink(t: ResourceType, namespace: string | undefined, name: string): string {
  return `${collectionPath(t, namespace)}/${name}`;
}

export interface Route {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

const PATH = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/;

/** The resource a path addresses, or undefined (the server answers 404 page not found). */
export function parsePath(pathname: string): Route | undefined {
  const match = PATH.exec(pathname);
  if (!match) return undefined;
  const [, coreVersion, group, groupVersion, namespace, plural, name, subresource] = match;
  const version = coreVersion ?? groupVersion;
  const t = RESOURCE_TYPES.find((candidate) => candidate.group === (group ?? '') && candidate.version === version && candidate.plural === plural);
  if (!t) return undefined;
  if (namespace !== undefined && !t.namespaced) return undefined;
  // A namespaced object is only addressed inside its namespace.
  if (name !== undefined && t.namespaced && namespace === undefined) return undefined;
  return { type: t, namespace: namespace === undefined ? undefined : decodeURIComponent(namespace), name: name === undefined ? undefined : decodeURIComponent(name), subresource };
}
