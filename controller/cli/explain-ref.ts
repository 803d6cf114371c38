// KIND/NAME as kubectl takes it: `deploy/web`, `deployment.apps/web`, `deployments.v1.apps/web`,
// or `deployment web`. The kinds meshinit injects (POD_TEMPLATE_KINDS); a Pod with a controller is
// explained as its workload.
import type { PodTemplateKind } from '../core/types.ts';

export type ExplainableKind = PodTemplateKind;

export interface ResourceRef {
  kind: ExplainableKind;
  name: string;
}

const KINDS: ReadonlyArray<{ kind: ExplainableKind; group: string; names: readonly string[] }> = [
  { kind: 'Deployment', group: 'apps', names: ['deployment', 'deployments', 'deploy'] },
  { kind: 'StatefulSet', group: 'apps', names: ['statefulset', 'statefulsets', 'sts'] },
  { kind: 'DaemonSet', group: 'apps', names: ['daemonset', 'daemonsets', 'ds'] },
  { kind: 'Job', group: 'batch', names: ['job', 'jobs'] },
  { kind: 'CronJob', group: 'batch', names: ['cronjob', 'cronjobs', 'cj'] },
  { kind: 'ReplicaSet', group: 'apps', names: ['replicaset', 'replicasets', 'rs'] },
  { kind: 'ReplicationController', group: '', names: ['replicationcontroller', 'replicationcontrollers', 'rc'] },
  { kind: 'DeploymentConfig', group: 'apps.openshift.io', names: ['deploymentconfig', 'deploymentconfigs', 'dc'] },
  { kind: 'Pod', group: '', names: ['pod', 'pods', 'po'] },
];

const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The reference, or a usage message. */
export function parseResourceRef(positionals: readonly string[]): ResourceRef | string {
  const [first, second, ...rest] = positionals;
  if (first === undefined || rest.length > 0) return `expected KIND/NAME or KIND NAME, got ${JSON.stringify(positionals.join(' '))}`;
  const slash = first.indexOf('/');
  if (slash >= 0 && second !== undefined) return `expected KIND/NAME or KIND NAME, got ${JSON.stringify(positionals.join(' '))}`;
  const resource = slash >= 0 ? first.slice(0, slash) : first;
  const name = slash >= 0 ? first.slice(slash + 1) : second;
  if (name === undefined || name === '') return `${JSON.stringify(first)} names no object: use KIND/NAME, e.g. deployment/web`;
  // resource[.version].group, as kubectl writes a fully qualified resource.
  const [plural = '', ...groupParts] = resource.toLowerCase().split('.');
  const group = groupParts.length > 1 && /^v\d/.test(groupParts[0] ?? '') ? groupParts.slice(1).join('.') : groupParts.join('.');
  const known = KINDS.find((entry) => entry.names.includes(plural));
  if (!known) return `kind ${JSON.stringify(resource)} is not one meshinit injects: use deployment, statefulset, daemonset, job, cronjob, replicaset, replicationcontroller, deploymentconfig or pod`;
  if (groupParts.length > 0 && group !== known.group && !(known.group === '' && group === 'core')) {
    return `${JSON.stringify(resource)}: ${known.kind} is in API group ${JSON.stringify(known.group || 'core')}, not ${JSON.stringify(group)}`;
  }
  if (!OBJECT_NAME.test(name) || name.length > 253) return `${JSON.stringify(name)} is not a valid object name`;
  return { kind: known.kind, name };
}
