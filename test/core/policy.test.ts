import { expect } from 'chai';
import { INJECT_ANNOTATION } from '../../controller/core/constants.ts';
import { decideInjection, type InjectionCandidate, type InjectionDecision, type PolicyContext } from '../../controller/core/policy.ts';
import type { MeshConfig, WorkloadKind } from '../../controller/core/types.ts';
import { workloadCandidate } from '../../controller/core/workload.ts';
import { envoyMeshConfig, meshConfig, namespace, shopContext, shopDeployment, shopNamespace } from './fixtures/helpers.ts';

function candidate(overrides: Partial<InjectionCandidate> = {}): InjectionCandidate {
  return { ...workloadCandidate(shopDeployment()), ...overrides };
}

function context(overrides: Partial<PolicyContext> = {}): PolicyContext {
  return { ...shopContext(), ...overrides };
}

function skipReason(decision: InjectionDecision): string {
  expect(decision.inject, `expected a skip, got: ${decision.reason}`).to.equal(false);
  expect(decision.reason).to.be.a('string').and.not.equal('');
  return decision.reason;
}

describe('core/policy: decideInjection', () => {
  it('injects the shop Deployment with the Envoy MeshConfig, saying why', () => {
    const decision = decideInjection(candidate(), context());
    expect(decision.inject).to.equal(true);
    expect(decision.meshConfig?.name).to.equal('envoy-mesh');
    expect(decision.reason).to.equal('selected by MeshConfig envoy-mesh (policy Enabled)');
  });

  for (const system of ['kube-system', 'kube-public', 'kube-node-lease']) {
    it(`never injects in the system namespace ${system}, even when a MeshConfig selects it`, () => {
      const decision = decideInjection(candidate({ namespace: system }), context({ namespace: namespace(system, { mesh: 'enabled' }) }));
      const reason = skipReason(decision);
      expect(reason).to.include(system);
      expect(reason).to.include('system namespace');
      expect(decision.meshConfig).to.equal(undefined);
    });
  }

  it('does not treat a namespace merely named like a system one as system', () => {
    const decision = decideInjection(candidate(), context({ namespace: namespace('kube-systems', { mesh: 'enabled' }) }));
    expect(decision.inject).to.equal(true);
  });

  it('never injects in the controller\'s own namespace', () => {
    const decision = decideInjection(candidate(), context({ namespace: namespace('meshinit-system', { mesh: 'enabled' }), controllerNamespace: 'meshinit-system' }));
    const reason = skipReason(decision);
    expect(reason).to.include('meshinit-system');
    expect(reason).to.include('own namespace');
  });

  it('injects in any namespace when no controller namespace is configured', () => {
    const decision = decideInjection(candidate(), { namespace: namespace('meshinit-system', { mesh: 'enabled' }), meshConfigs: [envoyMeshConfig()] });
    expect(decision.inject).to.equal(true);
  });

  it('skips a namespace labelled meshinit.dev/injection: disabled', () => {
    const reason = skipReason(decideInjection(candidate(), context({ namespace: namespace('shop', { mesh: 'enabled', 'meshinit.dev/injection': 'disabled' }) })));
    expect(reason).to.equal('namespace shop has label meshinit.dev/injection=disabled');
  });

  it('does not skip for other values of the namespace label', () => {
    for (const value of ['enabled', 'Disabled', '']) {
      const decision = decideInjection(candidate(), context({ namespace: namespace('shop', { mesh: 'enabled', 'meshinit.dev/injection': value }) }));
      expect(decision.inject, value).to.equal(true);
    }
  });

  it('skips a kind that the selecting MeshConfig does not list', () => {
    const mc = meshConfig('deployments-only', { kinds: ['Deployment'] });
    const reason = skipReason(decideInjection(candidate({ kind: 'StatefulSet' }), context({ meshConfigs: [mc] })));
    expect(reason).to.equal('kind StatefulSet is not in the kinds of MeshConfig deployments-only');
  });

  it('skips when no MeshConfig selects the workload, and when none exists', () => {
    const excluded = candidate({ labels: { app: 'checkout', 'mesh.meshinit.dev/exclude': 'true' } });
    expect(skipReason(decideInjection(excluded, context()))).to.match(/^no MeshConfig selects it/);
    expect(skipReason(decideInjection(candidate(), context({ namespace: namespace('shop', {}) })))).to.match(/^no MeshConfig selects it/);
    expect(skipReason(decideInjection(candidate(), context({ meshConfigs: [] })))).to.equal('no MeshConfig exists');
  });

  it('skips a pod spec with hostNetwork: true', () => {
    const podSpec = { ...candidate().podSpec!, hostNetwork: true };
    const reason = skipReason(decideInjection(candidate({ podSpec }), context()));
    expect(reason).to.include('hostNetwork');
  });

  it('injects when hostNetwork is false', () => {
    const podSpec = { ...candidate().podSpec!, hostNetwork: false };
    expect(decideInjection(candidate({ podSpec }), context()).inject).to.equal(true);
  });

  it('skips a workload annotated inject: "false"', () => {
    const reason = skipReason(decideInjection(candidate({ annotations: { [INJECT_ANNOTATION]: 'false' } }), context()));
    expect(reason).to.equal(`Deployment has annotation ${INJECT_ANNOTATION}: "false"`);
  });

  it('skips a workload whose pod template is annotated inject: "false"', () => {
    const reason = skipReason(decideInjection(candidate({ podAnnotations: { [INJECT_ANNOTATION]: 'false' } }), context()));
    expect(reason).to.include(INJECT_ANNOTATION);
    expect(reason).to.include('"false"');
  });

  it('reads the opt-out from the real workload shape (workloadCandidate), on the workload and on the template', () => {
    const onWorkload = shopDeployment();
    onWorkload.metadata.annotations = { ...onWorkload.metadata.annotations, [INJECT_ANNOTATION]: 'false' };
    expect(decideInjection(workloadCandidate(onWorkload), context()).inject).to.equal(false);
    const onTemplate = shopDeployment();
    onTemplate.spec.template.metadata!.annotations = { [INJECT_ANNOTATION]: 'false' };
    expect(decideInjection(workloadCandidate(onTemplate), context()).inject).to.equal(false);
  });

  it('the opt-out wins over a MeshConfig that selects everything', () => {
    const decision = decideInjection(candidate({ annotations: { [INJECT_ANNOTATION]: 'false' } }), context({ meshConfigs: [meshConfig('all', { priority: 1000 })] }));
    expect(decision.inject).to.equal(false);
  });

  describe('policy: Disabled', () => {
    const disabled = (): MeshConfig => meshConfig('opt-in-mesh', { policy: 'Disabled' });

    it('skips an unannotated workload, naming the MeshConfig', () => {
      const decision = decideInjection(candidate(), context({ meshConfigs: [disabled()] }));
      const reason = skipReason(decision);
      expect(reason).to.include('opt-in-mesh');
      expect(reason).to.include('policy Disabled');
      expect(decision.meshConfig?.name).to.equal('opt-in-mesh');
    });

    it('injects a workload annotated inject: "true"', () => {
      const decision = decideInjection(candidate({ annotations: { [INJECT_ANNOTATION]: 'true' } }), context({ meshConfigs: [disabled()] }));
      expect(decision.inject).to.equal(true);
      expect(decision.meshConfig?.name).to.equal('opt-in-mesh');
      expect(decision.reason).to.equal(`selected by MeshConfig opt-in-mesh (annotated ${INJECT_ANNOTATION}: "true")`);
    });

    it('injects a workload whose pod template is annotated inject: "true"', () => {
      const decision = decideInjection(candidate({ podAnnotations: { [INJECT_ANNOTATION]: 'true' } }), context({ meshConfigs: [disabled()] }));
      expect(decision.inject).to.equal(true);
    });

    it('still skips on values other than exactly "true"', () => {
      for (const value of ['True', 'yes', '1', '']) {
        expect(decideInjection(candidate({ annotations: { [INJECT_ANNOTATION]: value } }), context({ meshConfigs: [disabled()] })).inject, value).to.equal(false);
      }
    });

    it('an opt-in does not override a system namespace or hostNetwork', () => {
      const optIn = { annotations: { [INJECT_ANNOTATION]: 'true' } };
      expect(decideInjection(candidate(optIn), context({ namespace: namespace('kube-system', {}), meshConfigs: [disabled()] })).inject).to.equal(false);
      const podSpec = { ...candidate().podSpec!, hostNetwork: true };
      expect(decideInjection(candidate({ ...optIn, podSpec }), context({ meshConfigs: [disabled()] })).inject).to.equal(false);
    });
  });

  it('gives every decision a non-empty reason across a matrix of inputs', () => {
    const namespaces = [shopNamespace(), namespace('kube-system'), namespace('meshinit-system', { mesh: 'enabled' }), namespace('shop', { mesh: 'enabled', 'meshinit.dev/injection': 'disabled' }), namespace('plain')];
    const kinds: WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'];
    const annotationValues = [undefined, 'true', 'false'];
    const configs = [[], [envoyMeshConfig()], [meshConfig('jobs', { kinds: ['Job'], policy: 'Disabled' })]];
    let decisions = 0;
    let injected = 0;
    for (const ns of namespaces) {
      for (const kind of kinds) {
        for (const value of annotationValues) {
          for (const meshConfigs of configs) {
            for (const hostNetwork of [false, true]) {
              const c = candidate({
                kind,
                namespace: ns.name,
                annotations: value === undefined ? {} : { [INJECT_ANNOTATION]: value },
                podSpec: { ...candidate().podSpec!, hostNetwork },
              });
              const decision = decideInjection(c, { namespace: ns, meshConfigs, controllerNamespace: 'meshinit-system' });
              expect(decision.reason).to.be.a('string').and.have.length.greaterThan(10);
              if (decision.inject) {
                expect(decision.meshConfig).to.not.equal(undefined);
                injected += 1;
              }
              decisions += 1;
            }
          }
        }
      }
    }
    expect(decisions).to.equal(5 * 4 * 3 * 3 * 2);
    // envoy-mesh: shop only, 4 kinds x (no annotation | "true"); jobs (Disabled, Job only): opted-in Jobs in shop and plain.
    expect(injected).to.equal(8 + 2);
  });
});
