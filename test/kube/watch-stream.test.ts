// The watch stream on its own, over a fake transport: no sockets, no credentials. Events split
// across chunks, the server's clean end, an ERROR event, and stop().
import { PassThrough } from 'node:stream';
import type http from 'node:http';
import { expect } from 'chai';
import { KubeApiError } from '../../controller/kube/errors.ts';
import type { Sent, Transport } from '../../controller/kube/transport.ts';
import { openWatch } from '../../controller/kube/watch-stream.ts';

function fakeTransport(status = 200): { transport: Transport; body: PassThrough; queries: unknown[] } {
  const body = new PassThrough();
  Object.assign(body, { statusCode: status, headers: {}, complete: false });
  body.on('end', () => Object.assign(body, { complete: true }));
  const queries: unknown[] = [];
  const transport: Transport = {
    send: async (_method, _path, query) => {
      queries.push(query);
      return { res: body as unknown as http.IncomingMessage, secrets: ['s3cr3t-token'], clearTimer: () => undefined, failure: (err) => err } satisfies Sent;
    },
    request: async () => { throw new Error('not used'); },
    requestIgnoringAnswer: async () => { throw new Error('not used'); },
  };
  return { transport, body, queries };
}

const event = (type: string, name: string) => JSON.stringify({ type, object: { kind: 'Deployment', metadata: { name, resourceVersion: '7' } } });

describe('watch stream', function () {
  it('delivers events split across chunks in order, and ends closedByServer when the server ends the stream', async function () {
    const { transport, body, queries } = fakeTransport();
    const seen: string[] = [];
    const handle = openWatch<{ metadata: { name: string } }>(transport, '/apis/apps/v1/deployments', { resourceVersion: '5' }, (e) => seen.push(`${e.type} ${e.object.metadata.name}`));
    const text = `${event('ADDED', 'a')}\n${event('MODIFIED', 'a')}\n`;
    body.write(text.slice(0, 17));
    body.write(text.slice(17));
    body.end();
    expect(await handle.done).to.deep.equal({ closedByServer: true });
    expect(seen).to.deep.equal(['ADDED a', 'MODIFIED a']);
    expect(queries[0]).to.deep.include({ watch: true, resourceVersion: '5' });
  });

  it('rejects with the Status of an ERROR event (410 Gone), with credentials scrubbed from its message', async function () {
    const { transport, body } = fakeTransport();
    const handle = openWatch(transport, '/x', {}, () => undefined);
    body.write(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Gone', message: 'too old resource version (token s3cr3t-token)' } })}\n`);
    const error = await handle.done.then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(KubeApiError);
    expect((error as KubeApiError).isGone).to.equal(true);
    expect((error as KubeApiError).message).to.not.include('s3cr3t-token');
  });

  it('stop() ends it with closedByServer: false and delivers nothing more', async function () {
    const { transport, body } = fakeTransport();
    const seen: string[] = [];
    const handle = openWatch<{ metadata: { name: string } }>(transport, '/x', {}, (e) => seen.push(e.object.metadata.name));
    await new Promise((resolve) => setImmediate(resolve));
    handle.stop();
    body.write(`${event('ADDED', 'late')}\n`);
    expect(await handle.done).to.deep.equal({ closedByServer: false });
    expect(seen).to.deep.equal([]);
  });
});
