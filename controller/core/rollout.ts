// Rolling a changed MeshConfig out (spec.updatePolicy: Rollout): which workloads to re-inject now,
// and which rollouts started earlier have finished or timed out. Pure: the adapters pass what
// their informer caches hold and the ledger of what they started; the executor re-checks each
// choice on a fresh read before its one conditional PATCH.
//
// The rules, each a reason the plan can give:
//  - only a MeshConfig with updatePolicy Rollout that is not paused starts anything;
//  - only a workload it wins now (the selection and the policy decisions of core/policy.ts, opt-outs
//    included) whose record is an older injection of that same MeshConfig (outdated as
//    meshconfig-counts decides it);
//  - only Deployments, StatefulSets and DaemonSets: a Job's template is immutable on the server;
//  - never a workload whose own rollout is still under way: a second template change on top of
//    one in progress would make its controller abandon the first half-way;
//  - at most maxPerMinute starts per MeshConfig in any sliding minute;
//  - never the same workload twice for the same target: the informer cache lags the PATCH, so the
//    ledger, not the cache, says what was started;
//  - what another replica started counts as if started here: each start is recorded on the
//    workload (core/rollout-record.ts) and recovered into the ledger from the cache.
import { carriesCurrent, type CountedWorkload, type ExpectedHashes, type InjectionMark } from './meshconfig-counts.ts';
import { decideInjection, type PolicyContext } from './policy.ts';
import { ROLLOUT_KINDS, rolloutUnderWay, rolloutUnfinished, type RolloutFacts } from './rollout-progress.ts';
import { INJECT_ANNOTATION } from './constants.ts';
import type { RolloutRecord } from './rollout-record.ts';
import type { MeshConfig, NamespaceInfo, WorkloadKind } from './types.ts';

/** The sliding window maxPerMinute is counted over. */
export const RATE_WINDOW_MS = 60_000;

/** A cached workload as the planner reads it: the counts' view plus identity and rollout facts. */
export interface RolloutCandidate extends CountedWorkload {
  uid: string;
  /** Kept for injected workloads only (the summary is small for the others). */
  facts: RolloutFacts | undefined;
}

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  uid: string;
}

export type RolloutState = 'inProgress' | 'finished' | 'timedOut';

/** One workload rollout meshinit started: from which injection to which, and when. */
export interface RolloutEntry extends WorkloadRef {
  meshConfig: string;
  from: InjectionMark;
  toGeneration: number;
  toHash: string;
  startedAt: number;
  /** metadata.generation the PATCH produced: the workload's controller must observe at least this. */
  patchedGeneration: number;
  timeoutMs: number;
  state: RolloutState;
}

/**
 * What this replica started, in memory, plus the starts it found recorded on workloads
 * (sidecar.meshinit.dev/rollout, core/rollout-record.ts): a new leader, or a restarted meshinit,
 * recovers from those what its predecessor started, so the rate and "one rollout at a time" hold
 * across the change of hands.
 */
export class RolloutLedger {
  private readonly byUid = new Map<string, RolloutEntry>();
  /** Per MeshConfig, the starts by `uid@startedAt`: the same start, seen again on the workload, counts once. */
  private readonly starts = new Map<string, Map<string, number>>();
  private readonly latest = new Map<string, number>();

  get(uid: string): RolloutEntry | undefined {
    return this.byUid.get(uid);
  }

  entries(): Iterable<RolloutEntry> {
    return this.byUid.values();
  }

  get size(): number {
    return this.byUid.size;
  }

  started(entry: Omit<RolloutEntry, 'state'>): void {
    this.byUid.set(entry.uid, { ...entry, state: 'inProgress' });
    this.countStart(entry);
  }

  /**
   * A start recorded on the workload that this ledger did not make or no longer holds: it counts
   * toward maxPerMinute (once), and one still under way is waited for like our own.
   */
  recovered(entry: Omit<RolloutEntry, 'state'>, underWay: boolean): void {
    this.countStart(entry);
    if (underWay) this.byUid.set(entry.uid, { ...entry, state: 'inProgress' });
  }

  /**
   * A rollout this replica did not start but finds under way (a template already stamped for the
   * target sidecar): waited for like its own, without taking from the maxPerMinute budget.
   */
  adopted(entry: Omit<RolloutEntry, 'state'>): void {
    this.byUid.set(entry.uid, { ...entry, state: 'inProgress' });
  }

  ended(uid: string, state: Exclude<RolloutState, 'inProgress'>): void {
    const entry = this.byUid.get(uid);
    if (entry) this.byUid.set(uid, { ...entry, state });
  }

  forget(uid: string): void {
    this.byUid.delete(uid);
  }

  /** Starts for this MeshConfig in the window ending at `now` (older ones are dropped). */
  startsWithin(meshConfig: string, now: number): number[] {
    const starts = this.starts.get(meshConfig);
    if (!starts) return [];
    for (const [key, at] of starts) if (at <= now - RATE_WINDOW_MS) starts.delete(key);
    if (starts.size === 0) this.starts.delete(meshConfig);
    return [...starts.values()];
  }

