// meshinit's webhook mode against a real kube-apiserver (v1.36, built by `make control-plane`):
// the CRD and manifests as the server takes them, the compiled meshinit serving real admission
// requests over TLS, and the shipped RBAC as the server enforces it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';
import { CONTROLLER, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { create, freePort, installMeshConfigCrd, MeshinitProcess, mustCreate, mustKubectl, readYaml, waitUntil, type Json } from './cluster.ts';

const MESHCONFIGS = '/apis/meshinit.dev/v1alpha1/meshconfigs';

function containerNames(spec: unknown): string[] {
  return ((spec as { containers?: Array<{ name: string }> }).containers ?? []).map((c) => c.name);
}

function pod(name: string, namespace: string, extra: { owner?: string; annotations?: Record<string, string>; hostNetwork?: boolean } = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name, namespace, labels: { app: name },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ...(extra.owner === undefined ? {} : { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: extra.owner, uid: '6b1f0c2e-0000-4000-8000-000000000001', controller: true }] }),
    },
    spec: { ...(extra.hostNetwork ? { hostNetwork: true } : {}), containers: [{ name: 'app', image: 'nginx:1.27' }] },
  };
}

describe('webhook mode on a real kube-apiserver', function () {
  this.timeout(180_000);
  let plane: ControlPlane;
  let certDir: string;
  let podsWebhook: MeshinitProcess | undefined;
  let workloadsWebhook: MeshinitProcess | undefined;

  async function startWebhook(target: 'pods' | 'workloads', port: number): Promise<MeshinitProcess> {
    const process = new MeshinitProcess([
      'run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--webhook-addr', `127.0.0.1:${port}`,
      '--tls-cert-file', path.join(certDir, 'tls.crt'), '--tls-key-file', path.join(certDir, 'tls.key'), '--target', target,
    ]);
    await process.waitForLog((l) => l.message === 'Webhook serving', `${target} webhook serving`);
    return process;
  }

  before(async function () {
    plane = await startControlPlane();
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-tls-'));
    const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    fs.writeFileSync(path.join(certDir, 'tls.crt'), certs.certPem);
    fs.writeFileSync(path.join(certDir, 'tls.key'), certs.keyPem);

    // The CRD, and the webhook install's namespace and RBAC, for real.
    await installMeshConfigCrd(plane);
    for (const file of ['manifests/webhook/namespace.yaml', 'manifests/webhook/rbac.yaml']) for (const doc of readYaml(file)) await mustCreate(plane, doc);
    await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-apps' } });
    await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-quiet', labels: { 'meshinit.dev/injection': 'disabled' } } });
    await mustCreate(plane, readYaml('manifests/meshconfig-sample.yaml')[0]!);

    // The real webhooks, registered by URL on 127.0.0.1 with their CA; rules and selectors as shipped.
    const shipped = readYaml('manifests/webhook/mutatingwebhookconfiguration.yaml')[0] as { webhooks: Json[] };
    const [podsPort, workloadsPort] = [await freePort(), await freePort()];
    const caBundle = Buffer.from(certs.caPem).toString('base64');
    await mustCreate(plane, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'meshinit-e2e' },
      webhooks: [
        { ...shipped.webhooks[0], clientConfig: { url: `https://127.0.0.1:${podsPort}/inject`, caBundle } },
        {
          ...shipped.webhooks[0], name: 'workloads.sidecar.meshinit.dev', clientConfig: { url: `https://127.0.0.1:${workloadsPort}/inject`, caBundle },
          rules: [
            { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], scope: 'Namespaced' },
            { apiGroups: ['batch'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['cronjobs'], scope: 'Namespaced' },
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['replicationcontrollers'], scope: 'Namespaced' },
          ],
        },
      ],
    });
    podsWebhook = await startWebhook('pods', podsPort);
    workloadsWebhook = await startWebhook('workloads', workloadsPort);
  });

  after(async function () {
    await podsWebhook?.stop();
    await workloadsWebhook?.stop();
    await plane?.stop();
    if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
  });

  it('the server rejects a MeshConfig that breaks the v1 CRD schema', async function () {
    const bad = { apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'bad' }, spec: { policy: 'Sometimes', sidecar: { containers: [{ name: 'p', image: 'p:1' }] } } };
    const reply = await create(plane, bad);
    expect(reply.status).to.equal(422);
    expect(JSON.stringify(reply.object)).to.include('spec.policy');
    const noSidecar = await create(plane, { apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'bad2' }, spec: {} });
    expect(noSidecar.status).to.equal(422);
  });

  it('meshinit wrote its verdict into the sample MeshConfig\'s status', async function () {
    const status = await waitUntil(async () => {
      const mc = JSON.parse((await plane.request('GET', `${MESHCONFIGS}/default`)).body) as { status?: { conditions?: Array<Record<string, string>> } };
      return mc.status?.conditions?.[0];
    }, 'MeshConfig status');
    expect(status).to.include({ type: 'Ready', status: 'True', reason: 'Valid' });
  });

  it('the whole webhook install applies to the server (server-side dry run)', async function () {
    for (const doc of readYaml('manifests/webhook/service.yaml').concat(readYaml('manifests/webhook/deployment.yaml'), readYaml('manifests/webhook/poddisruptionbudget.yaml'), readYaml('manifests/webhook/mutatingwebhookconfiguration.yaml'))) {
      const reply = await create(plane, doc, { dryRun: true });
      expect(reply.status, `${String(doc.kind)}: ${JSON.stringify(reply.object).slice(0, 300)}`).to.equal(201);
    }
  });

  it('injects Pods created through the API, with placeholders from the owning workload', async function () {
    const { status, object } = await create(plane, pod('db-0', 'e2e-apps', { owner: 'db' }));
    expect(status).to.equal(201);
    const spec = object.spec as { containers: Array<{ name: string; args?: string[] }>; initContainers?: Array<{ name: string }> };
    expect(containerNames(spec)).to.deep.equal(['app', 'mesh-proxy']);
    expect((spec.initContainers ?? []).map((c) => c.name)).to.deep.equal(['mesh-init']);
    const args = spec.containers[1]!.args ?? [];
    expect(args[args.indexOf('--serviceCluster') + 1]).to.equal('db');
    expect(((object.metadata as Json).annotations as Record<string, string>)['sidecar.meshinit.dev/status']).to.include('"meshConfig":"default"');
    await podsWebhook!.waitForLog((l) => l.message === 'Injected sidecar' && l.namespace === 'e2e-apps' && l.name === 'db-0', 'decision logged');
  });

  it('injects the pod template of a Deployment with --target workloads', async function () {
    const deployment = readYaml('examples/app.yaml').find((d) => d.kind === 'Deployment' && (d.metadata as Json).name === 'web')!;
    const { status, object } = await create(plane, { ...deployment, metadata: { ...(deployment.metadata as Json), namespace: 'e2e-apps' } });
    expect(status).to.equal(201);
    const template = (object.spec as { template: { spec: unknown } }).template;
    expect(containerNames(template.spec)).to.include('mesh-proxy');
  });

  it('injects a CronJob with --target workloads, in spec.jobTemplate.spec.template', async function () {
    const cronJob = readYaml('test/cli/golden/pod-template-kinds.yaml').find((d) => d.kind === 'CronJob' && d.apiVersion === 'batch/v1')!;
    const { status, object } = await create(plane, { ...cronJob, metadata: { ...(cronJob.metadata as Json), namespace: 'e2e-apps' } });
    expect(status, JSON.stringify(object).slice(0, 300)).to.equal(201);
    const template = (object.spec as { jobTemplate: { spec: { template: { metadata: Json; spec: unknown } } } }).jobTemplate.spec.template;
    expect(containerNames(template.spec)).to.deep.equal(['report', 'mesh-proxy']);
    expect((template.metadata.annotations as Record<string, string>)['sidecar.meshinit.dev/status']).to.include('"meshConfig":"default"');
    await workloadsWebhook!.waitForLog((l) => l.message === 'Injected sidecar' && l.kind === 'CronJob' && l.name === 'nightly-report', 'the CronJob decision');
  });

  it('injects a ReplicaSet and a ReplicationController with --target workloads; a Deployment\'s ReplicaSet is left to the Deployment', async function () {
    const kinds = readYaml('test/cli/golden/pod-template-kinds.yaml');
    for (const kind of ['ReplicaSet', 'ReplicationController']) {
      const manifest = kinds.find((d) => d.kind === kind)!;
      const { status, object } = await create(plane, { ...manifest, metadata: { ...(manifest.metadata as Json), namespace: 'e2e-apps' } });
      expect(status, `${kind}: ${JSON.stringify(object).slice(0, 300)}`).to.equal(201);
      expect(containerNames((object.spec as { template: { spec: unknown } }).template.spec), kind).to.include('mesh-proxy');
    }
    const replicaSet = kinds.find((d) => d.kind === 'ReplicaSet')!;
    const owned = { ...replicaSet, metadata: { name: 'web-6b7c8d9f5', namespace: 'e2e-apps', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: '6b1f0c2e-0000-4000-8000-000000000003', controller: true }] } };
    const { status, object } = await create(plane, owned);
    expect(status).to.equal(201);
    expect(containerNames((object.spec as { template: { spec: unknown } }).template.spec)).to.deep.equal(['php-redis']);
    const line = await workloadsWebhook!.waitForLog((l) => l.message === 'Skipped injection' && l.name === 'web-6b7c8d9f5', 'the skip of the Deployment\'s ReplicaSet');
    expect(String(line.reason)).to.match(/^its pod template is copied from its controller, Deployment web/);
  });

  it('skips an Istio-injected Deployment with --target workloads: no second proxy, the reason logged at warn, a warning for kubectl', async function () {
    // Created with kubectl, as a user would: the API server hands admission warnings to the client,
    // and kubectl prints them on stderr.
    const ratings = readYaml('test/cli/golden/other-mesh.yaml').find((d) => (d.metadata as Json).name === 'ratings')!;
    const file = path.join(certDir, 'ratings.json');
    fs.writeFileSync(file, JSON.stringify({ ...ratings, metadata: { ...(ratings.metadata as Json), namespace: 'e2e-apps' } }));
    const created = await mustKubectl(plane.adminKubeconfigPath, ['create', '-f', file]);
    console.log(`        kubectl create -f ratings.json:\n${created.stderr}${created.stdout}`);
    expect(created.stderr).to.match(/^Warning: meshinit did not inject its sidecar: the pod template belongs to another mesh, Istio/m);
    expect(created.stdout).to.include('deployment.apps/ratings created');
    const object = JSON.parse((await plane.request('GET', '/apis/apps/v1/namespaces/e2e-apps/deployments/ratings')).body) as Json;
    const template = (object.spec as { template: { spec: { initContainers?: Array<{ name: string }> } } }).template;
    expect(containerNames(template.spec)).to.deep.equal(['ratings', 'istio-proxy']);
    expect((template.spec.initContainers ?? []).map((c) => c.name)).to.deep.equal(['istio-init']);
    const line = await workloadsWebhook!.waitForLog((l) => l.message === 'Skipped injection' && l.name === 'ratings', 'the skip of ratings');
    expect(line).to.include({ level: 'warn', otherMesh: 'Istio', kind: 'Deployment' });
    expect(String(line.reason)).to.match(/^the pod template belongs to another mesh, Istio \(init container istio-init, container istio-proxy, annotation sidecar\.istio\.io\/status\)/);
  });

  it('judges a Pod as its Deployment: the Pod of a Deployment annotated inject: "false" is not injected, and the log names the Deployment', async function () {
    const report = readYaml('examples/app.yaml').find((d) => d.kind === 'Deployment' && (d.metadata as Json).name === 'report')!;
    expect(((report.metadata as Json).annotations as Record<string, string>)['sidecar.meshinit.dev/inject']).to.equal('false');
    expect((await create(plane, { ...report, metadata: { ...(report.metadata as Json), namespace: 'e2e-apps' } })).status).to.equal(201);
    // What the ReplicaSet controller would create: the template's labels and annotations (the
    // Deployment's own opt-out annotation is not on the template), owned by report-<hash>.
    const template = (report.spec as { template: { metadata: Json; spec: Json } }).template;
    const podOfReport = (name: string): Json => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name, namespace: 'e2e-apps', labels: { ...(template.metadata.labels as Json), 'pod-template-hash': '6b7c8d9f5' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'report-6b7c8d9f5', uid: '6b1f0c2e-0000-4000-8000-000000000002', controller: true }],
      },
      spec: template.spec,
    });
    // The webhook's Deployment cache is a watch behind the create: wait until a dry run shows it.
    await waitUntil(async () => {
      const dry = await create(plane, podOfReport('report-probe'), { dryRun: true });
      return containerNames(dry.object.spec).includes('mesh-proxy') ? undefined : true;
    }, 'the Deployment in the webhook\'s cache');
    const { status, object } = await create(plane, podOfReport('report-6b7c8d9f5-x1'));
    expect(status).to.equal(201);
    expect(containerNames(object.spec)).to.not.include('mesh-proxy');
    const line = await podsWebhook!.waitForLog((l) => l.message === 'Skipped injection' && l.name === 'report-6b7c8d9f5-x1', 'the skip');
    expect(line.decidedFrom).to.equal('Deployment/report');
    expect(String(line.reason)).to.include('sidecar.meshinit.dev/inject: "false"');
  });

  it('respects opt-out annotations, disabled namespaces, system namespaces and hostNetwork', async function () {
    const cases: Array<[string, Json]> = [
      ['opt-out', pod('opted-out', 'e2e-apps', { owner: 'db', annotations: { 'sidecar.meshinit.dev/inject': 'false' } })],
      ['disabled namespace', pod('quiet', 'e2e-quiet', { owner: 'db' })],
      ['system namespace', pod('sys', 'kube-system', { owner: 'db' })],
      ['hostNetwork', pod('hostnet', 'e2e-apps', { owner: 'db', hostNetwork: true })],
      ['bare Pod', pod('bare', 'e2e-apps')],
    ];
    for (const [what, object] of cases) {
      const reply = await create(plane, object);
      expect(reply.status, what).to.equal(201);
      expect(containerNames(reply.object.spec), what).to.deep.equal(['app']);
    }
    await podsWebhook!.waitForLog((l) => l.name === 'hostnet' && String(l.reason).includes('hostNetwork'), 'hostNetwork reason');
  });

  it('uses an edited MeshConfig for the next Pod', async function () {
    const mc = JSON.parse((await plane.request('GET', `${MESHCONFIGS}/default`)).body) as { metadata: { generation: number }; spec: { sidecar: { containers: Array<{ image: string }> } } };
    const ops = [{ op: 'replace', path: '/spec/sidecar/containers/0/image', value: 'ghcr.io/meshinit/proxy:2.0.0' }];
    const patched = await plane.request('PATCH', `${MESHCONFIGS}/default`, { body: ops, contentType: 'application/json-patch+json' });
    expect(patched.status).to.equal(200);
    await podsWebhook!.waitForLog((l) => l.message === 'MeshConfig loaded' && l.generation === mc.metadata.generation + 1, 'new generation loaded');
    const { object } = await create(plane, pod('db-1', 'e2e-apps', { owner: 'db' }));
    const proxy = (object.spec as { containers: Array<{ name: string; image: string }> }).containers.find((c) => c.name === 'mesh-proxy');
    expect(proxy?.image).to.equal('ghcr.io/meshinit/proxy:2.0.0');
  });

  it('with the webhook stopped and failurePolicy Ignore, creates still succeed, uninjected', async function () {
    expect(await podsWebhook!.stop(), 'SIGTERM exits 0').to.equal(0);
    const reply = await create(plane, pod('db-2', 'e2e-apps', { owner: 'db' }));
    expect(reply.status).to.equal(201);
    expect(containerNames(reply.object.spec)).to.deep.equal(['app']);
  });

  describe('the shipped ClusterRoles, as the server enforces them (SubjectAccessReview)', function () {
    async function allowed(identity: { user: string; groups?: string[] }, attributes: Json): Promise<boolean> {
      const review = await mustCreate(plane, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: identity.user, groups: identity.groups ?? [], resourceAttributes: attributes } });
      return (review.status as { allowed?: boolean }).allowed === true;
    }
    const can = (verb: string, resource: string, group = '', subresource?: string): Json => ({ verb, resource, group, ...(subresource ? { subresource } : {}) });

    it('webhook identity: reads namespaces, workloads and MeshConfigs, writes MeshConfig status, nothing more', async function () {
      for (const attributes of [can('list', 'namespaces'), can('watch', 'namespaces'), can('list', 'meshconfigs', 'meshinit.dev'), can('watch', 'meshconfigs', 'meshinit.dev'), can('patch', 'meshconfigs', 'meshinit.dev', 'status'),
        can('list', 'deployments', 'apps'), can('watch', 'statefulsets', 'apps'), can('watch', 'daemonsets', 'apps'), can('list', 'jobs', 'batch')]) {
        expect(await allowed(CONTROLLER, attributes), JSON.stringify(attributes)).to.equal(true);
      }
      for (const attributes of [can('get', 'secrets'), can('list', 'secrets'), can('list', 'configmaps'), can('create', 'pods'), can('patch', 'deployments', 'apps'), can('update', 'meshconfigs', 'meshinit.dev'), can('delete', 'meshconfigs', 'meshinit.dev'), can('patch', 'mutatingwebhookconfigurations', 'admissionregistration.k8s.io')]) {
        expect(await allowed(CONTROLLER, attributes), JSON.stringify(attributes)).to.equal(false);
      }
    });

    it('initializer identity: patch and initialize on the four workload kinds, no Secrets, no Pods without the overlay', async function () {
      const initializer = { user: 'system:serviceaccount:meshinit-initializer:meshinit', groups: ['system:serviceaccounts'] };
      const rbac = readYaml('manifests/initializer/rbac.yaml');
      const role = rbac.find((d) => d.kind === 'ClusterRole')!;
      await mustCreate(plane, { ...role, metadata: { name: 'meshinit-initializer-e2e' } });
      await mustCreate(plane, {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'meshinit-initializer-e2e' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshinit-initializer-e2e' },
        subjects: [{ kind: 'User', name: initializer.user, apiGroup: 'rbac.authorization.k8s.io' }],
      });
      await waitUntil(async () => ((await allowed(initializer, can('list', 'deployments', 'apps'))) ? true : undefined), 'binding in effect');
      for (const [group, resource] of [['apps', 'deployments'], ['apps', 'statefulsets'], ['apps', 'daemonsets'], ['batch', 'jobs']] as const) {
        for (const verb of ['list', 'watch', 'patch', 'initialize']) expect(await allowed(initializer, can(verb, resource, group)), `${verb} ${resource}`).to.equal(true);
        expect(await allowed(initializer, can('delete', resource, group)), `delete ${resource}`).to.equal(false);
      }
      for (const attributes of [can('get', 'secrets'), can('patch', 'pods'), can('create', 'pods'), can('update', 'meshconfigs', 'meshinit.dev')]) {
        expect(await allowed(initializer, attributes), JSON.stringify(attributes)).to.equal(false);
      }
    });
  });

  describe('mode selection on this server (no Initializers since 1.14)', function () {
    it('--mode auto picks the webhook and says why', async function () {
      const auto = podsWebhook!.lines.find((l) => l.message === 'Mode selected');
      expect(auto).to.include({ mode: 'webhook' });
      expect(String(auto?.why)).to.include('no Initializers API');
    });

    it('--mode initializer exits 1 with a message saying Initializers were removed and what to use', async function () {
      const process = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--mode', 'initializer']);
      expect(await process.exited).to.equal(1);
      const line = process.lines.find((l) => l.message === 'Initializers unavailable');
      expect(String(line?.error)).to.include('removed in Kubernetes 1.14').and.include('--mode webhook');
    });
  });
});
