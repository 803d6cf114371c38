// spec.sidecar.nativeSidecar on real API servers. On today's server (v1.36) a Job gets the proxy as
// an init container with restartPolicy Always, read back from the server (which keeps the field),
// both where the webhook injects the Job's template (--target workloads) and where it injects the
// Job's Pod (--target pods); the Job controller makes the Pod and kwok runs it, so the Job reaches
// Complete. (kwok completes any Job's Pod, whatever its containers: Complete shows that the
// injected Pod is valid and schedulable and that the Job goes through, not the kubelet stopping the
// proxy after the app, which only a real kubelet does.) On the Initializer-era servers (v1.13.0, v1.9.11) Auto falls back to a
// regular container and says so in the log, and Always is an injection error that goes through
// failurePolicy: the workload is released without a sidecar, never held.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';
import { LEGACY_RELEASES, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { freePort, installMeshConfigCrd, MeshinitProcess, mustCreate, mustKubectl, readYaml, runCommand, waitForPendingList, waitUntil, type Json } from './cluster.ts';

interface Container { name: string; image?: string; restartPolicy?: string }
interface PodSpec { containers: Container[]; initContainers?: Container[] }

const names = (list: Container[] | undefined): string[] => (list ?? []).map((c) => c.name);

/** A MeshConfig with an iptables init container and a proxy, as the sample has, and nativeSidecar set. */
function meshConfig(name: string, nativeSidecar: 'Auto' | 'Always', extra: Json = {}): Json {
  return {
    apiVersion: 'meshinit.dev/v1alpha1',
    kind: 'MeshConfig',
    metadata: { name },
    spec: {
      selector: { matchLabels: { native: name } },
      sidecar: {
        nativeSidecar,
        initContainers: [{ name: 'mesh-init', image: 'registry.example.com/mesh/proxy-init:1.4.2' }],
        containers: [{ name: 'mesh-proxy', image: 'registry.example.com/mesh/envoy:1.8.0', args: ['proxy', '--serviceCluster', '{{workload.name}}'] }],
      },
      ...extra,
    },
  };
}

function job(name: string, namespace: string, label: string): Json {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels: { native: label } },
    spec: {
      template: {
        metadata: { labels: { native: label } },
        spec: {
          restartPolicy: 'Never',
          initContainers: [{ name: 'fetch', image: 'busybox:1.36', command: ['true'] }],
          containers: [{ name: 'work', image: 'busybox:1.36', command: ['true'] }],
        },
      },
    },
  };
}

