// The local control plane itself: starts, serves the pinned version, authenticates both
// identities, enforces RBAC, and leaves nothing behind. Runs under `npm run test:e2e` only
// (needs `make control-plane`).

import { existsSync } from 'node:fs';
import { expect } from 'chai';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CONTROLLER, portClosed, startControlPlane, type ControlPlane } from './control-plane.ts';

describe('local control plane (etcd + kube-apiserver)', function () {
  this.timeout(120_000);
  let plane: ControlPlane | undefined;

  before(async function () {
    const t0 = Date.now();
    plane = await startControlPlane();
    console.log(`      control plane ${plane.kubeVersion} (etcd ${plane.etcdVersion}) ready at ${plane.server} in ${Date.now() - t0} ms`);
  });

  after(async function () {
    await plane?.stop();
  });

  it('serves /version with the pinned Kubernetes version', async function () {
    const res = await plane!.request('GET', '/version');
    expect(res.status).to.equal(200);
    const version = JSON.parse(res.body) as { gitVersion: string; major: string; minor: string };
    expect(version.gitVersion).to.equal(plane!.kubeVersion);
    expect(`v${version.major}.${version.minor}.`).to.equal(plane!.kubeVersion.replace(/\d+$/, ''));
  });

  it('lets the admin kubeconfig create a namespace and a ConfigMap with @kubernetes/client-node', async function () {
    const kc = new KubeConfig();
    kc.loadFromFile(plane!.adminKubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'cp-smoke' } } });
    await core.createNamespacedConfigMap({
      namespace: 'cp-smoke',
      body: { metadata: { name: 'hello' }, data: { greeting: 'hi' } },
    });
    const cm = await core.readNamespacedConfigMap({ namespace: 'cp-smoke', name: 'hello' });
    expect(cm.data).to.deep.equal({ greeting: 'hi' });
    expect(cm.metadata?.uid).to.be.a('string').that.is.not.empty;
  });

  it('authenticates the controller identity as the meshinit ServiceAccount, with no permissions yet', async function () {
    const review = await plane!.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      as: CONTROLLER,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(review.status).to.equal(201);
    const info = (JSON.parse(review.body) as { status: { userInfo: { username: string; groups: string[] } } }).status.userInfo;
    expect(info.username).to.equal('system:serviceaccount:meshinit-system:meshinit');
    expect(info.groups).to.include.members(['system:serviceaccounts', 'system:serviceaccounts:meshinit-system', 'system:authenticated']);

    const secrets = await plane!.request('GET', '/api/v1/secrets', { as: CONTROLLER });
    expect(secrets.status).to.equal(403);

    // Through the client library and the controller kubeconfig too.
    const kc = new KubeConfig();
    kc.loadFromFile(plane!.controllerKubeconfigPath);
    const error = await kc.makeApiClient(CoreV1Api).listNamespace().then(() => undefined, (e: unknown) => e);
    expect((error as { code?: number } | undefined)?.code).to.equal(403);
  });

  it('applies a binding whose subject is the ServiceAccount meshinit-system/meshinit to the controller identity', async function () {
    const role = await plane!.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      body: { metadata: { name: 'cp-smoke-list-namespaces' }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['list'] }] },
    });
    expect(role.status, role.body).to.equal(201);
    const binding = await plane!.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      body: {
        metadata: { name: 'cp-smoke-list-namespaces' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cp-smoke-list-namespaces' },
        subjects: [{ kind: 'ServiceAccount', name: 'meshinit', namespace: 'meshinit-system' }],
      },
    });
    expect(binding.status, binding.body).to.equal(201);
    // The RBAC authorizer reads bindings from its informer: allow a moment.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await plane!.request('GET', '/api/v1/namespaces', { as: CONTROLLER })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).to.equal(200);
    expect((await plane!.request('GET', '/api/v1/secrets', { as: CONTROLLER })).status).to.equal(403);

    await plane!.request('DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cp-smoke-list-namespaces');
    await plane!.request('DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterroles/cp-smoke-list-namespaces');
  });

  it('stops: ports closed, temporary folder removed, stop() idempotent', async function () {
    const { ports, dir } = plane!;
    expect(existsSync(dir)).to.equal(true);
    await plane!.stop();
    for (const port of Object.values(ports)) expect(await portClosed(port), `port ${port}`).to.equal(true);
    if (process.env["MESHINIT_KEEP_CONTROL_PLANE"] !== "1") expect(existsSync(dir)).to.equal(false);
    await plane!.stop();
  });
});
