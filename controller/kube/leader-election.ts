// Two replicas, one writer: leader election on a lock object (leader-lock.ts), with client-go's
// semantics (tryAcquireOrRenew, LeaderElectionRecord) and one guarantee client-go does not give:
// a leader that cannot renew stops writing before its lease can expire anywhere else.
//
// The fence. A write to the lock that succeeds was *sent* at `sentAt`; every other candidate first
// sees the new record after that, and waits `leaseDuration` from when it saw it before it may take
// over. This process treats itself as leader until `sentAt + renewDeadline`, by its own monotonic
// clock, and renewDeadline < leaseDuration: the difference is the margin for a write still in
// flight and for clock-rate differences between machines. isLeader() compares the clock at the
// moment it is asked, so a process paused (SIGSTOP, a long GC, a frozen VM) and resumed after its
// lease expired sees that at once, before any timer or I/O callback runs, and refuses to write.
// fenceWrites() puts that check in front of every write meshinit makes (workload PATCHes, Events,
// MeshConfig status), right before the request is handed to the transport.
//
// The lock itself is written only after a fresh read (a read that took longer than the margin is
// treated as stale and repeated), and always as a compare-and-swap on resourceVersion.
//
// On losing the lock the process goes back to standby rather than exiting (client-go's default is
// to exit): every write is fenced here, so no goroutine-like leftover can write without the lock,
// and staying up keeps the caches warm for the next failover. What is lost is only queued work,
// which the next leader queues again from its own caches.
import { REAL_TIMERS, type Timers } from '../backoff.ts';
import { decideLockAttempt, unreadableRecord, type LeaderElectionRecord } from '../core/leadership.ts';
import type { Logger } from '../logger.ts';
import { createConfigMapLock } from './configmap-lock.ts';
import { isKubeApiError } from './errors.ts';
import { LockWriteAbandoned, type LeaderLock, type LockLocation, type LockPreference, type LockSnapshot } from './leader-lock.ts';
import { createLeaseLock } from './lease-lock.ts';
import { createMigratingLock } from './migrating-lock.ts';
import type { KubeApi } from './types.ts';

export interface LeaderElectionConfig {
  /** Unique per process: POD_NAME (or the host name) and a random suffix, as kube-controller-manager does. */
  identity: string;
  /** How long others wait, from when they saw the last renewal, before taking over. Whole seconds. */
  leaseDurationMs: number;
  /** How long a leader keeps writing after its last successful renewal was sent; < leaseDurationMs. */
  renewDeadlineMs: number;
  /** Time between attempts to acquire or renew. */
  retryPeriodMs: number;
}

export interface LeaderElectorDeps {
  lock: LeaderLock;
  log: Logger;
  /** Monotonic milliseconds. */
  now?: () => number;
  /** Wall clock, only for the times written into the record. */
  wallClock?: () => Date;
  timers?: Timers;
  /** For the standby's jitter. */
  random?: () => number;
}

/** Who else needs to know: the controller (stop or start handing out work), metrics, status. */
export interface Leadership {
  /** True only while this process holds the lock by its own clock; asked right before every write. */
  isLeader(): boolean;
  /** Called on every change, with the new state; returns the unsubscribe function. */
  onLeadershipChange(callback: (leading: boolean) => void): () => void;
}

/** A write refused before it was sent: this process does not hold the lock. */
export class NotLeaderError extends Error {
  constructor(method: string, path: string) {
    super(`${method} ${path}: not sent, this replica does not hold the leader lock`);
    this.name = 'NotLeaderError';
  }
}

/** client-go's JitterFactor: standbys spread their attempts so they do not hit the server together. */
const STANDBY_JITTER = 1.2;

