// The MeshConfigs in force, fed by the MeshConfig informer. A MeshConfig the schema let through but
// that fails validation is never used: the last valid version of it keeps serving, so a typo in an
// edit cannot strip sidecars from (or break) every workload created after it.
import { parseMeshConfig } from '../core/meshconfig.ts';
import { UNKNOWN_SERVER } from '../core/native-sidecar.ts';
import { compareMeshConfigs } from '../core/selection.ts';
import type { KubeServer, MeshConfig } from '../core/types.ts';
import type { Logger } from '../logger.ts';

export type MeshConfigVerdict =
  | { name: string; valid: true; meshConfig: MeshConfig }
  | { name: string; valid: false; problems: readonly string[]; servingPrevious: boolean; serving?: MeshConfig };

/**
 * The version recorded in status.lastValidSpec by an earlier meshinit (see meshconfig-status.ts),
 * validated again: after a restart it is the only memory of what was last accepted.
 */
function lastValidFromStatus(raw: unknown, server: KubeServer): MeshConfig | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const object = raw as { metadata?: Record<string, unknown>; status?: { lastValidSpec?: unknown; lastValidGeneration?: unknown } };
  const spec = object.status?.lastValidSpec;
  if (typeof spec !== 'object' || spec === null) return undefined;
  const generation = typeof object.status?.lastValidGeneration === 'number' ? object.status.lastValidGeneration : 0;
  const parsed = parseMeshConfig({ ...object, metadata: { ...object.metadata, generation }, spec }, server);
  return parsed.ok ? parsed.meshConfig : undefined;
}

/**
 * Says so, once per change, when a MeshConfig's sidecar is not injected in the layout it asks for
 * on this server (nativeSidecar Auto falling back to regular containers, Always refused): nothing
 * else would tell an operator why a Job's Pods never finish, or are not injected.
 */
function logLayoutChange(log: Logger, meshConfig: MeshConfig, previous: MeshConfig | undefined): void {
  const { layout } = meshConfig;
  const was = previous?.layout;
  if (was && was.effective === layout.effective && was.note === layout.note && was.refusal === layout.refusal) return;
  const fields = { meshConfig: meshConfig.name, nativeSidecar: layout.requested, layout: layout.effective, serverVersion: layout.server };
  if (layout.refusal !== undefined) log.warn('MeshConfig sidecar layout unsupported by this server: its workloads are not injected', { ...fields, reason: layout.refusal, consequence: `injection fails, failurePolicy ${meshConfig.spec.failurePolicy} applies` });
  else if (layout.note !== undefined) log.info('MeshConfig sidecar layout differs from what it asks', { ...fields, reason: layout.note });
  else if (was && was.effective !== layout.effective) log.info('MeshConfig sidecar layout changed', fields);
}

export class MeshConfigStore {
  private readonly valid = new Map<string, MeshConfig>();
  private sorted: readonly MeshConfig[] = [];
  private readonly log: Logger;
  private readonly server: KubeServer;

  /** `server`: the API server the MeshConfigs inject for, whose version decides the sidecar layout. */
  constructor(log: Logger, server: KubeServer = UNKNOWN_SERVER) {
    this.log = log;
    this.server = server;
  }

  /** Takes a MeshConfig as stored on the server (informer add or update). */
  apply(raw: unknown): MeshConfigVerdict {
    const result = parseMeshConfig(raw, this.server);
    if (result.ok) {
      const previous = this.valid.get(result.meshConfig.name);
      this.valid.set(result.meshConfig.name, result.meshConfig);
      this.refresh();
      if (previous?.resourceVersion !== result.meshConfig.resourceVersion) {
        this.log.info('MeshConfig loaded', { meshConfig: result.meshConfig.name, generation: result.meshConfig.generation, policy: result.meshConfig.spec.policy });
        logLayoutChange(this.log, result.meshConfig, previous);
      }
      return { name: result.meshConfig.name, valid: true, meshConfig: result.meshConfig };
    }
    const name = result.error.meshConfigName;
    const recorded = this.valid.has(name) ? undefined : lastValidFromStatus(raw, this.server);
    if (recorded) {
      this.valid.set(name, recorded);
      this.refresh();
    }
    const servingPrevious = this.valid.has(name);
    this.log.warn('MeshConfig ignored', {
      meshConfig: name || '(unnamed)',
      reason: result.error.problems.join('; '),
      action: recorded
        ? `the last valid version (generation ${recorded.generation}, recorded in its status) keeps serving`
        : servingPrevious ? 'the last valid version keeps serving' : 'no version of it is in use',
    });
    const serving = this.valid.get(name);
    return { name, valid: false, problems: result.error.problems, servingPrevious, ...(serving ? { serving } : {}) };
  }

  remove(name: string): void {
    if (this.valid.delete(name)) {
      this.refresh();
      this.log.info('MeshConfig removed', { meshConfig: name });
    }
  }

  /** Valid MeshConfigs in selection order (priority, then name). */
  list(): readonly MeshConfig[] {
    return this.sorted;
  }

  private refresh(): void {
    this.sorted = Object.freeze([...this.valid.values()].sort(compareMeshConfigs));
  }
}
