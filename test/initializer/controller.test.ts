// The initializer controller end to end against a nock-served Initializer-era API server (test/
// support/nock-cluster.ts), with the real HTTP client, informers, work queue and sync. Workloads
// come from the transcripts recorded on a real v1.13.0 server, so the initializer name is the one
// used there.
import { expect } from 'chai';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { createInitializerController, type InitializerController } from '../../controller/initializer/controller.ts';
import { JOB_RELEASE_REASON } from '../../controller/initializer/sync.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import type { KubeObject } from '../../controller/core/types.ts';
import { NockCluster } from '../support/nock-cluster.ts';
import { uninitializedPod } from '../support/objects.ts';
import { loadTranscript } from '../support/transcripts.ts';
import { SERVER, TOKEN, testKubeConfig, waitFor } from '../kube/helpers.ts';

const OURS = 'sidecar.initializer.example.com';
const DEPLOYMENTS = 'apis/apps/v1/deployments';
const JOBS = 'apis/batch/v1/jobs';
const PODS = 'api/v1/pods';
const MESHCONFIGS = 'apis/meshinit.dev/v1alpha1/meshconfigs';

function meshConfig(overrides: { name?: string; failurePolicy?: string; image?: string; generation?: number } = {}): KubeObject {
  return {
    apiVersion: 'meshinit.dev/v1alpha1',
    kind: 'MeshConfig',
    metadata: { name: overrides.name ?? 'default', generation: overrides.generation ?? 1 },
    spec: {
      failurePolicy: overrides.failurePolicy ?? 'Ignore',
      sidecar: {
        initContainers: [{ name: 'mesh-init', image: 'proxy-init:1', securityContext: { privileged: true } }],
        containers: [{ name: 'mesh-proxy', image: overrides.image ?? 'proxy:1', args: ['--serviceCluster', '{{workload.name}}', '--kind', '{{workload.kind}}'] }],
        volumes: [{ name: 'mesh-config', emptyDir: {} }],
      },
    },
  };
}

/** demo-b as the real 1.13 server returned it: uninitialized, our name the only pending entry. */
function recordedDeployment(name: string, pending: string[] = [OURS], annotations?: Record<string, string>): KubeObject {
  const object = structuredClone(loadTranscript('v1.13.0/05b-get-with-flag.txt').body) as KubeObject;
  const metadata = object.metadata!;
  metadata.name = name;
  metadata.uid = `uid-${name}`;
  metadata.initializers = { pending: pending.map((entry) => ({ name: entry })) };
  if (annotations) metadata.annotations = annotations;
  return object;
}

function job(name: string, pending: string[] = [OURS]): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, ...(pending.length ? { initializers: { pending: pending.map((entry) => ({ name: entry })) } } : {}) },
    spec: { template: { metadata: { labels: { 'job-name': name } }, spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox:1.28' }] } } },
  };
}

function pod(name: string, owner: { kind: string; name: string }): KubeObject {
  return uninitializedPod(name, owner, OURS);
}

function containerNames(object: KubeObject | undefined, podLevel = false): string[] {
  const spec = (podLevel ? object?.spec : (object?.spec as { template: { spec: unknown } }).template.spec) as { containers: Array<{ name: string }> };
  return spec.containers.map((container) => container.name);
}

