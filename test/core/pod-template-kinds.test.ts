// Every kind that carries a pod template: where its template is, that injection lands exactly
// there (and nowhere else), that injecting twice changes nothing, and that a changed MeshConfig
// replaces exactly the recorded items, for each of the kinds beyond the four the Initializer holds.
import { expect } from 'chai';
import fc from 'fast-check';
import { injectWorkload } from '../../controller/core/inject.ts';
import { admissionVerdict, initializerVerdict } from '../../controller/core/outcome.ts';
import { planWorkloadInjection } from '../../controller/core/plan.ts';
import { POD_TEMPLATE_KINDS, WORKLOAD_KINDS, type PodTemplateCarrier, type PodTemplateKind, type PodTemplateSpec } from '../../controller/core/types.ts';
import { podTemplateOf, podTemplatePath, recognisePodTemplateCarrier, recogniseWorkload, withPodTemplate } from '../../controller/core/workload.ts';
import { deepFreeze, meshConfig, names, namespace, statusRecord } from './fixtures/helpers.ts';

const APP_TEMPLATE: PodTemplateSpec = {
  metadata: { labels: { app: 'web' }, annotations: { team: 'shop' } },
  spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }], restartPolicy: 'Always' },
};

/** An object of `kind` whose pod template is APP_TEMPLATE, shaped as the API defines the kind. */
function objectOf(kind: PodTemplateKind): PodTemplateCarrier {
  const metadata = { name: 'web', namespace: 'shop', labels: { app: 'web' } };
  const template = structuredClone(APP_TEMPLATE);
  switch (kind) {
    case 'CronJob':
      return { apiVersion: 'batch/v1', kind, metadata, spec: { schedule: '0 3 * * *', jobTemplate: { metadata: { labels: { job: 'x' } }, spec: { backoffLimit: 2, template } } } };
    case 'Pod':
      return { apiVersion: 'v1', kind, metadata: { ...metadata, ...template.metadata, labels: { app: 'web' } }, spec: template.spec };
    case 'DeploymentConfig':
      return { apiVersion: 'apps.openshift.io/v1', kind, metadata, spec: { replicas: 1, selector: { app: 'web' }, template, triggers: [{ type: 'ConfigChange' }] } };
    case 'ReplicationController':
      return { apiVersion: 'v1', kind, metadata, spec: { replicas: 1, selector: { app: 'web' }, template } };
    default:
      return { apiVersion: kind === 'Job' ? 'batch/v1' : 'apps/v1', kind, metadata, spec: { selector: { matchLabels: { app: 'web' } }, template } };
  }
}

const proxyConfig = (image: string, generation = 1) =>
  meshConfig('mesh', {
    sidecar: {
      initContainers: [{ name: 'mesh-init', image: 'registry.example/init:1' }],
      containers: [{ name: 'mesh-proxy', image, args: ['--cluster', '{{workload.name}}.{{workload.kind}}'] }],
      volumes: [{ name: 'mesh-config', emptyDir: {} }],
      podAnnotations: { 'mesh.example/version': image },
    },
  }, generation);

/** The object with its pod template taken out: what injection must leave exactly as it was. */
function outsideTemplate(object: PodTemplateCarrier): unknown {
  const copy = structuredClone(object) as PodTemplateCarrier;
  delete copy.metadata.annotations;
  const path = podTemplatePath(copy.kind);
  if (path.length === 0) {
    delete (copy as { spec?: unknown }).spec;
    return copy;
  }
  let at = copy as unknown as Record<string, unknown>;
  for (const field of path.slice(0, -1)) at = at[field] as Record<string, unknown>;
  delete at[path[path.length - 1]!];
  return copy;
}

