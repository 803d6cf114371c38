// `helm install` of charts/meshinit on real kube-apiservers, exactly as README.md's "Install with
// Helm" says: the webhook mode on the modern v1.36.3, the Initializer mode on v1.13.0 and v1.9.11
// (where Helm cannot read the server's OpenAPI: the route without --create-namespace and with
// --disable-openapi-validation). Each time: what was installed is `helm template`'s output, every
// object is on the server with every field the chart sets, the compiled meshinit works with the
// installed CRD and RBAC as the chart's ServiceAccount, and `helm uninstall` keeps the CRD.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';
import { CONTROLLER, LEGACY_RELEASES, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { helm, mustHelm } from '../helm/helm.ts';
import { compareObjectSets, indexObjects, missingFields, objectKey, parseObjects, type Json } from '../helm/object-sets.ts';
import { collectionPath, freePort, MeshinitProcess, mustCreate, mustKubectl, waitForPendingList, waitUntil } from './cluster.ts';

const NS = 'meshinit-system';
const CHART = 'charts/meshinit';
const MESHCONFIGS = '/apis/meshinit.dev/v1alpha1/meshconfigs';
const DROPPED_BY_1_9 = ['spec.subresources', 'spec.additionalPrinterColumns'];

/**
 * `helm get manifest` is `helm template` with the same values, and every rendered object is on the
 * server with every field the chart sets (the server may add defaults). metadata.initializers is
 * the one exception: `pending: []` creates the Deployment already initialized, and the server then
 * drops the field. On 1.9 the CRD's status subresource and printer columns are dropped silently
 * (crds/meshconfig.v1beta1.yaml says so): those two fields are not looked for there.
 */
async function expectInstalled(plane: ControlPlane, values: string[]): Promise<Json[]> {
  const kubeconfig = plane.adminKubeconfigPath;
  const rendered = parseObjects((await mustHelm(['template', 'meshinit', CHART, '--namespace', NS, ...values])).stdout, 'helm template');
  const installed = parseObjects((await mustHelm(['get', 'manifest', 'meshinit', '--namespace', NS], { kubeconfig })).stdout, 'helm get manifest');
  const lines = compareObjectSets(indexObjects(rendered, 'template'), indexObjects(installed, 'release'), { left: 'helm template', right: 'helm get manifest' });
  expect(lines, lines.join('\n')).to.deep.equal([]);
  for (const live of await expectOnServer(plane, rendered)) {
    expect(((live.metadata as Json).annotations as Json)['meta.helm.sh/release-name'], objectKey(live)).to.equal('meshinit');
  }
  return rendered;
}

/** Every rendered object is on the server with every field it sets; returns them as the server has them. */
async function expectOnServer(plane: ControlPlane, rendered: Json[]): Promise<Json[]> {
  const dropped = plane.release === 'v1.9.11' ? DROPPED_BY_1_9 : [];
  const lives: Json[] = [];
  for (const object of rendered) {
    const metadata = object.metadata as Json;
    const reply = await plane.request('GET', `${collectionPath(object)}/${String(metadata.name)}`);
    expect(reply.status, `${objectKey(object)} on the server`).to.equal(200);
    const live = JSON.parse(reply.body) as Json;
    const expected = structuredClone(object);
    delete (expected.metadata as Json).initializers;
    const missing = missingFields(expected, live).filter((line) => !dropped.some((field) => line.startsWith(`${field}: `) && object.kind === 'CustomResourceDefinition'));
    expect(missing, `${objectKey(object)}:\n${missing.join('\n')}`).to.deep.equal([]);
    lives.push(live);
  }
  return lives;
}

/** Whether the server lets the chart's ServiceAccount do `verb` on `group/resource[/subresource]` (of that object, if given): a SubjectAccessReview. */
async function can(plane: ControlPlane, verb: string, resource: string, object: { namespace?: string; name?: string } = {}): Promise<boolean> {
  const [group, plural, subresource] = resource.split('/') as [string, string, string | undefined];
  const review = await mustCreate(plane, {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
    spec: { user: CONTROLLER.user, groups: CONTROLLER.groups, resourceAttributes: { verb, group, resource: plural, ...(subresource ? { subresource } : {}), ...object } },
  });
  return (review.status as { allowed?: boolean }).allowed === true;
}

async function meshConfigReady(plane: ControlPlane): Promise<Json> {
  return waitUntil(async () => {
    const mc = JSON.parse((await plane.request('GET', `${MESHCONFIGS}/default`)).body) as { status?: { conditions?: Json[] } };
    return mc.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
  }, 'meshinit\'s verdict in the MeshConfig status', 30_000);
}

/** helm uninstall keeps the CRD (and so every MeshConfig) and removes everything else. */
async function expectUninstalled(plane: ControlPlane, rendered: Json[]): Promise<void> {
  const result = await mustHelm(['uninstall', 'meshinit', '--namespace', NS], { kubeconfig: plane.adminKubeconfigPath });
  expect(result.stdout).to.include('These resources were kept due to the resource policy:\n[CustomResourceDefinition] meshconfigs.meshinit.dev');
  for (const object of rendered) {
    const metadata = object.metadata as Json;
    const status = (await plane.request('GET', `${collectionPath(object)}/${String(metadata.name)}`)).status;
    const kept = object.kind === 'CustomResourceDefinition';
    // A Namespace with --create-namespace is Helm's, not the release's: it is not in `rendered`.
    if (kept) expect(status, objectKey(object)).to.equal(200);
    else await waitUntil(async () => ((await plane.request('GET', `${collectionPath(object)}/${String(metadata.name)}`)).status === 404 ? true : undefined), `${objectKey(object)} deleted`);
  }
  expect((await plane.request('GET', `${MESHCONFIGS}/default`)).status, 'the MeshConfig outlives the release').to.equal(200);
}

describe('helm install charts/meshinit on a real kube-apiserver v1.36.3 (webhook mode)', function () {
  this.timeout(180_000);
  let plane: ControlPlane;
  let dir: string;
  let webhook: MeshinitProcess | undefined;
  let rendered: Json[] = [];
  let values: string[] = [];

  before(async function () {
    plane = await startControlPlane();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-helm-'));
    const certs = generateSelfSignedCertificates({ dnsNames: [`meshinit.${NS}.svc`, 'localhost'], ipAddresses: ['127.0.0.1'] });
    fs.writeFileSync(path.join(dir, 'ca.crt'), certs.caPem);
    fs.writeFileSync(path.join(dir, 'tls.crt'), certs.certPem);
    fs.writeFileSync(path.join(dir, 'tls.key'), certs.keyPem);
    values = ['--set', 'mode=webhook', '--set', `webhook.caBundle=${Buffer.from(certs.caPem).toString('base64')}`];
  });

  after(async function () {
    await webhook?.stop();
    await plane?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('installs with helm install --create-namespace --set mode=webhook, then the TLS Secret with kubectl', async function () {
    const result = await mustHelm(['install', 'meshinit', CHART, '--namespace', NS, '--create-namespace', ...values], { kubeconfig: plane.adminKubeconfigPath });
    expect(result.stdout).to.match(/STATUS: deployed\nREVISION: 1\n/);
    expect(result.stdout, 'NOTES.txt').to.include('meshinit (webhook mode) is installed');
    await mustKubectl(plane.adminKubeconfigPath, ['-n', NS, 'create', 'secret', 'tls', 'meshinit-webhook-tls', '--cert', path.join(dir, 'tls.crt'), '--key', path.join(dir, 'tls.key')]);
  });

  it('what was installed is helm template\'s output, and every object is on the server as rendered', async function () {
    rendered = await expectInstalled(plane, values);
    expect(rendered.map((o) => String(o.kind)).sort()).to.deep.equal(
      ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Deployment', 'MutatingWebhookConfiguration', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    const crd = rendered.find((o) => o.kind === 'CustomResourceDefinition')!;
    expect(crd.apiVersion).to.equal('apiextensions.k8s.io/v1');
  });

  it('the installed RBAC, as the server enforces it: the webhook\'s reads, MeshConfig status and Events, nothing more', async function () {
    for (const [verb, resource] of [['list', '/namespaces'], ['watch', 'apps/deployments'], ['get', 'apps/statefulsets'], ['list', 'batch/jobs'], ['get', 'batch/jobs'],
      ['list', 'meshinit.dev/meshconfigs'], ['patch', 'meshinit.dev/meshconfigs/status'], ['create', '/events'], ['patch', '/events']]) {
      expect(await can(plane, verb!, resource!), `${verb} ${resource}`).to.equal(true);
    }
    for (const [verb, resource] of [['get', '/secrets'], ['patch', 'apps/deployments'], ['patch', 'meshinit.dev/meshconfigs'], ['list', '/pods'], ['delete', '/events'], ['get', 'coordination.k8s.io/leases']]) {
      expect(await can(plane, verb!, resource!), `${verb} ${resource}`).to.equal(false);
    }
  });

  it('the compiled meshinit runs on the installed CRD and RBAC as the chart\'s ServiceAccount and judges the sample MeshConfig', async function () {
    await mustKubectl(plane.adminKubeconfigPath, ['apply', '-f', 'manifests/meshconfig-sample.yaml']);
    const port = await freePort();
    webhook = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--mode', 'webhook', '--health-addr', '', '--webhook-addr', `127.0.0.1:${port}`,
      '--tls-cert-file', path.join(dir, 'tls.crt'), '--tls-key-file', path.join(dir, 'tls.key')]);
    await webhook.waitForLog((l) => l.message === 'Webhook serving', 'webhook serving');
    expect(await meshConfigReady(plane)).to.include({ reason: 'Valid' });
    expect(await webhook.stop(), 'SIGTERM exits 0').to.equal(0);
  });

  it('helm upgrade --reuse-values --set replicas=3 changes the Deployment and keeps the caBundle', async function () {
    await mustHelm(['upgrade', 'meshinit', CHART, '--namespace', NS, '--reuse-values', '--set', 'replicas=3'], { kubeconfig: plane.adminKubeconfigPath });
    const deployment = JSON.parse((await plane.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/meshinit`)).body) as { spec: { replicas: number } };
    expect(deployment.spec.replicas).to.equal(3);
    await expectInstalled(plane, [...values, '--set', 'replicas=3']);
  });

  it('helm uninstall removes the release and keeps the CRD and the MeshConfigs', async function () {
    await expectUninstalled(plane, rendered);
  });
});

for (const release of LEGACY_RELEASES) {
  describe(`helm install charts/meshinit on a real kube-apiserver ${release} (Initializer mode)`, function () {
    this.timeout(180_000);
    let plane: ControlPlane;
    let meshinit: MeshinitProcess | undefined;
    let rendered: Json[] = [];
    let dir: string;
    // 1.9 serves no OpenAPI that Helm (client-go 0.37) can read; see the first test.
    const legacyFlags = release === 'v1.9.11' ? ['--disable-openapi-validation'] : [];
    const admin = (): string => plane.adminKubeconfigPath;

    before(async function () {
      plane = await startControlPlane({ release });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-helm-'));
    });

    after(async function () {
      await meshinit?.stop();
      await plane?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    if (release === 'v1.9.11') {
      it('helm install --create-namespace fails on 1.9 before creating anything: Helm validates its Namespace against an OpenAPI 1.9 does not serve', async function () {
        const result = await helm(['install', 'meshinit', CHART, '--namespace', NS, '--create-namespace', '--disable-openapi-validation'], { kubeconfig: admin() });
        expect(result.code).to.equal(1);
        expect(result.stderr).to.include('Error: INSTALLATION FAILED: error validating "": error validating data: failed to download openapi: the server could not find the requested resource');
        expect((await plane.request('GET', `/api/v1/namespaces/${NS}`)).status, 'no namespace').to.equal(404);
        const plain = await helm(['install', 'meshinit', CHART, '--namespace', 'default'], { kubeconfig: admin() });
        expect(plain.code, 'without --disable-openapi-validation').to.equal(1);
        expect(plain.stderr).to.include('unable to build kubernetes objects from release manifest: error validating "": error validating data: failed to download openapi');
        expect((await mustHelm(['list', '--all-namespaces', '-q'], { kubeconfig: admin() })).stdout.trim(), 'no release').to.equal('');
      });
    }

    it(release === 'v1.9.11'
      ? 'installs with kubectl create namespace and helm install --disable-openapi-validation'
      : 'installs with helm install --create-namespace (the default mode, initializer)', async function () {
      if (release === 'v1.9.11') await mustKubectl(admin(), ['create', 'namespace', NS]);
      const createNamespace = release === 'v1.9.11' ? [] : ['--create-namespace'];
      const result = await mustHelm(['install', 'meshinit', CHART, '--namespace', NS, ...createNamespace, ...legacyFlags], { kubeconfig: admin() });
      expect(result.stdout).to.match(/STATUS: deployed\nREVISION: 1\n/);
      expect(result.stdout, 'NOTES.txt').to.include('meshinit (Initializer mode) is installed');
    });

    it('what was installed is helm template\'s output; every object is on the server as rendered; the Deployment is not held', async function () {
      rendered = await expectInstalled(plane, []);
      expect(rendered.map((o) => String(o.kind)).sort()).to.deep.equal(
        ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Deployment', 'InitializerConfiguration', 'InitializerConfiguration', 'InitializerConfiguration', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'ServiceAccount']);
      expect(rendered.find((o) => o.kind === 'CustomResourceDefinition')!.apiVersion).to.equal('apiextensions.k8s.io/v1beta1');
      const deployment = JSON.parse((await plane.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/meshinit?includeUninitialized=true`)).body) as { metadata: Json };
      expect(deployment.metadata.initializers, 'initialized at once').to.equal(undefined);
    });

    it('the installed leader-election Role: the lock objects named meshinit in the release namespace, nothing else', async function () {
      for (const resource of ['coordination.k8s.io/leases', '/configmaps']) {
        for (const verb of ['get', 'update']) expect(await can(plane, verb, resource, { namespace: NS, name: 'meshinit' }), `${verb} ${resource} meshinit`).to.equal(true);
        expect(await can(plane, 'create', resource, { namespace: NS }), `create ${resource}`).to.equal(true);
        expect(await can(plane, 'update', resource, { namespace: NS, name: 'other' }), `update ${resource} other`).to.equal(false);
        expect(await can(plane, 'create', resource, { namespace: 'default' }), `create ${resource} in default`).to.equal(false);
        expect(await can(plane, 'list', resource, { namespace: NS }), `list ${resource}`).to.equal(false);
      }
    });

    it('the installed CRD, RBAC and InitializerConfigurations work: the compiled meshinit, as the chart\'s ServiceAccount, becomes leader on the lock the Role grants and injects a plain blocking create', async function () {
      await mustKubectl(admin(), ['apply', ...(release === 'v1.9.11' ? ['--validate=false'] : []), '-f', 'manifests/meshconfig-sample.yaml']);
      // Leader election is on (the default, as the chart's Deployment runs it): without the Role
      // meshinit would stand by forever and release nothing.
      meshinit = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--watch-timeout', '60s']);
      const leader = await meshinit.waitForLog((l) => l.message === 'Became leader', 'leadership', 30_000);
      // 1.9 serves no Lease (the ConfigMap lock); 1.13 serves coordination.k8s.io/v1beta1 (both, client-go's MultiLock).
      expect(leader.lockKind, 'the lock').to.equal(release === 'v1.9.11' ? 'ConfigMap' : 'Lease');
      const locks = [`/api/v1/namespaces/${NS}/configmaps/meshinit`, ...(release === 'v1.9.11' ? [] : [`/apis/coordination.k8s.io/v1beta1/namespaces/${NS}/leases/meshinit`])];
      for (const lock of locks) expect((await plane.request('GET', lock)).status, `${lock}, created under the Role`).to.equal(200);
      await meshinit.waitForLog((l) => l.message === 'Initializer controller running', 'the controller running', 30_000);
      await meshConfigReady(plane);
      await mustKubectl(admin(), ['create', 'namespace', 'e2e-helm']);
      const probe = (n: number): Json => ({
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `probe-${n}`, namespace: 'e2e-helm', annotations: { 'sidecar.meshinit.dev/inject': 'false' } },
        spec: { selector: { matchLabels: { app: 'probe' } }, template: { metadata: { labels: { app: 'probe' } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } },
      });
      await waitForPendingList(plane, probe, ['sidecar.initializer.meshinit.dev']);
      const web = { ...probe(0), metadata: { name: 'web', namespace: 'e2e-helm' } };
      const reply = await plane.request('POST', collectionPath(web), { body: web });
      expect(reply.status, reply.body).to.equal(201);
      const created = JSON.parse(reply.body) as { spec: { template: { spec: { containers: Array<{ name: string }> } } } };
      expect(created.spec.template.spec.containers.map((c) => c.name)).to.deep.equal(['app', 'mesh-proxy']);
      expect(await meshinit.stop(), 'SIGTERM exits 0').to.equal(0);
    });

    it('jobPods is refused on install and taken by helm upgrade --reuse-values: the Pods InitializerConfiguration, the pods rule, --job-pods', async function () {
      const refused = await helm(['install', 'other', CHART, '--namespace', NS, '--set', 'initializer.jobPods=true', ...legacyFlags], { kubeconfig: admin() });
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.include('initializer.jobPods is refused on a first install');
      await mustHelm(['upgrade', 'meshinit', CHART, '--namespace', NS, '--reuse-values', '--set', 'initializer.jobPods=true', ...legacyFlags], { kubeconfig: admin() });
      const installed = await expectInstalled(plane, ['--set', 'initializer.jobPods=true', '--is-upgrade']);
      expect(installed.filter((o) => o.kind === 'InitializerConfiguration').map((o) => (o.metadata as Json).name)).to.include('meshinit-pods');
      const deployment = JSON.parse((await plane.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/meshinit`)).body) as { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } };
      expect(deployment.spec.template.spec.containers[0]!.args.at(-1)).to.equal('--job-pods');
      expect(await can(plane, 'initialize', '/pods'), 'initialize pods').to.equal(true);
      rendered = installed;
    });

    it('uninstalls as README.md says: the InitializerConfigurations first, then helm uninstall, which keeps the CRD', async function () {
      await mustKubectl(admin(), ['delete', 'initializerconfigurations', '-l', 'app.kubernetes.io/name=meshinit']);
      await expectUninstalled(plane, rendered);
    });

    it('without a release: helm template --set namespace.create=true | kubectl apply -f - installs the same objects, the Namespace labelled', async function () {
      const { stdout } = await mustHelm(['template', 'meshinit', CHART, '--namespace', NS, '--set', 'namespace.create=true']);
      const file = path.join(dir, 'meshinit.yaml');
      fs.writeFileSync(file, stdout);
      await mustKubectl(admin(), ['apply', ...(release === 'v1.9.11' ? ['--validate=false'] : []), '-f', file]);
      const rendered = parseObjects(stdout, 'helm template');
      expect(rendered[0]!.kind, 'Helm puts the Namespace first').to.equal('Namespace');
      const lives = await expectOnServer(plane, rendered);
      expect(((lives[0]!.metadata as Json).labels as Json)['meshinit.dev/injection']).to.equal('disabled');
    });
  });
}
