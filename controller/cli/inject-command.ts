// `meshinit inject`: what the controller does to a workload on the cluster, done to manifest files,
// so the result can be reviewed and committed. Everything is computed before anything is written:
// a run that fails writes nothing to stdout, and a pipeline never sees half a stream.
import { parseArgs } from 'node:util';
import { parseMeshConfig } from '../core/meshconfig.ts';
import { planWorkloadInjection } from '../core/plan.ts';
import type { KubeServer, MeshConfig, PodTemplateCarrier } from '../core/types.ts';
import { injectedNotes, recogniseInjectable, skippedNote } from './inject-notes.ts';
import { inputLabel, InputError, message, readInput, type InputIo } from './input.ts';
import { unifiedDiff } from './line-diff.ts';
import { defaultMeshConfigPath, DEFAULT_MESHCONFIG_RELATIVE_PATH } from './default-meshconfig.ts';
import { withValue, type Manifest } from './manifest.ts';
import { KUBE_VERSION_HELP, kubeVersionServer } from './kube-version-flag.ts';

/** The YAML side (the yaml package), imported once the flags ask for a run. */
type ManifestStreams = typeof import('./inject-manifests.ts');

export interface InjectIo extends InputIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const INJECT_HELP = `meshinit inject: put the mesh sidecar into manifests offline, as the controller would on the cluster.

Usage:
  meshinit inject -f FILE [-f FILE...] [flags]

Flags:
  -f, --filename FILE           Manifest file to inject; repeatable; "-" reads stdin. Multi-document
                                YAML or JSON; the items of a "kind: List" are injected in the List.
      --meshconfig FILE         The MeshConfig to inject with (one YAML or JSON document). Default:
                                the sample shipped with meshinit, ${DEFAULT_MESHCONFIG_RELATIVE_PATH}
                                in the meshinit package.
  -o, --output yaml|json        yaml (default): the documents, in input order, separated by "---".
                                json: one v1 List holding every object.
      --diff                    Print a unified diff (diff -u) of each file against its injected
                                version instead of the result; nothing for a file left unchanged.
                                Lines are compared without a trailing carriage return (CRLF input
                                is not reported as changed everywhere). Apply with: patch -p0
  -n, --namespace NS            Namespace of documents without metadata.namespace (default "default").
      --controller-namespace NS meshinit's own namespace; its workloads are never injected (default: none).
${KUBE_VERSION_HELP}
  -h, --help                    Show this help.

Every kind that carries a pod template is injected when the MeshConfig selects it and policy
allows it: Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicaSets,
ReplicationControllers, OpenShift DeploymentConfigs and bare Pods; everything else (Services,
ConfigMaps, comments) is printed unchanged. For a CronJob, ReplicaSet, ReplicationController,
DeploymentConfig or bare Pod a note on stderr says which modes on a cluster would not inject it.
A pod template that has another mesh's sidecar (Istio, Linkerd, Consul, Kuma, or a container the
MeshConfig lists in spec.conflictingContainers) is skipped with a warning, whatever failurePolicy.
A skipped workload is printed unchanged and the reason goes to stderr. Only manifests go to stdout.
Each file comes back as written except for the injected lines: indentation, comments, quoting,
anchors and aliases, line endings (CRLF), "---" and "..." markers and a List's wrapper are kept,
and JSON stays JSON with its indentation. An alias whose target the injection would change is
written out in full at that one place; the anchor and its other users keep their value.

Offline, meshinit cannot see the cluster:
  - namespace labels are unknown and taken as empty: a namespace labelled
    meshinit.dev/injection=disabled, or one a MeshConfig namespaceSelector would not match, is
    not recognised as such. Check the MeshConfig's namespaceSelector against your namespaces.
  - {{workload.namespace}} renders as metadata.namespace, else --namespace: apply the output there.
  - only the one MeshConfig given is considered, not every MeshConfig on the cluster.
Workloads in kube-system, kube-public and kube-node-lease are never injected. Injecting an
already injected manifest changes nothing; after a MeshConfig change it updates the sidecar.

Examples:
  meshinit inject -f examples/app.yaml > app.injected.yaml
  meshinit inject -f app.yaml -f jobs.yaml --meshconfig mesh.yaml -n shop
  kubectl get deploy web -o yaml | meshinit inject -f - | kubectl apply -f -
  meshinit inject -f app.yaml -o json
  meshinit inject -f app.yaml --diff

Exit codes:
  0  success (skipped workloads and failurePolicy Ignore warnings included); with --diff, 0
     whether or not a file would change, as "istioctl kube-inject" does (not like diff(1))
  1  a workload cannot be injected and the MeshConfig has failurePolicy: Fail
  2  bad input: unknown flag or value, no -f, unreadable file, unparsable YAML or JSON, invalid MeshConfig
`;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface InjectOptions {
  files: string[];
  meshConfigFile: string | undefined;
  output: 'yaml' | 'json';
  diff: boolean;
  namespace: string;
  controllerNamespace: string | undefined;
  /** --kube-version, or unknown: decides the sidecar layout of nativeSidecar Auto and Always. */
  server: KubeServer;
}

