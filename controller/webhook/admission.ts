// AdmissionReview in, AdmissionReview out: no HTTP here. The same core that the initializer uses
// decides and injects; the answer is a JSON Patch from the object as submitted to the injected one.
// admission.k8s.io/v1 is what the shipped configuration asks for; v1beta1 is answered too, in kind,
// because that is all the 1.9-1.15 API servers send.
import { diffJson } from '../core/json-diff.ts';
import type { JsonPatchOperation } from '../core/patch.ts';
import { admissionVerdict } from '../core/outcome.ts';
import { planPodInjection, planWorkloadInjection, type InjectionPlan } from '../core/plan.ts';
import type { PolicyContext } from '../core/policy.ts';
import type { ReasonCode } from '../core/reasons.ts';
import type { SidecarMemo } from '../core/sidecar-memo.ts';
import type { KubeObject, MeshConfig, NamespaceInfo, Pod, PodTemplateCarrier, WorkloadKind, WorkloadMetadata } from '../core/types.ts';
import { isRecord, quote } from '../core/untrusted.ts';
import { controllerOwner, podOwnerIdentity, recognisePod, recognisePodTemplateCarrier } from '../core/workload.ts';

export type WebhookTarget = 'pods' | 'workloads';

export interface AdmissionContext {
  target: WebhookTarget;
  namespace(name: string): NamespaceInfo | undefined;
  meshConfigs(): readonly MeshConfig[];
  /** Why MeshConfigs cannot be read right now (no CRD, no RBAC); undefined when they can. */
  meshConfigsUnavailable?(): string | undefined;
  controllerNamespace: string;
  /** `--namespace`: inject only there; everything else is admitted unchanged. */
  injectNamespaces?: readonly string[];
  /**
   * A Pod's workload from the informer caches (metadata only), so that a Pod is judged as its
   * Deployment, StatefulSet, DaemonSet or Job: their opt-out and labels. Absent or not cached yet:
   * the Pod is judged on its own labels and annotations, and the decision says so.
   */
  workload?(kind: WorkloadKind, namespace: string, name: string): WorkloadMetadata | undefined;
  /** Sidecars already rendered per MeshConfig and workload, reused across requests. */
  sidecars?: SidecarMemo;
}

/** A body that is not an AdmissionReview at all: the HTTP layer answers 400 with this message. */
export class AdmissionRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdmissionRequestError';
  }
}

import type { AdmissionAction } from '../core/outcome.ts';
export type { AdmissionAction };

/**
 * What a decision's Event is about. A Pod is reported on its controller (a ReplicaSet's Pods are
 * nameless at admission, and identical: their Events count up on one object); a workload on
 * itself, without a uid on CREATE (it gets one when stored, after the webhooks).
 */
export interface AdmissionSubject {
  apiVersion?: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface AdmissionDecision {
  action: AdmissionAction;
  reason: string;
  /** The rule that decided (a metric label; see core/reasons.ts). */
  code: ReasonCode;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  dryRun: boolean;
  meshConfig?: string;
  /** For a Pod: the object the decision was made on, e.g. `Deployment/web`, or `Pod (Deployment/web not cached)`. */
  decidedFrom?: string;
  /** Absent when there is nothing to report on (no name yet and no controller, a resource not mutated). */
  subject?: AdmissionSubject;
  /** Skipped because the pod template has another mesh's sidecar: which mesh (logged at warn). */
  otherMesh?: string;
}

export interface AdmissionResponseBody {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; reason: string; message: string };
}

export interface AdmissionReviewResponse {
  apiVersion: string;
  kind: 'AdmissionReview';
  response: AdmissionResponseBody;
}

export interface AdmissionOutcome {
  review: AdmissionReviewResponse;
  decision: AdmissionDecision;
}

const REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'];
/** Every resource whose objects carry a pod template (POD_TEMPLATE_KINDS), by its API group. */
const WORKLOAD_RESOURCES: Record<string, string> = {
  deployments: 'apps', statefulsets: 'apps', daemonsets: 'apps', jobs: 'batch',
  cronjobs: 'batch', replicasets: 'apps', replicationcontrollers: '', deploymentconfigs: 'apps.openshift.io', pods: '',
};


