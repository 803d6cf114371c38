// Rolls a changed MeshConfig (updatePolicy Rollout) out to the workloads it injected before: every
// few seconds, and at once when a MeshConfig changes, the leader plans from its informer caches
// (core/rollout.ts), then for each workload chosen reads it fresh, decides again on the whole
// object, re-injects it and sends ONE conditional PATCH. The workload's own controller then does
// the rolling update (maxSurge, maxUnavailable, PodDisruptionBudgets all apply as to any template
// change). Nothing is retried in a loop: a conflict, a refusal or a change since the plan leaves
// the workload to the next tick, which plans again from what the cache then shows.
import { carriesCurrent, ExpectedHashes, type RolloutStatus } from '../core/meshconfig-counts.ts';
import { injectWorkload } from '../core/inject.ts';
import { buildRolloutPatch } from '../core/patch.ts';
import { RESTARTED_FOR_ANNOTATION } from '../core/constants.ts';
import { restartedFor, restartedWorkload } from '../core/restart.ts';
import { withRolloutRecord } from '../core/rollout-record.ts';
import { decideInjection } from '../core/policy.ts';
import { planRollouts, RolloutLedger, type RolloutEntry, type RolloutPlanInput, type RolloutProgress, type RolloutStart } from '../core/rollout.ts';
import { rolloutUnderWay } from '../core/rollout-progress.ts';
import type { KubeObject, Workload } from '../core/types.ts';
import { recogniseWorkload, workloadCandidate } from '../core/workload.ts';
import { rolloutCandidate } from '../core/workload-summary.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { REAL_TIMERS, type Timers } from '../backoff.ts';
import { isKubeApiError } from './errors.ts';
import type { EventRecorder } from './events.ts';
import { NotLeaderError } from './leader-election.ts';
import { apiVersionOf, objectPath, workloadDescriptor } from './resources.ts';
import type { KubeApi } from './types.ts';

/** Normal: meshinit re-injected the workload with the MeshConfig's new sidecar; its own rollout starts. */
export const REASON_ROLLOUT_STARTED = 'SidecarRolloutStarted';
/** Normal: the workload's controller observed the change and every replica runs the new sidecar. */
export const REASON_ROLLOUT_FINISHED = 'SidecarRolloutFinished';
/** Warning: the workload's rollout did not finish within spec.rollout.timeoutSeconds; meshinit stops waiting for it. */
export const REASON_ROLLOUT_TIMED_OUT = 'SidecarRolloutTimedOut';

/** Often enough that maxPerMinute is spread over the minute, rarely enough to cost nothing idle. */
export const DEFAULT_ROLLOUT_PERIOD_MS = 2000;

/**
 * How long a workload whose PATCH failed for another reason than a conflict (RBAC, a server
 * refusing the injected template) is left alone: planned again every tick, it would be a request
 * and a warning every two seconds.
 */
export const FAILED_HOLD_MS = 60_000;

export interface RolloutSource extends Pick<RolloutPlanInput, 'namespace' | 'policy'> {
  /** False until the workload caches have listed: an empty cache would plan nothing (harmless) and forget the ledger (not). */
  synced(): boolean;
  workloads(): Iterable<ReturnType<typeof rolloutCandidate>>;
  meshConfigs(): RolloutPlanInput['meshConfigs'];
}

export interface RolloutRunnerDeps {
  /** Fenced (fenceWrites) where there is leader election: a standby's PATCH never leaves the process. */
  api: KubeApi;
  log: Logger;
  events: Pick<EventRecorder, 'record'>;
  metrics?: Pick<Metrics, 'rollout' | 'conflict'>;
  source: RolloutSource;
  isLeader: () => boolean;
  /**
   * How a chosen workload gets the new sidecar: `reinject` (its template carries the sidecar: the
   * Initializer mode, webhook --target workloads) or `restart` (webhook --target pods: the sidecar
   * is in its Pods, which are re-created). Default reinject.
   */
  strategy?: RolloutStrategy;
  /** Wall-clock ms (the rate window and timeouts). */
  clock?: () => number;
  timers?: Timers;
  periodMs?: number;
}

export type RolloutStrategy = 'reinject' | 'restart';

/** What a start sends (the whole desired workload, diffed into one conditional PATCH) and what the workload then carries. */
type Change = { desired: KubeObject; toGeneration: number; toHash: string } | { skip: string; adopt?: true };

