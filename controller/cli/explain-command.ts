// `meshinit explain`: why a workload was, or would be, injected or not. Offline (`-f FILE`) it
// judges manifests against MeshConfig files, as `meshinit inject` does; live (`KIND/NAME`) it reads
// the object, its Namespace and every MeshConfig from the cluster, read-only. Either way the
// verdicts come from the controller's own core (core/explain.ts). The live code, and with it
// @kubernetes/client-node, is loaded only for a live run: `explain -f` starts as fast as `inject`.
import { parseArgs } from 'node:util';
import { explainWorkload, type ExplainMode, type MeshConfigEntry } from '../core/explain.ts';
import { isRecord } from '../core/untrusted.ts';
import type { KubeServer, NamespaceInfo } from '../core/types.ts';
import { isPodTemplateKind, recognisePodTemplateCarrier } from '../core/workload.ts';
import { meshConfigEntries } from './explain-meshconfigs.ts';
import { parseResourceRef, type ResourceRef } from './explain-ref.ts';
import { renderExplainJson, renderExplainText, type ExplainReport, type PassedOver } from './explain-format.ts';
import { DEFAULT_MESHCONFIG_RELATIVE_PATH, defaultMeshConfigPath } from './default-meshconfig.ts';
import { inputLabel, InputError, message, readInput, type InputIo } from './input.ts';
import { KUBE_VERSION_HELP, kubeVersionServer } from './kube-version-flag.ts';
// Type only: the YAML side (the yaml package and the editors) is imported when a file is read, so
// `explain --help` and a live `explain KIND/NAME` never load it.
import type { Manifest } from './inject-manifests.ts';

export interface ExplainIo extends InputIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  version: string;
}

export const EXPLAIN_HELP = `meshinit explain: why a workload is (or would be) injected or not, in the controller's own words.

Usage:
  meshinit explain -f FILE [-f FILE...] [--meshconfig FILE...] [flags]     offline, from manifests
  meshinit explain KIND/NAME [-n NS] [--kubeconfig FILE] [flags]           live, read-only

For each object that carries a pod template (Deployment, StatefulSet, DaemonSet, Job, CronJob,
ReplicaSet, ReplicationController, DeploymentConfig, bare Pod) it prints every MeshConfig
considered (in the order they are tried: priority, then name) and why each one that lost did (namespaceSelector,
selector, kind, lower priority, invalid spec); the decision of each mode with its reason, the
same words the controller logs in the "reason" field of its decision line; what the sidecar adds
(containers, init containers and volumes with their images; a JSON Patch with -o json); and
whether the workload already carries the current injection, an older one, or none.

Flags:
  -f, --filename FILE           Manifests to explain; repeatable; "-" reads stdin. Multi-document
                                YAML or JSON; a "kind: List" is read item by item.
      --meshconfig FILE         MeshConfigs to judge with; repeatable; a file may hold several (or a
                                List, e.g. "kubectl get meshconfigs -o yaml"). Default: the sample
                                shipped with meshinit, ${DEFAULT_MESHCONFIG_RELATIVE_PATH}.
      --namespace-labels K=V,.. Offline: the labels of the workloads' namespace (default: none).
  -n, --namespace NS            Namespace of documents without one, or of KIND/NAME (default: the
                                kubeconfig context's namespace, else "default").
      --mode auto|initializer|webhook
                                Which mode's decision to show. auto (default): offline both, and
                                each line says which; live the mode "meshinit run --mode auto" picks
                                on that server (initializer where Initializers are served).
                                The webhook decision is --target workloads' (the pod template);
                                for the four workload kinds it holds for --target pods too (the
                                Pods judged as their workload); for the other kinds a line says
                                what --target pods does. The Initializer mode holds only
                                Deployments, StatefulSets, DaemonSets and Jobs ("not-held").
      --controller-namespace NS meshinit's own namespace, never injected (default: none).
${KUBE_VERSION_HELP}
                                Offline only: live, the server's own version is read.
      --kubeconfig FILE         Live: the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or the
                                Pod's service account in a cluster).
  -o, --output text|json        text (default) or JSON (shape in README "Explain").
  -h, --help                    Show this help.

KIND is any of those kinds as kubectl spells them: deploy/web, deployment.apps/web, sts/db,
ds/agent, job/migrate, cj/nightly, rs/web-7d4b9, rc/legacy, dc/app, pod/web-7d4b9-x2x1z (a Pod
with a controller is explained as its workload, a bare Pod as itself), or KIND NAME. Live,
meshinit needs get on the object and its Namespace, and list on meshconfigs.meshinit.dev (for
the four workload kinds, the read-only part of meshinit's own ClusterRole).

Exit codes:
  0  explained (whatever the decision)
  1  the input could not be read: an unreadable or unparsable file, an object not found, no
     MeshConfig CRD, a request the server refused (the message says what to do)
  2  usage: an unknown flag or value, neither -f nor KIND/NAME, or both
`;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface ExplainOptions {
  files: string[];
  ref: ResourceRef | undefined;
  meshConfigFiles: string[];
  namespace: string | undefined;
  namespaceLabels: Record<string, string>;
  mode: 'auto' | ExplainMode;
  controllerNamespace: string | undefined;
  kubeconfig: string | undefined;
  output: 'text' | 'json';
  /** Offline: --kube-version, or unknown (it decides the sidecar layout of nativeSidecar Auto and Always). */
  server: KubeServer;
}

