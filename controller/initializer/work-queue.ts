// A keyed work queue with the guarantees a level-triggered controller needs (the same ones as
// client-go's workqueue): a key is never handled by two workers at once (two PATCHes of one object
// would race on its resourceVersion), a burst of events for one key collapses into one run, an event
// that arrives while its key is running is not lost, and failures retry with per-key backoff so a
// 429 storm does not become a retry storm. Bounded concurrency is what keeps a 1,000-workload burst
// under the API server's in-flight limit in the first place; when the server still answers 429
// (its in-flight limit is shared with every other client), the limit halves and then grows back by
// one per `limit` successes (AIMD, as TCP does), so meshinit yields to the server instead of
// retrying at the same pressure.

import PQueue from 'p-queue';
import { backoffDelay, REAL_TIMERS, type Backoff, type Timers } from '../backoff.ts';
import { isKubeApiError } from '../kube/errors.ts';

export type { Timers } from '../backoff.ts';

export interface RetryInfo {
  retrying: boolean;
  attempt: number;
  /** The delay before the retry; undefined when not retrying. */
  delayMs: number | undefined;
}

export interface KeyedWorkQueueOptions {
  concurrency: number;
  handler(key: string): Promise<void>;
  backoff?: Partial<Backoff>;
  /**
   * Decides whether a failure is retried: a delay in ms, or undefined to give up (onError gets
   * retrying: false). `backoffMs` is the per-key exponential delay for this attempt. Default: retry
   * every error after `backoffMs`. A KubeApiError's Retry-After wins when it is longer.
   */
  retryDelayMs?(error: unknown, attempt: number, backoffMs: number): number | undefined;
  onError?(key: string, error: unknown, info: RetryInfo): void;
  /** The running limit changed: lowered after a 429, or grown back towards `concurrency`. */
  onLimitChange?(limit: number, why: 'overloaded' | 'recovered'): void;
  /** Injected for tests. */
  timers?: Timers;
  now?: () => number;
}

/** One halving per this interval: the 429s of one overload arrive together and count once. */
const DECREASE_COOLDOWN_MS = 1000;

interface KeyState {
  phase: 'queued' | 'running' | 'delayed';
  /** An add() arrived while running: run again afterwards. */
  dirty: boolean;
  /** Consecutive failures. */
  attempts: number;
  /** When the key came in (monotonic ms): it is waiting for, or being handled by, us since. */
  since: number;
  timer?: unknown;
}

export class KeyedWorkQueue {
  private readonly queue: PQueue;
  private readonly states = new Map<string, KeyState>();
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  private limit: number;
  private successesAtLimit = 0;
  private lastDecrease = -Infinity;
  private readonly now: () => number;

  constructor(private readonly options: KeyedWorkQueueOptions) {
    this.queue = new PQueue({ concurrency: options.concurrency });
    this.limit = options.concurrency;
    this.now = options.now ?? (() => performance.now());
    this.timers = options.timers ?? REAL_TIMERS;
    this.backoff = { initialMs: options.backoff?.initialMs ?? 50, maxMs: options.backoff?.maxMs ?? 60_000 };
  }

  /** Keys waiting to run (queued now or waiting out a retry delay). */
  get size(): number {
    let n = 0;
    for (const state of this.states.values()) if (state.phase !== 'running') n++;
    return n;
  }

  /** How many handlers may run at once now: `concurrency`, or less while the server is overloaded. */
  get concurrencyLimit(): number {
    return this.limit;
  }

  /**
   * Milliseconds since the key that has been in the queue longest came in (0 when empty): a
   * workload that keeps failing stays in, so this grows while it waits. O(keys); for scrapes.
   */
  get longestWaitingMs(): number {
    let oldest = Infinity;
    for (const state of this.states.values()) if (state.since < oldest) oldest = state.since;
    return oldest === Infinity ? 0 : this.now() - oldest;
  }

  /** Keys whose handler is running. */
  get pending(): number {
    return this.queue.pending;
  }

