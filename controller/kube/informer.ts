// A list+watch cache for one resource. client-node's ListWatch is not used: it cannot pass extra
// query parameters (uninitialized objects are invisible to LIST and WATCH without
// `includeUninitialized=true`) and it gives up on most errors. This one never gives up until stop().

import { backoffDelay, type Backoff } from '../backoff.ts';
import type { KubeObject } from '../core/types.ts';
import { deepFreeze } from '../core/untrusted.ts';
import type { InformerMetrics } from '../metrics.ts';
import { isKubeApiError } from './errors.ts';
import { apiVersionOf, collectionPath, objectKey, type ResourceDescriptor } from './resources.ts';
import type { KubeApi, QueryParams, WatchEvent, WatchHandle } from './types.ts';

export interface InformerHandlers<T> {
  add: (obj: T) => void;
  /** Also called with oldObj === newObj on resync. */
  update: (oldObj: T, newObj: T) => void;
  /** The object's last state (from the DELETED event, or the cache when a relist found it gone). */
  delete: (obj: T) => void;
}

export interface InformerOptions {
  api: KubeApi;
  descriptor: ResourceDescriptor;
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string;
  /** Extra query for both LIST and WATCH, e.g. `{ includeUninitialized: true }`. */
  query?: QueryParams;
  /** Server-side watch duration. Default 300. */
  watchTimeoutSeconds?: number;
  /** Emit update(obj, obj) for every cached object this often; 0 (default) = off. */
  resyncPeriodMs?: number;
  /** Delay before relisting after a failure. Default 1 s doubling to 30 s. */
  backoff?: Backoff;
  /** Injected for tests; must reject or resolve promptly when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Milliseconds of a monotonic clock; injected for tests. */
  now?: () => number;
  onError?: (err: unknown) => void;
  /** Called after every successful LIST: whatever made the informer fail is over. */
  onListed?: () => void;
  /** Keeps only what the cache's readers need of each object (say, its metadata), before freezing. */
  transform?: (raw: KubeObject) => KubeObject;
  /**
   * LIST in pages of this many objects (`limit` and `continue`, served since 1.9), each page
   * prepared (transformed) before the next is asked for, so the whole collection is never held
   * raw at once. Absent: one LIST.
   */
  pageSize?: number;
  /** Counts relists and watch restarts, by the descriptor's plural. */
  metrics?: InformerMetrics;
}

export interface Informer<T extends KubeObject> {
  start(): void;
  stop(): Promise<void>;
  hasSynced(): boolean;
  /** Resolves after the first successful list; rejects if `signal` aborts or the informer stops first. */
  waitForSync(signal?: AbortSignal): Promise<void>;
  get(key: string): T | undefined;
  list(): T[];
  on<E extends keyof InformerHandlers<T>>(event: E, handler: InformerHandlers<T>[E]): void;
}

// A half-open connection never delivers the server's close; stop waiting this long after the
// server should have ended the watch.
const WATCH_GRACE_MS = 30_000;

// A watch the server (or a proxy, or a draining API server) ends this soon without a single event
// did not work, whatever its status said: resuming at once would loop thousands of times a second.
// client-go's reflector treats it the same way ("very short watch").
export const MIN_WATCH_MS = 1000;

