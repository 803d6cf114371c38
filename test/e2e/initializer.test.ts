// The Initializer mode on real Initializer-era API servers: kube-apiserver v1.13.0 and v1.9.11
// (built by `make legacy-control-plane`), installed with kubectl exactly as README.md says, and
// the compiled meshinit running as the shipped ServiceAccount's identity. Each `it` builds on the
// ones before it (install, then use), as an operator's day would; they run in order.
//
// The three defects found by trying the product on these servers each have a regression test
// here: the v1beta1 CRD refused by 1.9, http:// kubeconfigs refused, and a missing CRD holding
// every create in the cluster.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { ADMIN, CONTROLLER, LEGACY_RELEASES, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import {
  freePort, kubectl, MeshinitProcess, mustKubectl, plainHttpKubeconfig, readYaml, startKubectlProxy, waitForPendingList as waitForPendingListOn, waitUntil, type Json,
} from './cluster.ts';

const OURS = 'sidecar.initializer.meshinit.dev';
const APPS = 'e2e-apps';
const QUIET = 'e2e-quiet';
const MESHCONFIGS = '/apis/meshinit.dev/v1alpha1/meshconfigs';
const PLURAL: Record<string, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets', Job: 'jobs', Pod: 'pods' };

function apiBase(kind: string): string {
  return kind === 'Job' ? '/apis/batch/v1' : kind === 'Pod' ? '/api/v1' : '/apis/apps/v1';
}

function collection(kind: string, namespace: string): string {
  return `${apiBase(kind)}/namespaces/${namespace}/${PLURAL[kind]}`;
}

interface WorkloadOptions {
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containers?: Array<{ name: string; image: string }>;
}

function workload(kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'Job', name: string, options: WorkloadOptions = {}): Json {
  const labels = { app: name, ...(options.labels ?? {}) };
  const template = {
    metadata: { labels },
    spec: {
      containers: options.containers ?? [{ name: 'app', image: 'nginx:1.13' }],
      ...(kind === 'Job' ? { restartPolicy: 'Never' } : {}),
    },
  };
  const spec: Json = kind === 'Job' ? { template } : { selector: { matchLabels: { app: name } }, template };
  if (kind === 'StatefulSet') spec.serviceName = name;
  return {
    apiVersion: kind === 'Job' ? 'batch/v1' : 'apps/v1',
    kind,
    metadata: { name, namespace: options.namespace ?? APPS, labels, ...(options.annotations ? { annotations: options.annotations } : {}) },
    spec,
  };
}

function podSpec(object: Json): { containers: Array<{ name: string; image: string; args?: string[] }>; initContainers?: Array<{ name: string }> } {
  const spec = object.spec as Json;
  return (object.kind === 'Pod' ? spec : (spec.template as Json).spec) as ReturnType<typeof podSpec>;
}

function containerNames(object: Json): string[] {
  return podSpec(object).containers.map((c) => c.name);
}

/** A Deployment as `istioctl kube-inject` writes it (trimmed): istio-init, istio-proxy and Istio's status annotation. */
function istioInjected(name: string, labels: Record<string, string> = {}): Json {
  const deployment = workload('Deployment', name, { labels, containers: [{ name: 'ratings', image: 'istio/examples-bookinfo-ratings-v1:1.20.2' }, { name: 'istio-proxy', image: 'istio/proxyv2:1.24.0' }] });
  const template = (deployment.spec as Json).template as { metadata: Json; spec: Json };
  template.metadata.annotations = { 'sidecar.istio.io/status': '{"initContainers":["istio-init"],"containers":["istio-proxy"],"revision":"default"}' };
  template.spec.initContainers = [{ name: 'istio-init', image: 'istio/proxyv2:1.24.0' }];
  return deployment;
}

function pending(object: Json): string[] {
  const initializers = (object.metadata as Json).initializers as { pending?: Array<{ name: string }> } | undefined;
  return (initializers?.pending ?? []).map((entry) => entry.name);
}