  /** Schedules `key`. Returns false once shut down. */
  add(key: string): boolean {
    if (this.closed) return false;
    const state = this.states.get(key);
    if (!state) {
      this.states.set(key, { phase: 'queued', dirty: false, attempts: 0, since: this.now() });
      this.enqueue(key);
    } else if (state.phase === 'running') {
      state.dirty = true;
    }
    // 'queued' coalesces. 'delayed' too: the retry reads the latest state anyway, and running at
    // once would ignore the backoff (and a server's Retry-After) whenever events keep coming.
    return true;
  }

  /** Stops taking work, drops keys not yet started, resolves when running handlers finish. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.queue.clear();
    for (const [key, state] of this.states) {
      if (state.phase === 'running') continue;
      if (state.timer !== undefined) this.timers.clearTimeout(state.timer);
      this.states.delete(key);
    }
    this.resolveIfIdle();
    await this.onIdle();
  }

  /** Resolves when no key is queued, running or waiting for a retry. */
  onIdle(): Promise<void> {
    if (this.states.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue(key: string): void {
    void this.queue.add(() => this.run(key));
  }

  private async run(key: string): Promise<void> {
    const state = this.states.get(key);
    if (!state) return;
    state.phase = 'running';
    state.dirty = false;
    try {
      await this.options.handler(key);
      state.attempts = 0;
      this.grow();
      this.finish(key, state);
    } catch (error) {
      state.attempts++;
      if (isKubeApiError(error) && error.statusCode === 429) this.shrink();
      const delayMs = this.closed ? undefined : this.retryDelay(error, state.attempts);
      this.report(key, error, { retrying: delayMs !== undefined, attempt: state.attempts, delayMs });
      if (delayMs === undefined) {
        state.attempts = 0;
        this.finish(key, state);
        return;
      }
      state.phase = 'delayed';
      state.timer = this.timers.setTimeout(() => {
        state.timer = undefined;
        if (this.states.get(key) !== state) return;
        state.phase = 'queued';
        this.enqueue(key);
      }, delayMs);
    }
  }

  /** After a run that will not be retried: run again if an add() came in meanwhile, else forget the key. */
  private finish(key: string, state: KeyState): void {
    if (state.dirty && !this.closed) {
      state.phase = 'queued';
      this.enqueue(key);
      return;
    }
    this.states.delete(key);
    this.resolveIfIdle();
  }

  private setLimit(limit: number, why: 'overloaded' | 'recovered'): void {
    this.limit = limit;
    this.successesAtLimit = 0;
    this.queue.concurrency = limit;
    try {
      this.options.onLimitChange?.(limit, why);
    } catch {
      // Reporting must not break the queue.
    }
  }

  private shrink(): void {
    const now = this.now();
    if (now - this.lastDecrease < DECREASE_COOLDOWN_MS || this.limit === 1) return;
    this.lastDecrease = now;
    this.setLimit(Math.max(1, Math.floor(this.limit / 2)), 'overloaded');
  }

  private grow(): void {
    if (this.limit >= this.options.concurrency) return;
    if (++this.successesAtLimit >= this.limit) this.setLimit(this.limit + 1, 'recovered');
  }

  private resolveIfIdle(): void {
    if (this.states.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private retryDelay(error: unknown, attempt: number): number | undefined {
    const backoffMs = backoffDelay(this.backoff, attempt);
    const delay = this.options.retryDelayMs ? this.options.retryDelayMs(error, attempt, backoffMs) : backoffMs;
    if (delay === undefined) return undefined;
    // 429 carries Retry-After: the server's in-flight limiter says when it can take us again.
    const serverMs = isKubeApiError(error) && error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : 0;
    return Math.max(delay, serverMs);
  }

  private report(key: string, error: unknown, info: RetryInfo): void {
    try {
      this.options.onError?.(key, error, info);
    } catch {
      // A throwing logger must not leave the key stuck in 'running' forever.
    }
  }
}
