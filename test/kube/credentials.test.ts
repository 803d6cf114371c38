// Credentials that rotate under a running controller: a kubeconfig `tokenFile` whose content is
// replaced (a bound ServiceAccount token), and a CA bundle file replaced along with the server's
// certificate. Real sockets and real files; only the refresh interval is shortened.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import nock from 'nock';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { createCredentialSource, kubeconfigFiles, kubeconfigTokenFile } from '../../controller/kube/credentials.ts';
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('rotating credentials', function () {
  let dir: string;

  before(function () {
    // Real sockets: nock (loaded by other suites) would intercept them.
    nock.restore();
  });
  after(function () {
    nock.activate();
  });
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-creds-'));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function loadKubeconfig(file: string, text: string): KubeConfig {
    fs.writeFileSync(file, text);
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    return kc;
  }

  it('reads a kubeconfig tokenFile (kubectl\'s spelling) and picks up a rotated token without a restart', async function () {
    const seen: Array<string | undefined> = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"gitVersion":"v1.13.0"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      fs.writeFileSync(path.join(dir, 'token'), 'first-token-aaaa\n');
      const file = path.join(dir, 'kubeconfig');
      const kc = loadKubeconfig(file, [
        'apiVersion: v1', 'kind: Config', 'current-context: c',
        `clusters: [{name: c, cluster: {server: "http://127.0.0.1:${(server.address() as AddressInfo).port}"}}]`,
        'users: [{name: sa, user: {tokenFile: token}}]',
        'contexts: [{name: c, context: {cluster: c, user: sa}}]',
      ].join('\n'));
      const tokenFile = kubeconfigTokenFile([file], kc.getCurrentUser()?.name);
      expect(tokenFile, 'resolved against the kubeconfig\'s folder').to.equal(path.join(dir, 'token'));
      const api = createKubeApi(kc, { tokenFile, credentialRefreshMs: 50 });
      await api.get('/version');
      expect(seen.at(-1)).to.equal('Bearer first-token-aaaa');
      fs.writeFileSync(path.join(dir, 'token'), 'second-token-bbbb\n');
      await sleep(80);
      await api.get('/version');
      expect(seen.at(-1)).to.equal('Bearer second-token-bbbb');
    } finally {
      server.close();
    }
  });

  it('rebuilds the TLS agent when the CA file changes, so a server certificate from a new CA is trusted without a restart', async function () {
    const first = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const second = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const answer = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"gitVersion":"v1.13.0"}');
    };
    let server = https.createServer({ cert: first.certPem, key: first.keyPem }, answer);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      fs.writeFileSync(path.join(dir, 'ca.crt'), first.caPem);
      const kc = loadKubeconfig(path.join(dir, 'kubeconfig'), [
        'apiVersion: v1', 'kind: Config', 'current-context: c',
        `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", certificate-authority: ca.crt}}]`,
        'users: [{name: u, user: {token: "tls-rotation-token"}}]',
        'contexts: [{name: c, context: {cluster: c, user: u}}]',
      ].join('\n'));
      const api = createKubeApi(kc, { credentialRefreshMs: 50 });
      await api.get('/version');

      // The server's certificate and the CA bundle are replaced together, as a CA rotation does.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server = https.createServer({ cert: second.certPem, key: second.keyPem }, answer);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      fs.writeFileSync(path.join(dir, 'ca.crt'), second.caPem);
      await sleep(80);
      const version = await api.get<{ gitVersion: string }>('/version');
      expect(version.gitVersion).to.equal('v1.13.0');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('gives every socket of an agent one TLS context (the CA and client key parsed once, not per connection); none for material that does not parse', async function () {
    const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const b64 = (text: string): string => Buffer.from(text).toString('base64');
    const kubeconfig = (cert: string, key: string): string => [
      'apiVersion: v1', 'kind: Config', 'current-context: c',
      `clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: ${b64(certs.caPem)}}}]`,
      `users: [{name: u, user: {client-certificate-data: ${b64(cert)}, client-key-data: ${b64(key)}}}]`,
      'contexts: [{name: c, context: {cluster: c, user: u}}]',
    ].join('\n');
    const valid = await createCredentialSource(loadKubeconfig(path.join(dir, 'valid'), kubeconfig(certs.certPem, certs.keyPem))).current();
    expect((valid.agent as https.Agent).options.secureContext, 'shared context').to.not.equal(undefined);
    const broken = await createCredentialSource(loadKubeconfig(path.join(dir, 'broken'), kubeconfig('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n', certs.keyPem))).current();
    expect((broken.agent as https.Agent).options.secureContext, 'left to each connection, which reports the error').to.equal(undefined);
  });

  it('finds tokenFile or token-file for the current user, in KUBECONFIG order, and nothing for other users', function () {
    const a = path.join(dir, 'a.yaml');
    const b = path.join(dir, 'b.yaml');
    fs.writeFileSync(a, 'users: [{name: other, user: {tokenFile: /x}}]\n');
    fs.writeFileSync(b, 'users: [{name: me, user: {token-file: /var/run/token}}, {name: plain, user: {token: abc}}]\n');
    expect(kubeconfigTokenFile([a, b], 'me')).to.equal('/var/run/token');
    expect(kubeconfigTokenFile([a, b], 'plain')).to.equal(undefined);
    expect(kubeconfigTokenFile([a, b], undefined)).to.equal(undefined);
    expect(kubeconfigFiles(undefined, { KUBECONFIG: `${a}${path.delimiter}${b}` })).to.deep.equal([a, b]);
    expect(kubeconfigFiles('/explicit', { KUBECONFIG: a })).to.deep.equal(['/explicit']);
    expect(kubeconfigFiles(undefined, { HOME: '/home/op' })).to.deep.equal(['/home/op/.kube/config']);
  });
});
