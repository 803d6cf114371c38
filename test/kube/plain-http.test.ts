// http:// API servers (the insecure port of 1.9-1.13, `kubectl proxy`) with kubeconfigs as
// kubectl writes them: no insecure-skip-tls-verify. client-node alone refuses these
// (kubernetes-client/javascript#2348); meshinit must not.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { allowPlainHttp, plainHttpCredentialWarning } from '../../controller/kube/plain-http.ts';

function kubeconfigText(server: string, user: string): string {
  return [
    'apiVersion: v1', 'kind: Config', 'current-context: here',
    `clusters: [{name: here, cluster: {server: "${server}"}}]`,
    `users: [{name: me, user: ${user}}]`,
    'contexts: [{name: here, context: {cluster: here, user: me}}]',
  ].join('\n');
}

function load(server: string, user = '{token: "plain-http-token-1234"}'): KubeConfig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-http-'));
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, kubeconfigText(server, user));
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  fs.rmSync(dir, { recursive: true, force: true });
  return kc;
}

describe('plain http:// API servers', function () {
  let server: http.Server;
  let url: string;
  const seen: Array<{ path: string; authorization: string | undefined }> = [];

  before(async function () {
    server = http.createServer((req, res) => {
      seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ gitVersion: 'v1.13.0' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(function () {
    server.close();
  });

  it('client-node by itself refuses the kubeconfig (the bug this works around is still there)', async function () {
    const kc = load(url);
    let refusal: unknown;
    await kc.applyToHTTPSOptions({}).catch((error: unknown) => { refusal = error; });
    expect(String(refusal)).to.match(/HTTP protocol is not allowed/);
  });

  it('sends requests, with the kubeconfig\'s bearer token, to an http:// server without insecure-skip-tls-verify', async function () {
    const api = createKubeApi(load(url));
    const version = await api.get<{ gitVersion: string }>('/version');
    expect(version.gitVersion).to.equal('v1.13.0');
    expect(seen.at(-1)).to.deep.equal({ path: '/version', authorization: 'Bearer plain-http-token-1234' });
  });

  it('works through a path prefix, as `kubectl proxy --api-prefix` serves', async function () {
    const api = createKubeApi(load(`${url}/k8s`));
    await api.get('/version');
    expect(seen.at(-1)?.path).to.equal('/k8s/version');
  });

  it('leaves https:// kubeconfigs exactly as they were (TLS is still verified)', function () {
    const kc = load('https://10.0.0.1:6443');
    expect(allowPlainHttp(kc)).to.equal(kc);
    expect(kc.getCurrentCluster()?.skipTLSVerify).to.equal(false);
  });

  it('does not change the caller\'s kubeconfig', function () {
    const kc = load(url);
    const usable = allowPlainHttp(kc);
    expect(usable).not.to.equal(kc);
    expect(kc.getCurrentCluster()?.skipTLSVerify).to.equal(false);
    expect(usable.getCurrentUser()?.token).to.equal('plain-http-token-1234');
  });

  describe('the warning about credentials in the clear', function () {
    it('warns for a token sent to another host over http://', function () {
      const warning = plainHttpCredentialWarning(load('http://10.1.2.3:8080'));
      expect(warning).to.include('a bearer token').and.include('10.1.2.3:8080');
      expect(warning).not.to.include('plain-http-token-1234');
    });

    it('warns for a password and for exec plugins too', function () {
      expect(plainHttpCredentialWarning(load('http://api.example:8080', '{username: admin, password: hunter22}'))).to.include('username and password');
      expect(plainHttpCredentialWarning(load('http://api.example:8080', '{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: get-token}}'))).to.include('exec plugin');
    });

    it('is quiet on loopback (kubectl proxy, the insecure port), over https, and without credentials', function () {
      for (const server of ['http://127.0.0.1:8001', 'http://localhost:8080', 'http://[::1]:8001', 'http://127.3.4.5:80']) {
        expect(plainHttpCredentialWarning(load(server)), server).to.equal(undefined);
      }
      expect(plainHttpCredentialWarning(load('https://10.1.2.3:6443'))).to.equal(undefined);
      expect(plainHttpCredentialWarning(load('http://10.1.2.3:8080', '{}'))).to.equal(undefined);
    });
  });
});
