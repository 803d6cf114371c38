// What the Initializer mode keeps of a workload in its caches: all of it while metadata.initializers
// is there (pending, or a failure result), only its identity and version afterwards.
import { expect } from 'chai';
import { keepWholeWhilePending } from '../../controller/initializer/workload-cache.ts';
import type { KubeObject } from '../../controller/core/types.ts';

const settled: KubeObject = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'web', namespace: 'demo', uid: 'u-1', resourceVersion: '42', labels: { app: 'web' }, annotations: { a: 'b' } },
  spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
  status: { replicas: 1 },
};

describe('workload cache: whole objects only while pending', () => {
  it('keeps an object with pending initializers, or a failure result, as it is', () => {
    const pending = { ...settled, metadata: { ...settled.metadata, initializers: { pending: [{ name: 'x.example.com' }] } } };
    const failed = { ...settled, metadata: { ...settled.metadata, initializers: { pending: [], result: { status: 'Failure' } } } };
    expect(keepWholeWhilePending(pending)).to.equal(pending);
    expect(keepWholeWhilePending(failed)).to.equal(failed);
  });

  it('keeps only kind, apiVersion, name, namespace, uid and resourceVersion of an initialized object', () => {
    expect(keepWholeWhilePending(settled)).to.deep.equal({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'demo', uid: 'u-1', resourceVersion: '42' },
    });
  });
});
