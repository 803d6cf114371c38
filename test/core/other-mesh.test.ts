// Another mesh in a pod template: detection of the known meshes' sidecars and markers, the
// MeshConfig's own list, meshinit's own injection never counting, and the one rule every mode
// applies (skipped with a warning, whatever failurePolicy).
import { expect } from 'chai';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import { admissionVerdict, initializerVerdict } from '../../controller/core/outcome.ts';
import { detectOtherMesh, KNOWN_MESHES, type PodTemplateView } from '../../controller/core/other-mesh.ts';
import { planPodInjection, planWorkloadInjection } from '../../controller/core/plan.ts';
import type { Container, Pod, PodSpec, Workload } from '../../controller/core/types.ts';
import { meshConfig, namespace, shopDeployment } from './fixtures/helpers.ts';

const MESH = meshConfig('mesh', { conflictingContainers: ['vault-agent'] });

function view(spec: Partial<PodSpec>, annotations: Record<string, string> = {}, labels: Record<string, string> = {}): PodTemplateView {
  return { podSpec: { containers: [{ name: 'app' }], ...spec }, annotations: [{}, annotations], labels };
}

/** An `istioctl kube-inject`ed Deployment, trimmed to what detection reads. */
function istioInjected(): Workload {
  const workload = shopDeployment();
  const template = workload.spec.template;
  template.metadata = {
    ...template.metadata,
    annotations: { ...template.metadata?.annotations, 'sidecar.istio.io/status': '{"initContainers":["istio-init"],"containers":["istio-proxy"]}', 'prometheus.io/port': '15020' },
  };
  template.spec.initContainers = [{ name: 'istio-init', image: 'docker.io/istio/proxyv2:1.24.0' }, ...(template.spec.initContainers ?? [])];
  template.spec.containers = [...template.spec.containers, { name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.24.0' }];
  return workload;
}

describe('core/other-mesh: another mesh in the pod template', () => {
  it('finds Istio by its proxy, init and validation containers and its status annotation', () => {
    expect(detectOtherMesh(view({ containers: [{ name: 'app' }, { name: 'istio-proxy' }], initContainers: [{ name: 'istio-init' }] }, { 'sidecar.istio.io/status': '{}' }), MESH)).to.deep.equal({
      mesh: 'Istio',
      evidence: ['init container istio-init', 'container istio-proxy', 'annotation sidecar.istio.io/status'],
    });
    expect(detectOtherMesh(view({ initContainers: [{ name: 'istio-validation' }] }), MESH)?.mesh).to.equal('Istio');
    expect(detectOtherMesh(view({}, {}, { 'sidecar.istio.io/inject': 'true' }), MESH)).to.deep.equal({ mesh: 'Istio', evidence: ['label sidecar.istio.io/inject=true'] });
  });

  it('finds Linkerd by linkerd-proxy, by its proxy-version annotation, and by linkerd.io/inject: enabled', () => {
    expect(detectOtherMesh(view({ containers: [{ name: 'app' }, { name: 'linkerd-proxy' }] }, { 'linkerd.io/proxy-version': 'stable-2.14.10' }), MESH)).to.deep.equal({
      mesh: 'Linkerd',
      evidence: ['container linkerd-proxy', 'annotation linkerd.io/proxy-version'],
    });
    expect(detectOtherMesh(view({}, { 'linkerd.io/inject': 'enabled' }), MESH)).to.deep.equal({ mesh: 'Linkerd', evidence: ['annotation linkerd.io/inject: "enabled"'] });
  });

  it('finds Consul and Kuma by their containers', () => {
    expect(detectOtherMesh(view({ initContainers: [{ name: 'consul-connect-inject-init' }], containers: [{ name: 'app' }, { name: 'consul-dataplane' }] }), MESH)?.mesh).to.equal('Consul');
    expect(detectOtherMesh(view({ containers: [{ name: 'app' }, { name: 'kuma-sidecar' }] }), MESH)?.mesh).to.equal('Kuma');
  });

  it('an opt-out marker of another mesh is no mesh: sidecar.istio.io/inject: "false", linkerd.io/inject: disabled', () => {
    expect(detectOtherMesh(view({}, { 'sidecar.istio.io/inject': 'false', 'linkerd.io/inject': 'disabled' }, { 'sidecar.istio.io/inject': 'false' }), MESH)).to.equal(undefined);
  });

  it('finds a container the MeshConfig lists in spec.conflictingContainers, init containers too', () => {
    expect(detectOtherMesh(view({ initContainers: [{ name: 'vault-agent' }] }), MESH)).to.deep.equal({ mesh: 'spec.conflictingContainers of MeshConfig mesh', evidence: ['init container vault-agent'] });
    expect(detectOtherMesh(view({ containers: [{ name: 'app' }, { name: 'vault-agent' }] }), meshConfig('bare'))).to.equal(undefined);
  });

  it('meshinit\'s own sidecar is never another mesh, even named like Istio\'s, nor what its status record lists', () => {
    const istioNamed = meshConfig('istio-like', { sidecar: { containers: [{ name: 'istio-proxy', image: 'p:1' }], podAnnotations: { 'sidecar.istio.io/status': 'ours' } } });
    expect(detectOtherMesh(view({ containers: [{ name: 'app' }, { name: 'istio-proxy' }] }, { 'sidecar.istio.io/status': 'ours' }), istioNamed)).to.equal(undefined);
    const recorded = { 'sidecar.meshinit.dev/status': JSON.stringify({ meshConfig: 'old', hash: 'h', containers: ['linkerd-proxy'] }) };
    expect(detectOtherMesh(view({ containers: [{ name: 'app' }, { name: 'linkerd-proxy' }] }, recorded), MESH)).to.equal(undefined);
    // A corrupt record is injection's to report, not a second mesh, and hides nothing either.
    const corrupt = { 'sidecar.meshinit.dev/status': '{not json' };
    expect(detectOtherMesh(view({ containers: [{ name: 'app' }] }, corrupt), MESH)).to.equal(undefined);
    expect(detectOtherMesh(view({ containers: [{ name: 'app' }, { name: 'istio-proxy' }] }, corrupt), MESH)?.mesh).to.equal('Istio');
  });

  it('malformed container lists are read without a throw', () => {
    const odd = { podSpec: { containers: 'x', initContainers: [null, 3, { name: 7 }, { name: 'istio-init' }] } as unknown as PodSpec, annotations: [], labels: {} };
    expect(detectOtherMesh(odd, MESH)?.evidence).to.deep.equal(['init container istio-init']);
    expect(detectOtherMesh({ podSpec: undefined, annotations: [], labels: {} }, MESH)).to.equal(undefined);
  });

  it('every known mesh names its containers in lowercase DNS-1123 form (a typo would never match)', () => {
    for (const known of KNOWN_MESHES) for (const name of known.containers) expect(name, known.mesh).to.match(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  describe('the rule in every mode', () => {
    const context = (failurePolicy: 'Ignore' | 'Fail') => ({ namespace: namespace('shop'), meshConfigs: [meshConfig('mesh', { failurePolicy })] });

    it('an Istio-injected Deployment is skipped, with the reason naming Istio and its evidence, under either failurePolicy', () => {
      for (const policy of ['Ignore', 'Fail'] as const) {
        const plan = planWorkloadInjection(istioInjected(), context(policy));
        expect(plan.action, policy).to.equal('skip');
        if (plan.action !== 'skip') return;
        expect(plan.reason).to.equal(
          'the pod template belongs to another mesh, Istio (init container istio-init, container istio-proxy, annotation sidecar.istio.io/status): ' +
            'two meshes in one pod would both redirect its traffic to their own proxy, so meshinit leaves it to Istio',
        );
        expect(plan.otherMesh?.mesh).to.equal('Istio');
        // Initializer: released untouched, logged at warn; webhook: admitted untouched, with a warning for kubectl.
        expect(initializerVerdict(plan, { kind: 'Deployment' })).to.deep.include({ action: 'skipped', level: 'warn', meshConfig: 'mesh', reason: plan.reason, code: 'other_mesh' });
        expect(admissionVerdict(plan)).to.deep.equal({ action: 'skipped', reason: plan.reason, code: 'other_mesh', meshConfig: 'mesh', warning: `meshinit did not inject its sidecar: ${plan.reason}`, otherMesh: 'Istio' });
      }
    });

    it('a Job with another mesh is skipped (warned), not released with the Job reason', () => {
      const job = istioInjected() as unknown as Workload;
      job.kind = 'Job';
      const plan = planWorkloadInjection(job, context('Ignore'));
      expect(initializerVerdict(plan, { kind: 'Job' })).to.deep.include({ action: 'skipped', level: 'warn' });
    });

    it('a Pod that Istio\'s webhook injected before meshinit\'s (--target pods) is skipped too', () => {
      const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ratings-1', namespace: 'shop', annotations: { 'sidecar.istio.io/status': '{}' } }, spec: { containers: [{ name: 'app' }, { name: 'istio-proxy' } as Container] } };
      const plan = planPodInjection(pod, { kind: 'Deployment', name: 'ratings', namespace: 'shop' }, context('Fail'));
      expect(plan.action === 'skip' && plan.otherMesh?.mesh).to.equal('Istio');
    });

    it('a Pod meshinit injected before Istio\'s webhook added its proxy (a reinvocation): skipped, saying meshinit\'s sidecar is still there', function () {
      const mc = meshConfig('mesh');
      const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop' }, spec: { containers: [{ name: 'app' }] } };
      const ours = injectPod(pod, mc, { kind: 'Deployment', name: 'web', namespace: 'shop' }).object;
      const both: Pod = { ...ours, spec: { ...ours.spec, containers: [...ours.spec.containers, { name: 'istio-proxy' }] } };
      const plan = planPodInjection(both, { kind: 'Deployment', name: 'web', namespace: 'shop' }, { namespace: namespace('shop'), meshConfigs: [mc] });
      expect(plan.action === 'skip' && plan.otherMesh).to.deep.equal({ mesh: 'Istio', evidence: ['container istio-proxy'], besideOwn: true });
      expect(plan.action === 'skip' && plan.reason).to.match(/so meshinit leaves it to Istio; meshinit's sidecar from an earlier injection is still in it: remove one of the two$/);
    });

    it('policy reasons come first: an opted-out or unselected workload is skipped for that, at info', () => {
      const optedOut = istioInjected();
      optedOut.metadata.annotations = { 'sidecar.meshinit.dev/inject': 'false' };
      const plan = planWorkloadInjection(optedOut, context('Ignore'));
      expect(plan.action === 'skip' && plan.otherMesh).to.equal(undefined);
      expect(initializerVerdict(plan, { kind: 'Deployment' }).level).to.equal('info');
    });

    it('a workload meshinit injected stays meshinit\'s: re-planning it is "already injected", not another mesh', () => {
      const mc = meshConfig('mesh', { sidecar: { containers: [{ name: 'istio-proxy', image: 'p:1' }] } });
      const injected = injectWorkload(shopDeployment(), mc).object;
      const plan = planWorkloadInjection(injected, { namespace: namespace('shop'), meshConfigs: [mc] });
      expect(plan.action === 'inject' && plan.changed).to.equal(false);
    });
  });
});
