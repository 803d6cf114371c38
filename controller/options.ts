// Flags for `meshinit run`, parsed and validated once, then frozen. The environment is read here
// and nowhere else (POD_NAMESPACE from the downward API, KUBECONFIG through client-node).
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_INITIALIZER_NAME } from './core/constants.ts';
import { validateTimings } from './kube/leader-election.ts';
import { LOG_LEVELS, type LogFormat, type LogLevel } from './logger.ts';
import type { WebhookTarget } from './webhook/admission.ts';

export type RunMode = 'auto' | 'initializer' | 'webhook';

export interface WebhookOptions {
  address: { host: string; port: number };
  tls: { kind: 'files'; certFile: string; keyFile: string } | { kind: 'self-signed'; hosts: readonly string[] } | undefined;
  configurationName: string;
  target: WebhookTarget;
}

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
  webhook: WebhookOptions;
  leaderElection: LeaderElectionOptions;
}

/** Initializer mode only: webhook replicas are stateless and all serve. */
export interface LeaderElectionOptions {
  enabled: boolean;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  resourceLock: 'auto' | 'leases' | 'configmaps';
  namespace: string;
  name: string;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const RUN_HELP = `Usage: meshinit run [flags]

Runs the controller, in one of two modes:
  initializer  Kubernetes 1.7-1.13 with the alpha Initializers feature: watches uninitialized
               Deployments, StatefulSets, DaemonSets and Jobs, acts when its name is first in
               metadata.initializers.pending, removes itself (keeping the other initializers in
               order) and, when a MeshConfig selects the workload, adds the sidecar, all in one
               conditional PATCH.
  webhook      Kubernetes >= 1.14 (and any server with admissionregistration v1/v1beta1): an
               HTTPS MutatingAdmissionWebhook answering AdmissionReviews with a JSON Patch.

Flags:
  --mode auto|initializer|webhook
                              Default auto: initializer when the server serves
                              admissionregistration.k8s.io/v1alpha1, webhook otherwise.
  --kubeconfig FILE           Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the
                              in-cluster service account).
  --namespace NS              Inject only in this namespace; repeat for several (default: all).
                              meshinit still watches every namespace: in initializer mode the
                              server holds new workloads everywhere (an InitializerConfiguration
                              cannot select namespaces), and those outside are released
                              unchanged at once; in webhook mode they are admitted unchanged.
  --concurrency N             Workloads processed at once, at most (default 128); halved while
                              the API server answers 429, then grown back.
  --initializer-name NAME     Name in metadata.initializers.pending
                              (default ${DEFAULT_INITIALIZER_NAME}).
  --controller-namespace NS   meshinit's own namespace, never injected
                              (default $POD_NAMESPACE or meshinit-system).
  --job-pods                  Also initialize Pods: inject Pods owned by a Job, release all
                              others at once. Needs the "pods" rule of the
                              manifests/initializer-job-pods overlay.
  --log-format json|text      Log line format (default json).
  --log-level LEVEL           error, warn, info or debug (default info).
  --health-addr HOST:PORT     Serve /healthz, /readyz and /metrics here (default :9090; "" disables).
  --resync-period DURATION    Re-check every cached workload this often (default 5m; 0 disables).
  --watch-timeout DURATION    Ask the server to end each watch after this long, so half-open
                              connections cannot stall the controller (default 5m).
  --request-timeout DURATION  Timeout of each API request (default 30s; 0 means none, as
                              kubectl's flag).

Leader election (kube-controller-manager's flag names and defaults):
  --leader-elect[=true|false] Run as one of several replicas of which one, the holder of a lock,
                              initializes workloads (initializer mode) or rolls changed MeshConfigs
                              out (webhook mode, where every replica admits; the election starts
                              with the first MeshConfig of updatePolicy Rollout); the others keep
                              their caches warm and take over when its lease expires (default true;
                              --leader-elect=false makes every replica act).
  --leader-elect-lease-duration DURATION
                              How long standbys wait, after the last renewal they saw, before
                              taking the lock (default 15s, whole seconds).
  --leader-elect-renew-deadline DURATION
                              How long the leader keeps writing after its last successful
                              renewal; shorter than the lease, so it stops before anyone else
                              can start (default 10s).
  --leader-elect-retry-period DURATION
                              Time between attempts to acquire or renew (default 2s).
  --leader-elect-resource-lock auto|leases|configmaps
                              The lock object: auto (default) uses a coordination.k8s.io Lease
                              where served (1.12+), else a ConfigMap annotation (1.9-1.11).
  --leader-elect-resource-name NAME
                              Name of the lock object (default meshinit).
  --leader-elect-resource-namespace NS
                              Its namespace (default: the controller namespace).
                              The holder identity is $POD_NAME (else the host name), an
                              underscore and a random UUID; it is also in the User-Agent.

Webhook mode:
  --webhook-addr HOST:PORT    HTTPS listener for AdmissionReviews at /inject (default :8443).
  --tls-cert-file FILE        Serving certificate (PEM); re-read when it changes.
  --tls-key-file FILE         Its private key (PEM).
  --self-signed               Instead of the files: make a CA and a serving certificate at start
                              and write the CA into the caBundle of the webhook configuration.
                              For demos and single replicas (each replica would make its own CA).
  --self-signed-hosts LIST    Names and IPs for that certificate (comma-separated; default
                              meshinit.<controller-namespace>.svc, its cluster.local form,
                              localhost, 127.0.0.1).
  --webhook-config-name NAME  MutatingWebhookConfiguration to update with --self-signed
                              (default meshinit).
  --target pods|workloads     pods (default): inject Pods created by any workload controller, so
                              the workloads in Git stay as written. workloads: inject the pod
                              template of every kind that has one (Deployments, StatefulSets,
                              DaemonSets, Jobs, CronJobs, ReplicaSets, ReplicationControllers,
                              DeploymentConfigs, bare Pods on CREATE).
  -h, --help                  Show this help.

Durations: 500ms, 30s, 5m, 1h.
Exit codes: 0 after SIGTERM/SIGINT once in-flight work finished; 1 on a fatal error (for
example --mode initializer on a server without admissionregistration.k8s.io/v1alpha1); 2 on bad
flags.
`;

export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (text.trim() === '0') return 0;
  if (!match) throw new UsageError(`${flag}: "${text}" is not a duration (examples: 500ms, 30s, 5m, 1h)`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * factor);
}

