// `meshinit explain KIND/NAME`: the object, its Namespace and every MeshConfig read from the
// cluster through the kubeconfig, GETs and one LIST only, then judged by the same core as
// offline. Loaded by a dynamic import from explain-command.ts: it brings in the kubeconfig code.
import type { KubeConfig } from '@kubernetes/client-node';
import { explainWorkload, type ExplainMode } from '../core/explain.ts';
import { unknownServer } from '../core/native-sidecar.ts';
import type { KubeObject, NamespaceInfo, PodTemplateCarrier } from '../core/types.ts';
import { controllerOwner, isPodTemplateKind, podOwnerIdentity, recognisePod, recognisePodTemplateCarrier } from '../core/workload.ts';
import { createKubeApi } from '../kube/api-client.ts';
import { kubeconfigFiles, kubeconfigTokenFile } from '../kube/credentials.ts';
import { discoverServer, initializerApiStatus, servedVersion } from '../kube/discovery.ts';
import { isKubeApiError } from '../kube/errors.ts';
import { apiVersionOf, collectionPath, CRONJOB_VERSIONS, DEPLOYMENTCONFIG, MESHCONFIG, NAMESPACE, objectPath, POD, podTemplateDescriptor, REPLICASET, type ResourceDescriptor } from '../kube/resources.ts';
import { loadKubeConfigClass } from '../kube/slim-kubeconfig.ts';
import type { KubeApi } from '../kube/types.ts';
import type { ExplainIo, ExplainOptions } from './explain-command.ts';
import { meshConfigEntries } from './explain-meshconfigs.ts';
import type { ExplainReport } from './explain-format.ts';
import type { ExplainableKind, ResourceRef } from './explain-ref.ts';
import { InputError } from './input.ts';

/** The verbs `explain` needs, as one command that grants them read-only (quoted in 403 messages). */
export const EXPLAIN_RBAC_HINT =
  'explain needs get on deployments.apps, statefulsets.apps, daemonsets.apps, jobs.batch, cronjobs.batch, replicasets.apps, ' +
  'replicationcontrollers, pods and namespaces, and list on meshconfigs.meshinit.dev; ' +
  'grant them read-only with: kubectl create clusterrole meshinit-explain --verb=get,list ' +
  '--resource=deployments.apps,statefulsets.apps,daemonsets.apps,jobs.batch,cronjobs.batch,replicasets.apps,replicationcontrollers,pods,namespaces,meshconfigs.meshinit.dev ' +
  '&& kubectl create clusterrolebinding meshinit-explain --clusterrole=meshinit-explain --user=YOU';

const CRD_HINT = 'the MeshConfig CRD (meshconfigs.meshinit.dev) is not installed on this server, so meshinit injects nothing here; install it (README "Install on a cluster"): ' +
  'kubectl apply -f crds/meshconfig.v1.yaml (crds/meshconfig.v1beta1.yaml on Kubernetes 1.9-1.15)';

