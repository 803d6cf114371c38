// Least privilege, measured: the real controller (real HTTP client, informers, work queue, sync) runs
// against the nock-served API server through every path it has — inject, release, a Job released
// with an Event, a Failure result, 409 re-reads of each kind, MeshConfig status on 1.13 and the 1.9
// fallback, and --job-pods (a Pod injected, its Job read, another Pod released). Every request it
// made is mapped to what RBAC would check (verb, API group, resource[/subresource]; a PATCH of an
// uninitialized object needs `initialize` as well), and compared with the ClusterRole in
// manifests/initializer/rbac.yaml and the pods rule of the job-pods overlay, both ways: every
// request is allowed, and every granted verb is used.
//
// Not exercised here, and why:
// - Discovery (GET /apis/admissionregistration.k8s.io/v1alpha1 by `meshinit run`): a non-resource
//   URL that the built-in system:discovery role grants every authenticated user.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_INITIALIZER_NAME } from '../../controller/core/constants.ts';
import type { KubeObject } from '../../controller/core/types.ts';
import { createInitializerController, type InitializerController } from '../../controller/initializer/controller.ts';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { SERVER, testKubeConfig, waitFor } from '../kube/helpers.ts';
import { NockCluster, type RecordedRequest } from '../support/nock-cluster.ts';
import { uninitializedPod } from '../support/objects.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OURS = DEFAULT_INITIALIZER_NAME;
const NAMESPACES = 'api/v1/namespaces';
const MESHCONFIGS = 'apis/meshinit.dev/v1alpha1/meshconfigs';
const RESOURCE_KEYS = {
  Deployment: 'apis/apps/v1/deployments',
  StatefulSet: 'apis/apps/v1/statefulsets',
  DaemonSet: 'apis/apps/v1/daemonsets',
  Job: 'apis/batch/v1/jobs',
  Pod: 'api/v1/pods',
} as const;
type Kind = keyof typeof RESOURCE_KEYS;

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  nonResourceURLs?: string[];
  resourceNames?: string[];
}

interface ClusterRole {
  kind: string;
  metadata: { name: string };
  rules: Rule[];
  aggregationRule?: unknown;
}

function loadYaml(file: string): unknown[] {
  return parseAllDocuments(readFileSync(`${ROOT}${file}`, 'utf8')).map((document) => document.toJS() as unknown).filter((d) => d !== null);
}

function baseRole(): ClusterRole {
  const role = loadYaml('manifests/initializer/rbac.yaml').find((d) => (d as ClusterRole).kind === 'ClusterRole') as ClusterRole | undefined;
  if (!role) throw new Error('manifests/initializer/rbac.yaml has no ClusterRole');
  return role;
}

/** The base ClusterRole with the job-pods overlay's JSON 6902 patch applied, as kustomize does. */
function overlayRole(): ClusterRole {
  const ops = loadYaml('manifests/initializer-job-pods/clusterrole-pods.yaml')[0] as Operation[];
  return fastJsonPatch.applyPatch(structuredClone(baseRole()), ops, true, false).newDocument;
}

/** `group|resource|verb` for everything the role grants. */
function granted(role: ClusterRole): Set<string> {
  const out = new Set<string>();
  for (const rule of role.rules) {
    for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) for (const verb of rule.verbs ?? []) out.add(`${group}|${resource}|${verb}`);
  }
  return out;
}

interface Attributes {
  verb: string;
  group: string;
  /** resource, or resource/subresource, as RBAC rules name them. */
  resource: string;
  request: string;
}

/**
 * The attributes the API server's RBAC authorizer checks for a request (k8s.io/apiserver
 * RequestInfoFactory), plus `initialize` for a change to an uninitialized object, which the
 * Initializers admission plugin demands (our patches always test that our entry is pending).
 */
function requestAttributes(request: RecordedRequest): Attributes[] {
  const parts = request.path.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api') {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    group = parts[1] ?? '';
    rest = parts.slice(3);
  } else throw new Error(`not a resource request: ${request.method} ${request.path}`);
  if (rest.length === 0) throw new Error(`discovery request, not a resource: ${request.method} ${request.path}`);
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const [resource, name, subresource] = rest;
  const describe = `${request.method} ${request.path}${request.query.size > 0 ? `?${request.query.toString()}` : ''}`;
  let verb: string;
  switch (request.method) {
    case 'GET':
      verb = request.query.get('watch') === 'true' ? 'watch' : name === undefined ? 'list' : 'get';
      break;
    case 'POST': verb = 'create'; break;
    case 'PUT': verb = 'update'; break;
    case 'PATCH': verb = 'patch'; break;
    case 'DELETE': verb = name === undefined ? 'deletecollection' : 'delete'; break;
    default: throw new Error(`unexpected method in ${describe}`);
  }
  const full = subresource ? `${resource}/${subresource}` : resource!;
  const attributes: Attributes[] = [{ verb, group, resource: full, request: describe }];
  const ops = Array.isArray(request.body) ? (request.body as Array<{ op?: string; path?: string }>) : [];
  if (verb === 'patch' && ops.some((op) => op.op === 'test' && op.path === '/metadata/initializers/pending/0/name')) {
    attributes.push({ verb: 'initialize', group, resource: full, request: describe });
  }
  return attributes;
}