  /** Wall-clock ms of the latest start known for this MeshConfig, made here or recovered. */
  lastStartedAt(meshConfig: string): number | undefined {
    return this.latest.get(meshConfig);
  }

  private countStart(entry: Pick<RolloutEntry, 'meshConfig' | 'uid' | 'startedAt'>): void {
    const starts = this.starts.get(entry.meshConfig) ?? new Map<string, number>();
    starts.set(`${entry.uid}@${entry.startedAt}`, entry.startedAt);
    this.starts.set(entry.meshConfig, starts);
    if (entry.startedAt > (this.latest.get(entry.meshConfig) ?? Number.NEGATIVE_INFINITY)) this.latest.set(entry.meshConfig, entry.startedAt);
  }
}

export interface RolloutPlanInput {
  /** Wall-clock ms. */
  now: number;
  /** The MeshConfigs in force. */
  meshConfigs: readonly MeshConfig[];
  workloads: Iterable<RolloutCandidate>;
  namespace: (name: string) => NamespaceInfo | undefined;
  policy: Pick<PolicyContext, 'controllerNamespace' | 'injectNamespaces'>;
  ledger: RolloutLedger;
  hashes: ExpectedHashes;
}

export interface RolloutStart {
  workload: WorkloadRef;
  meshConfig: MeshConfig;
  from: InjectionMark;
  toHash: string;
}

/** Per Rollout MeshConfig: what stands between its outdated workloads and a start. */
export interface RolloutProgress {
  /** Outdated workloads it wins (opt-outs and Jobs not counted). */
  outdated: number;
  /** Started and not yet finished (or timed out). */
  inProgress: number;
  /** Outdated, but their own rollout is still under way. */
  waiting: number;
  /** Eligible now, held back by maxPerMinute. */
  rateLimited: number;
  paused: boolean;
}

export interface RolloutPlan {
  /** In namespace/name order per MeshConfig, within each one's budget. */
  start: RolloutStart[];
  finished: RolloutEntry[];
  timedOut: RolloutEntry[];
  /** Entries to drop: the workload is gone, or the cache now shows what was started. */
  forget: RolloutEntry[];
  progress: Map<string, RolloutProgress>;
}

/** The policy's view of a cached workload: labels, the opt-out annotations, hostNetwork. */
function policyCandidate(workload: RolloutCandidate, facts: RolloutFacts) {
  const annotation = (value: string | undefined): Record<string, string> => (value === undefined ? {} : { [INJECT_ANNOTATION]: value });
  return {
    kind: workload.kind,
    name: workload.name,
    namespace: workload.namespace,
    labels: { ...workload.labels },
    annotations: annotation(facts.injectAnnotation),
    podAnnotations: annotation(facts.podInjectAnnotation),
    podSpec: { containers: [], ...(facts.hostNetwork ? { hostNetwork: true } : {}) },
  };
}

/**
 * Why `meshConfig` may not re-inject this outdated workload now (policy, selection), or undefined.
 * The executor asks the same on the fresh object before it patches.
 */
export function rolloutRefusal(input: Pick<RolloutPlanInput, 'meshConfigs' | 'namespace' | 'policy'>, workload: RolloutCandidate, facts: RolloutFacts, meshConfig: MeshConfig): string | undefined {
  if (!ROLLOUT_KINDS.includes(workload.kind)) return `a ${workload.kind}'s pod template cannot be changed on the server`;
  const namespace = input.namespace(workload.namespace) ?? { name: workload.namespace, labels: {} };
  const decision = decideInjection(policyCandidate(workload, facts), { namespace, meshConfigs: input.meshConfigs, ...input.policy });
  if (!decision.inject) return decision.reason;
  if (decision.meshConfig.name !== meshConfig.name) return `MeshConfig ${decision.meshConfig.name} selects it now, not ${meshConfig.name}`;
  return undefined;
}

function emptyProgress(meshConfig: MeshConfig): RolloutProgress {
  return { outdated: 0, inProgress: 0, waiting: 0, rateLimited: 0, paused: meshConfig.spec.rollout.paused };
}

/** Whether a started rollout is over: the controller saw our PATCH, every replica runs it and is available. */
function hasFinished(entry: Pick<RolloutEntry, 'kind' | 'patchedGeneration'>, facts: RolloutFacts | undefined): boolean {
  return facts !== undefined && facts.observedGeneration >= entry.patchedGeneration && rolloutUnfinished(entry.kind, facts) === undefined;
}

/**
 * A start recorded on the workload that the ledger does not know (or knows an older one of):
 * counted toward the rate while it is in the window, and taken as this replica's own while it is
 * still under way and not timed out. Whoever started it sent its Started Event; a finished or
 * timed-out one is only counted, so no Finished or TimedOut Event is sent twice.
 */
