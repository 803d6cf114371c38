// meshinit under test, two ways: the real controller in this process (createInitializerController
// with the real HTTP client pointed at the double), or the real compiled CLI as a child process,
// which can be SIGKILLed mid-burst and started again.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeApi } from '../../../controller/kube/api-client.ts';
import { createInitializerController, type InitializerController } from '../../../controller/initializer/controller.ts';
import { createMemoryLogger } from '../../../controller/logger.ts';
import { repoRoot } from '../../support/transcripts.ts';
import type { LegacyApiServer } from '../../support/legacy-apiserver/index.ts';
import { CONTROLLER_NAMESPACE, MESHINIT, OURS, WORKLOAD_PLURALS } from './world.ts';

export interface RunningMeshinit {
  /** Stops it: gracefully (the controller's stop, or SIGTERM), or with SIGKILL. */
  stop(how?: 'graceful' | 'kill'): Promise<void>;
  /** Log lines at warn and above, for a failure report. */
  warnings(): string[];
}

/** Short timeouts: a stalled watch ends within seconds, and retries do not wait minutes. */
const WATCH_TIMEOUT_SECONDS = 4;

export async function startInProcess(server: LegacyApiServer, concurrency: number): Promise<RunningMeshinit> {
  const kc = new KubeConfig();
  // The double speaks plain http://, as the insecure port and `kubectl proxy` do: the kubeconfig
  // says so and nothing more (no insecure-skip-tls-verify).
  kc.loadFromOptions({
    clusters: [{ name: 'double', server: server.url, skipTLSVerify: false }],
    users: [{ name: 'meshinit', token: MESHINIT.token }],
    contexts: [{ name: 'double', cluster: 'double', user: 'meshinit' }],
    currentContext: 'double',
  });
  const log = createMemoryLogger();
  const controller: InitializerController = createInitializerController(
    {
      namespaces: [],
      concurrency,
      initializerName: OURS,
      controllerNamespace: CONTROLLER_NAMESPACE,
      jobPods: false,
      // No periodic resync: every workload must be reached through events and relists alone.
      resyncPeriodMs: 0,
      watchTimeoutSeconds: WATCH_TIMEOUT_SECONDS,
      backoff: { initialMs: 20, maxMs: 1000 },
      informerBackoff: { initialMs: 20, maxMs: 500 },
    },
    { api: createKubeApi(kc, { userAgent: MESHINIT.userAgent, requestTimeoutMs: 5000 }), log },
  );
  await controller.start();
  return {
    async stop() {
      await controller.stop();
    },
    warnings: () => log.lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields)}`),
  };
}

const BIN = path.join(repoRoot, 'bin', 'meshinit.js');

/** A kubeconfig file for the double (plain http://, meshinit's bearer token), in a fresh temporary directory. */
export function doubleKubeconfig(server: LegacyApiServer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-fault-'));
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, [
    'apiVersion: v1', 'kind: Config', 'current-context: double',
    `clusters: [{name: double, cluster: {server: "${server.url}"}}]`,
    `users: [{name: meshinit, user: {token: "${MESHINIT.token}"}}]`,
    'contexts: [{name: double, context: {cluster: double, user: meshinit}}]',
  ].join('\n'));
  return file;
}

/** Starts `node bin/meshinit.js run` (the build `npm test` makes) and waits until it watches every workload kind. */
export async function startCli(server: LegacyApiServer, concurrency: number): Promise<RunningMeshinit> {
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'controller', 'entry.js'))) throw new Error('dist/ is missing: run "npm run build" (npm test does) before the fault suite');
  const since = server.requests.length;
  const kubeconfig = doubleKubeconfig(server);
  const child: ChildProcess = spawn(process.execPath, [
    BIN, 'run', '--mode', 'initializer', '--kubeconfig', kubeconfig, '--health-addr', '', '--log-level', 'warn',
    '--initializer-name', OURS, '--controller-namespace', CONTROLLER_NAMESPACE, '--concurrency', String(concurrency),
    '--resync-period', '0', '--watch-timeout', `${WATCH_TIMEOUT_SECONDS}s`, '--request-timeout', '5s',
    // The simulated server serves no lock object (ConfigMap, Lease); the election has its own
    // tests (test/kube/leader-election, test/e2e/leader-election), this suite the initialization.
    '--leader-elect=false',
  ], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const split = text.split('\n');
    partial = split.pop() ?? '';
    // Keep a bounded tail: under faults every retry logs a warning.
    lines.push(...split.filter(Boolean));
    if (lines.length > 2000) lines.splice(0, lines.length - 2000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => fs.rmSync(path.dirname(kubeconfig), { recursive: true, force: true }));
  const deadline = Date.now() + 20_000;
  const watching = (): boolean => WORKLOAD_PLURALS.every((plural) => server.requests.slice(since).some((r) => r.token === MESHINIT.token && r.cls === 'watch' && r.path.endsWith(`/${plural}`)));
  while (!watching()) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`meshinit run did not start watching (exit ${child.exitCode}):\n${lines.slice(-20).join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    async stop(how = 'graceful') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    warnings: () => [...lines],
  };
}
