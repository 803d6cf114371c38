// The MeshConfigs in force, fed by the MeshConfig informer. A MeshConfig the schema let through but
// that fails validation is never used: the last valid version of it keeps serving, so a typo in an
// edit cannot strip sidecars from (or break) every workload created after it.
import { parseMeshConfig } from '../core/meshconfig.ts';
import { compareMeshConfigs } from '../core/selection.ts';
import type { MeshConfig } from '../core/types.ts';
import type { Logger } from '../logger.ts';

export type MeshConfigVerdict =
  | { name: string; valid: true; meshConfig: MeshConfig }
  | { name: string; valid: false; problems: readonly string[]; servingPrevious: boolean; serving?: MeshConfig };

/**
 * The version recorded in status.lastValidSpec by an earlier meshinit (see meshconfig-status.ts),
 * validated again: after a restart it is the only memory of what was last accepted.
 */
function lastValidFromStatus(raw: unknown): MeshConfig | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const object = raw as { metadata?: Record<string, unknown>; status?: { lastValidSpec?: unknown; lastValidGeneration?: unknown } };
  const spec = object.status?.lastValidSpec;
  if (typeof spec !== 'object' || spec === null) return undefined;
  const generation = typeof object.status?.lastValidGeneration === 'number' ? object.status.lastValidGeneration : 0;
  const parsed = parseMeshConfig({ ...object, metadata: { ...object.metadata, generation }, spec });
  return parsed.ok ? parsed.meshConfig : undefined;
}

export class MeshConfigStore {
  private readonly valid = new Map<string, MeshConfig>();
  private sorted: readonly MeshConfig[] = [];
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /** Takes a MeshConfig as stored on the server (informer add or update). */
  apply(raw: unknown): MeshConfigVerdict {
    const result = parseMeshConfig(raw);
    if (result.ok) {
      const previous = this.valid.get(result.meshConfig.name);
      this.valid.set(result.meshConfig.name, result.meshConfig);
      this.refresh();
      if (previous?.resourceVersion !== result.meshConfig.resourceVersion) {
        this.log.info('MeshConfig loaded', { meshConfig: result.meshConfig.name, generation: result.meshConfig.generation, policy: result.meshConfig.spec.policy });
      }
      return { name: result.meshConfig.name, valid: true, meshConfig: result.meshConfig };
    }
    const name = result.error.meshConfigName;
    const recorded = this.valid.has(name) ? undefined : lastValidFromStatus(raw);
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
