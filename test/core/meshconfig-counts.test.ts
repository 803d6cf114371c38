// The counts in MeshConfig status, from workloads injected by the real injection core and kept as
// the caches keep them (summaries), so a change to the record, the hash or selection that would
// make status lie fails here.
import { expect } from 'chai';
import fc from 'fast-check';
import { injectWorkload } from '../../controller/core/inject.ts';
import { countMeshConfigWorkloads, ExpectedHashes, isShadowed, type CountedWorkload, type CountInput } from '../../controller/core/meshconfig-counts.ts';
import { selectMeshConfig } from '../../controller/core/selection.ts';
import type { KubeObject, MeshConfig, NamespaceInfo, Workload, WorkloadKind } from '../../controller/core/types.ts';
import { countedWorkload, createWorkloadSummariser } from '../../controller/core/workload-summary.ts';
import { meshConfig, namespace } from './fixtures/helpers.ts';

function deployment(name: string, ns = 'shop', labels: Record<string, string> = { app: name }, kind: WorkloadKind = 'Deployment'): Workload {
  return {
    apiVersion: 'apps/v1', kind,
    metadata: { name, namespace: ns, uid: `uid-${name}`, resourceVersion: '1', labels },
    spec: { template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
  };
}

const summarise = createWorkloadSummariser();
/** As the informer cache keeps it: injected by `mc` (when given), then summarised. */
function cached(workload: Workload, mc?: MeshConfig): CountedWorkload {
  const object: KubeObject = mc ? injectWorkload(workload, mc).object : workload;
  return countedWorkload(workload.kind, summarise(object));
}

const NAMESPACES: Record<string, NamespaceInfo> = {
  shop: namespace('shop', { mesh: 'on' }),
  quiet: namespace('quiet', { 'meshinit.dev/injection': 'disabled' }),
  'meshinit-system': namespace('meshinit-system'),
};

function count(workloads: CountedWorkload[], meshConfigs: MeshConfig[], extra: Partial<CountInput> = {}) {
  return countMeshConfigWorkloads({
    workloads, meshConfigs, namespace: (name) => NAMESPACES[name], policy: { controllerNamespace: 'meshinit-system' }, recordsVisible: true, ...extra,
  });
}

const v1 = meshConfig('default', { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:1', args: ['--service={{workload.name}}.{{workload.namespace}}'] }] } }, 1);
const v2 = meshConfig('default', { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:2', args: ['--service={{workload.name}}.{{workload.namespace}}'] }] } }, 2);

describe('core/meshconfig-counts', () => {
  it('counts a workload injected with the current sidecar as injected, with an older one as outdated', () => {
    const old = [cached(deployment('a'), v1), cached(deployment('b'), v1)];
    expect(count(old, [v1]).get('default')).to.deep.equal({ matched: 2, selecting: 2, takenBy: [], injected: 2, outdated: 0 });
    // The MeshConfig is edited (a new image) and one more workload is created.
    const after = [...old, cached(deployment('c'), v2)];
    expect(count(after, [v2]).get('default')).to.deep.equal({ matched: 3, selecting: 3, takenBy: [], injected: 1, outdated: 2 });
  });

  it('on 1.9 (every generation 0) the hash alone tells the current sidecar from an older one', () => {
    const old0 = meshConfig('default', { sidecar: v1.spec.sidecar }, 0);
    const new0 = meshConfig('default', { sidecar: v2.spec.sidecar }, 0);
    const workloads = [cached(deployment('a'), old0), cached(deployment('b'), new0)];
    expect(workloads[0]!.injection?.generation).to.equal(0);
    expect(count(workloads, [new0]).get('default')).to.include({ injected: 1, outdated: 1 });
    expect(count(workloads, [old0]).get('default')).to.include({ injected: 1, outdated: 1 });
  });

  it('remembers expected hashes across counts by sidecar content, so a new MeshConfig object with the same sidecar reuses them', () => {
    const hashes = new ExpectedHashes();
    const old0 = meshConfig('default', { sidecar: v1.spec.sidecar }, 0);
    const workloads = [cached(deployment('a'), old0)];
    expect(count(workloads, [old0], { hashes }).get('default')).to.include({ injected: 1 });
    // A status write makes the store parse a new object: same content, same answer.
    const again = meshConfig('default', { sidecar: v1.spec.sidecar }, 0);
    expect(count(workloads, [again], { hashes }).get('default')).to.include({ injected: 1 });
    const edited = meshConfig('default', { sidecar: v2.spec.sidecar }, 0);
    expect(count(workloads, [edited], { hashes }).get('default')).to.include({ injected: 0, outdated: 1 });
  });

  it('renders placeholders per workload: each workload\'s own hash is the current one', () => {
    const a = cached(deployment('a'), v1);
    const b = cached(deployment('b'), v1);
    expect(a.injection?.hash).not.to.equal(b.injection?.hash);
    expect(count([a, b], [v1]).get('default')).to.include({ injected: 2, outdated: 0 });
    // The same answer twice: the remembered hashes are the right ones.
    expect(count([a, b], [v1]).get('default')).to.include({ injected: 2, outdated: 0 });
  });

  it('an edit that does not change the sidecar (priority) leaves every workload injected', () => {
    const reprioritised = meshConfig('default', { priority: 5, sidecar: v1.spec.sidecar }, 3);
    expect(count([cached(deployment('a'), v1)], [reprioritised]).get('default')).to.include({ injected: 1, outdated: 0 });
  });

  it('a MeshConfig of higher priority that takes every workload makes the other NotSelected', () => {
    const low = meshConfig('mesh-low', { priority: 1 });
    const high = meshConfig('mesh-high', { priority: 10, selector: { matchLabels: { team: 'pay' } } });
    const workloads = [cached(deployment('a', 'shop', { team: 'pay' }), low), cached(deployment('b', 'shop', { team: 'pay' }), low)];
    const counts = count(workloads, [low, high]);
    expect(counts.get('mesh-high')).to.deep.equal({ matched: 2, selecting: 2, takenBy: [], injected: 0, outdated: 0 });
    // The workloads still carry the low one's sidecar (current hash): injected, but not matched.
    expect(counts.get('mesh-low')).to.deep.equal({ matched: 0, selecting: 2, takenBy: ['mesh-high'], injected: 2, outdated: 0 });
    expect(isShadowed(counts.get('mesh-low')!)).to.equal(true);
    expect(isShadowed(counts.get('mesh-high')!)).to.equal(false);
    // One workload the high one does not select: the low one wins it, and is not shadowed.
    const partly = count([...workloads, cached(deployment('c', 'shop', { team: 'ops' }))], [low, high]);
    expect(partly.get('mesh-low')).to.include({ matched: 1, selecting: 3 });
    expect(isShadowed(partly.get('mesh-low')!)).to.equal(false);
  });

  it('a MeshConfig that selects nothing is not shadowed: nothing is taken from it', () => {
    const none = meshConfig('nobody', { selector: { matchLabels: { app: 'absent' } } });
    const counts = count([cached(deployment('a'))], [none]);
    expect(counts.get('nobody')).to.deep.equal({ matched: 0, selecting: 0, takenBy: [], injected: 0, outdated: 0 });
    expect(isShadowed(counts.get('nobody')!)).to.equal(false);
  });

  it('namespaces meshinit never injects count for no MeshConfig', () => {
    const everywhere = meshConfig('default');
    const workloads = ['kube-system', 'quiet', 'meshinit-system', 'elsewhere', 'shop'].map((ns) => cached(deployment(`w-${ns}`, ns)));
    expect(count(workloads, [everywhere]).get('default')).to.include({ matched: 2 });
    expect(count(workloads, [everywhere], { policy: { controllerNamespace: 'meshinit-system', injectNamespaces: ['shop'] } }).get('default')).to.include({ matched: 1 });
  });

  it('namespace selector, workload selector and kinds all apply', () => {
    const scoped = meshConfig('scoped', { namespaceSelector: { matchLabels: { mesh: 'on' } }, selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b'] }] }, kinds: ['Deployment'] });
    const workloads = [
      cached(deployment('a')), cached(deployment('b', 'elsewhere')), cached(deployment('c')), cached(deployment('a', 'shop', { app: 'a' }, 'StatefulSet')),
    ];
    expect(count(workloads, [scoped]).get('scoped')).to.include({ matched: 1, selecting: 1 });
  });

  it('a record of a MeshConfig no longer in force counts as outdated under its name', () => {
    const counts = count([cached(deployment('a'), meshConfig('retired'))], [v1]);
    expect(counts.get('retired')).to.deep.equal({ matched: 0, selecting: 0, takenBy: [], injected: 0, outdated: 1 });
    expect(counts.get('default')).to.include({ matched: 1, injected: 0, outdated: 0 });
  });

  it('without visible records (webhook --target pods) matched is counted and injected/outdated are absent', () => {
    const counts = count([cached(deployment('a'), v1)], [v1], { recordsVisible: false });
    expect(counts.get('default')).to.deep.equal({ matched: 1, selecting: 1, takenBy: [] });
  });

  it('a workload still pending (whole, not summarised) is counted from its template', () => {
    const whole = injectWorkload(deployment('p'), v1).object;
    expect(count([countedWorkload('Deployment', whole)], [v1]).get('default')).to.include({ matched: 1, injected: 1 });
  });

  it('matched agrees with the controller\'s own selection for any MeshConfigs and workloads (property)', () => {
    const labelValue = fc.constantFrom('a', 'b', 'c');
    const selector = fc.record({ matchLabels: fc.dictionary(fc.constantFrom('app', 'team'), labelValue, { maxKeys: 2 }) });
    const mcs = fc.uniqueArray(
      fc.record({ name: fc.constantFrom('m1', 'm2', 'm3', 'm4'), priority: fc.integer({ min: 0, max: 3 }), selector, kinds: fc.subarray(['Deployment', 'StatefulSet'] as WorkloadKind[], { minLength: 1 }) }),
      { selector: (m) => m.name, maxLength: 4 },
    );
    const workloads = fc.array(fc.record({ app: labelValue, team: labelValue, kind: fc.constantFrom<WorkloadKind>('Deployment', 'StatefulSet') }), { maxLength: 20 });
    fc.assert(fc.property(mcs, workloads, (rawMcs, rawWorkloads) => {
      const meshConfigs = rawMcs.map((m) => meshConfig(m.name, { priority: m.priority, selector: m.selector, kinds: m.kinds }));
      const counted = rawWorkloads.map((w, i) => cached(deployment(`w${i}`, 'shop', { app: w.app, team: w.team }, w.kind)));
      const counts = count(counted, meshConfigs);
      const expected = new Map(meshConfigs.map((mc) => [mc.name, 0]));
      for (const w of counted) {
        const selection = selectMeshConfig(meshConfigs, { kind: w.kind, labels: w.labels, namespace: NAMESPACES.shop! });
        if (selection.selected) expected.set(selection.selected.name, expected.get(selection.selected.name)! + 1);
      }
      for (const mc of meshConfigs) {
        const got = counts.get(mc.name)!;
        expect(got.matched, mc.name).to.equal(expected.get(mc.name));
        expect(got.matched).to.be.at.most(got.selecting);
        expect(isShadowed(got)).to.equal(got.selecting > 0 && got.matched === 0);
      }
      const total = [...counts.values()].reduce((sum, c) => sum + c.matched, 0);
      expect(total).to.be.at.most(counted.length);
    }));
  });

  it('never throws on hostile cached objects: summarised and counted, a bad record or labels count as none (property)', () => {
    const value = fc.oneof(fc.anything(), fc.constant('{"meshConfig":"default","hash":"x","generation":1e400}'), fc.constant('{"meshConfig":"default","hash":"x"}'));
    const hostile = fc.record({
      metadata: fc.oneof(fc.anything(), fc.record({ name: value, namespace: fc.constantFrom('shop', 'kube-system'), labels: fc.oneof(fc.anything(), fc.dictionary(fc.string(), value)) })),
      spec: fc.oneof(fc.anything(), fc.record({ template: fc.record({ metadata: fc.record({ annotations: fc.record({ 'sidecar.meshinit.dev/status': value }) }) }) })),
    });
    fc.assert(fc.property(fc.array(hostile, { maxLength: 8 }), (objects) => {
      const workloads = objects.map((o) => countedWorkload('Deployment', summarise(o as unknown as KubeObject)));
      const counts = count(workloads, [v1]);
      const mine = counts.get('default')!;
      expect(mine.injected! + mine.outdated!).to.be.at.most(objects.length);
      for (const w of workloads) {
        if (w.injection) expect(w.injection).to.have.all.keys('meshConfig', 'generation', 'hash');
        for (const label of Object.values(w.labels)) expect(label).to.be.a('string');
        expect(w.name).to.be.a('string');
        expect(w.namespace).to.be.a('string');
      }
    }));
  });
});