type Outcome = { result: 'started'; entry: RolloutEntry } | { result: 'skipped' | 'conflict' | 'failed'; reason: string };

export class RolloutRunner {
  readonly ledger = new RolloutLedger();
  private readonly hashes = new ExpectedHashes();
  private readonly clock: () => number;
  private readonly timers: Timers;
  private timer: unknown;
  private running: Promise<void> | undefined;
  private again = false;
  /** Workloads (by uid) whose last attempt failed, until when they are not attempted again. */
  private readonly held = new Map<string, number>();
  private stopped = false;
  /** The last plan's progress per Rollout MeshConfig (status, tests). */
  progress: ReadonlyMap<string, RolloutProgress> = new Map();

  constructor(private readonly deps: RolloutRunnerDeps) {
    this.clock = deps.clock ?? Date.now;
    this.timers = deps.timers ?? REAL_TIMERS;
  }

  /** status.rollout for a MeshConfig with updatePolicy Rollout, from the last plan; undefined for the others. */
  status(meshConfig: string): RolloutStatus | undefined {
    const progress = this.progress.get(meshConfig);
    if (!progress) return undefined;
    const last = this.ledger.lastStartedAt(meshConfig);
    return {
      paused: progress.paused, inProgress: progress.inProgress, waiting: progress.waiting, rateLimited: progress.rateLimited,
      ...(last !== undefined ? { lastStartedAt: new Date(last).toISOString() } : {}),
    };
  }