class UsageError extends Error {}

function checkNamespace(flag: string, value: string | undefined): void {
  if (value !== undefined && (!DNS1123_LABEL.test(value) || value.length > 63)) {
    throw new UsageError(`${flag} ${JSON.stringify(value)} is not a valid namespace name`);
  }
}

/** `undefined` for --help; a UsageError for anything parseArgs or the checks below refuse. */
function parseFlags(argv: readonly string[]): InjectOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        meshconfig: { type: 'string' },
        output: { type: 'string', short: 'o' },
        diff: { type: 'boolean' },
        namespace: { type: 'string', short: 'n' },
        'controller-namespace': { type: 'string' },
        'kube-version': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(message(error));
  }
  if (values.help) return undefined;
  const files = values.filename ?? [];
  if (files.length === 0) throw new UsageError('no input: give at least one -f FILE (-f - reads stdin)');
  if (files.filter((file) => file === '-').length > 1) throw new UsageError('-f - (stdin) can be given only once');
  if (files.includes('')) throw new UsageError('-f needs a file name');
  if (values.meshconfig === '-' && files.includes('-')) throw new UsageError('stdin cannot be read for both -f - and --meshconfig -');
  const output = values.output ?? 'yaml';
  if (output !== 'yaml' && output !== 'json') throw new UsageError(`-o must be yaml or json, got ${JSON.stringify(output)}`);
  if (values.diff && values.output !== undefined) throw new UsageError('--diff compares YAML: it cannot be combined with -o');
  checkNamespace('--namespace', values.namespace);
  checkNamespace('--controller-namespace', values['controller-namespace']);
  const server = kubeVersionServer(values['kube-version']);
  if (typeof server === 'string') throw new UsageError(server);
  return {
    files,
    meshConfigFile: values.meshconfig,
    output,
    diff: values.diff === true,
    namespace: values.namespace ?? 'default',
    controllerNamespace: values['controller-namespace'],
    server,
  };
}

