import http from 'node:http';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { startHealthServer } from '../controller/health.ts';
import { createLogger, redact } from '../controller/logger.ts';

function capture(format: 'json' | 'text', level: 'info' | 'debug' = 'info') {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  return { log: createLogger({ format, level, stream }), text: () => chunks.join('') };
}

describe('logger', function () {
  it('writes one JSON object per line with the decision fields', function () {
    const { log, text } = capture('json');
    log.info('Injected sidecar', { kind: 'Deployment', namespace: 'default', name: 'web', uid: 'u1', action: 'injected', reason: 'selected', meshConfig: 'default', durationMs: 3 });
    const lines = text().trim().split('\n');
    expect(lines).to.have.length(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).to.include({ level: 'info', message: 'Injected sidecar', kind: 'Deployment', namespace: 'default', name: 'web', uid: 'u1', action: 'injected', meshConfig: 'default', durationMs: 3 });
    expect(line.timestamp).to.be.a('string');
  });

  it('writes readable text lines with --log-format text', function () {
    const { log, text } = capture('text');
    log.warn('Released without sidecar', { kind: 'Job', name: 'j1', reason: 'a Job\'s pod template cannot be changed' });
    expect(text()).to.match(/^\S+ WARN {2}Released without sidecar kind=Job name=j1 reason="a Job's pod template cannot be changed"\n$/);
  });

  it('honours the level', function () {
    const { log, text } = capture('json', 'info');
    log.debug('hidden');
    log.info('shown');
    expect(text()).to.not.include('hidden');
    expect(text()).to.include('shown');
  });

  it('redacts credentials by key and bearer tokens inside strings, at any depth', function () {
    const { log, text } = capture('json');
    log.error('Request failed', { error: 'GET /api: Authorization: Bearer abc.def-123 rejected', headers: { Authorization: 'Bearer abc.def-123' }, token: 'abc.def-123', nested: { clientKey: 'PEM' } });
    expect(text()).to.not.include('abc.def-123');
    expect(text()).to.not.include('PEM');
    expect(redact({ password: 'x', list: [{ secret: 'y' }], ok: 'kept' })).to.deep.equal({ password: '[REDACTED]', list: [{ secret: '[REDACTED]' }], ok: 'kept' });
  });
});

describe('health server', function () {
  function get(port: number, path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => { body += chunk.toString('utf8'); });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      }).on('error', reject);
    });
  }

  it('answers /healthz always and /readyz only when ready, saying why not', async function () {
    let problem: string | undefined = 'the MeshConfig CRD is not installed';
    const server = await startHealthServer({ host: '127.0.0.1', port: 0 }, () => problem);
    try {
      expect((await get(server.port(), '/healthz')).status).to.equal(200);
      expect(await get(server.port(), '/readyz')).to.deep.equal({ status: 503, body: 'not ready: the MeshConfig CRD is not installed\n' });
      problem = undefined;
      expect((await get(server.port(), '/readyz')).status).to.equal(200);
      expect((await get(server.port(), '/metrics')).status).to.equal(404);
    } finally {
      await server.close();
    }
  });
});
