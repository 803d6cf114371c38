// A simulated world for leader-election tests: one monotonic clock, timers that fire only when the
// test advances the clock, and a lock store with resourceVersion compare-and-swap whose reads and
// writes take as long as the test says (a request "in flight" is a timer).
import type { Timers } from '../../controller/backoff.ts';
import type { LeaderElectionRecord } from '../../controller/core/leadership.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import type { LeaderLock, LockSnapshot } from '../../controller/kube/leader-lock.ts';

export class SimClock implements Timers {
  now = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.set(id, { at: this.now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Time of the next timer, if any. */
  next(): number | undefined {
    let at: number | undefined;
    for (const timer of this.pending.values()) if (at === undefined || timer.at < at) at = timer.at;
    return at;
  }

  /** Runs every timer due up to `to` in order, letting promises settle after each; `check` runs after each step. */
  async advanceTo(to: number, check: () => void = () => {}): Promise<void> {
    for (;;) {
      await settle();
      check();
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.pending) if (entry[1].at <= to && (!due || entry[1].at < due[1].at || (entry[1].at === due[1].at && entry[0] < due[0]))) due = entry;
      if (!due) break;
      this.pending.delete(due[0]);
      this.now = Math.max(this.now, due[1].at);
      due[1].fn();
    }
    this.now = Math.max(this.now, to);
    await settle();
    check();
  }

  async advance(ms: number, check?: () => void): Promise<void> {
    await this.advanceTo(this.now + ms, check);
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** One lock object on a simulated server: reads and writes are applied when their latency elapses. */
export class SimLockStore {
  resourceVersion = 0;
  record: LeaderElectionRecord | undefined;
  /** Successful writes, in order: who, when (server time), what. */
  readonly writes: Array<{ at: number; record: LeaderElectionRecord }> = [];
  reads = 0;

  constructor(readonly clock: SimClock) {}

  snapshot(): LockSnapshot {
    if (this.resourceVersion === 0) return { resourceVersion: undefined, record: undefined, unreadable: false, object: undefined };
    return { resourceVersion: String(this.resourceVersion), record: this.record ? { ...this.record } : undefined, unreadable: false, object: { metadata: { resourceVersion: String(this.resourceVersion) } } };
  }

  /** A client of this store whose requests take `latency()` ms each way (the server acts halfway), or fail when `failing()` says so. */
  lock(options: { latency?: () => number; failing?: () => boolean } = {}): LeaderLock {
    const latency = options.latency ?? (() => 0);
    const failing = options.failing ?? (() => false);
    const roundTrip = <T>(act: () => T): Promise<T> => new Promise<T>((resolve, reject) => {
      const oneWay = latency() / 2;
      this.clock.setTimeout(() => {
        if (failing()) {
          this.clock.setTimeout(() => reject(new KubeApiError({ method: 'GET', path: '/lock', statusCode: 503, message: 'unavailable' })), oneWay);
          return;
        }
        try {
          const value = act();
          this.clock.setTimeout(() => resolve(value), oneWay);
        } catch (error) {
          this.clock.setTimeout(() => reject(error as Error), oneWay);
        }
      }, oneWay);
    });
    return {
      kind: 'Lease',
      description: 'sim lease',
      read: () => roundTrip(() => {
        this.reads++;
        return this.snapshot();
      }),
      write: (record, basis) => roundTrip(() => {
        const current = this.resourceVersion === 0 ? undefined : String(this.resourceVersion);
        if (basis.resourceVersion !== current) throw new KubeApiError({ method: 'PUT', path: '/lock', statusCode: 409, reason: 'Conflict', message: 'the object has been modified' });
        this.resourceVersion++;
        this.record = { ...record };
        this.writes.push({ at: this.clock.now, record: { ...record } });
        return this.snapshot();
      }),
    };
  }
}

/** A small linear congruential generator: the same schedule for the same seed. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}