for (const release of LEGACY_RELEASES) {
  describe(`Initializer mode on a real kube-apiserver ${release}`, function () {
    this.timeout(180_000);
    let plane: ControlPlane;
    let dir: string;
    let meshinit: MeshinitProcess | undefined;
    let healthPort = 0;
    // 1.9 serves no OpenAPI that today's kubectl can read: README.md says to add --validate=false.
    const validate = release === 'v1.9.11' ? ['--validate=false'] : [];
    const admin = (): string => plane.adminKubeconfigPath;

    async function request(method: string, urlPath: string, body?: unknown, contentType?: string): Promise<{ status: number; json: Json; ms: number }> {
      const started = Date.now();
      const reply = await plane.request(method, urlPath, { ...(body === undefined ? {} : { body }), ...(contentType ? { contentType } : {}) });
      let json: Json = {};
      try {
        json = JSON.parse(reply.body) as Json;
      } catch {
        json = { text: reply.body };
      }
      return { status: reply.status, json, ms: Date.now() - started };
    }

    /** A plain POST, as `kubectl create` sends it: the server answers once every initializer is done. */
    async function createBlocking(object: Json): Promise<{ status: number; json: Json; ms: number }> {
      const metadata = object.metadata as Json;
      return request('POST', collection(String(object.kind), String(metadata.namespace ?? APPS)), object);
    }

    /** POST with includeUninitialized=1 (1.9 ignores "true" on a create): answered at once (202), still pending. */
    async function createHeld(object: Json): Promise<Json> {
      const metadata = object.metadata as Json;
      const reply = await request('POST', `${collection(String(object.kind), String(metadata.namespace ?? APPS))}?includeUninitialized=1`, object);
      if (reply.status === 202 || reply.status === 201) return reply.json;
      // Under the 1,000-burst, v1.13.0 once answered a create 200 with an empty body (seen in one
      // CI run of six, not reproduced since). What matters here is whether the object exists.
      const stored = reply.status === 200 && reply.json.text === '' ? await read(String(object.kind), String(metadata.name), String(metadata.namespace ?? APPS)) : undefined;
      if (!stored) throw new Error(`held create of ${String(metadata.name)}: ${reply.status} ${JSON.stringify(reply.json)}`);
      console.log(`      note: the create of ${String(metadata.name)} was answered 200 with an empty body; the object exists`);
      return stored;
    }

    async function read(kind: string, name: string, namespace = APPS): Promise<Json | undefined> {
      const reply = await request('GET', `${collection(kind, namespace)}/${name}?includeUninitialized=true`);
      return reply.status === 200 ? reply.json : undefined;
    }

    async function startMeshinit(extra: string[] = [], kubeconfig = plane.controllerKubeconfigPath): Promise<MeshinitProcess> {
      healthPort = await freePort();
      // No --mode: the default (auto) must find the Initializers on these servers.
      const process = new MeshinitProcess(['run', '--kubeconfig', kubeconfig, '--health-addr', `127.0.0.1:${healthPort}`, '--watch-timeout', '60s', ...extra]);
      await process.waitForLog((l) => l.message === 'Initializer controller running', 'the controller running', 30_000);
      return process;
    }

    async function readyz(): Promise<{ status: number; body: string }> {
      const response = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
      return { status: response.status, body: await response.text() };
    }

    /** Applies YAML through kubectl from a temporary file (for objects the tests make up). */
    async function applyYaml(objects: Json[], extra: string[] = []): Promise<void> {
      const file = path.join(dir, `apply-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
      fs.writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
      await mustKubectl(admin(), ['apply', ...validate, ...extra, '-f', file]);
    }

    /** Waits until the server (which polls InitializerConfigurations once a second) holds new objects for `expected`. */
    async function waitForPendingList(expected: string[], kind: 'Deployment' | 'Pod' = 'Deployment'): Promise<void> {
      await waitForPendingListOn(plane, (n) => {
        const name = `probe-${kind.toLowerCase()}-${n}`;
        return kind === 'Pod'
          ? { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: APPS }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } }
          : workload('Deployment', name, { annotations: { 'sidecar.meshinit.dev/inject': 'false' } });
      }, expected);
    }

    before(async function () {
      const started = Date.now();
      plane = await startControlPlane({ release });
      console.log(`      kube-apiserver ${release} (etcd ${plane.etcdVersion}) ready at ${plane.server}, insecure port ${plane.insecureServer}, in ${Date.now() - started} ms`);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-init-'));
      await applyYaml([
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APPS } },
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: QUIET, labels: { 'meshinit.dev/injection': 'disabled' } } },
      ]);
    });

    after(async function () {
      await meshinit?.stop();
      await plane?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('serves the Initializers API and the release it was built as', async function () {
      const version = await request('GET', '/version');
      expect(version.json.gitVersion).to.equal(release);
      const discovery = await request('GET', '/apis/admissionregistration.k8s.io/v1alpha1');
      expect(discovery.status).to.equal(200);
      expect(JSON.stringify(discovery.json)).to.include('initializerconfigurations');
    });

    it('installs the controller with `kubectl apply -k manifests/initializer` (namespace, RBAC, Deployment, InitializerConfigurations)', async function () {
      const applied = await mustKubectl(admin(), ['apply', ...validate, '-k', 'manifests/initializer']);
      expect(applied.stdout).to.include('initializerconfiguration.admissionregistration.k8s.io/meshinit-apps');
      // Its own Deployment bypasses initialization (pending: []), so the install cannot wait on itself.
      const own = await read('Deployment', 'meshinit', 'meshinit-system');
      expect(own, 'meshinit Deployment stored').to.not.equal(undefined);
      expect(pending(own!)).to.deep.equal([]);
      await waitForPendingList([OURS]);
    });

    it('defect 3: without the MeshConfig CRD a plain create is answered within seconds, uninjected; the log names the fix and /readyz says why', async function () {
      meshinit = await startMeshinit();
      const mode = await meshinit.waitForLog((l) => l.message === 'Mode selected', 'mode selection');
      expect(mode.mode).to.equal('initializer');
      const created = await createBlocking(workload('Deployment', 'before-crd'));
      expect(created.status, JSON.stringify(created.json)).to.equal(201);
      expect(created.ms, 'the creator is not held (before the fix: 504 after 30 s)').to.be.below(10_000);
      expect(containerNames(created.json)).to.deep.equal(['app']);
      expect(pending(created.json)).to.deep.equal([]);
      const error = await meshinit.waitForLog((l) => l.level === 'error' && l.message === 'MeshConfigs unavailable', 'the CRD error');
      expect(String(error.problem)).to.include('CRD is not installed').and.include('kubectl apply -f crds/meshconfig.v1beta1.yaml');
      const released = await meshinit.waitForLog((l) => l.message === 'Released without sidecar' && l.name === 'before-crd', 'the release decision');
      expect(String(released.reason)).to.include('no MeshConfig can be read');
      const ready = await readyz();
      expect(ready.status).to.equal(503);
      expect(ready.body).to.include('CRD is not installed');
    });

    it('defect 1: the v1beta1 CRD applies with kubectl; the same schema with additionalProperties is what 1.9 refuses', async function () {
      const crd = readYaml('crds/meshconfig.v1beta1.yaml')[0]!;
      // The shipped schema with one typed map put back, under another name, to show what the
      // server does with additionalProperties (and so that this test fails if it comes back).
      const variant = structuredClone(crd);
      const names = (variant.spec as Json).names as Json;
      (variant.metadata as Json).name = 'meshconfigvariants.meshinit.dev';
      (variant.spec as Json).names = { ...names, kind: 'MeshConfigVariant', listKind: 'MeshConfigVariantList', plural: 'meshconfigvariants', singular: 'meshconfigvariant', shortNames: [] };
      const selector = (((((variant.spec as Json).validation as Json).openAPIV3Schema as Json).properties as Json).spec as Json).properties as Json;
      ((selector.selector as Json).properties as Json).matchLabels = { type: 'object', additionalProperties: { type: 'string' } };
      const file = path.join(dir, 'variant-crd.yaml');
      fs.writeFileSync(file, stringify(variant));
      const refused = await kubectl(admin(), ['apply', ...validate, '-f', file]);
      if (release === 'v1.9.11') {
        expect(refused.code).to.not.equal(0);
        expect(refused.stderr).to.include('additionalProperties');
      } else {
        expect(refused.code, refused.stderr).to.equal(0);
        await mustKubectl(admin(), ['delete', '-f', file]);
      }

      // README.md's install, word for word.
      await mustKubectl(admin(), ['apply', ...validate, '-f', 'crds/meshconfig.v1beta1.yaml']);
      await mustKubectl(admin(), ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/meshconfigs.meshinit.dev']);
      await mustKubectl(admin(), ['apply', ...validate, '-f', 'manifests/meshconfig-sample.yaml']);
    });

    it('defect 3: picks the CRD and the sample MeshConfig up without a restart; the next plain create returns 201 with the sidecar', async function () {
      const loaded = await waitUntil(async () => ((await readyz()).status === 200 ? Date.now() : undefined), '/readyz to be ok', 20_000);
      expect(loaded).to.be.a('number');
      await meshinit!.waitForLog((l) => l.message === 'MeshConfigs readable again', 'the recovery line');
      const created = await createBlocking(workload('Deployment', 'after-crd'));
      expect(created.status).to.equal(201);
      expect(containerNames(created.json)).to.deep.equal(['app', 'mesh-proxy']);
      expect(podSpec(created.json).initContainers?.map((c) => c.name)).to.deep.equal(['mesh-init']);
      const proxy = podSpec(created.json).containers[1]!;
      expect(proxy.args?.[proxy.args.indexOf('--serviceCluster') + 1], '{{workload.name}}').to.equal('after-crd');
    });

    it('blocking creates of every kind: Deployment, StatefulSet and DaemonSet answered with the sidecar; a Job released with a Warning Event', async function () {
      for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet'] as const) {
        const created = await createBlocking(workload(kind, `kind-${kind.toLowerCase()}`));
        expect(created.status, `${kind}: ${JSON.stringify(created.json).slice(0, 300)}`).to.equal(201);
        expect(containerNames(created.json), kind).to.deep.equal(['app', 'mesh-proxy']);
        console.log(`        ${kind} create answered in ${created.ms} ms`);
      }
      const job = await createBlocking(workload('Job', 'kind-job'));
      expect(job.status).to.equal(201);
      expect(containerNames(job.json), 'a Job\'s template is immutable: released unchanged').to.deep.equal(['app']);
      const event = await waitUntil(async () => {
        const events = await request('GET', `/api/v1/namespaces/${APPS}/events`);
        return ((events.json.items ?? []) as Json[]).find((e) => (e.involvedObject as Json).name === 'kind-job' && e.reason === 'SidecarNotInjected');
      }, 'the Job\'s Warning Event');
      expect(event.type).to.equal('Warning');
      expect(String(event.message)).to.include('--job-pods');
    });

    it('skips, with the reason in the log, an opted-out workload, a disabled namespace and kube-system', async function () {
      const cases: Array<[Json, RegExp]> = [
        [workload('Deployment', 'opted-out', { annotations: { 'sidecar.meshinit.dev/inject': 'false' } }), /annotation sidecar\.meshinit\.dev\/inject: "false"/],
        [workload('Deployment', 'quiet', { namespace: QUIET }), /meshinit\.dev\/injection=disabled/],
        [workload('Deployment', 'system', { namespace: 'kube-system' }), /system namespace/],
      ];
      for (const [object, reason] of cases) {
        const name = String((object.metadata as Json).name);
        const created = await createBlocking(object);
        expect(created.status, name).to.equal(201);
        expect(containerNames(created.json), name).to.deep.equal(['app']);
        const line = await meshinit!.waitForLog((l) => l.message === 'Skipped injection' && l.name === name, `skip of ${name}`);
        expect(String(line.reason), name).to.match(reason);
      }
    });

    it('another mesh: an Istio-injected Deployment is released untouched, the reason logged at warn and a Warning Event', async function () {
      const created = await createBlocking(istioInjected('ratings-istio'));
      expect(created.status, JSON.stringify(created.json).slice(0, 300)).to.equal(201);
      expect(containerNames(created.json), 'no second proxy').to.deep.equal(['ratings', 'istio-proxy']);
      expect(((podSpec(created.json).initContainers ?? []) as Array<{ name: string }>).map((c) => c.name), 'no second iptables redirect').to.deep.equal(['istio-init']);
      const line = await meshinit!.waitForLog((l) => l.message === 'Skipped injection' && l.name === 'ratings-istio', 'the skip of ratings-istio');
      expect(line.level).to.equal('warn');
      expect(String(line.reason)).to.equal(
        'the pod template belongs to another mesh, Istio (init container istio-init, container istio-proxy, annotation sidecar.istio.io/status): ' +
          'two meshes in one pod would both redirect its traffic to their own proxy, so meshinit leaves it to Istio',
      );
      const event = await waitUntil(async () => {
        const events = await request('GET', `/api/v1/namespaces/${APPS}/events`);
        return ((events.json.items ?? []) as Json[]).find((e) => (e.involvedObject as Json).name === 'ratings-istio' && e.type === 'Warning');
      }, 'the Warning Event of ratings-istio');
      expect(String(event.message)).to.include('another mesh, Istio');
    });

    it('takes its turn between another initializer before it and one after it: nothing written out of turn, the order kept', async function () {
      const configs = [
        { apiVersion: 'admissionregistration.k8s.io/v1alpha1', kind: 'InitializerConfiguration', metadata: { name: 'aaa-before' }, initializers: [{ name: 'before.e2e.example.com', rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'] }] }] },
        { apiVersion: 'admissionregistration.k8s.io/v1alpha1', kind: 'InitializerConfiguration', metadata: { name: 'zzz-after' }, initializers: [{ name: 'after.e2e.example.com', rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'] }] }] },
      ];
      await applyYaml(configs);
      try {
        await waitForPendingList(['before.e2e.example.com', OURS, 'after.e2e.example.com']);
        const held = await createHeld(workload('Deployment', 'in-turn'));
        expect(pending(held)).to.deep.equal(['before.e2e.example.com', OURS, 'after.e2e.example.com']);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const untouched = (await read('Deployment', 'in-turn'))!;
        expect((untouched.metadata as Json).resourceVersion, 'not our turn: no write').to.equal((held.metadata as Json).resourceVersion);
        // The initializer before us finishes, as any initializer does: test + remove its entry.
        const done = await request('PATCH', `${collection('Deployment', APPS)}/in-turn`, [
          { op: 'test', path: '/metadata/initializers/pending/0/name', value: 'before.e2e.example.com' },
          { op: 'remove', path: '/metadata/initializers/pending/0' },
        ], 'application/json-patch+json');
        expect(done.status, JSON.stringify(done.json)).to.equal(200);
        const ours = await waitUntil(async () => {
          const object = await read('Deployment', 'in-turn');
          return object && !pending(object).includes(OURS) ? object : undefined;
        }, 'meshinit to take its turn');
        expect(pending(ours), 'the one after us is still pending, in place').to.deep.equal(['after.e2e.example.com']);
        expect(containerNames(ours)).to.deep.equal(['app', 'mesh-proxy']);
      } finally {
        await mustKubectl(admin(), ['delete', 'initializerconfiguration', 'aaa-before', 'zzz-after']);
        await request('DELETE', `${collection('Deployment', APPS)}/in-turn`);
      }
      await waitForPendingList([OURS]);
    });

    it('writes MeshConfig status, uses an edit for the next create, and keeps the last valid version after an invalid edit', async function () {
      const valid = await waitUntil(async () => {
        const mc = await request('GET', `${MESHCONFIGS}/default`);
        const conditions = ((mc.json.status as Json | undefined)?.conditions ?? []) as Json[];
        return conditions.find((c) => c.type === 'Ready' && c.status === 'True');
      }, 'status Ready=True');
      expect(valid.reason).to.equal('Valid');

      await mustKubectl(admin(), ['patch', 'meshconfig', 'default', '--type', 'json', '-p',
        JSON.stringify([{ op: 'replace', path: '/spec/sidecar/containers/0/image', value: 'ghcr.io/meshinit/proxy:1.0.1' }])]);
      const edited = await waitUntil(async () => {
        const created = await createBlocking(workload('Deployment', `edited-${Date.now()}`));
        return podSpec(created.json).containers[1]?.image === 'ghcr.io/meshinit/proxy:1.0.1' ? created : undefined;
      }, 'the edited image in use');
      expect(edited.status).to.equal(201);

      // Valid for the v1beta1 schema (1.9 cannot type map values), invalid for meshinit.
      await mustKubectl(admin(), ['patch', 'meshconfig', 'default', '--type', 'merge', '-p', JSON.stringify({ spec: { sidecar: { podLabels: { 'mesh-version': 2 } } } })]);
      const invalid = await waitUntil(async () => {
        const mc = await request('GET', `${MESHCONFIGS}/default`);
        const conditions = ((mc.json.status as Json | undefined)?.conditions ?? []) as Json[];
        return conditions.find((c) => c.type === 'Ready' && c.status === 'False');
      }, 'status Ready=False');
      expect(invalid.reason).to.equal('InvalidSpec');
      expect(String(invalid.message)).to.include('podLabels');
      const after = await createBlocking(workload('Deployment', 'after-invalid'));
      expect(podSpec(after.json).containers[1]?.image, 'the last valid version keeps serving').to.equal('ghcr.io/meshinit/proxy:1.0.1');
      await mustKubectl(admin(), ['apply', ...validate, '-f', 'manifests/meshconfig-sample.yaml']);
      await mustKubectl(admin(), ['patch', 'meshconfig', 'default', '--type', 'json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/sidecar/podLabels' }])]);
    });

    it('failurePolicy Fail: the blocked creator gets the reason, and the workload is not stored', async function () {
      const strict = {
        apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'strict' },
        spec: {
          priority: 100, failurePolicy: 'Fail', selector: { matchLabels: { strict: 'enforced' } },
          sidecar: { containers: [{ name: 'app', image: 'ghcr.io/meshinit/proxy:1.0.0' }] },
        },
      };
      await applyYaml([strict]);
      // Labels in YAML are quoted by the test: kubectl reads YAML 1.1, where `yes` would be a boolean.
      await waitUntil(async () => {
        const conditions = (((await request('GET', `${MESHCONFIGS}/strict`)).json.status as Json | undefined)?.conditions ?? []) as Json[];
        return conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
      }, 'strict loaded and valid');
      try {
        const refused = await createBlocking(workload('Deployment', 'collides', { labels: { strict: 'enforced' } }));
        expect(refused.status, JSON.stringify(refused.json)).to.be.within(400, 499);
        expect(String(refused.json.message)).to.include('app');
        await waitUntil(async () => ((await read('Deployment', 'collides')) === undefined ? true : undefined), 'the refused Deployment deleted');
        // Another mesh is a skip, not a failure: failurePolicy Fail would have the server delete a
        // workload that runs fine under Istio.
        const istio = await createBlocking(istioInjected('strict-istio', { strict: 'enforced' }));
        expect(istio.status, JSON.stringify(istio.json).slice(0, 300)).to.equal(201);
        expect(containerNames(istio.json)).to.deep.equal(['ratings', 'istio-proxy']);
        const line = await meshinit!.waitForLog((l) => l.message === 'Skipped injection' && l.name === 'strict-istio', 'the skip of strict-istio');
        expect(line).to.include({ level: 'warn', meshConfig: 'strict' });
      } finally {
        await mustKubectl(admin(), ['delete', 'meshconfig', 'strict']);
      }
    });

    it('SubjectAccessReviews: the shipped role may patch and initialize the four kinds, and nothing on Secrets or Pods', async function () {
      const can = async (verb: string, group: string, resource: string, namespace = APPS): Promise<boolean> => {
        const body = {
          apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
          spec: { user: CONTROLLER.user, groups: CONTROLLER.groups, resourceAttributes: { verb, group, resource, namespace } },
        };
        let review = await request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', body);
        // v1.13.0 on a loaded machine has answered 200 with an empty body (seen for a create and for
        // this review, in 2 of ~10 full runs); a review changes nothing, so it is asked again.
        if (review.status === 200 && review.json.text === '') {
          console.log(`      note: a SubjectAccessReview (${verb} ${resource}) was answered 200 with an empty body; asked again`);
          review = await request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', body);
        }
        const status = review.json.status as Json | undefined;
        if (!status) throw new Error(`SubjectAccessReview ${verb} ${resource}: answered ${review.status} without a status: ${JSON.stringify(review.json).slice(0, 300)}`);
        return status.allowed === true;
      };
      for (const [group, resource] of [['apps', 'deployments'], ['apps', 'statefulsets'], ['apps', 'daemonsets'], ['batch', 'jobs']] as const) {
        for (const verb of ['list', 'watch', 'patch', 'initialize']) expect(await can(verb, group, resource), `${verb} ${resource}`).to.equal(true);
        for (const verb of ['create', 'delete', 'update']) expect(await can(verb, group, resource), `${verb} ${resource}`).to.equal(false);
      }
      for (const verb of ['get', 'list']) expect(await can(verb, '', 'secrets'), `${verb} secrets`).to.equal(false);
      expect(await can('patch', '', 'pods'), 'pods only with the job-pods overlay').to.equal(false);
      expect(await can('create', '', 'events')).to.equal(true);
      expect(ADMIN.groups).to.include('system:masters');
    });

    it('restarts with a backlog: workloads created while it was down are all injected when it starts; SIGTERM exits 0', async function () {
      expect(await meshinit!.stop(), 'SIGTERM exit code').to.equal(0);
      expect(meshinit!.lines.some((l) => l.message === 'Stopped')).to.equal(true);
      meshinit = undefined;
      const names = Array.from({ length: 20 }, (_, i) => `backlog-${i}`);
      for (const name of names) await createHeld(workload('Deployment', name));
      meshinit = await startMeshinit();
      for (const name of names) {
        const object = await waitUntil(async () => {
          const current = await read('Deployment', name);
          return current && pending(current).length === 0 ? current : undefined;
        }, `${name} initialized`);
        expect(containerNames(object), name).to.deep.equal(['app', 'mesh-proxy']);
      }
    });

    it('defect 2: runs through plain http:// with no insecure-skip-tls-verify: the insecure port, and `kubectl proxy` as the ServiceAccount', async function () {
      await meshinit!.stop();
      meshinit = undefined;
      // kubectl proxy with the controller's kubeconfig: meshinit speaks plain HTTP to it, the proxy
      // speaks TLS to the server as the ServiceAccount, so the shipped RBAC still applies.
      const proxy = await startKubectlProxy(plane.controllerKubeconfigPath);
      try {
        for (const [how, url] of [['insecure-port', plane.insecureServer!], ['kubectl-proxy', proxy.url]] as const) {
          const process = await startMeshinit([], plainHttpKubeconfig(dir, url));
          try {
            expect(process.lines.filter((l) => l.level === 'error'), `${how}: no start-up error`).to.deep.equal([]);
            const created = await createBlocking(workload('Deployment', `via-${how}`));
            expect(created.status, how).to.equal(201);
            expect(containerNames(created.json), how).to.deep.equal(['app', 'mesh-proxy']);
          } finally {
            expect(await process.stop(), `${how}: exit code`).to.equal(0);
          }
        }
      } finally {
        await proxy.stop();
      }
      meshinit = await startMeshinit();
    });

    it('authenticates with a kubeconfig tokenFile (kubectl\'s field, a path relative to the kubeconfig), as a bound token is mounted', async function () {
      await meshinit!.stop();
      const tokenDir = fs.mkdtempSync(path.join(dir, 'token-'));
      fs.writeFileSync(path.join(tokenDir, 'token'), `${plane.controllerToken!}\n`);
      const kubeconfig = path.join(tokenDir, 'kubeconfig');
      fs.writeFileSync(kubeconfig, [
        'apiVersion: v1', 'kind: Config', 'current-context: sa',
        `clusters: [{name: legacy, cluster: {server: "${plane.server}", certificate-authority-data: ${Buffer.from(plane.caCertPem).toString('base64')}}}]`,
        'users: [{name: meshinit, user: {tokenFile: token}}]',
        'contexts: [{name: sa, context: {cluster: legacy, user: meshinit}}]',
      ].join('\n'));
      // Before: client-node ignored `tokenFile`, every request went out anonymous and was refused.
      meshinit = await startMeshinit([], kubeconfig);
      const created = await createBlocking(workload('Deployment', 'via-token-file'));
      expect(created.status).to.equal(201);
      expect(containerNames(created.json)).to.deep.equal(['app', 'mesh-proxy']);
      expect(JSON.stringify(meshinit.lines), 'the token never reaches the log').to.not.include(plane.controllerToken!);
      await meshinit.stop();
      meshinit = await startMeshinit();
    });

    it('--namespace limits injection, not the watch: a Deployment in another namespace is released at once, unchanged', async function () {
      await meshinit!.stop();
      meshinit = await startMeshinit(['--namespace', APPS]);
      await applyYaml([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-other' } }]);
      const elsewhere = await createBlocking(workload('Deployment', 'outside', { namespace: 'e2e-other' }));
      expect(elsewhere.status, 'not left pending until a 504').to.equal(201);
      expect(elsewhere.ms).to.be.below(5000);
      expect(containerNames(elsewhere.json)).to.deep.equal(['app']);
      const line = await meshinit.waitForLog((l) => l.name === 'outside' && l.namespace === 'e2e-other', 'the decision');
      expect(String(line.reason)).to.include(`not one of meshinit's --namespace ${APPS}`);
      const inside = await createBlocking(workload('Deployment', 'inside'));
      expect(containerNames(inside.json)).to.deep.equal(['app', 'mesh-proxy']);
      await meshinit.stop();
      meshinit = await startMeshinit();
    });

    it('--job-pods with the initializer-job-pods overlay: a Job\'s Pod gets the sidecar, any other Pod is released unchanged', async function () {
      await meshinit!.stop();
      meshinit = undefined;
      await mustKubectl(admin(), ['apply', ...validate, '-k', 'manifests/initializer-job-pods']);
      try {
        await waitForPendingList([OURS], 'Pod');
        meshinit = await startMeshinit(['--job-pods']);
        const job = await createBlocking(workload('Job', 'migrate'));
        expect(job.status).to.equal(201);
        const uid = String((job.json.metadata as Json).uid);
        const jobPod = {
          apiVersion: 'v1', kind: 'Pod',
          metadata: { name: 'migrate-abcde', namespace: APPS, labels: { 'job-name': 'migrate' }, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'migrate', uid, controller: true, blockOwnerDeletion: true }] },
          spec: { restartPolicy: 'Never', containers: [{ name: 'app', image: 'busybox:1.28' }] },
        };
        const injected = await createBlocking(jobPod);
        expect(injected.status, JSON.stringify(injected.json)).to.equal(201);
        expect(containerNames(injected.json)).to.deep.equal(['app', 'mesh-proxy']);
        const proxy = podSpec(injected.json).containers[1]!;
        expect(proxy.args?.[proxy.args.indexOf('--serviceCluster') + 1], 'placeholders from the Job').to.equal('migrate');
        const plain = await createBlocking({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain', namespace: APPS }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } });
        expect(plain.status).to.equal(201);
        expect(containerNames(plain.json)).to.deep.equal(['app']);
      } finally {
        // Without meshinit --job-pods running, this rule would hold every Pod in the cluster.
        await mustKubectl(admin(), ['delete', 'initializerconfiguration', 'meshinit-pods']);
      }
      await meshinit?.stop();
      meshinit = await startMeshinit();
    });

    it('1,000 workloads in a burst with a SIGKILL mid-way and a restart: nothing stuck, nothing injected twice', async function () {
      this.timeout(300_000);
      const total = 1000;
      const names = Array.from({ length: total }, (_, i) => `burst-${String(i).padStart(4, '0')}`);
      const started = Date.now();
      let next = 0;
      let killed = false;
      const creators = Array.from({ length: 20 }, async () => {
        while (next < names.length) {
          const name = names[next++]!;
          await createHeld(workload('Deployment', name, { labels: { burst: 'yes' } }));
          if (!killed && next >= total * 0.4) {
            killed = true;
            meshinit!.kill();
          }
        }
      });
      await Promise.all(creators);
      await meshinit!.exited;
      meshinit = await startMeshinit();
      let done: Json[] | undefined;
      let last = '';
      for (const deadline = Date.now() + 240_000; !done && Date.now() < deadline;) {
        const list = await request('GET', `${collection('Deployment', APPS)}?includeUninitialized=true&labelSelector=burst`);
        const burst = (list.json.items ?? []) as Json[];
        const left = burst.filter((d) => pending(d).length > 0).length;
        last = `${burst.length} listed, ${left} still pending`;
        if (burst.length === total && left === 0) done = burst;
        else await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      if (!done) throw new Error(`not every burst Deployment was initialized: ${last}\n${meshinit.output.slice(-3000)}`);
      const seconds = (Date.now() - started) / 1000;
      const proxies = done.map((d) => containerNames(d).filter((n) => n === 'mesh-proxy').length);
      expect(proxies.filter((n) => n !== 1), 'each exactly one proxy').to.deep.equal([]);
      console.log(`        ${total} Deployments created by 20 creators, meshinit SIGKILLed at ${Math.round(total * 0.4)} creates and restarted: all initialized with one proxy in ${seconds.toFixed(1)} s`);
    });
  });
}
