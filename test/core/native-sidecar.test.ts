// spec.sidecar.nativeSidecar: the layout per server version, the injection it makes (and
// re-makes, both ways, on an already injected workload), the hash and counts that follow from it,
// Always refused through failurePolicy on an old server, and what explain says.
import { expect } from 'chai';
import { explainWorkload } from '../../controller/core/explain.ts';
import { countMeshConfigWorkloads } from '../../controller/core/meshconfig-counts.ts';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import { knownServer, nativeLayout, parseServerVersion, parseVersionFlag, resolveSidecarLayout, unknownServer } from '../../controller/core/native-sidecar.ts';
import { admissionVerdict, initializerVerdict } from '../../controller/core/outcome.ts';
import { planWorkloadInjection } from '../../controller/core/plan.ts';
import { placeholderValues, renderSidecar } from '../../controller/core/render.ts';
import { canonicalJson, hashString, readInjectionStatus } from '../../controller/core/status-record.ts';
import type { Container, KubeServer, MeshConfig, NativeSidecarMode, Workload } from '../../controller/core/types.ts';
import { renderExplainJson, renderExplainText } from '../../controller/cli/explain-format.ts';
import { admit } from '../../controller/webhook/admission.ts';
import jsonpatch from 'fast-json-patch';
import { envoyMeshConfig, mustParse, rawEnvoyMeshConfig, shopContext, shopDeployment } from './fixtures/helpers.ts';

function server(gitVersion: string): KubeServer {
  const version = parseServerVersion({ gitVersion });
  if (!version) throw new Error(`fixture version ${gitVersion} does not parse`);
  return knownServer(version);
}

/** The Envoy fixture (mesh-init init container, mesh-proxy container) with nativeSidecar set, for `on`. */
function envoy(mode: NativeSidecarMode | undefined, on: KubeServer, extra: Record<string, unknown> = {}): MeshConfig {
  const raw = rawEnvoyMeshConfig();
  if (mode !== undefined) raw.spec.sidecar.nativeSidecar = mode;
  Object.assign(raw.spec, extra);
  return mustParse(raw, on);
}

function shop(): Workload {
  const workload = shopDeployment();
  return { ...workload, metadata: { ...workload.metadata, namespace: 'shop' } };
}

function inject(workload: Workload, meshConfig: MeshConfig) {
  const plan = planWorkloadInjection(workload, shopContext([meshConfig]));
  if (plan.action !== 'inject') throw new Error(`expected an injection, got ${plan.action}: ${'reason' in plan ? plan.reason : plan.error.message}`);
  return plan;
}

const names = (list: readonly Container[] | undefined): string[] => (list ?? []).map((c) => c.name);
const V1_36 = server('v1.36.3');
const V1_13 = server('v1.13.0');