function required(requests: readonly RecordedRequest[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const request of requests) {
    for (const a of requestAttributes(request)) {
      const key = `${a.group}|${a.resource}|${a.verb}`;
      out.set(key, [...(out.get(key) ?? []), a.request]);
    }
  }
  return out;
}

// ---- objects --------------------------------------------------------------------------------

function meshConfig(failurePolicy: 'Ignore' | 'Fail', generation: number): KubeObject {
  return {
    apiVersion: 'meshinit.dev/v1alpha1',
    kind: 'MeshConfig',
    metadata: { name: 'default', generation },
    spec: { failurePolicy, sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:1', args: ['{{workload.name}}'] }] } },
  };
}

function workload(kind: Exclude<Kind, 'Pod'>, name: string, containers: string[] = ['app']): KubeObject {
  return {
    apiVersion: kind === 'Job' ? 'batch/v1' : 'apps/v1',
    kind,
    metadata: { name, namespace: 'default', uid: `uid-${name}`, initializers: { pending: [{ name: OURS }] } },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: containers.map((c) => ({ name: c, image: `${c}:1` })) } } },
  };
}

function pod(name: string, owner: { kind: string; name: string }): KubeObject {
  return uninitializedPod(name, owner, OURS);
}

const CONFLICT: [number, unknown] = [409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: 'the object has been modified; please apply your changes to the latest version and try again' }];

