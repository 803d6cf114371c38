import { expect } from 'chai';
import {
  DAEMONSET, DEPLOYMENT, JOB, MESHCONFIG, NAMESPACE, POD, STATEFULSET,
  apiVersionOf, collectionPath, objectKey, objectPath, workloadDescriptor,
} from '../../controller/kube/resources.ts';
import { loadTranscript } from '../support/transcripts.ts';
import type { KubeObject } from '../../controller/core/types.ts';

describe('kube resources', () => {
  it('builds group and core collection paths, namespaced or across namespaces', () => {
    expect(collectionPath(DEPLOYMENT)).to.equal('/apis/apps/v1/deployments');
    expect(collectionPath(DEPLOYMENT, 'ns')).to.equal('/apis/apps/v1/namespaces/ns/deployments');
    expect(collectionPath(JOB, 'ns')).to.equal('/apis/batch/v1/namespaces/ns/jobs');
    expect(collectionPath(POD, 'default')).to.equal('/api/v1/namespaces/default/pods');
    expect(collectionPath(NAMESPACE)).to.equal('/api/v1/namespaces');
    expect(collectionPath(MESHCONFIG)).to.equal('/apis/meshinit.dev/v1alpha1/meshconfigs');
  });

  it('builds object paths and agrees with the selfLink the server reports (05b)', () => {
    const obj = loadTranscript('v1.13.0/05b-get-with-flag.txt').body as KubeObject;
    expect(objectPath(DEPLOYMENT, obj.metadata?.namespace, obj.metadata!.name!)).to.equal(obj.metadata?.selfLink);
    expect(objectPath(NAMESPACE, undefined, 'default')).to.equal('/api/v1/namespaces/default');
    expect(objectPath(MESHCONFIG, '', 'envoy')).to.equal('/apis/meshinit.dev/v1alpha1/meshconfigs/envoy');
    expect(objectPath(STATEFULSET, 'a', 'b')).to.equal('/apis/apps/v1/namespaces/a/statefulsets/b');
  });

  it('refuses paths that would address something else', () => {
    expect(() => objectPath(DEPLOYMENT, undefined, 'x')).to.throw(/namespace is required/);
    expect(() => objectPath(NAMESPACE, 'ns', 'x')).to.throw(/cluster-scoped/);
    expect(() => collectionPath(MESHCONFIG, 'ns')).to.throw(/cluster-scoped/);
    expect(() => objectPath(DEPLOYMENT, 'ns', '')).to.throw(/invalid name/);
    expect(() => objectPath(DEPLOYMENT, 'ns', 'a/b')).to.throw(/invalid name/);
  });

  it('keys objects as namespace/name, or name when cluster-scoped', () => {
    expect(objectKey({ metadata: { namespace: 'default', name: 'demo-b' } })).to.equal('default/demo-b');
    expect(objectKey({ metadata: { name: 'envoy' } })).to.equal('envoy');
    expect(() => objectKey({ metadata: {} })).to.throw(/metadata.name/);
  });

  it('maps workload kinds to apps/v1 and batch/v1', () => {
    expect(workloadDescriptor('Deployment')).to.equal(DEPLOYMENT);
    expect(workloadDescriptor('StatefulSet')).to.equal(STATEFULSET);
    expect(workloadDescriptor('DaemonSet')).to.equal(DAEMONSET);
    expect(workloadDescriptor('Job')).to.equal(JOB);
    expect(apiVersionOf(JOB)).to.equal('batch/v1');
    expect(apiVersionOf(POD)).to.equal('v1');
    expect(apiVersionOf(MESHCONFIG)).to.equal('meshinit.dev/v1alpha1');
  });
});
