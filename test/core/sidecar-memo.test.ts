// core/sidecar-memo: a sidecar rendered once per MeshConfig version and workload, and injections
// that use it exactly equal to injections that render afresh.
import { expect } from 'chai';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import { renderSidecarFor, SidecarMemo } from '../../controller/core/sidecar-memo.ts';
import { deepFreeze, demoDeployment, envoyMeshConfig, meshConfig, reportJobPod, shopDeployment } from './fixtures/helpers.ts';

const web = { kind: 'Deployment' as const, name: 'web', namespace: 'shop' };

describe('core/sidecar-memo', function () {
  it('renders once per MeshConfig and workload, and hands out a frozen render equal to a fresh one', function () {
    const memo = new SidecarMemo();
    const mc = envoyMeshConfig();
    const first = memo.get(mc, web);
    expect(memo.get(mc, { ...web }), 'the same workload').to.equal(first);
    expect(first).to.deep.equal(renderSidecarFor(mc, web));
    expect(Object.isFrozen(first.sidecar.containers[0])).to.equal(true);
    for (const other of [{ ...web, name: 'api' }, { ...web, namespace: 'other' }, { ...web, kind: 'StatefulSet' as const }]) {
      const render = memo.get(mc, other);
      expect(render, JSON.stringify(other)).to.not.equal(first);
      expect(render).to.deep.equal(renderSidecarFor(mc, other));
    }
  });

  it('renders again for another MeshConfig object, even one with the same name and generation (a 1.9 server keeps none)', function () {
    const memo = new SidecarMemo();
    const before = memo.get(meshConfig('mesh', {}, 0), web);
    const edited = meshConfig('mesh', { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:2' }] } }, 0);
    const after = memo.get(edited, web);
    expect(after.sidecar.containers[0]!.image).to.equal('proxy:2');
    expect(after.hash).to.not.equal(before.hash);
  });

  it('keeps at most maxPerMeshConfig workloads per MeshConfig, dropping the least recently used', function () {
    const memo = new SidecarMemo(2);
    const mc = envoyMeshConfig();
    const a = memo.get(mc, { ...web, name: 'a' });
    const b = memo.get(mc, { ...web, name: 'b' });
    expect(memo.get(mc, { ...web, name: 'a' })).to.equal(a);
    memo.get(mc, { ...web, name: 'c' });
    expect(memo.get(mc, { ...web, name: 'a' }), 'used recently: kept').to.equal(a);
    expect(memo.get(mc, { ...web, name: 'b' }), 'least recently used: rendered again').to.not.equal(b);
  });

  it('injections through the memo equal fresh ones: first injection, re-injection (no change) and upgrade, for workloads and Pods', function () {
    const memo = new SidecarMemo();
    const mc = envoyMeshConfig();
    const upgrade = meshConfig('envoy', { sidecar: { containers: [{ name: 'other-proxy', image: 'proxy:2' }] } }, 2);
    for (const workload of [demoDeployment(), shopDeployment()]) {
      const original = deepFreeze(workload);
      const fresh = injectWorkload(original, mc);
      const memoised = injectWorkload(original, mc, memo);
      expect(memoised).to.deep.equal(fresh);
      const again = injectWorkload(deepFreeze(memoised.object), mc, memo);
      expect(again.changed, 'injecting twice changes nothing').to.equal(false);
      expect(injectWorkload(memoised.object, upgrade, memo)).to.deep.equal(injectWorkload(fresh.object, upgrade));
    }
    const pod = deepFreeze(reportJobPod());
    const job = { kind: 'Job' as const, name: 'report', namespace: 'shop' };
    expect(injectPod(pod, mc, job, memo)).to.deep.equal(injectPod(pod, mc, job));
    expect(injectPod(pod, mc, job, memo)).to.deep.equal(injectPod(pod, mc, job, memo));
  });
});
