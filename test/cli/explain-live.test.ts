// `meshinit explain KIND/NAME` against a small fake API server over plain http: what it reads, the
// mode it picks, and each way reading can fail (exit 1, with what to do). The real servers are in
// test/e2e/explain.test.ts.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { rawMeshConfig } from '../core/fixtures/helpers.ts';
import { runExplain } from './helpers.ts';

type Routes = Record<string, { status: number; body: unknown }>;

const DEPLOYMENT = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'web', namespace: 'team-a', labels: { app: 'web' } },
  spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:1' }] } } },
};

const CRONJOB = {
  apiVersion: 'batch/v1beta1', kind: 'CronJob',
  metadata: { name: 'nightly', namespace: 'team-a' },
  spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: { metadata: { labels: { app: 'nightly' } }, spec: { restartPolicy: 'OnFailure', containers: [{ name: 'report', image: 'report:1' }] } } } } },
};

const BARE_POD = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', namespace: 'team-a', labels: { app: 'solo' } }, spec: { containers: [{ name: 'c', image: 'i' }] } };

function baseRoutes(): Routes {
  return {
    '/apis/admissionregistration.k8s.io/v1alpha1': { status: 404, body: { kind: 'Status', code: 404, message: 'not found' } },
    '/apis/apps/v1/namespaces/team-a/deployments/web': { status: 200, body: DEPLOYMENT },
    '/api/v1/namespaces/team-a': { status: 200, body: { metadata: { name: 'team-a', labels: { mesh: 'on' } } } },
    '/apis/meshinit.dev/v1alpha1/meshconfigs': { status: 200, body: { metadata: {}, items: [rawMeshConfig('team-mesh', { namespaceSelector: { matchLabels: { mesh: 'on' } } })] } },
  };
}

