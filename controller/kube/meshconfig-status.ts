// Writes each MeshConfig's verdict into its status, so `kubectl get mc -o yaml` shows whether the
// controller accepted it and, if not, every problem. 1.13 has the status subresource; 1.9 drops it
// silently (PATCH /status answers 404) and takes status through the main resource instead. Status is
// written only when it differs, so the MODIFIED event our own write causes ends the loop, and two
// replicas writing the same verdict converge instead of flapping.
import isEqual from 'lodash/isEqual.js';
import type { KubeObject } from '../core/types.ts';
import type { Logger } from '../logger.ts';
import { isKubeApiError } from './errors.ts';
import type { MeshConfigVerdict } from './meshconfig-store.ts';
import { MESHCONFIG, objectPath } from './resources.ts';
import type { KubeApi } from './types.ts';

/** Condition type on MeshConfig status: True when the controller uses this version. */
export const CONDITION_VALID = 'Valid';
export const REASON_ACCEPTED = 'Accepted';
export const REASON_INVALID = 'Invalid';

export interface MeshConfigCondition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface MeshConfigStatus {
  observedGeneration: number;
  conditions: MeshConfigCondition[];
}

export function desiredStatus(verdict: MeshConfigVerdict, generation: number, current: unknown, now: Date): MeshConfigStatus {
  const condition: Omit<MeshConfigCondition, 'lastTransitionTime'> = verdict.valid
    ? { type: CONDITION_VALID, status: 'True', reason: REASON_ACCEPTED, message: 'in use for new workloads' }
    : {
        type: CONDITION_VALID,
        status: 'False',
        reason: REASON_INVALID,
        message: `${verdict.problems.join('; ')}${verdict.servingPrevious ? ' (the last valid version keeps serving)' : ''}`,
      };
  const previous = (current as Partial<MeshConfigStatus> | undefined)?.conditions?.find((c) => c.type === CONDITION_VALID);
  // lastTransitionTime moves only when the condition's status does, as Kubernetes conditions do.
  const lastTransitionTime = previous && previous.status === condition.status && previous.lastTransitionTime ? previous.lastTransitionTime : now.toISOString();
  return { observedGeneration: generation, conditions: [{ ...condition, lastTransitionTime }] };
}

export class MeshConfigStatusWriter {
  private subresource = true;

  constructor(
    private readonly api: KubeApi,
    private readonly log: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async report(object: KubeObject, verdict: MeshConfigVerdict): Promise<void> {
    const name = object.metadata?.name;
    if (!name) return;
    const current = object.status;
    const generation = typeof object.metadata?.generation === 'number' ? object.metadata.generation : 0;
    const status = desiredStatus(verdict, generation, current, this.clock());
    if (isEqual(status, current)) return;
    const path = objectPath(MESHCONFIG, undefined, name);
    try {
      if (this.subresource) {
        try {
          await this.api.patch(`${path}/status`, { status }, 'application/merge-patch+json');
          return;
        } catch (error) {
          if (!(isKubeApiError(error) && error.isNotFound)) throw error;
          // 404 on /status while the object exists: a 1.9 server without the subresource.
          this.subresource = false;
        }
      }
      await this.api.patch(path, { status }, 'application/merge-patch+json');
    } catch (error) {
      this.log.warn('MeshConfig status not written', { meshConfig: name, error: error instanceof Error ? error.message : String(error) });
    }
  }
}
