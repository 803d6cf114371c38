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

export function createEventRecorder(api: KubeApi, log: Logger, clock: () => Date = () => new Date()): EventRecorder {
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
      api.post(`/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, event).catch((error: unknown) => {
        log.debug('Event not recorded', { namespace, name, reason, error: error instanceof Error ? error.message : String(error) });
      });
    },
  };
}
