// Sends MeshConfig status (decided in meshconfig-status.ts): at once when a MeshConfig changes,
// and from a periodic recount of the workload caches (every few seconds, never per workload), in
// each case only when the status differs from what the server holds.
// Written with a JSON Patch, which CRDs accept on every version (not strategic merge). 1.13 has
// the status subresource; 1.9 drops it silently (PATCH /status answers 404) and takes status
// through the main resource instead. Status is written only when it differs, so the MODIFIED
// event our own write causes ends the loop, and two replicas writing the same status converge
// instead of flapping. A failed write is retried with backoff until a newer one replaces it: a
// status left stale would tell operators the wrong thing.
import { deepEqual } from '../core/equal.ts';
import { ExpectedHashes, MeshConfigTally, type CountedWorkload, type CountInput, type MeshConfigCounts, type RolloutStatus } from '../core/meshconfig-counts.ts';
import type { KubeObject, MeshConfig, NamespaceInfo } from '../core/types.ts';
import type { Logger } from '../logger.ts';
import { isKubeApiError } from './errors.ts';
import { desiredStatus, specChanged, type MeshConfigStatus } from './meshconfig-status.ts';
import type { MeshConfigVerdict } from './meshconfig-store.ts';
import { MESHCONFIG, objectPath } from './resources.ts';
import { backoffDelay, type Backoff, type Timers } from '../backoff.ts';
import type { KubeApi } from './types.ts';

/** How often workloads are recounted: status lags the cluster by this much at most, and costs one write per MeshConfig per period at most. */
export const DEFAULT_STATUS_PERIOD_MS = 5000;

export interface StatusCounting {
  /** Counts per MeshConfig name from the caches, or undefined while they are not synced. */
  counts: () => ReadonlyMap<string, MeshConfigCounts> | undefined | Promise<ReadonlyMap<string, MeshConfigCounts> | undefined>;
  periodMs?: number;
}

export interface StatusWriterOptions {
  clock?: () => Date;
  timers?: Timers;
  backoff?: Backoff;
  /**
   * Whether this replica writes status. In the Initializer mode only the leader does (the standby
   * keeps its caches warm and takes over with the lease); defaults to always.
   */
  isLeader?: () => boolean;
}

// Status retries and recounts must not keep the process alive on their own.
const UNREF_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface Known {
  object: KubeObject;
  verdict: MeshConfigVerdict;
}

export class MeshConfigStatusWriter {
  private subresource = true;
  private readonly known = new Map<string, Known>();
  private readonly retries = new Map<string, { timer: unknown; attempt: number }>();
  /** What this process last wrote, until the informer shows an object newer than the one it was based on. */
  private readonly written = new Map<string, { status: MeshConfigStatus; basedOn: string | undefined }>();
  private counts: ReadonlyMap<string, MeshConfigCounts> | undefined;
  /**
   * MeshConfigs whose spec changed after the last count began: its counts are of the previous
   * version. Their status waits for the recount the change asks for, so that it never shows the
   * new generation with the old version's numbers.
   */
  private readonly countedBeforeChange = new Set<string>();
  private counting: StatusCounting | undefined;
  private again = false;
  private recountTimer: unknown;
  private recounting: Promise<void> | undefined;
  private stopped = false;
  private readonly clock: () => Date;
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private readonly isLeader: () => boolean;

  constructor(private readonly api: KubeApi, private readonly log: Logger, options: StatusWriterOptions = {}) {
    this.clock = options.clock ?? (() => new Date());
    this.timers = options.timers ?? UNREF_TIMERS;
    this.backoff = options.backoff ?? { initialMs: 250, maxMs: 30_000 };
    this.isLeader = options.isLeader ?? (() => true);
  }

  /** Takes a MeshConfig's new version and verdict, and writes its status now if it changed. */
  async report(object: KubeObject, verdict: MeshConfigVerdict): Promise<void> {
    const name = object.metadata?.name;
    if (!name || this.stopped) return;
    const previous = this.known.get(name);
    this.known.set(name, { object, verdict });
    if (this.counting && previous && verdict.valid && specChanged(previous.object, object)) {
      this.countedBeforeChange.add(name);
      await this.recount(this.counting);
      return;
    }
    await this.sync(name);
  }

  /** The MeshConfig is gone: nothing more to write for it. */
  forget(name: string): void {
    this.cancelRetry(name);
    this.known.delete(name);
    this.written.delete(name);
    this.countedBeforeChange.delete(name);
  }

  /** Counts now and writes every status that changed; a count still writing is not overlapped. */
  async recount(counting: StatusCounting): Promise<void> {
    if (this.recounting) {
      // A count under way may have begun before a spec change: count once more after it.
      this.again = true;
      return this.recounting;
    }
    // A standby would count every cached workload and throw the result away; a new leader counts
    // afresh (until then the status's own counts are kept), so it never writes stale ones.
    if (!this.isLeader()) {
      this.counts = undefined;
      return;
    }
    this.recounting = (async () => {
      do {
        this.again = false;
        // The counting source reads the MeshConfigs in force when it begins, synchronously: the
        // changes reported so far are in this count.
        const changed = [...this.countedBeforeChange];
        const counts = await counting.counts();
        if (counts === undefined) {
          // Caches not synced: nothing to count with; the change's status is written without counts.
          this.countedBeforeChange.clear();
          for (const name of changed) await this.sync(name);
          return;
        }
        this.counts = counts;
        for (const name of changed) this.countedBeforeChange.delete(name);
        for (const name of this.known.keys()) await this.sync(name);
      } while (this.again && !this.stopped);
    })().finally(() => { this.recounting = undefined; });
    return this.recounting;
  }