function firstLine(error: unknown): string {
  return ((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '').slice(0, 300);
}

function loadKubeConfig(KubeConfigClass: new () => KubeConfig, path: string | undefined): KubeConfig {
  const kc = new KubeConfigClass();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (error) {
    // Only the first line: a YAML parser quotes the lines around a syntax error, and in a kubeconfig those are tokens.
    throw new InputError(`the kubeconfig ${path ?? '(default)'} cannot be used: ${firstLine(error)}`);
  }
  if (!kc.getCurrentCluster()) throw new InputError('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a Pod with a service account');
  return kc;
}

/** An API failure, as what went wrong and what to do about it. */
function readError(what: string, error: unknown, server: string): InputError {
  if (!isKubeApiError(error)) return new InputError(`cannot read ${what} from ${server}: ${firstLine(error)}; is the API server reachable with this kubeconfig?`);
  if (error.statusCode === 401) return new InputError(`the API server does not accept the kubeconfig's credentials (401 reading ${what}): log in again or check the kubeconfig user`);
  if (error.statusCode === 403) return new InputError(`forbidden: ${error.serverMessage} (reading ${what}). ${EXPLAIN_RBAC_HINT}`);
  return new InputError(`reading ${what}: ${error.message}`);
}

interface Reader {
  api: KubeApi;
  server: string;
  includeUninitialized: boolean;
}

async function readObject(reader: Reader, descriptor: ResourceDescriptor, namespace: string, name: string): Promise<unknown> {
  try {
    // On 1.9-1.13 an object still held by an initializer is visible only with includeUninitialized.
    return await reader.api.get<unknown>(objectPath(descriptor, namespace, name), reader.includeUninitialized ? { includeUninitialized: true } : undefined);
  } catch (error) {
    if (isKubeApiError(error) && error.isNotFound) {
      throw new InputError(`${descriptor.kind} ${namespace}/${name} not found on ${reader.server}: check the name and the namespace (-n), e.g. kubectl get ${descriptor.plural} -n ${namespace}`);
    }
    throw readError(`${descriptor.kind} ${namespace}/${name}`, error, reader.server);
  }
}

/**
 * Where `kind` is read on this server. Most kinds are at one version everywhere meshinit runs; a
 * CronJob moved (batch/v2alpha1, v1beta1, v1) and a DeploymentConfig exists only on OpenShift, so
 * for those discovery says which version is served, or that none is.
 */
async function descriptorOn(reader: Reader, kind: ExplainableKind): Promise<ResourceDescriptor> {
  const descriptor = podTemplateDescriptor(kind);
  if (kind !== 'CronJob' && kind !== 'DeploymentConfig') return descriptor;
  const versions: readonly string[] = kind === 'CronJob' ? CRONJOB_VERSIONS : [DEPLOYMENTCONFIG.version];
  let version: string | undefined;
  try {
    version = await servedVersion(reader.api, descriptor, versions);
  } catch (error) {
    throw readError(`the API discovery for ${descriptor.plural}.${descriptor.group}`, error, reader.server);
  }
  if (version === undefined) {
    const tried = versions.map((v) => apiVersionOf({ ...descriptor, version: v })).join(', ');
    const hint = kind === 'CronJob' ? 'CronJobs are batch/v1beta1 from Kubernetes 1.8, batch/v2alpha1 before that only when enabled' : 'DeploymentConfigs exist only on OpenShift';
    throw new InputError(`${reader.server} does not serve ${descriptor.plural} (none of ${tried} lists them; ${hint}), so there is no ${kind} to explain`);
  }
  return { ...descriptor, version };
}

/** The object to explain: the object itself, or for a Pod with a controller the workload that owns it. */
async function readWorkload(reader: Reader, ref: ResourceRef, namespace: string, notes: string[]): Promise<PodTemplateCarrier> {
  if (ref.kind !== 'Pod') {
    const recognised = recognisePodTemplateCarrier(await readObject(reader, await descriptorOn(reader, ref.kind), namespace, ref.name));
    if (!recognised.ok) throw new InputError(`${ref.kind} ${namespace}/${ref.name} is malformed, the controller would release it unchanged: ${recognised.reason}`);
    return recognised.value;
  }
  const pod = recognisePod(await readObject(reader, POD, namespace, ref.name));
  if (!pod.ok) throw new InputError(`Pod ${namespace}/${ref.name} is malformed: ${pod.reason}`);
  const controller = controllerOwner(pod.value);
  if (!controller) {
    // A bare Pod: nothing else holds its template, so it is judged as itself, as the webhook with --target workloads does.
    const recognised = recognisePodTemplateCarrier({ ...pod.value, kind: 'Pod' });
    if (!recognised.ok) throw new InputError(`Pod ${namespace}/${ref.name} is malformed: ${recognised.reason}`);
    return recognised.value;
  }
  if (controller.kind === 'ReplicaSet') {
    // Up the owner chain by reading it: a ReplicaSet of a Deployment is a copy (the Deployment is
    // judged), a ReplicaSet of its own is judged as itself.
    const replicaSet = recognisePodTemplateCarrier(await readObject(reader, REPLICASET, namespace, controller.name));
    if (!replicaSet.ok) throw new InputError(`ReplicaSet ${namespace}/${controller.name} is malformed, the controller would release it unchanged: ${replicaSet.reason}`);
    const deployment = controllerOwner(replicaSet.value);
    const resolved = deployment?.kind === 'Deployment' ? { kind: 'Deployment' as const, name: deployment.name } : undefined;
    notes.push(`Pod ${namespace}/${ref.name} belongs to ReplicaSet ${namespace}/${controller.name}${resolved ? ` of Deployment ${namespace}/${resolved.name}` : ''}, explained here: a Pod is judged as its workload`);
    return resolved ? readWorkload(reader, resolved, namespace, notes) : replicaSet.value;
  }
  const owner = podOwnerIdentity(pod.value, namespace);
  // The owner chain maps a Pod to one of the four workloads; a ReplicationController's Pod (outside
  // that chain, but a kind meshinit injects) is judged as the ReplicationController.
  const resolved = owner.ok ? owner.value : isPodTemplateKind(controller.kind) && controller.kind !== 'Pod' ? { kind: controller.kind, name: controller.name } : undefined;
  if (!resolved) throw new InputError(`Pod ${namespace}/${ref.name}: ${owner.ok ? '' : owner.reason}`);
  notes.push(`Pod ${namespace}/${ref.name} belongs to ${resolved.kind} ${namespace}/${resolved.name}, explained here: a Pod is judged as its workload`);
  return readWorkload(reader, { kind: resolved.kind, name: resolved.name }, namespace, notes);
}

async function readNamespace(reader: Reader, name: string): Promise<NamespaceInfo> {
  try {
    const object = await reader.api.get<KubeObject>(objectPath(NAMESPACE, undefined, name));
    return { name, labels: { ...(object.metadata?.labels ?? {}) } };
  } catch (error) {
    if (isKubeApiError(error) && error.isNotFound) throw new InputError(`namespace ${name} not found on ${reader.server}`);
    throw readError(`namespace ${name}`, error, reader.server);
  }
}

async function readMeshConfigs(reader: Reader): Promise<unknown[]> {
  try {
    return (await reader.api.list<unknown>(collectionPath(MESHCONFIG))).items;
  } catch (error) {
    if (isKubeApiError(error) && error.isNotFound) throw new InputError(CRD_HINT);
    throw readError('the MeshConfigs', error, reader.server);
  }
}

export async function explainLive(options: ExplainOptions & { ref: ResourceRef }, io: ExplainIo): Promise<ExplainReport> {
  const kc = loadKubeConfig((await loadKubeConfigClass()).KubeConfig, options.kubeconfig);
  const server = kc.getCurrentCluster()?.server ?? '(unknown server)';
  const namespace = options.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const tokenFile = kubeconfigTokenFile(kubeconfigFiles(options.kubeconfig, io.env), kc.getCurrentUser()?.name);
  const api = createKubeApi(kc, { requestTimeoutMs: 15_000, userAgent: `meshinit/${io.version} (explain)`, ...(tokenFile ? { tokenFile } : {}) });
  let initializers: string;
  try {
    initializers = await initializerApiStatus(api);
  } catch (error) {
    throw readError('the API discovery', error, server);
  }
  // Its version decides the sidecar layout of a MeshConfig with nativeSidecar Auto or Always; a
  // server that will not say (a proxy in front of it) is judged as unknown, as offline.
  const kubeServer = await discoverServer(api).then((found) => found.server, (error: unknown) => unknownServer(`GET /version failed: ${firstLine(error)}`));
  const reader: Reader = { api, server, includeUninitialized: initializers === 'served' };
  // auto: the mode `meshinit run --mode auto` picks on this server.
  const mode: ExplainMode = options.mode !== 'auto' ? options.mode : initializers === 'served' ? 'initializer' : 'webhook';
  const notes: string[] = [];
  const workload = await readWorkload(reader, options.ref, namespace, notes);
  const namespaceInfo = await readNamespace(reader, namespace);
  const meshConfigs = meshConfigEntries(await readMeshConfigs(reader), kubeServer);
  if (options.mode === 'auto') notes.push(`${mode} mode: what "meshinit run --mode auto" runs on this server (${initializers === 'served' ? 'it serves Initializers' : 'no Initializers'}); --mode chooses`);
  const explanation = explainWorkload({
    workload: { ...workload, metadata: { ...workload.metadata, namespace } },
    namespace: namespaceInfo,
    meshConfigs,
    modes: [mode],
    ...(options.controllerNamespace !== undefined ? { controllerNamespace: options.controllerNamespace } : {}),
  });
  return { items: [{ source: `cluster ${server}`, explanation, namespaceLabelsKnown: true }], passedOver: [], notes };
}