describe('initializer controller against an Initializer-era API server (nock)', function () {
  let cluster: NockCluster;
  let controller: InitializerController;
  let log: ReturnType<typeof createMemoryLogger>;

  async function startController(options: { jobPods?: boolean; configSyncTimeoutMs?: number; namespaces?: string[]; permanentRetryMs?: number; statusPeriodMs?: number; isLeader?: () => boolean } = {}): Promise<void> {
    log = createMemoryLogger();
    controller = createInitializerController(
      {
        namespaces: options.namespaces ?? [],
        concurrency: 4,
        initializerName: OURS,
        controllerNamespace: 'meshinit-system',
        jobPods: options.jobPods ?? false,
        resyncPeriodMs: 0,
        watchTimeoutSeconds: 60,
        backoff: { initialMs: 5, maxMs: 50 },
        informerBackoff: { initialMs: 5, maxMs: 50 },
        ...(options.configSyncTimeoutMs !== undefined ? { configSyncTimeoutMs: options.configSyncTimeoutMs } : {}),
        permanentRetryMs: options.permanentRetryMs ?? 30,
        ...(options.statusPeriodMs !== undefined ? { statusPeriodMs: options.statusPeriodMs } : {}),
        ...(options.isLeader ? { isLeader: options.isLeader } : {}),
      },
      { api: createKubeApi(testKubeConfig()), log },
    );
    await controller.start();
  }

  async function settle(predicate: () => boolean, what: string): Promise<void> {
    await waitFor(predicate, what);
    await controller.idle();
  }

  beforeEach(function () {
    cluster = new NockCluster(SERVER).start();
    cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'quiet', labels: { 'meshinit.dev/injection': 'disabled' } } });
    cluster.put(MESHCONFIGS, meshConfig());
  });

  afterEach(async function () {
    await controller?.stop();
    cluster.stop();
  });

  it('lists and watches workloads with includeUninitialized=true, a timeout and the list resourceVersion', async function () {
    await startController();
    for (const plural of ['deployments', 'statefulsets', 'daemonsets', 'jobs']) {
      const requests = cluster.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/${plural}`));
      const list = requests.find((r) => r.query.get('watch') === null);
      await waitFor(() => cluster.requests.some((r) => r.path.endsWith(`/${plural}`) && r.query.get('watch') === 'true'), `watch on ${plural}`);
      const watch = cluster.requests.find((r) => r.path.endsWith(`/${plural}`) && r.query.get('watch') === 'true');
      expect(list?.query.get('includeUninitialized'), `list ${plural}`).to.equal('true');
      expect(watch?.query.get('includeUninitialized'), `watch ${plural}`).to.equal('true');
      expect(watch?.query.get('timeoutSeconds')).to.equal('60');
      expect(watch?.query.get('resourceVersion')).to.match(/^\d+$/);
    }
    expect(cluster.requests.some((r) => r.path.endsWith('/pods')), 'pods are only watched with --job-pods').to.equal(false);
  });

  it('injects with exactly one conditional JSON Patch when it is first, and the last entry takes initializers with it', async function () {
    await startController();
    const created = cluster.put(DEPLOYMENTS, recordedDeployment('demo-b'));
    await settle(() => cluster.patches().length === 1, 'one patch');
    const [patch] = cluster.patches();
    expect(patch!.path).to.equal('/apis/apps/v1/namespaces/default/deployments/demo-b');
    expect(patch!.contentType).to.equal('application/json-patch+json');
    const ops = patch!.body as Array<{ op: string; path: string; value?: unknown }>;
    expect(ops.slice(0, 3)).to.deep.equal([
      { op: 'test', path: '/metadata/initializers/pending/0/name', value: OURS },
      { op: 'replace', path: '/metadata/resourceVersion', value: created.metadata!.resourceVersion },
      { op: 'remove', path: '/metadata/initializers' },
    ]);
    expect(ops.some((op) => op.path === '/spec/template/spec/containers/1' && (op.value as { name: string }).name === 'mesh-proxy')).to.equal(true);
    const stored = cluster.get(DEPLOYMENTS, 'default', 'demo-b');
    expect(stored?.metadata?.initializers).to.equal(undefined);
    expect(containerNames(stored)).to.deep.equal(['app', 'mesh-proxy']);
    const proxy = ((stored!.spec as { template: { spec: { containers: Array<{ args: string[] }> } } }).template.spec.containers[1]!);
    expect(proxy.args).to.deep.equal(['--serviceCluster', 'demo-b', '--kind', 'Deployment']);
    const line = log.lines.find((l) => l.message === 'Injected sidecar');
    expect(line?.fields).to.include({ kind: 'Deployment', namespace: 'default', name: 'demo-b', uid: 'uid-demo-b', action: 'injected', meshConfig: 'default' });
    expect(line?.fields.reason).to.be.a('string').and.not.empty;
    expect(line?.fields.durationMs).to.be.a('number');
  });

  it('writes nothing while another initializer is first, and acts on the update event once it has removed itself', async function () {
    await startController();
    cluster.put(DEPLOYMENTS, recordedDeployment('demo-two', ['first.initializer.example.com', OURS]));
    await waitFor(() => cluster.requests.filter((r) => r.query.get('watch') === 'true').length >= 6, 'watches open');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await controller.idle();
    expect(cluster.patches()).to.have.length(0);
    // The other initializer finishes: the server sends MODIFIED with us now first.
    const current = cluster.get(DEPLOYMENTS, 'default', 'demo-two')!;
    cluster.put(DEPLOYMENTS, { ...current, metadata: { ...current.metadata, initializers: { pending: [{ name: OURS }] } } });
    await settle(() => cluster.patches().length === 1, 'patch after update');
    expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'demo-two'))).to.deep.equal(['app', 'mesh-proxy']);
  });

  it('removes only its own entry and keeps the initializers after it in order', async function () {
    await startController();
    cluster.put(DEPLOYMENTS, recordedDeployment('demo-three', [OURS, 'a.example.com', 'b.example.com']));
    await settle(() => cluster.patches().length === 1, 'patch');
    const ops = cluster.patches()[0]!.body as Array<{ op: string; path: string }>;
    expect(ops[2]).to.deep.equal({ op: 'remove', path: '/metadata/initializers/pending/0' });
    expect(cluster.get(DEPLOYMENTS, 'default', 'demo-three')?.metadata?.initializers?.pending).to.deep.equal([{ name: 'a.example.com' }, { name: 'b.example.com' }]);
  });

  it('releases an opted-out workload without injecting, and one in a disabled namespace', async function () {
    await startController();
    cluster.put(DEPLOYMENTS, recordedDeployment('demo-out', [OURS], { 'sidecar.meshinit.dev/inject': 'false' }));
    const quiet = recordedDeployment('demo-quiet');
    quiet.metadata!.namespace = 'quiet';
    cluster.put(DEPLOYMENTS, quiet);
    await settle(() => cluster.patches().length === 2, 'two patches');
    for (const patch of cluster.patches()) {
      expect((patch.body as Array<{ path: string }>).map((op) => op.path)).to.deep.equal(['/metadata/initializers/pending/0/name', '/metadata/resourceVersion', '/metadata/initializers']);
    }
    expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'demo-out'))).to.deep.equal(['app']);
    expect(containerNames(cluster.get(DEPLOYMENTS, 'quiet', 'demo-quiet'))).to.deep.equal(['app']);
    const reasons = log.lines.filter((l) => l.fields.action === 'skipped').map((l) => String(l.fields.reason));
    expect(reasons.some((r) => r.includes('sidecar.meshinit.dev/inject'))).to.equal(true);
    expect(reasons.some((r) => r.includes('meshinit.dev/injection=disabled'))).to.equal(true);
  });

  it('re-reads the object after 409 Conflict and patches again with the new resourceVersion', async function () {
    await startController();
    cluster.patchFaults.push([409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: 'the object has been modified' }]);
    cluster.put(DEPLOYMENTS, recordedDeployment('demo-c'));
    await settle(() => cluster.get(DEPLOYMENTS, 'default', 'demo-c')?.metadata?.initializers === undefined, 'initialized');
    expect(cluster.patches()).to.have.length(2);
    const reads = cluster.requests.filter((r) => r.method === 'GET' && r.path === '/apis/apps/v1/namespaces/default/deployments/demo-c');
    expect(reads, 'the latest object was read again').to.have.length(1);
    expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'demo-c'))).to.deep.equal(['app', 'mesh-proxy']);
  });

  it('after a 422 from a failed test (another replica initialized it meanwhile) re-reads, finds nothing to do, and warns nobody', async function () {
    await startController();
    cluster.patchFaults.push(() => {
      // The other replica's patch landed first: we are no longer in pending.
      const current = cluster.get(DEPLOYMENTS, 'default', 'demo-raced')!;
      cluster.put(DEPLOYMENTS, { ...current, metadata: { ...current.metadata, initializers: undefined } });
      return [422, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Invalid', code: 422, message: 'the server rejected our request due to an error in our request: testing value /metadata/initializers/pending/0/name failed' }];
    });
    cluster.put(DEPLOYMENTS, recordedDeployment('demo-raced'));
    await settle(() => cluster.patches().length === 1, 'one patch');
    await new Promise((resolve) => setTimeout(resolve, 30));
    await controller.idle();
    expect(cluster.patches()).to.have.length(1);
    expect(log.lines.filter((l) => l.level === 'warn' || l.level === 'error')).to.deep.equal([]);
  });

  it('when the server refuses the injected object (422, object unchanged) falls back to failurePolicy Ignore and releases it', async function () {
    await startController();
    cluster.patchFaults.push([422, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Invalid', code: 422, message: 'Deployment.apps "demo-refused" is invalid: spec.template.spec.containers[1].ports[0].containerPort: Invalid value: 0' }]);
    cluster.put(DEPLOYMENTS, recordedDeployment('demo-refused'));
    await settle(() => cluster.patches().length === 2, 'release after refusal');
    expect((cluster.patches()[1]!.body as Array<{ path: string }>).map((op) => op.path)).to.deep.equal(['/metadata/initializers/pending/0/name', '/metadata/resourceVersion', '/metadata/initializers']);
    expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'demo-refused'))).to.deep.equal(['app']);
    const line = log.lines.find((l) => l.fields.name === 'demo-refused' && l.fields.action === 'released');
    expect(line?.level).to.equal('warn');
    expect(String(line?.fields.reason)).to.include('the API server rejected the injected Deployment').and.include('containerPort');
  });

  it('restarts the informer after a watch error or a dropped watch and still acts', async function () {
    cluster.watchFaults.push([500, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 500, message: 'etcd leader changed' }]);
    await startController();
    await waitFor(() => cluster.requests.filter((r) => r.query.get('watch') === 'true').length >= 7, 'a watch retried after the 500');
    cluster.dropWatches(DEPLOYMENTS);
    const watchesBefore = cluster.requests.filter((r) => r.path === '/apis/apps/v1/deployments' && r.query.get('watch') === 'true').length;
    await waitFor(() => cluster.requests.filter((r) => r.path === '/apis/apps/v1/deployments' && r.query.get('watch') === 'true').length > watchesBefore, 're-watch after drop');
    cluster.put(DEPLOYMENTS, recordedDeployment('demo-after-drop'));
    await settle(() => cluster.patches().length === 1, 'patch after restart');
    expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'demo-after-drop'))).to.deep.equal(['app', 'mesh-proxy']);
  });

  it('sets a Failure result (the server deletes the object) when injection fails under failurePolicy Fail', async function () {
    cluster.put(MESHCONFIGS, meshConfig({ failurePolicy: 'Fail' }));
    await startController();
    const clash = recordedDeployment('demo-clash');
    (clash.spec as { template: { spec: { containers: Array<{ name: string }> } } }).template.spec.containers.push({ name: 'mesh-proxy' });
    cluster.put(DEPLOYMENTS, clash);
    await settle(() => cluster.patches().length === 1, 'failure patch');
    const ops = cluster.patches()[0]!.body as Array<{ op: string; path: string; value?: Record<string, unknown> }>;
    const result = ops.find((op) => op.path === '/metadata/initializers/result');
    expect(result?.op).to.equal('add');
    expect(result?.value).to.include({ kind: 'Status', status: 'Failure', code: 403 });
    expect(String(result?.value?.message)).to.match(/^sidecar\.initializer\.example\.com: .*mesh-proxy/);
    expect(cluster.get(DEPLOYMENTS, 'default', 'demo-clash'), 'deleted by the server').to.equal(undefined);
    expect(log.lines.find((l) => l.fields.action === 'failed')?.level).to.equal('error');
  });

  it('releases a workload uninjected with a warning when injection fails under failurePolicy Ignore', async function () {
    await startController();
    const clash = recordedDeployment('demo-clash-ignore');
    (clash.spec as { template: { spec: { volumes?: unknown[] } } }).template.spec.volumes = [{ name: 'mesh-config', hostPath: { path: '/etc' } }];
    cluster.put(DEPLOYMENTS, clash);
    await settle(() => cluster.patches().length === 1, 'release');
    expect(cluster.get(DEPLOYMENTS, 'default', 'demo-clash-ignore')?.metadata?.initializers).to.equal(undefined);
    expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'demo-clash-ignore'))).to.deep.equal(['app']);
    const line = log.lines.find((l) => l.fields.action === 'released');
    expect(line?.level).to.equal('warn');
    expect(String(line?.fields.reason)).to.include('mesh-config');
  });

  it('releases a Job untouched, with a warning and a Warning Event that say why and what to do', async function () {
    await startController();
    cluster.put(JOBS, job('j1'));
    await settle(() => cluster.patches().length === 1, 'release');
    await waitFor(() => cluster.requests.some((r) => r.method === 'POST'), 'event');
    const event = cluster.requests.find((r) => r.method === 'POST')!;
    expect(event.path).to.equal('/api/v1/namespaces/default/events');
    expect(event.body).to.deep.include({ reason: 'SidecarNotInjected', type: 'Warning', message: JOB_RELEASE_REASON });
    expect((event.body as { involvedObject: unknown }).involvedObject).to.deep.include({ kind: 'Job', name: 'j1', namespace: 'default', uid: 'uid-j1' });
    const ops = cluster.patches()[0]!.body as Array<{ path: string }>;
    expect(ops.map((op) => op.path)).to.deep.equal(['/metadata/initializers/pending/0/name', '/metadata/resourceVersion', '/metadata/initializers']);
    const line = log.lines.find((l) => l.fields.kind === 'Job');
    expect(line?.level).to.equal('warn');
    expect(line?.fields.reason).to.equal(JOB_RELEASE_REASON);
  });

  it('with --job-pods injects a Pod owned by a Job (placeholders from the Job) and releases any other Pod unchanged', async function () {
    cluster.put(JOBS, job('nightly', []));
    await startController({ jobPods: true });
    cluster.put(PODS, pod('nightly-abcde', { kind: 'Job', name: 'nightly' }));
    cluster.put(PODS, pod('web-7d9f-xyz', { kind: 'ReplicaSet', name: 'web-7d9f' }));
    await settle(() => cluster.patches().length === 2, 'two pod patches');
    const jobPod = cluster.get(PODS, 'default', 'nightly-abcde');
    expect(containerNames(jobPod, true)).to.deep.equal(['work', 'mesh-proxy']);
    const proxy = (jobPod!.spec as { containers: Array<{ args?: string[] }> }).containers[1]!;
    expect(proxy.args).to.deep.equal(['--serviceCluster', 'nightly', '--kind', 'Job']);
    const other = cluster.patches().find((p) => p.path.endsWith('/web-7d9f-xyz'))!;
    expect((other.body as Array<{ path: string }>).map((op) => op.path)).to.deep.equal(['/metadata/initializers/pending/0/name', '/metadata/resourceVersion', '/metadata/initializers']);
    expect(containerNames(cluster.get(PODS, 'default', 'web-7d9f-xyz'), true)).to.deep.equal(['work']);
  });

  it('uses an edited MeshConfig for the next workload and keeps the last valid one when an edit is invalid', async function () {
    await startController();
    cluster.put(MESHCONFIGS, meshConfig({ image: 'proxy:2', generation: 2 }));
    await waitFor(() => controller.meshConfigs.list()[0]?.generation === 2, 'MeshConfig update seen');
    const invalid = meshConfig({ generation: 3 });
    (invalid.spec as { policy: string }).policy = 'Sometimes';
    cluster.put(MESHCONFIGS, invalid);
    await waitFor(() => log.lines.some((l) => l.message === 'MeshConfig ignored'), 'invalid MeshConfig logged');
    cluster.put(DEPLOYMENTS, recordedDeployment('demo-v2'));
    await settle(() => cluster.patches().length === 1, 'patch');
    const stored = cluster.get(DEPLOYMENTS, 'default', 'demo-v2');
    const proxy = (stored!.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers[1]!;
    expect(proxy.image).to.equal('proxy:2');
    expect(String(log.lines.find((l) => l.message === 'MeshConfig ignored')?.fields.reason)).to.include('spec.policy');
    // The verdict is written to the MeshConfig's status for `kubectl get mc -o yaml`.
    await waitFor(() => (cluster.get(MESHCONFIGS, '', 'default')?.status as { observedGeneration?: number } | undefined)?.observedGeneration === 3, 'status of generation 3');
    const condition = (cluster.get(MESHCONFIGS, '', 'default')!.status as { conditions: Array<Record<string, string>> }).conditions[0]!;
    expect(condition).to.include({ type: 'Ready', status: 'False', reason: 'InvalidSpec' });
    expect(condition.message).to.include('spec.policy').and.include('the last valid version keeps serving');
  });

  it('starts, and ignores with a reason, a MeshConfig nested over a thousand levels deep (1.9 keeps any field)', async function () {
    const deep = meshConfig({ name: 'deep' });
    let nested: unknown = 'x';
    for (let i = 0; i < 1200; i++) nested = { nested };
    ((deep.spec as { sidecar: { containers: Array<Record<string, unknown>> } }).sidecar.containers[0]!).extra = nested;
    cluster.put(MESHCONFIGS, deep);
    await startController();
    const line = log.lines.find((l) => l.message === 'MeshConfig ignored' && l.fields.meshConfig === 'deep');
    expect(String(line?.fields.reason)).to.include('nested more than 1000 levels deep');
    expect(controller.meshConfigs.list().map((mc) => mc.name)).to.deep.equal(['default']);
  });

  it('counts in MeshConfig status the workloads it injected, from its caches, once they are initialized', async function () {
    await startController({ statusPeriodMs: 20 });
    for (const name of ['counted-1', 'counted-2']) cluster.put(DEPLOYMENTS, recordedDeployment(name));
    cluster.put(DEPLOYMENTS, recordedDeployment('opted-out', [OURS], { 'sidecar.meshinit.dev/inject': 'false' }));
    type Counted = { matchedWorkloads?: number; injectedWorkloads?: number; outdatedWorkloads?: number; conditions?: Array<{ reason: string }> };
    const statusOf = (): Counted | undefined => cluster.get(MESHCONFIGS, '', 'default')?.status as Counted | undefined;
    await waitFor(() => statusOf()?.injectedWorkloads === 2, 'two workloads counted as injected');
    expect(statusOf()).to.include({ matchedWorkloads: 3, injectedWorkloads: 2, outdatedWorkloads: 0 });
    expect(statusOf()?.conditions?.[0]?.reason).to.equal('Valid');
    // Settled: more recounts write nothing more.
    const writes = (): number => cluster.requests.filter((r) => r.method === 'PATCH' && r.path.includes('/meshconfigs/')).length;
    const before = writes();
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(writes()).to.equal(before);
  });

  it('writes no MeshConfig status while it is not the leader, but still injects', async function () {
    await startController({ statusPeriodMs: 20, isLeader: () => false });
    cluster.put(DEPLOYMENTS, recordedDeployment('not-leader'));
    await settle(() => cluster.patches().length === 1, 'the workload injected');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cluster.requests.filter((r) => r.method === 'PATCH' && r.path.includes('/meshconfigs/'))).to.deep.equal([]);
  });

  it('reports a valid MeshConfig in its status through the subresource, and through the main resource where there is none (1.9)', async function () {
    await startController();
    await waitFor(() => cluster.get(MESHCONFIGS, '', 'default')?.status !== undefined, 'status written');
    expect(cluster.requests.filter((r) => r.method === 'PATCH' && r.path === '/apis/meshinit.dev/v1alpha1/meshconfigs/default/status')).to.have.length(1);
    const condition = (cluster.get(MESHCONFIGS, '', 'default')!.status as { conditions: Array<Record<string, string>> }).conditions[0]!;
    expect(condition).to.include({ type: 'Ready', status: 'True', reason: 'Valid' });
    await controller.stop();

    // 1.9 drops the status subresource: /status answers 404 and status goes through the main resource.
    cluster.stop();
    cluster = new NockCluster(SERVER).start();
    cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    cluster.put(MESHCONFIGS, meshConfig({ generation: 0 }));
    cluster.statusSubresource = false;
    await startController();
    await waitFor(() => cluster.get(MESHCONFIGS, '', 'default')?.status !== undefined, 'status written on 1.9');
    const writes = cluster.requests.filter((r) => r.method === 'PATCH' && r.path.startsWith('/apis/meshinit.dev/v1alpha1/meshconfigs/default')).map((r) => r.path);
    expect(writes).to.deep.equal(['/apis/meshinit.dev/v1alpha1/meshconfigs/default/status', '/apis/meshinit.dev/v1alpha1/meshconfigs/default']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(cluster.requests.filter((r) => r.method === 'PATCH' && r.path.includes('/meshconfigs/')), 'no write loop after our own MODIFIED event').to.have.length(2);
  });

  it('never logs the bearer token', async function () {
    await startController();
    cluster.patchFaults.push([403, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'update to uninitialized resource denied' }]);
    cluster.put(DEPLOYMENTS, recordedDeployment('demo-r'));
    await settle(() => cluster.patches().length === 2, 'retry after 403');
    expect(log.lines.some((l) => l.message === 'Sync failed' && l.level === 'error')).to.equal(true);
    expect(JSON.stringify(log.lines)).to.not.include(TOKEN);
  });

  describe('when an input of the decision is missing, workloads are released, never held', function () {
    it('with no MeshConfig CRD: starts within the deadline, releases unchanged with the fix in the log and /readyz, and uses the CRD once installed, without a restart', async function () {
      cluster.refused.set(MESHCONFIGS, { code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' });
      const started = Date.now();
      await startController({ configSyncTimeoutMs: 200 });
      expect(Date.now() - started, 'start() waited at most the deadline').to.be.below(2000);
      cluster.put(DEPLOYMENTS, recordedDeployment('before-crd'));
      await settle(() => cluster.patches().length === 1, 'released');
      const released = cluster.get(DEPLOYMENTS, 'default', 'before-crd');
      expect(released?.metadata?.initializers, 'our entry removed').to.equal(undefined);
      expect(containerNames(released), 'nothing injected').to.deep.equal(['app']);
      const error = log.lines.find((l) => l.level === 'error' && l.message === 'MeshConfigs unavailable');
      expect(String(error?.fields.problem)).to.include('CRD is not installed').and.include('kubectl apply -f crds/meshconfig.v1beta1.yaml');
      const decision = log.lines.find((l) => l.message === 'Released without sidecar' && l.fields.name === 'before-crd');
      expect(decision?.level).to.equal('warn');
      expect(String(decision?.fields.reason)).to.include('no MeshConfig can be read').and.include('kubectl apply -f crds/meshconfig.v1beta1.yaml');
      expect(controller.ready()).to.equal(false);
      expect(controller.notReadyReason()).to.include('CRD is not installed');
      // Repeated failures of the same kind do not repeat the error line.
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(log.lines.filter((l) => l.level === 'error' && l.message === 'MeshConfigs unavailable')).to.have.length(1);

      cluster.refused.delete(MESHCONFIGS);
      await waitFor(() => controller.ready(), 'ready once the CRD is there');
      expect(log.lines.some((l) => l.message === 'MeshConfigs readable again')).to.equal(true);
      cluster.put(DEPLOYMENTS, recordedDeployment('after-crd'));
      await settle(() => cluster.patches().length === 2, 'injected');
      expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'after-crd'))).to.deep.equal(['app', 'mesh-proxy']);
    });

    it('a MeshConfig list that keeps failing (503) still lets start() finish at the deadline and lets workloads through', async function () {
      cluster.refused.set(MESHCONFIGS, { code: 503, reason: 'ServiceUnavailable', message: 'etcd is slow' });
      await startController({ configSyncTimeoutMs: 100 });
      cluster.put(DEPLOYMENTS, recordedDeployment('slow'));
      await settle(() => cluster.patches().length === 1, 'released');
      expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'slow'))).to.deep.equal(['app']);
      expect(controller.notReadyReason()).to.include('etcd is slow');
    });

    it('keeps using the MeshConfigs it has when the list fails later for a passing reason', async function () {
      await startController();
      cluster.refused.set(MESHCONFIGS, { code: 503, reason: 'ServiceUnavailable', message: 'etcd is slow' });
      cluster.dropWatches(MESHCONFIGS);
      await waitFor(() => log.lines.some((l) => l.message === 'MeshConfigs unavailable'), 'the failure seen');
      expect(controller.ready()).to.equal(true);
      cluster.put(DEPLOYMENTS, recordedDeployment('during-blip'));
      await settle(() => cluster.patches().length === 1, 'injected');
      expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'during-blip'))).to.deep.equal(['app', 'mesh-proxy']);
    });

    it('with namespaces unreadable (RBAC refuses them): releases unchanged with the reason instead of retrying forever', async function () {
      cluster.refused.set('api/v1/namespaces', { code: 403, reason: 'Forbidden', message: 'namespaces is forbidden: User "system:serviceaccount:meshinit-system:meshinit" cannot list namespaces' });
      await startController({ configSyncTimeoutMs: 100 });
      cluster.put(DEPLOYMENTS, recordedDeployment('no-ns'));
      await settle(() => cluster.patches().length === 1, 'released');
      expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'no-ns'))).to.deep.equal(['app']);
      const decision = log.lines.find((l) => l.message === 'Released without sidecar' && l.fields.name === 'no-ns');
      expect(String(decision?.fields.reason)).to.include('namespace default could not be read').and.include('403');
    });
  });

  it('with --namespace still watches every namespace: injects in the chosen one and releases the others at once, instead of leaving them pending', async function () {
    cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    await startController({ namespaces: ['team-a'] });
    const watched = cluster.requests.filter((r) => r.path.endsWith('/deployments') && r.query.get('watch') === 'true').map((r) => r.path);
    expect(watched.every((p) => p === '/apis/apps/v1/deployments'), `cluster-wide watches: ${watched.join(', ')}`).to.equal(true);
    const inTeamA = recordedDeployment('in-team-a');
    inTeamA.metadata!.namespace = 'team-a';
    cluster.put(DEPLOYMENTS, inTeamA);
    cluster.put(DEPLOYMENTS, recordedDeployment('elsewhere'));
    await settle(() => cluster.patches().length === 2, 'both handled');
    expect(containerNames(cluster.get(DEPLOYMENTS, 'team-a', 'in-team-a'))).to.deep.equal(['app', 'mesh-proxy']);
    const released = cluster.get(DEPLOYMENTS, 'default', 'elsewhere');
    expect(released?.metadata?.initializers, 'released, not left pending').to.equal(undefined);
    expect(containerNames(released)).to.deep.equal(['app']);
    const line = log.lines.find((l) => l.fields.name === 'elsewhere');
    expect(String(line?.fields.reason)).to.include('not one of meshinit\'s --namespace team-a');
  });

  it('a permanent refusal (403: RBAC without initialize) is logged once at error with the fix, then retried slowly at warn', async function () {
    await startController({ permanentRetryMs: 300 });
    const forbidden = [403, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'update to uninitialized resource denied' }] as [number, unknown];
    cluster.patchFaults.push(forbidden, forbidden);
    const started = Date.now();
    cluster.put(DEPLOYMENTS, recordedDeployment('no-rbac'));
    await settle(() => cluster.patches().length === 3, 'two refusals, then success');
    expect(Date.now() - started, 'two slow retries, not a tight loop').to.be.at.least(550);
    const failures = log.lines.filter((l) => l.message === 'Sync failed' && l.fields.name === 'no-rbac');
    expect(failures.map((l) => l.level)).to.deep.equal(['error', 'warn']);
    expect(String(failures[0]!.fields.fix)).to.include('kubectl apply -k manifests/initializer');
    expect(failures[0]!.fields.retryInMs).to.be.at.least(300);
    expect(containerNames(cluster.get(DEPLOYMENTS, 'default', 'no-rbac'))).to.deep.equal(['app', 'mesh-proxy']);
  });
});