  /** Recounts every `periodMs` until stop(). */
  startRecounting(counting: StatusCounting): void {
    this.counting = counting;
    const periodMs = counting.periodMs ?? DEFAULT_STATUS_PERIOD_MS;
    const tick = (): void => {
      if (this.stopped) return;
      void this.recount(counting).finally(() => {
        if (!this.stopped) this.recountTimer = this.timers.setTimeout(tick, periodMs);
      });
    };
    this.recountTimer = this.timers.setTimeout(tick, periodMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.recountTimer !== undefined) this.timers.clearTimeout(this.recountTimer);
    for (const { timer } of this.retries.values()) this.timers.clearTimeout(timer);
    this.retries.clear();
  }

  private cancelRetry(name: string): void {
    const pending = this.retries.get(name);
    if (pending) this.timers.clearTimeout(pending.timer);
    this.retries.delete(name);
  }

  private async sync(name: string, attempt = 1): Promise<void> {
    this.cancelRetry(name);
    const known = this.known.get(name);
    if (!known || this.stopped || !this.isLeader() || this.countedBeforeChange.has(name)) return;
    const { object, verdict } = known;
    const resourceVersion = object.metadata?.resourceVersion;
    const ours = this.written.get(name);
    // Our last write, until the informer delivers the object it produced: comparing with the
    // older object would write the same status again on every recount meanwhile.
    const current = ours && ours.basedOn === resourceVersion ? ours.status : (object.status as Partial<MeshConfigStatus> | undefined);
    const status = desiredStatus(verdict, object, this.clock(), this.counts?.get(name) ?? (this.counts ? ZERO : undefined), current);
    if (deepEqual(status, current)) return;
    try {
      await this.write(name, status);
      this.written.set(name, { status, basedOn: resourceVersion });
      this.log.info('MeshConfig status written', {
        meshConfig: name,
        ready: status.conditions[0]?.status,
        reason: status.conditions[0]?.reason,
        matched: status.matchedWorkloads,
        injected: status.injectedWorkloads,
        outdated: status.outdatedWorkloads,
      });
    } catch (error) {
      // Leadership lost between the check and the write (the fence refused it): the new leader
      // writes status from its own recount; retrying here would only warn every backoff.
      if (!this.isLeader()) return;
      const delayMs = backoffDelay(this.backoff, attempt);
      this.log.warn('MeshConfig status not written, retrying', { meshConfig: name, attempt, retryInMs: delayMs, error: error instanceof Error ? error.message : String(error) });
      if (this.stopped || this.known.get(name) !== known) return;
      const timer = this.timers.setTimeout(() => {
        // A newer version or verdict (report) cancelled this retry and wrote itself.
        if (this.retries.get(name)?.timer === timer) void this.sync(name, attempt + 1);
      }, delayMs);
      this.retries.set(name, { timer, attempt });
    }
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

/** A MeshConfig no workload mentions, once counting has run. */
const ZERO: MeshConfigCounts = Object.freeze({ matched: 0, selecting: 0, takenBy: [], injected: 0, outdated: 0 });

export interface CacheCountingSource {
  /** False until the workload caches have listed: counting an empty cache would write zeros. */
  synced: () => boolean;
  workloads: () => Iterable<CountedWorkload>;
  meshConfigs: () => readonly MeshConfig[];
  namespace: (name: string) => NamespaceInfo | undefined;
  policy: CountInput['policy'];
  /** Whether the workloads carry their records (asked at each count, right before `workloads()`). */
  recordsVisible: boolean | (() => boolean);
  /** Webhook --target pods: the records `workloads()` carries are those of their Pods (MeshConfigCounts.fromPods). */
  fromPods?: boolean;
  periodMs?: number;
  /** status.rollout of a MeshConfig with updatePolicy Rollout (kube/rollout-runner.ts), undefined for the others. */
  rollout?: (meshConfig: string) => RolloutStatus | undefined;
}

/** Workloads counted between two turns of the event loop: 50,000 at once would hold it for a tenth of a second (a second on 1.9, hashing). */
export const COUNT_SLICE = 1000;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Counting from informer caches, as both modes do, in slices so that injection is not held up meanwhile. */
export function countFromCaches(source: CacheCountingSource): StatusCounting {
  const hashes = new ExpectedHashes();
  return {
    ...(source.periodMs !== undefined ? { periodMs: source.periodMs } : {}),
    counts: async () => {
      if (!source.synced()) return undefined;
      // Asked together, synchronously: what is visible and the workloads that show it.
      const recordsVisible = typeof source.recordsVisible === 'function' ? source.recordsVisible() : source.recordsVisible;
      const workloads = source.workloads();
      const tally = new MeshConfigTally({ meshConfigs: source.meshConfigs(), namespace: source.namespace, policy: source.policy, recordsVisible, hashes });
      let inSlice = 0;
      for (const workload of workloads) {
        tally.add(workload);
        if (++inSlice === COUNT_SLICE) {
          inSlice = 0;
          await nextTurn();
        }
      }
      const counts = tally.result();
      if (source.fromPods) for (const [name, entry] of counts) counts.set(name, { ...entry, fromPods: true });
      if (source.rollout) {
        for (const [name, entry] of counts) {
          const rollout = source.rollout(name);
          if (rollout) counts.set(name, { ...entry, rollout });
        }
      }
      return counts;
    },
  };
}
