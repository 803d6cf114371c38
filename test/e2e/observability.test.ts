// Metrics and Events on real API servers: the Initializer mode on kube-apiserver v1.9.11 and v1.13.0,
// the webhook mode on the modern one. /metrics is scraped before and after workloads are created,
// and the counters must move by exactly the decisions made; the Events must be on the objects
// (found by `kubectl describe`, which looks them up by uid), repeats counted on one Event, and a
// burst of 300 creates must write no more Events than the rate limit allows.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { createEventRecorder, DEFAULT_EVENT_BURST, DEFAULT_EVENT_RATE_PER_SECOND } from '../../controller/kube/events.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';
import { LEGACY_RELEASES, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { moved, scrapeUrl, total, type Samples } from '../support/metrics.ts';
import {
  freePort, installMeshConfigCrd, MeshinitProcess, mustCreate, mustKubectl, readYaml, waitForPendingList, waitUntil, type Json,
} from './cluster.ts';

const OURS = 'sidecar.initializer.meshinit.dev';
const APPS = 'e2e-obs';
const QUIET = 'e2e-obs-quiet';
const BURST = 300;
/** Events the rate limit allows by `seconds` after a burst began: the bucket, the rate, and the two writes in flight. */
const allowedEvents = (seconds: number): number => DEFAULT_EVENT_BURST + DEFAULT_EVENT_RATE_PER_SECOND * seconds + 2;

interface KubeEvent { reason: string; type: string; message: string; count: number; involvedObject: { kind: string; name: string; uid?: string }; source?: { component?: string } }

async function events(plane: ControlPlane, namespace: string): Promise<KubeEvent[]> {
  const reply = await plane.request('GET', `/api/v1/namespaces/${namespace}/events`);
  return ((JSON.parse(reply.body) as { items?: KubeEvent[] }).items ?? []).filter((e) => e.source?.component === 'meshinit');
}

function deployment(name: string, options: { namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> } = {}): Json {
  const labels = { app: name, ...(options.labels ?? {}) };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: options.namespace ?? APPS, labels, ...(options.annotations ? { annotations: options.annotations } : {}) },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } },
  };
}

function deployments(namespace: string): string {
  return `/apis/apps/v1/namespaces/${namespace}/deployments`;
}

/** Creates `count` Deployments named `prefix-NNN` with `creators` requests at once; `query` as for a held create. */
async function createMany(plane: ControlPlane, prefix: string, count: number, query: string): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (next < count) {
      const name = `${prefix}-${String(next++).padStart(3, '0')}`;
      const reply = await plane.request('POST', `${deployments(APPS)}${query}`, { body: deployment(name, { labels: { burst: prefix } }) });
      if (reply.status >= 300 && !(reply.status === 200 && reply.body === '')) throw new Error(`create ${name}: ${reply.status} ${reply.body}`);
    }
  }));
}

/** Waits until the samples at `url` satisfy `ready`, then returns them. */
function scrapeUntil(url: string, ready: (samples: Samples) => boolean, what: string): Promise<Samples> {
  return waitUntil(async () => {
    const samples = await scrapeUrl(url);
    return ready(samples) ? samples : undefined;
  }, what, 30_000);
}

/** The Events section of `kubectl describe`, for the log (README shows one). */
function eventsSection(describe: string): string {
  return describe.slice(describe.indexOf('Events:')).trimEnd();
}

const decision = (mode: string, kind: string, action: string, reason: string) =>
  `meshinit_decisions_total{mode="${mode}",kind="${kind}",action="${action}",reason="${reason}"}`;

