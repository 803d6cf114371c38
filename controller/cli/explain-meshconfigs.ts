// MeshConfigs as stored (from the cluster or a file) to what the controller holds: the same
// MeshConfigStore the controller feeds from its informer, so an invalid edit is judged exactly as
// a freshly started controller judges it (its status.lastValidSpec serves in its place).
import type { MeshConfigEntry } from '../core/explain.ts';
import type { KubeServer } from '../core/types.ts';
import { MeshConfigStore } from '../kube/meshconfig-store.ts';
import type { Logger } from '../logger.ts';

const SILENT: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/** `server`: the server judged for (its version decides the sidecar layout); unknown offline without --kube-version. */
export function meshConfigEntries(raws: readonly unknown[], server?: KubeServer): MeshConfigEntry[] {
  const store = new MeshConfigStore(SILENT, server);
  return raws.map((raw): MeshConfigEntry => {
    const verdict = store.apply(raw);
    const name = verdict.name || '(unnamed)';
    if (verdict.valid) return { name, valid: true, meshConfig: verdict.meshConfig };
    return { name, valid: false, problems: verdict.problems, ...(verdict.serving ? { serving: verdict.serving } : {}) };
  });
}
