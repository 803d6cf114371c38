// What each MeshConfig's status counts: the workloads it wins, the workloads carrying its current
// sidecar, the workloads carrying an older one, and whether it is shadowed (it selects workloads
// but a MeshConfig of higher priority wins every one of them). Pure: the adapters pass what their
// informer caches hold, and write the result into status at most every few seconds.
//
// Selection is the controller's own (core/selection.ts): namespace selector, workload selector on
// the workload's own labels, kinds, then priority and name. Namespaces meshinit never injects
// (system namespaces, its own, outside --namespace, labelled disabled) count for no MeshConfig.
// Workload-level opt-outs (the inject annotation, policy Disabled, hostNetwork) are not looked at:
// such a workload is matched but neither injected nor outdated, which is what an operator sees.
import { namespaceExclusion, type PolicyContext } from './policy.ts';
import { placeholderValues, renderedSidecarHash } from './render.ts';
import { compareMeshConfigs, matchesLabelSelector } from './selection.ts';
import type { MeshConfig, NamespaceInfo, WorkloadKind } from './types.ts';

/** The part of a status record (core/status-record.ts) the counts need: whose sidecar, which version. */
export interface InjectionMark {
  readonly meshConfig: string;
  readonly hash: string;
}

export interface CountedWorkload {
  kind: WorkloadKind;
  name: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** The record in the pod template, if meshinit injected it. */
  injection: InjectionMark | undefined;
  /**
   * A stable object for this version of the workload (the cache entry): the expected hash, which
   * depends on the workload's name when the sidecar uses placeholders, is remembered against it.
   */
  memoKey?: object;
}

export interface MeshConfigCounts {
  /** Workloads this MeshConfig wins (selected, highest priority). */
  matched: number;
  /** Workloads its selectors and kinds select, won or not. */
  selecting: number;
  /** MeshConfigs that won workloads it selects, by name (for the NotSelected message). */
  takenBy: string[];
  /** Workloads whose template carries its current sidecar; absent when records cannot be seen. */
  injected?: number;
  /** Workloads whose template carries an older sidecar of it. */
  outdated?: number;
}

export interface CountInput {
  workloads: Iterable<CountedWorkload>;
  /** The MeshConfigs in force (valid, or the last valid version of an invalid one). */
  meshConfigs: readonly MeshConfig[];
  namespace: (name: string) => NamespaceInfo | undefined;
  policy: Pick<PolicyContext, 'controllerNamespace' | 'injectNamespaces'>;
  /** False where the adapter cannot see injection records (webhook --target pods): no injected/outdated. */
  recordsVisible: boolean;
}

interface Tally {
  matched: number;
  selecting: number;
  injected: number;
  outdated: number;
  takenBy: Set<string>;
}

// Expected hashes by MeshConfig version and workload version: both are immutable values (the store
// replaces a MeshConfig on change, the informer replaces a cache entry), so a recount every few
// seconds hashes only what changed since the last one.
const expectedHashes = new WeakMap<MeshConfig, WeakMap<object, string>>();

function expectedHash(meshConfig: MeshConfig, workload: CountedWorkload): string {
  let byWorkload = expectedHashes.get(meshConfig);
  if (!byWorkload) {
    byWorkload = new WeakMap();
    expectedHashes.set(meshConfig, byWorkload);
  }
  const memo = workload.memoKey ? byWorkload.get(workload.memoKey) : undefined;
  if (memo !== undefined) return memo;
  const hash = renderedSidecarHash(meshConfig.spec.sidecar, placeholderValues(workload, meshConfig.name));
  if (workload.memoKey) byWorkload.set(workload.memoKey, hash);
  return hash;
}

function emptyTally(): Tally {
  return { matched: 0, selecting: 0, injected: 0, outdated: 0, takenBy: new Set() };
}

/** Counts per MeshConfig name: every MeshConfig in force, and every name a workload's record carries. */
export function countMeshConfigWorkloads(input: CountInput): Map<string, MeshConfigCounts> {
  const tallies = new Map<string, Tally>(input.meshConfigs.map((mc) => [mc.name, emptyTally()]));
  const byName = new Map(input.meshConfigs.map((mc) => [mc.name, mc]));
  const sorted = [...input.meshConfigs].sort(compareMeshConfigs);
  // Namespace verdicts once per namespace, not per workload: the MeshConfigs whose namespace
  // selector matches, or none when meshinit never injects there.
  const inNamespace = new Map<string, readonly MeshConfig[]>();
  const eligibleIn = (name: string): readonly MeshConfig[] => {
    let found = inNamespace.get(name);
    if (!found) {
      const ns = input.namespace(name) ?? { name, labels: {} };
      found = namespaceExclusion(ns, input.policy) === undefined ? sorted.filter((mc) => matchesLabelSelector(mc.spec.namespaceSelector, ns.labels)) : [];
      inNamespace.set(name, found);
    }
    return found;
  };
  for (const workload of input.workloads) {
    let winner: MeshConfig | undefined;
    const selecting: MeshConfig[] = [];
    for (const mc of eligibleIn(workload.namespace)) {
      if (!mc.spec.kinds.includes(workload.kind) || !matchesLabelSelector(mc.spec.selector, workload.labels)) continue;
      winner ??= mc; // sorted: the first that selects it wins
      selecting.push(mc);
    }
    for (const mc of selecting) {
      const tally = tallies.get(mc.name)!;
      tally.selecting++;
      if (mc === winner) tally.matched++;
      else tally.takenBy.add(winner!.name);
    }
    const mark = workload.injection;
    if (!input.recordsVisible || !mark) continue;
    let tally = tallies.get(mark.meshConfig);
    if (!tally) {
      // A MeshConfig deleted, or never valid: whatever carries its sidecar is outdated.
      tally = emptyTally();
      tallies.set(mark.meshConfig, tally);
    }
    const current = byName.get(mark.meshConfig);
    if (current && expectedHash(current, workload) === mark.hash) tally.injected++;
    else tally.outdated++;
  }
  const counts = new Map<string, MeshConfigCounts>();
  for (const [name, tally] of tallies) {
    counts.set(name, {
      matched: tally.matched,
      selecting: tally.selecting,
      takenBy: [...tally.takenBy].sort(),
      ...(input.recordsVisible ? { injected: tally.injected, outdated: tally.outdated } : {}),
    });
  }
  return counts;
}

/** A MeshConfig in force that selects workloads but wins none of them: the reason is in takenBy. */
export function isShadowed(counts: MeshConfigCounts): boolean {
  return counts.selecting > 0 && counts.matched === 0;
}
