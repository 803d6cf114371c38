// What an admission decision becomes besides its answer and its log line: a metric and an Event.
// The webhook's four actions map onto the Initializer mode's, so one dashboard reads both modes:
//   injected -> injected, skipped -> skipped,
//   allowed-uninjected (no MeshConfig readable, or failurePolicy Ignore) -> released,
//   denied (failurePolicy Fail) -> failed.
// Events are written after the answer, never before it: the API server is waiting on it, and the
// object does not exist yet. Dry runs get none (nothing is stored).
import { WORKLOAD_KINDS, type WorkloadKind } from '../core/types.ts';
import {
  REASON_INJECTION_FAILED, REASON_INJECTION_SKIPPED, REASON_RELEASED_WITHOUT_SIDECAR, REASON_SIDECAR_INJECTED, skippedEventType, type EventRecord, type EventRecorder,
} from '../kube/events.ts';
import { objectPath, workloadDescriptor } from '../kube/resources.ts';
import type { DecisionAction, Metrics } from '../metrics.ts';
import type { AdmissionAction, AdmissionDecision } from './admission.ts';

export const ADMISSION_METRIC_ACTION: Readonly<Record<AdmissionAction, DecisionAction>> = {
  injected: 'injected',
  skipped: 'skipped',
  'allowed-uninjected': 'released',
  denied: 'failed',
};

const EVENT_OF: Readonly<Record<AdmissionAction, Pick<EventRecord, 'type' | 'reason'>>> = {
  injected: { type: 'Normal', reason: REASON_SIDECAR_INJECTED },
  skipped: { type: 'Normal', reason: REASON_INJECTION_SKIPPED },
  'allowed-uninjected': { type: 'Warning', reason: REASON_RELEASED_WITHOUT_SIDECAR },
  denied: { type: 'Warning', reason: REASON_INJECTION_FAILED },
};

const isWorkloadKind = (kind: string): kind is WorkloadKind => (WORKLOAD_KINDS as readonly string[]).includes(kind);

/** The Event for a decision, or undefined when there is nothing to write it on (see AdmissionSubject). */
export function admissionEvent(decision: AdmissionDecision): EventRecord | undefined {
  const subject = decision.subject;
  if (decision.dryRun || !subject || decision.code === 'not_targeted') return undefined;
  // A workload's CREATE: its uid exists once it is stored; the recorder reads it then (and writes
  // nothing if it never was). A bare Pod's is not read: that would need `get` on every Pod.
  const resolvePath = !subject.uid && isWorkloadKind(subject.kind) ? objectPath(workloadDescriptor(subject.kind), subject.namespace, subject.name) : undefined;
  const event = EVENT_OF[decision.action];
  const type = decision.action === 'skipped' ? skippedEventType(decision.code) : event.type;
  return { object: subject, ...event, type, message: decision.reason, ...(resolvePath ? { resolvePath } : {}) };
}

export interface AdmissionReporters {
  metrics?: Pick<Metrics, 'decision' | 'admissionSeconds'>;
  events?: EventRecorder;
}

export function reportAdmission(decision: AdmissionDecision, seconds: number, reporters: AdmissionReporters): void {
  reporters.metrics?.decision('webhook', decision.kind, ADMISSION_METRIC_ACTION[decision.action], decision.code);
  reporters.metrics?.admissionSeconds(seconds);
  if (!reporters.events) return;
  const event = admissionEvent(decision);
  if (event) reporters.events.record(event);
}