async function loadMeshConfig(file: string | undefined, server: KubeServer, io: InjectIo, streams: ManifestStreams): Promise<MeshConfig> {
  const location = file ?? defaultMeshConfigPath();
  if (location === undefined) {
    throw new InputError(`cannot find meshinit's package directory for the default MeshConfig (${DEFAULT_MESHCONFIG_RELATIVE_PATH}); give --meshconfig FILE`);
  }
  const source = await readInput(location, io);
  const document = streams.parseSingleDocument(source, location);
  if (!document.ok) throw new InputError(document.message);
  const parsed = parseMeshConfig(document.value, server);
  if (!parsed.ok) {
    const name = parsed.error.meshConfigName || '(unnamed)';
    throw new InputError(`${location}: invalid MeshConfig ${name}:\n${parsed.error.problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
  return parsed.meshConfig;
}

interface Outcome {
  manifest: Manifest;
  /** Lines for stderr, in document order. */
  notes: string[];
  /** An injection error under failurePolicy Fail. */
  failed: boolean;
}

function injectManifest(manifest: Manifest, meshConfig: MeshConfig, options: InjectOptions): Outcome {
  const recognised = recogniseInjectable(manifest.value);
  if (recognised === undefined) return { manifest, notes: [], failed: false };
  if (!recognised.ok) {
    return { manifest, notes: [`meshinit: warning: ${manifest.origin}: ${recognised.reason}; printed unchanged`], failed: false };
  }
  const workload = recognised.value;
  const namespace = workload.metadata.namespace ?? options.namespace;
  // The namespace is filled in for policy and for {{workload.namespace}}, but not written out:
  // a manifest without one stays applicable with `kubectl apply -n`.
  const planned = planWorkloadInjection(
    { ...workload, metadata: { ...workload.metadata, namespace } },
    {
      namespace: { name: namespace, labels: {} },
      meshConfigs: [meshConfig],
      ...(options.controllerNamespace !== undefined ? { controllerNamespace: options.controllerNamespace } : {}),
    },
  );
  switch (planned.action) {
    case 'skip':
      return { manifest, notes: [skippedNote(workload, namespace, planned)], failed: false };
    case 'error': {
      const policy = planned.meshConfig.spec.failurePolicy;
      if (policy === 'Fail') {
        return { manifest, notes: [`meshinit: ${manifest.origin}: ${planned.error.message} (MeshConfig ${planned.meshConfig.name} has failurePolicy Fail)`], failed: true };
      }
      const note = `meshinit: warning: ${manifest.origin}: ${planned.error.message}; printed unchanged (MeshConfig ${planned.meshConfig.name} has failurePolicy Ignore)`;
      return { manifest, notes: [note], failed: false };
    }
    case 'inject': {
      const notes = injectedNotes(manifest.origin, workload, namespace);
      if (!planned.changed) return { manifest, notes, failed: false };
      const injected: PodTemplateCarrier = { ...planned.object, metadata: { ...planned.object.metadata } };
      if (workload.metadata.namespace === undefined) delete injected.metadata.namespace;
      return { manifest: withValue(manifest, injected), notes, failed: false };
    }
  }
}

interface InputFile {
  label: string;
  source: string;
  /** How many of the manifests, in order, came from this file. */
  count: number;
}

/**
 * One `diff -u` per input file, against the YAML its manifests become. A file none of whose
 * manifests changed gets no diff at all, whatever its formatting would turn into when re-rendered.
 */
function fileDiffs(inputs: readonly InputFile[], before: readonly Manifest[], after: readonly Manifest[], streams: ManifestStreams): string {
  let at = 0;
  let out = '';
  for (const input of inputs) {
    const range = { from: at, to: at + input.count };
    at = range.to;
    const changed = after.slice(range.from, range.to).some((manifest, index) => manifest !== before[range.from + index]);
    if (!changed) continue;
    // A tab ends the file name in the header, as diff -u puts its timestamp there: patch -p0 finds the file.
    out += unifiedDiff({ oldText: input.source, newText: streams.renderYaml(after.slice(range.from, range.to)), oldLabel: `${input.label}\t(original)`, newLabel: `${input.label}\t(injected by meshinit)` });
  }
  return out;
}

/** Runs `meshinit inject ARGS`; returns the exit code (0, 1 or 2, see INJECT_HELP). */
export async function runInjectCommand(argv: readonly string[], io: InjectIo): Promise<number> {
  let options: InjectOptions | undefined;
  try {
    options = parseFlags(argv);
  } catch (error) {
    io.stderr.write(`meshinit: ${message(error)}\nRun "meshinit inject --help" for usage.\n`);
    return 2;
  }
  if (options === undefined) {
    io.stdout.write(INJECT_HELP);
    return 0;
  }

  const streams = await import('./inject-manifests.ts');
  // Read and parse everything first: bad input anywhere is exit 2 before any workload is judged.
  let meshConfig: MeshConfig;
  const inputs: InputFile[] = [];
  const manifests: Manifest[] = [];
  const parseWarnings: string[] = [];
  try {
    meshConfig = await loadMeshConfig(options.meshConfigFile, options.server, io, streams);
    for (const file of options.files) {
      const source = await readInput(file, io);
      const parsed = streams.parseManifests(source, inputLabel(file));
      if (!parsed.ok) throw new InputError(parsed.message);
      inputs.push({ label: inputLabel(file), source, count: parsed.manifests.length });
      manifests.push(...parsed.manifests);
      parseWarnings.push(...parsed.warnings.map((warning) => `meshinit: warning: ${warning}`));
    }
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    io.stderr.write(`meshinit: ${error.message}\n`);
    return 2;
  }

  const outcomes = manifests.map((manifest) => injectManifest(manifest, meshConfig, options));
  // Once, not per document: the layout is the MeshConfig's, the same for every workload.
  const layoutNote = meshConfig.layout.note !== undefined ? [`meshinit: note: MeshConfig ${meshConfig.name}: ${meshConfig.layout.note}`] : [];
  const notes = [...parseWarnings, ...layoutNote, ...outcomes.flatMap((outcome) => outcome.notes)];
  if (notes.length > 0) io.stderr.write(`${notes.join('\n')}\n`);
  if (outcomes.some((outcome) => outcome.failed)) return 1;
  const results = outcomes.map((outcome) => outcome.manifest);
  if (options.diff) {
    io.stdout.write(fileDiffs(inputs, manifests, results, streams));
    return 0;
  }
  io.stdout.write(options.output === 'json' ? streams.renderJsonList(results) : streams.renderYaml(results));
  return 0;
}