  /** Ticks every periodMs until stop(). */
  start(): void {
    const periodMs = this.deps.periodMs ?? DEFAULT_ROLLOUT_PERIOD_MS;
    const loop = (): void => {
      if (this.stopped) return;
      void this.tick().finally(() => {
        if (!this.stopped) this.timer = this.timers.setTimeout(loop, periodMs);
      });
    };
    this.timer = this.timers.setTimeout(loop, periodMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
  }

  /** Plans and acts once; a tick asked for while one runs runs once more after it, never alongside. */
  tick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.once();
      } while (this.again && !this.stopped);
    })().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async once(): Promise<void> {
    const { source } = this.deps;
    if (this.stopped || !source.synced()) return;
    if (!this.deps.isLeader()) {
      // What a former leader planned is stale: status carries what the leader writes instead.
      this.progress = new Map();
      return;
    }
    const meshConfigs = source.meshConfigs();
    const plan = planRollouts({ now: this.clock(), meshConfigs, workloads: source.workloads(), namespace: source.namespace, policy: source.policy, ledger: this.ledger, hashes: this.hashes });
    this.progress = plan.progress;
    for (const entry of plan.forget) this.ledger.forget(entry.uid);
    for (const entry of plan.finished) this.ended(entry, 'finished');
    for (const entry of plan.timedOut) this.ended(entry, 'timedOut');
    for (const [uid, until] of this.held) if (until <= this.clock()) this.held.delete(uid);
    for (const start of plan.start) {
      if (this.held.has(start.workload.uid)) continue;
      const started = this.clock();
      let outcome: Outcome;
      try {
        outcome = await this.startOne(start);
      } catch (error) {
        // The lock was lost between the plan and the PATCH: the new leader plans for itself.
        if (error instanceof NotLeaderError) return;
        outcome = { result: 'failed', reason: error instanceof Error ? error.message : String(error) };
      }
      if (outcome.result === 'failed') this.held.set(start.workload.uid, this.clock() + FAILED_HOLD_MS);
      this.report(start, outcome, this.clock() - started);
    }
  }

  private ended(entry: RolloutEntry, state: 'finished' | 'timedOut'): void {
    this.ledger.ended(entry.uid, state);
    const durationMs = this.clock() - entry.startedAt;
    const fields = { kind: entry.kind, namespace: entry.namespace, name: entry.name, uid: entry.uid, meshConfig: entry.meshConfig, durationMs };
    if (state === 'finished') {
      this.deps.log.info('Sidecar rollout finished', { ...fields, action: 'finished', reason: 'its controller observed the change and every replica runs the new sidecar' });
      this.deps.metrics?.rollout('finished');
      this.event(entry, 'Normal', REASON_ROLLOUT_FINISHED, `Every replica runs the sidecar of MeshConfig ${entry.meshConfig} generation ${entry.toGeneration} (after ${Math.round(durationMs / 1000)} s)`);
      return;
    }
    const reason = `not finished within spec.rollout.timeoutSeconds (${entry.timeoutMs / 1000} s); meshinit no longer waits for it`;
    this.deps.log.warn('Sidecar rollout timed out', { ...fields, action: 'timed_out', reason, fix: `kubectl rollout status ${entry.kind.toLowerCase()}/${entry.name} -n ${entry.namespace}` });
    this.deps.metrics?.rollout('timed_out');
    this.event(entry, 'Warning', REASON_ROLLOUT_TIMED_OUT, `The rollout to MeshConfig ${entry.meshConfig} generation ${entry.toGeneration} is ${reason}`);
  }

  private report(start: RolloutStart, outcome: Outcome, durationMs: number): void {
    const { workload, meshConfig } = start;
    const fields = { kind: workload.kind, namespace: workload.namespace, name: workload.name, uid: workload.uid, meshConfig: meshConfig.name, durationMs: Math.round(durationMs) };
    this.deps.metrics?.rollout(outcome.result);
    if (outcome.result === 'started') {
      const { entry } = outcome;
      this.deps.log.info('Sidecar rollout started', {
        ...fields, action: 'started', reason: `outdated: generation ${entry.from.generation} (hash ${entry.from.hash}) -> ${entry.toGeneration} (hash ${entry.toHash})`,
        fromGeneration: entry.from.generation, toGeneration: entry.toGeneration, workloadGeneration: entry.patchedGeneration,
      });
      this.event(entry, 'Normal', REASON_ROLLOUT_STARTED,
        `${this.deps.strategy === 'restart' ? 'Restarted for the new sidecar of' : 'Re-injected with'} MeshConfig ${meshConfig.name}: sidecar generation ${entry.from.generation} (hash ${entry.from.hash}) -> ${entry.toGeneration} (hash ${entry.toHash}); the ${workload.kind}'s own rolling update replaces its Pods`);
      return;
    }
    const message = outcome.result === 'conflict' ? 'Sidecar rollout deferred' : outcome.result === 'failed' ? 'Sidecar rollout failed' : 'Sidecar rollout skipped';
    this.deps.log[outcome.result === 'failed' ? 'warn' : 'info'](message, { ...fields, action: outcome.result, reason: outcome.reason });
  }

  private event(entry: Pick<RolloutEntry, 'kind' | 'namespace' | 'name' | 'uid'>, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const object = { apiVersion: apiVersionOf(workloadDescriptor(entry.kind)), kind: entry.kind, namespace: entry.namespace, name: entry.name, uid: entry.uid };
    this.deps.events.record({ object, type, reason, message });
  }

  /** Fresh read, the decision again on the whole object, one conditional PATCH. */
  private async startOne(start: RolloutStart): Promise<Outcome> {
    const { workload: ref } = start;
    const path = objectPath(workloadDescriptor(ref.kind), ref.namespace, ref.name);
    let fresh: KubeObject;
    try {
      fresh = await this.deps.api.get<KubeObject>(path);
    } catch (error) {
      if (isKubeApiError(error) && error.isNotFound) return { result: 'skipped', reason: 'the workload was deleted since the plan' };
      throw error;
    }
    const recognised = recogniseWorkload({ ...fresh, kind: ref.kind });
    if (!recognised.ok) return { result: 'skipped', reason: recognised.reason };
    const workload: Workload = recognised.value;
    const changed = this.changedSincePlan(start, workload);
    if (changed !== undefined) return { result: 'skipped', reason: changed };
    const startedAt = this.clock();
    const change = this.deps.strategy === 'restart' ? this.restart(start, workload, startedAt) : this.reinject(start, workload);
    if ('skip' in change) {
      if (change.adopt) this.ledger.adopted(this.entryFor(start, { toGeneration: start.meshConfig.generation, toHash: start.toHash }, startedAt, workload.metadata.generation ?? 0));
      return { result: 'skipped', reason: change.skip };
    }
    // The start recorded on the workload in the same PATCH: whoever leads next counts it.
    const desired = withRolloutRecord(change.desired, { meshConfig: start.meshConfig.name, generation: change.toGeneration, hash: change.toHash, startedAt });
    let answer: KubeObject;
    try {
      answer = await this.deps.api.patch<KubeObject>(path, buildRolloutPatch(workload, desired), 'application/json-patch+json');
    } catch (error) {
      if (!isKubeApiError(error)) throw error;
      if (error.isNotFound) return { result: 'skipped', reason: 'the workload was deleted before the PATCH' };
      // 409 (resourceVersion), or our `test` failing (422 on 1.13, 500 on 1.9): someone wrote
      // the workload between our read and our PATCH. The next tick plans from the newer object.
      if (error.isConflict || error.statusCode === 422 || error.statusCode === 500) {
        if (error.isConflict) this.deps.metrics?.conflict('409');
        return { result: 'conflict', reason: `changed by another writer before the PATCH (${error.statusCode}): planned again on the next tick` };
      }
      return { result: 'failed', reason: `${error.message}; planned again on the next tick` };
    }
    const generation = answer.metadata?.generation;
    const entry = this.entryFor(start, change, startedAt, typeof generation === 'number' ? generation : (workload.metadata.generation ?? 0) + 1);
    this.ledger.started(entry);
    return { result: 'started', entry };
  }

  private entryFor(start: RolloutStart, to: { toGeneration: number; toHash: string }, startedAt: number, patchedGeneration: number): RolloutEntry {
    return {
      ...start.workload, meshConfig: start.meshConfig.name, from: start.from, toGeneration: to.toGeneration, toHash: to.toHash,
      startedAt, patchedGeneration, timeoutMs: start.meshConfig.spec.rollout.timeoutSeconds * 1000, state: 'inProgress',
    };
  }

  /** The template re-injected: exactly the recorded items replaced. */
  private reinject(start: RolloutStart, workload: Workload): Change {
    const injected = injectWorkload(workload, start.meshConfig);
    if (!injected.changed) return { skip: 'the re-injection changes nothing' };
    return { desired: injected.object, toGeneration: injected.status.generation, toHash: injected.status.hash };
  }

  /**
   * The template stamped for a restart (core/restart.ts). A template already stamped for this very
   * sidecar was restarted before this replica's ledger began (a new leader, a restarted meshinit):
   * its Pods are being replaced, so it is not restarted again.
   */
  private restart(start: RolloutStart, workload: Workload, now: number): Change {
    const target = { meshConfig: start.meshConfig.name, hash: start.toHash };
    if (restartedFor(workload, target)) return { skip: `its template was already restarted for this sidecar (${RESTARTED_FOR_ANNOTATION}); waiting for its Pods to be replaced`, adopt: true };
    return { desired: restartedWorkload(workload, target, new Date(now)), toGeneration: start.meshConfig.generation, toHash: start.toHash };
  }

  /** Why the plan no longer holds for the object as read now, or undefined when it does. */
  private changedSincePlan(start: RolloutStart, workload: Workload): string | undefined {
    const { source } = this.deps;
    const { meshConfig } = start;
    if (workload.metadata.uid !== start.workload.uid) return 'the workload was deleted and created again since the plan';
    if (!workload.metadata.resourceVersion) return 'the server sent no resourceVersion: a PATCH could not be conditional';
    const candidate = rolloutCandidate(start.workload.kind, workload);
    // With --target pods the record is in the Pods (the plan read them); the template has none.
    if (this.deps.strategy !== 'restart') {
      const mark = candidate.injection;
      if (!mark || mark.meshConfig !== meshConfig.name) return `its record no longer names MeshConfig ${meshConfig.name}`;
      if (carriesCurrent(meshConfig, candidate, mark, this.hashes)) return 'it already carries the current sidecar';
    }
    const namespace = source.namespace(start.workload.namespace) ?? { name: start.workload.namespace, labels: {} };
    const decision = decideInjection(workloadCandidate(workload), { namespace, meshConfigs: source.meshConfigs(), ...source.policy });
    if (!decision.inject) return decision.reason;
    if (decision.meshConfig.name !== meshConfig.name) return `MeshConfig ${decision.meshConfig.name} selects it now`;
    const underWay = candidate.facts ? rolloutUnderWay(start.workload.kind, candidate.facts) : 'its status cannot be read';
    return underWay === undefined ? undefined : `its own rollout is under way: ${underWay}`;
  }
}