interface ParsedRequest {
  apiVersion: string;
  uid: string;
  resource: string;
  group: string;
  namespace: string;
  operation: string;
  dryRun: boolean;
  object: unknown;
}

function parseReview(body: unknown): ParsedRequest {
  if (!isRecord(body)) throw new AdmissionRequestError('the body is not a JSON object');
  if (typeof body.apiVersion !== 'string' || !REVIEW_VERSIONS.includes(body.apiVersion) || body.kind !== 'AdmissionReview') {
    throw new AdmissionRequestError(`expected kind AdmissionReview of ${REVIEW_VERSIONS.join(' or ')}, got kind ${quote(body.kind)} apiVersion ${quote(body.apiVersion)}`);
  }
  const request = body.request;
  if (!isRecord(request) || typeof request.uid !== 'string' || request.uid === '') throw new AdmissionRequestError('request.uid is missing');
  const resource = isRecord(request.resource) ? request.resource : {};
  return {
    apiVersion: body.apiVersion,
    uid: request.uid,
    resource: typeof resource.resource === 'string' ? resource.resource : '',
    group: typeof resource.group === 'string' ? resource.group : '',
    namespace: typeof request.namespace === 'string' ? request.namespace : '',
    operation: typeof request.operation === 'string' ? request.operation : '',
    dryRun: request.dryRun === true,
    object: request.object,
  };
}

/** The object with its namespace filled in: at admission a Pod's metadata may not carry it yet. */
function withNamespace<T extends KubeObject>(object: T, namespace: string): T {
  return { ...object, metadata: { ...object.metadata, namespace: object.metadata?.namespace ?? namespace } };
}

type Planned = ({ plan: InjectionPlan<KubeObject>; object: KubeObject; decidedFrom?: string } | { skip: string; code: ReasonCode }) & { kind: string; name: string; subject?: AdmissionSubject };

/** See AdmissionSubject. */
function subjectOf(object: unknown, kind: string, namespace: string): AdmissionSubject | undefined {
  if (!isRecord(object) || !isRecord(object.metadata)) return undefined;
  const owner = kind === 'Pod' ? controllerOwner(object as KubeObject) : undefined;
  if (owner && typeof owner.kind === 'string' && typeof owner.name === 'string' && owner.name !== '') {
    return { apiVersion: owner.apiVersion, kind: owner.kind, namespace, name: owner.name, ...(typeof owner.uid === 'string' && owner.uid ? { uid: owner.uid } : {}) };
  }
  const { name, uid } = object.metadata;
  if (typeof name !== 'string' || name === '') return undefined;
  return {
    ...(typeof object.apiVersion === 'string' ? { apiVersion: object.apiVersion } : {}),
    kind, namespace, name,
    ...(typeof uid === 'string' && uid ? { uid } : {}),
  };
}

