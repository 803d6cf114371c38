// Metrics moved by the real controller (HTTP client, informers, work queue, sync) against the nock
// API server, read back from the exposition text as Prometheus would; /metrics on the health
// listener; the webhook's action mapping; and that the registry is private to each instance.
import http from 'node:http';
import { expect } from 'chai';
import { register as globalRegistry } from 'prom-client';
import { startHealthServer } from '../controller/health.ts';
import { createInitializerController, type InitializerController } from '../controller/initializer/controller.ts';
import { createKubeApi } from '../controller/kube/api-client.ts';
import { createMemoryLogger } from '../controller/logger.ts';
import { Metrics } from '../controller/metrics.ts';
import { KeyedWorkQueue } from '../controller/initializer/work-queue.ts';
import { admissionEvent, ADMISSION_METRIC_ACTION, reportAdmission } from '../controller/webhook/report.ts';
import { admit } from '../controller/webhook/admission.ts';
import { createWebhookHandler } from '../controller/webhook/app.ts';
import type { KubeObject } from '../controller/core/types.ts';
import { meshConfig as parsedMeshConfig, rawMeshConfig } from './core/fixtures/helpers.ts';
import { SERVER, testKubeConfig, waitFor } from './kube/helpers.ts';
import { NockCluster } from './support/nock-cluster.ts';
import { waitUntil } from './e2e/cluster.ts';
import { scrape } from './support/metrics.ts';

const OURS = 'sidecar.initializer.example.com';
const DEPLOYMENTS = 'apis/apps/v1/deployments';
const JOBS = 'apis/batch/v1/jobs';
const MESHCONFIGS = 'apis/meshinit.dev/v1alpha1/meshconfigs';
const CONFLICT: [number, unknown] = [409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: 'the object has been modified' }];
const THROTTLED: [number, unknown] = [429, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'TooManyRequests', code: 429, message: 'too many requests' }];

function workload(kind: 'Deployment' | 'Job', name: string, options: { annotations?: Record<string, string>; createdSecondsAgo?: number } = {}): KubeObject {
  return {
    apiVersion: kind === 'Job' ? 'batch/v1' : 'apps/v1',
    kind,
    metadata: {
      name, namespace: 'default', uid: `uid-${name}`,
      creationTimestamp: new Date(Date.now() - (options.createdSecondsAgo ?? 0) * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
      initializers: { pending: [{ name: OURS }] },
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    spec: { template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }], ...(kind === 'Job' ? { restartPolicy: 'Never' } : {}) } } },
  };
}

