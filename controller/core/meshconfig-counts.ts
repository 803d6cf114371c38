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
import { canonicalJson } from './status-record.ts';
import type { MeshConfig, NamespaceInfo, WorkloadKind } from './types.ts';

/** The part of a status record (core/status-record.ts) the counts need: whose sidecar, which version. */
export interface InjectionMark {
  readonly meshConfig: string;
  /** The MeshConfig's metadata.generation the sidecar came from (0 on 1.9). */
  readonly generation: number;
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
  /** updatePolicy Rollout only: where the rollout of its current sidecar stands (core/rollout.ts). */
  rollout?: RolloutStatus;
  /**
   * Webhook --target pods: the records are in Pods. injected/outdated are counted from the Pods
   * the rollout read, and are absent on a replica that holds no such reading.
   */
  fromPods?: true;
}

/** status.rollout of a MeshConfig with updatePolicy Rollout. */
export interface RolloutStatus {
  paused: boolean;
  /** Started and not finished (nor timed out) yet. */
  inProgress: number;
  /** Outdated, waiting for the workload's own rollout to finish first. */
  waiting: number;
  /** Outdated and ready to start, held back by maxPerMinute. */
  rateLimited: number;
  /** When this replica last started one (absent after a restart until it does). */
  lastStartedAt?: string;
}

export interface CountInput {
  workloads: Iterable<CountedWorkload>;
  /** The MeshConfigs in force (valid, or the last valid version of an invalid one). */
  meshConfigs: readonly MeshConfig[];
  namespace: (name: string) => NamespaceInfo | undefined;
  policy: Pick<PolicyContext, 'controllerNamespace' | 'injectNamespaces'>;
  /** False where the adapter cannot see injection records (webhook --target pods): no injected/outdated. */
  recordsVisible: boolean;
  /** Kept by the caller between counts; a fresh one hashes every workload again. */
  hashes?: ExpectedHashes;
}

interface Tally {
  matched: number;
  selecting: number;
  injected: number;
  outdated: number;
  takenBy: Set<string>;
}

/**
 * Expected hashes by sidecar version and workload version, kept between counts: both are immutable
 * values (a cache entry is replaced, never edited), so a recount every few seconds hashes only
 * what changed since the last one. Keyed by the sidecar's content, not the MeshConfig object: the
 * store makes a new object for every MeshConfig event, status writes included.
 */
export class ExpectedHashes {
  private readonly byVersion = new Map<string, WeakMap<object, string>>();
  private readonly versionKeys = new WeakMap<MeshConfig, string>();

  get(meshConfig: MeshConfig, workload: CountedWorkload): string {
    const memo = workload.memoKey ? this.memoFor(meshConfig) : undefined;
    const found = memo?.get(workload.memoKey!);
    if (found !== undefined) return found;
    const hash = renderedSidecarHash(meshConfig.layout.sidecar, placeholderValues(workload, meshConfig.name));
    memo?.set(workload.memoKey!, hash);
    return hash;
  }

  /** Forgets the versions of sidecars no MeshConfig in `inForce` has any more. */
  retain(inForce: readonly MeshConfig[]): void {
    const keep = new Set(inForce.map((mc) => this.versionKey(mc)));
    for (const key of this.byVersion.keys()) if (!keep.has(key)) this.byVersion.delete(key);
  }

  private versionKey(meshConfig: MeshConfig): string {
    let key = this.versionKeys.get(meshConfig);
    if (key === undefined) {
      key = canonicalJson([meshConfig.name, meshConfig.layout.sidecar]);
      this.versionKeys.set(meshConfig, key);
    }
    return key;
  }

  private memoFor(meshConfig: MeshConfig): WeakMap<object, string> {
    const key = this.versionKey(meshConfig);
    let memo = this.byVersion.get(key);
    if (!memo) {
      memo = new WeakMap();
      this.byVersion.set(key, memo);
    }
    return memo;
  }
}

/**
 * Whether `mark` is the sidecar `current` gives this workload now. The same generation means the
 * same spec, so no hash is needed (custom resources have generations from 1.11); otherwise (1.9,
 * where every generation is 0, or an edit) the hash decides: an edit that does not change the
 * sidecar (say, its priority) leaves workloads current.
 */
