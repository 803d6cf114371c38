// Kubernetes Events (core/v1, served since long before 1.9) for every decision, so `kubectl
// describe` on the workload shows it next to the scheduler's and the kubelet's lines. Events are
// best effort: a lost Event never holds up, fails or retries the decision it describes.
//
// A creation burst must not become an Event burst. This recorder does what client-go's event
// correlator does (k8s.io/client-go/tools/record/events_cache.go), plus a global bound:
//  - EventLogger: the same (object, type, reason, message) again is counted on the Event already
//    written (PATCH count and lastTimestamp) instead of creating another one. Repeats that arrive
//    while the Event is queued or being written only raise the count the next write carries.
//  - EventAggregator: more than 10 different messages for the same (object, type, reason) within
//    10 minutes are folded into one Event, "(combined from similar events): <latest message>".
//  - A global token bucket (client-go's is per object): at most `burst` writes at once, then
//    `ratePerSecond`; Warnings keep `warningReserve` tokens that Normal Events may not take, so a
//    burst of routine SidecarInjected Events cannot crowd out the Warning an operator must act on.
//  - A bounded queue: what the bucket cannot take yet waits; past `maxQueued` it is dropped,
//    counted (meshinit_events_total{outcome="dropped"}) and logged once per 100 drops.
// The defaults (burst 25, 5/s) mean a 10,000-workload burst over 25 s writes at most 150 Events,
// against the 10,000 PATCHes of the burst itself: about 1.5% more writes. client-go allows 25 per
// object and then one per 5 minutes; 25 is also its burst.
import type { KubeObject } from '../core/types.ts';
import type { Logger } from '../logger.ts';
import type { EventMetrics } from '../metrics.ts';
import { isKubeApiError } from './errors.ts';
import type { KubeApi } from './types.ts';

/** Normal: the sidecar was injected. */
export const REASON_SIDECAR_INJECTED = 'SidecarInjected';
/** Normal: policy says no sidecar for this object (the message is the reason: opted out, no MeshConfig...). */
export const REASON_INJECTION_SKIPPED = 'InjectionSkipped';

/**
 * A skip is routine (Normal), except when another mesh's sidecar is in the pod: the workload then
 * runs without meshinit's sidecar although a MeshConfig selects it, which an operator should see
 * as a Warning in every mode (kubectl also prints the webhook's admission warning).
 */
export function skippedEventType(code: string): 'Normal' | 'Warning' {
  return code === 'other_mesh' ? 'Warning' : 'Normal';
}
/** Warning: a selected object was released without a sidecar (a Job, failurePolicy Ignore, no MeshConfigs readable). */
export const REASON_RELEASED_WITHOUT_SIDECAR = 'SidecarNotInjected';
/** Warning: injection failed under failurePolicy Fail; the object is refused (webhook) or deleted (Initializer). */
export const REASON_INJECTION_FAILED = 'InjectionFailed';

export type EventType = 'Normal' | 'Warning';

/** The object an Event is about, as core/v1 ObjectReference. */
export interface InvolvedObject {
  apiVersion?: string;
  kind: string;
  namespace: string;
  name: string;
  /** `kubectl describe` finds Events by uid: without one, only `kubectl get events` shows it. */
  uid?: string;
  resourceVersion?: string;
}

export interface EventRecord {
  object: InvolvedObject;
  type: EventType;
  reason: string;
  message: string;
  /**
   * Where to read the object's uid when `object` has none (at admission the object is not stored
   * yet). Read just before the Event is written, at least `resolveDelayMs` after the decision;
   * a 404 then means the object was never stored (refused later, or a dry run): no Event.
   */
  resolvePath?: string;
}

export interface EventRecorder {
  record(event: EventRecord): void;
  /** Resolves when nothing is queued or being written (tests, shutdown). */
  idle(): Promise<void>;
  /** Stops timers; queued Events are dropped. */
  stop(): void;
}

export interface EventRecorderOptions {
  /** Wall-clock ms for the Event timestamps (formatted only when an Event is written). */
  clock?: () => number;
  /** Monotonic milliseconds for the token bucket. */
  now?: () => number;
  /** Event writes in flight at once: they must not compete with the PATCHes workloads wait for. */
  maxInFlight?: number;
  /** Events waiting for a token or a slot; beyond this they are dropped. */
  maxQueued?: number;
  burst?: number;
  ratePerSecond?: number;
  /** Tokens only Warnings may take. */
  warningReserve?: number;
  /** Distinct Events remembered for counting repeats (client-go: 4096). */
  cacheSize?: number;
  /** Different messages per (object, type, reason) before they are combined (client-go: 10 in 10 minutes). */
  aggregateAfter?: number;
  aggregateWindowMs?: number;
  /** See EventRecord.resolvePath. */
  resolveDelayMs?: number;
  metrics?: EventMetrics;
}

export const DEFAULT_EVENT_BURST = 25;
export const DEFAULT_EVENT_RATE_PER_SECOND = 5;
export const COMBINED_PREFIX = '(combined from similar events): ';
const MAX_MESSAGE = 1024;

