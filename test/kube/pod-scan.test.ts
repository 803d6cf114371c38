// The Pod scan of webhook --target pods: Pods are paged (limit/continue), only the namespaces
// meshinit injects are read when --namespace is given, a continue token that expired mid-scan
// (410) falls back to unpaged LISTs, and any other error is the caller's.
import { expect } from 'chai';
import { STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import type { KubeObject } from '../../controller/core/types.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import { scanPodMarks } from '../../controller/kube/pod-scan.ts';
import type { KubeApi, KubeListResponse, QueryParams } from '../../controller/kube/types.ts';

function pod(n: number, namespace: string): KubeObject {
  const generation = n % 2 === 0 ? 1 : 2;
  return {
    metadata: {
      name: `web-abc-${n}`, namespace, labels: { 'pod-template-hash': 'abc' },
      annotations: { [STATUS_ANNOTATION]: JSON.stringify({ meshConfig: 'mesh', generation, hash: `h${generation}` }) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'u', controller: true }],
    },
  };
}

function fakeApi(perNamespace: number, options: { expireAt?: number; failWith?: number } = {}) {
  const calls: Array<{ path: string; query: QueryParams }> = [];
  const unused = (): Promise<never> => Promise.reject(new Error('unused'));
  const api: KubeApi = {
    async list<T>(path: string, query: QueryParams = {}): Promise<KubeListResponse<T>> {
      calls.push({ path, query: { ...query } });
      if (options.failWith) throw new KubeApiError({ method: 'GET', path, statusCode: options.failWith, reason: 'Forbidden', message: 'pods is forbidden' });
      if (query.continue && options.expireAt !== undefined && calls.length > options.expireAt) {
        throw new KubeApiError({ method: 'GET', path, statusCode: 410, reason: 'Expired', message: 'The provided continue parameter is too old' });
      }
      const namespace = /namespaces\/([^/]+)\/pods/.exec(path)?.[1] ?? 'all';
      const limit = Number(query.limit ?? 0);
      const from = query.continue ? Number(query.continue) : 0;
      const to = limit ? Math.min(perNamespace, from + limit) : perNamespace;
      const items = Array.from({ length: to - from }, (_, i) => pod(from + i, namespace));
      return { metadata: { resourceVersion: '9', ...(to < perNamespace ? { continue: String(to) } : {}) }, items: items as T[] };
    },
    get: unused, watch: () => { throw new Error('unused'); }, patch: unused, patchIgnoringAnswer: unused, post: unused, put: unused,
  };
  return { api, calls };
}

describe('Pod scan (webhook --target pods)', function () {
  it('pages through every Pod of the cluster and keeps both sidecar versions of a workload', async function () {
    const { api, calls } = fakeApi(1201);
    const marks = await scanPodMarks(api, { namespaces: [] });
    expect(calls.map((c) => [c.path, c.query.limit, c.query.continue])).to.deep.equal([
      ['/api/v1/pods', 500, undefined], ['/api/v1/pods', 500, '500'], ['/api/v1/pods', 500, '1000'],
    ]);
    expect(marks.pods).to.equal(1201);
    expect(marks.of('Deployment', 'all', 'web').map((m) => m.generation)).to.deep.equal([1, 2]);
  });

  it('reads only the --namespace namespaces', async function () {
    const { api, calls } = fakeApi(3);
    const marks = await scanPodMarks(api, { namespaces: ['shop', 'blog'] });
    expect(calls.map((c) => c.path)).to.deep.equal(['/api/v1/namespaces/shop/pods', '/api/v1/namespaces/blog/pods']);
    expect(marks.workloads).to.equal(2);
  });

  it('starts over unpaged when a continue token expired (410)', async function () {
    const { api, calls } = fakeApi(1200, { expireAt: 1 });
    const marks = await scanPodMarks(api, { namespaces: [] });
    expect(calls.map((c) => c.query.limit ?? 'all')).to.deep.equal([500, 500, 'all']);
    expect(marks.pods).to.equal(1200);
  });

  it('leaves any other error to the caller', async function () {
    const { api } = fakeApi(3, { failWith: 403 });
    let caught: unknown;
    try {
      await scanPodMarks(api, { namespaces: [] });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(KubeApiError).and.to.have.property('statusCode', 403);
  });
});