describe('security: the ClusterRole grants exactly what the controller uses', function () {
  this.timeout(20_000);
  let cluster: NockCluster;
  let controller: InitializerController | undefined;

  async function start(jobPods: boolean): Promise<void> {
    controller = createInitializerController(
      {
        namespaces: [],
        concurrency: 2,
        initializerName: OURS,
        controllerNamespace: 'meshinit-system',
        jobPods,
        resyncPeriodMs: 0,
        watchTimeoutSeconds: 60,
        backoff: { initialMs: 5, maxMs: 50 },
        informerBackoff: { initialMs: 5, maxMs: 50 },
      },
      { api: createKubeApi(testKubeConfig()), log: createMemoryLogger() },
    );
    await controller.start();
  }

  const initialized = (kind: Kind, name: string) => () => {
    const object = cluster.get(RESOURCE_KEYS[kind], 'default', name);
    return object !== undefined && object.metadata?.initializers === undefined;
  };

  /** Creates the object, optionally answering its first PATCH with 409, and waits until it is done. */
  async function create(kind: Kind, object: KubeObject, options: { conflict?: boolean; done?: () => boolean } = {}): Promise<void> {
    if (options.conflict) cluster.patchFaults.push(CONFLICT);
    cluster.put(RESOURCE_KEYS[kind], object);
    await waitFor(options.done ?? initialized(kind, object.metadata!.name!), `${kind} ${object.metadata!.name} handled`);
    await controller!.idle();
  }

  beforeEach(function () {
    cluster = new NockCluster(SERVER).start();
    cluster.put(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    cluster.put(MESHCONFIGS, meshConfig('Ignore', 1));
  });

  afterEach(async function () {
    await controller?.stop();
    controller = undefined;
    cluster.stop();
  });

  /** Every path of the base install; returns the requests it made. */
  async function basePaths(jobPods: boolean): Promise<RecordedRequest[]> {
    await start(jobPods);
    // MeshConfig status through the /status subresource (1.13).
    await waitFor(() => cluster.get(MESHCONFIGS, '', 'default')?.status !== undefined, 'MeshConfig status written');
    // Inject each apps kind, the first PATCH answered 409 so the controller re-reads it (GET).
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet'] as const) {
      await create(kind, workload(kind, `${kind.toLowerCase()}-a`), { conflict: true });
      await create(kind, workload(kind, `${kind.toLowerCase()}-b`));
    }
    // A workload in a Namespace the informer has not seen yet (stored without a watch event): sync
    // reads that Namespace by name.
    cluster.put(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'late' } }, false);
    const late = workload('Deployment', 'late-a');
    late.metadata!.namespace = 'late';
    cluster.put(RESOURCE_KEYS.Deployment, late);
    await waitFor(() => cluster.get(RESOURCE_KEYS.Deployment, 'late', 'late-a')?.metadata?.initializers === undefined, 'workload in the late namespace handled');
    // A Job is released untouched with a Warning Event; a 409 first makes it read the Job again.
    await create('Job', workload('Job', 'job-a'), { conflict: true });
    await waitFor(() => cluster.requests.some((r) => r.method === 'POST' && r.path.endsWith('/events')), 'Event for the Job');
    // failurePolicy Fail and a name clash: the Failure result (the server deletes the object).
    cluster.put(MESHCONFIGS, { ...cluster.get(MESHCONFIGS, '', 'default')!, ...meshConfig('Fail', 2) });
    await waitFor(() => controller!.meshConfigs.list()[0]?.spec.failurePolicy === 'Fail', 'MeshConfig with failurePolicy Fail loaded');
    const clash = workload('Deployment', 'clash', ['app', 'mesh-proxy']);
    await create('Deployment', clash, { done: () => cluster.get(RESOURCE_KEYS.Deployment, 'default', 'clash') === undefined });
    // 1.9: no status subresource; status goes through the main resource.
    cluster.statusSubresource = false;
    cluster.put(MESHCONFIGS, { ...cluster.get(MESHCONFIGS, '', 'default')!, ...meshConfig('Ignore', 3) });
    await waitFor(() => (cluster.get(MESHCONFIGS, '', 'default')?.status as { observedGeneration?: number } | undefined)?.observedGeneration === 3, 'status written through the main resource');
    await controller!.idle();
    return [...cluster.requests];
  }

  function compare(role: ClusterRole, requests: readonly RecordedRequest[]): { refused: string[]; unused: string[] } {
    const grants = granted(role);
    const needs = required(requests);
    const refused = [...needs.entries()].filter(([key]) => !grants.has(key)).map(([key, list]) => `${key} (e.g. ${list[0]})`);
    const unused = [...grants].filter((key) => !needs.has(key));
    return { refused, unused };
  }

  it('base install: every request is allowed, and every granted verb is used', async function () {
    const requests = await basePaths(false);
    // The paths above really ran.
    const paths = requests.map((r) => `${r.method} ${r.path}`);
    expect(paths).to.include.members([
      'PATCH /apis/meshinit.dev/v1alpha1/meshconfigs/default/status',
      'PATCH /apis/meshinit.dev/v1alpha1/meshconfigs/default',
      'GET /apis/apps/v1/namespaces/default/deployments/deployment-a',
      'GET /apis/apps/v1/namespaces/default/statefulsets/statefulset-a',
      'GET /apis/apps/v1/namespaces/default/daemonsets/daemonset-a',
      'GET /apis/batch/v1/namespaces/default/jobs/job-a',
      'POST /api/v1/namespaces/default/events',
      'GET /api/v1/namespaces/late',
    ]);
    const { refused, unused } = compare(baseRole(), requests);
    expect(refused, 'requests the ClusterRole would refuse').to.deep.equal([]);
    expect(unused, 'verbs the ClusterRole grants but the controller never uses').to.deep.equal([]);
  });

  it('job-pods overlay: every request is allowed, every granted verb is used, and the pods rule is exactly what Pod initialization uses', async function () {
    const base = await basePaths(true);
    // A Job the informer has not seen yet (created without an event): the Pod's sync reads it.
    const nightly = workload('Job', 'nightly');
    delete nightly.metadata!.initializers;
    cluster.put(RESOURCE_KEYS.Job, nightly, false);
    await create('Pod', pod('nightly-a', { kind: 'Job', name: 'nightly' }), { conflict: true });
    await create('Pod', pod('web-a', { kind: 'ReplicaSet', name: 'web-7d9f' }));
    const podRequests = cluster.requests.filter((r) => r.path.includes('/pods'));
    expect(podRequests.map((r) => `${r.method} ${r.path}`)).to.include.members(['GET /api/v1/namespaces/default/pods/nightly-a', 'PATCH /api/v1/namespaces/default/pods/web-a']);
    expect(cluster.requests.some((r) => r.method === 'GET' && r.path === '/apis/batch/v1/namespaces/default/jobs/nightly'), 'the Job was read').to.equal(true);
    const injected = cluster.get(RESOURCE_KEYS.Pod, 'default', 'nightly-a')!;
    expect((injected.spec as { containers: Array<{ name: string }> }).containers.map((c) => c.name)).to.deep.equal(['work', 'mesh-proxy']);
    const role = overlayRole();
    const { refused, unused } = compare(role, [...base, ...cluster.requests.slice(base.length)]);
    expect(refused, 'requests the overlay ClusterRole would refuse').to.deep.equal([]);
    expect(unused, 'verbs the overlay grants but the controller never uses').to.deep.equal([]);
    const podGrants = [...granted(role)].filter((key) => key.startsWith('|pods|'));
    expect(podGrants.sort()).to.deep.equal(['|pods|get', '|pods|initialize', '|pods|list', '|pods|patch', '|pods|watch']);
  });

  it('maps requests as the API server does (namespaced, cluster-scoped, subresources, watch, initialize)', function () {
    const request = (method: string, path: string, query = '', body: unknown = undefined): RecordedRequest => ({ method, path, query: new URLSearchParams(query), contentType: undefined, body });
    const keys = (r: RecordedRequest) => requestAttributes(r).map((a) => `${a.group}|${a.resource}|${a.verb}`);
    expect(keys(request('GET', '/api/v1/namespaces'))).to.deep.equal(['|namespaces|list']);
    expect(keys(request('GET', '/api/v1/namespaces/default'))).to.deep.equal(['|namespaces|get']);
    expect(keys(request('GET', '/api/v1/namespaces', 'watch=true'))).to.deep.equal(['|namespaces|watch']);
    expect(keys(request('GET', '/apis/apps/v1/deployments', 'includeUninitialized=true'))).to.deep.equal(['apps|deployments|list']);
    expect(keys(request('GET', '/apis/apps/v1/namespaces/a/deployments/b'))).to.deep.equal(['apps|deployments|get']);
    expect(keys(request('POST', '/api/v1/namespaces/a/events'))).to.deep.equal(['|events|create']);
    expect(keys(request('PATCH', '/apis/meshinit.dev/v1alpha1/meshconfigs/x/status', '', { status: {} }))).to.deep.equal(['meshinit.dev|meshconfigs/status|patch']);
    expect(keys(request('PATCH', '/apis/batch/v1/namespaces/a/jobs/j', '', [{ op: 'test', path: '/metadata/initializers/pending/0/name', value: OURS }]))).to.deep.equal(['batch|jobs|patch', 'batch|jobs|initialize']);
    expect(() => requestAttributes(request('GET', '/apis/admissionregistration.k8s.io/v1alpha1'))).to.throw(/discovery/);
  });
});

