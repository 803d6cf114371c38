import { expect } from 'chai';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { explainMeshConfigs, explainWorkload, type ExplainRequest, type MeshConfigEntry } from '../../controller/core/explain.ts';
import { STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { injectWorkload } from '../../controller/core/inject.ts';
import { admissionVerdict, initializerVerdict, JOB_RELEASE_REASON } from '../../controller/core/outcome.ts';
import { planWorkloadInjection } from '../../controller/core/plan.ts';
import { selectMeshConfig } from '../../controller/core/selection.ts';
import type { MeshConfig, Workload, WorkloadKind } from '../../controller/core/types.ts';
import { MeshConfigStore } from '../../controller/kube/meshconfig-store.ts';
import { JOB_RELEASE_REASON as SYNC_JOB_RELEASE_REASON } from '../../controller/initializer/sync.ts';
import { meshConfig, namespace, rawMeshConfig, shopDeployment, shopNamespace, shopWorkloadOfKind } from './fixtures/helpers.ts';

const SILENT = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

function valid(mc: MeshConfig): MeshConfigEntry {
  return { name: mc.name, valid: true, meshConfig: mc };
}

function request(overrides: Partial<ExplainRequest> = {}): ExplainRequest {
  return { workload: shopDeployment(), namespace: shopNamespace(), meshConfigs: [], modes: ['initializer', 'webhook'], ...overrides };
}

function verdicts(request_: ExplainRequest): Record<string, { verdict: string; reason: string; lostTo?: string }> {
  return Object.fromEntries(explainWorkload(request_).meshConfigs.map((mc) => [mc.name, mc]));
}

describe('core/explain: why each MeshConfig did or did not apply', () => {
  it('gives each losing MeshConfig its reason: namespaceSelector, selector, kind, higher priority, same priority by name', () => {
    const meshConfigs = [
      meshConfig('elsewhere', { priority: 50, namespaceSelector: { matchLabels: { mesh: 'other' } } }),
      meshConfig('frontend', { priority: 40, selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend'] }] } }),
      meshConfig('jobs', { priority: 30, kinds: ['Job'] }),
      meshConfig('winner', { priority: 20 }),
      meshConfig('zz-tie', { priority: 20 }),
      meshConfig('lower', { priority: 5 }),
    ].map(valid);
    const explained = explainWorkload(request({ meshConfigs }));
    expect(explained.selected).to.equal('winner');
    expect(explained.meshConfigs.map((mc) => mc.name), 'the order selection tries them').to.deep.equal(['elsewhere', 'frontend', 'jobs', 'winner', 'zz-tie', 'lower']);
    const byName = verdicts(request({ meshConfigs }));
    expect(byName.elsewhere).to.include({ verdict: 'namespaceSelector', reason: 'namespaceSelector mesh=other does not match namespace shop (labels mesh=enabled,kubernetes.io/metadata.name=shop)' });
    expect(byName.frontend).to.include({ verdict: 'selector', reason: "selector tier in (frontend) does not match the Deployment's labels (app=checkout,tier=backend)" });
    expect(byName.jobs).to.include({ verdict: 'kind', reason: 'kinds Job do not include Deployment' });
    expect(byName.winner).to.include({ verdict: 'selected', reason: 'highest priority (20) of the MeshConfigs that match' });
    expect(byName['zz-tie']).to.include({ verdict: 'lowerPriority', lostTo: 'winner', reason: 'matches, but MeshConfig winner has the same priority 20 and comes first by name' });
    expect(byName.lower).to.include({ verdict: 'lowerPriority', lostTo: 'winner', reason: 'matches, but MeshConfig winner has a higher priority (20 > 5)' });
    expect(explained.decisions).to.deep.equal([
      { mode: 'initializer', action: 'injected', reason: 'selected by MeshConfig winner (policy Enabled)', code: 'policy_enabled', meshConfig: 'winner' },
      { mode: 'webhook', action: 'injected', reason: 'selected by MeshConfig winner (policy Enabled)', code: 'policy_enabled', meshConfig: 'winner' },
    ]);
  });

  it('never disagrees with selectMeshConfig, whatever the MeshConfigs (property)', () => {
    const arbitraryMeshConfig = fc.record({
      name: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      priority: fc.integer({ min: -2, max: 2 }),
      kinds: fc.subarray(['Deployment', 'StatefulSet', 'DaemonSet', 'Job'] as WorkloadKind[], { minLength: 1 }),
      ns: fc.option(fc.constantFrom('enabled', 'other'), { nil: undefined }),
      tier: fc.option(fc.constantFrom('backend', 'frontend'), { nil: undefined }),
    });
    fc.assert(fc.property(fc.uniqueArray(arbitraryMeshConfig, { selector: (mc) => mc.name, maxLength: 5 }), fc.constantFrom<WorkloadKind>('Deployment', 'Job'), (specs, kind) => {
      const meshConfigs = specs.map((spec) => meshConfig(spec.name, {
        priority: spec.priority,
        kinds: spec.kinds,
        ...(spec.ns ? { namespaceSelector: { matchLabels: { mesh: spec.ns } } } : {}),
        ...(spec.tier ? { selector: { matchLabels: { tier: spec.tier } } } : {}),
      }));
      const workload = shopWorkloadOfKind(kind);
      const target = { kind, labels: workload.metadata.labels ?? {}, namespace: shopNamespace() };
      const explained = explainMeshConfigs(meshConfigs.map(valid), target);
      const selection = selectMeshConfig(meshConfigs, target);
      expect(explained.selected?.name).to.equal(selection.selected?.name);
      expect(explained.meshConfigs.filter((mc) => mc.verdict === 'selected').map((mc) => mc.name)).to.deep.equal(selection.selected ? [selection.selected.name] : []);
    }), { numRuns: 300 });
  });

  it('an invalid MeshConfig with no valid version is listed as unused, with every problem; one with a last valid version (status.lastValidSpec) competes with that version', () => {
    const store = new MeshConfigStore(SILENT);
    const broken = store.apply(rawMeshConfig('broken', { priority: 99, policy: 'Sometimes' }));
    const goodSpec = rawMeshConfig('edited', { priority: 60 }).spec;
    const edited = store.apply({ ...rawMeshConfig('edited', { priority: 60, kinds: ['PodTemplate'] }, 3), status: { lastValidGeneration: 2, lastValidSpec: goodSpec } });
    const toEntry = (verdict: typeof broken): MeshConfigEntry => verdict.valid
      ? valid(verdict.meshConfig)
      : { name: verdict.name, valid: false, problems: verdict.problems, ...(verdict.serving ? { serving: verdict.serving } : {}) };
    const explained = explainWorkload(request({ meshConfigs: [toEntry(broken), toEntry(edited), valid(meshConfig('plain'))] }));
    expect(explained.selected, 'the last valid version of "edited" serves').to.equal('edited');
    const byName = Object.fromEntries(explained.meshConfigs.map((mc) => [mc.name, mc]));
    expect(byName.edited).to.deep.include({ verdict: 'selected', servingLastValid: true, generation: 2 });
    expect(byName.edited!.problems![0]).to.include('spec.kinds');
    expect(byName.broken).to.deep.include({ verdict: 'invalid', servingLastValid: false });
    expect(byName.broken!.reason).to.include('invalid and never used').and.include('spec.policy: must be one of Enabled, Disabled');
    expect(explained.meshConfigs.at(-1)!.name, 'unusable ones come last').to.equal('broken');
  });

  it('an opted-out workload: every MeshConfig is still judged, and the decision is the policy\'s reason', () => {
    const workload = shopDeployment();
    workload.metadata.annotations = { ...workload.metadata.annotations, 'sidecar.meshinit.dev/inject': 'false' };
    const explained = explainWorkload(request({ workload, meshConfigs: [valid(meshConfig('default'))] }));
    expect(explained.selected).to.equal('default');
    expect(explained.decisions.map((d) => [d.action, d.reason])).to.deep.equal([
      ['skipped', 'Deployment has annotation sidecar.meshinit.dev/inject: "false"'],
      ['skipped', 'Deployment has annotation sidecar.meshinit.dev/inject: "false"'],
    ]);
    expect(explained.injection).to.equal(undefined);
  });

  it('an excluded namespace: system, meshinit\'s own, labelled disabled, outside --namespace', () => {
    const meshConfigs = [valid(meshConfig('default'))];
    const cases: Array<[Partial<ExplainRequest>, string]> = [
      [{ namespace: namespace('kube-system') }, 'namespace kube-system is a system namespace and is never injected'],
      [{ namespace: namespace('meshinit-system'), controllerNamespace: 'meshinit-system' }, "namespace meshinit-system is meshinit's own namespace and is never injected"],
      [{ namespace: namespace('shop', { 'meshinit.dev/injection': 'disabled' }) }, 'namespace shop has label meshinit.dev/injection=disabled'],
      [{ injectNamespaces: ['payments'] }, "namespace shop is not one of meshinit's --namespace payments"],
    ];
    for (const [overrides, reason] of cases) {
      const explained = explainWorkload(request({ meshConfigs, ...overrides }));
      expect(explained.decisions[0], reason).to.include({ action: 'skipped', reason });
    }
  });

  it('policy Disabled: selected, but skipped unless annotated "true"', () => {
    const explained = explainWorkload(request({ meshConfigs: [valid(meshConfig('opt-in', { policy: 'Disabled' }))] }));
    expect(explained.selected).to.equal('opt-in');
    expect(explained.decisions[0]!.reason).to.equal('MeshConfig opt-in has policy Disabled and the Deployment is not annotated sidecar.meshinit.dev/inject: "true"');
  });

  it('a Job: the Initializer mode releases it with the words sync logs, the webhook injects it', () => {
    const explained = explainWorkload(request({ workload: shopWorkloadOfKind('Job'), meshConfigs: [valid(meshConfig('default'))] }));
    expect(explained.decisions).to.deep.equal([
      { mode: 'initializer', action: 'released', reason: JOB_RELEASE_REASON, code: 'job_template_immutable', meshConfig: 'default' },
      { mode: 'webhook', action: 'injected', reason: 'selected by MeshConfig default (policy Enabled)', code: 'policy_enabled', meshConfig: 'default' },
    ]);
    expect(SYNC_JOB_RELEASE_REASON, 'sync.ts still exports the same words').to.equal(JOB_RELEASE_REASON);
    expect(explained.injection?.containers).to.deep.equal([{ name: 'mesh-proxy', image: 'registry.example.com/mesh/envoy:1.8.0' }]);
  });

  it('no MeshConfig, none selecting it: the reasons selection gives', () => {
    expect(explainWorkload(request()).decisions[0]!.reason).to.equal('no MeshConfig exists');
    const explained = explainWorkload(request({ meshConfigs: [valid(meshConfig('x', { selector: { matchLabels: { app: 'other' } } }))] }));
    expect(explained.decisions[0]!.reason).to.equal('no MeshConfig selects it (namespace shop or workload labels do not match)');
    expect(explained.selected).to.equal(undefined);
  });

  it('says what the sidecar adds, with images, and a JSON Patch that turns the workload into the injected one', () => {
    const workload = shopDeployment();
    const explained = explainWorkload(request({ workload, meshConfigs: [valid(meshConfig('default', { sidecar: { initContainers: [{ name: 'mesh-init', image: 'init:1' }], containers: [{ name: 'mesh-proxy', image: 'proxy:1' }], volumes: [{ name: 'mesh-certs', emptyDir: {} }], podLabels: { 'mesh/proxy': 'true' } } }))] }));
    const injection = explained.injection!;
    expect(injection.initContainers).to.deep.equal([{ name: 'mesh-init', image: 'init:1' }]);
    expect(injection.containers).to.deep.equal([{ name: 'mesh-proxy', image: 'proxy:1' }]);
    expect(injection.volumes).to.deep.equal(['mesh-certs']);
    expect(injection.podLabels).to.deep.equal(['mesh/proxy']);
    const patched = jsonpatch.applyPatch(structuredClone(workload), structuredClone(injection.patch) as never, true, false).newDocument;
    const plan = planWorkloadInjection(workload, { namespace: shopNamespace(), meshConfigs: [meshConfig('default', { sidecar: { initContainers: [{ name: 'mesh-init', image: 'init:1' }], containers: [{ name: 'mesh-proxy', image: 'proxy:1' }], volumes: [{ name: 'mesh-certs', emptyDir: {} }], podLabels: { 'mesh/proxy': 'true' } } })] });
    expect(plan.action).to.equal('inject');
    if (plan.action === 'inject') expect(patched).to.deep.equal(plan.object);
  });

  it('an injected workload: current, outdated after a MeshConfig edit, older when no MeshConfig applies, corrupt record', () => {
    const v1 = meshConfig('default', {}, 1);
    const injected: Workload = injectWorkload(shopDeployment(), v1).object;
    const current = explainWorkload(request({ workload: injected, meshConfigs: [valid(v1)] }));
    expect(current.injected.state).to.equal('current');
    expect(current.decisions[0]).to.include({ action: 'skipped', reason: 'already injected by MeshConfig default' });

    const v2 = meshConfig('default', { sidecar: { containers: [{ name: 'mesh-proxy', image: 'registry.example.com/mesh/envoy:1.9.0' }] } }, 2);
    const outdated = explainWorkload(request({ workload: injected, meshConfigs: [valid(v2)] }));
    expect(outdated.injected.state).to.equal('outdated');
    if (outdated.injected.state === 'outdated') expect(outdated.injected.reason).to.match(/^carries MeshConfig default generation 1 \(sidecar hash \w+\); today MeshConfig default generation 2 would inject sidecar hash \w+$/);
    expect(outdated.decisions[0]).to.include({ action: 'injected' });

    const unselected = explainWorkload(request({ workload: injected, meshConfigs: [valid(meshConfig('default', { kinds: ['Job'] }))] }));
    expect(unselected.injected).to.deep.include({ state: 'outdated' });
    if (unselected.injected.state === 'outdated') expect(unselected.injected.reason).to.include('no MeshConfig would inject it today');

    const corrupt = structuredClone(injected);
    corrupt.spec.template.metadata!.annotations![STATUS_ANNOTATION] = '{not json';
    const explained = explainWorkload(request({ workload: corrupt, meshConfigs: [valid(v1)] }));
    expect(explained.injected.state).to.equal('corrupt');
    expect(explained.decisions[0]!.action, 'the same record fails injection, so the mode releases it').to.equal('released');
  });
});

describe('core/outcome: each mode\'s verdict on a plan', () => {
  const clashing = (): Workload => {
    const workload = shopDeployment();
    workload.spec.template.spec.containers = [...workload.spec.template.spec.containers, { name: 'mesh-proxy', image: 'mine:1' }];
    return workload;
  };

  it('an injection error: failurePolicy Ignore releases / admits with a warning; Fail fails / denies', () => {
    for (const failurePolicy of ['Ignore', 'Fail'] as const) {
      const plan = planWorkloadInjection(clashing(), { namespace: shopNamespace(), meshConfigs: [meshConfig('default', { failurePolicy })] });
      expect(plan.action).to.equal('error');
      const initializer = initializerVerdict(plan, { kind: 'Deployment' });
      const webhook = admissionVerdict(plan);
      if (failurePolicy === 'Ignore') {
        expect(initializer).to.include({ action: 'released', level: 'warn' });
        expect(initializer.reason).to.match(/^injection failed, released without a sidecar \(failurePolicy Ignore\): /);
        expect(webhook.action).to.equal('allowed-uninjected');
        expect(webhook.warning).to.match(/; admitted without a sidecar \(failurePolicy Ignore\)$/);
      } else {
        expect(initializer).to.include({ action: 'failed', level: 'error' });
        expect(initializer.failure).to.include('already has "mesh-proxy"');
        expect(webhook.action).to.equal('denied');
        expect(webhook.denial).to.include('(MeshConfig default has failurePolicy Fail)');
      }
    }
  });

  it('a server rejection (422) is judged like an injection error; degraded skips release with a warning', () => {
    const plan = planWorkloadInjection(shopDeployment(), { namespace: shopNamespace(), meshConfigs: [meshConfig('default')] });
    expect(initializerVerdict(plan, { kind: 'Deployment', rejection: 'field is immutable' }).reason).to.equal('injection failed, released without a sidecar (failurePolicy Ignore): field is immutable');
    const degraded = planWorkloadInjection(shopDeployment(), { namespace: shopNamespace(), meshConfigs: [], meshConfigsUnavailable: 'the CRD is not installed' });
    expect(initializerVerdict(degraded, { kind: 'Deployment' })).to.include({ action: 'released', level: 'warn' });
    expect(admissionVerdict(degraded).warning).to.equal('meshinit admitted this without a sidecar: no MeshConfig can be read, so no sidecar was injected: the CRD is not installed');
  });
});