describe('core/native-sidecar: spec.sidecar.nativeSidecar', () => {
  describe('the server version', () => {
    it('reads major and minor, the "+" of managed clusters included, else gitVersion', () => {
      expect(parseServerVersion({ major: '1', minor: '36+', gitVersion: 'v1.36.3-gke.100' })).to.deep.equal({ major: 1, minor: 36, gitVersion: 'v1.36.3-gke.100' });
      expect(parseServerVersion({ major: '1', minor: '29', gitVersion: 'v1.29.0' })).to.deep.include({ major: 1, minor: 29 });
      expect(parseServerVersion({ major: '', minor: '', gitVersion: 'v1.9.11' })).to.deep.include({ major: 1, minor: 9 });
      expect(parseServerVersion({ gitVersion: 'v1.28.4-eks-8cb36c9' })).to.deep.include({ major: 1, minor: 28 });
      expect(parseServerVersion({ major: '1', minor: '30' })).to.deep.equal({ major: 1, minor: 30, gitVersion: 'v1.30' });
      for (const odd of [{}, null, 'v1.30', { gitVersion: 'master' }, { major: 'one', minor: 'x', gitVersion: '' }, { gitVersion: 'v1' }]) {
        expect(parseServerVersion(odd), JSON.stringify(odd)).to.equal(undefined);
      }
    });

    it('--kube-version takes 1.30, v1.30 and 1.30.2, and nothing looser', () => {
      expect(parseVersionFlag('1.30')).to.deep.equal({ major: 1, minor: 30, gitVersion: 'v1.30' });
      expect(parseVersionFlag('v1.30.2')).to.deep.equal({ major: 1, minor: 30, gitVersion: 'v1.30.2' });
      for (const bad of ['1', '1.30.x', 'latest', ' 1.30', '1.30+', '', 'v1.30.2-eks']) expect(parseVersionFlag(bad), bad).to.equal(undefined);
    });
  });

  describe('the layout per mode and server', () => {
    const sidecar = envoyMeshConfig().spec.sidecar;
    const servers: Array<[string, KubeServer, boolean]> = [
      ['v1.9.11', server('v1.9.11'), false],
      ['v1.13.0', V1_13, false],
      ['v1.28.15', server('v1.28.15'), false],
      ['v1.29.0', server('v1.29.0'), true],
      ['1.36+ (managed)', knownServer(parseServerVersion({ major: '1', minor: '36+', gitVersion: 'v1.36.1-eks' })!), true],
      ['v2.0.0', server('v2.0.0'), true],
    ];
    for (const [label, on, native] of servers) {
      it(`${label}: Never keeps containers, Auto is ${native ? 'native' : 'containers, saying why'}, Always is ${native ? 'native' : 'refused'}`, () => {
        const never = resolveSidecarLayout(sidecar, on);
        expect(never).to.include({ requested: 'Never', effective: 'containers' });
        expect(never.note).to.equal(undefined);
        expect(never.sidecar).to.equal(sidecar);
        const auto = resolveSidecarLayout({ ...sidecar, nativeSidecar: 'Auto' }, on);
        const always = resolveSidecarLayout({ ...sidecar, nativeSidecar: 'Always' }, on);
        expect(auto.effective).to.equal(native ? 'native' : 'containers');
        expect(always.effective).to.equal('native');
        if (native) {
          expect(auto.note).to.equal(undefined);
          expect(always.refusal).to.equal(undefined);
        } else {
          expect(auto.note).to.match(/nativeSidecar Auto: the API server is v\d+\.\d+\.\d+ and native sidecars .* need Kubernetes 1\.29 or newer, so the sidecar is injected as regular containers/);
          expect(always.refusal).to.match(/the API server is v\d+\.\d+\.\d+ .* set spec\.sidecar\.nativeSidecar to Auto .* or Never$/);
        }
      });
    }

    it('an unknown server (offline, no --kube-version): Auto falls back and says how to get native; Always is native with a caveat', () => {
      const offline = unknownServer('no --kube-version was given');
      const auto = resolveSidecarLayout({ ...sidecar, nativeSidecar: 'Auto' }, offline);
      expect(auto).to.include({ effective: 'containers', server: 'unknown (no --kube-version was given)' });
      expect(auto.note).to.include('no --kube-version was given, so the sidecar is injected as regular containers; give the server\'s version (--kube-version 1.29 or newer)');
      const always = resolveSidecarLayout({ ...sidecar, nativeSidecar: 'Always' }, offline);
      expect(always.effective).to.equal('native');
      expect(always.refusal).to.equal(undefined);
      expect(always.note).to.include('injected as native sidecars as asked');
    });

    it('native: the sidecar\'s init containers first, then its containers as init containers with restartPolicy Always; the input untouched', () => {
      const before = structuredClone(sidecar);
      const layout = nativeLayout({ ...sidecar, nativeSidecar: 'Auto' });
      expect(names(layout.initContainers)).to.deep.equal(['mesh-init', 'mesh-proxy']);
      expect(layout.initContainers.map((c) => c.restartPolicy)).to.deep.equal([undefined, 'Always']);
      expect(layout.containers).to.deep.equal([]);
      expect(layout).to.not.have.property('nativeSidecar');
      expect(layout.volumes).to.deep.equal(sidecar.volumes);
      expect(sidecar).to.deep.equal(before);
    });
  });

  describe('parsing', () => {
    it('refuses a value outside Auto, Always, Never at spec.sidecar.nativeSidecar', () => {
      const raw = rawEnvoyMeshConfig();
      raw.spec.sidecar.nativeSidecar = 'auto';
      const result = parseMeshConfig(raw);
      expect(result.ok).to.equal(false);
      if (result.ok) return;
      expect(result.error.problems).to.deep.equal(['spec.sidecar.nativeSidecar: must be one of Auto, Always, Never, got "auto"']);
    });

    it('an explicit Never injects exactly what a MeshConfig without the field does: same objects, same hash as before the field existed', () => {
      const without = inject(shop(), envoy(undefined, V1_36));
      const never = inject(shop(), envoy('Never', V1_36));
      expect(never.object).to.deep.equal(without.object);
      // The hash the status record has always carried: of the rendered sidecar as written.
      const values = placeholderValues({ kind: 'Deployment', name: 'checkout', namespace: 'shop' }, 'envoy-mesh');
      expect(without.status.hash).to.equal(hashString(canonicalJson(renderSidecar(envoyMeshConfig().spec.sidecar, values))));
    });
  });

  describe('injection', () => {
    it('Auto on a 1.29+ server: the proxy is an init container with restartPolicy Always after the sidecar\'s own init and before the user\'s, recorded under initContainers', () => {
      const plan = inject(shop(), envoy('Auto', V1_36));
      const spec = plan.object.spec.template.spec;
      expect(names(spec.initContainers)).to.deep.equal(['mesh-init', 'mesh-proxy', 'migrate']);
      expect(spec.initContainers![1]).to.include({ restartPolicy: 'Always', image: 'registry.example.com/mesh/envoy:1.8.0' });
      expect(names(spec.containers)).to.not.include('mesh-proxy');
      expect(plan.status).to.deep.include({ initContainers: ['mesh-init', 'mesh-proxy'], containers: [] });
      expect(plan.status.hash).to.not.equal(inject(shop(), envoy('Never', V1_36)).status.hash);
    });

    it('Auto on a 1.13 server injects what Never does', () => {
      expect(inject(shop(), envoy('Auto', V1_13)).object).to.deep.equal(inject(shop(), envoy('Never', V1_13)).object);
    });

    it('re-injection switches the layout both ways, replacing exactly the recorded items, user init containers before and after kept in place', () => {
      const workload = shop();
      // A user init container before the sidecar's block, one after it (as a user might add later).
      const first = inject(workload, envoy('Never', V1_36)).object;
      const template = first.spec.template;
      const edited: Workload = {
        ...first,
        spec: {
          ...first.spec,
          template: { ...template, spec: { ...template.spec, initContainers: [{ name: 'before', image: 'b:1' }, ...template.spec.initContainers!, { name: 'after', image: 'a:1' }] } },
        },
      };
      expect(names(edited.spec.template.spec.initContainers)).to.deep.equal(['before', 'mesh-init', 'migrate', 'after']);
      expect(names(edited.spec.template.spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);

      const toNative = inject(edited, envoy('Auto', V1_36));
      const nativeSpec = toNative.object.spec.template.spec;
      expect(toNative.changed).to.equal(true);
      expect(names(nativeSpec.initContainers)).to.deep.equal(['before', 'mesh-init', 'mesh-proxy', 'migrate', 'after']);
      expect(names(nativeSpec.containers)).to.deep.equal(['checkout', 'log-shipper']);
      const record = readInjectionStatus(toNative.object.spec.template.metadata?.annotations, 'test');
      expect(record).to.deep.include({ initContainers: ['mesh-init', 'mesh-proxy'], containers: [] });
      expect(inject(toNative.object, envoy('Auto', V1_36)).changed, 'idempotent in the native layout').to.equal(false);

      const back = inject(toNative.object, envoy('Never', V1_36));
      const backSpec = back.object.spec.template.spec;
      expect(names(backSpec.initContainers)).to.deep.equal(['before', 'mesh-init', 'migrate', 'after']);
      expect(names(backSpec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);
      expect(backSpec.containers[2]).to.not.have.property('restartPolicy');
      expect(back.object).to.deep.equal(edited);
    });

    it('a user container with the proxy\'s name is still a clash in the native layout', () => {
      const workload = shop();
      workload.spec.template.spec.initContainers!.push({ name: 'mesh-proxy', image: 'mine:1' });
      const plan = planWorkloadInjection(workload, shopContext([envoy('Auto', V1_36)]));
      expect(plan.action).to.equal('error');
    });

    for (const failurePolicy of ['Ignore', 'Fail'] as const) {
      it(`Always on a 1.13 server is an injection error with its own code, through failurePolicy ${failurePolicy}`, () => {
        const always = envoy('Always', V1_13, { failurePolicy });
        const plan = planWorkloadInjection(shop(), shopContext([always]));
        expect(plan.action).to.equal('error');
        if (plan.action !== 'error') return;
        expect(plan.error.code).to.equal('native_sidecar_unsupported');
        expect(plan.error.message).to.equal(
          'Deployment shop/checkout: MeshConfig envoy-mesh asks for nativeSidecar Always, but the API server is v1.13.0 and native sidecars (init containers with restartPolicy: Always) ' +
            'need Kubernetes 1.29 or newer: this server would drop the proxy\'s restartPolicy and hold the Pod in Init forever, so meshinit does not inject it; ' +
            'set spec.sidecar.nativeSidecar to Auto (regular containers on this server) or Never',
        );
        const admission = admissionVerdict(plan);
        const initializer = initializerVerdict(plan, { kind: 'Deployment' });
        expect(admission.code).to.equal('native_sidecar_unsupported');
        expect(initializer.code).to.equal('native_sidecar_unsupported');
        expect(admission.action).to.equal(failurePolicy === 'Fail' ? 'denied' : 'allowed-uninjected');
        expect(initializer.action).to.equal(failurePolicy === 'Fail' ? 'failed' : 'released');
      });
    }
  });

  describe('the webhook', () => {
    const jobPod = () => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { generateName: 'migrate-', labels: { app: 'migrate' }, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'migrate', uid: 'j1', controller: true }] },
      spec: { restartPolicy: 'Never', initContainers: [{ name: 'fetch', image: 'f:1' }], containers: [{ name: 'work', image: 'w:1' }] },
    });
    const review = (object: unknown) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'r1', resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'shop', operation: 'CREATE', object } });
    const context = (meshConfig: MeshConfig) => ({ target: 'pods' as const, namespace: () => ({ name: 'shop', labels: { mesh: 'enabled' } }), meshConfigs: () => [meshConfig], controllerNamespace: 'meshinit-system' });

    it('--target pods, Auto on 1.36: the patch puts the proxy among the Pod\'s init containers with restartPolicy Always', () => {
      const outcome = admit(review(jobPod()), context(envoy('Auto', V1_36)));
      expect(outcome.decision.action).to.equal('injected');
      const ops = JSON.parse(Buffer.from(outcome.review.response.patch ?? '', 'base64').toString('utf8')) as jsonpatch.Operation[];
      const patched = jsonpatch.applyPatch(jobPod(), ops, true, false).newDocument as { spec: { initContainers: Container[]; containers: Container[] } };
      expect(patched.spec.initContainers.map((c) => `${c.name}${c.restartPolicy ? `:${String(c.restartPolicy)}` : ''}`)).to.deep.equal(['mesh-init', 'mesh-proxy:Always', 'fetch']);
      expect(names(patched.spec.containers)).to.deep.equal(['work']);
    });

    it('--target pods, Always on 1.13 with failurePolicy Fail: denied with the reason and its code; Ignore: admitted uninjected with a warning', () => {
      const denied = admit(review(jobPod()), context(envoy('Always', V1_13, { failurePolicy: 'Fail' })));
      expect(denied.decision).to.include({ action: 'denied', code: 'native_sidecar_unsupported' });
      expect(denied.review.response.allowed).to.equal(false);
      expect(JSON.stringify(denied.review.response.status)).to.include('asks for nativeSidecar Always');
      const admitted = admit(review(jobPod()), context(envoy('Always', V1_13)));
      expect(admitted.decision).to.include({ action: 'allowed-uninjected', code: 'native_sidecar_unsupported' });
      expect(admitted.review.response.patch).to.equal(undefined);
      expect(admitted.review.response.warnings?.[0]).to.include('set spec.sidecar.nativeSidecar to Auto');
    });
  });

  describe('status counts and explain agree with injection', () => {
    it('a workload injected in the native layout counts as injected for Auto on 1.36, outdated once the MeshConfig says Never', () => {
      const auto = envoy('Auto', V1_36);
      const injected = inject(shop(), auto);
      const counted = (meshConfig: MeshConfig) => countMeshConfigWorkloads({
        // Generation 0: the hash decides, as on 1.9 or after an edit.
        workloads: [{ kind: 'Deployment', name: 'checkout', namespace: 'shop', labels: {}, injection: { ...injected.status, generation: 0 } }],
        meshConfigs: [meshConfig],
        namespace: (name) => ({ name, labels: { mesh: 'enabled' } }),
        policy: {},
        recordsVisible: true,
      }).get('envoy-mesh');
      expect(counted(auto)).to.include({ injected: 1, outdated: 0 });
      expect(counted(envoy('Never', V1_36))).to.include({ injected: 0, outdated: 1 });
      expect(counted(envoy('Auto', V1_13))).to.include({ injected: 0, outdated: 1 });
    });

    it('explain shows the layout (text and JSON) and calls a native injection current', () => {
      const auto = envoy('Auto', V1_36);
      const injected = inject(shop(), auto).object;
      const request = { workload: injected, namespace: { name: 'shop', labels: { mesh: 'enabled' } }, meshConfigs: [{ name: 'envoy-mesh', valid: true as const, meshConfig: auto }], modes: ['webhook' as const] };
      const explanation = explainWorkload(request);
      expect(explanation.injected.state).to.equal('current');
      expect(explanation.sidecarLayout).to.deep.equal({ meshConfig: 'envoy-mesh', nativeSidecar: 'Auto', layout: 'native', server: 'v1.36.3' });
      const report = { items: [{ source: 'test', explanation, namespaceLabelsKnown: true }], passedOver: [], notes: [] };
      expect(renderExplainText(report)).to.include('  Sidecar layout (nativeSidecar Auto, server v1.36.3): native sidecars (its containers as init containers with restartPolicy Always)\n');
      expect(JSON.parse(renderExplainJson(report)).explanations[0].sidecarLayout).to.deep.equal(explanation.sidecarLayout);

      const old = explainWorkload({ ...request, workload: shop(), meshConfigs: [{ name: 'envoy-mesh', valid: true, meshConfig: envoy('Auto', V1_13) }] });
      expect(old.sidecarLayout).to.include({ layout: 'containers', server: 'v1.13.0' });
      expect(renderExplainText({ ...report, items: [{ source: 'test', explanation: old, namespaceLabelsKnown: true }] })).to.match(/Sidecar layout \(nativeSidecar Auto, server v1\.13\.0\): regular containers\n {4}nativeSidecar Auto: the API server is v1\.13\.0/);
      expect(explainWorkload({ ...request, meshConfigs: [{ name: 'envoy-mesh', valid: true, meshConfig: envoy(undefined, V1_36) }] })).to.not.have.property('sidecarLayout');
    });
  });
});
