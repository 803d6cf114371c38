// Which sidecar a workload's running Pods carry, for webhook mode --target pods: there the sidecar
// is injected into Pods at admission and the workload's template carries no record, so "is this
// Deployment outdated?" can only be answered from its Pods' records. Pure: the adapter pages
// through the Pods (core/v1 LIST) and hands them here one at a time.
import { STATUS_ANNOTATION } from './constants.ts';
import type { InjectionMark } from './meshconfig-counts.ts';
import type { KubeObject, Pod, WorkloadKind } from './types.ts';
import { isRecord } from './untrusted.ts';
import { podOwnerIdentity } from './workload.ts';
import { parseInjectionMark } from './workload-summary.ts';

/** `Kind/namespace/name`: one workload, as the caches key it. */
export function workloadKey(kind: WorkloadKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/**
 * A Pod that will still be serving after a restart would have replaced it: not being deleted, not
 * finished. A Job's completed Pods and a rolled-out Deployment's terminating Pods carry the old
 * sidecar, yet no restart can or needs to change them.
 */
function isLive(pod: KubeObject): boolean {
  if (pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) return false;
  const status = pod.status;
  const phase = isRecord(status) ? status.phase : undefined;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

/** The workload a live, injected Pod belongs to and the record it carries; undefined for any other Pod. */
export function podInjection(pod: KubeObject): { workload: string; mark: InjectionMark } | undefined {
  const annotations = pod.metadata?.annotations;
  if (!isRecord(annotations) || !isLive(pod)) return undefined;
  const raw = annotations[STATUS_ANNOTATION];
  const mark = parseInjectionMark(typeof raw === 'string' ? raw : undefined);
  if (!mark) return undefined;
  const namespace = typeof pod.metadata?.namespace === 'string' ? pod.metadata.namespace : '';
  const owner = podOwnerIdentity(pod as Pod, namespace);
  return owner.ok ? { workload: workloadKey(owner.value.kind, namespace, owner.value.name), mark } : undefined;
}

/**
 * Per workload, the distinct records its live Pods carry. Mid-rollout a Deployment has Pods of two
 * sidecar versions (or of two MeshConfigs, when another one started to win it); it is outdated
 * while any of them is, which only the caller can judge: it knows which MeshConfig wins now.
 */
export class PodMarks {
  private readonly byWorkload = new Map<string, InjectionMark[]>();
  /** Pods seen, and Pods that carried a record meshinit could attribute to a workload. */
  pods = 0;
  injectedPods = 0;

  add(pod: KubeObject): void {
    this.pods++;
    const found = podInjection(pod);
    if (!found) return;
    this.injectedPods++;
    const known = this.byWorkload.get(found.workload);
    if (!known) this.byWorkload.set(found.workload, [found.mark]);
    else if (!known.some((mark) => sameMark(mark, found.mark))) known.push(found.mark);
  }

  /** The distinct records of the workload's live Pods, oldest MeshConfig generation first; empty when none is injected. */
  of(kind: WorkloadKind, namespace: string, name: string): readonly InjectionMark[] {
    const marks = this.byWorkload.get(workloadKey(kind, namespace, name)) ?? [];
    return marks.length > 1 ? [...marks].sort((a, b) => a.generation - b.generation) : marks;
  }

  get workloads(): number {
    return this.byWorkload.size;
  }
}

function sameMark(a: InjectionMark, b: InjectionMark): boolean {
  return a.meshConfig === b.meshConfig && a.generation === b.generation && a.hash === b.hash;
}
