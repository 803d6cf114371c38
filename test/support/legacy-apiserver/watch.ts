// Open watch streams: NDJSON events filtered the way the 1.13 cacher filters them. A watcher sees an
// object only when it passes the watcher's filter (namespace, and initialized unless it asked for
// includeUninitialized). An object entering the filter arrives as ADDED and one leaving it as
// DELETED, which is why a watch without the flag sees a single ADDED once the object is initialized
// (fixture 13b) while one with the flag sees ADDED then MODIFIED (13a).
import type { ServerResponse } from 'node:http';
import { isUninitialized, type Obj } from './semantics.ts';
import type { Change } from './store.ts';

export interface Watcher {
  id: number;
  plural: string;
  namespace: string | undefined;
  includeUninitialized: boolean;
  token: string | undefined;
  res: ServerResponse;
  /** Kept open, sent nothing (a stuck cache or proxy); still ends at timeoutSeconds. */
  stalled: boolean;
  /** Called with each object actually written to the stream. */
  onSent?: (type: string, object: Obj) => void;
  timer?: ReturnType<typeof setTimeout>;
  closed: boolean;
}

function visible(object: Obj | undefined, watcher: Watcher): boolean {
  if (!object) return false;
  if (watcher.namespace !== undefined && object.metadata?.namespace !== watcher.namespace) return false;
  return watcher.includeUninitialized || !isUninitialized(object);
}

/** What a change looks like to one watcher: an event, or nothing. */
export function eventFor(change: Change, watcher: Watcher): { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Obj } | undefined {
  const before = visible(change.previous, watcher);
  if (change.type === 'DELETED') return before ? { type: 'DELETED', object: change.object } : undefined;
  const now = visible(change.object, watcher);
  if (now) return { type: before ? 'MODIFIED' : 'ADDED', object: change.object };
  return before ? { type: 'DELETED', object: change.object } : undefined;
}

export class WatchHub {
  readonly watchers = new Set<Watcher>();
  private nextId = 1;

  open(init: Omit<Watcher, 'id' | 'closed'>): Watcher {
    const watcher: Watcher = { ...init, id: this.nextId++, closed: false };
    this.watchers.add(watcher);
    const forget = (): void => {
      watcher.closed = true;
      clearTimeout(watcher.timer);
      this.watchers.delete(watcher);
    };
    watcher.res.on('close', forget);
    return watcher;
  }

  /** Writes one change to one watcher if it should see it. */
  send(watcher: Watcher, change: Change): void {
    if (watcher.closed || watcher.stalled || watcher.plural !== change.plural) return;
    const event = eventFor(change, watcher);
    if (!event) return;
    let line = change.encoded.get(event.type);
    if (line === undefined) {
      line = `${JSON.stringify({ type: event.type, object: event.object })}\n`;
      change.encoded.set(event.type, line);
    }
    watcher.res.write(line);
    watcher.onSent?.(event.type, event.object);
  }

  /** Writes a raw event (initial ADDED events, an ERROR) to one watcher. */
  sendRaw(watcher: Watcher, type: string, object: unknown): void {
    if (watcher.closed) return;
    watcher.res.write(`${JSON.stringify({ type, object })}\n`);
    if (type !== 'ERROR') watcher.onSent?.(type, object as Obj);
  }

  broadcast(change: Change): void {
    for (const watcher of this.watchers) this.send(watcher, change);
  }

  /** Ends a stream the way the server ends it at timeoutSeconds: a clean end of the chunked body. */
  end(watcher: Watcher): void {
    if (watcher.closed) return;
    watcher.closed = true;
    clearTimeout(watcher.timer);
    this.watchers.delete(watcher);
    watcher.res.end();
  }

  /** Drops the connection under the stream, as a crashed server or a proxy reset would. */
  reset(watcher: Watcher): void {
    if (watcher.closed) return;
    watcher.closed = true;
    clearTimeout(watcher.timer);
    this.watchers.delete(watcher);
    watcher.res.socket?.destroy();
    watcher.res.destroy();
  }

  list(filter: (watcher: Watcher) => boolean = () => true): Watcher[] {
    return [...this.watchers].filter(filter);
  }
}
