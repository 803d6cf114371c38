// Another mesh's sidecar in a pod template. Two meshes in one pod both rewrite its iptables to their
// own proxy (Istio and meshinit's sample both to 15001), both declare their stats port (15090), and
// the pod's prometheus.io annotations end up pointing at one proxy: the workload breaks in ways no
// log explains. So meshinit recognises the sidecars and markers of the meshes people run, plus the
// container names a MeshConfig lists, and leaves such a pod to the mesh that is already there.
import { STATUS_ANNOTATION } from './constants.ts';
import { isRecord } from './untrusted.ts';
import type { MeshConfig, PodSpec } from './types.ts';

interface KnownMesh {
  mesh: string;
  /** Containers its injector adds (sidecar, init, CNI validation), by their fixed names. */
  containers: readonly string[];
  /** Annotation keys its injector writes on a pod it injected. */
  injectedAnnotations: readonly string[];
  /**
   * Opt-in markers (annotation or label, key and value): its webhook will inject the Pods when
   * they are created, so meshinit's sidecar would end up beside it.
   */
  optIns: ReadonlyArray<{ key: string; values: readonly string[] }>;
}

/**
 * Names as the meshes' injectors write them (istio pkg/kube/inject, linkerd2 pkg/k8s,
 * consul-k8s connect-inject, kuma runtime/k8s). Checked against their sources, not guessed.
 */
export const KNOWN_MESHES: readonly KnownMesh[] = [
  {
    mesh: 'Istio',
    containers: ['istio-proxy', 'istio-init', 'istio-validation'],
    injectedAnnotations: ['sidecar.istio.io/status'],
    optIns: [{ key: 'sidecar.istio.io/inject', values: ['true'] }],
  },
  {
    mesh: 'Linkerd',
    containers: ['linkerd-proxy', 'linkerd-init', 'linkerd-network-validator'],
    injectedAnnotations: ['linkerd.io/proxy-version'],
    optIns: [{ key: 'linkerd.io/inject', values: ['enabled', 'ingress'] }],
  },
  {
    mesh: 'Consul',
    containers: ['consul-dataplane', 'envoy-sidecar', 'consul-connect-envoy-sidecar', 'consul-connect-inject-init'],
    injectedAnnotations: ['consul.hashicorp.com/connect-inject-status'],
    optIns: [{ key: 'consul.hashicorp.com/connect-inject', values: ['true'] }],
  },
  {
    mesh: 'Kuma',
    containers: ['kuma-sidecar', 'kuma-init', 'kuma-validation'],
    injectedAnnotations: ['kuma.io/sidecar-injected'],
    optIns: [{ key: 'kuma.io/sidecar-injection', values: ['enabled'] }],
  },
];

/** Which mesh was found, and by what: each item reads as "container istio-proxy". */
export interface OtherMesh {
  /** `Istio`, `Linkerd`, ..., or `spec.conflictingContainers of MeshConfig NAME`. */
  mesh: string;
  evidence: string[];
  /**
   * The pod also carries meshinit's own injection, from before the other mesh came (a webhook
   * reinvoked after another mesh's, or a manifest injected by both): left as it is, and said so.
   */
  besideOwn?: true;
}

/** What detection looks at: the pod spec and the metadata of the workload and of its pod template. */
export interface PodTemplateView {
  podSpec: PodSpec | undefined;
  /** Workload and pod-template annotations (a Pod: its own). */
  annotations: ReadonlyArray<Record<string, string>>;
  /** Pod-template labels (a Pod: its own). */
  labels: Record<string, string>;
}

function containerNames(podSpec: PodSpec | undefined): Array<{ name: string; init: boolean }> {
  const names: Array<{ name: string; init: boolean }> = [];
  const collect = (list: unknown, init: boolean): void => {
    for (const item of Array.isArray(list) ? list : []) if (isRecord(item) && typeof item.name === 'string') names.push({ name: item.name, init });
  };
  collect(podSpec?.initContainers, true);
  collect(podSpec?.containers, false);
  return names;
}

/**
 * Container names and annotation/label keys meshinit itself puts (or put) into this pod: they are
 * never another mesh's, even when a MeshConfig names its proxy `istio-proxy`. Read leniently: a corrupt record is injection's to
 * report, not a reason to see a second mesh.
 */
function hasOwnRecord(view: PodTemplateView): boolean {
  return view.annotations.some((annotations) => Object.hasOwn(annotations, STATUS_ANNOTATION));
}

function ownNames(view: PodTemplateView, meshConfig: MeshConfig): Set<string> {
  const { sidecar } = meshConfig.spec;
  const own = new Set([...sidecar.initContainers.map((c) => c.name), ...sidecar.containers.map((c) => c.name), ...Object.keys(sidecar.podAnnotations), ...Object.keys(sidecar.podLabels)]);
  for (const annotations of view.annotations) {
    if (!Object.hasOwn(annotations, STATUS_ANNOTATION)) continue;
    try {
      const record: unknown = JSON.parse(annotations[STATUS_ANNOTATION] ?? '');
      if (!isRecord(record)) continue;
      for (const field of ['initContainers', 'containers', 'podAnnotations', 'podLabels'] as const) {
        const list = record[field];
        if (Array.isArray(list)) for (const name of list) if (typeof name === 'string') own.add(name);
      }
    } catch {
      // Not JSON: nothing recorded that detection could trust.
    }
  }
  return own;
}

function annotationValue(view: PodTemplateView, key: string): string | undefined {
  for (const annotations of view.annotations) if (Object.hasOwn(annotations, key)) return annotations[key];
  return undefined;
}

/** The first other mesh found in the pod template (known meshes first, then the MeshConfig's list), or undefined. */
export function detectOtherMesh(view: PodTemplateView, meshConfig: MeshConfig): OtherMesh | undefined {
  const own = ownNames(view, meshConfig);
  const containers = containerNames(view.podSpec).filter((c) => !own.has(c.name));
  const besideOwn = hasOwnRecord(view) ? { besideOwn: true as const } : {};
  const describe = (c: { name: string; init: boolean }): string => `${c.init ? 'init container' : 'container'} ${c.name}`;
  for (const known of KNOWN_MESHES) {
    const evidence = containers.filter((c) => known.containers.includes(c.name)).map(describe);
    for (const key of known.injectedAnnotations) if (!own.has(key) && annotationValue(view, key) !== undefined) evidence.push(`annotation ${key}`);
    for (const optIn of known.optIns.filter((marker) => !own.has(marker.key))) {
      const annotated = annotationValue(view, optIn.key);
      if (annotated !== undefined && optIn.values.includes(annotated)) evidence.push(`annotation ${optIn.key}: "${annotated}"`);
      const labelled = Object.hasOwn(view.labels, optIn.key) ? view.labels[optIn.key] : undefined;
      if (labelled !== undefined && optIn.values.includes(labelled)) evidence.push(`label ${optIn.key}=${labelled}`);
    }
    if (evidence.length > 0) return { mesh: known.mesh, evidence, ...besideOwn };
  }
  const listed = containers.filter((c) => meshConfig.spec.conflictingContainers.includes(c.name)).map(describe);
  if (listed.length > 0) return { mesh: `spec.conflictingContainers of MeshConfig ${meshConfig.name}`, evidence: listed, ...besideOwn };
  return undefined;
}