describe('core: every kind that carries a pod template', () => {
  it('POD_TEMPLATE_KINDS holds the Initializer\'s four kinds and the five more istioctl kube-inject injects', () => {
    expect(POD_TEMPLATE_KINDS.slice(0, 4)).to.deep.equal([...WORKLOAD_KINDS]);
    expect(WORKLOAD_KINDS).to.have.length(4);
    expect(POD_TEMPLATE_KINDS.slice(4)).to.deep.equal(['CronJob', 'ReplicaSet', 'ReplicationController', 'DeploymentConfig', 'Pod']);
  });

  it('finds each kind\'s template at its path: a CronJob\'s under spec.jobTemplate.spec.template, a Pod\'s in itself', () => {
    expect(podTemplatePath('CronJob')).to.deep.equal(['spec', 'jobTemplate', 'spec', 'template']);
    expect(podTemplatePath('Pod')).to.deep.equal([]);
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet', 'ReplicationController', 'DeploymentConfig'] as const) {
      expect(podTemplatePath(kind), kind).to.deep.equal(['spec', 'template']);
    }
    for (const kind of POD_TEMPLATE_KINDS) {
      const template = podTemplateOf(objectOf(kind));
      expect(names(template?.spec.containers), kind).to.deep.equal(['app']);
      expect(template?.metadata?.annotations, kind).to.deep.equal({ team: 'shop' });
    }
  });

  it('withPodTemplate puts a template back at the kind\'s path without touching the input', () => {
    for (const kind of POD_TEMPLATE_KINDS) {
      const object = deepFreeze(objectOf(kind));
      const replaced = withPodTemplate(object, { metadata: { labels: { new: 'yes' } }, spec: { containers: [{ name: 'other' }] } });
      expect(names(podTemplateOf(replaced)?.spec.containers), kind).to.deep.equal(['other']);
      // A bare Pod is its own template: its metadata is the template's.
      if (kind === 'Pod') expect(replaced.metadata, kind).to.deep.equal({ labels: { new: 'yes' } });
      else expect(outsideTemplate(replaced), kind).to.deep.equal(outsideTemplate(object));
    }
  });

  it('recognises each kind, and names the path when the template is missing', () => {
    for (const kind of POD_TEMPLATE_KINDS) expect(recognisePodTemplateCarrier(objectOf(kind)).ok, kind).to.equal(true);
    expect(recognisePodTemplateCarrier({ kind: 'CronJob', metadata: { name: 'c' }, spec: { jobTemplate: { spec: {} } } })).to.deep.equal({ ok: false, reason: 'CronJob c has no spec.jobTemplate.spec.template.spec.containers list' });
    expect(recognisePodTemplateCarrier({ kind: 'ReplicationController', metadata: { name: 'r' }, spec: { replicas: 1 } })).to.deep.equal({ ok: false, reason: 'ReplicationController r has no spec.template.spec.containers list' });
    expect(recognisePodTemplateCarrier({ kind: 'Pod', metadata: { name: 'p' }, spec: {} })).to.deep.equal({ ok: false, reason: 'Pod p has no spec.containers list' });
    expect(recognisePodTemplateCarrier({ kind: 'Service', metadata: { name: 's' }, spec: {} })).to.deep.equal({ ok: false, reason: 'kind "Service" carries no pod template meshinit injects' });
    const badTemplate = recognisePodTemplateCarrier({ kind: 'CronJob', metadata: { name: 'c' }, spec: { jobTemplate: { spec: { template: { metadata: { labels: { a: 1 } }, spec: { containers: [] } } } } } });
    expect(badTemplate.ok ? '' : badTemplate.reason).to.equal('CronJob c: spec.jobTemplate.spec.template.metadata must be an object whose labels and annotations are maps of strings');
  });

  it('recogniseWorkload (the Initializer\'s and the --target pods cache\'s) still takes only the four kinds', () => {
    const cronJob = recogniseWorkload(objectOf('CronJob'));
    expect(cronJob).to.deep.equal({ ok: false, reason: 'kind "CronJob" is not a workload meshinit injects' });
    expect(recogniseWorkload(objectOf('Deployment')).ok).to.equal(true);
  });

  for (const kind of POD_TEMPLATE_KINDS) {
    describe(kind, () => {
      it('is injected in its pod template only, with the status record on the template and the object', () => {
        const object = deepFreeze(objectOf(kind));
        const { object: injected, changed } = injectWorkload(object, proxyConfig('registry.example/proxy:1'));
        expect(changed).to.equal(true);
        const template = podTemplateOf(injected)!;
        expect(names(template.spec.initContainers)).to.deep.equal(['mesh-init']);
        expect(names(template.spec.containers)).to.deep.equal(['app', 'mesh-proxy']);
        expect(names(template.spec.volumes as Array<{ name: string }>)).to.deep.equal(['mesh-config']);
        expect(template.spec.containers[1]!.args).to.deep.equal(['--cluster', `web.${kind}`]);
        expect(template.metadata?.annotations?.team).to.equal('shop');
        expect(statusRecord(template.metadata?.annotations)).to.include({ meshConfig: 'mesh' });
        expect(statusRecord(injected.metadata.annotations)).to.deep.equal(statusRecord(template.metadata?.annotations));
        expect(outsideTemplate(injected)).to.deep.equal(outsideTemplate(object));
      });

      it('injecting twice changes nothing', () => {
        const mc = proxyConfig('registry.example/proxy:1');
        const once = injectWorkload(objectOf(kind), mc).object;
        const twice = injectWorkload(deepFreeze(structuredClone(once)), mc);
        expect(twice.changed).to.equal(false);
        expect(twice.object).to.deep.equal(once);
      });

      it('a changed MeshConfig replaces exactly the recorded items', () => {
        const first = injectWorkload(objectOf(kind), proxyConfig('registry.example/proxy:1', 1)).object;
        const upgraded = injectWorkload(deepFreeze(first), proxyConfig('registry.example/proxy:2', 2));
        expect(upgraded.changed).to.equal(true);
        const template = podTemplateOf(upgraded.object)!;
        expect(names(template.spec.containers)).to.deep.equal(['app', 'mesh-proxy']);
        expect(template.spec.containers[1]!.image).to.equal('registry.example/proxy:2');
        expect(template.metadata?.annotations?.['mesh.example/version']).to.equal('registry.example/proxy:2');
        expect(statusRecord(upgraded.object.metadata.annotations)).to.include({ generation: 2 });
        expect(outsideTemplate(upgraded.object)).to.deep.equal(outsideTemplate(first));
      });

      it('is selected by a MeshConfig only when kinds lists it', () => {
        const context = (kinds: string[]) => ({ namespace: namespace('shop'), meshConfigs: [meshConfig('only', { kinds })] });
        expect(planWorkloadInjection(objectOf(kind), context([kind])).action).to.equal('inject');
        const other = kind === 'Deployment' ? 'StatefulSet' : 'Deployment';
        const skipped = planWorkloadInjection(objectOf(kind), context([other]));
        expect(skipped.action === 'skip' && skipped.reason).to.equal(`kind ${kind} is not in the kinds of MeshConfig only`);
      });
    });
  }

  it('a copy of another object\'s template is skipped: a Deployment\'s ReplicaSet, a CronJob\'s Job, a ReplicaSet\'s Pod', () => {
    const owned = (kind: PodTemplateKind, ownerKind: string, ownerName: string): PodTemplateCarrier => {
      const object = objectOf(kind);
      object.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: ownerKind, name: ownerName, uid: 'u1', controller: true }];
      return object;
    };
    const context = { namespace: namespace('shop'), meshConfigs: [meshConfig('mesh')] };
    const cases: Array<[PodTemplateCarrier, string]> = [
      [owned('ReplicaSet', 'Deployment', 'web'), 'its pod template is copied from its controller, Deployment web: meshinit injects the Deployment\'s template ("meshinit inject", or the webhook with --target workloads), not the ReplicaSet made from it'],
      [owned('Job', 'CronJob', 'nightly'), 'its pod template is copied from its controller, CronJob nightly: meshinit injects the CronJob\'s template ("meshinit inject", or the webhook with --target workloads), not the Job made from it'],
      [owned('Pod', 'ReplicaSet', 'web-5d4f'), 'its pod template is copied from its controller, ReplicaSet web-5d4f: meshinit injects the ReplicaSet\'s template ("meshinit inject", or the webhook with --target workloads), not the Pod made from it'],
      [owned('ReplicationController', 'DeploymentConfig', 'ruby'), 'its pod template is copied from its controller, DeploymentConfig ruby: meshinit injects the DeploymentConfig\'s template ("meshinit inject", or the webhook with --target workloads), not the ReplicationController made from it'],
    ];
    for (const [object, reason] of cases) {
      const plan = planWorkloadInjection(object, context);
      expect(plan.action === 'skip' && plan.reason, object.kind).to.equal(reason);
    }
    // In the Initializer mode a CronJob's Job is still released with a warning (every run of it
    // goes out without a sidecar there), naming both fixes.
    const cronJobsJob = planWorkloadInjection(owned('Job', 'CronJob', 'nightly'), context);
    expect(initializerVerdict(cronJobsJob, { kind: 'Job' })).to.deep.equal({
      action: 'released',
      code: 'template_copied',
      level: 'warn',
      reason: 'its pod template is copied from its controller, CronJob nightly: meshinit injects the CronJob\'s template ("meshinit inject", or the webhook with --target workloads), not the Job made from it; or run meshinit with --job-pods to inject the Job\'s Pods',
    });
    expect(admissionVerdict(cronJobsJob)).to.deep.equal({ action: 'skipped', reason: cronJobsJob.action === 'skip' ? cronJobsJob.reason : '', code: 'template_copied' });
    // An owner that is not a pod-template kind (an operator's custom resource) is no reason.
    expect(planWorkloadInjection(owned('Deployment', 'Rollout', 'r'), context).action).to.equal('inject');
    expect(planWorkloadInjection(owned('Pod', 'Workflow', 'argo-1'), context).action).to.equal('inject');
  });
});

