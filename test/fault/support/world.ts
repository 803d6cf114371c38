// The cluster the fault suite plays: namespaces, three MeshConfigs (one of which changes mid-burst),
// two other initializers around ours, and a seeded burst of workloads covering every policy rule.
// Nothing here imports meshinit: the expectations are computed from the README's rules on their
// own, so a bug in meshinit's policy cannot make its own test pass.
import { Random, type Obj } from '../../support/legacy-apiserver/index.ts';

export const OURS = 'sidecar.initializer.meshinit.dev';
/** Acts before us: our turn comes only when it removes itself (an update, not an add). */
export const POLICY = 'policy.initializer.example.com';
/** Acts after us: it must find its entry where it was. */
export const AUDIT = 'audit.initializer.example.com';
export const MESHINIT = { token: 'meshinit-fault-suite-token', userAgent: 'meshinit/fault-suite' };
export const ADMIN = { token: 'admin-token', userAgent: 'kubectl/v1.13.0' };
export const CREATOR = { token: 'creator-token', userAgent: 'burst-creator/1.0' };
export const CONTROLLER_NAMESPACE = 'meshinit-system';
export const STATUS_ANNOTATION = 'sidecar.meshinit.dev/status';
export const INJECT_ANNOTATION = 'sidecar.meshinit.dev/inject';

export type Kind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'Job';
export const KINDS: Record<Kind, { group: string; plural: string }> = {
  Deployment: { group: 'apps', plural: 'deployments' },
  StatefulSet: { group: 'apps', plural: 'statefulsets' },
  DaemonSet: { group: 'apps', plural: 'daemonsets' },
  Job: { group: 'batch', plural: 'jobs' },
};
export const WORKLOAD_PLURALS = Object.values(KINDS).map((k) => k.plural);

export const NAMESPACES: ReadonlyArray<{ name: string; labels: Record<string, string>; weight: number }> = [
  { name: 'team-a', labels: { mesh: 'enabled' }, weight: 35 },
  { name: 'team-b', labels: {}, weight: 30 },
  { name: 'optin', labels: { mesh: 'opt-in' }, weight: 12 },
  { name: 'quiet', labels: { 'meshinit.dev/injection': 'disabled' }, weight: 10 },
  { name: 'kube-system', labels: {}, weight: 6 },
  { name: CONTROLLER_NAMESPACE, labels: {}, weight: 7 },
];

/** The versions of MeshConfig `default`: v2 replaces v1 mid-burst, then an invalid v3 is pushed. */
export type DefaultVersion = 'v1' | 'v2' | 'v3';

export interface SidecarShape {
  initContainers: Array<{ name: string; image: string }>;
  containers: Array<{ name: string; image: string }>;
  volumes: string[];
}

/** What each MeshConfig version injects; a workload must carry exactly one of these, whole. */
export const SIDECARS: Record<string, SidecarShape> = {
  'default/v1': { initContainers: [{ name: 'mesh-init', image: 'mesh/init:v1' }], containers: [{ name: 'mesh-proxy', image: 'mesh/proxy:v1' }], volumes: ['mesh-certs'] },
  'default/v2': { initContainers: [{ name: 'mesh-init', image: 'mesh/init:v2' }], containers: [{ name: 'mesh-proxy', image: 'mesh/proxy:v2' }, { name: 'mesh-agent', image: 'mesh/agent:v2' }], volumes: ['mesh-certs', 'mesh-cache'] },
  // Invalid beyond the schema: a container name used twice. meshinit must never use it.
  'default/v3': { initContainers: [{ name: 'mesh-init', image: 'mesh/init:v3' }], containers: [{ name: 'mesh-proxy', image: 'mesh/proxy:v3' }, { name: 'mesh-proxy', image: 'mesh/proxy:v3b' }], volumes: ['mesh-certs'] },
  'strict/v1': { initContainers: [{ name: 'mesh-init', image: 'mesh/init:strict' }], containers: [{ name: 'mesh-proxy', image: 'mesh/proxy:strict' }], volumes: ['mesh-certs'] },
  'optin/v1': { initContainers: [{ name: 'mesh-init', image: 'mesh/init:optin' }], containers: [{ name: 'mesh-proxy', image: 'mesh/proxy:optin' }], volumes: ['mesh-certs'] },
};

function sidecarSpec(shape: SidecarShape, version: string): Record<string, unknown> {
  return {
    initContainers: shape.initContainers.map((c) => ({ ...c, args: ['--redirect', '15001'] })),
    containers: shape.containers.map((c) => ({ ...c, args: ['--cluster', '{{workload.name}}', '--kind', '{{workload.kind}}'] })),
    volumes: shape.volumes.map((name) => ({ name, emptyDir: {} })),
    podAnnotations: { 'mesh.example.com/version': version },
  };
}

