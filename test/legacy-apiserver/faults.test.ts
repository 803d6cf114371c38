// The double's own machinery, which the fault suite relies on: the request log, watch windows and
// 410s, and every injected fault (on command and by seeded rate), counted by type.
import http from 'node:http';
import { expect } from 'chai';
import { LegacyApiServer, TestClient } from '../support/legacy-apiserver/index.ts';
import { DEPLOYMENTS, PATCH_TYPES, RECORDED_INITIALIZER, request } from './replay.ts';

type Json = Record<string, unknown>;
const ME = { token: 'meshinit-token', userAgent: 'meshinit/test' };

async function waitUntil(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!predicate()) throw new Error(`timed out waiting for ${what}`);
}

describe('legacy API server double: request log, watches and fault injection', function () {
  let server: LegacyApiServer;
  let client: TestClient;
  let other: TestClient;

  beforeEach(async function () {
    server = new LegacyApiServer({ initializers: [{ name: RECORDED_INITIALIZER, resources: ['deployments'] }], watchCacheSize: 5 });
    const url = await server.start();
    client = new TestClient(url, ME);
    other = new TestClient(url, { token: 'other-token', userAgent: 'other/1.0' });
    await server.seed('namespaces', { metadata: { name: 'default' } });
  });

  afterEach(async function () {
    client.close();
    other.close();
    await server.stop();
  });

  it('logs who sent what and when, and for writes the pending initializers before and after', async function () {
    await client.post(DEPLOYMENTS, request('deploy-b.json'), { includeUninitialized: '1' });
    await other.patch(`${DEPLOYMENTS}/demo-b`, [{ op: 'test', path: '/metadata/initializers/pending/0/name', value: RECORDED_INITIALIZER }, { op: 'remove', path: '/metadata/initializers/pending/0' }], PATCH_TYPES.json);
    const [post, patch] = server.requests;
    expect(post).to.deep.include({ method: 'POST', path: DEPLOYMENTS, token: ME.token, userAgent: ME.userAgent, cls: 'create', code: 202, query: { includeUninitialized: '1' } });
    expect(post!.trace).to.deep.equal({ pendingBefore: [], pendingAfter: [RECORDED_INITIALIZER] });
    expect(patch).to.deep.include({ token: 'other-token', contentType: PATCH_TYPES.json, code: 200, object: { plural: 'deployments', namespace: 'default', name: 'demo-b' } });
    expect(patch!.trace).to.deep.equal({ pendingBefore: [RECORDED_INITIALIZER], pendingAfter: [] });
    expect((patch!.body as Json[])[1]).to.deep.equal({ op: 'remove', path: '/metadata/initializers/pending/0' });
    expect(patch!.at).to.be.at.least(post!.at);
  });

  it('does nothing for a request whose client went away before its body arrived', async function () {
    await client.post(DEPLOYMENTS, request('deploy-b.json'), { includeUninitialized: '1' });
    const url = new URL(`${DEPLOYMENTS}/demo-b`, server.url);
    await new Promise<void>((resolve) => {
      const req = http.request(url, { method: 'PATCH', headers: { 'Content-Type': PATCH_TYPES.merge, 'Content-Length': '1000' } });
      req.on('error', () => resolve());
      req.write('{"metadata":{"initializers":null}');
      setTimeout(() => { req.destroy(); resolve(); }, 50);
    });
    await waitUntil(() => server.requests.at(-1)?.aborted === true, 'the aborted request');
    expect(server.get('deployments', 'default', 'demo-b')?.metadata?.initializers).to.deep.equal({ pending: [{ name: RECORDED_INITIALIZER }] });
  });

  it('refuses a stale resourceVersion in a patch with the real 409; a failed test op is 422 on 1.13', async function () {
    await client.post(DEPLOYMENTS, request('deploy-b.json'), { includeUninitialized: '1' });
    const stale = await client.patch(`${DEPLOYMENTS}/demo-b`, [{ op: 'replace', path: '/metadata/resourceVersion', value: '1' }], PATCH_TYPES.json);
    expect(stale.status).to.equal(409);
    expect(stale.json).to.deep.include({ reason: 'Conflict', message: 'Operation cannot be fulfilled on deployments.apps "demo-b": the object has been modified; please apply your changes to the latest version and try again' });
    const test = await client.patch(`${DEPLOYMENTS}/demo-b`, [{ op: 'test', path: '/metadata/initializers/pending/0/name', value: 'someone-else' }], PATCH_TYPES.json);
    expect(test.status).to.equal(422);
    expect(test.json).to.deep.include({ reason: 'Invalid', message: 'the server rejected our request due to an error in our request' });
  });

  it('answers a failed test op with 500 and the library message on 1.9 (kubernetes#68202)', async function () {
    const old = new LegacyApiServer({ flavor: '1.9', initializers: [{ name: RECORDED_INITIALIZER, resources: ['deployments'] }] });
    const oldClient = new TestClient(await old.start());
    try {
      await old.seed('namespaces', { metadata: { name: 'default' } });
      await oldClient.post(DEPLOYMENTS, request('deploy-b.json'), { includeUninitialized: '1' });
      const test = await oldClient.patch(`${DEPLOYMENTS}/demo-b`, [{ op: 'test', path: '/metadata/initializers/pending/0/name', value: 'x' }], PATCH_TYPES.json);
      expect(test.status).to.equal(500);
      expect(test.json).to.deep.include({ code: 500, message: 'Testing value /metadata/initializers/pending/0/name failed' });
    } finally {
      oldClient.close();
      await old.stop();
    }
  });

  it('replays a watch from a resourceVersion, ends it at timeoutSeconds, and answers 410 beyond the window (event or HTTP)', async function () {
    const from = String(server.store.revision);
    for (const letter of ['a', 'b', 'c']) await client.post(DEPLOYMENTS, request(`deploy-${letter}.json`), { includeUninitialized: '1' });
    const replay = await client.watch(DEPLOYMENTS, { resourceVersion: from, includeUninitialized: 'true', timeoutSeconds: '1' });
    expect(replay.ended).to.equal('server');
    expect(replay.events.map((e) => `${e.type} ${(e.object.metadata as Json).name}`)).to.deep.equal(['ADDED demo-a', 'ADDED demo-b', 'ADDED demo-c']);
    for (const letter of ['d', 'e', 'f', 'g', 'h']) await client.post(DEPLOYMENTS, request(`deploy-${letter}.json`), { includeUninitialized: '1' });
    const expired = await client.watch(DEPLOYMENTS, { resourceVersion: from, timeoutSeconds: '1' });
    expect(expired.status).to.equal(200);
    expect(expired.events).to.have.length(1);
    expect(expired.events[0]).to.deep.include({ type: 'ERROR' });
    expect(expired.events[0]!.object).to.include({ kind: 'Status', code: 410, reason: 'Gone' });
    expect(expired.events[0]!.object.message).to.match(new RegExp(`^too old resource version: ${from} \\(\\d+\\)$`));
    server.goneAs = 'http';
    const refused = await client.request('GET', DEPLOYMENTS, { query: { watch: 'true', resourceVersion: from } });
    expect(refused.status).to.equal(410);
    expect(refused.json).to.include({ kind: 'Status', code: 410, reason: 'Gone' });
    expect(server.expiredResumes).to.equal(2);
  });

  it('drops, resets and stalls open watches on command, and queues 410s for the next resumes', async function () {
    const from = String(server.store.revision);
    const ended = client.watch(DEPLOYMENTS, { resourceVersion: from, timeoutSeconds: '30' });
    await waitUntil(() => server.openWatches().length === 1, 'a watch');
    expect(server.dropWatches({ reset: false })).to.equal(1);
    expect((await ended).ended).to.equal('server');
    const reset = client.watch(DEPLOYMENTS, { resourceVersion: from, timeoutSeconds: '30' });
    await waitUntil(() => server.openWatches().length === 1, 'a watch');
    server.dropWatches({ reset: true });
    expect((await reset).ended).to.equal('reset');
    const stalled = client.watch(DEPLOYMENTS, { resourceVersion: from, includeUninitialized: 'true', timeoutSeconds: '1' });
    await waitUntil(() => server.openWatches().length === 1, 'a watch');
    expect(server.stallWatches()).to.equal(1);
    await client.post(DEPLOYMENTS, request('deploy-a.json'), { includeUninitialized: '1' });
    const silent = await stalled;
    expect(silent).to.deep.include({ ended: 'server', events: [] });
    server.goneOnNextResume(1, 'event');
    server.goneOnNextResume(1, 'http');
    const first = await client.watch(DEPLOYMENTS, { resourceVersion: from });
    const second = await client.request('GET', DEPLOYMENTS, { query: { watch: 'true', resourceVersion: from } });
    expect(first.events[0]!.object).to.include({ code: 410 });
    expect(second.status).to.equal(410);
    expect(server.faults.summary()).to.deep.equal({ 'watch-drop': 1, 'watch-reset': 1, 'watch-stall': 1, 'watch-gone-event': 1, 'watch-gone-http': 1 });
  });

  it('drops watches periodically when told to', async function () {
    server.configureFaults({ seed: 7, dropWatchesEveryMs: 100 });
    const started = Date.now();
    const watch = await client.watch(DEPLOYMENTS, { timeoutSeconds: '30' });
    expect(watch.ended).to.equal('server');
    expect(Date.now() - started).to.be.below(1000);
    expect(server.faults.counts['watch-drop']).to.equal(1);
  });

  it('injects 5xx and 429 at a rate per request class, reproducibly from the seed, only for targeted clients', async function () {
    const plan = { targets: [ME.token], errorRate: { get: 0.3 }, throttleRate: { get: 0.2 } };
    // 40 GETs of one object on a fresh double with `seed`: the status codes in order.
    const run = async (seed: number): Promise<number[]> => {
      const fresh = new LegacyApiServer({ faults: { seed, ...plan } });
      const freshClient = new TestClient(await fresh.start(), ME);
      try {
        await fresh.seed('namespaces', { metadata: { name: 'default' } });
        const out: number[] = [];
        for (let i = 0; i < 40; i++) out.push((await freshClient.get('/api/v1/namespaces/default')).status);
        const injected = ['http-500', 'http-503', 'http-504', 'http-429'] as const;
        expect(injected.reduce((sum, type) => sum + fresh.faults.counts[type], 0)).to.equal(out.filter((c) => c !== 200).length);
        return out;
      } finally {
        freshClient.close();
        await fresh.stop();
      }
    };
    const first = await run(11);
    expect(first.filter((c) => c === 200).length).to.be.within(10, 35);
    expect(first.filter((c) => c === 429).length).to.be.above(0);
    expect(first.some((c) => c >= 500)).to.equal(true);
    expect(await run(11)).to.deep.equal(first);
    expect(await run(12)).to.not.deep.equal(first);
    server.configureFaults({ seed: 11, ...plan });
    expect((await other.get('/api/v1/namespaces/default')).status).to.equal(200);
  });

  it('injects 409s on PATCHes with a resourceVersion precondition without applying them, and 504s after applying (a lost answer)', async function () {
    await client.post(DEPLOYMENTS, request('deploy-b.json'), { includeUninitialized: '1' });
    server.configureFaults({ seed: 3, conflictRate: 1 });
    const resourceVersion = server.get('deployments', 'default', 'demo-b')!.metadata!.resourceVersion;
    const conflict = await client.patch(`${DEPLOYMENTS}/demo-b`, [{ op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion }, { op: 'add', path: '/metadata/labels/x', value: 'y' }], PATCH_TYPES.json);
    expect(conflict.status).to.equal(409);
    expect(conflict.json).to.include({ reason: 'Conflict' });
    expect(server.get('deployments', 'default', 'demo-b')?.metadata?.labels).to.not.have.property('x');
    // Without a precondition the real server retries internally: no 409 to inject.
    expect((await client.patch(`${DEPLOYMENTS}/demo-b`, { metadata: { labels: { x: 'y' } } }, PATCH_TYPES.merge)).status).to.equal(200);
    server.configureFaults({ seed: 3, errorRate: { patch: 1 }, appliedThenFailRate: 1 });
    const lost = await client.patch(`${DEPLOYMENTS}/demo-b`, { metadata: { initializers: null } }, PATCH_TYPES.merge);
    expect(lost.status).to.equal(504);
    expect(server.get('deployments', 'default', 'demo-b')?.metadata).to.not.have.property('initializers');
    expect(server.requests.at(-1)).to.deep.include({ fault: 'applied-then-504', trace: { pendingBefore: [RECORDED_INITIALIZER], pendingAfter: [] } });
    expect(server.faults.summary()).to.deep.equal({ 'conflict-409': 1, 'applied-then-504': 1 });
  });

  it('adds fixed or ranged latency to chosen request classes', async function () {
    server.configureFaults({ seed: 5, latencyMs: 60, latencyClasses: ['get'] });
    const started = Date.now();
    await client.get('/api/v1/namespaces/default');
    expect(Date.now() - started).to.be.at.least(55);
    await client.get('/api/v1/namespaces');
    expect(server.faults.counts.latency, 'a list is not in the chosen classes').to.equal(1);
    server.configureFaults({ seed: 5, latencyMs: [10, 20] });
    const ranged = Date.now();
    await client.get('/api/v1/namespaces');
    expect(Date.now() - ranged).to.be.at.least(9);
    expect(server.faults.counts.latency).to.equal(2);
  });

  it('logs which versions of tracked resources each client received, by list and by watch', async function () {
    const tracking = new LegacyApiServer({ trackDeliveries: ['meshconfigs'] });
    const trackingClient = new TestClient(await tracking.start(), ME);
    try {
      const mc = { apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default' }, spec: { sidecar: { containers: [{ name: 'p', image: 'p:1' }] } } };
      await tracking.seed('meshconfigs', mc);
      const list = await trackingClient.get('/apis/meshinit.dev/v1alpha1/meshconfigs');
      const rv = ((list.json as { metadata: Json }).metadata.resourceVersion) as string;
      const watch = trackingClient.watch('/apis/meshinit.dev/v1alpha1/meshconfigs', { resourceVersion: rv, timeoutSeconds: '1' });
      await waitUntil(() => tracking.openWatches().length === 1, 'a watch');
      await trackingClient.patch('/apis/meshinit.dev/v1alpha1/meshconfigs/default', { spec: { priority: 2 } }, PATCH_TYPES.merge);
      await watch;
      expect(tracking.deliveries.map((d) => [d.token, d.name, d.via])).to.deep.equal([[ME.token, 'default', 'list'], [ME.token, 'default', 'watch']]);
      expect(Number(tracking.deliveries[1]!.resourceVersion)).to.be.above(Number(tracking.deliveries[0]!.resourceVersion));
    } finally {
      trackingClient.close();
      await tracking.stop();
    }
  });
});
