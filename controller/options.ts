// Flags for `meshinit run`, parsed and validated once, then frozen. The environment is read here
// and nowhere else (POD_NAMESPACE from the downward API, KUBECONFIG through client-node).
import { parseArgs } from 'node:util';
import { DEFAULT_INITIALIZER_NAME } from './core/constants.ts';
import { LOG_LEVELS, type LogFormat, type LogLevel } from './logger.ts';

export type RunMode = 'initializer';

export interface RunOptions {
  mode: RunMode;
  kubeconfig: string | undefined;
  namespaces: readonly string[];
  concurrency: number;
  initializerName: string;
  controllerNamespace: string;
  jobPods: boolean;
  logFormat: LogFormat;
  logLevel: LogLevel;
  healthAddress: { host: string; port: number } | undefined;
  resyncPeriodMs: number;
  watchTimeoutSeconds: number;
  requestTimeoutMs: number;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const RUN_HELP = `Usage: meshinit run [flags]

Runs the controller. In initializer mode (Kubernetes 1.7-1.13 with the alpha Initializers
feature), meshinit watches uninitialized Deployments, StatefulSets, DaemonSets and Jobs, acts
when its name is first in metadata.initializers.pending, removes itself (keeping the other
initializers in order) and, when a MeshConfig selects the workload, adds the sidecar, all in
one conditional PATCH.

Flags:
  --mode initializer          Run mode. Only "initializer" exists so far; webhook mode for
                              Kubernetes >= 1.14 is planned.
  --kubeconfig FILE           Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the
                              in-cluster service account).
  --namespace NS              Watch only this namespace; repeat for several (default: all).
  --concurrency N             Workloads processed at once (default 8).
  --initializer-name NAME     Name in metadata.initializers.pending
                              (default ${DEFAULT_INITIALIZER_NAME}).
  --controller-namespace NS   meshinit's own namespace, never injected
                              (default $POD_NAMESPACE or meshinit-system).
  --job-pods                  Also initialize Pods: inject Pods owned by a Job, release all
                              others at once. Needs the "pods" rule of the
                              manifests/initializer-job-pods overlay.
  --log-format json|text      Log line format (default json).
  --log-level LEVEL           error, warn, info or debug (default info).
  --health-addr HOST:PORT     Serve /healthz and /readyz here (default :9090; "" disables).
  --resync-period DURATION    Re-check every cached workload this often (default 5m; 0 disables).
  --watch-timeout DURATION    Ask the server to end each watch after this long, so half-open
                              connections cannot stall the controller (default 5m).
  --request-timeout DURATION  Timeout of each API request (default 30s).
  -h, --help                  Show this help.

Durations: 500ms, 30s, 5m, 1h.
Exit codes: 0 after SIGTERM/SIGINT once in-flight work finished; 1 on a fatal error (for
example a server without admissionregistration.k8s.io/v1alpha1); 2 on bad flags.
`;

export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (text.trim() === '0') return 0;
  if (!match) throw new UsageError(`${flag}: "${text}" is not a duration (examples: 500ms, 30s, 5m, 1h)`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * factor);
}

function parseAddress(text: string): RunOptions['healthAddress'] {
  if (text === '') return undefined;
  const match = /^(.*):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new UsageError(`--health-addr: "${text}" is not HOST:PORT (for example :9090 or 127.0.0.1:9090)`);
  return { host: match[1] || '0.0.0.0', port };
}

export interface ParsedRun {
  help: boolean;
  options: RunOptions;
}

export function parseRunOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedRun {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        mode: { type: 'string', default: 'initializer' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string', multiple: true },
        concurrency: { type: 'string', default: '8' },
        'initializer-name': { type: 'string', default: DEFAULT_INITIALIZER_NAME },
        'controller-namespace': { type: 'string' },
        'job-pods': { type: 'boolean', default: false },
        'log-format': { type: 'string', default: 'json' },
        'log-level': { type: 'string', default: 'info' },
        'health-addr': { type: 'string', default: ':9090' },
        'resync-period': { type: 'string', default: '5m' },
        'watch-timeout': { type: 'string', default: '5m' },
        'request-timeout': { type: 'string', default: '30s' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; see meshinit run --help`);
  }
  if (values.mode !== 'initializer') {
    throw new UsageError(`--mode: "${values.mode}" is not supported; use --mode initializer (webhook mode for Kubernetes >= 1.14 is not built yet)`);
  }
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) {
    throw new UsageError(`--concurrency: "${values.concurrency}" must be a whole number from 1 to 1024`);
  }
  if (values['log-format'] !== 'json' && values['log-format'] !== 'text') throw new UsageError(`--log-format: "${values['log-format']}" must be json or text`);
  if (!(LOG_LEVELS as readonly string[]).includes(values['log-level'])) throw new UsageError(`--log-level: "${values['log-level']}" must be one of ${LOG_LEVELS.join(', ')}`);
  const watchTimeoutMs = parseDuration(values['watch-timeout'], '--watch-timeout');
  if (watchTimeoutMs < 1000) throw new UsageError('--watch-timeout must be at least 1s');
  const options: RunOptions = {
    mode: 'initializer',
    kubeconfig: values.kubeconfig,
    namespaces: Object.freeze([...new Set(values.namespace ?? [])]),
    concurrency,
    initializerName: values['initializer-name'],
    controllerNamespace: values['controller-namespace'] ?? env.POD_NAMESPACE ?? 'meshinit-system',
    jobPods: values['job-pods'],
    logFormat: values['log-format'],
    logLevel: values['log-level'] as LogLevel,
    healthAddress: parseAddress(values['health-addr']),
    resyncPeriodMs: parseDuration(values['resync-period'], '--resync-period'),
    watchTimeoutSeconds: Math.round(watchTimeoutMs / 1000),
    requestTimeoutMs: parseDuration(values['request-timeout'], '--request-timeout'),
  };
  return { help: values.help, options: Object.freeze(options) };
}
