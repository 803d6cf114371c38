// `meshinit run` as a process would run it: flags, kubeconfig file, discovery check, controller,
// and the stop signal, against the nock-served Initializer-era API server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { runCommand, type RunIo } from '../controller/run-command.ts';
import { NockCluster } from './support/nock-cluster.ts';
import { loadTranscript } from './support/transcripts.ts';
import { SERVER, TOKEN, waitFor } from './kube/helpers.ts';
import type { KubeObject } from '../controller/core/types.ts';

const INITIALIZER_DISCOVERY = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'admissionregistration.k8s.io/v1alpha1',
  resources: [{ name: 'initializerconfigurations', namespaced: false, kind: 'InitializerConfiguration', verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] }],
};

function kubeconfigFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-run-'));
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, [
    'apiVersion: v1', 'kind: Config', 'current-context: legacy',
    'clusters: [{name: legacy, cluster: {server: "' + SERVER + '", insecure-skip-tls-verify: true}}]',
    'users: [{name: initctl, user: {token: "' + TOKEN + '"}}]',
    'contexts: [{name: legacy, context: {cluster: legacy, user: initctl}}]',
  ].join('\n'));
  return file;
}

function harness() {
  let stop: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => { stop = resolve; });
  const logStream = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  logStream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const out: string[] = [];
  const err: string[] = [];
  const io: RunIo = {
    stdout: { write: (text: string) => out.push(text) },
    stderr: { write: (text: string) => err.push(text) },
    env: {},
    version: 'test',
    waitForStopSignal: () => stopped,
    logStream,
  };
  return { io, stop, lines, out, err };
}

