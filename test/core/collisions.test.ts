import { expect } from 'chai';
import { STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { InjectionError } from '../../controller/core/errors.ts';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import { planJobPodInjection, planWorkloadInjection, type InjectionPlan } from '../../controller/core/plan.ts';
import { readInjectionStatus } from '../../controller/core/status-record.ts';
import type { Workload } from '../../controller/core/types.ts';
import { envoyMeshConfig, reportJob, reportJobPod, shopContext, shopDeployment } from './fixtures/helpers.ts';

function planError<T>(plan: InjectionPlan<T>): InjectionError {
  expect(plan.action, 'expected an error plan').to.equal('error');
  if (plan.action !== 'error') throw new Error('unreachable');
  expect(plan.error).to.be.instanceOf(InjectionError);
  expect(plan.meshConfig.name).to.equal('envoy-mesh');
  return plan.error;
}

function withTemplateAnnotation(value: string): Workload {
  const workload = shopDeployment();
  workload.spec.template.metadata!.annotations = { ...workload.spec.template.metadata!.annotations, [STATUS_ANNOTATION]: value };
  return workload;
}

describe('core/inject: collisions and corrupt records', () => {
  describe('a user item under a sidecar name', () => {
    it('a user container named like the proxy is an error naming it', () => {
      const workload = shopDeployment();
      workload.spec.template.spec.containers.push({ name: 'mesh-proxy', image: 'my/own-proxy:1' });
      const error = planError(planWorkloadInjection(workload, shopContext()));
      expect(error.message).to.include('Deployment shop/checkout');
      expect(error.message).to.include('containers already has "mesh-proxy"');
      expect(error.message).to.include('meshinit did not inject');
    });

    it('a user container named like a sidecar init container (and the reverse) is an error: names are unique across both lists', () => {
      const container = shopDeployment();
      container.spec.template.spec.containers.push({ name: 'mesh-init', image: 'my/tool:1' });
      expect(planError(planWorkloadInjection(container, shopContext())).message).to.include('containers already has "mesh-init"');
      const init = shopDeployment();
      init.spec.template.spec.initContainers!.push({ name: 'mesh-proxy', image: 'my/tool:1' });
      expect(planError(planWorkloadInjection(init, shopContext())).message).to.include('initContainers already has "mesh-proxy"');
    });

    it('a user init container named like the sidecar\'s is an error naming it', () => {
      const workload = shopDeployment();
      workload.spec.template.spec.initContainers!.push({ name: 'mesh-init', image: 'my/init:1' });
      const error = planError(planWorkloadInjection(workload, shopContext()));
      expect(error.message).to.include('initContainers already has "mesh-init"');
    });

    it('a user volume named like the sidecar\'s is an error naming it', () => {
      const workload = shopDeployment();
      workload.spec.template.spec.volumes!.push({ name: 'mesh-certs', secret: { secretName: 'my-certs' } });
      const error = planError(planWorkloadInjection(workload, shopContext()));
      expect(error.message).to.include('volumes already has "mesh-certs"');
    });

    it('injectWorkload itself throws an InjectionError (the plan turns it into an error)', () => {
      const workload = shopDeployment();
      workload.spec.template.spec.volumes!.push({ name: 'mesh-envoy', emptyDir: {} });
      expect(() => injectWorkload(workload, envoyMeshConfig())).to.throw(InjectionError, /volumes already has "mesh-envoy"/);
    });

    it('a Job\'s Pod with a clashing container is an error, named as the Pod', () => {
      const pod = reportJobPod();
      pod.spec.containers.push({ name: 'mesh-proxy', image: 'x:1' });
      const error = planError(planJobPodInjection(pod, reportJob(), shopContext()));
      expect(error.message).to.include('Pod shop/nightly-report-x7k2p');
      expect(error.message).to.include('containers already has "mesh-proxy"');
      expect(() => injectPod(pod, envoyMeshConfig(), { kind: 'Job', name: 'nightly-report', namespace: 'shop' })).to.throw(InjectionError);
    });

    it('a record on the workload alone does not make template items ours: the template\'s record counts', () => {
      const injected = injectWorkload(shopDeployment(), envoyMeshConfig()).object;
      delete injected.spec.template.metadata!.annotations![STATUS_ANNOTATION];
      expect(injected.metadata.annotations![STATUS_ANNOTATION]).to.be.a('string');
      const error = planError(planWorkloadInjection(injected, shopContext()));
      expect(error.message).to.match(/already has "mesh-(init|proxy)"/);
    });

    it('an item missing from the record is not ours even if the rest of the sidecar is', () => {
      const injected = injectWorkload(shopDeployment(), envoyMeshConfig()).object;
      const record = JSON.parse(injected.spec.template.metadata!.annotations![STATUS_ANNOTATION]!);
      record.volumes = ['mesh-envoy'];
      injected.spec.template.metadata!.annotations![STATUS_ANNOTATION] = JSON.stringify(record);
      const error = planError(planWorkloadInjection(injected, shopContext()));
      expect(error.message).to.include('volumes already has "mesh-certs"');
    });
  });

  describe('a corrupt status annotation is an error, not a crash', () => {
    const corrupt: Array<[string, string, RegExp]> = [
      ['not JSON', '{meshConfig: envoy-mesh', /is not valid JSON/],
      ['empty string', '', /is not valid JSON/],
      ['a JSON array', '["mesh-proxy"]', /is not an injection record/],
      ['JSON null', 'null', /is not an injection record/],
      ['a JSON string', '"envoy-mesh"', /is not an injection record/],
      ['no hash', '{"meshConfig":"envoy-mesh","containers":["mesh-proxy"]}', /lacks meshConfig or hash/],
      ['meshConfig not a string', '{"meshConfig":7,"hash":"abc"}', /lacks meshConfig or hash/],
      ['a list that is a string', '{"meshConfig":"envoy-mesh","hash":"abc","containers":"mesh-proxy"}', /containers must be a list of names/],
      ['a list of non-strings', '{"meshConfig":"envoy-mesh","hash":"abc","volumes":[{"name":"mesh-envoy"}]}', /volumes must be a list of names/],
    ];
    for (const [title, value, message] of corrupt) {
      it(`${title}`, () => {
        const error = planError(planWorkloadInjection(withTemplateAnnotation(value), shopContext()));
        expect(error.message).to.match(message);
        expect(error.message).to.include(STATUS_ANNOTATION);
        expect(error.message).to.include('Deployment shop/checkout');
      });
    }

    it('readInjectionStatus fills absent lists and a non-numeric generation with empty values', () => {
      expect(readInjectionStatus({ [STATUS_ANNOTATION]: '{"meshConfig":"m","hash":"h","generation":"3","containers":["p"]}' }, 'here')).to.deep.equal({
        meshConfig: 'm',
        generation: 0,
        hash: 'h',
        initContainers: [],
        containers: ['p'],
        volumes: [],
        imagePullSecrets: [],
        podAnnotations: [],
        podLabels: [],
      });
      expect(readInjectionStatus({}, 'here')).to.equal(undefined);
      expect(readInjectionStatus(undefined, 'here')).to.equal(undefined);
    });
  });

  describe('malformed pod templates are errors, not crashes', () => {
    const malformed: Array<[string, (w: Workload) => void, RegExp]> = [
      ['containers is not a list', (w) => { (w.spec.template.spec as unknown as Record<string, unknown>).containers = { name: 'app' }; }, /no containers list/],
      ['volumes is not a list', (w) => { (w.spec.template.spec as unknown as Record<string, unknown>).volumes = { name: 'config' }; }, /volumes must be a list/],
      ['initContainers is not a list', (w) => { (w.spec.template.spec as unknown as Record<string, unknown>).initContainers = 'migrate'; }, /initContainers must be a list/],
      ['template annotations are a list', (w) => { (w.spec.template.metadata as unknown as Record<string, unknown>).annotations = ['a']; }, /metadata\.annotations must be a map/],
      ['template labels are a string', (w) => { (w.spec.template.metadata as unknown as Record<string, unknown>).labels = 'app=checkout'; }, /metadata\.labels must be a map/],
      ['template is missing', (w) => { delete (w.spec as Record<string, unknown>).template; }, /spec\.template is missing/],
    ];
    for (const [title, breakIt, message] of malformed) {
      it(title, () => {
        const workload = shopDeployment();
        breakIt(workload);
        expect(() => injectWorkload(workload, envoyMeshConfig())).to.throw(InjectionError, message);
      });
    }
  });
});