export class LeaderElector implements Leadership {
  private readonly now: () => number;
  private readonly wallClock: () => Date;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly callbacks = new Set<(leading: boolean) => void>();
  private leading = false;
  /** Monotonic ms before which this process may write. */
  private fenceUntil = Number.NEGATIVE_INFINITY;
  private fenceTimer: unknown;
  private observed: { resourceVersion: string | undefined; at: number } | undefined;
  private lastSnapshot: LockSnapshot | undefined;
  private lastHolder: string | undefined;
  /** Lock reads and writes failed in a row (409 aside). */
  private failures = 0;
  private round = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private abandonAttempt: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly config: LeaderElectionConfig, private readonly deps: LeaderElectorDeps) {
    validateTimings(config);
    this.now = deps.now ?? (() => performance.now());
    this.wallClock = deps.wallClock ?? (() => new Date());
    this.timers = deps.timers ?? REAL_TIMERS;
    this.random = deps.random ?? Math.random;
  }

  get identity(): string {
    return this.config.identity;
  }

  isLeader(): boolean {
    if (!this.leading) return false;
    if (this.now() < this.fenceUntil) return true;
    this.lose('could not renew the lock within the renew deadline', undefined);
    return false;
  }

  onLeadershipChange(callback: (leading: boolean) => void): () => void {
    this.callbacks.add(callback);
    return () => this.callbacks.delete(callback);
  }

  start(): void {
    if (this.loop || this.stopped) return;
    this.deps.log.info('Leader election started', {
      identity: this.config.identity, lock: this.deps.lock.description,
      leaseDurationMs: this.config.leaseDurationMs, renewDeadlineMs: this.config.renewDeadlineMs, retryPeriodMs: this.config.retryPeriodMs,
    });
    this.loop = this.run();
  }

  /** Stops electing; a leader releases the lock (empty holder) so that a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.round++;
    this.wake?.();
    this.abandonAttempt?.();
    await this.loop;
    if (this.isLeader() && this.lastSnapshot) await this.release(this.lastSnapshot);
    if (this.leading) this.lose('stopped', undefined);
    this.timers.clearTimeout(this.fenceTimer);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.boundedAttempt();
      if (this.stopped) return;
      const delayMs = this.leading ? this.config.retryPeriodMs : this.config.retryPeriodMs * (1 + STANDBY_JITTER * this.random());
      await new Promise<void>((resolve) => {
        const timer = this.timers.setTimeout(() => resolve(), delayMs);
        this.wake = () => {
          this.timers.clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** One attempt, given up after the renew deadline (a hung request must not stop the loop); its late result is ignored. */
  private async boundedAttempt(): Promise<void> {
    const round = ++this.round;
    let timer: unknown;
    const timeout = new Promise<void>((resolve) => {
      timer = this.timers.setTimeout(() => resolve(), this.config.renewDeadlineMs);
      this.abandonAttempt = resolve;
    });
    await Promise.race([this.attempt(round), timeout]);
    this.abandonAttempt = undefined;
    this.timers.clearTimeout(timer);
    if (this.round === round) this.round++;
  }

  private current(round: number): boolean {
    return round === this.round && !this.stopped;
  }

  private async attempt(round: number): Promise<void> {
    const startedAt = this.now();
    let snapshot: LockSnapshot;
    try {
      snapshot = await this.deps.lock.read();
    } catch (error) {
      this.lockFailed('Lock not readable', error);
      return;
    }
    const readAt = this.now();
    if (!this.current(round)) return;
    // Expiry counts from the first sight of this version of the lock object, as client-go's observedTime.
    const previous = this.observed;
    const observed = previous && previous.resourceVersion === snapshot.resourceVersion && snapshot.resourceVersion !== undefined
      ? previous
      : { resourceVersion: snapshot.resourceVersion, at: readAt };
    this.observed = observed;
    this.lastSnapshot = snapshot;
    const leaseDurationSeconds = this.config.leaseDurationMs / 1000;
    const decision = decideLockAttempt({
      current: snapshot.unreadable ? unreadableRecord(leaseDurationSeconds) : snapshot.record,
      observedAt: observed.at,
      now: readAt,
      wallNow: this.wallClock(),
      identity: this.config.identity,
      leaseDurationSeconds,
    });
    if (!decision.write) {
      this.failures = 0;
      if (this.leading) this.lose('another replica holds the lock', decision.holder);
      this.standingBy(decision.holder);
      return;
    }
    // A read this old may predate another replica's takeover (this process may have been paused
    // while the answer waited): writing on it would only be refused, but it would be a write sent
    // without having read the lock first. Read again next round.
    if (readAt - startedAt > this.staleReadMs()) {
      this.deps.log.debug('Lock read too slow to act on, reading again', { identity: this.config.identity, readMs: Math.round(readAt - startedAt) });
      return;
    }
    if (snapshot.unreadable) this.deps.log.warn('Replacing an unreadable leader lock record', { identity: this.config.identity, lock: this.deps.lock.description });
    const sentAt = this.now();
    let written: LockSnapshot;
    try {
      // The same rule as for the read, asked again between the requests of a two-object lock.
      written = await this.deps.lock.write(decision.record, snapshot, () => this.current(round) && this.now() - startedAt <= this.staleReadMs());
    } catch (error) {
      if (error instanceof LockWriteAbandoned) {
        this.deps.log.info('Lock write abandoned: paused while writing it', { identity: this.config.identity, lock: this.deps.lock.description, written: error.written, skipped: error.skipped, elapsedMs: Math.round(this.now() - startedAt) });
        return;
      }
      // 409: another candidate wrote first; the next read shows who. Anything else (a missing
      // namespace, RBAC) the next round retries, said when it starts and then every tenth time.
      if (isKubeApiError(error) && error.isConflict) {
        this.deps.log.debug('Lock not written: another replica wrote it first', { identity: this.config.identity, lock: this.deps.lock.description });
      } else {
        this.lockFailed('Lock not written', error);
      }
      return;
    }
    this.failures = 0;
    if (!this.current(round)) return;
    this.observed = { resourceVersion: written.resourceVersion, at: sentAt };
    this.lastSnapshot = written;
    this.held(sentAt, decision.record);
  }

  private staleReadMs(): number {
    return Math.max(this.config.retryPeriodMs, this.config.leaseDurationMs - this.config.renewDeadlineMs);
  }

  private held(sentAt: number, record: LeaderElectionRecord): void {
    const fenceUntil = sentAt + this.config.renewDeadlineMs;
    const now = this.now();
    if (fenceUntil <= now) {
      this.deps.log.warn('Lock written too late to act on', { identity: this.config.identity, writeMs: Math.round(now - sentAt), renewDeadlineMs: this.config.renewDeadlineMs });
      return;
    }
    this.fenceUntil = fenceUntil;
    this.timers.clearTimeout(this.fenceTimer);
    // isLeader() checks the clock itself; the timer only makes the loss visible (log, callbacks)
    // when nobody asks.
    this.fenceTimer = this.timers.setTimeout(() => this.isLeader(), fenceUntil - now);
    this.lastHolder = this.config.identity;
    if (this.leading) return;
    this.leading = true;
    this.deps.log.info('Became leader', {
      identity: this.config.identity, lock: this.deps.lock.description, lockKind: this.deps.lock.kind, leaderTransitions: record.leaderTransitions,
    });
    this.notify(true);
  }

  private lose(why: string, holder: string | undefined): void {
    if (!this.leading) return;
    this.leading = false;
    this.fenceUntil = Number.NEGATIVE_INFINITY;
    this.timers.clearTimeout(this.fenceTimer);
    this.deps.log.warn('Lost leadership, standing by', {
      identity: this.config.identity, holder: holder ?? 'unknown', lock: this.deps.lock.description, lockKind: this.deps.lock.kind, why,
    });
    this.lastHolder = holder;
    this.notify(false);
  }

  /** One line per holder change seen by a standby. */
  private standingBy(holder: string): void {
    if (holder === this.lastHolder) return;
    this.lastHolder = holder;
    this.deps.log.info('Standing by', { identity: this.config.identity, holder, lock: this.deps.lock.description, lockKind: this.deps.lock.kind });
  }

  private lockFailed(message: string, error: unknown): void {
    this.failures++;
    // Said when it starts and then every tenth time: the attempts repeat every retry period.
    if (this.failures === 1 || this.failures % 10 === 0) {
      // 403 and 404 do not pass: until the Role or the namespace is fixed no replica leads, and
      // every workload waits for us until its creator times out (the replicas are still ready).
      const fix = isKubeApiError(error) && (error.statusCode === 403 || error.statusCode === 404)
        ? `no replica can lead until this is fixed: install the Role meshinit-leader-election in the lock's namespace (manifests/initializer/leader-election-rbac.yaml; for a webhook rollout, manifests/webhook/rollout-rbac.yaml), point --leader-elect-resource-namespace at it, or run a single replica with --leader-elect=false`
        : undefined;
      this.deps.log.warn(message, {
        identity: this.config.identity, lock: this.deps.lock.description, failures: this.failures,
        error: error instanceof Error ? error.message : String(error),
        ...(fix ? { fix } : {}),
      });
    }
  }

  private async release(basis: LockSnapshot): Promise<void> {
    const stamp = this.wallClock().toISOString();
    const record: LeaderElectionRecord = {
      holderIdentity: '', leaseDurationSeconds: 1, acquireTime: stamp, renewTime: stamp,
      leaderTransitions: basis.record?.leaderTransitions ?? 0,
    };
    try {
      await this.deps.lock.write(record, basis);
      this.lose('released the lock on shutdown', '');
    } catch (error) {
      this.deps.log.warn('Lock not released; the standby takes over when the lease expires', {
        identity: this.config.identity, error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private notify(leading: boolean): void {
    for (const callback of [...this.callbacks]) {
      try {
        callback(leading);
      } catch (error) {
        this.deps.log.error('Leadership change handler failed', { leading, error: error instanceof Error ? error.message : String(error) });
      }
    }
  }
}

/**
 * client-go's rules, plus whole seconds for the lease (the record holds seconds). The one check of
 * them: `meshinit run` turns the error into a usage error, so the messages name the flags.
 */
export function validateTimings(config: Pick<LeaderElectionConfig, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>): void {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = config;
  if (!(retryPeriodMs > 0)) throw new RangeError('the retry period (--leader-elect-retry-period) must be positive');
  if (leaseDurationMs % 1000 !== 0) throw new RangeError('the lease duration (--leader-elect-lease-duration) must be whole seconds (the lock record holds seconds)');
  // A leader stops writing renewDeadline after its last renewal; others start leaseDuration after
  // they saw it. Equal or inverted, two replicas could write at once.
  if (!(renewDeadlineMs < leaseDurationMs)) {
    throw new RangeError('--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration: the renew deadline must be shorter than the lease, or a leader could still write after another took over');
  }
  if (!(retryPeriodMs * STANDBY_JITTER < renewDeadlineMs)) {
    throw new RangeError(`the renew deadline (--leader-elect-renew-deadline) must be longer than ${STANDBY_JITTER} x the retry period (--leader-elect-retry-period), so that a leader gets more than one try to renew`);
  }
}

/** Gates every write through `api` on isLeader(), asked right before the request is handed on. */
export function fenceWrites(api: KubeApi, leadership: Pick<Leadership, 'isLeader'>): KubeApi {
  const refused = (method: string, path: string): Promise<never> => Promise.reject(new NotLeaderError(method, path));
  return {
    get: (path, query) => api.get(path, query),
    list: (path, query) => api.list(path, query),
    watch: (path, query, onEvent) => api.watch(path, query, onEvent),
    patch: (path, body, contentType, query) => (leadership.isLeader() ? api.patch(path, body, contentType, query) : refused('PATCH', path)),
    patchIgnoringAnswer: (path, body, contentType) => (leadership.isLeader() ? api.patchIgnoringAnswer(path, body, contentType) : refused('PATCH', path)),
    post: (path, body, query) => (leadership.isLeader() ? api.post(path, body, query) : refused('POST', path)),
    put: (path, body, query) => (leadership.isLeader() ? api.put(path, body, query) : refused('PUT', path)),
  };
}

interface ApiGroup {
  versions?: Array<{ version?: string }>;
}

const LEASE_VERSIONS = ['v1', 'v1beta1'] as const;

/** The Lease version the server serves (v1 preferred), or undefined when it serves none (1.9-1.11). */
export async function servedLeaseVersion(api: KubeApi): Promise<'v1' | 'v1beta1' | undefined> {
  let group: ApiGroup;
  try {
    group = await api.get<ApiGroup>('/apis/coordination.k8s.io');
  } catch (error) {
    if (isKubeApiError(error) && error.isNotFound) return undefined;
    throw error;
  }
  const served = new Set((group.versions ?? []).map((v) => v.version));
  return LEASE_VERSIONS.find((version) => served.has(version));
}

/**
 * Picks the lock from API discovery (`auto`), or as told. `auto` on a server with Leases holds the
 * ConfigMap too (migrating-lock.ts), so that replicas started before the server had Leases and
 * after cannot both lead; `identity` is needed for that.
 */
export async function chooseLeaderLock(api: KubeApi, location: LockLocation, preference: LockPreference, identity = ''): Promise<LeaderLock> {
  if (preference === 'configmaps') return createConfigMapLock(api, location);
  const version = await servedLeaseVersion(api);
  if (version && preference === 'leases') return createLeaseLock(api, location, version);
  if (version) return createMigratingLock(createLeaseLock(api, location, version), createConfigMapLock(api, location), identity);
  if (preference === 'leases') throw new Error('--leader-elect-resource-lock leases: this API server does not serve coordination.k8s.io Leases (1.12+); use configmaps or auto');
  return createConfigMapLock(api, location);
}


export interface LeaderElectionSetup extends LeaderElectionConfig, LockLocation {
  resourceLock: LockPreference;
}

/** Discovers the lock kind and builds the elector (not started). */
export async function createLeaderElector(setup: LeaderElectionSetup, deps: { api: KubeApi; log: Logger }): Promise<LeaderElector> {
  const lock = await chooseLeaderLock(deps.api, { namespace: setup.namespace, name: setup.name }, setup.resourceLock, setup.identity);
  return new LeaderElector(setup, { lock, log: deps.log });
}
