// Writes each MeshConfig's verdict into its status, so `kubectl get mc -o yaml` shows whether the
// controller accepted it and, if not, every problem. The spec of the last accepted generation is
// kept there too, so that a meshinit restarted after an invalid edit still serves it.
// Written with a JSON Patch, which CRDs accept on every version (not strategic merge). 1.13 has
// the status subresource; 1.9 drops it silently (PATCH /status answers 404) and takes
// status through the main resource instead. Status is written only when it differs, so the
// MODIFIED event our own write causes ends the loop, and two replicas writing the same verdict
// converge instead of flapping. A failed write is retried with backoff until a newer verdict
// replaces it: a status left stale would tell operators the wrong thing.
import isEqual from 'lodash/isEqual.js';
import type { KubeObject } from '../core/types.ts';
import type { Logger } from '../logger.ts';
import { isKubeApiError } from './errors.ts';
import type { MeshConfigVerdict } from './meshconfig-store.ts';
import { MESHCONFIG, objectPath } from './resources.ts';
import { backoffDelay, type Backoff, type Timers } from '../backoff.ts';
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
  lastValidGeneration?: number;
  lastValidSpec?: unknown;
}

export function desiredStatus(verdict: MeshConfigVerdict, object: KubeObject, now: Date): MeshConfigStatus {
  const current = object.status as Partial<MeshConfigStatus> | undefined;
  const generation = typeof object.metadata?.generation === 'number' ? object.metadata.generation : 0;
  const condition: Omit<MeshConfigCondition, 'lastTransitionTime'> = verdict.valid
    ? { type: CONDITION_VALID, status: 'True', reason: REASON_ACCEPTED, message: 'in use for new workloads' }
    : {
        type: CONDITION_VALID,
        status: 'False',
        reason: REASON_INVALID,
        message: `${verdict.problems.join('; ')}${verdict.servingPrevious ? ' (the last valid version keeps serving)' : ''}`,
      };
  const previous = current?.conditions?.find((c) => c.type === CONDITION_VALID);
  // lastTransitionTime moves only when the condition's status does, as Kubernetes conditions do.
  const lastTransitionTime = previous && previous.status === condition.status && previous.lastTransitionTime ? previous.lastTransitionTime : now.toISOString();
  // For an invalid edit, what this process serves wins over what status recorded: a status write
  // for the previous valid version may not have landed yet.
  const lastValid = verdict.valid
    ? { lastValidGeneration: generation, lastValidSpec: object.spec }
    : verdict.serving
      ? { lastValidGeneration: verdict.serving.generation, lastValidSpec: verdict.serving.spec }
      : current?.lastValidSpec !== undefined
        ? { lastValidGeneration: current.lastValidGeneration ?? 0, lastValidSpec: current.lastValidSpec }
        : {};
  return { observedGeneration: generation, conditions: [{ ...condition, lastTransitionTime }], ...lastValid };
}

// Status retries must not keep the process alive on their own.
const UNREF_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class MeshConfigStatusWriter {
  private subresource = true;
  private readonly retries = new Map<string, { timer: unknown; attempt: number }>();
  private stopped = false;

  constructor(
    private readonly api: KubeApi,
    private readonly log: Logger,
    private readonly clock: () => Date = () => new Date(),
    private readonly timers: Timers = UNREF_TIMERS,
    private readonly backoff: Backoff = { initialMs: 250, maxMs: 30_000 },
  ) {}

  /** Writes the verdict now; on failure retries in the background until a newer report or stop(). */
  async report(object: KubeObject, verdict: MeshConfigVerdict, attempt = 1): Promise<void> {
    const name = object.metadata?.name;
    if (!name || this.stopped) return;
    const pending = this.retries.get(name);
    if (pending) this.timers.clearTimeout(pending.timer);
    this.retries.delete(name);
    const status = desiredStatus(verdict, object, this.clock());
    if (isEqual(status, object.status)) return;
    try {
      await this.write(name, status);
    } catch (error) {
      const delayMs = backoffDelay(this.backoff, attempt);
      this.log.warn('MeshConfig status not written, retrying', { meshConfig: name, attempt, retryInMs: delayMs, error: error instanceof Error ? error.message : String(error) });
      if (this.stopped) return;
      const timer = this.timers.setTimeout(() => {
        if (this.retries.get(name)?.timer === timer) void this.report(object, verdict, attempt + 1);
      }, delayMs);
      this.retries.set(name, { timer, attempt });
    }
  }

  stop(): void {
    this.stopped = true;
    for (const { timer } of this.retries.values()) this.timers.clearTimeout(timer);
    this.retries.clear();
  }

  private async write(name: string, status: MeshConfigStatus): Promise<void> {
    const path = objectPath(MESHCONFIG, undefined, name);
    // A JSON Patch that replaces status whole: a merge patch would merge lastValidSpec with the
    // previous one and keep fields the accepted spec no longer has.
    const replaceStatus = [{ op: 'add', path: '/status', value: status }];
    if (this.subresource) {
      try {
        await this.api.patch(`${path}/status`, replaceStatus, 'application/json-patch+json');
        return;
      } catch (error) {
        if (!(isKubeApiError(error) && error.isNotFound)) throw error;
        // 404 on /status while the object exists: a 1.9 server without the subresource.
        this.subresource = false;
      }
    }
    await this.api.patch(path, replaceStatus, 'application/json-patch+json');
  }
}