export function meshConfigDefault(version: DefaultVersion): Obj {
  return { apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default' }, spec: { policy: 'Enabled', failurePolicy: 'Ignore', sidecar: sidecarSpec(SIDECARS[`default/${version}`]!, version) } };
}

export const MESHCONFIG_STRICT: Obj = {
  apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'strict' },
  spec: { priority: 10, selector: { matchLabels: { tier: 'strict' } }, kinds: ['Deployment', 'StatefulSet', 'DaemonSet'], failurePolicy: 'Fail', sidecar: sidecarSpec(SIDECARS['strict/v1']!, 'strict') },
};

export const MESHCONFIG_OPTIN: Obj = {
  apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'optin' },
  spec: { priority: 5, namespaceSelector: { matchLabels: { mesh: 'opt-in' } }, policy: 'Disabled', sidecar: sidecarSpec(SIDECARS['optin/v1']!, 'optin') },
};

export interface WorkloadSpec {
  kind: Kind;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  podAnnotations: Record<string, string>;
  hostNetwork: boolean;
  /** A user item named like the sidecar's: an injection error meshinit must handle per failurePolicy. */
  clash: 'container' | 'initContainer' | undefined;
  /** The pending list at creation; undefined means "what the InitializerConfiguration adds" ([OURS]). */
  explicitPending: string[] | undefined;
  pending: string[];
  userContainers: string[];
  userInitContainers: string[];
  body: Obj;
}

export function workloadKey(w: { kind: string; namespace: string; name: string }): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

/** A seeded burst: the same seed gives the same workloads. */
export function generateBurst(seed: number, count: number): WorkloadSpec[] {
  const random = new Random(seed);
  const kinds = Object.keys(KINDS) as Kind[];
  const specs: WorkloadSpec[] = [];
  for (let i = 0; i < count; i++) {
    const kind = kinds[i % kinds.length]!;
    const name = `${kind.toLowerCase()}-${String(i).padStart(4, '0')}`;
    // Every 200th workload is a Deployment that clashes under the Fail MeshConfig, so every seed
    // has a few that must end deleted; the rest is drawn at random.
    const mustFail = i % 200 === 8;
    const namespace = mustFail ? 'team-a' : random.weighted(NAMESPACES.map((ns) => [ns.name, ns.weight] as const));
    const labels: Record<string, string> = { app: name };
    if (random.chance(0.15) || mustFail) labels.tier = 'strict';
    const annotations: Record<string, string> = {};
    const podAnnotations: Record<string, string> = {};
    const roll = mustFail ? 1 : random.float();
    if (roll < 0.05) annotations[INJECT_ANNOTATION] = 'false';
    else if (roll < 0.08) podAnnotations[INJECT_ANNOTATION] = 'false';
    else if (roll < (namespace === 'optin' ? 0.6 : 0.12)) annotations[INJECT_ANNOTATION] = 'true';
    const hostNetwork = !mustFail && random.chance(kind === 'DaemonSet' ? 0.12 : 0.02);
    const clashRoll = mustFail ? 0 : random.float();
    const clash = clashRoll < 0.05 ? 'container' : clashRoll < 0.08 ? 'initContainer' : undefined;
    const order = random.weighted<string[] | undefined>([[undefined, 40], [[OURS, AUDIT], 20], [[POLICY, OURS], 20], [[POLICY, OURS, AUDIT], 20]]);
    const userContainers = ['app', ...(clash === 'container' ? ['mesh-proxy'] : [])];
    const userInitContainers = clash === 'initContainer' ? ['mesh-init'] : [];
    const podSpec: Record<string, unknown> = {
      containers: userContainers.map((c) => ({ name: c, image: c === 'app' ? 'nginx:1.13' : 'user/own-proxy:1' })),
      ...(userInitContainers.length ? { initContainers: userInitContainers.map((c) => ({ name: c, image: 'user/own-init:1' })) } : {}),
      ...(hostNetwork ? { hostNetwork: true } : {}),
      ...(kind === 'Job' ? { restartPolicy: 'Never' } : {}),
    };
    const template = { metadata: { labels: { app: name }, ...(Object.keys(podAnnotations).length ? { annotations: podAnnotations } : {}) }, spec: podSpec };
    const spec = kind === 'Job' ? { template } : { selector: { matchLabels: { app: name } }, template, ...(kind === 'StatefulSet' ? { serviceName: name } : {}), ...(kind === 'Deployment' ? { replicas: 2 } : {}) };
    const body: Obj = {
      apiVersion: `${KINDS[kind].group}/v1`,
      kind,
      metadata: { name, labels, ...(Object.keys(annotations).length ? { annotations } : {}), ...(order ? { initializers: { pending: order.map((n) => ({ name: n })) } } : {}) },
      spec,
    };
    specs.push({ kind, name, namespace, labels, annotations, podAnnotations, hostNetwork, clash, explicitPending: order, pending: order ?? [OURS], userContainers, userInitContainers, body });
  }
  return specs;
}
