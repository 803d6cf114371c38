// Where each resource meshinit reads or writes lives in the API. The group/version pairs are the
// ones the Initializers-era servers (1.9–1.13) serve and that InitializerConfiguration rules must
// name exactly: a rule matches the request's API version, so a workload created through another
// version (apps/v1beta2) is never held for us.

import type { KubeObject, PodTemplateKind, WorkloadKind } from '../core/types.ts';
import { MESHCONFIG_GROUP, MESHCONFIG_KIND, MESHCONFIG_PLURAL, MESHCONFIG_VERSION } from '../core/constants.ts';

export interface ResourceDescriptor {
  kind: string;
  /** API group; '' is the core group, served under /api instead of /apis. */
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

export const DEPLOYMENT: ResourceDescriptor = { kind: 'Deployment', group: 'apps', version: 'v1', plural: 'deployments', namespaced: true };
export const STATEFULSET: ResourceDescriptor = { kind: 'StatefulSet', group: 'apps', version: 'v1', plural: 'statefulsets', namespaced: true };
export const DAEMONSET: ResourceDescriptor = { kind: 'DaemonSet', group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true };
export const JOB: ResourceDescriptor = { kind: 'Job', group: 'batch', version: 'v1', plural: 'jobs', namespaced: true };
export const POD: ResourceDescriptor = { kind: 'Pod', group: '', version: 'v1', plural: 'pods', namespaced: true };
/**
 * CronJobs are batch/v1 from Kubernetes 1.21; the Initializers-era servers serve them as
 * batch/v1beta1 (1.8+) or batch/v2alpha1 (only when enabled): a reader asks discovery which
 * (servedVersion in discovery.ts), trying CRONJOB_VERSIONS in order.
 */
export const CRONJOB: ResourceDescriptor = { kind: 'CronJob', group: 'batch', version: 'v1', plural: 'cronjobs', namespaced: true };
export const CRONJOB_VERSIONS = ['v1', 'v1beta1', 'v2alpha1'] as const;
export const REPLICASET: ResourceDescriptor = { kind: 'ReplicaSet', group: 'apps', version: 'v1', plural: 'replicasets', namespaced: true };
export const REPLICATIONCONTROLLER: ResourceDescriptor = { kind: 'ReplicationController', group: '', version: 'v1', plural: 'replicationcontrollers', namespaced: true };
/** OpenShift only: elsewhere the group is not served (discovery answers 404). */
export const DEPLOYMENTCONFIG: ResourceDescriptor = { kind: 'DeploymentConfig', group: 'apps.openshift.io', version: 'v1', plural: 'deploymentconfigs', namespaced: true };
export const NAMESPACE: ResourceDescriptor = { kind: 'Namespace', group: '', version: 'v1', plural: 'namespaces', namespaced: false };
export const MESHCONFIG: ResourceDescriptor = {
  kind: MESHCONFIG_KIND,
  group: MESHCONFIG_GROUP,
  version: MESHCONFIG_VERSION,
  plural: MESHCONFIG_PLURAL,
  namespaced: false,
};

const WORKLOADS: Record<WorkloadKind, ResourceDescriptor> = {
  Deployment: DEPLOYMENT,
  StatefulSet: STATEFULSET,
  DaemonSet: DAEMONSET,
  Job: JOB,
};

export function workloadDescriptor(kind: WorkloadKind): ResourceDescriptor {
  return WORKLOADS[kind];
}

const POD_TEMPLATE_CARRIERS: Record<PodTemplateKind, ResourceDescriptor> = {
  ...WORKLOADS,
  CronJob: CRONJOB,
  ReplicaSet: REPLICASET,
  ReplicationController: REPLICATIONCONTROLLER,
  DeploymentConfig: DEPLOYMENTCONFIG,
  Pod: POD,
};

/** Where objects of a pod-template kind live, at the version modern servers serve (a CronJob: see CRONJOB). */
export function podTemplateDescriptor(kind: PodTemplateKind): ResourceDescriptor {
  return POD_TEMPLATE_CARRIERS[kind];
}

/** `apps/v1`, or `v1` for the core group: the value objects of this resource carry in apiVersion. */
export function apiVersionOf(d: ResourceDescriptor): string {
  return d.group === '' ? d.version : `${d.group}/${d.version}`;
}

function groupVersionPath(d: ResourceDescriptor): string {
  return d.group === '' ? `/api/${d.version}` : `/apis/${d.group}/${d.version}`;
}

function segment(value: string, what: string): string {
  // Names come from objects and config; an empty or slash-bearing one would silently address a
  // different URL (a collection instead of an object), so refuse it instead of encoding it.
  if (value === '' || value.includes('/')) throw new Error(`invalid ${what} ${JSON.stringify(value)}`);
  return encodeURIComponent(value);
}

/** The collection URL; without a namespace a namespaced resource is listed across all namespaces. */
export function collectionPath(d: ResourceDescriptor, namespace?: string): string {
  if (namespace !== undefined && d.namespaced) {
    return `${groupVersionPath(d)}/namespaces/${segment(namespace, 'namespace')}/${d.plural}`;
  }
  if (namespace !== undefined) throw new Error(`${d.kind} is cluster-scoped; no namespace expected`);
  return `${groupVersionPath(d)}/${d.plural}`;
}

/** One object's URL. `namespace` is ignored only for cluster-scoped resources, where it must be undefined or ''. */
export function objectPath(d: ResourceDescriptor, namespace: string | undefined, name: string): string {
  if (d.namespaced) {
    if (!namespace) throw new Error(`${d.kind} ${name} is namespaced; a namespace is required`);
    return `${collectionPath(d, namespace)}/${segment(name, 'name')}`;
  }
  if (namespace) throw new Error(`${d.kind} is cluster-scoped; no namespace expected`);
  return `${collectionPath(d)}/${segment(name, 'name')}`;
}

/** The cache/work-queue key, the same shape client-go uses: `namespace/name`, or `name` when cluster-scoped. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error('object has no metadata.name');
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}
