// What the Initializer mode keeps of a workload in its caches: all of it while metadata.initializers
// is there (pending, or a failure result), only its summary afterwards (identity, version, labels,
// and whose sidecar its template carries).
import { expect } from 'chai';
import { STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { createWorkloadSummariser, SUMMARY_INJECTION } from '../../controller/core/workload-summary.ts';
import { keepWholeWhilePending } from '../../controller/initializer/workload-cache.ts';
import type { KubeObject } from '../../controller/core/types.ts';

const settled: KubeObject = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'web', namespace: 'demo', uid: 'u-1', resourceVersion: '42', labels: { app: 'web' }, annotations: { a: 'b' } },
  spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
  status: { replicas: 1 },
};

const RECORD = JSON.stringify({ meshConfig: 'default', generation: 3, hash: '00abc', initContainers: [], containers: ['mesh-proxy'], volumes: [], imagePullSecrets: [], podAnnotations: [], podLabels: [] });

function injected(name: string, record = RECORD): KubeObject {
  return { ...settled, metadata: { ...settled.metadata, name }, spec: { template: { metadata: { annotations: { [STATUS_ANNOTATION]: record } }, spec: { containers: [] } } } };
}

describe('workload cache: whole objects only while pending', () => {
  const keep = keepWholeWhilePending(createWorkloadSummariser());

  it('keeps an object with pending initializers, or a failure result, as it is', () => {
    const pending = { ...settled, metadata: { ...settled.metadata, initializers: { pending: [{ name: 'x.example.com' }] } } };
    const failed = { ...settled, metadata: { ...settled.metadata, initializers: { pending: [], result: { status: 'Failure' } } } };
    expect(keep(pending)).to.equal(pending);
    expect(keep(failed)).to.equal(failed);
  });

  it('keeps only kind, apiVersion, name, namespace, uid, resourceVersion and labels of an initialized object', () => {
    expect(keep(settled)).to.deep.equal({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'demo', uid: 'u-1', resourceVersion: '42', labels: { app: 'web' } },
    });
  });

  it('keeps the status record as its MeshConfig and hash only, one shared object for identical records', () => {
    const a = keep(injected('a'));
    const b = keep(injected('b'));
    expect(a[SUMMARY_INJECTION]).to.deep.equal({ meshConfig: 'default', generation: 3, hash: '00abc' });
    expect(a[SUMMARY_INJECTION], 'shared, not a copy per workload').to.equal(b[SUMMARY_INJECTION]);
    expect(JSON.stringify(a)).not.to.include('mesh-proxy');
  });

  it('keeps no mark for a corrupt or incomplete record (counted as not injected, never a crash)', () => {
    for (const record of ['{not json', '"a string"', JSON.stringify({ meshConfig: 'default' }), JSON.stringify({ meshConfig: 1, hash: 'x' })]) {
      expect(keep(injected('c', record)), record).not.to.have.property(SUMMARY_INJECTION);
    }
  });
});
