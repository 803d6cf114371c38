import { expect } from 'chai';
import { INJECT_ANNOTATION, STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { InjectionError } from '../../controller/core/errors.ts';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import { planJobPodInjection, planWorkloadInjection } from '../../controller/core/plan.ts';
import { readInjectionStatus } from '../../controller/core/status-record.ts';
import type { Container, Pod, Workload, WorkloadKind } from '../../controller/core/types.ts';
import {
  deepFreeze,
  demoDeployment,
  envoyMeshConfig,
  meshConfig,
  names,
  omit,
  rawEnvoyMeshConfig,
  reportJob,
  reportJobPod,
  shopContext,
  shopDeployment,
  shopWorkloadOfKind,
  statusRecord,
} from './fixtures/helpers.ts';

/** The Envoy proxy container as it must look once rendered for `name` in `namespace` as `kind`. */
function expectedProxy(name: string, namespace: string, kind: string): Container {
  const proxy = rawEnvoyMeshConfig().spec.sidecar.containers[0];
  proxy.args = [
    'proxy', 'sidecar',
    '--serviceCluster', name,
    '--serviceNode', `${kind}.${namespace}`,
    '--discoveryAddress', 'mesh-pilot.mesh-system:15007',
    '--drainDuration', '45s',
  ];
  proxy.env = [
    { name: 'POD_NAMESPACE', value: namespace },
    { name: 'MESH_CONFIG', value: 'envoy-mesh' },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ];
  return proxy;
}

function injectShop(workload: Workload = shopDeployment()) {
  return injectWorkload(workload, envoyMeshConfig());
}

describe('core/inject', () => {
  describe('a workload with only generateName (webhook --target workloads sees it before the server names it)', () => {
    function unnamed(): Workload {
      const workload = shopDeployment();
      const metadata = { ...workload.metadata, generateName: 'checkout-' };
      delete metadata.name;
      return { ...workload, metadata };
    }

    it('refuses to render {{workload.name}} as the prefix: an InjectionError naming generateName, handled by failurePolicy', () => {
      expect(() => injectWorkload(unnamed(), envoyMeshConfig())).to.throw(InjectionError, /only metadata\.generateName "checkout-".*\{\{workload\.name\}\}/);
      const plan = planWorkloadInjection(unnamed(), shopContext());
      expect(plan.action).to.equal('error');
    });

    it('injects it when the sidecar does not use {{workload.name}}', () => {
      const mc = meshConfig('plain', { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:1', args: ['--ns', '{{workload.namespace}}'] }] } });
      const { object } = injectWorkload(unnamed(), mc);
      expect(names(object.spec.template.spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);
    });
  });

  describe('injectWorkload on a realistic Deployment', () => {
    it('puts the sidecar init containers before the app\'s, containers after, volumes and pull secrets appended', () => {
      const { object, changed } = injectShop();
      const spec = object.spec.template.spec;
      expect(changed).to.equal(true);
      expect(names(spec.initContainers)).to.deep.equal(['mesh-init', 'migrate']);
      expect(names(spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);
      expect(names(spec.volumes)).to.deep.equal(['config', 'tmp', 'mesh-envoy', 'mesh-certs']);
      expect(spec.imagePullSecrets).to.deep.equal([{ name: 'shop-registry' }, { name: 'mesh-registry' }]);
    });

    it('renders every placeholder for the workload and copies other fields verbatim', () => {
      const spec = injectShop().object.spec.template.spec;
      expect(spec.containers[2]).to.deep.equal(expectedProxy('checkout', 'shop', 'Deployment'));
      expect(spec.initContainers![0]).to.deep.equal(rawEnvoyMeshConfig().spec.sidecar.initContainers[0]);
      expect(spec.volumes!.slice(2)).to.deep.equal([
        { name: 'mesh-envoy', emptyDir: { medium: 'Memory' } },
        { name: 'mesh-certs', secret: { secretName: 'mesh.shop', optional: true } },
      ]);
    });

    it('keeps the app\'s containers, volumes and pull secrets exactly as they were', () => {
      const original = shopDeployment();
      const spec = injectShop().object.spec.template.spec;
      expect(spec.initContainers!.slice(1)).to.deep.equal(original.spec.template.spec.initContainers);
      expect(spec.containers.slice(0, 2)).to.deep.equal(original.spec.template.spec.containers);
      expect(spec.volumes!.slice(0, 2)).to.deep.equal(original.spec.template.spec.volumes);
      const lists = ['initContainers', 'containers', 'volumes', 'imagePullSecrets'];
      expect(omit(spec, ...lists)).to.deep.equal(omit(original.spec.template.spec, ...lists));
      expect(Object.keys(omit(spec, ...lists))).to.have.length(7);
    });

    it('adds pod annotations and labels only where absent; the user\'s value wins and is not recorded', () => {
      const { object } = injectShop();
      const meta = object.spec.template.metadata!;
      const { [STATUS_ANNOTATION]: status, ...annotations } = meta.annotations!;
      expect(status).to.be.a('string');
      expect(annotations).to.deep.equal({
        'prometheus.io/scrape': 'false',
        'prometheus.io/port': '8080',
        'mesh.meshinit.dev/proxy-version': '1.8.0',
        'mesh.meshinit.dev/cluster': 'checkout.shop',
      });
      expect(meta.labels).to.deep.equal({ app: 'checkout', tier: 'backend', 'mesh.meshinit.dev/proxied': 'true' });
      expect(meta.creationTimestamp).to.equal(null);
    });

    it('records exactly the added items, the MeshConfig and its generation, on the workload and on the template', () => {
      const { object, status } = injectShop();
      const expected = {
        meshConfig: 'envoy-mesh',
        generation: 3,
        hash: status.hash,
        initContainers: ['mesh-init'],
        containers: ['mesh-proxy'],
        volumes: ['mesh-envoy', 'mesh-certs'],
        imagePullSecrets: ['mesh-registry'],
        podAnnotations: ['mesh.meshinit.dev/proxy-version', 'mesh.meshinit.dev/cluster'],
        podLabels: ['mesh.meshinit.dev/proxied'],
      };
      expect(status).to.deep.equal(expected);
      expect(status.hash).to.match(/^[0-9a-f]{14}$/);
      expect(statusRecord(object.spec.template.metadata!.annotations)).to.deep.equal(expected);
      expect(statusRecord(object.metadata.annotations)).to.deep.equal(expected);
      expect(readInjectionStatus(object.spec.template.metadata!.annotations, 'test')).to.deep.equal(expected);
    });

    it('leaves workload metadata other than annotations, and spec outside the template, untouched', () => {
      const original = shopDeployment();
      const { object } = injectShop();
      const { annotations, ...metadata } = object.metadata;
      const { annotations: originalAnnotations, ...originalMetadata } = original.metadata;
      expect(metadata).to.deep.equal(originalMetadata);
      expect(metadata.initializers).to.deep.equal(original.metadata.initializers);
      expect(omit(annotations, STATUS_ANNOTATION)).to.deep.equal(originalAnnotations);
      expect(omit(object.spec, 'template')).to.deep.equal(omit(original.spec, 'template'));
      expect(object.status).to.deep.equal(original.status);
      expect(object.apiVersion).to.equal('apps/v1');
      expect(Object.keys(object.spec.template)).to.deep.equal(['metadata', 'spec']);
    });

    it('does not modify a deep-frozen input', () => {
      const input = deepFreeze(shopDeployment());
      const before = structuredClone(input);
      const result = injectShop(input);
      expect(input).to.deep.equal(before);
      expect(result.object).to.not.equal(input);
      expect(names(result.object.spec.template.spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);
      // Injecting into the frozen result again must not throw either.
      const again = injectShop(deepFreeze(result.object));
      expect(again.changed).to.equal(false);
    });

    it('does not modify the MeshConfig, and rendering one workload does not leak into the next', () => {
      const mc = deepFreeze(envoyMeshConfig());
      const before = structuredClone(mc);
      const first = injectWorkload(shopDeployment(), mc).object;
      const other = shopDeployment();
      other.metadata.name = 'cart';
      const second = injectWorkload(other, mc).object;
      expect(mc).to.deep.equal(before);
      expect(first.spec.template.spec.containers[2]!.args).to.include('checkout');
      expect(second.spec.template.spec.containers[2]!.args).to.include('cart');
      expect(second.spec.template.spec.containers[2]!.args).to.not.include('checkout');
    });

    it('injects the minimal demo-b Deployment from a real 1.13 server, adding only non-empty lists', () => {
      const mc = meshConfig('minimal', { sidecar: { containers: [{ name: 'mesh-proxy', image: 'envoy:1.8.0', args: ['--serviceCluster', '{{workload.name}}'] }] } }, 2);
      const { object, status } = injectWorkload(demoDeployment(), mc);
      const spec = object.spec.template.spec;
      expect(spec.containers).to.deep.equal([demoDeployment().spec.template.spec.containers[0], { name: 'mesh-proxy', image: 'envoy:1.8.0', args: ['--serviceCluster', 'demo-b'] }]);
      expect(spec).to.not.have.property('initContainers');
      expect(spec).to.not.have.property('volumes');
      expect(spec).to.not.have.property('imagePullSecrets');
      expect(object.spec.template.metadata!.labels).to.deep.equal({ app: 'demo-b' });
      expect(Object.keys(object.spec.template.metadata!.annotations!)).to.deep.equal([STATUS_ANNOTATION]);
      expect(Object.keys(object.metadata.annotations!)).to.deep.equal([STATUS_ANNOTATION]);
      expect(status).to.deep.include({ meshConfig: 'minimal', generation: 2, initContainers: [], containers: ['mesh-proxy'], volumes: [], imagePullSecrets: [], podAnnotations: [], podLabels: [] });
    });

    it('creates template metadata when the template has none', () => {
      const workload = demoDeployment();
      delete workload.spec.template.metadata;
      const { object } = injectShop(workload);
      const meta = object.spec.template.metadata!;
      expect(Object.keys(meta)).to.deep.equal(['annotations', 'labels']);
      expect(meta.labels).to.deep.equal({ 'mesh.meshinit.dev/proxied': 'true' });
      expect(meta.annotations!['mesh.meshinit.dev/cluster']).to.equal('demo-b.default');
    });

    it('puts several sidecar init containers first, in MeshConfig order', () => {
      const mc = meshConfig('multi', {
        sidecar: {
          initContainers: [{ name: 'mesh-certs', image: 'certs:1' }, { name: 'mesh-init', image: 'init:1' }, { name: 'mesh-wait', image: 'wait:1' }],
          containers: [{ name: 'mesh-proxy', image: 'envoy:1' }, { name: 'mesh-agent', image: 'agent:1' }],
        },
      });
      const spec = injectWorkload(shopDeployment(), mc).object.spec.template.spec;
      expect(names(spec.initContainers)).to.deep.equal(['mesh-certs', 'mesh-init', 'mesh-wait', 'migrate']);
      expect(names(spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy', 'mesh-agent']);
    });

    it('merges pull secrets: one the user already lists is kept once and not recorded', () => {
      const workload = shopDeployment();
      workload.spec.template.spec.imagePullSecrets = [{ name: 'mesh-registry' }, { name: 'shop-registry' }];
      const { object, status } = injectShop(workload);
      expect(object.spec.template.spec.imagePullSecrets).to.deep.equal([{ name: 'mesh-registry' }, { name: 'shop-registry' }]);
      expect(status.imagePullSecrets).to.deep.equal([]);
    });

    it('does not record a pod label the user already set, even to the same value', () => {
      const workload = shopDeployment();
      workload.spec.template.metadata!.labels = { app: 'checkout', 'mesh.meshinit.dev/proxied': 'true' };
      const { status, object } = injectShop(workload);
      expect(status.podLabels).to.deep.equal([]);
      expect(object.spec.template.metadata!.labels).to.deep.equal({ app: 'checkout', 'mesh.meshinit.dev/proxied': 'true' });
    });

    for (const kind of ['StatefulSet', 'DaemonSet', 'Job'] as WorkloadKind[]) {
      it(`injects a ${kind} the same way, rendering {{workload.kind}} as ${kind}`, () => {
        const { object } = injectWorkload(shopWorkloadOfKind(kind), envoyMeshConfig());
        expect(object.kind).to.equal(kind);
        expect(object.spec.template.spec.containers[2]).to.deep.equal(expectedProxy('checkout', 'shop', kind));
        expect(names(object.spec.template.spec.initContainers)).to.deep.equal(['mesh-init', 'migrate']);
      });
    }
  });

  describe('placeholder rendering', () => {
    const echo = () =>
      meshConfig('echo-mesh', {
        sidecar: {
          containers: [{ name: 'mesh-proxy', image: 'envoy:1', args: ['{{workload.name}}', '{{ workload.namespace }}', '{{workload.kind}}', '{{meshConfig.name}}', 'x{{workload.name}}y{{workload.name}}z'] }],
        },
      });

    function argsFor(name: string, namespace = 'shop'): unknown {
      const workload = shopDeployment();
      workload.metadata.name = name;
      workload.metadata.namespace = namespace;
      return injectWorkload(workload, echo()).object.spec.template.spec.containers.at(-1)!.args;
    }

    it('renders each placeholder, with inner spaces, every occurrence', () => {
      expect(argsFor('checkout')).to.deep.equal(['checkout', 'shop', 'Deployment', 'echo-mesh', 'xcheckoutycheckoutz']);
    });

    it('keeps $& and $1 in values literal (no replacement-pattern expansion)', () => {
      expect(argsFor('a$&b$1c$$d', "ns$'")).to.deep.equal(['a$&b$1c$$d', "ns$'", 'Deployment', 'echo-mesh', 'xa$&b$1c$$dya$&b$1c$$dz']);
    });

    it('does not render template syntax that comes from the workload itself', () => {
      expect(argsFor('{{meshConfig.name}}')).to.deep.equal(['{{meshConfig.name}}', 'shop', 'Deployment', 'echo-mesh', 'x{{meshConfig.name}}y{{meshConfig.name}}z']);
    });
  });

  describe('injectPod and the Pods of Jobs', () => {
    const identity = { kind: 'Job' as const, name: 'nightly-report', namespace: 'shop' };

    it('injects a Job\'s Pod, rendering placeholders from the Job', () => {
      const pod = reportJobPod();
      const { object, changed, status } = injectPod(pod, envoyMeshConfig(), identity);
      expect(changed).to.equal(true);
      expect(names(object.spec.initContainers)).to.deep.equal(['mesh-init']);
      expect(names(object.spec.containers)).to.deep.equal(['report', 'mesh-proxy']);
      expect(object.spec.containers[1]).to.deep.equal(expectedProxy('nightly-report', 'shop', 'Job'));
      expect(names(object.spec.volumes)).to.deep.equal(['default-token-4xq9z', 'mesh-envoy', 'mesh-certs']);
      expect(object.spec.imagePullSecrets).to.deep.equal([{ name: 'mesh-registry' }]);
      expect(object.metadata.annotations!['mesh.meshinit.dev/cluster']).to.equal('nightly-report.shop');
      expect(statusRecord(object.metadata.annotations)).to.deep.equal(status);
      // Everything else about the Pod is as the server made it.
      expect(omit(object.metadata, 'annotations', 'labels')).to.deep.equal(omit(reportJobPod().metadata, 'labels'));
      expect(object.metadata.labels).to.deep.equal({ ...reportJobPod().metadata.labels, 'mesh.meshinit.dev/proxied': 'true' });
      expect(object.status).to.deep.equal(pod.status);
      expect(object.spec.tolerations).to.deep.equal(pod.spec.tolerations);
    });

    it('does not modify a frozen Pod', () => {
      const pod = deepFreeze(reportJobPod());
      const before = structuredClone(pod);
      injectPod(pod, envoyMeshConfig(), identity);
      expect(pod).to.deep.equal(before);
    });

    it('finds nothing to do in a Pod created from an already injected Job template', () => {
      const job = injectWorkload(reportJob(), envoyMeshConfig()).object;
      const pod: Pod = reportJobPod();
      pod.metadata.annotations = { ...job.spec.template.metadata!.annotations };
      pod.metadata.labels = { ...job.spec.template.metadata!.labels };
      const template = job.spec.template.spec;
      // The service-account volume is the Pod's own, added by the server: it stays first.
      pod.spec = { ...pod.spec, initContainers: template.initContainers!, containers: template.containers, imagePullSecrets: template.imagePullSecrets!, volumes: [pod.spec.volumes![0]!, ...template.volumes!] };
      const result = injectPod(pod, envoyMeshConfig(), identity);
      expect(result.changed).to.equal(false);
      expect(result.object).to.deep.equal(pod);
    });
  });

  describe('planWorkloadInjection / planJobPodInjection', () => {
    it('plans an injection with the selected MeshConfig and the policy reason', () => {
      const plan = planWorkloadInjection(shopDeployment(), shopContext());
      expect(plan.action).to.equal('inject');
      if (plan.action !== 'inject') return;
      expect(plan.meshConfig.name).to.equal('envoy-mesh');
      expect(plan.reason).to.equal('selected by MeshConfig envoy-mesh (policy Enabled)');
      expect(plan.changed).to.equal(true);
      expect(plan.object).to.deep.equal(injectShop().object);
      expect(plan.status).to.deep.equal(injectShop().status);
    });

    it('plans a skip, with the reason and the MeshConfig when one was selected', () => {
      const optedOut = shopDeployment();
      optedOut.metadata.annotations = { [INJECT_ANNOTATION]: 'false' };
      const skip = planWorkloadInjection(optedOut, shopContext());
      expect(skip).to.deep.equal({ action: 'skip', reason: `Deployment has annotation ${INJECT_ANNOTATION}: "false"`, code: 'opted_out' });

      const disabled = planWorkloadInjection(shopDeployment(), shopContext([meshConfig('opt-in', { policy: 'Disabled' })]));
      expect(disabled.action).to.equal('skip');
      if (disabled.action === 'skip') {
        expect(disabled.meshConfig?.name).to.equal('opt-in');
        expect(disabled.reason).to.include('policy Disabled');
      }
    });

    it('plans an error (not a throw) for a workload whose template has no spec', () => {
      const broken = shopDeployment() as unknown as { spec: { template: Record<string, unknown> } };
      delete broken.spec.template.spec;
      const plan = planWorkloadInjection(broken as unknown as Workload, shopContext());
      expect(plan.action).to.equal('error');
      if (plan.action === 'error') {
        expect(plan.error.name).to.equal('InjectionError');
        expect(plan.error.message).to.include('Deployment shop/checkout');
        expect(plan.error.message).to.include('no containers list');
        expect(plan.meshConfig.name).to.equal('envoy-mesh');
      }
    });

    it('plans a Job\'s Pod from the Job: its selection, its opt-out, the Pod\'s own hostNetwork', () => {
      const plan = planJobPodInjection(reportJobPod(), reportJob(), shopContext());
      expect(plan.action).to.equal('inject');
      if (plan.action === 'inject') {
        expect(plan.object.spec.containers[1]).to.deep.equal(expectedProxy('nightly-report', 'shop', 'Job'));
        expect(plan.reason).to.equal('selected by MeshConfig envoy-mesh (policy Enabled)');
      }

      const optedOutJob = reportJob();
      optedOutJob.metadata.annotations = { [INJECT_ANNOTATION]: 'false' };
      expect(planJobPodInjection(reportJobPod(), optedOutJob, shopContext()).action).to.equal('skip');

      const excludedJob = reportJob();
      excludedJob.metadata.labels = { ...excludedJob.metadata.labels, 'mesh.meshinit.dev/exclude': 'yes' };
      const excluded = planJobPodInjection(reportJobPod(), excludedJob, shopContext());
      expect(excluded.action).to.equal('skip');
      if (excluded.action === 'skip') expect(excluded.reason).to.match(/^no MeshConfig selects it/);

      const hostPod = reportJobPod();
      hostPod.spec.hostNetwork = true;
      const host = planJobPodInjection(hostPod, reportJob(), shopContext());
      expect(host.action).to.equal('skip');
      if (host.action === 'skip') expect(host.reason).to.include('hostNetwork');
    });

    it('judges a Job\'s Pod by kind Job', () => {
      const plan = planJobPodInjection(reportJobPod(), reportJob(), shopContext([meshConfig('deployments-only', { kinds: ['Deployment'] })]));
      expect(plan).to.deep.equal({ action: 'skip', reason: 'kind Job is not in the kinds of MeshConfig deployments-only', code: 'kind_not_selected' });
    });
  });
});
