// Which documents `meshinit inject` injects, and the stderr lines it writes about each. Every kind
// that carries a pod template is injected offline; the notes say where a mode on the cluster would
// treat the kind differently, so that nobody learns it from a Pod without its proxy.
import { CLUSTER_COVERAGE } from '../core/outcome.ts';
import type { InjectionPlan } from '../core/plan.ts';
import type { PodTemplateCarrier } from '../core/types.ts';
import { isRecord } from '../core/untrusted.ts';
import { isPodTemplateKind, recognisePodTemplateCarrier, type Recognised } from '../core/workload.ts';

/**
 * A document of one of the POD_TEMPLATE_KINDS, or why it cannot be injected; `undefined` for
 * everything else (Services, ConfigMaps, ...), which is printed unchanged without a word.
 */
export function recogniseInjectable(value: unknown): Recognised<PodTemplateCarrier> | undefined {
  if (!isRecord(value) || !isPodTemplateKind(value.kind)) return undefined;
  return recognisePodTemplateCarrier(value);
}

function describe(object: PodTemplateCarrier, namespace: string): string {
  return `${object.kind} ${namespace}/${object.metadata.name ?? object.metadata.generateName ?? ''}`;
}

/** The line for a skipped document: a warning when another mesh is the reason, as every mode logs it. */
export function skippedNote(object: PodTemplateCarrier, namespace: string, plan: InjectionPlan<unknown> & { action: 'skip' }): string {
  return `meshinit: ${plan.otherMesh ? 'warning: ' : ''}skipped ${describe(object, namespace)}: ${plan.reason}`;
}

/** For an injected document of a kind some mode on the cluster would not inject: one note saying which. */
export function injectedNotes(origin: string, object: PodTemplateCarrier, namespace: string): string[] {
  const coverage = CLUSTER_COVERAGE[object.kind];
  return coverage === undefined ? [] : [`meshinit: note: ${origin}: ${describe(object, namespace)} injected; ${coverage}`];
}