for (const release of LEGACY_RELEASES) {
  describe(`metrics and Events in Initializer mode on a real kube-apiserver ${release}`, function () {
    this.timeout(120_000);
    let plane: ControlPlane;
    let meshinit: MeshinitProcess | undefined;
    let metricsUrl = '';
    const validate = release === 'v1.9.11' ? ['--validate=false'] : [];

    before(async function () {
      plane = await startControlPlane({ release });
      const admin = plane.adminKubeconfigPath;
      for (const [name, labels] of [[APPS, {}], [QUIET, { 'meshinit.dev/injection': 'disabled' }]] as const) {
        await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
      }
      await mustKubectl(admin, ['apply', ...validate, '-k', 'manifests/initializer']);
      await mustKubectl(admin, ['apply', ...validate, '-f', 'crds/meshconfig.v1beta1.yaml']);
      await mustKubectl(admin, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/meshconfigs.meshinit.dev']);
      await mustKubectl(admin, ['apply', ...validate, '-f', 'manifests/meshconfig-sample.yaml']);
      await waitForPendingList(plane, (n) => deployment(`probe-${n}`, { annotations: { 'sidecar.meshinit.dev/inject': 'false' } }), [OURS]);
      const healthPort = await freePort();
      metricsUrl = `http://127.0.0.1:${healthPort}/metrics`;
      meshinit = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', `127.0.0.1:${healthPort}`, '--watch-timeout', '60s']);
      await meshinit.waitForLog((l) => l.message === 'Initializer controller running', 'the controller running', 30_000);
      await scrapeUntil(metricsUrl, (s) => s.get('meshinit_ready') === 1 && s.get('meshinit_meshconfigs{validity="valid"}') === 1, 'ready, with the sample MeshConfig valid');
    });

    after(async function () {
      await meshinit?.stop();
      await plane?.stop();
    });

    it('/metrics: the counters move by exactly the decisions made, with reason codes; the wait histogram gets one sample per workload', async function () {
      const before = await scrapeUrl(metricsUrl);
      expect(before.get('meshinit_leader')).to.equal(1);
      expect(before.get('meshinit_meshconfig_generation{meshconfig="default"}'), 'generation in use (1.9 keeps none for custom resources)').to.equal(release === 'v1.9.11' ? 0 : 1);
      const blocking = [
        ...[0, 1, 2].map((i) => deployment(`web-${i}`)),
        ...[0, 1].map((i) => deployment(`opted-out-${i}`, { annotations: { 'sidecar.meshinit.dev/inject': 'false' } })),
        deployment('quiet-0', { namespace: QUIET }),
      ];
      for (const object of blocking) {
        const reply = await plane.request('POST', deployments(String((object.metadata as Json).namespace)), { body: object });
        expect(reply.status, reply.body.slice(0, 300)).to.equal(201);
      }
      const after = await scrapeUntil(metricsUrl, (s) => moved(before, s, 'meshinit_workload_wait_seconds_count') >= 6, 'six decisions counted');
      expect(moved(before, after, decision('initializer', 'Deployment', 'injected', 'policy_enabled'))).to.equal(3);
      expect(moved(before, after, decision('initializer', 'Deployment', 'skipped', 'opted_out'))).to.equal(2);
      expect(moved(before, after, decision('initializer', 'Deployment', 'skipped', 'namespace_disabled'))).to.equal(1);
      expect(total(after, 'meshinit_decisions_total') - total(before, 'meshinit_decisions_total'), 'no other decision').to.equal(6);
      expect(moved(before, after, 'meshinit_workload_wait_seconds_count')).to.equal(6);
      expect(moved(before, after, 'meshinit_sync_duration_seconds_count')).to.equal(6);
      // A blocking create waits for us; on an idle server that is well under 5 s (1 s resolution).
      expect(moved(before, after, 'meshinit_workload_wait_seconds_bucket{le="5"}')).to.equal(6);
    });

    it('Events: SidecarInjected on an injected Deployment (kubectl describe finds it), InjectionSkipped with the reason', async function () {
      const web = JSON.parse((await plane.request('GET', `${deployments(APPS)}/web-0`)).body) as { metadata: { uid: string } };
      const injected = await waitUntil(async () => (await events(plane, APPS)).find((e) => e.involvedObject.name === 'web-0' && e.reason === 'SidecarInjected'), 'SidecarInjected on web-0');
      expect(injected).to.deep.include({ type: 'Normal', count: 1, message: 'selected by MeshConfig default (policy Enabled)' });
      expect(injected.involvedObject).to.include({ kind: 'Deployment', uid: web.metadata.uid });
      const skipped = await waitUntil(async () => (await events(plane, APPS)).find((e) => e.involvedObject.name === 'opted-out-0'), 'an Event on opted-out-0');
      expect(skipped).to.deep.include({ type: 'Normal', reason: 'InjectionSkipped', message: 'Deployment has annotation sidecar.meshinit.dev/inject: "false"' });
      const quiet = await waitUntil(async () => (await events(plane, QUIET)).find((e) => e.involvedObject.name === 'quiet-0'), 'an Event on quiet-0');
      expect(quiet.message).to.equal(`namespace ${QUIET} has label meshinit.dev/injection=disabled`);
      const describe = await mustKubectl(plane.adminKubeconfigPath, ['describe', 'deployment', 'web-0', '-n', APPS]);
      expect(eventsSection(describe.stdout)).to.include('SidecarInjected').and.include('selected by MeshConfig default (policy Enabled)');
      console.log(`      kubectl describe deployment web-0 (${release}):\n${eventsSection(describe.stdout).replace(/^/gm, '        ')}`);
    });

    it('the same Event repeated 12 times on one object is ONE Event with count 12 on this server (the recorder driven directly)', async function () {
      // In this mode each object is decided once, so no decision repeats; the recorder is driven
      // here as an administrator (the Initializer ClusterRole grants no `patch` on Events).
      const kubeconfig = new KubeConfig();
      kubeconfig.loadFromFile(plane.adminKubeconfigPath);
      const recorder = createEventRecorder(createKubeApi(kubeconfig), createMemoryLogger());
      const web = JSON.parse((await plane.request('GET', `${deployments(APPS)}/web-1`)).body) as { metadata: { uid: string } };
      const record = { object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: APPS, name: 'web-1', uid: web.metadata.uid }, type: 'Normal' as const, reason: 'E2ERepeated', message: 'the same decision again' };
      for (let i = 0; i < 12; i++) recorder.record(record);
      await recorder.idle();
      let stored = (await events(plane, APPS)).filter((e) => e.reason === 'E2ERepeated');
      expect(stored.map((e) => e.count)).to.deep.equal([12]);
      for (let i = 0; i < 3; i++) recorder.record(record);
      await recorder.idle();
      stored = (await events(plane, APPS)).filter((e) => e.reason === 'E2ERepeated');
      expect(stored.map((e) => e.count), 'counted on the same Event (PATCH)').to.deep.equal([15]);
      recorder.stop();
    });

    it(`a burst of ${BURST} creates: every one decided and counted, and no more Events written than the rate limit allows`, async function () {
      const before = await scrapeUrl(metricsUrl);
      const started = Date.now();
      await createMany(plane, 'burst', BURST, '?includeUninitialized=1');
      await waitUntil(async () => {
        const list = JSON.parse((await plane.request('GET', `${deployments(APPS)}?includeUninitialized=true&labelSelector=burst`)).body) as { items: Array<{ metadata: { initializers?: unknown } }> };
        return list.items.length === BURST && list.items.every((d) => d.metadata.initializers === undefined) ? true : undefined;
      }, 'every burst Deployment initialized', 60_000);
      const seconds = (Date.now() - started) / 1000;
      const written = (await events(plane, APPS)).filter((e) => e.involvedObject.name.startsWith('burst-'));
      const after = await scrapeUrl(metricsUrl);
      expect(moved(before, after, decision('initializer', 'Deployment', 'injected', 'policy_enabled'))).to.equal(BURST);
      expect(moved(before, after, 'meshinit_workload_wait_seconds_count')).to.equal(BURST);
      expect(written.length, `Events after ${seconds.toFixed(1)} s`).to.be.at.most(allowedEvents(seconds));
      expect(written.length, 'the first ones get through (the bucket less the Warning reserve)').to.be.at.least(DEFAULT_EVENT_BURST - 5);
      const dropped = moved(before, after, 'meshinit_events_total{type="Normal",outcome="dropped"}');
      expect(moved(before, after, 'meshinit_events_total{type="Normal",outcome="created"}') + dropped, 'each decision at most one Event write or drop').to.be.at.most(BURST);
      // Dropped unless the burst was slow enough for the queue (200) and the rate to take it all.
      if (dropped > 0) expect(meshinit!.lines.some((l) => l.message === 'Events dropped' && l.level === 'warn'), 'the drop is logged').to.equal(true);
      console.log(`      ${BURST} creates in ${seconds.toFixed(1)} s: ${written.length} Events written (limit ${Math.floor(allowedEvents(seconds))}), ${dropped} dropped and counted, p99 wait bucket: ${JSON.stringify(Object.fromEntries([...after].filter(([k]) => k.startsWith('meshinit_workload_wait_seconds_bucket')).map(([k, v]) => [k.slice(k.indexOf('le=')), v - (before.get(k) ?? 0)])))}`);
    });
  });
}

