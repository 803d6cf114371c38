import { expect } from 'chai';
import nock from 'nock';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import type { KubeObject } from '../../controller/core/types.ts';
import type { WatchEvent } from '../../controller/kube/types.ts';
import { loadJsonFixture, loadTranscript, loadWatchEvents, nockReply, readFixture } from '../support/transcripts.ts';
import { SERVER, TOKEN, chunkedStream, testKubeConfig } from './helpers.ts';

const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(Error);
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('kube api client', () => {
  before(() => nock.disableNetConnect());
  afterEach(() => {
    nock.abortPendingRequests();
    nock.cleanAll();
  });
  after(() => nock.enableNetConnect());

  const api = () => createKubeApi(testKubeConfig(), { requestTimeoutMs: 2000 });

  it('GETs an uninitialized object with the bearer token and Accept: application/json (05b)', async () => {
    const t = loadTranscript('v1.13.0/05b-get-with-flag.txt');
    const scope = nock(SERVER, { reqheaders: { authorization: `Bearer ${TOKEN}`, accept: 'application/json' } })
      .get(`${DEPLOYMENTS}/demo-b`)
      .reply(...nockReply(t));
    const obj = await api().get<KubeObject>(`${DEPLOYMENTS}/demo-b`);
    expect(obj).to.deep.equal(t.body);
    expect(obj.metadata?.initializers?.pending?.[0]?.name).to.equal('sidecar.initializer.example.com');
    scope.done();
  });

  it('--request-timeout 0 means no timeout (as kubectl), not "fail at once"', async () => {
    nock(SERVER).get('/version').delay(150).reply(200, { gitVersion: 'v1.13.0' });
    const version = await createKubeApi(testKubeConfig(), { requestTimeoutMs: 0 }).get<{ gitVersion: string }>('/version');
    expect(version.gitVersion).to.equal('v1.13.0');
    nock(SERVER).get('/version').delay(150).reply(200, { gitVersion: 'v1.13.0' });
    const error = await rejection(createKubeApi(testKubeConfig(), { requestTimeoutMs: 50 }).get('/version'));
    expect(error.message).to.include('no answer within 50 ms');
  });

  it('LISTs with includeUninitialized=true and encodes query values (05d)', async () => {
    const t = loadTranscript('v1.13.0/05d-list-with-flag.txt');
    const scope = nock(SERVER)
      .get(DEPLOYMENTS)
      .query({ includeUninitialized: 'true', labelSelector: 'app in (demo-a,demo-b)', limit: '500' })
      .reply(...nockReply(t));
    const list = await api().list<KubeObject>(DEPLOYMENTS, {
      includeUninitialized: true,
      labelSelector: 'app in (demo-a,demo-b)',
      limit: 500,
      continue: undefined,
    });
    expect(list.metadata.resourceVersion).to.equal('43');
    expect(list.items.map((i) => i.metadata?.name)).to.deep.equal(['demo-a', 'demo-b']);
    scope.done();
  });

  it('PATCHes with the exact JSON Patch body and its Content-Type (jp-c → 09)', async () => {
    const patch = loadJsonFixture<unknown[]>('requests/jp-c.json');
    const t = loadTranscript('v1.13.0/09-json-patch-c.txt');
    let sent: { body: string; contentType: unknown } | undefined;
    const scope = nock(SERVER)
      .patch(`${DEPLOYMENTS}/demo-c`)
      .reply(function (_uri, body) {
        sent = { body: typeof body === 'string' ? body : JSON.stringify(body), contentType: this.req.headers['content-type'] };
        return nockReply(t);
      });
    const result = await api().patch<KubeObject>(`${DEPLOYMENTS}/demo-c`, patch, 'application/json-patch+json');
    scope.done();
    expect(sent?.contentType).to.equal('application/json-patch+json');
    expect(JSON.parse(sent!.body)).to.deep.equal(patch);
    expect(result.metadata?.initializers).to.equal(undefined);
    expect(result.metadata?.resourceVersion).to.equal('50');
  });

  it('patchIgnoringAnswer sends the same PATCH, drops a successful answer unparsed, and still reports errors in full', async () => {
    const patch = loadJsonFixture<unknown[]>('requests/jp-c.json');
    let sent: string | undefined;
    nock(SERVER).patch(`${DEPLOYMENTS}/demo-c`).reply(function (_uri, body) {
      sent = typeof body === 'string' ? body : JSON.stringify(body);
      // Not JSON: `patch` would fail parsing it; the answer must not be parsed at all.
      return [200, 'not json {'];
    });
    expect(await api().patchIgnoringAnswer(`${DEPLOYMENTS}/demo-c`, patch, 'application/json-patch+json')).to.equal(undefined);
    expect(JSON.parse(sent!)).to.deep.equal(patch);
    const status = { ...(loadTranscript('v1.13.0/12d-get-g-after-failure.txt').body as object), code: 409, reason: 'Conflict', message: 'the object has been modified' };
    nock(SERVER).patch(`${DEPLOYMENTS}/demo-c`).reply(409, status);
    const err = (await rejection(api().patchIgnoringAnswer(`${DEPLOYMENTS}/demo-c`, [], 'application/json-patch+json'))) as KubeApiError;
    expect(err.isConflict).to.equal(true);
    expect(err.serverMessage).to.equal('the object has been modified');
  });

  it('POSTs JSON with Content-Type application/json and query (06b, 202 Accepted)', async () => {
    const body = loadJsonFixture('requests/deploy-c.json');
    const t = loadTranscript('v1.13.0/06b-post-includeUninit-1.txt');
    const scope = nock(SERVER, { reqheaders: { 'content-type': 'application/json' } })
      .post(DEPLOYMENTS, (b) => JSON.stringify(b) === JSON.stringify(body))
      .query({ includeUninitialized: '1' })
      .reply(...nockReply(t));
    const created = await api().post<KubeObject>(DEPLOYMENTS, body, { includeUninitialized: 1 });
    expect(created.metadata?.initializers?.pending).to.have.length(1);
    scope.done();
  });

  it('turns a 404 Status into KubeApiError with the server message and no token (12d)', async () => {
    nock(SERVER).get(`${DEPLOYMENTS}/demo-g`).query(true).reply(...nockReply(loadTranscript('v1.13.0/12d-get-g-after-failure.txt')));
    const err = await rejection(api().get(`${DEPLOYMENTS}/demo-g`, { pretty: 'secret-ish' }));
    expect(err).to.be.instanceOf(KubeApiError);
    const e = err as KubeApiError;
    expect(e.isNotFound).to.equal(true);
    expect(e.statusCode).to.equal(404);
    expect(e.reason).to.equal('NotFound');
    expect(e.serverMessage).to.equal('deployments.apps "demo-g" not found');
    expect(e.method).to.equal('GET');
    expect(e.path).to.equal(`${DEPLOYMENTS}/demo-g`);
    expect(e.message).not.to.include(TOKEN).and.not.to.include('secret-ish');
  });

  it('reports 409 as a conflict', async () => {
    // No 409 was recorded; this is the recorded 404 Status with the code a stale resourceVersion gets.
    const status = { ...(loadTranscript('v1.13.0/12d-get-g-after-failure.txt').body as object), code: 409, reason: 'Conflict',
      message: 'Operation cannot be fulfilled on deployments.apps "demo-c": the object has been modified' };
    nock(SERVER).patch(`${DEPLOYMENTS}/demo-c`).reply(409, status);
    const err = (await rejection(api().patch(`${DEPLOYMENTS}/demo-c`, [], 'application/json-patch+json'))) as KubeApiError;
    expect(err.isConflict).to.equal(true);
    expect(err.reason).to.equal('Conflict');
  });

  it('reads a plain-text 429 with Retry-After as retryable (21)', async () => {
    const t = loadTranscript('v1.13.0/21-burst-429.txt');
    nock(SERVER).patch(`${DEPLOYMENTS}/demo-c`).reply(...nockReply(t));
    const err = (await rejection(api().patch(`${DEPLOYMENTS}/demo-c`, {}, 'application/merge-patch+json'))) as KubeApiError;
    expect(err).to.be.instanceOf(KubeApiError);
    expect(err.statusCode).to.equal(429);
    expect(err.retryAfterSeconds).to.equal(1);
    expect(err.isRetryable).to.equal(true);
    expect(err.serverMessage).to.equal('Too many requests, please try again later.');
    expect(err.method).to.equal('PATCH');
  });

  it('reports 422 Invalid as not retryable (12a)', async () => {
    const body = loadJsonFixture('requests/mp-result-success.json');
    nock(SERVER).patch(`${DEPLOYMENTS}/demo-e`).reply(...nockReply(loadTranscript('v1.13.0/12a-result-success-invalid.txt')));
    const err = (await rejection(api().patch(`${DEPLOYMENTS}/demo-e`, body, 'application/merge-patch+json'))) as KubeApiError;
    expect(err.statusCode).to.equal(422);
    expect(err.reason).to.equal('Invalid');
    expect(err.isRetryable).to.equal(false);
    expect(err.serverMessage).to.include("must be 'Failure'");
  });

  it('aborts a request that outlives requestTimeoutMs', async () => {
    nock(SERVER).get(`${DEPLOYMENTS}/demo-b`).delay(2000).reply(...nockReply(loadTranscript('v1.13.0/05b-get-with-flag.txt')));
    const started = Date.now();
    const err = await rejection(createKubeApi(testKubeConfig(), { requestTimeoutMs: 50 }).get(`${DEPLOYMENTS}/demo-b`));
    expect(err.message).to.match(/GET \/apis\/apps\/v1\/namespaces\/default\/deployments\/demo-b: no answer within 50 ms/);
    expect(Date.now() - started).to.be.lessThan(1000);
  });

  it('keeps header values out of transport error messages', async () => {
    // nock's "no match" error lists the request headers, Authorization included.
    nock(SERVER).get('/elsewhere').reply(200, {});
    const err = await rejection(api().get(`${DEPLOYMENTS}/demo-b`));
    expect(err.message).to.match(/^GET \/apis\/apps\/v1\/namespaces\/default\/deployments\/demo-b: /);
    expect(err.message).not.to.include(TOKEN);
    expect(err).not.to.be.instanceOf(KubeApiError);
  });

  it('scrubs the credential from error bodies that echo it (Status and plain text)', async () => {
    nock(SERVER).patch(`${DEPLOYMENTS}/demo-r`).reply(403, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: `the token ${TOKEN} may not patch deployments` });
    nock(SERVER).get(`${DEPLOYMENTS}/demo-r`).reply(401, `Unauthorized: Bearer ${TOKEN}`, { 'Content-Type': 'text/plain' });
    const status = (await rejection(api().patch(`${DEPLOYMENTS}/demo-r`, [], 'application/json-patch+json'))) as KubeApiError;
    expect(status.serverMessage).to.equal('the token [redacted] may not patch deployments');
    const plain = (await rejection(api().get(`${DEPLOYMENTS}/demo-r`))) as KubeApiError;
    expect(plain.statusCode).to.equal(401);
    expect(plain.message).not.to.include(TOKEN);
    expect(plain.serverMessage).to.include('[redacted]');
  });

  describe('watch', () => {
    const watchQuery = { includeUninitialized: true, resourceVersion: '56', timeoutSeconds: 300 };

    it('parses NDJSON split at odd chunk boundaries (13a)', async () => {
      const raw = readFixture('v1.13.0/13a-watch-with-flag.jsonl');
      const firstNewline = raw.indexOf('\n');
      // Cuts inside a key, just before and just after the newline, inside a string value, and one
      // byte before the end (fewer than 10 pieces: nock's mock socket warns on more).
      const cuts = [0, 3, firstNewline, firstNewline + 1, firstNewline + 200, raw.length - 1, raw.length];
      const pieces = cuts.slice(1).map((end, i) => raw.slice(cuts[i], end));
      expect(pieces.join('')).to.equal(raw);
      const scope = nock(SERVER)
        .get(DEPLOYMENTS)
        .query({ watch: 'true', includeUninitialized: 'true', resourceVersion: '56', timeoutSeconds: '300' })
        .reply(200, () => chunkedStream(pieces), { 'Content-Type': 'application/json' });
      const events: Array<WatchEvent<KubeObject>> = [];
      const handle = api().watch<KubeObject>(DEPLOYMENTS, watchQuery, (e) => events.push(e));
      expect(await handle.done).to.deep.equal({ closedByServer: true });
      expect(events).to.deep.equal(loadWatchEvents('v1.13.0/13a-watch-with-flag.jsonl'));
      expect(events.map((e) => e.type)).to.deep.equal(['ADDED', 'MODIFIED']);
      scope.done();
    });

    it('decodes a multi-byte character split across chunks', async () => {
      const line = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'demo-h', annotations: { note: 'café ✓' } } } }) + '\n';
      const bytes = Buffer.from(line, 'utf8');
      const cut = bytes.indexOf(Buffer.from('é')) + 1;
      nock(SERVER).get(DEPLOYMENTS).query(true).reply(200, () => chunkedStream([bytes.subarray(0, cut), bytes.subarray(cut)]));
      const events: Array<WatchEvent<KubeObject>> = [];
      await api().watch<KubeObject>(DEPLOYMENTS, {}, (e) => events.push(e)).done;
      expect(events[0]?.object.metadata?.annotations?.note).to.equal('café ✓');
    });

    it('rejects done with a Gone KubeApiError on an ERROR 410 event, delivering events before it', async () => {
      const [added] = readFixture('v1.13.0/13a-watch-with-flag.jsonl').split('\n');
      const expired = JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
        message: 'too old resource version: 43 (57)', reason: 'Gone', code: 410 } });
      nock(SERVER).get(DEPLOYMENTS).query(true).reply(200, () => chunkedStream([`${added}\n`, `${expired}\n`], { end: false }));
      const events: string[] = [];
      const handle = api().watch<KubeObject>(DEPLOYMENTS, watchQuery, (e) => events.push(e.type));
      const err = (await rejection(handle.done)) as KubeApiError;
      expect(err).to.be.instanceOf(KubeApiError);
      expect(err.isGone).to.equal(true);
      expect(err.serverMessage).to.equal('too old resource version: 43 (57)');
      expect(events).to.deep.equal(['ADDED']);
    });

    it('stop() ends an open stream with closedByServer: false and no more events', async () => {
      const lines = readFixture('v1.13.0/13a-watch-with-flag.jsonl').split('\n');
      nock(SERVER).get(DEPLOYMENTS).query(true).reply(200, () => chunkedStream([`${lines[0]}\n`], { end: false }));
      const events: string[] = [];
      const handle = api().watch<KubeObject>(DEPLOYMENTS, watchQuery, (e) => {
        events.push(e.type);
        handle.stop();
      });
      expect(await handle.done).to.deep.equal({ closedByServer: false });
      expect(events).to.deep.equal(['ADDED']);
    });

    it('stop() before the server answers resolves at once', async () => {
      nock(SERVER).get(DEPLOYMENTS).query(true).delay(5000).reply(200, '');
      const handle = api().watch<KubeObject>(DEPLOYMENTS, watchQuery, () => undefined);
      handle.stop();
      expect(await handle.done).to.deep.equal({ closedByServer: false });
    });

    it('rejects done when the watch request itself fails (16, 403)', async () => {
      nock(SERVER).get(DEPLOYMENTS).query(true).reply(...nockReply(loadTranscript('v1.13.0/16-rbac-initialize-verb.txt')));
      const err = (await rejection(api().watch(DEPLOYMENTS, watchQuery, () => undefined).done)) as KubeApiError;
      expect(err).to.be.instanceOf(KubeApiError);
      expect(err.statusCode).to.equal(403);
      expect(err.reason).to.equal('Forbidden');
      expect(err.isRetryable).to.equal(false);
    });
  });
});
