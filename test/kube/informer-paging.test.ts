// The informer's LIST in pages (`limit` and `continue`): every page is prepared before the next is
// asked for, the watch starts from the first page's resourceVersion, and a continue token that
// expired while paging (410) falls back to one full LIST instead of failing the sync.
import { expect } from 'chai';
import { KubeApiError } from '../../controller/kube/errors.ts';
import { createInformer } from '../../controller/kube/informer.ts';
import { DEPLOYMENT } from '../../controller/kube/resources.ts';
import type { KubeApi, KubeListResponse, QueryParams } from '../../controller/kube/types.ts';
import type { KubeObject } from '../../controller/core/types.ts';

function deployment(n: number): KubeObject {
  return { metadata: { name: `d-${n}`, namespace: 'default', resourceVersion: String(100 + n) }, spec: { replicas: 1 } };
}

/** A server holding `count` Deployments at resourceVersion 500; `expireAfter` pages, continue answers 410. */
function fakeApi(count: number, options: { expireAfter?: number } = {}) {
  const lists: QueryParams[] = [];
  const watches: QueryParams[] = [];
  const items = Array.from({ length: count }, (_, n) => deployment(n));
  const api: KubeApi = {
    async list<T>(_path: string, query?: QueryParams): Promise<KubeListResponse<T>> {
      lists.push({ ...query });
      const limit = Number(query?.limit ?? 0);
      const from = query?.continue ? Number(query.continue) : 0;
      if (query?.continue && options.expireAfter !== undefined && lists.filter((q) => q.continue).length > options.expireAfter) {
        throw new KubeApiError({ method: 'GET', path: _path, statusCode: 410, reason: 'Expired', message: 'The provided continue parameter is too old' });
      }
      const to = limit ? Math.min(count, from + limit) : count;
      return { metadata: { resourceVersion: '500', ...(to < count ? { continue: String(to) } : {}) }, items: items.slice(from, to) as T[] };
    },
    watch(_path, query) {
      watches.push({ ...query });
      let stop = (): void => undefined;
      return { done: new Promise((resolve) => { stop = () => resolve({ closedByServer: false }); }), stop: () => stop() };
    },
    get: () => Promise.reject(new Error('unused')),
    patch: () => Promise.reject(new Error('unused')),
    patchIgnoringAnswer: () => Promise.reject(new Error('unused')),
    post: () => Promise.reject(new Error('unused')),
    put: () => Promise.reject(new Error('unused')),
  };
  return { api, lists, watches };
}

describe('informer LIST in pages', () => {
  it('asks page after page with limit and continue, transforms each item, and watches from the list\'s resourceVersion', async () => {
    const { api, lists, watches } = fakeApi(1234);
    const seen: number[] = [];
    const informer = createInformer<KubeObject>({
      api, descriptor: DEPLOYMENT, query: { includeUninitialized: true }, pageSize: 500,
      transform: (raw) => {
        seen.push(lists.length);
        return { metadata: { name: raw.metadata?.name, namespace: raw.metadata?.namespace, resourceVersion: raw.metadata?.resourceVersion } };
      },
    });
    informer.start();
    await informer.waitForSync();
    expect(lists).to.deep.equal([
      { includeUninitialized: true, limit: 500 },
      { includeUninitialized: true, limit: 500, continue: '500' },
      { includeUninitialized: true, limit: 500, continue: '1000' },
    ]);
    // Each page was prepared before the next was asked for.
    expect(seen.filter((page) => page === 1)).to.have.length(500);
    expect(seen.filter((page) => page === 3)).to.have.length(234);
    expect(informer.list()).to.have.length(1234);
    expect(informer.get('default/d-1233')).to.deep.equal({ metadata: { name: 'd-1233', namespace: 'default', resourceVersion: '1333' } });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(watches[0]).to.include({ resourceVersion: '500', includeUninitialized: true });
    await informer.stop();
  });

  it('falls back to one full LIST when the continue token expires (410) while paging', async () => {
    const { api, lists } = fakeApi(1200, { expireAfter: 1 });
    const errors: unknown[] = [];
    const informer = createInformer<KubeObject>({ api, descriptor: DEPLOYMENT, pageSize: 500, onError: (error) => errors.push(error) });
    informer.start();
    await informer.waitForSync();
    expect(lists.map((q) => [q.limit, q.continue])).to.deep.equal([[500, undefined], [500, '500'], [500, '1000'], [undefined, undefined]]);
    expect(informer.list()).to.have.length(1200);
    expect(errors).to.deep.equal([]);
    await informer.stop();
  });

  it('sends no limit without pageSize, and stops at a page without a continue token', async () => {
    const { api, lists } = fakeApi(3);
    const informer = createInformer<KubeObject>({ api, descriptor: DEPLOYMENT });
    informer.start();
    await informer.waitForSync();
    expect(lists).to.deep.equal([{}]);
    expect(informer.list().map((o) => o.metadata?.name)).to.deep.equal(['d-0', 'd-1', 'd-2']);
    await informer.stop();
  });
});