export function carriesCurrent(current: MeshConfig, workload: CountedWorkload, mark: InjectionMark, hashes: ExpectedHashes): boolean {
  if (mark.generation > 0 && mark.generation === current.generation) return true;
  return hashes.get(current, workload) === mark.hash;
}

function emptyTally(): Tally {
  return { matched: 0, selecting: 0, injected: 0, outdated: 0, takenBy: new Set() };
}

/**
 * Counts workloads one at a time, so that an adapter can count a large cache in slices and let
 * other work run in between; countMeshConfigWorkloads does it in one go.
 */
export class MeshConfigTally {
  private readonly tallies: Map<string, Tally>;
  private readonly byName: Map<string, MeshConfig>;
  private readonly sorted: readonly MeshConfig[];
  private readonly hashes: ExpectedHashes;
  /** Per namespace, not per workload: the MeshConfigs whose namespace selector matches, none where meshinit never injects. */
  private readonly inNamespace = new Map<string, readonly MeshConfig[]>();

  constructor(private readonly input: Omit<CountInput, 'workloads'>) {
    this.tallies = new Map(input.meshConfigs.map((mc) => [mc.name, emptyTally()]));
    this.byName = new Map(input.meshConfigs.map((mc) => [mc.name, mc]));
    this.sorted = [...input.meshConfigs].sort(compareMeshConfigs);
    this.hashes = input.hashes ?? new ExpectedHashes();
    this.hashes.retain(input.meshConfigs);
  }

  add(workload: CountedWorkload): void {
    let winner: MeshConfig | undefined;
    for (const mc of this.eligibleIn(workload.namespace)) {
      if (!mc.spec.kinds.includes(workload.kind) || !matchesLabelSelector(mc.spec.selector, workload.labels)) continue;
      winner ??= mc; // sorted: the first that selects it wins
      const tally = this.tallies.get(mc.name)!;
      tally.selecting++;
      if (mc === winner) tally.matched++;
      else tally.takenBy.add(winner.name);
    }
    const mark = workload.injection;
    if (!this.input.recordsVisible || !mark) return;
    let tally = this.tallies.get(mark.meshConfig);
    if (!tally) {
      // A MeshConfig deleted, or never valid: whatever carries its sidecar is outdated.
      tally = emptyTally();
      this.tallies.set(mark.meshConfig, tally);
    }
    const current = this.byName.get(mark.meshConfig);
    if (current && carriesCurrent(current, workload, mark, this.hashes)) tally.injected++;
    else tally.outdated++;
  }

  /** Counts per MeshConfig name: every MeshConfig in force, and every name a workload's record carries. */
  result(): Map<string, MeshConfigCounts> {
    const counts = new Map<string, MeshConfigCounts>();
    for (const [name, tally] of this.tallies) {
      counts.set(name, {
        matched: tally.matched,
        selecting: tally.selecting,
        takenBy: [...tally.takenBy].sort(),
        ...(this.input.recordsVisible ? { injected: tally.injected, outdated: tally.outdated } : {}),
      });
    }
    return counts;
  }

  private eligibleIn(name: string): readonly MeshConfig[] {
    let found = this.inNamespace.get(name);
    if (!found) {
      const ns = this.input.namespace(name) ?? { name, labels: {} };
      found = namespaceExclusion(ns, this.input.policy) === undefined ? this.sorted.filter((mc) => matchesLabelSelector(mc.spec.namespaceSelector, ns.labels)) : [];
      this.inNamespace.set(name, found);
    }
    return found;
  }
}

/** Counts per MeshConfig name: every MeshConfig in force, and every name a workload's record carries. */
export function countMeshConfigWorkloads(input: CountInput): Map<string, MeshConfigCounts> {
  const tally = new MeshConfigTally(input);
  for (const workload of input.workloads) tally.add(workload);
  return tally.result();
}

/** A MeshConfig in force that selects workloads but wins none of them: the reason is in takenBy. */
export function isShadowed(counts: MeshConfigCounts): boolean {
  return counts.selecting > 0 && counts.matched === 0;
}
