// Which records a workload's live Pods carry (webhook --target pods): Pods are attributed to their
// workload through the controlling owner (a Deployment's ReplicaSet by its pod-template-hash),
// finished and terminating Pods are not counted, and two versions of the sidecar mid-rollout are
// both reported, oldest first.
import { expect } from 'chai';
import { STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { PodMarks, podInjection } from '../../controller/core/pod-marks.ts';
import type { KubeObject } from '../../controller/core/types.ts';

function record(meshConfig: string, generation: number, hash: string): string {
  return JSON.stringify({ meshConfig, generation, hash, containers: ['proxy'], initContainers: [], volumes: [], imagePullSecrets: [], podAnnotations: [], podLabels: [] });
}

function pod(name: string, owner: { kind: string; name: string } | undefined, extra: { annotation?: string; phase?: string; deleting?: boolean; hash?: string } = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: 'shop', uid: `uid-${name}`,
      labels: extra.hash ? { app: 'web', 'pod-template-hash': extra.hash } : { app: 'web' },
      ...(extra.annotation ? { annotations: { [STATUS_ANNOTATION]: extra.annotation } } : {}),
      ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: 'owner-uid', controller: true }] } : {}),
      ...(extra.deleting ? { deletionTimestamp: '2026-11-30T00:00:00Z' } : {}),
    },
    spec: { containers: [{ name: 'app' }, { name: 'proxy' }] },
    ...(extra.phase ? { status: { phase: extra.phase } } : {}),
  };
}

describe('pod marks (webhook --target pods)', function () {
  it('attributes a ReplicaSet Pod to its Deployment by the pod-template-hash', function () {
    const found = podInjection(pod('web-7d9f-abcde', { kind: 'ReplicaSet', name: 'web-7d9f' }, { annotation: record('mesh', 2, 'h2'), hash: '7d9f' }));
    expect(found).to.deep.equal({ workload: 'Deployment/shop/web', mark: { meshConfig: 'mesh', generation: 2, hash: 'h2' } });
  });

  it('attributes StatefulSet, DaemonSet and Job Pods to their owner', function () {
    for (const kind of ['StatefulSet', 'DaemonSet', 'Job']) {
      expect(podInjection(pod('p', { kind, name: 'db' }, { annotation: record('mesh', 1, 'h') }))?.workload).to.equal(`${kind}/shop/db`);
    }
  });

  it('ignores Pods without a record, with a corrupt record, bare Pods and Pods of other controllers', function () {
    expect(podInjection(pod('a', { kind: 'ReplicaSet', name: 'web-1' }, { hash: '1' }))).to.equal(undefined);
    expect(podInjection(pod('b', { kind: 'ReplicaSet', name: 'web-1' }, { hash: '1', annotation: '{not json' }))).to.equal(undefined);
    expect(podInjection(pod('c', undefined, { annotation: record('mesh', 1, 'h') }))).to.equal(undefined);
    expect(podInjection(pod('d', { kind: 'Workflow', name: 'w' }, { annotation: record('mesh', 1, 'h') }))).to.equal(undefined);
  });

  it('does not count finished or terminating Pods: no restart would change them', function () {
    expect(podInjection(pod('a', { kind: 'Job', name: 'j' }, { annotation: record('mesh', 1, 'h'), phase: 'Succeeded' }))).to.equal(undefined);
    expect(podInjection(pod('b', { kind: 'Job', name: 'j' }, { annotation: record('mesh', 1, 'h'), phase: 'Failed' }))).to.equal(undefined);
    expect(podInjection(pod('c', { kind: 'ReplicaSet', name: 'web-1' }, { annotation: record('mesh', 1, 'h'), hash: '1', deleting: true }))).to.equal(undefined);
    expect(podInjection(pod('d', { kind: 'ReplicaSet', name: 'web-1' }, { annotation: record('mesh', 1, 'h'), hash: '1', phase: 'Running' }))?.workload).to.equal('Deployment/shop/web');
  });

  it('keeps each distinct record of a workload once, oldest generation first', function () {
    const marks = new PodMarks();
    marks.add(pod('web-2-a', { kind: 'ReplicaSet', name: 'web-2' }, { annotation: record('mesh', 3, 'h3'), hash: '2' }));
    marks.add(pod('web-2-b', { kind: 'ReplicaSet', name: 'web-2' }, { annotation: record('mesh', 3, 'h3'), hash: '2' }));
    marks.add(pod('web-1-a', { kind: 'ReplicaSet', name: 'web-1' }, { annotation: record('mesh', 2, 'h2'), hash: '1' }));
    marks.add(pod('other', { kind: 'ReplicaSet', name: 'api-9' }, { annotation: record('other', 1, 'x'), hash: '9' }));
    marks.add(pod('plain', { kind: 'ReplicaSet', name: 'api-9' }, { hash: '9' }));
    expect(marks.of('Deployment', 'shop', 'web')).to.deep.equal([
      { meshConfig: 'mesh', generation: 2, hash: 'h2' },
      { meshConfig: 'mesh', generation: 3, hash: 'h3' },
    ]);
    expect(marks.of('Deployment', 'shop', 'api')).to.deep.equal([{ meshConfig: 'other', generation: 1, hash: 'x' }]);
    expect(marks.of('Deployment', 'shop', 'nothing')).to.deep.equal([]);
    expect({ pods: marks.pods, injectedPods: marks.injectedPods, workloads: marks.workloads }).to.deep.equal({ pods: 5, injectedPods: 4, workloads: 2 });
  });
});
