// GET ...?watch=true: a 410 for a resume the watch cache cannot serve (or one queued by a fault
// command), else a chunked NDJSON stream that replays the changes after the resourceVersion (or,
// without one, the current state as ADDED events) and then follows live changes until
// timeoutSeconds, a fault command, or the client ends it.
import type http from 'node:http';
import type { FaultInjector, FaultType } from './faults.ts';
import { parseBool, sendAnswer } from './http-util.ts';
import type { Delivery, RecordedRequest } from './log.ts';
import type { Route } from './resources.ts';
import { isUninitialized, type Obj } from './semantics.ts';
import * as S from './status.ts';
import type { ObjectStore } from './store.ts';
import type { WatchHub } from './watch.ts';

export interface WatchContext {
  store: ObjectStore;
  hub: WatchHub;
  faults: FaultInjector;
  goneAs: 'event' | 'http';
  /** Records a delivery of a tracked resource; undefined when the resource is not tracked. */
  deliver: ((delivery: Omit<Delivery, 'at'>) => void) | undefined;
  /** Counts a 410 the watch cache gave on its own. */
  expired(): void;
}

export function serveWatch(ctx: WatchContext, res: http.ServerResponse, route: Route, query: URLSearchParams, rec: RecordedRequest, targeted: boolean): void {
  const plural = route.type.plural;
  const from = query.get('resourceVersion') ?? '';
  const resuming = from !== '' && from !== '0';
  const gone = (answer: S.Answer, form: 'event' | 'http', fault?: FaultType): void => {
    rec.code = form === 'http' ? 410 : 200;
    if (fault) rec.fault = fault;
    if (form === 'http') return sendAnswer(res, answer);
    // The watch cache's way: a 200 stream holding one ERROR event, then the end.
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.end(`${JSON.stringify({ type: 'ERROR', object: answer.body })}\n`);
  };
  if (resuming && targeted && ctx.faults.goneQueue.length > 0) {
    const form = ctx.faults.goneQueue.shift()!;
    const fault = form === 'http' ? 'watch-gone-http' : 'watch-gone-event';
    ctx.faults.count(fault);
    return gone(S.gone(from, ctx.store.revision), form, fault);
  }
  const since = resuming ? ctx.store.changesSince(plural, Number(from)) : undefined;
  if (since && 'tooOld' in since) {
    ctx.expired();
    return gone(S.gone(from, since.tooOld), ctx.goneAs);
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  rec.code = 200;
  const stalled = targeted && ctx.faults.stall(`watch ${rec.path}`);
  if (stalled) {
    ctx.faults.count('watch-stall');
    rec.fault = 'watch-stall';
  }
  const deliver = ctx.deliver;
  const watcher = ctx.hub.open({
    plural,
    namespace: route.namespace,
    includeUninitialized: parseBool(query.get('includeUninitialized')),
    token: rec.token,
    res,
    stalled,
    ...(deliver ? { onSent: (_type: string, object: Obj) => deliver({ token: rec.token, plural, name: object.metadata?.name ?? '', resourceVersion: object.metadata?.resourceVersion ?? '', via: 'watch' }) } : {}),
  });
  const timeoutSeconds = Number(query.get('timeoutSeconds') ?? 0);
  if (timeoutSeconds > 0) watcher.timer = setTimeout(() => ctx.hub.end(watcher), timeoutSeconds * 1000);
  if (stalled) return;
  if (since) {
    for (const change of since.changes) ctx.hub.send(watcher, change);
    return;
  }
  // No resourceVersion (or "0"): the current state as synthetic ADDED events, then live changes.
  for (const object of ctx.store.list(plural, route.namespace)) {
    if (watcher.includeUninitialized || !isUninitialized(object)) ctx.hub.sendRaw(watcher, 'ADDED', object);
  }
}