function planFor(request: ParsedRequest, context: AdmissionContext): Planned {
  const unavailable = context.meshConfigsUnavailable?.();
  const policy: PolicyContext = {
    namespace: context.namespace(request.namespace) ?? { name: request.namespace, labels: {} },
    meshConfigs: context.meshConfigs(),
    controllerNamespace: context.controllerNamespace,
    ...(unavailable !== undefined ? { meshConfigsUnavailable: unavailable } : {}),
    ...(context.injectNamespaces ? { injectNamespaces: context.injectNamespaces } : {}),
    ...(context.sidecars ? { sidecars: context.sidecars } : {}),
  };
  const metadata = isRecord(request.object) && isRecord(request.object.metadata) ? request.object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : typeof metadata.generateName === 'string' ? metadata.generateName : '';
  if (context.target === 'pods') {
    if (request.group !== '' || request.resource !== 'pods') return { skip: `resource ${request.group}/${request.resource} is not mutated with --target pods`, code: 'not_targeted', kind: request.resource, name };
    if (request.operation !== 'CREATE') return { skip: `operation ${request.operation} is not mutated (Pods are injected on CREATE)`, code: 'not_targeted', kind: 'Pod', name };
    const pod = recognisePod(request.object);
    if (!pod.ok) return { skip: `malformed Pod: ${pod.reason}`, code: 'malformed', kind: 'Pod', name };
    const object = withNamespace<Pod>(pod.value, request.namespace);
    const subject = subjectOf(object, 'Pod', request.namespace);
    const owner = podOwnerIdentity(object, request.namespace);
    if (!owner.ok) return { skip: owner.reason, code: 'no_controller', kind: 'Pod', name, ...(subject ? { subject } : {}) };
    const identity = owner.value;
    const workload = context.workload?.(identity.kind, identity.namespace, identity.name);
    const decidedFrom = workload ? `${identity.kind}/${identity.name}` : `Pod (its ${identity.kind} ${identity.name} is not in meshinit's cache)`;
    return { plan: planPodInjection(object, identity, policy, workload), object, kind: 'Pod', name, decidedFrom, ...(subject ? { subject } : {}) };
  }
  if (!Object.hasOwn(WORKLOAD_RESOURCES, request.resource) || WORKLOAD_RESOURCES[request.resource] !== request.group) {
    return { skip: `resource ${request.group}/${request.resource} is not mutated with --target workloads`, code: 'not_targeted', kind: request.resource, name };
  }
  // UPDATE too: re-applying the manifest from Git would otherwise strip the sidecar from the template.
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return { skip: `operation ${request.operation} is not mutated`, code: 'not_targeted', kind: request.resource, name };
  // A Pod's containers cannot change once it exists: an UPDATE patched with a sidecar would be refused, the user's edit with it.
  if (request.resource === 'pods' && request.operation !== 'CREATE') return { skip: `operation ${request.operation} is not mutated (Pods are injected on CREATE)`, code: 'not_targeted', kind: 'Pod', name };
  // Every kind with a pod template; a Pod, ReplicaSet or Job whose controller is one of them is
  // skipped by policy (its owner's template is the one injected).
  const workload = recognisePodTemplateCarrier(request.object);
  if (!workload.ok) return { skip: `malformed workload: ${workload.reason}`, code: 'malformed', kind: request.resource, name };
  const object = withNamespace<PodTemplateCarrier>(workload.value, request.namespace);
  const subject = subjectOf(object, workload.value.kind, request.namespace);
  return { plan: planWorkloadInjection(object, policy), object, kind: workload.value.kind, name, ...(subject ? { subject } : {}) };
}

export function admit(body: unknown, context: AdmissionContext): AdmissionOutcome {
  const request = parseReview(body);
  const planned = planFor(request, context);
  const base = { uid: request.uid, namespace: request.namespace, kind: planned.kind, name: planned.name, dryRun: request.dryRun, ...(planned.subject ? { subject: planned.subject } : {}) };
  const answer = (response: Omit<AdmissionResponseBody, 'uid'>, decision: Omit<AdmissionDecision, keyof typeof base>): AdmissionOutcome => ({
    review: { apiVersion: request.apiVersion, kind: 'AdmissionReview', response: { uid: request.uid, ...response } },
    decision: { ...base, ...decision },
  });
  if ('skip' in planned) return answer({ allowed: true }, { action: 'skipped', reason: planned.skip, code: planned.code });
  const { plan, object } = planned;
  const { warning, denial, ...verdict } = admissionVerdict(plan);
  const decision = { ...verdict, ...(planned.decidedFrom ? { decidedFrom: planned.decidedFrom } : {}) };
  switch (verdict.action) {
    case 'denied':
      return answer({ allowed: false, status: { code: 403, reason: 'Forbidden', message: denial ?? verdict.reason } }, decision);
    case 'injected': {
      if (plan.action !== 'inject') throw new Error('unreachable');
      const ops: JsonPatchOperation[] = diffJson(object, plan.object);
      return answer({ allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') }, decision);
    }
    default:
      return answer({ allowed: true, ...(warning !== undefined ? { warnings: [warning] } : {}) }, decision);
  }
}