describe('meshinit run', function () {
  let cluster: NockCluster;

  beforeEach(function () {
    cluster = new NockCluster(SERVER).start();
    cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    cluster.put('apis/meshinit.dev/v1alpha1/meshconfigs', {
      apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default', generation: 1 },
      spec: { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:1' }] } },
    });
  });

  afterEach(function () {
    cluster.stop();
  });

  it('prints its help with every flag and exits 0', async function () {
    const { io, out } = harness();
    expect(await runCommand(['--help'], io)).to.equal(0);
    for (const flag of ['--mode', '--kubeconfig', '--namespace', '--concurrency', '--initializer-name', '--job-pods', '--log-format', '--log-level', '--health-addr']) {
      expect(out.join(''), flag).to.include(flag);
    }
  });

  it('exits 2 with a message naming the flag on bad flags', async function () {
    for (const [argv, words] of [[['--concurrency', '0'], '--concurrency'], [['--mode', 'sideways'], '--mode'], [['--mode', 'webhook'], '--tls-cert-file'], [['--target', 'nodes'], '--target'], [['--tls-cert-file', 'a.pem'], '--tls-key-file'], [['--log-format', 'xml'], '--log-format'], [['--bogus'], 'bogus'], [['--resync-period', 'soon'], '--resync-period']] as const) {
      const { io, err } = harness();
      expect(await runCommand([...argv], io), argv.join(' ')).to.equal(2);
      expect(err.join(''), argv.join(' ')).to.include(words);
    }
  });

  it('exits 1 with the reason when the API server cannot be reached, before starting anything', async function () {
    cluster.stop();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-unreachable-'));
    const file = path.join(dir, 'kubeconfig');
    fs.writeFileSync(file, fs.readFileSync(kubeconfigFile(), 'utf8').replace(SERVER, 'https://127.0.0.1:1'));
    const { io, lines } = harness();
    expect(await runCommand(['--kubeconfig', file, '--health-addr', '', '--request-timeout', '2s'], io)).to.equal(1);
    const line = lines.find((l) => l.message === 'API server unreachable');
    expect(line?.level).to.equal('error');
    expect(String(line?.error)).to.include('GET /version');
    expect(lines.some((l) => l.message === 'Mode selected')).to.equal(false);
    cluster = new NockCluster(SERVER).start();
  });

  it('a malformed kubeconfig exits 1 with the parser\'s first line only: never the token or key around the error', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-bad-kc-'));
    const file = path.join(dir, 'kubeconfig');
    fs.writeFileSync(file, [
      'apiVersion: v1', 'kind: Config', 'current-context: legacy',
      'users:', '- name: initctl', '  user:', `    token: ${TOKEN}`, '   client-key-data: TUlJRXZBSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS1l3Z2dTaUFnRUFBb0lCQVFD',
    ].join('\n'));
    const { io, lines } = harness();
    expect(await runCommand(['--kubeconfig', file, '--health-addr', ''], io)).to.equal(1);
    const line = lines.find((l) => l.message === 'Kubeconfig unusable');
    expect(line?.level).to.equal('error');
    expect(String(line?.error)).to.not.include('\n');
    expect(JSON.stringify(lines)).to.not.include(TOKEN).and.not.include('TUlJRXZBSUJBREFOQmdrcWhraUc5dzBC');
  });

  it('with --mode initializer refuses to start (exit 1) on a server without admissionregistration.k8s.io/v1alpha1, saying what to use instead', async function () {
    const { io, lines } = harness();
    expect(await runCommand(['--kubeconfig', kubeconfigFile(), '--health-addr', '', '--mode', 'initializer'], io)).to.equal(1);
    const line = lines.find((l) => l.message === 'Initializers unavailable');
    expect(line?.level).to.equal('error');
    expect(String(line?.error)).to.include('removed in Kubernetes 1.14').and.include('webhook');
    expect(cluster.requests.some((r) => r.path.endsWith('/deployments')), 'no informer started').to.equal(false);
  });

  it('--mode auto picks the webhook where there are no Initializers, and says it needs a certificate', async function () {
    const { io, lines } = harness();
    expect(await runCommand(['--kubeconfig', kubeconfigFile(), '--health-addr', ''], io)).to.equal(2);
    expect(lines.find((l) => l.message === 'Mode selected')).to.include({ mode: 'webhook' });
    expect(String(lines.find((l) => l.message === 'Start-up failed')?.error)).to.include('--self-signed');
  });

  it('--mode auto with --self-signed serves the webhook and publishes its CA into the webhook configuration', async function () {
    cluster.put('apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'meshinit' },
      webhooks: [{ name: 'pods.meshinit.dev', clientConfig: { url: 'https://127.0.0.1:1/inject' } }],
    });
    const { io, stop, lines } = harness();
    const exit = runCommand(['--kubeconfig', kubeconfigFile(), '--health-addr', '', '--self-signed', '--webhook-addr', '127.0.0.1:0'], io);
    await waitFor(() => lines.some((l) => l.message === 'Webhook serving'), 'webhook serving');
    expect(lines.find((l) => l.message === 'Mode selected')).to.include({ mode: 'webhook' });
    const stored = cluster.get('apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', '', 'meshinit') as { webhooks: Array<{ clientConfig: { caBundle?: string } }> };
    expect(Buffer.from(stored.webhooks[0]!.clientConfig.caBundle ?? '', 'base64').toString()).to.match(/^-----BEGIN CERTIFICATE-----/);
    // Webhook replicas are stateless and all serve: no election and no lock until a MeshConfig asks
    // for a rollout (the elector is made ready, which reads discovery only).
    expect(lines.some((l) => String(l.message).startsWith('Leader election'))).to.equal(false);
    expect(cluster.requests.filter((r) => (r.path.includes('coordination.k8s.io') && r.path !== '/apis/coordination.k8s.io') || r.path.includes('/configmaps'))).to.deep.equal([]);
    stop('SIGTERM');
    expect(await exit).to.equal(0);
  });

  it('on SIGTERM stops taking work, lets the in-flight patch finish and exits 0', async function () {
    cluster.discovery.set('/apis/admissionregistration.k8s.io/v1alpha1', INITIALIZER_DISCOVERY);
    const { io, stop, lines } = harness();
    const exit = runCommand(['--kubeconfig', kubeconfigFile(), '--health-addr', '', '--initializer-name', 'sidecar.initializer.example.com'], io);
    await waitFor(() => lines.some((l) => l.message === 'Initializer controller running'), 'controller running');
    // The Initializer mode elects by default; this server has no coordination.k8s.io: a ConfigMap lock.
    await waitFor(() => lines.some((l) => l.message === 'Became leader'), 'leading');
    expect(lines.find((l) => l.message === 'Became leader')).to.include({ lockKind: 'ConfigMap' });
    cluster.patchDelayMs = 300;
    const deployment = structuredClone(loadTranscript('v1.13.0/05b-get-with-flag.txt').body) as KubeObject;
    cluster.put('apis/apps/v1/deployments', deployment);
    await waitFor(() => cluster.patches().length === 1, 'patch in flight');
    stop('SIGTERM');
    expect(await exit).to.equal(0);
    const messages = lines.map((l) => l.message);
    expect(messages.indexOf('Injected sidecar'), 'the in-flight patch completed and was logged').to.be.greaterThan(messages.indexOf('Stopping: finishing in-flight work'));
    expect(messages.indexOf('Stopped')).to.be.greaterThan(messages.indexOf('Injected sidecar'));
    // Work that arrives after the signal is not taken.
    cluster.put('apis/apps/v1/deployments', { ...deployment, metadata: { ...deployment.metadata, name: 'late', uid: 'late' } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(cluster.patches()).to.have.length(1);
    expect(JSON.stringify(lines)).to.not.include(TOKEN);
  });
});