describe('meshinit explain KIND/NAME (live, against a fake API server)', function () {
  let server: http.Server;
  let routes: Routes;
  const requests: string[] = [];
  let dir: string;
  let kubeconfig: string;

  before(async () => {
    server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      const route = routes[(req.url ?? '').split('?')[0]!];
      res.writeHead(route?.status ?? 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(route?.body ?? { kind: 'Status', code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-explain-live-'));
    kubeconfig = path.join(dir, 'kubeconfig.yaml');
    const port = (server.address() as AddressInfo).port;
    // The context's namespace is explain's default, as it is kubectl's.
    fs.writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: fake',
      `clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${port}"}}]`,
      'users: [{name: me, user: {token: not-a-secret}}]',
      'contexts: [{name: fake, context: {cluster: fake, user: me, namespace: team-a}}]',
    ].join('\n'));
  });

  beforeEach(() => {
    routes = baseRoutes();
    requests.length = 0;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads the object, its namespace and the MeshConfigs with GETs and one LIST; no Initializers API: the webhook mode', async () => {
    const result = await runExplain(['deployment/web', '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(result.code, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout) as { explanations: Array<{ selected: string; namespace: { labels: unknown; labelsKnown: boolean }; decisions: unknown[] }>; notes: string[] };
    const [explained] = report.explanations;
    expect(explained!.selected).to.equal('team-mesh');
    expect(explained!.namespace).to.deep.include({ labels: { mesh: 'on' }, labelsKnown: true });
    expect(explained!.decisions).to.deep.equal([{ mode: 'webhook', action: 'injected', reason: 'selected by MeshConfig team-mesh (policy Enabled)', code: 'policy_enabled', meshConfig: 'team-mesh' }]);
    expect(report.notes[0]).to.include('webhook mode: what "meshinit run --mode auto" runs on this server (no Initializers)');
    expect(requests.every((line) => line.startsWith('GET '))).to.equal(true);
    expect(requests.map((line) => line.split('?')[0])).to.deep.equal([
      'GET /apis/admissionregistration.k8s.io/v1alpha1',
      'GET /version',
      'GET /apis/apps/v1/namespaces/team-a/deployments/web',
      'GET /api/v1/namespaces/team-a',
      'GET /apis/meshinit.dev/v1alpha1/meshconfigs',
    ]);
  });

  it('where Initializers are served: the initializer mode, and reads with includeUninitialized (a held object is visible)', async () => {
    routes['/apis/admissionregistration.k8s.io/v1alpha1'] = { status: 200, body: { resources: [{ name: 'initializerconfigurations' }] } };
    const result = await runExplain(['deploy/web', '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include('"mode": "initializer"');
    expect(requests).to.include('GET /apis/apps/v1/namespaces/team-a/deployments/web?includeUninitialized=true');
  });

  interface Decisions { explanations: Array<{ workload: { kind: string; name: string }; decisions: Array<{ mode: string; action: string; reason: string; code: string; targetPods?: string }> }>; notes: string[] }

  it('cj/NAME: asks discovery which batch version serves CronJobs (v1beta1 on 1.9-1.20) and reads it there', async () => {
    routes['/apis/batch/v1'] = { status: 200, body: { resources: [{ name: 'jobs' }, { name: 'jobs/status' }] } };
    routes['/apis/batch/v1beta1'] = { status: 200, body: { resources: [{ name: 'cronjobs' }, { name: 'cronjobs/status' }] } };
    routes['/apis/batch/v1beta1/namespaces/team-a/cronjobs/nightly'] = { status: 200, body: CRONJOB };
    const result = await runExplain(['cj/nightly', '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(result.code, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout) as Decisions;
    expect(report.explanations[0]!.workload).to.deep.include({ kind: 'CronJob', name: 'nightly' });
    expect(report.explanations[0]!.decisions).to.deep.equal([{
      mode: 'webhook', action: 'injected', reason: 'selected by MeshConfig team-mesh (policy Enabled)', code: 'policy_enabled', meshConfig: 'team-mesh',
      targetPods: 'the webhook with --target pods does not mutate CronJobs and injects their Jobs\' Pods',
    }]);
    expect(requests.map((line) => line.split('?')[0])).to.deep.equal([
      'GET /apis/admissionregistration.k8s.io/v1alpha1',
      'GET /version',
      'GET /apis/batch/v1',
      'GET /apis/batch/v1beta1',
      'GET /apis/batch/v1beta1/namespaces/team-a/cronjobs/nightly',
      'GET /api/v1/namespaces/team-a',
      'GET /apis/meshinit.dev/v1alpha1/meshconfigs',
    ]);
  });

  it('cronjob/NAME with --mode initializer: not held, said plainly; batch/v1 where it is served', async () => {
    routes['/apis/batch/v1'] = { status: 200, body: { resources: [{ name: 'jobs' }, { name: 'cronjobs' }] } };
    routes['/apis/batch/v1/namespaces/team-a/cronjobs/nightly'] = { status: 200, body: { ...CRONJOB, apiVersion: 'batch/v1' } };
    const result = await runExplain(['cronjob/nightly', '--mode', 'initializer', '--kubeconfig', kubeconfig, '-o', 'text']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include('Decision (initializer mode): not-held: the Initializer mode does not hold CronJobs: its InitializerConfiguration lists Deployments, StatefulSets, DaemonSets and Jobs');
    expect(requests.map((line) => line.split('?')[0])).to.include('GET /apis/batch/v1/namespaces/team-a/cronjobs/nightly').and.not.include('GET /apis/batch/v1beta1');
  });

  it('pod/NAME without a controller is explained as itself (the webhook with --target workloads injects it)', async () => {
    routes['/api/v1/namespaces/team-a/pods/solo'] = { status: 200, body: BARE_POD };
    const result = await runExplain(['pod/solo', '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(result.code, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout) as Decisions;
    expect(report.explanations[0]!.workload).to.deep.include({ kind: 'Pod', name: 'solo' });
    expect(report.explanations[0]!.decisions[0]).to.include({ action: 'injected', targetPods: 'the webhook with --target pods injects only Pods that have a controller' });
  });

  it('pod/NAME of a ReplicationController is explained as the ReplicationController, read from /api/v1; rs/NAME from apps/v1', async () => {
    const rc = { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'legacy', namespace: 'team-a' }, spec: { selector: { app: 'legacy' }, template: { metadata: { labels: { app: 'legacy' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } };
    routes['/api/v1/namespaces/team-a/pods/legacy-x7k2p'] = { status: 200, body: { ...BARE_POD, metadata: { name: 'legacy-x7k2p', namespace: 'team-a', ownerReferences: [{ apiVersion: 'v1', kind: 'ReplicationController', name: 'legacy', uid: 'u1', controller: true }] } } };
    routes['/api/v1/namespaces/team-a/replicationcontrollers/legacy'] = { status: 200, body: rc };
    const result = await runExplain(['pod/legacy-x7k2p', '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(result.code, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout) as Decisions;
    expect(report.explanations[0]!.workload).to.deep.include({ kind: 'ReplicationController', name: 'legacy' });
    expect(report.notes).to.include('Pod team-a/legacy-x7k2p belongs to ReplicationController team-a/legacy, explained here: a Pod is judged as its workload');
    const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-7d4b9', namespace: 'team-a', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u2', controller: true }] }, spec: { selector: { matchLabels: { app: 'web' } }, template: DEPLOYMENT.spec.template } };
    routes['/apis/apps/v1/namespaces/team-a/replicasets/web-7d4b9'] = { status: 200, body: rs };
    const copied = JSON.parse((await runExplain(['rs/web-7d4b9', '--kubeconfig', kubeconfig, '-o', 'json'])).stdout) as Decisions;
    expect(copied.explanations[0]!.decisions[0]).to.include({ action: 'skipped', code: 'template_copied' });
  });

  it('pod/NAME of a ReplicaSet follows the owner chain by reading it: to its Deployment, or the ReplicaSet itself when it has none', async () => {
    const rs = (owned: boolean): unknown => ({
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name: 'web-7d4b9', namespace: 'team-a', ...(owned ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u2', controller: true }] } : {}) },
      spec: { selector: { matchLabels: { app: 'web' } }, template: DEPLOYMENT.spec.template },
    });
    routes['/api/v1/namespaces/team-a/pods/web-7d4b9-x2x1z'] = { status: 200, body: { ...BARE_POD, metadata: { name: 'web-7d4b9-x2x1z', namespace: 'team-a', labels: { 'pod-template-hash': '7d4b9' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9', uid: 'u3', controller: true }] } } };
    routes['/apis/apps/v1/namespaces/team-a/replicasets/web-7d4b9'] = { status: 200, body: rs(true) };
    const viaDeployment = JSON.parse((await runExplain(['pod/web-7d4b9-x2x1z', '--kubeconfig', kubeconfig, '-o', 'json'])).stdout) as Decisions;
    expect(viaDeployment.explanations[0]!.workload).to.deep.include({ kind: 'Deployment', name: 'web' });
    expect(viaDeployment.notes).to.include('Pod team-a/web-7d4b9-x2x1z belongs to ReplicaSet team-a/web-7d4b9 of Deployment team-a/web, explained here: a Pod is judged as its workload');
    routes['/apis/apps/v1/namespaces/team-a/replicasets/web-7d4b9'] = { status: 200, body: rs(false) };
    requests.length = 0;
    const standalone = JSON.parse((await runExplain(['pod/web-7d4b9-x2x1z', '--kubeconfig', kubeconfig, '-o', 'json'])).stdout) as Decisions;
    expect(standalone.explanations[0]!.workload).to.deep.include({ kind: 'ReplicaSet', name: 'web-7d4b9' });
    expect(standalone.explanations[0]!.decisions[0]).to.include({ action: 'injected', targetPods: 'the webhook with --target pods does not mutate ReplicaSets and injects their Pods' });
    expect(requests.map((line) => line.split('?')[0])).to.not.include('GET /apis/apps/v1/namespaces/team-a/deployments/web-7d4b9');
  });

  const failures: Array<[string, (r: Routes) => void, RegExp]> = [
    ['the object is missing', (r) => { delete r['/apis/apps/v1/namespaces/team-a/deployments/web']; }, /^meshinit explain: Deployment team-a\/web not found on http:\/\/127\.0\.0\.1:\d+: check the name and the namespace \(-n\), e\.g\. kubectl get deployments -n team-a\n$/],
    ['the namespace is missing', (r) => { delete r['/api/v1/namespaces/team-a']; }, /namespace team-a not found/],
    ['no MeshConfig CRD', (r) => { delete r['/apis/meshinit.dev/v1alpha1/meshconfigs']; }, /MeshConfig CRD \(meshconfigs\.meshinit\.dev\) is not installed on this server, so meshinit injects nothing here; install it/],
    ['401', (r) => { r['/apis/apps/v1/namespaces/team-a/deployments/web'] = { status: 401, body: { kind: 'Status', code: 401, reason: 'Unauthorized', message: 'Unauthorized' } }; }, /does not accept the kubeconfig's credentials \(401 reading Deployment team-a\/web\)/],
    ['403 on the MeshConfig list', (r) => { r['/apis/meshinit.dev/v1alpha1/meshconfigs'] = { status: 403, body: { kind: 'Status', code: 403, reason: 'Forbidden', message: 'meshconfigs.meshinit.dev is forbidden: User "me" cannot list resource "meshconfigs"' } }; }, /forbidden: meshconfigs\.meshinit\.dev is forbidden: User "me" cannot list resource "meshconfigs" \(reading the MeshConfigs\)\. explain needs .*kubectl create clusterrole meshinit-explain/],
    ['500', (r) => { r['/api/v1/namespaces/team-a'] = { status: 500, body: { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd is down' } }; }, /reading namespace team-a: GET \/api\/v1\/namespaces\/team-a: 500 InternalError: etcd is down/],
    ['a malformed workload', (r) => { r['/apis/apps/v1/namespaces/team-a/deployments/web'] = { status: 200, body: { ...DEPLOYMENT, spec: {} } }; }, /Deployment team-a\/web is malformed, the controller would release it unchanged: Deployment web has no spec\.template\.spec\.containers list/],
    ['a CronJob on a server that serves none', (r) => { r['/apis/batch/v1'] = { status: 200, body: { resources: [{ name: 'jobs' }] } }; }, /^meshinit explain: http:\/\/127\.0\.0\.1:\d+ does not serve cronjobs \(none of batch\/v1, batch\/v1beta1, batch\/v2alpha1 lists them; CronJobs are batch\/v1beta1 from Kubernetes 1\.8, batch\/v2alpha1 before that only when enabled\), so there is no CronJob to explain\n$/],
    ['a DeploymentConfig off OpenShift', () => undefined, /does not serve deploymentconfigs \(none of apps\.openshift\.io\/v1 lists them; DeploymentConfigs exist only on OpenShift\)/],
    ['a Pod whose controller is no pod-template kind', (r) => { r['/api/v1/namespaces/team-a/pods/solo'] = { status: 200, body: { ...BARE_POD, metadata: { ...BARE_POD.metadata, ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Runner', name: 'r', uid: 'u', controller: true }] } } }; }, /Pod team-a\/solo: the Pod's controller is a Runner, not one of Deployment, StatefulSet, DaemonSet, Job/],
  ];
  for (const [what, change, message] of failures) {
    it(`exit 1 when ${what}, saying what to do`, async () => {
      change(routes);
      const ref = what.includes('CronJob') ? 'cj/nightly' : what.includes('DeploymentConfig') ? 'dc/frontend' : what.includes('Pod') ? 'pod/solo' : 'deployment/web';
      const result = await runExplain([ref, '--kubeconfig', kubeconfig]);
      expect(result.code, result.stdout).to.equal(1);
      expect(result.stdout).to.equal('');
      expect(result.stderr).to.match(message);
      expect(result.stderr, 'no credential in a message').to.not.include('not-a-secret');
    });
  }

  it('exit 1 for an unusable kubeconfig, an unreachable server, or no cluster at all', async () => {
    const missing = await runExplain(['deploy/web', '--kubeconfig', path.join(dir, 'nope.yaml')]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/^meshinit explain: the kubeconfig .*nope\.yaml cannot be used: /);
    const down = path.join(dir, 'down.yaml');
    fs.writeFileSync(down, fs.readFileSync(kubeconfig, 'utf8').replace(/127\.0\.0\.1:\d+/, '127.0.0.1:1'));
    const unreachable = await runExplain(['deploy/web', '--kubeconfig', down]);
    expect(unreachable.code).to.equal(1);
    expect(unreachable.stderr).to.include('is the API server reachable with this kubeconfig?');
    const empty = path.join(dir, 'empty.yaml');
    fs.writeFileSync(empty, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    const none = await runExplain(['deploy/web', '--kubeconfig', empty]);
    expect(none.code).to.equal(1);
    expect(none.stderr).to.include('no Kubernetes cluster configured');
  });
});