interface Entry {
  key: string;
  record: EventRecord;
  message: string;
  count: number;
  /** The count the server has. */
  sentCount: number;
  /** Wall-clock ms. */
  firstTimestamp: number;
  lastTimestamp: number;
  /** Monotonic ms of the first decision, for resolveDelayMs. */
  firstAt: number;
  /** The Event's name on the server, once created. */
  name?: string;
  state: 'idle' | 'queued' | 'sending';
}

interface Similar {
  messages: Set<string>;
  since: number;
}

/** Where an object is, as an Event's involvedObject; undefined when it has no name or namespace. */
export function involvedObjectOf(object: KubeObject): InvolvedObject | undefined {
  const namespace = object.metadata?.namespace;
  const name = object.metadata?.name;
  if (!namespace || !name || !object.kind) return undefined;
  return {
    kind: object.kind,
    namespace,
    name,
    ...(object.apiVersion ? { apiVersion: object.apiVersion } : {}),
    ...(object.metadata?.uid ? { uid: object.metadata.uid } : {}),
    ...(object.metadata?.resourceVersion ? { resourceVersion: object.metadata.resourceVersion } : {}),
  };
}

/** A token bucket (burst, then a steady rate). */
class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly burst: number, private readonly perMs: number, private readonly now: () => number) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token if more than `keep` are left. */
  take(keep: number): boolean {
    this.refill();
    if (this.tokens < keep + 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token above `keep` is there. */
  waitMs(keep: number): number {
    this.refill();
    return Math.max(1, Math.ceil((keep + 1 - this.tokens) / this.perMs));
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
  }
}

export function createEventRecorder(api: KubeApi, log: Logger, options: EventRecorderOptions = {}): EventRecorder {
  const clock = options.clock ?? Date.now;
  const now = options.now ?? (() => performance.now());
  const maxInFlight = options.maxInFlight ?? 2;
  const maxQueued = options.maxQueued ?? 200;
  const warningReserve = options.warningReserve ?? 5;
  const cacheSize = options.cacheSize ?? 4096;
  const aggregateAfter = options.aggregateAfter ?? 10;
  const aggregateWindowMs = options.aggregateWindowMs ?? 600_000;
  const resolveDelayMs = options.resolveDelayMs ?? 1000;
  const bucket = new TokenBucket(options.burst ?? DEFAULT_EVENT_BURST, (options.ratePerSecond ?? DEFAULT_EVENT_RATE_PER_SECOND) / 1000, now);
  // Insertion order is recency (an entry is re-inserted when touched): the first key is the least recent.
  const entries = new Map<string, Entry>();
  const similar = new Map<string, Similar>();
  const queues: Record<EventType, Set<Entry>> = { Warning: new Set(), Normal: new Set() };
  let inFlight = 0;
  let dropped = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let idleWaiters: Array<() => void> = [];

  const queued = (): number => queues.Warning.size + queues.Normal.size;
  const reserveFor = (type: EventType): number => (type === 'Warning' ? 0 : warningReserve);

  const checkIdle = (): void => {
    if (inFlight > 0 || queued() > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };

  const countDrop = (type: EventType, reason: string, why: string): void => {
    dropped++;
    options.metrics?.event(type, 'dropped');
    if (dropped === 1 || dropped % 100 === 0) log.warn('Events dropped', { dropped, why, lastReason: reason, decisions: 'every decision is in this log' });
  };

  const drop = (entry: Entry, why: string): void => {
    // Never written: forget it, so a later repeat is a new Event rather than a count on nothing.
    if (entry.name === undefined && entries.get(entry.key) === entry) entries.delete(entry.key);
    countDrop(entry.record.type, entry.record.reason, why);
  };
  const QUEUE_FULL = `more than ${maxQueued} Events waiting for the rate limit`;

  const enqueue = (entry: Entry): void => {
    if (queued() >= maxQueued) {
      // A Warning takes the place of the oldest routine Event rather than being lost itself.
      const oldestNormal = entry.record.type === 'Warning' ? queues.Normal.values().next().value : undefined;
      if (!oldestNormal) return drop(entry, QUEUE_FULL);
      queues.Normal.delete(oldestNormal);
      oldestNormal.state = 'idle';
      drop(oldestNormal, 'a Warning Event took the place of a queued Normal Event');
    }
    entry.state = 'queued';
    queues[entry.record.type].add(entry);
    pump();
  };

  const pump = (): void => {
    if (stopped) return;
    while (inFlight < maxInFlight) {
      const type: EventType | undefined = queues.Warning.size > 0 ? 'Warning' : queues.Normal.size > 0 ? 'Normal' : undefined;
      if (!type) break;
      if (!bucket.take(reserveFor(type))) {
        if (!timer) {
          timer = setTimeout(() => { timer = undefined; pump(); }, bucket.waitMs(reserveFor(type)));
          timer.unref?.();
        }
        break;
      }
      const entry: Entry = queues[type].values().next().value!;
      queues[type].delete(entry);
      void send(entry);
    }
    checkIdle();
  };

  const path = (namespace: string, name?: string): string =>
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/events${name ? `/${encodeURIComponent(name)}` : ''}`;

  /** The uid of an object decided on before it was stored; undefined when it never was. */
  const resolveUid = async (entry: Entry): Promise<string | undefined> => {
    const wait = entry.firstAt + resolveDelayMs - now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    try {
      const object = await api.get<KubeObject>(entry.record.resolvePath!);
      return object.metadata?.uid;
    } catch (error) {
      if (isKubeApiError(error) && error.isNotFound) return undefined;
      throw error;
    }
  };

  const create = async (entry: Entry, count: number): Promise<void> => {
    let involvedObject = entry.record.object;
    if (!involvedObject.uid && entry.record.resolvePath) {
      const uid = await resolveUid(entry);
      if (!uid) {
        log.debug('Event not recorded: the object was never stored', { ...entry.record.object, reason: entry.record.reason });
        return drop(entry, 'the object the Event is about was never stored (refused after admission, or a dry run)');
      }
      involvedObject = { ...involvedObject, uid };
      entry.record = { ...entry.record, object: involvedObject };
    }
    const created = await api.post<KubeObject>(path(involvedObject.namespace), {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${involvedObject.name}.`, namespace: involvedObject.namespace },
      involvedObject,
      reason: entry.record.reason,
      message: entry.message,
      type: entry.record.type,
      source: { component: 'meshinit' },
      firstTimestamp: new Date(entry.firstTimestamp).toISOString(),
      lastTimestamp: new Date(entry.lastTimestamp).toISOString(),
      count,
    });
    entry.name = created.metadata?.name;
    options.metrics?.event(entry.record.type, 'created');
  };

  const send = async (entry: Entry): Promise<void> => {
    inFlight++;
    entry.state = 'sending';
    const count = entry.count;
    try {
      if (entry.name !== undefined) {
        try {
          await api.patch(path(entry.record.object.namespace, entry.name), { count, lastTimestamp: new Date(entry.lastTimestamp).toISOString() }, 'application/merge-patch+json');
          options.metrics?.event(entry.record.type, 'patched');
        } catch (error) {
          // Events expire (an hour by default): count on a new one, as client-go does. 403: the
          // Initializer mode's ClusterRole grants no `patch` on Events (it decides each object
          // once, so repeats are rare there): a new Event carries the count instead.
          if (!(isKubeApiError(error) && (error.isNotFound || error.statusCode === 403))) throw error;
          entry.name = undefined;
          await create(entry, count);
        }
      } else {
        await create(entry, count);
      }
      entry.sentCount = count;
    } catch (error) {
      options.metrics?.event(entry.record.type, 'failed');
      if (entry.name === undefined && entries.get(entry.key) === entry) entries.delete(entry.key);
      log.debug('Event not recorded', { ...entry.record.object, reason: entry.record.reason, error: error instanceof Error ? error.message : String(error) });
    } finally {
      inFlight--;
      entry.state = 'idle';
      // Repeats that came in meanwhile: one more write carries them all.
      if (entry.name !== undefined && entry.count > entry.sentCount && entries.get(entry.key) === entry && !stopped) enqueue(entry);
      pump();
    }
  };

  /** The message to use: the real one, or the combined form once an object's messages keep changing. */
  const aggregate = (similarKey: string, message: string, at: number): string => {
    let group = similar.get(similarKey);
    if (!group || at - group.since > aggregateWindowMs) {
      group = { messages: new Set(), since: at };
      similar.set(similarKey, group);
      if (similar.size > cacheSize) similar.delete(similar.keys().next().value!);
    }
    if (group.messages.has(message)) return message;
    if (group.messages.size < aggregateAfter) {
      group.messages.add(message);
      return message;
    }
    return `${COMBINED_PREFIX}${message}`;
  };

  return {
    record(event) {
      if (stopped) return;
      const { object } = event;
      const similarKey = `${object.namespace}/${object.kind}/${object.name}/${object.uid ?? ''}|${event.type}|${event.reason}`;
      // The burst case, kept cheap: a routine Event about an object with no Event yet, and no room
      // to queue it. Nothing to count it on, nothing to remember.
      if (event.type === 'Normal' && queued() >= maxQueued && !similar.has(similarKey)) return countDrop('Normal', event.reason, QUEUE_FULL);
      const at = now();
      const text = aggregate(similarKey, event.message, at);
      const message = text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 3)}...` : text;
      const key = `${similarKey}|${message}`;
      const timestamp = clock();
      let entry = entries.get(key);
      if (entry) {
        entry.count++;
        entry.lastTimestamp = timestamp;
        entries.delete(key);
        entries.set(key, entry);
      } else {
        entry = { key, record: event, message, count: 1, sentCount: 0, firstTimestamp: timestamp, lastTimestamp: timestamp, firstAt: at, state: 'idle' };
        entries.set(key, entry);
        if (entries.size > cacheSize) entries.delete(entries.keys().next().value!);
      }
      // Queued or being written: that write (or the one after it) carries this count too.
      if (entry.state === 'idle') enqueue(entry);
    },
    idle() {
      if (inFlight === 0 && queued() === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      queues.Warning.clear();
      queues.Normal.clear();
      checkIdle();
    },
  };
}
