// Helpers for end-to-end tests on the real control plane: apply YAML through the API, run the
// compiled meshinit as a child process and read its JSON log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane, Identity } from '../control-plane/control-plane.ts';
import { repoRoot } from '../support/transcripts.ts';

export type Json = Record<string, unknown>;

export function readYaml(relPath: string): Json[] {
  return parseAllDocuments(fs.readFileSync(path.join(repoRoot, relPath), 'utf8')).map((doc) => doc.toJS() as Json).filter(Boolean);
}

const PLURALS: Record<string, string> = {
  Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings',
  Service: 'services', Deployment: 'deployments', PodDisruptionBudget: 'poddisruptionbudgets', MutatingWebhookConfiguration: 'mutatingwebhookconfigurations',
  CustomResourceDefinition: 'customresourcedefinitions', MeshConfig: 'meshconfigs', Pod: 'pods', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets',
  Job: 'jobs', CronJob: 'cronjobs', ReplicaSet: 'replicasets', ReplicationController: 'replicationcontrollers', ConfigMap: 'configmaps', Role: 'roles', RoleBinding: 'rolebindings', SubjectAccessReview: 'subjectaccessreviews', InitializerConfiguration: 'initializerconfigurations',
};
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'CustomResourceDefinition', 'MeshConfig', 'SubjectAccessReview', 'InitializerConfiguration']);

export function collectionPath(object: Json, namespace?: string): string {
  const apiVersion = String(object.apiVersion);
  const kind = String(object.kind);
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`no plural known for ${kind}`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = CLUSTER_SCOPED.has(kind) ? undefined : ((object.metadata as Json | undefined)?.namespace as string | undefined) ?? namespace ?? 'default';
  return ns ? `${base}/namespaces/${ns}/${plural}` : `${base}/${plural}`;
}

export interface Created { status: number; object: Json }

export async function create(plane: ControlPlane, object: Json, options: { as?: Identity; dryRun?: boolean; namespace?: string } = {}): Promise<Created> {
  const reply = await plane.request('POST', `${collectionPath(object, options.namespace)}${options.dryRun ? '?dryRun=All' : ''}`, { body: object, ...(options.as ? { as: options.as } : {}) });
  return { status: reply.status, object: JSON.parse(reply.body) as Json };
}

export async function mustCreate(plane: ControlPlane, object: Json, options: { dryRun?: boolean; namespace?: string } = {}): Promise<Json> {
  const created = await create(plane, object, options);
  if (created.status !== 201 && created.status !== 200) throw new Error(`creating ${String(object.kind)} ${String((object.metadata as Json).name)}: ${created.status} ${JSON.stringify(created.object)}`);
  return created.object;
}

/**
 * Initializer-era servers read InitializerConfigurations by polling them once a second
 * (k8s.io/apiserver admission/configuration, defaultInterval), so for up to a second after an
 * apply new objects are not held yet. Creates probes (`probe(n)`) with includeUninitialized=1 (1.9
 * ignores "true" on a create), so the answer comes at once, deletes each, and waits until their
 * pending list is `expected`.
 */
export async function waitForPendingList(plane: ControlPlane, probe: (n: number) => Json, expected: string[], timeoutMs = 30_000): Promise<void> {
  let n = 0;
  let last: string[] = [];
  await waitUntil(async () => {
    const object = probe(++n);
    const reply = await plane.request('POST', `${collectionPath(object)}?includeUninitialized=1`, { body: object });
    if (reply.status !== 201 && reply.status !== 202) throw new Error(`probe create of ${String(object.kind)}: ${reply.status} ${reply.body}`);
    const created = JSON.parse(reply.body) as Json;
    const metadata = created.metadata as Json;
    const initializers = metadata.initializers as { pending?: Array<{ name: string }> } | undefined;
    last = (initializers?.pending ?? []).map((entry) => entry.name);
    await plane.request('DELETE', `${collectionPath(created)}/${String(metadata.name)}`);
    return JSON.stringify(last) === JSON.stringify(expected) ? true : undefined;
  }, `new ${String(probe(0).kind)}s to get pending ${JSON.stringify(expected)} (last probe: ${JSON.stringify(last)})`, timeoutMs);
}

