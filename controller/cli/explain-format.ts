// `meshinit explain` output: text for people, JSON for scripts. The JSON shape is part of the
// interface (README "Explain"): fields are only ever added, and `explainVersion` changes if one
// is removed or changes meaning.
import type { Explanation, MeshConfigExplanation, ModeDecision } from '../core/explain.ts';

/** One explained workload, with where it came from. */
export interface ExplainedItem {
  /** `app.yaml: document 3`, or `cluster https://…` for a live read. */
  source: string;
  explanation: Explanation;
  /** False offline: the namespace's labels were not read, only given (or taken as none). */
  namespaceLabelsKnown: boolean;
}

/** A document that is not a workload meshinit injects, and why it was passed over. */
export interface PassedOver {
  source: string;
  kind: string;
  name: string;
  reason: string;
}

export interface ExplainReport {
  items: ExplainedItem[];
  passedOver: PassedOver[];
  /** Caveats that apply to the whole run (offline limits). */
  notes: string[];
}

export const EXPLAIN_JSON_VERSION = 1;

export function renderExplainJson(report: ExplainReport): string {
  const explanations = report.items.map(({ source, explanation, namespaceLabelsKnown }) => ({
    source,
    workload: explanation.workload,
    namespace: { ...explanation.namespace, labelsKnown: namespaceLabelsKnown },
    meshConfigs: explanation.meshConfigs,
    selected: explanation.selected ?? null,
    decisions: explanation.decisions,
    injection: explanation.injection ?? null,
    ...(explanation.sidecarLayout ? { sidecarLayout: explanation.sidecarLayout } : {}),
    injected: explanation.injected,
  }));
  return `${JSON.stringify({ explainVersion: EXPLAIN_JSON_VERSION, explanations, passedOver: report.passedOver, notes: report.notes }, null, 2)}\n`;
}

function labels(map: Record<string, string>): string {
  const entries = Object.entries(map);
  return entries.length === 0 ? '(none)' : entries.map(([key, value]) => `${key}=${value}`).join(', ');
}

function meshConfigLines(mc: MeshConfigExplanation): string[] {
  const about = mc.priority !== undefined ? ` (priority ${mc.priority}, policy ${mc.policy}, generation ${mc.generation})` : '';
  const verdict = mc.verdict === 'selected' ? 'selected' : mc.verdict === 'invalid' ? 'not used' : 'not selected';
  const lines = [`    ${mc.name}${about}`, `      ${verdict}: ${mc.reason}`];
  if (mc.servingLastValid) lines.push(`      note: its current spec is invalid, so its last valid version above is used: ${(mc.problems ?? []).join('; ')}`);
  return lines;
}

function decisionText(decision: ModeDecision): string {
  const extra = decision.warning ? `\n      kubectl shows the warning: ${decision.warning}` : decision.denial ? `\n      the create is refused: ${decision.denial}` : '';
  const targetPods = decision.targetPods ? `\n      note: ${decision.targetPods}` : '';
  return `${decision.action}: ${decision.reason}${extra}${targetPods}`;
}

function decisionLines(decisions: readonly ModeDecision[]): string[] {
  const [first] = decisions;
  if (!first) return [];
  const same = decisions.every((decision) => decision.action === first.action && decision.reason === first.reason);
  if (same) return [`  Decision (${decisions.map((decision) => `${decision.mode} mode`).join(' and ')}): ${decisionText(first)}`];
  return ['  Decision (the modes differ):', ...decisions.map((decision) => `    ${decision.mode} mode: ${decisionText(decision)}`)];
}

function injectionLines(explanation: Explanation): string[] {
  const injection = explanation.injection;
  if (!injection) return [];
  const items = (list: ReadonlyArray<{ name: string; image?: string }>): string => list.map((item) => (item.image ? `${item.name} (${item.image})` : item.name)).join(', ');
  const rows: Array<[string, string]> = [
    ['initContainers', items(injection.initContainers)],
    ['containers', items(injection.containers)],
    ['volumes', injection.volumes.join(', ')],
    ['imagePullSecrets', injection.imagePullSecrets.join(', ')],
    ['pod annotations', injection.podAnnotations.join(', ')],
    ['pod labels', injection.podLabels.join(', ')],
  ];
  const added = explanation.decisions.some((decision) => decision.action === 'injected');
  const what = added ? 'Sidecar' : 'Sidecar it would get, though not added here (see the decision)';
  return [
    `  ${what} (MeshConfig ${injection.meshConfig}, generation ${injection.generation}, hash ${injection.hash}; JSON Patch of ${injection.patch.length} operations with -o json):`,
    ...rows.filter(([, value]) => value !== '').map(([name, value]) => `    ${`${name}:`.padEnd(18)}${value}`),
  ];
}

/** Only for a MeshConfig that asks for native sidecars: how its sidecar goes in, and why not natively. */
function layoutLines(explanation: Explanation): string[] {
  const layout = explanation.sidecarLayout;
  if (!layout) return [];
  const how = layout.refusal !== undefined
    ? 'not injected'
    : layout.layout === 'native' ? 'native sidecars (its containers as init containers with restartPolicy Always)' : 'regular containers';
  const why = layout.refusal ?? layout.note;
  return [`  Sidecar layout (nativeSidecar ${layout.nativeSidecar}, server ${layout.server}): ${how}${why !== undefined ? `\n    ${why}` : ''}`];
}

function injectedLine(explanation: Explanation): string {
  const state = explanation.injected;
  switch (state.state) {
    case 'none':
      return '  Carries now: no sidecar of meshinit';
    case 'current':
      return `  Carries now: the current injection (MeshConfig ${state.record.meshConfig}, generation ${state.record.generation}, hash ${state.record.hash})`;
    case 'outdated':
      return `  Carries now: an older injection: ${state.reason}`;
    case 'corrupt':
      return `  Carries now: an unreadable record: ${state.reason}`;
  }
}

export function renderExplainText(report: ExplainReport): string {
  const blocks = report.items.map(({ source, explanation, namespaceLabelsKnown }) => {
    const { workload, namespace } = explanation;
    const given = Object.keys(namespace.labels).length > 0;
    const namespaceLabels = namespaceLabelsKnown ? labels(namespace.labels) : given ? `${labels(namespace.labels)} (from --namespace-labels)` : '(none: not read offline; give --namespace-labels)';
    return [
      `${workload.kind} ${workload.namespace}/${workload.name} (${source})`,
      `  Namespace ${namespace.name}: labels ${namespaceLabels}`,
      explanation.meshConfigs.length === 0 ? '  MeshConfigs: none' : `  MeshConfigs (${explanation.meshConfigs.length}, in the order they are tried):`,
      ...explanation.meshConfigs.flatMap(meshConfigLines),
      ...decisionLines(explanation.decisions),
      ...injectionLines(explanation),
      ...layoutLines(explanation),
      injectedLine(explanation),
    ].join('\n');
  });
  const passed = report.passedOver.map((item) => `${item.kind} ${item.name} (${item.source}): ${item.reason}`);
  const notes = report.notes.map((note) => `Note: ${note}`);
  return [...blocks, ...(passed.length > 0 ? [passed.join('\n')] : []), ...(notes.length > 0 ? [notes.join('\n')] : [])].map((block) => `${block}\n`).join('\n');
}