describe('nativeSidecar on a real kube-apiserver v1.36 (webhook mode)', function () {
  this.timeout(180_000);
  let plane: ControlPlane;
  let certDir: string;
  const webhooks: MeshinitProcess[] = [];

  async function startWebhook(target: 'pods' | 'workloads', port: number): Promise<MeshinitProcess> {
    const process = new MeshinitProcess([
      'run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--webhook-addr', `127.0.0.1:${port}`,
      '--tls-cert-file', path.join(certDir, 'tls.crt'), '--tls-key-file', path.join(certDir, 'tls.key'), '--target', target,
    ]);
    webhooks.push(process);
    await process.waitForLog((l) => l.message === 'Webhook serving', `${target} webhook serving`);
    return process;
  }

  before(async function () {
    // The Job controller makes the Pods and kwok runs them on a fake Node, so the Job can complete.
    plane = await startControlPlane({ controllers: true });
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-native-'));
    const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    fs.writeFileSync(path.join(certDir, 'tls.crt'), certs.certPem);
    fs.writeFileSync(path.join(certDir, 'tls.key'), certs.keyPem);
    await installMeshConfigCrd(plane);
    for (const file of ['manifests/webhook/namespace.yaml', 'manifests/webhook/rbac.yaml']) for (const doc of readYaml(file)) await mustCreate(plane, doc);
    // One namespace per target, so each object is mutated by exactly one of the two webhooks.
    for (const target of ['pods', 'workloads']) await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `native-${target}`, labels: { 'native-target': target } } });
    await mustCreate(plane, meshConfig('jobs', 'Auto'));
    const [podsPort, workloadsPort] = [await freePort(), await freePort()];
    const caBundle = Buffer.from(certs.caPem).toString('base64');
    const webhook = (target: string, port: number, rule: Json): Json => ({
      name: `${target}.native.meshinit.dev`, admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 10,
      clientConfig: { url: `https://127.0.0.1:${port}/inject`, caBundle },
      namespaceSelector: { matchLabels: { 'native-target': target } },
      rules: [{ operations: ['CREATE'], scope: 'Namespaced', ...rule }],
    });
    await mustCreate(plane, {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'meshinit-native-e2e' },
      webhooks: [
        webhook('pods', podsPort, { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }),
        webhook('workloads', workloadsPort, { apiGroups: ['batch'], apiVersions: ['v1'], resources: ['jobs'] }),
      ],
    });
    await startWebhook('pods', podsPort);
    await startWebhook('workloads', workloadsPort);
  });

  after(async function () {
    for (const process of webhooks) await process.stop();
    await plane?.stop();
    if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
  });

  it('the v1 CRD refuses a nativeSidecar outside Auto, Always, Never', async function () {
    const reply = await plane.request('POST', '/apis/meshinit.dev/v1alpha1/meshconfigs', { body: meshConfig('typo', 'auto' as 'Auto') });
    expect(reply.status).to.equal(422);
    expect(reply.body).to.include('spec.sidecar.nativeSidecar').and.include('supported values');
  });

  it('says at start-up that this server runs native sidecars', async function () {
    const line = await webhooks[0]!.waitForLog((l) => l.message === 'Connected to the API server', 'the start-up line');
    console.log(`        ${JSON.stringify(line)}`);
    expect(line.serverVersion).to.equal('v1.36.3');
    expect(String(line.nativeSidecars)).to.match(/^supported: /);
    expect(webhooks[0]!.lines.some((l) => l.message === 'MeshConfig sidecar layout differs from what it asks'), 'Auto is native here: nothing to say').to.equal(false);
  });

  /** Waits for the Job's condition Complete, then returns its one Pod (made by the Job controller, run by kwok). */
  async function completedPodOf(namespace: string, name: string): Promise<{ metadata: Json; spec: PodSpec; status: Json }> {
    const started = Date.now();
    try {
      await waitUntil(async () => {
        const stored = JSON.parse((await plane.request('GET', `/apis/batch/v1/namespaces/${namespace}/jobs/${name}`)).body) as { status?: { conditions?: Array<{ type: string; status: string }> } };
        return stored.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? true : undefined;
      }, `Job ${namespace}/${name} to be Complete`, 60_000);
    } catch (error) {
      const job = (await plane.request('GET', `/apis/batch/v1/namespaces/${namespace}/jobs/${name}`)).body;
      const pods = (await plane.request('GET', `/api/v1/namespaces/${namespace}/pods`)).body;
      const events = (await plane.request('GET', `/api/v1/namespaces/${namespace}/events`)).body;
      throw new Error(`${(error as Error).message}\nJob: ${job.slice(-1500)}\nPods: ${pods.slice(0, 4000)}\nEvents: ${events.slice(0, 3000)}`);
    }
    console.log(`        Job ${namespace}/${name} Complete ${Date.now() - started} ms after the create was answered`);
    const pods = JSON.parse((await plane.request('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/job-name=${name}`)}`)).body) as { items: Array<{ metadata: Json; spec: PodSpec; status: Json }> };
    expect(pods.items).to.have.length(1);
    return pods.items[0]!;
  }

  function expectNativeProxy(spec: PodSpec, what: string): void {
    expect(names(spec.initContainers), what).to.deep.equal(['mesh-init', 'mesh-proxy', 'fetch']);
    expect(spec.initContainers![1], what).to.include({ restartPolicy: 'Always', image: 'registry.example.com/mesh/envoy:1.8.0' });
    expect(spec.initContainers![0], what).to.not.have.property('restartPolicy');
    expect(names(spec.containers), what).to.deep.equal(['work']);
  }

  it('--target workloads: a Job\'s template gets the proxy as an init container with restartPolicy Always, as the server stores it, and the Job completes', async function () {
    const created = await mustCreate(plane, job('migrate', 'native-workloads', 'jobs'));
    const stored = JSON.parse((await plane.request('GET', '/apis/batch/v1/namespaces/native-workloads/jobs/migrate')).body) as Json;
    expectNativeProxy(((created.spec as Json).template as { spec: PodSpec }).spec, 'the create\'s answer');
    expectNativeProxy(((stored.spec as Json).template as { spec: PodSpec }).spec, 'the stored Job');
    const template = (stored.spec as Json).template as { metadata: { annotations: Record<string, string> } };
    expect(JSON.parse(template.metadata.annotations['sidecar.meshinit.dev/status']!)).to.deep.include({ initContainers: ['mesh-init', 'mesh-proxy'], containers: [] });
    // The Job controller's Pod is a copy of that template; kwok runs it to Succeeded.
    const pod = await completedPodOf('native-workloads', 'migrate');
    expectNativeProxy(pod.spec, 'the Job\'s Pod');
    expect(pod.status.phase).to.equal('Succeeded');
  });

  it('--target pods: the Job controller\'s Pod gets the proxy as an init container with restartPolicy Always, as the server stores it, and the Job completes', async function () {
    const owner = await mustCreate(plane, job('report', 'native-pods', 'jobs'));
    const template = (owner.spec as Json).template as { metadata: Json; spec: PodSpec };
    expect(names(template.spec.initContainers), 'the Job itself is not mutated with --target pods').to.deep.equal(['fetch']);
    const pod = await completedPodOf('native-pods', 'report');
    expectNativeProxy(pod.spec, 'the Job\'s Pod');
    expect(pod.status.phase).to.equal('Succeeded');
    // At admission the Pod has only its generateName (report-): the line names the Job it was judged as.
    const line = await webhooks[0]!.waitForLog((l) => l.message === 'Injected sidecar' && l.kind === 'Pod' && l.decidedFrom === 'Job/report', 'the Pod decision');
    expect(line).to.include({ meshConfig: 'jobs', name: 'report-', namespace: 'native-pods' });
  });

  it('explain says how the sidecar goes in on this server, and that the Job carries the current injection', async function () {
    const text = await runCommand(process.execPath, ['bin/meshinit.js', 'explain', 'job/migrate', '-n', 'native-workloads', '--kubeconfig', plane.adminKubeconfigPath]);
    expect(text.code, text.stderr).to.equal(0);
    console.log(text.stdout.replace(/^/gm, '        '));
    expect(text.stdout).to.include('  Sidecar layout (nativeSidecar Auto, server v1.36.3): native sidecars (its containers as init containers with restartPolicy Always)\n');
    expect(text.stdout).to.match(/Carries now: the current injection \(MeshConfig jobs/);
    const json = await runCommand(process.execPath, ['bin/meshinit.js', 'explain', 'job/migrate', '-n', 'native-workloads', '--kubeconfig', plane.adminKubeconfigPath, '-o', 'json']);
    const explained = (JSON.parse(json.stdout) as { explanations: Array<{ sidecarLayout: Json; injection: { initContainers: Array<{ name: string }> } }> }).explanations[0]!;
    expect(explained.sidecarLayout).to.deep.equal({ meshConfig: 'jobs', nativeSidecar: 'Auto', layout: 'native', server: 'v1.36.3' });
  });
});

for (const release of LEGACY_RELEASES) {
  describe(`nativeSidecar on a real kube-apiserver ${release} (Initializer mode)`, function () {
    this.timeout(180_000);
    let plane: ControlPlane;
    let dir: string;
    let meshinit: MeshinitProcess | undefined;
    const validate = release === 'v1.9.11' ? ['--validate=false'] : [];

    async function apply(objects: Json[]): Promise<void> {
      const file = path.join(dir, `apply-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
      fs.writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
      await mustKubectl(plane.adminKubeconfigPath, ['apply', ...validate, '-f', file]);
    }

    function deployment(name: string, label: string): Json {
      return {
        apiVersion: 'apps/v1', kind: 'Deployment',
        metadata: { name, namespace: 'native-apps', labels: { native: label } },
        spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name, native: label } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } },
      };
    }

    /** A plain POST, as kubectl create sends it: answered once every initializer is done. */
    async function createBlocking(object: Json): Promise<{ status: number; json: Json; ms: number }> {
      const started = Date.now();
      const reply = await plane.request('POST', '/apis/apps/v1/namespaces/native-apps/deployments', { body: object });
      return { status: reply.status, json: JSON.parse(reply.body) as Json, ms: Date.now() - started };
    }

    before(async function () {
      plane = await startControlPlane({ release });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-native-legacy-'));
      await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'native-apps' } }]);
      await mustKubectl(plane.adminKubeconfigPath, ['apply', ...validate, '-k', 'manifests/initializer']);
      await mustKubectl(plane.adminKubeconfigPath, ['apply', ...validate, '-f', 'crds/meshconfig.v1beta1.yaml']);
      await mustKubectl(plane.adminKubeconfigPath, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/meshconfigs.meshinit.dev']);
      await apply([meshConfig('auto', 'Auto'), meshConfig('always', 'Always'), meshConfig('always-fail', 'Always', { failurePolicy: 'Fail' })]);
      await waitForPendingList(plane, (n) => ({ ...deployment(`probe-${n}`, 'none'), metadata: { name: `probe-${n}`, namespace: 'native-apps', annotations: { 'sidecar.meshinit.dev/inject': 'false' } } }), ['sidecar.initializer.meshinit.dev']);
      meshinit = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--watch-timeout', '60s']);
      await meshinit.waitForLog((l) => l.message === 'Initializer controller running', 'the controller running', 30_000);
    });

    after(async function () {
      await meshinit?.stop();
      await plane?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('says at start-up that the server has no native sidecars, and for each MeshConfig asking for them what it does instead', async function () {
      const connected = await meshinit!.waitForLog((l) => l.message === 'Connected to the API server', 'the start-up line');
      expect(connected.serverVersion).to.equal(release);
      expect(String(connected.nativeSidecars)).to.match(/^not supported \(Kubernetes 1\.29\+\)/);
      const auto = await meshinit!.waitForLog((l) => l.message === 'MeshConfig sidecar layout differs from what it asks' && l.meshConfig === 'auto', 'the Auto fallback line');
      console.log(`        ${JSON.stringify(auto)}`);
      expect(auto).to.include({ level: 'info', nativeSidecar: 'Auto', layout: 'containers', serverVersion: release });
      expect(String(auto.reason)).to.include(`the API server is ${release} and native sidecars (init containers with restartPolicy: Always) need Kubernetes 1.29 or newer, so the sidecar is injected as regular containers`);
      const always = await meshinit!.waitForLog((l) => l.meshConfig === 'always' && l.message === 'MeshConfig sidecar layout unsupported by this server: its workloads are not injected', 'the Always line');
      expect(always).to.include({ level: 'warn', nativeSidecar: 'Always', serverVersion: release });
    });

    it('Auto: a Deployment gets the proxy as a regular container', async function () {
      const created = await createBlocking(deployment('web', 'auto'));
      expect(created.status, JSON.stringify(created.json).slice(0, 300)).to.equal(201);
      const spec = ((created.json.spec as Json).template as { spec: PodSpec }).spec;
      expect(names(spec.containers)).to.deep.equal(['app', 'mesh-proxy']);
      expect(names(spec.initContainers)).to.deep.equal(['mesh-init']);
      expect(spec.containers[1]).to.not.have.property('restartPolicy');
    });

    it('explain, live, says Auto falls back here and why', async function () {
      const text = await runCommand(process.execPath, ['bin/meshinit.js', 'explain', 'deploy/web', '-n', 'native-apps', '--kubeconfig', plane.adminKubeconfigPath]);
      expect(text.code, text.stderr).to.equal(0);
      console.log(text.stdout.replace(/^/gm, '        '));
      expect(text.stdout).to.include(`  Sidecar layout (nativeSidecar Auto, server ${release}): regular containers\n    nativeSidecar Auto: the API server is ${release} and native sidecars`);
    });

    it('Always, failurePolicy Ignore: released at once without a sidecar, the reason logged and on the Event', async function () {
      const created = await createBlocking(deployment('api', 'always'));
      expect(created.status).to.equal(201);
      expect(created.ms, 'not held').to.be.below(10_000);
      const spec = ((created.json.spec as Json).template as { spec: PodSpec }).spec;
      expect(names(spec.containers)).to.deep.equal(['app']);
      expect(spec.initContainers).to.equal(undefined);
      const line = await meshinit!.waitForLog((l) => l.name === 'api' && l.code === 'native_sidecar_unsupported', 'the release decision');
      console.log(`        ${JSON.stringify(line)}`);
      expect(line).to.include({ action: 'released', meshConfig: 'always' });
      expect(String(line.reason)).to.match(new RegExp(`^injection failed, released without a sidecar \\(failurePolicy Ignore\\): Deployment native-apps/api: MeshConfig always asks for nativeSidecar Always, but the API server is ${release.replace(/\./g, '\\.')}`));
      expect(String(line.reason)).to.include('set spec.sidecar.nativeSidecar to Auto (regular containers on this server) or Never');
      const event = await waitUntil(async () => {
        const events = JSON.parse((await plane.request('GET', '/api/v1/namespaces/native-apps/events')).body) as { items: Array<{ involvedObject: { name: string }; type: string; reason: string; message: string }> };
        return events.items.find((e) => e.involvedObject.name === 'api');
      }, 'the Event on Deployment api');
      expect(event).to.include({ type: 'Warning', reason: 'SidecarNotInjected' });
      expect(event.message).to.include('nativeSidecar Always');
    });

    it('why Always is refused here: this server drops an init container\'s restartPolicy, so the proxy would block the Pod in Init', async function () {
      const opted = deployment('dropped', 'none');
      const template = (opted.spec as { template: { metadata: Json; spec: Json } }).template;
      (opted.metadata as Json).annotations = { 'sidecar.meshinit.dev/inject': 'false' };
      template.spec.initContainers = [{ name: 'proxy', image: 'registry.example.com/mesh/envoy:1.8.0', restartPolicy: 'Always' }];
      const created = await createBlocking(opted);
      expect(created.status, JSON.stringify(created.json).slice(0, 300)).to.equal(201);
      const stored = ((created.json.spec as Json).template as { spec: PodSpec }).spec;
      expect(names(stored.initContainers)).to.deep.equal(['proxy']);
      expect(stored.initContainers![0], 'the field is gone').to.not.have.property('restartPolicy');
    });

    it('Always, failurePolicy Fail: the create fails with the reason, nothing is left pending', async function () {
      const created = await createBlocking(deployment('batch', 'always-fail'));
      expect(created.status, JSON.stringify(created.json).slice(0, 300)).to.not.equal(201);
      expect(JSON.stringify(created.json)).to.include('nativeSidecar Always');
      const line = await meshinit!.waitForLog((l) => l.name === 'batch' && l.code === 'native_sidecar_unsupported', 'the failure decision');
      expect(line).to.include({ action: 'failed', meshConfig: 'always-fail' });
      await waitUntil(async () => ((await plane.request('GET', '/apis/apps/v1/namespaces/native-apps/deployments/batch?includeUninitialized=true')).status === 404 ? true : undefined), 'the failed Deployment gone');
    });
  });
}