describe('security: the ClusterRoles never grant secrets, configmaps, wildcards or non-resource URLs', function () {
  const roles: Array<[string, ClusterRole]> = [['base', baseRole()], ['job-pods overlay', overlayRole()]];
  for (const [name, role] of roles) {
    it(`${name}: no secrets, configmaps or RBAC objects, no "*" verbs or resources, no nonResourceURLs or aggregation; only read, patch, initialize (and create Events)`, function () {
      expect(role.aggregationRule, 'an aggregated role takes in whatever other roles grant').to.equal(undefined);
      expect(role.rules.length).to.be.greaterThan(0);
      for (const [index, rule] of role.rules.entries()) {
        const at = `rule ${index}: ${JSON.stringify(rule)}`;
        expect(rule.nonResourceURLs, at).to.equal(undefined);
        expect(rule.apiGroups ?? [], at).to.not.include('*');
        expect(rule.verbs ?? [], at).to.not.include('*');
        for (const resource of rule.resources ?? []) {
          expect(resource, at).to.not.include('*');
          expect(resource.split('/')[0], at).to.not.be.oneOf(['secrets', 'configmaps', 'serviceaccounts', 'roles', 'rolebindings', 'clusterroles', 'clusterrolebindings']);
        }
        // Reading, watching, patching and initializing; creating only Events. Nothing that deletes,
        // replaces, escalates, binds or impersonates.
        for (const verb of rule.verbs ?? []) {
          const allowed = verb === 'create' ? (rule.resources ?? []).every((r) => r === 'events') : ['get', 'list', 'watch', 'patch', 'initialize'].includes(verb);
          expect(allowed, `${at}: verb ${verb}`).to.equal(true);
        }
      }
    });
  }

  it('no other Role or ClusterRole hides in the Initializer manifests', function () {
    const files = ['manifests/initializer/rbac.yaml', 'manifests/initializer/deployment.yaml', 'manifests/initializer/namespace.yaml', 'manifests/initializer/poddisruptionbudget.yaml', 'manifests/initializer/initializerconfiguration.yaml', 'manifests/initializer-job-pods/initializerconfiguration-pods.yaml'];
    const kinds = files.flatMap((file) => loadYaml(file).map((d) => `${file}: ${(d as { kind?: string }).kind}`));
    expect(kinds.filter((k) => /: (Cluster)?Role$/.test(k))).to.deep.equal(['manifests/initializer/rbac.yaml: ClusterRole']);
  });
});
