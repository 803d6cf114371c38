// Structural types for the parts of Kubernetes objects the core reads or writes. Every object type
// keeps an index signature: fields the core does not know about are carried through untouched, so
// nothing a user wrote is lost on a round trip.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * The kinds the Initializer mode holds (its InitializerConfiguration lists exactly these) and whose
 * objects the webhook caches to judge a Pod as its workload. Widening it would make the Initializer
 * watch kinds the API server never holds for it.
 */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/**
 * Every kind that carries a pod template, as `istioctl kube-inject` injects them: what offline
 * `meshinit inject` and the webhook's `--target workloads` inject, and what a MeshConfig's `kinds`
 * may name. A CronJob's template is under spec.jobTemplate.spec.template, a bare Pod is its own
 * template, every other kind's is spec.template.
 */
export const POD_TEMPLATE_KINDS = [...WORKLOAD_KINDS, 'CronJob', 'ReplicaSet', 'ReplicationController', 'DeploymentConfig', 'Pod'] as const;
export type PodTemplateKind = (typeof POD_TEMPLATE_KINDS)[number];

export interface PendingInitializer {
  name: string;
  [key: string]: unknown;
}

export interface Status {
  apiVersion?: string;
  kind?: string;
  status?: 'Success' | 'Failure' | string;
  message?: string;
  reason?: string;
  code?: number;
  [key: string]: unknown;
}

export interface Initializers {
  pending?: PendingInitializer[];
  result?: Status;
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  [key: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  initializers?: Initializers;
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  [key: string]: unknown;
}

export interface Volume {
  name: string;
  [key: string]: unknown;
}

export interface LocalObjectReference {
  name: string;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  imagePullSecrets?: LocalObjectReference[];
  hostNetwork?: boolean;
  [key: string]: unknown;
}

export interface PodTemplateSpec {
  metadata?: ObjectMeta;
  spec: PodSpec;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [key: string]: unknown;
}

/**
 * An object of one of the POD_TEMPLATE_KINDS, recognised (see core/workload.ts): its pod template
 * is where podTemplateOf() finds it, with a containers list.
 */
export interface PodTemplateCarrier extends KubeObject {
  kind: PodTemplateKind;
  metadata: ObjectMeta;
  spec: Record<string, unknown>;
}

/** A Deployment, StatefulSet, DaemonSet or Job: everything the core touches is under spec.template. */
export interface Workload extends KubeObject {
  kind: WorkloadKind;
  metadata: ObjectMeta;
  spec: { template: PodTemplateSpec; [key: string]: unknown };
}

/** What a Pod's decision needs of its workload: who it is, its labels and annotations. */
export interface WorkloadMetadata {
  kind: WorkloadKind;
  metadata: ObjectMeta;
}

export interface Pod extends KubeObject {
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: PodSpec;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type InjectionPolicy = 'Enabled' | 'Disabled';
export type FailurePolicy = 'Ignore' | 'Fail';

/** OnCreate: a workload is injected once, when it is created. Rollout: also re-injected when the MeshConfig changes. */
export const UPDATE_POLICIES = ['OnCreate', 'Rollout'] as const;
export type UpdatePolicy = (typeof UPDATE_POLICIES)[number];

/** How a changed MeshConfig with updatePolicy Rollout reaches the workloads it already injected. */
export interface RolloutSpec {
  /** Workload rollouts started at most per sliding minute. */
  maxPerMinute: number;
  /** No new rollout starts while paused; those under way finish. */
  paused: boolean;
  /** A workload whose own rollout has not finished by then is reported (Warning Event) and let go. */
  timeoutSeconds: number;
}
/**
 * spec.sidecar.nativeSidecar: whether the sidecar's containers are injected as native sidecars
 * (init containers with restartPolicy Always, Kubernetes 1.29+), so that a Job's Pod completes.
 */
export const NATIVE_SIDECAR_MODES = ['Auto', 'Always', 'Never'] as const;
export type NativeSidecarMode = (typeof NATIVE_SIDECAR_MODES)[number];

export interface SidecarSpec {
  /** Only when the MeshConfig sets it (absent means Never): the rendered sidecar never carries it. */
  nativeSidecar?: NativeSidecarMode;
  initContainers: Container[];
  containers: Container[];
  volumes: Volume[];
  imagePullSecrets: LocalObjectReference[];
  podAnnotations: Record<string, string>;
  podLabels: Record<string, string>;
}

/** A MeshConfig spec with every default applied and every rule beyond the CRD schema checked. */
export interface MeshConfigSpec {
  policy: InjectionPolicy;
  namespaceSelector: LabelSelector;
  selector: LabelSelector;
  kinds: PodTemplateKind[];
  failurePolicy: FailurePolicy;
  priority: number;
  sidecar: SidecarSpec;
  /** Container names (init or not) that mean another mesh's sidecar: a pod with one is skipped. */
  conflictingContainers: string[];
  updatePolicy: UpdatePolicy;
  rollout: RolloutSpec;
}

export interface ServerVersion {
  major: number;
  minor: number;
  /** As the server gave it (v1.36.3, v1.29.4-eks-1a2b3c), or as the user typed it. */
  gitVersion: string;
}

/** The API server meshinit injects for: its version, or why it is not known (offline). */
export type KubeServer = { known: true; version: ServerVersion } | { known: false; why: string };

/**
 * How a MeshConfig's sidecar is put into pod specs on the server meshinit works for (see
 * core/native-sidecar.ts): resolved once per MeshConfig version, and the one source of what is
 * injected, hashed, counted and explained.
 */
export interface SidecarLayout {
  /** spec.sidecar.nativeSidecar as asked (Never when absent). */
  requested: NativeSidecarMode;
  /** native: the sidecar's containers become init containers with restartPolicy Always. */
  effective: 'native' | 'containers';
  /** The sidecar as injected: spec.sidecar in the effective layout, without nativeSidecar. */
  sidecar: SidecarSpec;
  /** The server the layout was resolved for: its gitVersion, or why it is not known. */
  server: string;
  /** Why the layout is not simply what was asked (Auto fell back; Always on an unknown server). */
  note?: string;
  /** Always on a server without native sidecars: nothing is injected, with this reason. */
  refusal?: string;
}

export interface MeshConfig {
  name: string;
  /** metadata.generation; 0 on servers that do not keep it for custom resources (1.9). */
  generation: number;
  resourceVersion?: string;
  spec: MeshConfigSpec;
  layout: SidecarLayout;
}

/** What the policy needs to know about a namespace (from the Namespace informer cache). */
export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}
