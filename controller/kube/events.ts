// Kubernetes Events for the decisions an operator must act on, so `kubectl describe` on the
// workload shows them next to the scheduler's and the kubelet's. Routine decisions are logged
// only: an Event per injection would double the API writes of a creation burst.
import type { KubeObject } from '../core/types.ts';
import type { Logger } from '../logger.ts';
import type { KubeApi } from './types.ts';

/** Reason: a selected workload was released without a sidecar (a Job, or failurePolicy Ignore). */
export const REASON_RELEASED_WITHOUT_SIDECAR = 'SidecarNotInjected';
/** Reason: injection failed under failurePolicy Fail; the API server deletes the object. */
export const REASON_INJECTION_FAILED = 'SidecarInjectionFailed';

export interface EventRecorder {
  warning(object: KubeObject, reason: string, message: string): void;
}

export interface EventRecorderOptions {
  clock?: () => Date;
  /** Event POSTs in flight at once: they must not compete with the PATCHes workloads wait for. */
  maxInFlight?: number;
  /** Events waiting for a slot; beyond this they are dropped (and the drop is logged). */
  maxQueued?: number;
}

export function createEventRecorder(api: KubeApi, log: Logger, options: EventRecorderOptions = {}): EventRecorder {
  const clock = options.clock ?? (() => new Date());
  const maxInFlight = options.maxInFlight ?? 2;
  const maxQueued = options.maxQueued ?? 1000;
  const waiting: Array<() => Promise<unknown>> = [];
  let inFlight = 0;
  let dropped = 0;
  const pump = (): void => {
    while (inFlight < maxInFlight && waiting.length > 0) {
      const send = waiting.shift()!;
      inFlight++;
      void send().finally(() => {
        inFlight--;
        pump();
      });
    }
  };
  // A burst of 1,000 released Jobs makes 1,000 Events: they go out a few at a time, behind the
  // work queue's PATCHes, instead of 1,000 parallel POSTs competing with them.
  const enqueue = (send: () => Promise<unknown>): void => {
    if (waiting.length >= maxQueued) {
      dropped++;
      if (dropped === 1 || dropped % 100 === 0) log.warn('Events dropped', { dropped, why: `more than ${maxQueued} Events waiting to be sent; the decisions are in this log` });
      return;
    }
    waiting.push(send);
    pump();
  };
  return {
    warning(object, reason, message) {
      const namespace = object.metadata?.namespace;
      const name = object.metadata?.name;
      if (!namespace || !name) return;
      const now = clock().toISOString();
      const event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${name}.`, namespace },
        involvedObject: { apiVersion: object.apiVersion, kind: object.kind, namespace, name, uid: object.metadata?.uid, resourceVersion: object.metadata?.resourceVersion },
        reason,
        // The API server caps Event messages at 1 KiB.
        message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
        type: 'Warning',
        source: { component: 'meshinit' },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      // Best effort: a lost Event must never hold up or fail the initialization it describes.
      enqueue(() => api.post(`/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, event).catch((error: unknown) => {
        log.debug('Event not recorded', { namespace, name, reason, error: error instanceof Error ? error.message : String(error) });
      }));
    },
  };
}
