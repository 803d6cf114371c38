import { expect } from 'chai';
import nock from 'nock';
import type { Readable } from 'node:stream';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import { createInformer, type Informer, type InformerOptions } from '../../controller/kube/informer.ts';
import { DEPLOYMENT } from '../../controller/kube/resources.ts';
import type { KubeObject } from '../../controller/core/types.ts';
import { loadTranscript, nockReply, readFixture } from '../support/transcripts.ts';
import { SERVER, chunkedStream, testKubeConfig, waitFor } from './helpers.ts';

const PATH = '/apis/apps/v1/namespaces/default/deployments';
const LIST_QUERY = { includeUninitialized: 'true' };
const watchQuery = (resourceVersion: string) => ({
  includeUninitialized: 'true', watch: 'true', resourceVersion, timeoutSeconds: '300', allowWatchBookmarks: 'true',
});
const WATCH_LINES = readFixture('v1.13.0/13a-watch-with-flag.jsonl').split('\n').filter((l) => l !== '');
const GONE_EVENT = JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
  message: 'too old resource version: 58 (60)', reason: 'Gone', code: 410 } });

describe('informer', () => {
  let informer: Informer<KubeObject> | undefined;
  let events: string[];
  let errors: unknown[];
  let openStreams: Readable[];

  before(() => nock.disableNetConnect());
  beforeEach(() => {
    events = [];
    errors = [];
    openStreams = [];
  });
  afterEach(async () => {
    await informer?.stop();
    informer = undefined;
    for (const stream of openStreams) stream.destroy();
    nock.abortPendingRequests();
    nock.cleanAll();
  });
  after(() => nock.enableNetConnect());

  function start(extra: Partial<InformerOptions> = {}): Informer<KubeObject> {
    const created = createInformer<KubeObject>({
      api: createKubeApi(testKubeConfig(), { requestTimeoutMs: 2000 }),
      descriptor: DEPLOYMENT,
      namespace: 'default',
      query: { includeUninitialized: true },
      backoff: { initialMs: 5, maxMs: 20 },
      onError: (err) => errors.push(err),
      ...extra,
    });
    const name = (o: KubeObject) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`;
    created.on('add', (o) => events.push(`add ${name(o)}`));
    created.on('update', (a, b) => events.push(`update ${name(a)}->${name(b)}`));
    created.on('delete', (o) => events.push(`delete ${name(o)}`));
    informer = created;
    created.start();
    return created;
  }

  /** A watch reply that streams `lines` and then stays open until the test ends. */
  function openWatch(lines: string[]): () => Readable {
    return () => {
      const stream = chunkedStream(lines.map((l) => `${l}\n`), { end: false });
      openStreams.push(stream);
      return stream;
    };
  }

  it('lists and watches with includeUninitialized, from the list resourceVersion (05d, 13a)', async () => {
    const scope = nock(SERVER)
      .get(PATH).query(LIST_QUERY).reply(...nockReply(loadTranscript('v1.13.0/05d-list-with-flag.txt')))
      .get(PATH).query(watchQuery('43')).reply(200, openWatch(WATCH_LINES));
    const inf = start();
    await inf.waitForSync();
    expect(inf.hasSynced()).to.equal(true);
    await waitFor(() => events.length === 4, '4 events');
    expect(events).to.deep.equal([
      'add demo-a@40',
      'add demo-b@43',
      'add demo-h@57',
      'update demo-h@57->demo-h@58',
    ]);
    scope.done();
    const h = inf.get('default/demo-h');
    expect(h?.metadata?.initializers).to.equal(undefined);
    expect((h?.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers).to.have.length(2);
    // LIST items carry no kind/apiVersion; the cache fills them in.
    const b = inf.get('default/demo-b');
    expect(b?.kind).to.equal('Deployment');
    expect(b?.apiVersion).to.equal('apps/v1');
    expect(b?.metadata?.initializers?.pending?.[0]?.name).to.equal('sidecar.initializer.example.com');
    expect(inf.list().map((o) => o.metadata?.name).sort()).to.deep.equal(['demo-a', 'demo-b', 'demo-h']);
    expect(errors).to.deep.equal([]);
  });

  it('passes the add and update handlers the cached objects (pending, then initialized)', async () => {
    nock(SERVER)
      .get(PATH).query(LIST_QUERY).reply(200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '56' }, items: [] })
      .get(PATH).query(watchQuery('56')).reply(200, openWatch(WATCH_LINES));
    const seen: Array<[string, KubeObject, KubeObject?]> = [];
    const inf = start();
    inf.on('add', (o) => seen.push(['add', o]));
    inf.on('update', (a, b) => seen.push(['update', a, b]));
    await waitFor(() => seen.length === 2, 'add and update');
    const [added, updated] = seen;
    expect(added![1].metadata?.initializers?.pending).to.have.length(1);
    expect(updated![1]).to.equal(added![1]);
    expect(updated![2]?.metadata?.initializers).to.equal(undefined);
    expect(updated![2]).to.equal(inf.get('default/demo-h'));
  });

  it('relists and watches again after the watch answers 5xx (04)', async () => {
    const scope = nock(SERVER)
      .get(PATH).query(LIST_QUERY).reply(...nockReply(loadTranscript('v1.13.0/05d-list-with-flag.txt')))
      .get(PATH).query(watchQuery('43')).reply(...nockReply(loadTranscript('v1.13.0/04-post-blocking.txt')))
      .get(PATH).query(LIST_QUERY).reply(...nockReply(loadTranscript('v1.13.0/11-list-without-flag-after.txt')))
      .get(PATH).query(watchQuery('51')).reply(200, openWatch(WATCH_LINES));
    start();
    await waitFor(() => events.includes('update demo-h@57->demo-h@58'), 'events from the second watch');
    scope.done();
    expect(errors).to.have.length(1);
    expect((errors[0] as KubeApiError).statusCode).to.equal(504);
    expect(events).to.deep.equal([
      'add demo-a@40', 'add demo-b@43',
      // second list: demo-b initialized, c/d/f appeared
      'update demo-b@43->demo-b@51', 'add demo-c@50', 'add demo-d@49', 'add demo-f@48',
      'add demo-h@57', 'update demo-h@57->demo-h@58',
    ]);
  });

  it('relists after the watch connection drops mid-stream', async () => {
    const scope = nock(SERVER)
      .get(PATH).query(LIST_QUERY).reply(...nockReply(loadTranscript('v1.13.0/05d-list-with-flag.txt')))
      .get(PATH).query(watchQuery('43')).reply(200, () => {
        const stream = chunkedStream([`${WATCH_LINES[0]}\n`, WATCH_LINES[1]!.slice(0, 40)], { end: false });
        setTimeout(() => stream.destroy(new Error('connection reset')), 20);
        return stream;
      })
      .get(PATH).query(LIST_QUERY).reply(...nockReply(loadTranscript('v1.13.0/11-list-without-flag-after.txt')))
      .get(PATH).query(watchQuery('51')).reply(200, openWatch([WATCH_LINES[1]!]));
    start();
    await waitFor(() => events.includes('add demo-h@58'), 'event from the second watch');
    scope.done();
    expect(errors).to.have.length(1);
    // demo-h was seen by the first watch but is not in the second list: the relist announces it
    // deleted, and the second watch's MODIFIED for a key not in the cache is an add.
    expect(events).to.deep.equal([
      'add demo-a@40', 'add demo-b@43', 'add demo-h@57',
      'update demo-b@43->demo-b@51', 'add demo-c@50', 'add demo-d@49', 'add demo-f@48', 'delete demo-h@57',
      'add demo-h@58',
    ]);
  });

  it('re-watches from the last resourceVersion on a clean close and relists on 410 (event or HTTP)', async () => {
    const list = loadTranscript('v1.13.0/05d-list-with-flag.txt');
    const gone = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version', reason: 'Gone', code: 410 };
    const scope = nock(SERVER)
      .get(PATH).query(LIST_QUERY).reply(...nockReply(list))
      .get(PATH).query(watchQuery('43')).reply(200, () => chunkedStream([`${WATCH_LINES[0]}\n`]))   // clean close
      .get(PATH).query(watchQuery('57')).reply(410, gone)                                            // HTTP 410
      .get(PATH).query(LIST_QUERY).reply(...nockReply(list))
      .get(PATH).query(watchQuery('43')).reply(200, openWatch([WATCH_LINES[1]!, GONE_EVENT]))      // ERROR 410 event
      .get(PATH).query(LIST_QUERY).reply(...nockReply(loadTranscript('v1.13.0/11-list-without-flag-after.txt')))
      .get(PATH).query(watchQuery('51')).reply(200, openWatch([]));
    start();
    await waitFor(() => scope.isDone(), 'all requests');
    await waitFor(() => events.includes('delete demo-h@58'), 'relist after the 410 event');
    // Both 410s come after progress, so they are routine: no error, no backoff.
    expect(errors).to.deep.equal([]);
    expect(events.slice(0, 4)).to.deep.equal(['add demo-a@40', 'add demo-b@43', 'add demo-h@57', 'delete demo-h@57']);
  });

  it('treats a watch the server ends at once with no event as a failure and backs off, instead of re-watching in a tight loop', async () => {
    const list = loadTranscript('v1.13.0/05d-list-with-flag.txt');
    let lists = 0;
    let watches = 0;
    nock(SERVER)
      .persist()
      .get(PATH).query(LIST_QUERY).reply(() => { lists++; return nockReply(list); })
      .get(PATH).query((q) => q.watch === 'true').reply(() => { watches++; return [200, '']; });
    start({ backoff: { initialMs: 50, maxMs: 400 } });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Before the fix: thousands of watches in a second. Now: 50, 100, 200, 400, 400 ms of backoff.
    expect(watches, `${watches} watches in 1 s`).to.be.within(2, 8);
    expect(lists, 'each failure relists').to.equal(watches);
    expect(errors.length).to.be.at.least(2);
    expect(String(errors[0])).to.match(/ended the watch after \d+ ms without sending an event/);
  });

  it('resumes at once (no error, no relist) after a short watch that did deliver events', async () => {
    const list = loadTranscript('v1.13.0/05d-list-with-flag.txt');
    const scope = nock(SERVER)
      .get(PATH).query(LIST_QUERY).reply(...nockReply(list))
      .get(PATH).query(watchQuery('43')).reply(200, () => chunkedStream([`${WATCH_LINES[0]}\n`]))
      .get(PATH).query(watchQuery('57')).reply(200, openWatch([]));
    start();
    await waitFor(() => scope.isDone(), 'the second watch');
    expect(errors).to.deep.equal([]);
  });

  it('backs off and reports a 410 on the first watch after a list', async () => {
    const list = loadTranscript('v1.13.0/05d-list-with-flag.txt');
    const scope = nock(SERVER)
      .get(PATH).query(LIST_QUERY).reply(...nockReply(list))
      .get(PATH).query(watchQuery('43')).reply(200, openWatch([GONE_EVENT]))
      .get(PATH).query(LIST_QUERY).reply(...nockReply(list))
      .get(PATH).query(watchQuery('43')).reply(200, openWatch([]));
    start();
    await waitFor(() => scope.isDone(), 'relist');
    expect(errors).to.have.length(1);
    expect((errors[0] as KubeApiError).isGone).to.equal(true);
  });

  it('keeps cached objects deep-frozen', async () => {
    nock(SERVER)
      .get(PATH).query(LIST_QUERY).reply(...nockReply(loadTranscript('v1.13.0/05d-list-with-flag.txt')))
      .get(PATH).query(watchQuery('43')).reply(200, openWatch([]));
    const inf = start();
    await inf.waitForSync();
    const obj = inf.get('default/demo-b')!;
    expect(Object.isFrozen(obj)).to.equal(true);
    expect(() => { (obj.metadata as Record<string, unknown>).name = 'x'; }).to.throw(TypeError);
    expect(() => { obj.metadata!.initializers!.pending!.pop(); }).to.throw(TypeError);
    const spec = obj.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } };
    expect(() => { spec.template.spec.containers[0]!.image = 'evil'; }).to.throw(TypeError);
  });

  it('resyncs: update(obj, obj) for every cached object', async () => {
    nock(SERVER)
      .get(PATH).query(LIST_QUERY).reply(...nockReply(loadTranscript('v1.13.0/05d-list-with-flag.txt')))
      .get(PATH).query(watchQuery('43')).reply(200, openWatch([]));
    const resynced = new Map<string, number>();
    const inf = start({ resyncPeriodMs: 15 });
    inf.on('update', (a, b) => {
      if (a === b) resynced.set(a.metadata!.name!, (resynced.get(a.metadata!.name!) ?? 0) + 1);
    });
    await waitFor(() => (resynced.get('demo-a') ?? 0) >= 2 && (resynced.get('demo-b') ?? 0) >= 2, 'two resyncs');
    await inf.stop();
    const after = new Map(resynced);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(resynced).to.deep.equal(after);
  });

  it('stop() ends the loop while backing off, and waitForSync rejects if it never synced', async () => {
    nock(SERVER).get(PATH).query(LIST_QUERY).times(3).reply(...nockReply(loadTranscript('v1.13.0/12d-get-g-after-failure.txt')));
    const inf = start({ backoff: { initialMs: 10_000, maxMs: 10_000 } });
    const sync = inf.waitForSync();
    await waitFor(() => errors.length === 1, 'first failure');
    const started = Date.now();
    await inf.stop();
    expect(Date.now() - started).to.be.lessThan(1000);
    let rejected = false;
    await sync.catch(() => { rejected = true; });
    expect(rejected).to.equal(true);
    expect(inf.hasSynced()).to.equal(false);
  });

  it('waitForSync rejects when its signal aborts', async () => {
    // A LIST that never answers (a fake: no request timer left behind).
    const api = { ...createKubeApi(testKubeConfig()), list: () => new Promise<never>(() => undefined) };
    const inf = start({ api });
    const controller = new AbortController();
    const sync = inf.waitForSync(controller.signal);
    controller.abort();
    let rejected = false;
    await sync.catch(() => { rejected = true; });
    expect(rejected).to.equal(true);
  });
});