function recoverStart(input: RolloutPlanInput, workload: RolloutCandidate, record: RolloutRecord): RolloutEntry | undefined {
  const facts = workload.facts;
  const meshConfig = input.meshConfigs.find((mc) => mc.name === record.meshConfig);
  const timeoutMs = meshConfig ? meshConfig.spec.rollout.timeoutSeconds * 1000 : 0;
  const age = input.now - record.startedAt;
  if (!facts || age >= Math.max(RATE_WINDOW_MS, timeoutMs)) return undefined;
  const entry = {
    kind: workload.kind, namespace: workload.namespace, name: workload.name, uid: workload.uid, meshConfig: record.meshConfig,
    from: workload.injection ?? { meshConfig: record.meshConfig, generation: record.generation, hash: record.hash },
    toGeneration: record.generation, toHash: record.hash, startedAt: record.startedAt,
    // The generation the start produced is not recorded (it is known only from the PATCH's
    // answer); the current one is at least that, so finishing is not declared early.
    patchedGeneration: facts.generation, timeoutMs,
  };
  const underWay = age < timeoutMs && !hasFinished(entry, facts);
  input.ledger.recovered(entry, underWay);
  return underWay ? input.ledger.get(workload.uid) : undefined;
}

export function planRollouts(input: RolloutPlanInput): RolloutPlan {
  const { ledger, now } = input;
  const plan: RolloutPlan = { start: [], finished: [], timedOut: [], forget: [], progress: new Map() };
  const rolling = new Map(input.meshConfigs.filter((mc) => mc.spec.updatePolicy === 'Rollout').map((mc) => [mc.name, mc]));
  // Nothing to roll and nothing to watch: OnCreate costs no walk over the caches.
  if (rolling.size === 0 && ledger.size === 0) return plan;
  for (const mc of rolling.values()) plan.progress.set(mc.name, emptyProgress(mc));
  const eligible = new Map<string, RolloutStart[]>();
  const seen = new Set<string>();
  for (const workload of input.workloads) {
    let entry = ledger.get(workload.uid);
    const record = workload.facts?.rolloutRecord;
    if (record && (!entry || record.startedAt > entry.startedAt)) entry = recoverStart(input, workload, record) ?? entry;
    let busy = false;
    if (entry) {
      seen.add(workload.uid);
      if (entry.state === 'inProgress') {
        if (hasFinished(entry, workload.facts)) plan.finished.push(entry);
        else if (now - entry.startedAt >= entry.timeoutMs) plan.timedOut.push(entry);
        else busy = true;
      } else if (workload.injection?.hash === entry.toHash) {
        plan.forget.push(entry);
      }
      if (busy) {
        const progress = plan.progress.get(entry.meshConfig);
        if (progress) progress.inProgress++;
      }
    }
    const mark = workload.injection;
    const meshConfig = mark ? rolling.get(mark.meshConfig) : undefined;
    if (!mark || !meshConfig || !workload.facts || carriesCurrent(meshConfig, workload, mark, input.hashes)) continue;
    if (rolloutRefusal(input, workload, workload.facts, meshConfig) !== undefined) continue;
    const progress = plan.progress.get(meshConfig.name)!;
    progress.outdated++;
    const toHash = input.hashes.get(meshConfig, workload);
    // Started already for this very sidecar (the cache has not caught up), or still rolling.
    if (busy || entry?.toHash === toHash) continue;
    if (rolloutUnderWay(workload.kind, workload.facts) !== undefined) {
      progress.waiting++;
      continue;
    }
    if (meshConfig.spec.rollout.paused) continue;
    const list = eligible.get(meshConfig.name) ?? [];
    list.push({ workload: { kind: workload.kind, namespace: workload.namespace, name: workload.name, uid: workload.uid }, meshConfig, from: mark, toHash });
    eligible.set(meshConfig.name, list);
  }
  for (const entry of ledger.entries()) if (!seen.has(entry.uid)) plan.forget.push(entry);
  for (const [name, list] of eligible) {
    const meshConfig = rolling.get(name)!;
    const budget = Math.max(0, meshConfig.spec.rollout.maxPerMinute - ledger.startsWithin(name, now).length);
    list.sort((a, b) => compareRefs(a.workload, b.workload));
    plan.start.push(...list.slice(0, budget));
    plan.progress.get(name)!.rateLimited = Math.max(0, list.length - budget);
  }
  return plan;
}

/** namespace/name, then kind: the order starts are made in, so tests (and operators) can predict it. */
export function compareRefs(a: WorkloadRef, b: WorkloadRef): number {
  const left = `${a.namespace}/${a.name}/${a.kind}`;
  const right = `${b.namespace}/${b.name}/${b.kind}`;
  return left < right ? -1 : left > right ? 1 : 0;
}
