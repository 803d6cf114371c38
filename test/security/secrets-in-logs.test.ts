// No credential ever reaches a log line. The real controller (createInitializerController with the
// real HTTP client from createKubeApi, holding a recognisable bearer token) runs against the
// nock-served API server through its error paths — 401 on a list, 403, 500 and 409 on patches, a
// network error on a patch and on a watch, a watch answered 500, a failed Event and a failed
// MeshConfig status write — with servers and proxies that echo the Authorization header back, as
// some do. Every line is captured at debug level, as JSON, as text and in memory. Then `meshinit run`
// does the same from a kubeconfig file holding a token, a client certificate and a client key.
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import nock from 'nock';
import { DEFAULT_INITIALIZER_NAME } from '../../controller/core/constants.ts';
import type { KubeObject } from '../../controller/core/types.ts';
import { createInitializerController, type InitializerController } from '../../controller/initializer/controller.ts';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { createLogger, createMemoryLogger, type Logger } from '../../controller/logger.ts';
import { runCommand, type RunIo } from '../../controller/run-command.ts';
import { testKubeConfig, waitFor } from '../kube/helpers.ts';
import { NockCluster } from '../support/nock-cluster.ts';

const SERVER = 'https://127.0.0.1:6443';
const TOKEN = 'msh-sec-7Q2x9LkP0aZ4vB8nW1eR5tY3uI6o';
const OURS = DEFAULT_INITIALIZER_NAME;
const DEPLOYMENTS = 'apis/apps/v1/deployments';
const JOBS = 'apis/batch/v1/jobs';
const MESHCONFIGS = 'apis/meshinit.dev/v1alpha1/meshconfigs';

/** A Status error body from a server or proxy that repeats the request's Authorization header. */
function echoingStatus(code: number, reason: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code, message: `${reason}: request with Authorization: Bearer ${TOKEN} refused` };
}

interface Capture {
  log: Logger;
  /** Everything written, JSON lines, text lines and the memory logger's records. */
  text(): string;
  lines(): number;
}

/** One logger that writes every line three ways, all at debug level. */
function capture(): Capture {
  const chunks: string[] = [];
  const streams = (['json', 'text'] as const).map((format) => {
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    return createLogger({ format, level: 'debug', stream });
  });
  const memory = createMemoryLogger();
  const all = [...streams, memory];
  const log: Logger = {
    error: (message, fields) => all.forEach((l) => l.error(message, fields)),
    warn: (message, fields) => all.forEach((l) => l.warn(message, fields)),
    info: (message, fields) => all.forEach((l) => l.info(message, fields)),
    debug: (message, fields) => all.forEach((l) => l.debug(message, fields)),
  };
  return { log, text: () => `${chunks.join('')}\n${JSON.stringify(memory.lines)}`, lines: () => memory.lines.length };
}


function deployment(name: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, initializers: { pending: [{ name: OURS }] } },
    spec: { template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'app:1' }] } } },
  };
}

function meshConfig(): KubeObject {
  return { apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default', generation: 1 }, spec: { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:1' }] } } };
}

/** Fails when any of `secrets` (or a 12-character piece of one) occurs in `text`. */
function expectNoSecrets(text: string, secrets: Record<string, string>): void {
  for (const [what, secret] of Object.entries(secrets)) {
    expect(text.includes(secret), `${what} appears in the output`).to.equal(false);
    for (let i = 0; i + 12 <= secret.length; i += 6) {
      const piece = secret.slice(i, i + 12);
      if (!/^[-A-Za-z]+$/.test(piece)) expect(text.includes(piece), `a piece of ${what} (${piece}) appears in the output`).to.equal(false);
    }
  }
}

