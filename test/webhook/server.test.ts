// The webhook over real TLS: the API server's view of it. Certificates are generated the way
// --self-signed does; requests verify them against the CA, so the SANs are checked too.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { expect } from 'chai';
import nock from 'nock';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { createWebhookHandler } from '../../controller/webhook/app.ts';
import { generateSelfSignedCertificates, type ServingCertificates } from '../../controller/webhook/certificates.ts';
import { startWebhookServer, type WebhookServer } from '../../controller/webhook/server.ts';

interface Reply { status: number; body: string; fingerprint?: string }

function request(port: number, ca: string, options: { method?: string; path?: string; contentType?: string; body?: string | Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, ca, method: options.method ?? 'POST', path: options.path ?? '/inject', agent: false, headers: options.contentType ? { 'content-type': options.contentType } : {} }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk.toString('utf8'); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint: (res.socket as TLSSocket).getPeerCertificate().fingerprint256 }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const meshConfig = (() => {
  const parsed = parseMeshConfig({ metadata: { name: 'default' }, spec: { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:1' }] } } });
  if (!parsed.ok) throw parsed.error;
  return parsed.meshConfig;
})();

const REVIEW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
  request: { uid: 'u-1', resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'default', operation: 'CREATE',
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'db-', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'x', controller: true }] }, spec: { containers: [{ name: 'db', image: 'db:1' }] } } },
});

describe('webhook HTTPS server', function () {
  this.timeout(20000);
  let certs: ServingCertificates;
  let server: WebhookServer;
  let ready = false;
  const log = createMemoryLogger();

  before(function () {
    // Real sockets only: nock (loaded by other suites) wraps outgoing requests in mock sockets
    // that have no TLS peer certificate.
    nock.restore();
    certs = generateSelfSignedCertificates({ dnsNames: ['meshinit.meshinit-system.svc', 'localhost'], ipAddresses: ['127.0.0.1'] });
  });

  beforeEach(async function () {
    ready = false;
    const handler = createWebhookHandler({
      context: { target: 'pods', namespace: (name) => ({ name, labels: {} }), meshConfigs: () => [meshConfig], controllerNamespace: 'meshinit-system' },
      log, notReadyReason: () => (ready ? undefined : 'namespaces not synced yet'), now: () => performance.now(), maxBodyBytes: 64 * 1024,
    });
    server = await startWebhookServer({ address: { host: '127.0.0.1', port: 0 }, tls: { kind: 'inline', certPem: certs.certPem, keyPem: certs.keyPem }, handler, log });
  });

  afterEach(async function () {
    await server.close();
  });

  after(function () {
    nock.activate();
  });

  it('answers an AdmissionReview over TLS verified against the generated CA (SAN 127.0.0.1)', async function () {
    const reply = await request(server.port(), certs.caPem, { contentType: 'application/json', body: REVIEW });
    expect(reply.status).to.equal(200);
    const review = JSON.parse(reply.body) as { response: { uid: string; allowed: boolean; patchType: string } };
    expect(review.response).to.include({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    expect(log.lines.some((l) => l.message === 'Injected sidecar' && l.fields.uid === 'u-1' && typeof l.fields.durationMs === 'number')).to.equal(true);
  });

  it('refuses wrong content types (415), non-JSON and non-reviews (400), oversized bodies (413), other methods (405)', async function () {
    const port = server.port();
    expect((await request(port, certs.caPem, { contentType: 'text/plain', body: REVIEW })).status).to.equal(415);
    expect((await request(port, certs.caPem, { body: REVIEW })).status).to.equal(415);
    const notJson = await request(port, certs.caPem, { contentType: 'application/json', body: '{"apiVersion":' });
    expect(notJson.status).to.equal(400);
    expect(notJson.body).to.include('not JSON');
    const notReview = await request(port, certs.caPem, { contentType: 'application/json', body: '{"kind":"Pod"}' });
    expect(notReview.status).to.equal(400);
    expect(notReview.body).to.include('malformed AdmissionReview');
    expect((await request(port, certs.caPem, { contentType: 'application/json', body: Buffer.alloc(100 * 1024, 0x20) })).status).to.equal(413);
    expect((await request(port, certs.caPem, { method: 'GET' })).status).to.equal(405);
    // Still serving after all of that.
    expect((await request(port, certs.caPem, { contentType: 'application/json', body: REVIEW })).status).to.equal(200);
  });

  it('reports readiness only once MeshConfigs are synced', async function () {
    expect((await request(server.port(), certs.caPem, { method: 'GET', path: '/readyz' })).status).to.equal(503);
    ready = true;
    expect((await request(server.port(), certs.caPem, { method: 'GET', path: '/readyz' })).status).to.equal(200);
    expect((await request(server.port(), certs.caPem, { method: 'GET', path: '/healthz' })).status).to.equal(200);
  });

  it('refuses plain HTTP', async function () {
    const outcome = await new Promise<string>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: server.port(), method: 'POST', path: '/inject', headers: { 'content-type': 'application/json' } }, (res) => resolve(`answered ${res.statusCode}`));
      req.on('error', (error) => resolve(`error ${error.message}`));
      req.end(REVIEW);
    });
    expect(outcome).to.not.match(/^answered 200/);
  });

  it('reloads certificate files when they change, without restarting the listener', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-tls-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    fs.writeFileSync(certFile, certs.certPem);
    fs.writeFileSync(keyFile, certs.keyPem);
    const fileServer = await startWebhookServer({ address: { host: '127.0.0.1', port: 0 }, tls: { kind: 'files', certFile, keyFile }, handler: (_q, s) => s.end('ok'), log, reloadIntervalMs: 60_000 });
    try {
      const before = await request(fileServer.port(), certs.caPem, { method: 'GET', path: '/' });
      const next = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      fs.writeFileSync(keyFile, 'not a key');
      expect(fileServer.reload(), 'a half-written pair is refused').to.equal(false);
      fs.writeFileSync(certFile, next.certPem);
      fs.writeFileSync(keyFile, next.keyPem);
      expect(fileServer.reload()).to.equal(true);
      const after = await request(fileServer.port(), next.caPem, { method: 'GET', path: '/' });
      expect(after.status).to.equal(200);
      expect(after.fingerprint).to.not.equal(before.fingerprint);
    } finally {
      await fileServer.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