describe('core: hostile objects of every pod-template kind', () => {
  // Any value at any of the places the kinds keep their template: recognition gives a reason or
  // a plan; planning never throws; an injected object injected again is unchanged.
  const hostile = fc.constantFrom(...POD_TEMPLATE_KINDS).chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      at: fc.constantFrom('spec', 'jobTemplate', 'template', 'metadata', 'containers', 'initContainers', 'annotations', 'none'),
      value: fc.anything({ maxDepth: 3 }),
    }),
  );

  it('recognisePodTemplateCarrier → planWorkloadInjection never throws, and injection is idempotent', () => {
    const context = { namespace: namespace('shop'), meshConfigs: [proxyConfig('registry.example/proxy:1')] };
    fc.assert(
      fc.property(hostile, ({ kind, at, value }) => {
        const object = objectOf(kind) as unknown as Record<string, unknown>;
        const template = (kind === 'Pod' ? object : podTemplateOf(object as unknown as PodTemplateCarrier)) as Record<string, unknown>;
        const spec = object.spec as Record<string, unknown>;
        switch (at) {
          case 'spec': object.spec = value; break;
          case 'jobTemplate': spec.jobTemplate = value; break;
          case 'template': spec.template = value; break;
          case 'metadata': template.metadata = value; break;
          case 'containers': (template.spec as Record<string, unknown>).containers = value; break;
          case 'initContainers': (template.spec as Record<string, unknown>).initContainers = value; break;
          case 'annotations': template.metadata = { ...(template.metadata as object), annotations: value }; break;
          default: break;
        }
        const recognised = recognisePodTemplateCarrier(deepFreeze(object));
        if (!recognised.ok) {
          expect(recognised.reason).to.be.a('string').and.not.equal('');
          return;
        }
        const plan = planWorkloadInjection(recognised.value, context);
        if (plan.action !== 'inject') {
          expect(plan.action === 'skip' ? plan.reason : plan.error.message).to.be.a('string').and.not.equal('');
          return;
        }
        const again = planWorkloadInjection(deepFreeze(plan.object), context);
        expect(again.action === 'inject' && again.changed, JSON.stringify(again)).to.equal(false);
      }),
      { numRuns: 2000 },
    );
  });
});
