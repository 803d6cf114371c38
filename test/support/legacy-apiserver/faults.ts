// Fault injection for the double, on command or by rate, every decision drawn from a seed. Rates
// are per request class; a decision is keyed by the request's identity and how many times that
// identity was seen (see keyedRandom), so concurrency does not reshuffle which request fails.
import { keyedRandom } from './prng.ts';

export type RequestClass = 'list' | 'watch' | 'get' | 'create' | 'patch' | 'update' | 'delete';

export const FAULT_TYPES = [
  'latency',
  'http-500',
  'http-503',
  'http-504',
  'http-429',
  'inflight-429',
  'conflict-409',
  'applied-then-504',
  'watch-drop',
  'watch-reset',
  'watch-stall',
  'watch-gone-event',
  'watch-gone-http',
] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

export interface FaultPlan {
  seed: number;
  /** Only requests with one of these bearer tokens are faulted; every request when absent. */
  targets?: readonly string[];
  /** Fraction of requests of a class answered with a 5xx (500, 503 or 504). */
  errorRate?: Partial<Record<RequestClass, number>>;
  /** Fraction of requests of a class answered 429 (plain text, Retry-After: 1). */
  throttleRate?: Partial<Record<RequestClass, number>>;
  /** Of the 5xx answers to writes, the fraction given after the write landed (a lost answer). */
  appliedThenFailRate?: number;
  /** Fraction of PATCHes answered 409 Conflict without being applied. */
  conflictRate?: number;
  /** Delay before handling: fixed, or a [min, max] range drawn per request. */
  latencyMs?: number | readonly [number, number];
  latencyClasses?: readonly RequestClass[];
  /** Non-watch requests handled at once; beyond it, 429 as the server's in-flight limiter answers. */
  maxInFlight?: number;
  /** End every open (targeted) watch this often. */
  dropWatchesEveryMs?: number;
  /** Of the dropped watches, the fraction whose connection is reset instead of the stream ended. */
  resetFraction?: number;
  /** Fraction of new watches that stall: kept open, sent nothing, until their timeoutSeconds. */
  stallRate?: number;
}

export type ErrorVerdict = { kind: 'none' } | { kind: 'error'; fault: 'http-500' | 'http-503' | 'http-504' | 'http-429'; afterApply: boolean };

export class FaultInjector {
  plan: FaultPlan;
  readonly counts = Object.fromEntries(FAULT_TYPES.map((type) => [type, 0])) as Record<FaultType, number>;
  /** Queued 410 answers for the next watch resumes (a watch with a resourceVersion), by form. */
  readonly goneQueue: Array<'event' | 'http'> = [];
  /** Stall this many of the next watches. */
  stallNext = 0;
  private readonly occurrences = new Map<string, number>();

  constructor(plan: Partial<FaultPlan> = {}) {
    this.plan = { seed: 1, ...plan };
  }

  /** Replaces the rates (counters keep counting). */
  configure(plan: Partial<FaultPlan>): void {
    this.plan = { seed: this.plan.seed, ...plan };
  }

  count(type: FaultType): void {
    this.counts[type]++;
  }

  total(): number {
    return Object.values(this.counts).reduce((sum, n) => sum + n, 0);
  }

  /** Counters that are not zero, for printing. */
  summary(): Partial<Record<FaultType, number>> {
    return Object.fromEntries(Object.entries(this.counts).filter(([, n]) => n > 0));
  }

  targets(token: string | undefined): boolean {
    const targets = this.plan.targets;
    return targets === undefined || (token !== undefined && targets.includes(token));
  }

  /** A reproducible roll in [0, 1) for `decision` on the n-th request with this identity. */
  roll(decision: string, identity: string): number {
    const key = `${decision}|${identity}`;
    const n = (this.occurrences.get(key) ?? 0) + 1;
    this.occurrences.set(key, n);
    return keyedRandom(this.plan.seed, `${key}|${n}`);
  }

  latency(cls: RequestClass, identity: string): number {
    const latency = this.plan.latencyMs;
    if (latency === undefined || (this.plan.latencyClasses && !this.plan.latencyClasses.includes(cls))) return 0;
    if (typeof latency === 'number') return latency;
    const [min, max] = latency;
    return min + Math.floor(this.roll('latency', identity) * (max - min + 1));
  }

  /** Whether this request is answered with an injected 5xx or 429, and for writes whether after applying. */
  error(cls: RequestClass, identity: string): ErrorVerdict {
    const errorRate = this.plan.errorRate?.[cls] ?? 0;
    const throttleRate = this.plan.throttleRate?.[cls] ?? 0;
    if (errorRate + throttleRate <= 0) return { kind: 'none' };
    const roll = this.roll('error', identity);
    if (roll < throttleRate) return { kind: 'error', fault: 'http-429', afterApply: false };
    if (roll >= throttleRate + errorRate) return { kind: 'none' };
    const which = this.roll('error-code', identity);
    const fault = which < 0.4 ? 'http-500' : which < 0.7 ? 'http-503' : 'http-504';
    const write = cls === 'patch' || cls === 'create' || cls === 'update';
    const afterApply = write && this.roll('after-apply', identity) < (this.plan.appliedThenFailRate ?? 0);
    return { kind: 'error', fault: afterApply ? 'http-504' : fault, afterApply };
  }

  conflict(identity: string): boolean {
    const rate = this.plan.conflictRate ?? 0;
    return rate > 0 && this.roll('conflict', identity) < rate;
  }

  stall(identity: string): boolean {
    if (this.stallNext > 0) {
      this.stallNext--;
      return true;
    }
    const rate = this.plan.stallRate ?? 0;
    return rate > 0 && this.roll('stall', identity) < rate;
  }

  reset(identity: string): boolean {
    const fraction = this.plan.resetFraction ?? 0;
    return fraction > 0 && this.roll('reset', identity) < fraction;
  }
}