function parseAddress(text: string, flag: string): RunOptions['healthAddress'] {
  if (text === '') return undefined;
  const match = /^(.*):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new UsageError(`${flag}: "${text}" is not HOST:PORT (for example :9090 or 127.0.0.1:9090)`);
  return { host: match[1] || '0.0.0.0', port };
}

function webhookTls(
  values: { 'tls-cert-file'?: string; 'tls-key-file'?: string; 'self-signed': boolean; 'self-signed-hosts'?: string },
  controllerNamespace: string,
): WebhookOptions['tls'] {
  const certFile = values['tls-cert-file'];
  const keyFile = values['tls-key-file'];
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert-file and --tls-key-file go together');
  if (certFile && keyFile) {
    if (values['self-signed']) throw new UsageError('--self-signed and --tls-cert-file exclude each other');
    return { kind: 'files', certFile, keyFile };
  }
  if (!values['self-signed']) return undefined;
  const hosts = values['self-signed-hosts']
    ? values['self-signed-hosts'].split(',').map((host) => host.trim()).filter(Boolean)
    : [`meshinit.${controllerNamespace}.svc`, `meshinit.${controllerNamespace}.svc.cluster.local`, 'localhost', '127.0.0.1'];
  if (hosts.length === 0) throw new UsageError('--self-signed-hosts needs at least one name or IP');
  return { kind: 'self-signed', hosts };
}

/** kube-controller-manager spells it --leader-elect=false; parseArgs knows --no-leader-elect. */
function leaderElectFlagSpelling(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    const match = /^--leader-elect=(.*)$/.exec(arg);
    if (!match) return arg;
    if (match[1] === 'true') return '--leader-elect';
    if (match[1] === 'false') return '--no-leader-elect';
    throw new UsageError(`--leader-elect: "${match[1]}" must be true or false`);
  });
}