export async function waitUntil<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The compiled meshinit (npm test builds dist/ first), with its JSON log lines parsed as they come. */
export class MeshinitProcess {
  readonly lines: Json[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private stderrText = '';

  /** `nodeArgs`: flags for node itself, e.g. --cpu-prof (refused in NODE_OPTIONS); `root`: another build's checkout (benchmarks). */
  constructor(args: string[], nodeArgs: string[] = [], root = repoRoot) {
    this.child = spawn(process.execPath, [...nodeArgs, path.join(root, 'bin/meshinit.js'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const line of parts) {
        this.stderrText += `${line}\n`;
        try {
          this.lines.push(JSON.parse(line) as Json);
        } catch {
          // Not a log line (a usage message): kept in stderrText only.
        }
      }
    };
    this.child.stderr?.on('data', onData);
    this.child.stdout?.on('data', onData);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get output(): string {
    return this.stderrText;
  }

  async waitForLog(predicate: (line: Json) => boolean, what: string, timeoutMs = 20_000): Promise<Json> {
    return waitUntil(async () => {
      const found = this.lines.find(predicate);
      if (found) return found;
      // A process that has exited will never log it: say so now, with what it printed.
      if (this.child.exitCode !== null) throw new Error(`meshinit exited with code ${this.child.exitCode} before logging ${what}:\n${this.stderrText.slice(-3000)}`);
      return undefined;
    }, `meshinit log: ${what}\n${this.stderrText.slice(-3000)}`, timeoutMs);
  }

  /** The process id, for measurements (/proc/PID/stat). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** SIGSTOP/SIGCONT: a process frozen and thawed (a stalled node, a long GC pause). */
  signal(name: 'SIGSTOP' | 'SIGCONT'): void {
    this.child.kill(name);
  }

  /** SIGKILL: no chance to finish anything, as when a node dies. */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

/** Creates the v1 MeshConfig CRD and waits until the server serves it (Established). */
export async function installMeshConfigCrd(plane: ControlPlane): Promise<void> {
  await mustCreate(plane, readYaml('crds/meshconfig.v1.yaml')[0]!);
  await waitUntil(async () => {
    const reply = await plane.request('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/meshconfigs.meshinit.dev');
    const crd = JSON.parse(reply.body) as { status?: { conditions?: Array<{ type: string; status: string }> } };
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  }, 'the MeshConfig CRD to be established');
}

export interface CommandResult { code: number | null; stdout: string; stderr: string; ms: number }

/**
 * kubectl, as README.md has users run it: from the repository root (relative file paths), with the
 * given kubeconfig and nothing from the environment's KUBECONFIG.
 */
export function kubectl(kubeconfig: string, args: string[], options: { timeoutMs?: number } = {}): Promise<CommandResult> {
  const env = { ...process.env };
  delete env['KUBECONFIG'];
  return runCommand('kubectl', ['--kubeconfig', kubeconfig, ...kubectlCacheArgs(kubeconfig), ...args], { env, ...options });
}

/**
 * A discovery cache of kubectl's own next to the kubeconfig (in the control plane's folder, gone
 * with it). kubectl caches discovery per host:port in ~/.kube/cache for minutes, and the planes of
 * one test run reuse ports: a v1.36.3 server on a port a v1.13.0 one had was asked for
 * `deployments.extensions` from the old cache and answered NotFound (seen in CI).
 */
function kubectlCacheArgs(kubeconfig: string): string[] {
  return ['--cache-dir', path.join(path.dirname(kubeconfig), '.kubectl-cache')];
}

/** A command run from the repository root, its output collected; SIGKILLed after `timeoutMs` (default 90 s). */
export function runCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(command)} could not be started (is it on PATH?): ${error.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * kube-apiserver v1.13.0 on a loaded machine has answered a create 200 with an empty body (seen in
 * the Initializer e2e for a create and a SubjectAccessReview, and in CI for one object of a
 * `kubectl apply -f`, which kubectl reports as "unexpected end of JSON input"). The object was
 * stored; `kubectl apply` is idempotent, so applying again is what an operator would do.
 */
const EMPTY_ANSWER = 'unexpected end of JSON input';

/** kubectl that must succeed; the error carries what it printed. */
export async function mustKubectl(kubeconfig: string, args: string[], options: { timeoutMs?: number } = {}): Promise<CommandResult> {
  let result = await kubectl(kubeconfig, args, options);
  if (result.code !== 0 && args[0] === 'apply' && result.stderr.includes(EMPTY_ANSWER)) {
    console.log(`      note: kubectl ${args.join(' ')} met an empty answer from the server ("${EMPTY_ANSWER}"); applied again`);
    result = await kubectl(kubeconfig, args, options);
  }
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return result;
}

/** `kubectl apply -f` of one object, written to a file of its own in `dir`, as a user applies a manifest. */
export async function kubectlApplyObject(kubeconfig: string, dir: string, object: Json, extraArgs: string[] = []): Promise<void> {
  const file = path.join(dir, `${String((object.metadata as Json | undefined)?.name ?? 'object')}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.json`);
  fs.writeFileSync(file, JSON.stringify(object));
  await mustKubectl(kubeconfig, ['apply', ...extraArgs, '-f', file]);
}

/** `kubectl proxy` on a free port: an http:// endpoint in front of the server, as the kubeconfig's identity. */
export async function startKubectlProxy(kubeconfig: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const env = { ...process.env };
  delete env['KUBECONFIG'];
  const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...kubectlCacheArgs(kubeconfig), 'proxy', '--address', '127.0.0.1', '--port', String(port)], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitUntil(async () => (output.includes('Starting to serve') ? true : child.exitCode !== null ? (() => { throw new Error(`kubectl proxy exited: ${output}`); })() : undefined), 'kubectl proxy to serve');
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A kubeconfig file for a plain http:// server (the insecure port, kubectl proxy), as kubectl would write it: no TLS settings at all. */
export function plainHttpKubeconfig(dir: string, server: string): string {
  const file = path.join(dir, `kubeconfig-http-${new URL(server).port}.yaml`);
  fs.writeFileSync(file, [
    'apiVersion: v1', 'kind: Config', 'current-context: plain',
    `clusters: [{name: plain, cluster: {server: "${server}"}}]`,
    'users: [{name: anyone, user: {}}]',
    'contexts: [{name: plain, context: {cluster: plain, user: anyone}}]',
  ].join('\n'));
  return file;
}