class UsageError extends Error {}

function namespaceFlag(flag: string, value: string | undefined): string | undefined {
  if (value !== undefined && (!DNS1123_LABEL.test(value) || value.length > 63)) throw new UsageError(`${flag} ${JSON.stringify(value)} is not a valid namespace name`);
  return value;
}

function parseLabels(value: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of (value ?? '').split(',').filter((part) => part !== '')) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--namespace-labels: ${JSON.stringify(pair)} is not KEY=VALUE`);
    labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return labels;
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag} must be ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
}

/** `undefined` for --help. */
export function parseExplainFlags(argv: readonly string[]): ExplainOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        meshconfig: { type: 'string', multiple: true },
        'namespace-labels': { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        mode: { type: 'string' },
        'controller-namespace': { type: 'string' },
        kubeconfig: { type: 'string' },
        'kube-version': { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(message(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  const files = values.filename ?? [];
  if (files.length > 0 && positionals.length > 0) throw new UsageError('give either -f FILE (offline) or KIND/NAME (live), not both');
  if (files.length === 0 && positionals.length === 0) throw new UsageError('nothing to explain: give -f FILE (offline) or KIND/NAME (live)');
  if (files.includes('')) throw new UsageError('-f needs a file name');
  if (files.filter((file) => file === '-').length + (values.meshconfig ?? []).filter((file) => file === '-').length > 1) throw new UsageError('stdin ("-") can be read only once');
  const ref = positionals.length > 0 ? parseResourceRef(positionals) : undefined;
  if (typeof ref === 'string') throw new UsageError(ref);
  if (ref && values.meshconfig) throw new UsageError('--meshconfig is for -f: live, the MeshConfigs are read from the cluster');
  if (ref && values['namespace-labels'] !== undefined) throw new UsageError('--namespace-labels is for -f: live, the Namespace is read from the cluster');
  if (ref && values['kube-version'] !== undefined) throw new UsageError('--kube-version is for -f: live, the server\'s own version is read');
  const server = kubeVersionServer(values['kube-version']);
  if (typeof server === 'string') throw new UsageError(server);
  return {
    files,
    ref,
    meshConfigFiles: values.meshconfig ?? [],
    namespace: namespaceFlag('--namespace', values.namespace),
    namespaceLabels: parseLabels(values['namespace-labels']),
    mode: oneOf('--mode', values.mode, ['auto', 'initializer', 'webhook'] as const, 'auto'),
    controllerNamespace: namespaceFlag('--controller-namespace', values['controller-namespace']),
    kubeconfig: values.kubeconfig,
    output: oneOf('-o', values.output, ['text', 'json'] as const, 'text'),
    server,
  };
}

async function offlineMeshConfigs(options: ExplainOptions, io: ExplainIo): Promise<MeshConfigEntry[]> {
  const files = options.meshConfigFiles.length > 0 ? options.meshConfigFiles : [defaultMeshConfigPath()];
  const raws: unknown[] = [];
  for (const file of files) {
    if (file === undefined) throw new InputError(`cannot find meshinit's package directory for the default MeshConfig (${DEFAULT_MESHCONFIG_RELATIVE_PATH}); give --meshconfig FILE`);
    const parsed = (await import('./inject-manifests.ts')).parseManifests(await readInput(file, io), inputLabel(file));
    if (!parsed.ok) throw new InputError(parsed.message);
    for (const manifest of parsed.manifests) {
      if (manifest.value === null) continue;
      const kind = isRecord(manifest.value) ? manifest.value.kind : undefined;
      if (kind !== undefined && kind !== 'MeshConfig') throw new InputError(`${manifest.origin}: kind ${JSON.stringify(kind)} is not a MeshConfig`);
      raws.push(manifest.value);
    }
  }
  return meshConfigEntries(raws, options.server);
}

