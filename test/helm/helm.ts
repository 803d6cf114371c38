// The helm CLI that `make helm` (test/helm/build.sh) builds from the module pinned in go.mod and
// caches beside the control plane, run the way README.md has users run it: from the repository
// root, with an explicit kubeconfig and nothing from the user's Helm or kubectl settings.
import { access, constants } from 'node:fs/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlPlaneCacheDir } from '../control-plane/control-plane.ts';
import { runCommand, type CommandResult } from '../e2e/cluster.ts';

const MODULE_DIR = path.dirname(fileURLToPath(import.meta.url));

/** The pinned helm version (test/helm/go.mod) and where build.sh caches its binary. */
export function helmBinary(): { version: string; path: string } {
  const goMod = fs.readFileSync(path.join(MODULE_DIR, 'go.mod'), 'utf8');
  const version = /^\s*helm\.sh\/helm\/v3\s+(v\d+\.\d+\.\d+)\b/m.exec(goMod)?.[1];
  if (!version) throw new Error('test/helm/go.mod does not require helm.sh/helm/v3');
  return { version, path: path.join(controlPlaneCacheDir(), `helm-${version}`, 'helm') };
}

/** Throws, saying which `make` target builds it, unless the binary is there. */
export async function findHelm(): Promise<string> {
  const { version, path: file } = helmBinary();
  try {
    await access(file, constants.X_OK);
  } catch {
    throw new Error(`helm binary missing: ${file}\nRun \`make helm\` at the repository root first (builds helm ${version} with Go, a few minutes).`);
  }
  return file;
}

// Helm keeps repositories, plugins and its cache under these; a test must neither read nor write
// the user's. One folder for the whole test process.
let helmHome: string | undefined;
function helmEnv(): NodeJS.ProcessEnv {
  helmHome ??= fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-helm-home-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HELM_CONFIG_HOME: path.join(helmHome, 'config'), HELM_CACHE_HOME: path.join(helmHome, 'cache'), HELM_DATA_HOME: path.join(helmHome, 'data') };
  delete env['KUBECONFIG'];
  delete env['HELM_NAMESPACE'];
  delete env['HELM_KUBECONTEXT'];
  return env;
}
process.once('exit', () => {
  if (helmHome) fs.rmSync(helmHome, { recursive: true, force: true });
});

/** Runs helm from the repository root; `kubeconfig` is passed as --kubeconfig when given. */
export async function helm(args: string[], options: { kubeconfig?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const argv = options.kubeconfig ? ['--kubeconfig', options.kubeconfig, ...args] : args;
  return runCommand(await findHelm(), argv, { env: helmEnv(), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
}

/** helm that must succeed; the error carries what it printed. */
export async function mustHelm(args: string[], options: { kubeconfig?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const result = await helm(args, options);
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return result;
}
