// Exponential backoff and injectable timers, shared by everything that retries: the work queue,
// the informers, the MeshConfig status writer. One shape, one formula.

/** Delays start at `initialMs` and double per consecutive failure up to `maxMs`. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** The delay before retry number `attempt` (1 for the first retry). */
export function backoffDelay(backoff: Backoff, attempt: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, attempt - 1));
}

/** setTimeout/clearTimeout behind an interface, so tests can run retries without waiting. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