describe('security: no token or key ever appears in logs', function () {
  this.timeout(20_000);
  let cluster: NockCluster;
  let controller: InitializerController | undefined;

  afterEach(async function () {
    await controller?.stop();
    controller = undefined;
    cluster?.stop();
    nock.cleanAll();
  });

  it('the controller, through 401, 403, 500, 409, network errors, watch errors, a failed Event and a failed status write', async function () {
    // One-shot faults, registered before the cluster's catch-all routes so that they answer first.
    nock(SERVER).get('/api/v1/namespaces').query((q) => q.watch === undefined).reply(401, echoingStatus(401, 'Unauthorized'));
    // (nock 14 delivers a string error; an error object leaves the request hanging.)
    nock(SERVER).get('/apis/apps/v1/deployments').query((q) => q.watch === 'true').replyWithError(`socket hang up (Authorization: Bearer ${TOKEN})`);
    nock(SERVER).patch('/apis/apps/v1/namespaces/default/deployments/net-error').replyWithError(`read ECONNRESET; headers were authorization=Bearer ${TOKEN} token=${TOKEN}`);
    nock(SERVER).post('/api/v1/namespaces/default/events').reply(403, echoingStatus(403, 'Forbidden'));
    nock(SERVER).patch('/apis/meshinit.dev/v1alpha1/meshconfigs/default/status').reply(500, echoingStatus(500, 'InternalError'));
    cluster = new NockCluster(SERVER).start();
    cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    cluster.put(MESHCONFIGS, meshConfig());
    cluster.watchFaults.push([500, echoingStatus(500, 'InternalError')]);

    const logs = capture();
    controller = createInitializerController(
      {
        namespaces: [],
        concurrency: 2,
        initializerName: OURS,
        controllerNamespace: 'meshinit-system',
        jobPods: false,
        resyncPeriodMs: 0,
        watchTimeoutSeconds: 60,
        backoff: { initialMs: 5, maxMs: 50 },
        informerBackoff: { initialMs: 5, maxMs: 50 },
        permanentRetryMs: 20,
      },
      { api: createKubeApi(testKubeConfig(TOKEN)), log: logs.log },
    );
    await controller.start();

    // Each Deployment meets one fault on its first PATCH, then succeeds on a retry.
    for (const [name, fault] of [
      ['forbidden', [403, echoingStatus(403, 'Forbidden')]],
      ['server-error', [500, echoingStatus(500, 'InternalError')]],
      ['conflict', [409, echoingStatus(409, 'Conflict')]],
      ['net-error', undefined],
    ] as const) {
      if (fault) cluster.patchFaults.push([fault[0], fault[1]]);
      cluster.put(DEPLOYMENTS, deployment(name));
      await waitFor(() => cluster.get(DEPLOYMENTS, 'default', name)?.metadata?.initializers === undefined, `${name} initialized`);
    }
    // A Job is released with a Warning Event, which the server refuses.
    cluster.put(JOBS, { ...deployment('job'), apiVersion: 'batch/v1', kind: 'Job' });
    await waitFor(() => cluster.get(JOBS, 'default', 'job')?.metadata?.initializers === undefined, 'Job released');
    await controller.idle();
    await new Promise((resolve) => setTimeout(resolve, 20));

    const text = logs.text();
    // The paths ran and were logged, with the server's words (minus the credential).
    for (const expected of ['Sync failed', 'Watch failed, relisting after backoff', 'MeshConfig status not written', 'Event not recorded', 'Unauthorized', 'socket hang up', 'read ECONNRESET', 'Forbidden', 'InternalError', 'Released without sidecar']) {
      expect(text, expected).to.include(expected);
    }
    expect(logs.lines()).to.be.greaterThan(10);
    expectNoSecrets(text, { 'the bearer token': TOKEN });
  });

  it('meshinit run with a kubeconfig holding a token, a client certificate and a client key, in both log formats', async function () {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const keyData = Buffer.from(privateKey).toString('base64');
    const keyBody = privateKey.split('\n').filter((line) => line !== '' && !line.startsWith('-----')).join('');
    const certData = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBfakeCertificateForMeshinitTests0123456789\n-----END CERTIFICATE-----\n').toString('base64');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-security-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: legacy',
      `clusters: [{name: legacy, cluster: {server: "${SERVER}", insecure-skip-tls-verify: true}}]`,
      'users:',
      '- name: initctl',
      '  user:',
      `    token: ${TOKEN}`,
      `    client-certificate-data: ${certData}`,
      `    client-key-data: ${keyData}`,
      'contexts: [{name: legacy, context: {cluster: legacy, user: initctl}}]',
    ].join('\n'));
    const secrets = { 'the bearer token': TOKEN, 'the client key data': keyData, 'the client key': keyBody };

    for (const format of ['json', 'text'] as const) {
      cluster = new NockCluster(SERVER).start();
      cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
      cluster.put(MESHCONFIGS, meshConfig());
      cluster.discovery.set('/apis/admissionregistration.k8s.io/v1alpha1', {
        kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'admissionregistration.k8s.io/v1alpha1',
        resources: [{ name: 'initializerconfigurations', namespaced: false, kind: 'InitializerConfiguration', verbs: ['get', 'list', 'watch'] }],
      });
      cluster.watchFaults.push([500, echoingStatus(500, 'InternalError')]);
      let logText = '';
      const logStream = new PassThrough();
      logStream.on('data', (chunk: Buffer) => {
        logText += chunk.toString('utf8');
      });
      let stop: (signal: string) => void = () => undefined;
      const stopped = new Promise<string>((resolve) => {
        stop = resolve;
      });
      const out: string[] = [];
      const io: RunIo = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) }, env: {}, version: 'test', waitForStopSignal: () => stopped, logStream };
      const exit = runCommand(['--kubeconfig', kubeconfig, '--health-addr', '', '--mode', 'initializer', '--log-level', 'debug', '--log-format', format], io);
      await waitFor(() => logText.includes('Initializer controller running'), `controller running (${format})`, 5000);
      // A 403 is permanent: logged (with the server's echo of the token) and retried minutes later.
      cluster.patchFaults.push([403, echoingStatus(403, 'Forbidden')]);
      cluster.put(DEPLOYMENTS, deployment('web'));
      await waitFor(() => logText.includes('Sync failed'), `the 403 logged (${format})`, 5000);
      cluster.put(DEPLOYMENTS, deployment('web-2'));
      await waitFor(() => cluster.get(DEPLOYMENTS, 'default', 'web-2')?.metadata?.initializers === undefined, `web-2 initialized (${format})`, 5000);
      stop('SIGTERM');
      expect(await exit).to.equal(0);
      expect(logText).to.include('Sync failed').and.include('Forbidden');
      expectNoSecrets(logText + out.join(''), secrets);
      cluster.stop();

      // Start-up refused by the server: the error is logged, the credential is not.
      nock(SERVER).get('/apis/admissionregistration.k8s.io/v1alpha1').reply(403, echoingStatus(403, 'Forbidden'));
      cluster = new NockCluster(SERVER).start();
      logText = '';
      const refused = await runCommand(['--kubeconfig', kubeconfig, '--health-addr', '', '--mode', 'initializer', '--log-level', 'debug', '--log-format', format], { ...io, waitForStopSignal: () => new Promise(() => undefined) });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(refused).to.equal(1);
      expect(logText).to.include('Forbidden');
      expectNoSecrets(logText + out.join(''), secrets);
      cluster.stop();
      nock.cleanAll();
    }
  });
});
