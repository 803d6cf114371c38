// `meshinit run`: wiring only. Options → logger → API client → mode → controller or webhook →
// health server → wait for a signal → graceful stop.
import type { KubeConfig } from '@kubernetes/client-node';
import { createKubeApi } from './kube/api-client.ts';
import { discoverServer, InitializersUnavailableError, initializerApiStatus } from './kube/discovery.ts';
import type { KubeServer } from './core/types.ts';
import { kubeconfigFiles, kubeconfigTokenFile } from './kube/credentials.ts';
import { plainHttpCredentialWarning } from './kube/plain-http.ts';
import { createLeaderElector, fenceWrites } from './kube/leader-election.ts';
import { loadKubeConfigClass, type KubeConfigClass } from './kube/slim-kubeconfig.ts';
import type { KubeApi } from './kube/types.ts';
import { startHealthServer } from './health.ts';
import { createInitializerController } from './initializer/controller.ts';
import { createLogger, type Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { parseRunOptions, RUN_HELP, UsageError, type RunOptions } from './options.ts';

export interface RunIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** Resolves with the signal name when the process is asked to stop. */
  waitForStopSignal(): Promise<string>;
  version: string;
  /** Where log lines go; the console (stderr) when absent. */
  logStream?: NodeJS.WritableStream;
}

interface Running {
  notReadyReason(): string | undefined;
  /** Resolves once the mode is fully serving (caches synced). */
  started: Promise<void>;
  stop(): Promise<void>;
}

function loadKubeConfig(KubeConfigClass: KubeConfigClass, path: string | undefined): KubeConfig {
  const kc = new KubeConfigClass();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new UsageError('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a Pod with a service account');
  return kc;
}

/** Initializers exist only up to 1.13: auto picks them where served, the webhook everywhere else. */
async function resolveMode(options: RunOptions, api: KubeApi, log: Logger): Promise<'initializer' | 'webhook'> {
  if (options.mode === 'webhook') return 'webhook';
  const status = await initializerApiStatus(api);
  if (options.mode === 'initializer') {
    if (status !== 'served') throw new InitializersUnavailableError(status);
    return 'initializer';
  }
  const mode = status === 'served' ? 'initializer' : 'webhook';
  log.info('Mode selected', { mode, why: status === 'served' ? 'the server serves admissionregistration.k8s.io/v1alpha1 (Initializers)' : `no Initializers API: ${status}` });
  if (mode === 'webhook' && options.webhook.tls === undefined) {
    throw new UsageError('--mode auto chose webhook mode (this server has no Initializers), which needs --tls-cert-file and --tls-key-file, or --self-signed');
  }
  return mode;
}

async function startMode(mode: 'initializer' | 'webhook', options: RunOptions & { server: KubeServer }, api: KubeApi, log: Logger, metrics: Metrics): Promise<Running> {
  if (mode === 'initializer') {
    // A standby is ready once its caches are synced: it serves nothing, and being ready is what
    // lets a rolling update go on while the other replica leads.
    const elector = options.leaderElection.enabled ? await createLeaderElector(options.leaderElection, { api, log }) : undefined;
    // meshinit_leader: 0 until this replica holds the lock; 1 without an election (it acts alone).
    metrics.setLeader(elector === undefined);
    elector?.onLeadershipChange((leading) => metrics.setLeader(leading));
    const controller = createInitializerController(
      { ...options, ...(elector ? { leadership: elector } : {}) },
      { api: elector ? fenceWrites(api, elector) : api, log, metrics },
    );
    elector?.start();
    return {
      notReadyReason: controller.notReadyReason,
      started: controller.start(),
      // Work finishes first, then the lock is released, so the standby takes over at once.
      stop: async () => {
        await controller.stop();
        await elector?.stop();
      },
    };
  }
  // Loaded only in webhook mode: its TLS and certificate code (node-forge) is a few MB the
  // Initializer mode never needs.
  const { startWebhook } = await import('./webhook/run.ts');
  // Admission needs no leader (every replica answers alike); rolling a changed MeshConfig out
  // (re-injecting templates with --target workloads, restarting workloads with --target pods) does:
  // one replica paces it, as in the Initializer mode.
  const elector = options.leaderElection.enabled ? await createLeaderElector(options.leaderElection, { api, log }) : undefined;
  const webhook = await startWebhook(options, { api, log, metrics, ...(elector ? { rolloutLeadership: elector } : {}) });
  return {
    notReadyReason: webhook.notReadyReason,
    started: Promise.resolve(),
    stop: async () => {
      await webhook.stop();
      await elector?.stop();
    },
  };
}