function describeDocument(manifest: Manifest): { kind: string; name: string } {
  const value = isRecord(manifest.value) ? manifest.value : {};
  const metadata = isRecord(value.metadata) ? value.metadata : {};
  return { kind: typeof value.kind === 'string' ? value.kind : '(no kind)', name: typeof metadata.name === 'string' ? metadata.name : '(unnamed)' };
}

async function explainOffline(options: ExplainOptions, io: ExplainIo): Promise<ExplainReport> {
  const meshConfigs = await offlineMeshConfigs(options, io);
  const manifests: Manifest[] = [];
  for (const file of options.files) {
    const parsed = (await import('./inject-manifests.ts')).parseManifests(await readInput(file, io), inputLabel(file));
    if (!parsed.ok) throw new InputError(parsed.message);
    manifests.push(...parsed.manifests.filter((manifest) => manifest.value !== null));
  }
  const modes: ExplainMode[] = options.mode === 'auto' ? ['initializer', 'webhook'] : [options.mode];
  const report: ExplainReport = { items: [], passedOver: [], notes: [] };
  for (const manifest of manifests) {
    const { kind, name } = describeDocument(manifest);
    const passOver = (reason: string): PassedOver => ({ source: manifest.origin, kind, name, reason });
    if (!isPodTemplateKind(kind)) {
      report.passedOver.push(passOver('not a workload meshinit injects'));
      continue;
    }
    const recognised = recognisePodTemplateCarrier(manifest.value);
    if (!recognised.ok) {
      report.passedOver.push(passOver(`malformed, the controller would release it unchanged: ${recognised.reason}`));
      continue;
    }
    const namespaceName = recognised.value.metadata.namespace ?? options.namespace ?? 'default';
    const namespace: NamespaceInfo = { name: namespaceName, labels: options.namespaceLabels };
    const workload = { ...recognised.value, metadata: { ...recognised.value.metadata, namespace: namespaceName } };
    const explanation = explainWorkload({
      workload,
      namespace,
      meshConfigs,
      modes,
      ...(options.controllerNamespace !== undefined ? { controllerNamespace: options.controllerNamespace } : {}),
    });
    report.items.push({ source: manifest.origin, explanation, namespaceLabelsKnown: false });
  }
  report.notes.push(
    options.meshConfigFiles.length > 0
      ? `offline: only the MeshConfigs in ${options.meshConfigFiles.map(inputLabel).join(', ')} are considered, not those on a cluster`
      : `offline: only the built-in MeshConfig (${DEFAULT_MESHCONFIG_RELATIVE_PATH}) is considered; give --meshconfig, or explain KIND/NAME live`,
  );
  return report;
}

/** Runs `meshinit explain ARGS`; returns the exit code (see EXPLAIN_HELP). */
export async function runExplainCommand(argv: readonly string[], io: ExplainIo): Promise<number> {
  let options: ExplainOptions | undefined;
  try {
    options = parseExplainFlags(argv);
  } catch (error) {
    io.stderr.write(`meshinit explain: ${message(error)}\nRun "meshinit explain --help" for usage.\n`);
    return 2;
  }
  if (options === undefined) {
    io.stdout.write(EXPLAIN_HELP);
    return 0;
  }
  let report: ExplainReport;
  try {
    if (options.ref) {
      const { explainLive } = await import('./explain-live.ts');
      report = await explainLive({ ...options, ref: options.ref }, io);
    } else {
      report = await explainOffline(options, io);
    }
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    io.stderr.write(`meshinit explain: ${error.message}\n`);
    return 1;
  }
  io.stdout.write(options.output === 'json' ? renderExplainJson(report) : renderExplainText(report));
  return 0;
}