describe('metrics and Events in webhook mode on a real kube-apiserver', function () {
  this.timeout(120_000);
  let plane: ControlPlane;
  let certDir: string;
  let pods: { process: MeshinitProcess; metrics: string } | undefined;
  let workloads: { process: MeshinitProcess; metrics: string } | undefined;
  let replicaSetUid = '';

  async function startWebhook(target: 'pods' | 'workloads', port: number) {
    const health = await freePort();
    const process = new MeshinitProcess([
      'run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', `127.0.0.1:${health}`, '--webhook-addr', `127.0.0.1:${port}`,
      '--tls-cert-file', path.join(certDir, 'tls.crt'), '--tls-key-file', path.join(certDir, 'tls.key'), '--target', target,
    ]);
    await process.waitForLog((l) => l.message === 'Webhook serving', `${target} webhook serving`);
    return { process, metrics: `http://127.0.0.1:${health}/metrics` };
  }

  function pod(options: { annotations?: Record<string, string> } = {}): Json {
    return {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        generateName: 'web-7d9f-', namespace: APPS, labels: { app: 'web', 'pod-template-hash': '7d9f' },
        ...(options.annotations ? { annotations: options.annotations } : {}),
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: replicaSetUid, controller: true }],
      },
      spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
    };
  }

  before(async function () {
    plane = await startControlPlane();
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-obs-'));
    const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    fs.writeFileSync(path.join(certDir, 'tls.crt'), certs.certPem);
    fs.writeFileSync(path.join(certDir, 'tls.key'), certs.keyPem);
    await installMeshConfigCrd(plane);
    for (const file of ['manifests/webhook/namespace.yaml', 'manifests/webhook/rbac.yaml']) for (const doc of readYaml(file)) await mustCreate(plane, doc);
    await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APPS } });
    await mustCreate(plane, readYaml('manifests/meshconfig-sample.yaml')[0]!);
    // The ReplicaSet the Pods belong to (no controller-manager runs here: it makes no Pods itself).
    const replicaSet = await plane.request('POST', `/apis/apps/v1/namespaces/${APPS}/replicasets`, { body: {
      apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-7d9f', namespace: APPS, labels: { app: 'web' } },
      spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } } },
    } });
    expect(replicaSet.status, replicaSet.body).to.equal(201);
    replicaSetUid = String((JSON.parse(replicaSet.body) as { metadata: { uid: string } }).metadata.uid);
    const shipped = readYaml('manifests/webhook/mutatingwebhookconfiguration.yaml')[0] as { webhooks: Json[] };
    const [podsPort, workloadsPort] = [await freePort(), await freePort()];
    const caBundle = Buffer.from(certs.caPem).toString('base64');
    await mustCreate(plane, {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'meshinit-e2e-obs' },
      webhooks: [
        { ...shipped.webhooks[0], clientConfig: { url: `https://127.0.0.1:${podsPort}/inject`, caBundle } },
        {
          ...shipped.webhooks[0], name: 'workloads.sidecar.meshinit.dev', clientConfig: { url: `https://127.0.0.1:${workloadsPort}/inject`, caBundle },
          rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'], scope: 'Namespaced' }],
        },
      ],
    });
    pods = await startWebhook('pods', podsPort);
    workloads = await startWebhook('workloads', workloadsPort);
    for (const { metrics } of [pods, workloads]) {
      await scrapeUntil(metrics, (s) => s.get('meshinit_ready') === 1 && s.get('meshinit_meshconfigs{validity="valid"}') === 1, 'ready, with the sample MeshConfig valid');
    }
  });

  after(async function () {
    await pods?.process.stop();
    await workloads?.process.stop();
    await plane?.stop();
    if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
  });

  it('/metrics: decisions by exactly the admissions made, with reason codes, and the admission histogram', async function () {
    const [podsBefore, workloadsBefore] = [await scrapeUrl(pods!.metrics), await scrapeUrl(workloads!.metrics)];
    for (let i = 0; i < 5; i++) await mustCreate(plane, pod());
    await mustCreate(plane, pod({ annotations: { 'sidecar.meshinit.dev/inject': 'false' } }));
    await mustCreate(plane, deployment('api'));
    const podsAfter = await scrapeUntil(pods!.metrics, (s) => moved(podsBefore, s, 'meshinit_admission_duration_seconds_count') >= 6, 'six Pod admissions');
    const workloadsAfter = await scrapeUntil(workloads!.metrics, (s) => moved(workloadsBefore, s, 'meshinit_admission_duration_seconds_count') >= 1, 'one Deployment admission');
    expect(moved(podsBefore, podsAfter, decision('webhook', 'Pod', 'injected', 'policy_enabled'))).to.equal(5);
    expect(moved(podsBefore, podsAfter, decision('webhook', 'Pod', 'skipped', 'opted_out'))).to.equal(1);
    expect(total(podsAfter, 'meshinit_decisions_total') - total(podsBefore, 'meshinit_decisions_total'), 'no other decision').to.equal(6);
    expect(moved(workloadsBefore, workloadsAfter, decision('webhook', 'Deployment', 'injected', 'policy_enabled'))).to.equal(1);
    expect(podsAfter.get('meshinit_leader'), 'webhook replicas are all active').to.equal(1);
  });

  it('Events: the ReplicaSet\'s five Pods make ONE SidecarInjected Event with count 5; the opt-out an InjectionSkipped; kubectl describe shows both', async function () {
    const injected = await waitUntil(async () => {
      const found = (await events(plane, APPS)).filter((e) => e.involvedObject.name === 'web-7d9f' && e.reason === 'SidecarInjected');
      return found.length === 1 && found[0]!.count === 5 ? found[0] : undefined;
    }, 'one SidecarInjected Event with count 5 on the ReplicaSet');
    expect(injected.involvedObject).to.include({ kind: 'ReplicaSet', uid: replicaSetUid });
    const skipped = (await events(plane, APPS)).filter((e) => e.involvedObject.name === 'web-7d9f' && e.reason === 'InjectionSkipped');
    expect(skipped.map((e) => [e.count, e.message]), 'judged as its workload').to.deep.equal([[1, 'Deployment has annotation sidecar.meshinit.dev/inject: "false"']]);
    const describe = await mustKubectl(plane.adminKubeconfigPath, ['describe', 'replicaset', 'web-7d9f', '-n', APPS]);
    expect(eventsSection(describe.stdout)).to.match(/SidecarInjected/).and.match(/\(x5 over/).and.match(/InjectionSkipped/);
    console.log(`      kubectl describe replicaset web-7d9f:\n${eventsSection(describe.stdout).replace(/^/gm, '        ')}`);
  });

  it('a Deployment decided at CREATE gets its Event once it is stored, with its uid (kubectl describe finds it); a dry run gets none', async function () {
    const api = JSON.parse((await plane.request('GET', `${deployments(APPS)}/api`)).body) as { metadata: { uid: string } };
    const injected = await waitUntil(async () => (await events(plane, APPS)).find((e) => e.involvedObject.name === 'api'), 'an Event on Deployment api');
    expect(injected).to.deep.include({ reason: 'SidecarInjected', type: 'Normal' });
    expect(injected.involvedObject).to.include({ kind: 'Deployment', uid: api.metadata.uid });
    const describe = await mustKubectl(plane.adminKubeconfigPath, ['describe', 'deployment', 'api', '-n', APPS]);
    expect(eventsSection(describe.stdout)).to.include('SidecarInjected');
    const dry = await plane.request('POST', `${deployments(APPS)}?dryRun=All`, { body: deployment('dry-run') });
    expect(dry.status).to.equal(201);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await events(plane, APPS)).filter((e) => e.involvedObject.name === 'dry-run')).to.deep.equal([]);
  });

  it(`a burst of ${BURST} Deployment creates writes no more Events than the rate limit allows`, async function () {
    const before = await scrapeUrl(workloads!.metrics);
    const started = Date.now();
    await createMany(plane, 'burst', BURST, '');
    // Queued Events keep going out at the rate after the burst: measure a little later, with the time.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const seconds = (Date.now() - started) / 1000;
    const written = (await events(plane, APPS)).filter((e) => e.involvedObject.name.startsWith('burst-'));
    const after = await scrapeUrl(workloads!.metrics);
    expect(moved(before, after, decision('webhook', 'Deployment', 'injected', 'policy_enabled'))).to.equal(BURST);
    expect(written.length, `Events after ${seconds.toFixed(1)} s`).to.be.at.most(allowedEvents(seconds));
    expect(written.length).to.be.at.least(DEFAULT_EVENT_BURST - 5);
    expect(written.every((e) => e.involvedObject.uid), 'each with the stored object\'s uid').to.equal(true);
    console.log(`      ${BURST} creates, measured after ${seconds.toFixed(1)} s: ${written.length} Events written (limit ${Math.floor(allowedEvents(seconds))}), ${moved(before, after, 'meshinit_events_total{type="Normal",outcome="dropped"}')} dropped and counted`);
  });
});
