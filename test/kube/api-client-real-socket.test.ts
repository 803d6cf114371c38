// The API client against a real HTTP server on 127.0.0.1 (not nock, whose mock sockets behave
// differently): keep-alive sockets go back to the agent's pool, where a late abort used to kill
// the process.
import http from 'node:http';
import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import nock from 'nock';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import type { KubeApiError } from '../../controller/kube/errors.ts';

const GONE = { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (5)', reason: 'Gone', code: 410 } };

describe('API client on real sockets', function () {
  let server: http.Server;
  let kc: KubeConfig;

  before(async function () {
    nock.restore();
    server = http.createServer((_request, response) => {
      // What a 1.13 watch cache answers for a resourceVersion it no longer has: 200, one ERROR event, end.
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(`${JSON.stringify(GONE)}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: 'u', token: 'not-secret' }], contexts: [{ name: 'c', cluster: 'c', user: 'u' }], currentContext: 'c' });
  });

  after(function () {
    server.close();
    nock.activate();
  });

  it('a watch answered with a single 410 ERROR event rejects done with Gone, again and again, without crashing', async function () {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onUncaught);
    try {
      const api = createKubeApi(kc);
      for (let i = 0; i < 5; i++) {
        const error = (await api.watch('/api/v1/namespaces', { resourceVersion: '1' }, () => undefined).done.then(() => undefined, (e: unknown) => e)) as KubeApiError | undefined;
        expect(error?.statusCode, `attempt ${i}`).to.equal(410);
        expect(error?.isGone).to.equal(true);
      }
      // A late abort surfaced as an 'error' on a pooled socket after the response had ended.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(uncaught).to.deep.equal([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
