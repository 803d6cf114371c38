// What should become of each workload, from the README's rules alone ("Who is injected", Jobs,
// failurePolicy), written independently of meshinit's core so the two can disagree.
import { CONTROLLER_NAMESPACE, INJECT_ANNOTATION, NAMESPACES, type Kind, type WorkloadSpec } from './world.ts';

export type Expectation =
  | { outcome: 'untouched'; why: string }
  | { outcome: 'deleted'; why: string }
  | { outcome: 'sidecar'; meshConfig: 'default' | 'strict' | 'optin' };

interface Candidate {
  name: 'default' | 'strict' | 'optin';
  priority: number;
  matches(w: WorkloadSpec, nsLabels: Record<string, string>): boolean;
  kinds: readonly Kind[];
  policy: 'Enabled' | 'Disabled';
  failurePolicy: 'Ignore' | 'Fail';
}

const ALL_KINDS: readonly Kind[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'];

// The three MeshConfigs of world.ts, as plain rules (the mid-burst change touches only the sidecar).
const MESHCONFIGS: readonly Candidate[] = [
  { name: 'strict', priority: 10, matches: (w) => w.labels.tier === 'strict', kinds: ['Deployment', 'StatefulSet', 'DaemonSet'], policy: 'Enabled', failurePolicy: 'Fail' },
  { name: 'optin', priority: 5, matches: (_w, ns) => ns.mesh === 'opt-in', kinds: ALL_KINDS, policy: 'Disabled', failurePolicy: 'Ignore' },
  { name: 'default', priority: 0, matches: () => true, kinds: ALL_KINDS, policy: 'Enabled', failurePolicy: 'Ignore' },
];

const NEVER_INJECTED = ['kube-system', 'kube-public', 'kube-node-lease', CONTROLLER_NAMESPACE];

export function expectationFor(w: WorkloadSpec): Expectation {
  const nsLabels = NAMESPACES.find((ns) => ns.name === w.namespace)?.labels ?? {};
  if (NEVER_INJECTED.includes(w.namespace)) return { outcome: 'untouched', why: 'system or controller namespace' };
  if (nsLabels['meshinit.dev/injection'] === 'disabled') return { outcome: 'untouched', why: 'namespace disabled' };
  // The workload's annotation wins over the pod template's.
  const inject = w.annotations[INJECT_ANNOTATION] ?? w.podAnnotations[INJECT_ANNOTATION];
  if (inject === 'false') return { outcome: 'untouched', why: 'opted out' };
  if (w.hostNetwork) return { outcome: 'untouched', why: 'hostNetwork' };
  const chosen = MESHCONFIGS.filter((mc) => mc.matches(w, nsLabels) && mc.kinds.includes(w.kind)).sort((a, b) => b.priority - a.priority)[0];
  if (!chosen) return { outcome: 'untouched', why: 'no MeshConfig selects it' };
  if (chosen.policy === 'Disabled' && inject !== 'true') return { outcome: 'untouched', why: `${chosen.name} has policy Disabled` };
  if (w.kind === 'Job') return { outcome: 'untouched', why: 'Jobs are released' };
  if (w.clash) return chosen.failurePolicy === 'Fail' ? { outcome: 'deleted', why: `clash under ${chosen.name} (Fail)` } : { outcome: 'untouched', why: `clash under ${chosen.name} (Ignore)` };
  return { outcome: 'sidecar', meshConfig: chosen.name };
}
