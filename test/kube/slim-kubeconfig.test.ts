// client-node's KubeConfig loaded without its generated API (controller/kube/slim-kubeconfig.ts):
// the installed release is slimmed, what it loads still reads kubeconfigs and authenticates (here
// an exec plugin, end to end through the API client), and any surprise in the module's text falls
// back to the full package instead of guessing.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import nock from 'nock';
import * as clientNode from '@kubernetes/client-node';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { loadKubeConfigClass, slimConfigSource } from '../../controller/kube/slim-kubeconfig.ts';

const CONFIG_URL = import.meta.resolve('@kubernetes/client-node/dist/config.js');
const CONFIG_SOURCE = fs.readFileSync(new URL(CONFIG_URL), 'utf8');
const resolve = (specifier: string): string => import.meta.resolve(specifier);

describe('KubeConfig without client-node\'s generated API', function () {
  let dir: string;

  before(function () {
    nock.restore(); // real sockets
  });
  after(function () {
    nock.activate();
  });
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-slim-'));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('slims the installed @kubernetes/client-node: its own class, not the package\'s, without makeApiClient', async function () {
    const { KubeConfig, slim } = await loadKubeConfigClass();
    expect(slim, 'the installed release is slimmed').to.equal(true);
    expect(KubeConfig).not.to.equal(clientNode.KubeConfig);
    const kc = new KubeConfig();
    kc.loadFromString('{apiVersion: v1, kind: Config, current-context: c, clusters: [{name: c, cluster: {server: "https://10.0.0.1"}}], users: [{name: u, user: {token: abcd-1234}}], contexts: [{name: c, context: {cluster: c, user: u}}]}');
    const opts: { headers?: Record<string, unknown> } = {};
    await kc.applyToHTTPSOptions(opts);
    expect(opts.headers?.Authorization).to.equal('Bearer abcd-1234');
    expect(() => kc.makeApiClient(clientNode.CoreV1Api)).to.throw(/without its generated API/);
    expect((await loadKubeConfigClass()).KubeConfig, 'loaded once').to.equal(KubeConfig);
  });

  it('authenticates with an exec plugin through the API client', async function () {
    const seen: Array<string | undefined> = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"gitVersion":"v1.13.0"}');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const plugin = path.join(dir, 'get-token.mjs');
      fs.writeFileSync(plugin, 'process.stdout.write(JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1beta1", kind: "ExecCredential", status: { token: "exec-token-5678" } }));\n');
      const file = path.join(dir, 'kubeconfig');
      fs.writeFileSync(file, [
        'apiVersion: v1', 'kind: Config', 'current-context: c',
        `clusters: [{name: c, cluster: {server: "http://127.0.0.1:${(server.address() as AddressInfo).port}"}}]`,
        `users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: "${process.execPath}", args: ["${plugin}"]}}}]`,
        'contexts: [{name: c, context: {cluster: c, user: u}}]',
      ].join('\n'));
      const { KubeConfig } = await loadKubeConfigClass();
      const kc = new KubeConfig();
      kc.loadFromFile(file);
      const version = await createKubeApi(kc).get<{ gitVersion: string }>('/version');
      expect(version.gitVersion).to.equal('v1.13.0');
      expect(seen).to.deep.equal(['Bearer exec-token-5678']);
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });

  it('rewrites every import to one a data: module can load, and stubs exactly the two it replaces', function () {
    const source = slimConfigSource(CONFIG_SOURCE, CONFIG_URL, resolve);
    expect(source).to.be.a('string');
    const specifiers = [...source!.matchAll(/^import\s.*?'([^']+)';$/gm)].map((m) => m[1]!);
    expect(specifiers.filter((s) => !/^(node:|file:|data:)/.test(s))).to.deep.equal([]);
    expect(specifiers.filter((s) => s.startsWith('data:'))).to.have.length(2);
    expect(source).not.to.include('/gen/index.js');
    expect(source).not.to.include('node-fetch');
    expect(source).to.include(`//# sourceMappingURL=${new URL('config.js.map', CONFIG_URL).href}`);
  });

  it('gives up (so the full package is loaded) when the module imports more or differently than expected', function () {
    const variants = {
      'more from gen': CONFIG_SOURCE.replace(/import \{ createConfiguration, ServerConfiguration, \} from '\.\/gen\/index\.js';/, "import { createConfiguration, ServerConfiguration, CoreV1Api } from './gen/index.js';"),
      'gen no longer imported': CONFIG_SOURCE.replace(/^import \{ createConfiguration.*$/m, ''),
      'a dynamic import': `${CONFIG_SOURCE}\nexport const later = () => import('./gen/index.js');\n`,
      'a re-export': `${CONFIG_SOURCE}\nexport * from './gen/index.js';\n`,
    };
    for (const [name, text] of Object.entries(variants)) {
      expect(text, name).not.to.equal(CONFIG_SOURCE);
      expect(slimConfigSource(text, CONFIG_URL, resolve), name).to.equal(undefined);
    }
  });
});
