// The restart of a workload whose Pods carry an older sidecar (webhook --target pods): the Pods
// were injected at admission, so the template has nothing to re-inject; re-creating the Pods is
// the way to give them the current sidecar, done as `kubectl rollout restart` does it, with an
// annotation on the pod template, so the workload's own rolling update (maxSurge,
// maxUnavailable, PodDisruptionBudgets) paces it.
import { RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION } from './constants.ts';
import type { InjectionMark } from './meshconfig-counts.ts';
import type { KubeObject } from './types.ts';
import { isRecord } from './untrusted.ts';

/** What a restart is for: the MeshConfig and the hash of the sidecar new Pods will get. */
export type RestartTarget = Pick<InjectionMark, 'meshConfig' | 'hash'>;

export function formatRestartTarget(target: RestartTarget): string {
  return `${target.meshConfig}/${target.hash}`;
}

function templateAnnotations(object: KubeObject): Record<string, unknown> | undefined {
  const spec = object.spec;
  const template = isRecord(spec) ? spec.template : undefined;
  const metadata = isRecord(template) ? template.metadata : undefined;
  const annotations = isRecord(metadata) ? metadata.annotations : undefined;
  return isRecord(annotations) ? annotations : undefined;
}

/** Whether the workload's template already asks for Pods with this sidecar (a restart for it was sent). */
export function restartedFor(object: KubeObject, target: RestartTarget): boolean {
  return templateAnnotations(object)?.[RESTARTED_FOR_ANNOTATION] === formatRestartTarget(target);
}

/**
 * The workload with the two template annotations stamped and nothing else changed, so nothing a
 * user or another controller wrote is lost; sent with buildRolloutPatch (core/patch.ts), the same
 * conditional PATCH a re-injection sends.
 */
export function restartedWorkload<T extends KubeObject>(original: T, target: RestartTarget, now: Date): T {
  const spec = original.spec;
  if (!isRecord(spec) || !isRecord(spec.template)) throw new Error(`${String(original.kind)} ${original.metadata?.namespace ?? ''}/${original.metadata?.name ?? ''} has no spec.template to restart`);
  const template = spec.template;
  const metadata = isRecord(template.metadata) ? template.metadata : {};
  const annotations: Record<string, unknown> = { ...(templateAnnotations(original) ?? {}) };
  annotations[RESTARTED_AT_ANNOTATION] = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  annotations[RESTARTED_FOR_ANNOTATION] = formatRestartTarget(target);
  return { ...original, spec: { ...spec, template: { ...template, metadata: { ...metadata, annotations } } } };
}