/** A watch that ended almost at once with no event: a failure, backed off like any other. */
export class ShortWatchError extends Error {
  constructor(path: string, durationMs: number) {
    super(`GET ${path}?watch=true: the server ended the watch after ${Math.round(durationMs)} ms without sending an event; backing off before listing again`);
    this.name = 'ShortWatchError';
  }
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Settles with `promise`, or rejects as soon as `signal` aborts (the promise then runs on unobserved). */
function untilAborted<V>(promise: Promise<V>, signal: AbortSignal): Promise<V> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new Error('informer stopped'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createInformer<T extends KubeObject>(options: InformerOptions): Informer<T> {
  const { api, descriptor } = options;
  const path = collectionPath(descriptor, options.namespace);
  const apiVersion = apiVersionOf(descriptor);
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
  const backoff = options.backoff ?? { initialMs: 1000, maxMs: 30_000 };
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? (() => performance.now());
  const handlers: { [E in keyof InformerHandlers<T>]: InformerHandlers<T>[E][] } = { add: [], update: [], delete: [] };
  let cache = new Map<string, T>();
  let synced = false;
  let syncWaiters: Array<{ resolve(): void; reject(err: Error): void }> = [];
  let running: Promise<void> | undefined;
  let resyncTimer: ReturnType<typeof setInterval> | undefined;
  let watchHandle: WatchHandle | undefined;
  const lifetime = new AbortController();

  const report = (err: unknown): void => {
    try {
      options.onError?.(err);
    } catch {
      // A failing error reporter must not kill the loop that keeps the cache alive.
    }
  };

  function emit<E extends keyof InformerHandlers<T>>(event: E, ...args: Parameters<InformerHandlers<T>[E]>): void {
    for (const handler of handlers[event]) {
      try {
        (handler as (...a: Parameters<InformerHandlers<T>[E]>) => void)(...args);
      } catch (err) {
        report(err);
      }
    }
  }

  function prepare(raw: T): T {
    // LIST items come without kind/apiVersion (the List carries them); watch events have them.
    // Fill them in so every consumer sees the same shape, then freeze: the cache is shared.
    const obj = raw.kind && raw.apiVersion ? raw : { ...raw, kind: descriptor.kind, apiVersion };
    return deepFreeze(options.transform ? (options.transform(obj) as T) : obj);
  }

  function upsert(raw: T): void {
    const obj = prepare(raw);
    const key = objectKey(obj);
    const old = cache.get(key);
    cache.set(key, obj);
    if (!old) emit('add', obj);
    else emit('update', old, obj);
  }

  /** One consistent LIST, page by page; resolves with its resourceVersion and the prepared objects. */
  async function listAll(pageSize: number | undefined): Promise<{ resourceVersion: string; objects: Map<string, T> }> {
    const objects = new Map<string, T>();
    let resourceVersion: string | undefined;
    let token: string | undefined;
    do {
      const query = { ...options.query, ...(pageSize ? { limit: pageSize } : {}), ...(token ? { continue: token } : {}) };
      const page = await untilAborted(api.list<T>(path, query), lifetime.signal);
      // Every page is of the first page's snapshot; its resourceVersion is the one to watch from.
      resourceVersion ??= page.metadata.resourceVersion;
      for (const item of page.items) {
        const obj = prepare(item);
        objects.set(objectKey(obj), obj);
      }
      token = pageSize ? page.metadata.continue || undefined : undefined;
    } while (token);
    if (!resourceVersion) throw new Error(`LIST ${path} answered without metadata.resourceVersion`);
    return { resourceVersion, objects };
  }

  async function listAndReplace(): Promise<string> {
    let listed;
    try {
      listed = await listAll(options.pageSize);
    } catch (err) {
      // 410: the snapshot the continue token points into was compacted away while we paged
      // (etcd compacts every few minutes). Paging again could lose the race again: one full LIST.
      if (!(options.pageSize && isKubeApiError(err) && err.isGone)) throw err;
      listed = await listAll(undefined);
    }
    const { resourceVersion, objects: next } = listed;
    if (synced) options.metrics?.relisted(descriptor.plural);
    const previous = cache;
    cache = next;
    for (const [key, obj] of next) {
      const old = previous.get(key);
      if (!old) emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) emit('update', old, obj);
    }
    // Deleted while we were not watching: the DELETED event is lost, so announce it from the cache.
    for (const [key, old] of previous) {
      if (!next.has(key)) emit('delete', old);
    }
    if (!synced) {
      synced = true;
      for (const waiter of syncWaiters) waiter.resolve();
      syncWaiters = [];
    }
    try {
      options.onListed?.();
    } catch (err) {
      report(err);
    }
    return resourceVersion;
  }

  /** Watches from `resourceVersion` until the stream ends; returns the last version seen. */
  async function watchOnce(resourceVersion: string, progress: { made: boolean }): Promise<string> {
    let last = resourceVersion;
    let events = 0;
    const started = now();
    const onEvent = (event: WatchEvent<T>): void => {
      events++;
      progress.made = true;
      const rv = event.object.metadata?.resourceVersion;
      if (event.type === 'BOOKMARK') {
        if (rv) last = rv;
        return;
      }
      if (event.type === 'DELETED') {
        const obj = prepare(event.object);
        cache.delete(objectKey(obj));
        emit('delete', obj);
      } else {
        upsert(event.object);
      }
      if (rv) last = rv;
    };
    const handle = api.watch<T>(path, {
      ...options.query,
      resourceVersion,
      timeoutSeconds: watchTimeoutSeconds,
      allowWatchBookmarks: true,
    }, onEvent);
    watchHandle = handle;
    const guard = setTimeout(() => handle.stop(), watchTimeoutSeconds * 1000 + WATCH_GRACE_MS);
    try {
      // Ended by the server (timeoutSeconds) or by our guard: either way resume where we were,
      // unless it ended at once with nothing in it.
      const end = await handle.done;
      const durationMs = now() - started;
      if (end.closedByServer && events === 0 && durationMs < MIN_WATCH_MS) throw new ShortWatchError(path, durationMs);
      return last;
    } finally {
      clearTimeout(guard);
      watchHandle = undefined;
      // Ended for any reason but stop(): another watch (or a LIST first) follows.
      if (!lifetime.signal.aborted) options.metrics?.watchRestarted(descriptor.plural);
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!lifetime.signal.aborted) {
      // Whether the watch got anywhere since the last list: an event, or a watch the server ended.
      const progress = { made: false };
      try {
        let resourceVersion = await listAndReplace();
        while (!lifetime.signal.aborted) {
          resourceVersion = await watchOnce(resourceVersion, progress);
          progress.made = true;
          // Only a watch that worked ends the backoff: a server that answers LIST but fails
          // every WATCH must not be asked again at the initial delay forever.
          failures = 0;
        }
      } catch (err) {
        if (lifetime.signal.aborted) break;
        // 410: the resourceVersion we resume from was compacted away (etcd compacts every few
        // minutes); only a fresh list can continue, so relist at once. A 410 on the very first watch
        // after a list is not that, and relisting at once could spin: back off like any error.
        if (isKubeApiError(err) && err.isGone && progress.made) continue;
        report(err);
        failures++;
        await sleep(backoffDelay(backoff, failures), lifetime.signal);
      }
    }
  }

  return {
    start() {
      if (running || lifetime.signal.aborted) return;
      running = run();
      if (options.resyncPeriodMs && options.resyncPeriodMs > 0) {
        resyncTimer = setInterval(() => {
          if (!synced) return;
          for (const obj of cache.values()) emit('update', obj, obj);
        }, options.resyncPeriodMs);
      }
    },
    async stop() {
      lifetime.abort();
      clearInterval(resyncTimer);
      watchHandle?.stop();
      for (const waiter of syncWaiters) waiter.reject(new Error('informer stopped before it synced'));
      syncWaiters = [];
      await running;
    },
    hasSynced: () => synced,
    waitForSync(signal?: AbortSignal) {
      if (synced) return Promise.resolve();
      if (lifetime.signal.aborted) return Promise.reject(new Error('informer stopped before it synced'));
      return new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(new Error('waitForSync aborted'));
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        syncWaiters.push({
          resolve: () => { signal?.removeEventListener('abort', onAbort); resolve(); },
          reject: (err) => { signal?.removeEventListener('abort', onAbort); reject(err); },
        });
      });
    },
    get: (key) => cache.get(key),
    list: () => [...cache.values()],
    on(event, handler) {
      handlers[event].push(handler);
    },
  };
}
