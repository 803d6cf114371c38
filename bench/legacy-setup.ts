// What every Initializer-mode runner starts from: kube-apiserver v1.13.0 with meshinit's namespace,
// RBAC, CRD, the sample MeshConfig and the InitializerConfiguration, and the server already holding
// new Deployments for meshinit (it polls InitializerConfigurations once a second).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseMeshConfig } from '../controller/core/meshconfig.ts';
import { WORKLOAD_KINDS, type MeshConfig } from '../controller/core/types.ts';
import { startControlPlane, type ControlPlane } from '../test/control-plane/control-plane.ts';
import { MeshinitProcess, mustCreate, readYaml, waitForPendingList, waitUntil } from '../test/e2e/cluster.ts';
import { repoRoot } from '../test/support/transcripts.ts';

export const OURS = 'sidecar.initializer.meshinit.dev';

/**
 * The sample MeshConfig as the benchmarks install it: its `kinds` cut to the four the Initializer
 * mode holds. The sample lists every pod-template kind since issue 12, and a meshinit built from an
 * older commit (the same-run `before` contenders) refuses those kinds, ignores the whole MeshConfig
 * and injects nothing -- which would make it look fast.
 */
export function benchMeshConfigObject(): Record<string, unknown> {
  const sample = readYaml('manifests/meshconfig-sample.yaml')[0]!;
  const spec = sample.spec as Record<string, unknown>;
  return { ...sample, spec: { ...spec, kinds: [...WORKLOAD_KINDS] } };
}

/** meshinit's namespace, RBAC, CRD and the sample MeshConfig; not the InitializerConfiguration (nothing is held yet). */
export async function installMeshinit(plane: ControlPlane): Promise<MeshConfig> {
  for (const file of ['manifests/initializer/namespace.yaml', 'manifests/initializer/rbac.yaml', 'manifests/initializer/leader-election-rbac.yaml']) for (const doc of readYaml(file)) await mustCreate(plane, doc);
  await mustCreate(plane, readYaml('crds/meshconfig.v1beta1.yaml')[0]!);
  await waitUntil(async () => ((await plane.request('GET', '/apis/meshinit.dev/v1alpha1/meshconfigs')).status === 200 ? true : undefined), 'the CRD served');
  const parsed = parseMeshConfig(await mustCreate(plane, benchMeshConfigObject()));
  if (!parsed.ok) throw new Error(`the sample MeshConfig: ${parsed.error.message}`);
  return parsed.meshConfig;
}

export async function startInitializerPlane(): Promise<{ plane: ControlPlane; meshConfig: MeshConfig }> {
  const plane = await startControlPlane({ release: 'v1.13.0' });
  try {
    const meshConfig = await installMeshinit(plane);
    await mustCreate(plane, readYaml('manifests/initializer/initializerconfiguration.yaml')[0]!);
    await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-probe' } });
    await waitForPendingList(plane, (n) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `probe-${n}`, namespace: 'bench-probe' }, spec: { selector: { matchLabels: { app: 'p' } }, template: { metadata: { labels: { app: 'p' } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } } }), [OURS]);
    return { plane, meshConfig };
  } catch (error) {
    await plane.stop();
    throw error;
  }
}

/** An initializer process under test: its pid (for CPU from /proc) and how to stop it. */
export interface Contender {
  pid?: number;
  stop(): Promise<void>;
}

/** bench/minimal-initializer.ts in its own process, watching `namespace`; resolves once it watches. */
export async function startMinimalInitializer(plane: ControlPlane, namespace: string, options: { meshinitPatch?: boolean } = {}): Promise<Contender> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench/minimal-initializer.ts'), plane.adminKubeconfigPath, namespace, ...(options.meshinitPatch ? ['--meshinit-patch'] : [])], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('ready')) resolve(); });
    child.once('exit', (code) => reject(new Error(`minimal initializer exited ${code}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { ...(child.pid ? { pid: child.pid } : {}), stop: async () => { child.kill('SIGTERM'); await exited; } };
}

/**
 * The compiled meshinit with default flags (plus `flags`), injecting only `namespace`; resolves
 * once running. `root`: another build of it (see baselineBuild).
 */
export async function startMeshinit(plane: ControlPlane, namespace: string, flags: string[] = [], nodeFlags: string[] = [], root = repoRoot): Promise<Contender> {
  const meshinit = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--namespace', namespace, ...flags], nodeFlags, root);
  await meshinit.waitForLog((line) => line.message === 'Initializer controller running', 'meshinit running', 30_000);
  return { ...(meshinit.pid ? { pid: meshinit.pid } : {}), stop: async () => { await meshinit.stop(); } };
}

/** meshinit as it was before issue 9's work: the same-run baseline for its CPU per 1,000 workloads. */
export const BASELINE_COMMIT = 'e332a78';

/**
 * A build of meshinit at `commit` (this repository's history), made once under
 * .cache/bench-baseline/ with this checkout's node_modules; returns its root.
 */
export function baselineBuild(commit = BASELINE_COMMIT): string {
  const root = path.join(repoRoot, '.cache', 'bench-baseline', commit);
  if (fs.existsSync(path.join(root, 'dist', 'controller', 'entry.js'))) return root;
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const archive = execFileSync('git', ['-C', repoRoot, 'archive', commit, 'bin', 'controller', 'package.json', 'tsconfig.json', 'tsconfig.build.json'], { maxBuffer: 64 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', root], { input: archive });
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'));
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  return root;
}