function parseLeaderElection(
  values: {
    'leader-elect': boolean; 'leader-elect-lease-duration': string; 'leader-elect-renew-deadline': string; 'leader-elect-retry-period': string;
    'leader-elect-resource-lock': string; 'leader-elect-resource-name': string; 'leader-elect-resource-namespace'?: string;
  },
  controllerNamespace: string,
  env: Readonly<Record<string, string | undefined>>,
): LeaderElectionOptions {
  const leaseDurationMs = parseDuration(values['leader-elect-lease-duration'], '--leader-elect-lease-duration');
  const renewDeadlineMs = parseDuration(values['leader-elect-renew-deadline'], '--leader-elect-renew-deadline');
  const retryPeriodMs = parseDuration(values['leader-elect-retry-period'], '--leader-elect-retry-period');
  try {
    validateTimings({ leaseDurationMs, renewDeadlineMs, retryPeriodMs });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const resourceLock = values['leader-elect-resource-lock'];
  if (resourceLock !== 'auto' && resourceLock !== 'leases' && resourceLock !== 'configmaps') {
    throw new UsageError(`--leader-elect-resource-lock: "${resourceLock}" must be auto, leases or configmaps`);
  }
  return {
    enabled: values['leader-elect'],
    identity: `${env.POD_NAME || os.hostname()}_${randomUUID()}`,
    leaseDurationMs, renewDeadlineMs, retryPeriodMs, resourceLock,
    namespace: values['leader-elect-resource-namespace'] ?? controllerNamespace,
    name: values['leader-elect-resource-name'],
  };
}

export interface ParsedRun {
  help: boolean;
  options: RunOptions;
}

export function parseRunOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedRun {
  let values;
  try {
    ({ values } = parseArgs({
      strict: true,
      allowPositionals: false,
      options: {
        mode: { type: 'string', default: 'auto' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string', multiple: true },
        concurrency: { type: 'string', default: '128' },
        'initializer-name': { type: 'string', default: DEFAULT_INITIALIZER_NAME },
        'controller-namespace': { type: 'string' },
        'job-pods': { type: 'boolean', default: false },
        'log-format': { type: 'string', default: 'json' },
        'log-level': { type: 'string', default: 'info' },
        'health-addr': { type: 'string', default: ':9090' },
        'resync-period': { type: 'string', default: '5m' },
        'watch-timeout': { type: 'string', default: '5m' },
        'request-timeout': { type: 'string', default: '30s' },
        'webhook-addr': { type: 'string', default: ':8443' },
        'tls-cert-file': { type: 'string' },
        'tls-key-file': { type: 'string' },
        'self-signed': { type: 'boolean', default: false },
        'self-signed-hosts': { type: 'string' },
        'webhook-config-name': { type: 'string', default: 'meshinit' },
        target: { type: 'string', default: 'pods' },
        'leader-elect': { type: 'boolean', default: true },
        'leader-elect-lease-duration': { type: 'string', default: '15s' },
        'leader-elect-renew-deadline': { type: 'string', default: '10s' },
        'leader-elect-retry-period': { type: 'string', default: '2s' },
        'leader-elect-resource-lock': { type: 'string', default: 'auto' },
        'leader-elect-resource-name': { type: 'string', default: 'meshinit' },
        'leader-elect-resource-namespace': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      args: leaderElectFlagSpelling(argv),
      allowNegative: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; see meshinit run --help`);
  }
  if (values.mode !== 'auto' && values.mode !== 'initializer' && values.mode !== 'webhook') {
    throw new UsageError(`--mode: "${values.mode}" must be auto, initializer or webhook`);
  }
  if (values.target !== 'pods' && values.target !== 'workloads') throw new UsageError(`--target: "${values.target}" must be pods or workloads`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) {
    throw new UsageError(`--concurrency: "${values.concurrency}" must be a whole number from 1 to 1024`);
  }
  if (values['log-format'] !== 'json' && values['log-format'] !== 'text') throw new UsageError(`--log-format: "${values['log-format']}" must be json or text`);
  if (!(LOG_LEVELS as readonly string[]).includes(values['log-level'])) throw new UsageError(`--log-level: "${values['log-level']}" must be one of ${LOG_LEVELS.join(', ')}`);
  const watchTimeoutMs = parseDuration(values['watch-timeout'], '--watch-timeout');
  if (watchTimeoutMs < 1000) throw new UsageError('--watch-timeout must be at least 1s');
  const controllerNamespace = values['controller-namespace'] ?? env.POD_NAMESPACE ?? 'meshinit-system';
  const webhookAddress = parseAddress(values['webhook-addr'], '--webhook-addr');
  if (!webhookAddress) throw new UsageError('--webhook-addr must not be empty');
  const leaderElection = parseLeaderElection(values, controllerNamespace, env);
  const options: RunOptions = {
    mode: values.mode,
    kubeconfig: values.kubeconfig,
    namespaces: Object.freeze([...new Set(values.namespace ?? [])]),
    concurrency,
    initializerName: values['initializer-name'],
    controllerNamespace,
    jobPods: values['job-pods'],
    logFormat: values['log-format'],
    logLevel: values['log-level'] as LogLevel,
    healthAddress: parseAddress(values['health-addr'], '--health-addr'),
    resyncPeriodMs: parseDuration(values['resync-period'], '--resync-period'),
    watchTimeoutSeconds: Math.round(watchTimeoutMs / 1000),
    requestTimeoutMs: parseDuration(values['request-timeout'], '--request-timeout'),
    webhook: {
      address: webhookAddress,
      tls: webhookTls(values, controllerNamespace),
      configurationName: values['webhook-config-name'],
      target: values.target,
    },
    leaderElection,
  };
  if (options.mode === 'webhook' && options.webhook.tls === undefined) {
    throw new UsageError('webhook mode needs a serving certificate: pass --tls-cert-file and --tls-key-file, or --self-signed');
  }
  return { help: values.help, options: Object.freeze(options) };
}