describe('metrics', function () {
  describe('moved by the Initializer controller (nock API server)', function () {
    let cluster: NockCluster;
    let controller: InitializerController | undefined;
    let metrics: Metrics;

    beforeEach(async function () {
      cluster = new NockCluster(SERVER).start();
      cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
      cluster.put(MESHCONFIGS, rawMeshConfig('default', {}, 3));
      cluster.put(MESHCONFIGS, rawMeshConfig('broken', { policy: 'Sometimes' }, 1));
      metrics = new Metrics({ processMetrics: false });
      controller = createInitializerController(
        { namespaces: [], concurrency: 4, initializerName: OURS, controllerNamespace: 'meshinit-system', jobPods: false, resyncPeriodMs: 0, watchTimeoutSeconds: 60, backoff: { initialMs: 5, maxMs: 50 }, informerBackoff: { initialMs: 5, maxMs: 50 } },
        { api: createKubeApi(testKubeConfig()), log: createMemoryLogger(), metrics },
      );
      await controller.start();
    });

    afterEach(async function () {
      await controller?.stop();
      cluster.stop();
    });

    async function handled(kind: string, name: string): Promise<void> {
      const key = kind === 'Job' ? JOBS : DEPLOYMENTS;
      await waitFor(() => cluster.get(key, 'default', name)?.metadata?.initializers === undefined, `${name} released`);
      await controller!.idle();
    }

    it('decisions by action and reason code, conflicts, the wait since creationTimestamp, sync durations and Events', async function () {
      cluster.patchFaults.push(CONFLICT);
      cluster.put(DEPLOYMENTS, workload('Deployment', 'web', { createdSecondsAgo: 4 }));
      await handled('Deployment', 'web');
      cluster.put(DEPLOYMENTS, workload('Deployment', 'opted-out', { annotations: { 'sidecar.meshinit.dev/inject': 'false' } }));
      await handled('Deployment', 'opted-out');
      cluster.put(JOBS, workload('Job', 'report'));
      await handled('Job', 'report');
      // An Event is counted when the server has answered its POST.
      const samples = await waitUntil(async () => {
        const now = await scrape(metrics);
        return (now.get('meshinit_events_total{type="Normal",outcome="created"}') ?? 0) + (now.get('meshinit_events_total{type="Warning",outcome="created"}') ?? 0) === 3 ? now : undefined;
      }, 'three Events created');
      expect(samples.get('meshinit_decisions_total{mode="initializer",kind="Deployment",action="injected",reason="policy_enabled"}')).to.equal(1);
      expect(samples.get('meshinit_decisions_total{mode="initializer",kind="Deployment",action="skipped",reason="opted_out"}')).to.equal(1);
      expect(samples.get('meshinit_decisions_total{mode="initializer",kind="Job",action="released",reason="job_template_immutable"}')).to.equal(1);
      expect(samples.get('meshinit_conflicts_total{code="409"}')).to.equal(1);
      expect(samples.get('meshinit_sync_duration_seconds_count')).to.equal(3);
      expect(samples.get('meshinit_workload_wait_seconds_count')).to.equal(3);
      // web was created 4 s before it was put: its wait is in the (3, 5] bucket, the others in <= 1.
      expect(samples.get('meshinit_workload_wait_seconds_bucket{le="3"}')).to.equal(2);
      expect(samples.get('meshinit_workload_wait_seconds_bucket{le="5"}')).to.equal(3);
      expect(samples.get('meshinit_events_total{type="Normal",outcome="created"}')).to.equal(2);
      expect(samples.get('meshinit_events_total{type="Warning",outcome="created"}')).to.equal(1);
      const events = cluster.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/events')).map((r) => r.body as { reason: string; type: string; message: string; involvedObject: { name: string } });
      expect(events.map((e) => `${e.type} ${e.reason} ${e.involvedObject.name}`).sort()).to.deep.equal([
        'Normal InjectionSkipped opted-out', 'Normal SidecarInjected web', 'Warning SidecarNotInjected report',
      ]);
      expect(events.find((e) => e.reason === 'InjectionSkipped')!.message).to.equal('Deployment has annotation sidecar.meshinit.dev/inject: "false"');
    });

    it('MeshConfigs by validity and the generation in use; queue gauges; relists and watch restarts by resource', async function () {
      await waitFor(() => controller!.meshConfigs.list().length === 1, 'MeshConfig loaded');
      let samples = await scrape(metrics);
      expect(samples.get('meshinit_meshconfigs{validity="valid"}')).to.equal(1);
      expect(samples.get('meshinit_meshconfigs{validity="invalid"}')).to.equal(1);
      expect(samples.get('meshinit_meshconfig_generation{meshconfig="default"}')).to.equal(3);
      expect(samples.has('meshinit_meshconfig_generation{meshconfig="broken"}'), 'no version of it in use').to.equal(false);
      expect(samples.get('meshinit_workqueue_concurrency_limit')).to.equal(4);
      expect(samples.get('meshinit_workqueue_depth')).to.equal(0);
      expect(samples.get('meshinit_leader')).to.equal(1);
      // An invalid edit of `default`: counted invalid, the last valid generation keeps serving.
      cluster.put(MESHCONFIGS, rawMeshConfig('default', { policy: 'Sometimes' }, 4));
      await waitFor(() => cluster.requests.some((r) => r.path.endsWith('/meshconfigs/default/status') && JSON.stringify(r.body).includes('Sometimes')), 'invalid verdict');
      samples = await scrape(metrics);
      expect(samples.get('meshinit_meshconfigs{validity="invalid"}')).to.equal(2);
      expect(samples.get('meshinit_meshconfig_generation{meshconfig="default"}')).to.equal(3);
      // A watch the server ends is resumed (a restart); one that fails with 410 makes it list again.
      const before = cluster.watchCount(DEPLOYMENTS);
      cluster.dropWatches(DEPLOYMENTS);
      await waitFor(() => cluster.watchCount(DEPLOYMENTS) > before, 'watch resumed');
      samples = await scrape(metrics);
      expect(samples.get('meshinit_informer_watch_restarts_total{resource="deployments"}')).to.be.at.least(1);
      cluster.watchFaults.push([410, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' }]);
      cluster.dropWatches(DEPLOYMENTS);
      await waitUntil(async () => ((await scrape(metrics)).get('meshinit_informer_relists_total{resource="deployments"}') === 1 ? true : undefined), 'relist counted');
      // Deleting a MeshConfig removes its series.
      metrics.meshConfigRemoved('broken');
      samples = await scrape(metrics);
      expect(samples.get('meshinit_meshconfigs{validity="invalid"}')).to.equal(1);
    });

    it('a 429 is a retry, counted as throttled; a retry for any other reason is not', async function () {
      cluster.patchFaults.push(THROTTLED, [503, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'ServiceUnavailable', code: 503, message: 'etcd leader changed' }]);
      cluster.put(DEPLOYMENTS, workload('Deployment', 'busy'));
      await handled('Deployment', 'busy');
      const samples = await scrape(metrics);
      expect(samples.get('meshinit_workqueue_retries_total')).to.equal(2);
      expect(samples.get('meshinit_api_throttled_total')).to.equal(1);
      expect(samples.get('meshinit_workqueue_concurrency_limit'), 'halved by the 429').to.equal(2);
    });
  });

  it('the work queue reports how long its oldest key has waited, retries included, and 0 once empty', async function () {
    let clock = 1000;
    let fail = true;
    const queue = new KeyedWorkQueue({
      concurrency: 2, now: () => clock, backoff: { initialMs: 1, maxMs: 1 },
      handler: async () => { if (fail) throw new Error('refused'); },
    });
    const metrics = new Metrics({ processMetrics: false });
    metrics.observeQueue({ depth: () => queue.size, inFlight: () => queue.pending, concurrencyLimit: () => queue.concurrencyLimit, longestWaitingSeconds: () => queue.longestWaitingMs / 1000 });
    queue.add('Deployment/a/stuck');
    clock += 20_000;
    queue.add('Deployment/a/fresh');
    clock += 5_000;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await scrape(metrics)).get('meshinit_workqueue_longest_waiting_seconds'), 'the stuck key, retried meanwhile').to.equal(25);
    fail = false;
    await queue.onIdle();
    expect((await scrape(metrics)).get('meshinit_workqueue_longest_waiting_seconds')).to.equal(0);
    await queue.shutdown();
  });

  it('setLeader moves meshinit_leader (1 by default: no election means this replica writes)', async function () {
    const metrics = new Metrics({ processMetrics: false });
    expect((await scrape(metrics)).get('meshinit_leader')).to.equal(1);
    metrics.setLeader(false);
    expect((await scrape(metrics)).get('meshinit_leader')).to.equal(0);
    metrics.setLeader(true);
    expect((await scrape(metrics)).get('meshinit_leader')).to.equal(1);
  });

  it('each instance has a private registry: nothing lands in prom-client\'s global one, two instances do not collide', async function () {
    const a = new Metrics();
    const b = new Metrics();
    a.decision('webhook', 'Pod', 'injected', 'policy_enabled');
    expect((await scrape(b)).has('meshinit_decisions_total{mode="webhook",kind="Pod",action="injected",reason="policy_enabled"}')).to.equal(false);
    expect(await globalRegistry.metrics()).to.not.include('meshinit_');
    expect((await scrape(a)).get('meshinit_process_cpu_user_seconds_total'), 'process metrics, prefixed').to.be.a('number');
  });

  it('the workload wait ignores a missing or unreadable creationTimestamp and never goes negative', async function () {
    const metrics = new Metrics({ processMetrics: false });
    metrics.workloadWaited(undefined, Date.now());
    metrics.workloadWaited('yesterday', Date.now());
    metrics.workloadWaited(new Date(Date.now() + 2000).toISOString(), Date.now());
    const samples = await scrape(metrics);
    expect(samples.get('meshinit_workload_wait_seconds_count')).to.equal(1);
    expect(samples.get('meshinit_workload_wait_seconds_sum')).to.equal(0);
  });

  describe('webhook decisions', function () {
    const context = { target: 'pods' as const, namespace: (name: string) => ({ name, labels: {} }), meshConfigs: () => [parsedMeshConfig('default')], controllerNamespace: 'meshinit-system' };
    const review = (object: KubeObject, extra: { dryRun?: boolean; resource?: string; group?: string } = {}) => ({
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      request: { uid: 'r', resource: { group: extra.group ?? '', version: 'v1', resource: extra.resource ?? 'pods' }, namespace: 'shop', operation: 'CREATE', dryRun: extra.dryRun ?? false, object },
    });
    const rsPod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-7d9f-', labels: { 'pod-template-hash': '7d9f' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: 'rs-uid', controller: true }] }, spec: { containers: [{ name: 'app', image: 'a:1' }] } };

    it('map onto the Initializer mode\'s actions: allowed-uninjected is released, denied is failed', function () {
      expect(ADMISSION_METRIC_ACTION).to.deep.equal({ injected: 'injected', skipped: 'skipped', 'allowed-uninjected': 'released', denied: 'failed' });
    });

    it('a skip because another mesh is in the pod is a Warning Event, as in the Initializer mode; other skips are Normal', function () {
      const istioPod = { ...rsPod, spec: { initContainers: [{ name: 'istio-init', image: 'proxyv2' }], containers: [{ name: 'app', image: 'a:1' }, { name: 'istio-proxy', image: 'proxyv2' }] } };
      const decision = admit(review(istioPod), context).decision;
      expect(decision).to.deep.include({ action: 'skipped', code: 'other_mesh' });
      expect(admissionEvent(decision)).to.deep.include({ type: 'Warning', reason: 'InjectionSkipped' });
      const optedOut = { ...rsPod, metadata: { ...rsPod.metadata, annotations: { 'sidecar.meshinit.dev/inject': 'false' } } };
      expect(admissionEvent(admit(review(optedOut), context).decision)).to.deep.include({ type: 'Normal', reason: 'InjectionSkipped' });
    });

    it('a ReplicaSet\'s Pod is reported on the ReplicaSet (uid from its owner reference); a dry run and an unstored bare Pod without a name get no Event', async function () {
      const event = admissionEvent(admit(review(rsPod), context).decision);
      expect(event).to.deep.include({ type: 'Normal', reason: 'SidecarInjected' });
      expect(event!.object).to.deep.equal({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'shop', name: 'web-7d9f', uid: 'rs-uid' });
      expect(event!.resolvePath).to.equal(undefined);
      expect(admissionEvent(admit(review(rsPod, { dryRun: true }), context).decision)).to.equal(undefined);
      expect(admissionEvent(admit(review({ kind: 'Pod', metadata: { generateName: 'x-' }, spec: { containers: [{ name: 'a', image: 'a' }] } }), context).decision)).to.equal(undefined);
      const metrics = new Metrics({ processMetrics: false });
      const recorded: unknown[] = [];
      reportAdmission(admit(review(rsPod), context).decision, 0.002, { metrics, events: { record: (e) => recorded.push(e), idle: () => Promise.resolve(), stop: () => undefined } });
      const samples = await scrape(metrics);
      expect(samples.get('meshinit_decisions_total{mode="webhook",kind="Pod",action="injected",reason="policy_enabled"}')).to.equal(1);
      expect(samples.get('meshinit_admission_duration_seconds_count')).to.equal(1);
      expect(recorded).to.have.length(1);
    });

    it('the webhook handler counts every answer (cache hits too) and records the Event after the answer is sent', async function () {
      const metrics = new Metrics({ processMetrics: false });
      const recorded: string[] = [];
      let current: http.ServerResponse | undefined;
      const handler = createWebhookHandler({
        context, log: createMemoryLogger(), notReadyReason: () => undefined, now: () => performance.now(), metrics,
        events: { record: (e) => recorded.push(`${e.reason}, answer ${current?.writableEnded ? 'already sent' : 'not sent yet'}`), idle: () => Promise.resolve(), stop: () => undefined },
      });
      const server = http.createServer((request, response) => {
        current = response;
        handler(request, response);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as { port: number }).port;
        for (let i = 0; i < 2; i++) {
          const reply = await fetch(`http://127.0.0.1:${port}/inject`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(review(rsPod)) });
          expect(reply.status).to.equal(200);
        }
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
      expect(recorded).to.deep.equal(['SidecarInjected, answer already sent', 'SidecarInjected, answer already sent']);
      const samples = await scrape(metrics);
      expect(samples.get('meshinit_decisions_total{mode="webhook",kind="Pod",action="injected",reason="policy_enabled"}')).to.equal(2);
      expect(samples.get('meshinit_admission_duration_seconds_count')).to.equal(2);
    });

    it('a workload at CREATE has no uid yet: its Event reads it back from the workload\'s path', function () {
      const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: {}, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'a:1' }] } } } };
      const event = admissionEvent(admit(review(deployment, { group: 'apps', resource: 'deployments' }), { ...context, target: 'workloads' }).decision);
      expect(event!.object).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' });
      expect(event!.resolvePath).to.equal('/apis/apps/v1/namespaces/shop/deployments/web');
    });
  });

  describe('/metrics on the health listener', function () {
    function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
      return new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => { body += chunk.toString('utf8'); });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
        }).on('error', reject);
      });
    }

    it('serves the exposition text with Prometheus\'s content type, next to /healthz and /readyz; 404 without metrics', async function () {
      const metrics = new Metrics({ processMetrics: false });
      metrics.decision('initializer', 'Deployment', 'injected', 'policy_enabled');
      const server = await startHealthServer({ host: '127.0.0.1', port: 0 }, () => undefined, metrics);
      const bare = await startHealthServer({ host: '127.0.0.1', port: 0 }, () => undefined);
      try {
        const answer = await get(server.port(), '/metrics');
        expect(answer.status).to.equal(200);
        expect(answer.type).to.equal('text/plain; version=0.0.4; charset=utf-8');
        expect(answer.body).to.include('meshinit_decisions_total{mode="initializer",kind="Deployment",action="injected",reason="policy_enabled"} 1');
        expect((await get(server.port(), '/readyz')).status).to.equal(200);
        expect((await get(bare.port(), '/metrics')).status).to.equal(404);
      } finally {
        await server.close();
        await bare.close();
      }
    });
  });
});