export async function runCommand(argv: readonly string[], io: RunIo): Promise<number> {
  let parsed;
  try {
    parsed = parseRunOptions(argv, io.env);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`meshinit run: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (parsed.help) {
    io.stdout.write(RUN_HELP);
    return 0;
  }
  const options = parsed.options;
  const log: Logger = createLogger({ format: options.logFormat, level: options.logLevel, ...(io.logStream ? { stream: io.logStream } : {}) });
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig((await loadKubeConfigClass()).KubeConfig, options.kubeconfig);
  } catch (error) {
    // Only the first line: a YAML parser quotes the lines around a syntax error, and in a
    // kubeconfig those are tokens and keys.
    const reason = ((error as Error).message.split('\n')[0] ?? '').slice(0, 300);
    log.error('Kubeconfig unusable', { error: reason, kubeconfig: options.kubeconfig ?? '(default: $KUBECONFIG, ~/.kube/config or in-cluster)' });
    return 1;
  }
  const tokenFile = kubeconfigTokenFile(kubeconfigFiles(options.kubeconfig, io.env), kc.getCurrentUser()?.name);
  // The identity in the User-Agent tells replicas apart in the API server's audit log.
  const api = createKubeApi(kc, { requestTimeoutMs: options.requestTimeoutMs, userAgent: `meshinit/${io.version} (${options.leaderElection.identity})`, ...(tokenFile ? { tokenFile } : {}) });
  log.info('Starting meshinit', { version: io.version, mode: options.mode, server: kc.getCurrentCluster()?.server });
  const exposure = plainHttpCredentialWarning(kc);
  if (exposure) log.warn('Credentials sent in the clear', { problem: exposure, server: kc.getCurrentCluster()?.server });
  let discovered: { server: KubeServer; gitVersion: string | undefined; nativeSidecars: string };
  try {
    // One request before anything else: an unreachable server or unusable credentials fail the
    // start with their reason, instead of informers relisting forever and never becoming ready.
    discovered = await discoverServer(api);
    log.info('Connected to the API server', { serverVersion: discovered.gitVersion, nativeSidecars: discovered.nativeSidecars });
  } catch (error) {
    log.error('API server unreachable', { error: ((error as Error).message.split('\n')[0] ?? '').slice(0, 500), server: kc.getCurrentCluster()?.server });
    return 1;
  }
  let running: Running;
  // One registry for the process; leader election sets meshinit_leader through metrics.setLeader.
  const metrics = new Metrics();
  try {
    running = await startMode(await resolveMode(options, api, log), { ...options, server: discovered.server }, api, log, metrics);
    metrics.observeReadiness(() => running.notReadyReason() === undefined);
  } catch (error) {
    const message = error instanceof InitializersUnavailableError ? 'Initializers unavailable' : 'Start-up failed';
    log.error(message, { error: (error as Error).message });
    return error instanceof UsageError ? 2 : 1;
  }
  const health = options.healthAddress ? await startHealthServer(options.healthAddress, running.notReadyReason, metrics) : undefined;
  const signal = io.waitForStopSignal();
  const outcome = await Promise.race([signal.then((name) => ({ stop: name })), running.started.then(() => ({ stop: undefined }))]);
  const stopSignal = outcome.stop ?? (await signal);
  log.info('Stopping: finishing in-flight work', { signal: stopSignal });
  await running.stop();
  await health?.close();
  log.info('Stopped');
  return 0;
}
