// What a targeted request meets before it is handled: latency, then possibly an injected answer in
// place of handling (a 5xx or a 429, or a 409 for a conditional PATCH), or the verdict that it is
// handled but its answer lost (a 504 after the write landed).
import { FaultInjector, type FaultType, type RequestClass } from './faults.ts';
import { carriesResourceVersion, type RecordedRequest } from './log.ts';
import type { Route } from './resources.ts';
import type { Flavor } from './semantics.ts';
import * as S from './status.ts';

export type GateVerdict = 'go' | 'fail-after-apply' | { answer: S.Answer; fault: FaultType };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The answer for an injected error, shaped as the real server (or its in-flight limiter) sends it. */
export function injectedAnswer(fault: FaultType, flavor: Flavor): S.Answer {
  if (fault === 'http-429') return S.tooManyRequests();
  if (fault === 'http-503') return S.serviceUnavailable();
  if (fault === 'http-504') return S.createTimeout(flavor, '30s');
  return S.internalError('etcdserver: request timed out');
}

export async function faultGate(faults: FaultInjector, flavor: Flavor, cls: RequestClass, route: Route, rec: RecordedRequest): Promise<GateVerdict> {
  const identity = `${rec.method} ${rec.path}`;
  const delay = faults.latency(cls, identity);
  if (delay > 0) {
    faults.count('latency');
    await sleep(delay);
  }
  const verdict = faults.error(cls, identity);
  if (verdict.kind === 'error' && !verdict.afterApply) {
    faults.count(verdict.fault);
    return { answer: injectedAnswer(verdict.fault, flavor), fault: verdict.fault };
  }
  // Only a write with a resourceVersion precondition can meet a 409: without one the real server
  // retries the patch against the newest version itself.
  if (cls === 'patch' && carriesResourceVersion(rec.body) && faults.conflict(identity)) {
    faults.count('conflict-409');
    return { answer: S.conflict(route.type, route.name ?? ''), fault: 'conflict-409' };
  }
  return verdict.kind === 'error' ? 'fail-after-apply' : 'go';
}
