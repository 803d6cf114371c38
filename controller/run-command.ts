// `meshinit run`: wiring only. Options → logger → API client → discovery check → controller →
// health server → wait for a signal → graceful stop.
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeApi } from './kube/api-client.ts';
import { checkInitializersAvailable, InitializersUnavailableError } from './kube/discovery.ts';
import { startHealthServer } from './health.ts';
import { createInitializerController } from './initializer/controller.ts';
import { createLogger, type Logger } from './logger.ts';
import { parseRunOptions, RUN_HELP, UsageError } from './options.ts';

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

function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new UsageError('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a Pod with a service account');
  return kc;
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
    kc = loadKubeConfig(options.kubeconfig);
  } catch (error) {
    log.error('Kubeconfig unusable', { error: (error as Error).message });
    return 1;
  }
  const api = createKubeApi(kc, { requestTimeoutMs: options.requestTimeoutMs, userAgent: `meshinit/${io.version}` });
  log.info('Starting meshinit', { version: io.version, mode: options.mode, server: kc.getCurrentCluster()?.server });
  try {
    await checkInitializersAvailable(api);
  } catch (error) {
    log.error(error instanceof InitializersUnavailableError ? 'Initializers unavailable' : 'Discovery failed', { error: (error as Error).message });
    return 1;
  }
  const controller = createInitializerController(options, { api, log });
  const health = options.healthAddress ? await startHealthServer(options.healthAddress, controller.ready) : undefined;
  const signal = io.waitForStopSignal();
  const started = controller.start();
  const outcome = await Promise.race([signal.then((name) => ({ stop: name })), started.then(() => ({ stop: undefined }))]);
  const stopSignal = outcome.stop ?? (await signal);
  log.info('Stopping: finishing in-flight patches', { signal: stopSignal });
  await controller.stop();
  await health?.close();
  log.info('Stopped');
  return 0;
}
