// The rollout planner: workloads injected by the real injection core, kept as the informer caches
// keep them (summaries), planned against a changed MeshConfig. Each rule of core/rollout.ts is a
// case here that fails if the rule goes: the rate window, pause, opt-outs, Jobs, the wait for a
// rollout under way, the ledger's no-double-start, timeouts, OnCreate, deleted and shadowed MeshConfigs.
import { expect } from 'chai';
import { injectWorkload } from '../../controller/core/inject.ts';
import { ExpectedHashes } from '../../controller/core/meshconfig-counts.ts';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import { planRollouts, RolloutLedger, type RolloutCandidate, type RolloutPlan, type RolloutStart } from '../../controller/core/rollout.ts';
import { rolloutFacts, rolloutUnderWay, rolloutUnfinished } from '../../controller/core/rollout-progress.ts';
import type { KubeObject, MeshConfig, NamespaceInfo, Workload, WorkloadKind } from '../../controller/core/types.ts';
import { createWorkloadSummariser, rolloutCandidate } from '../../controller/core/workload-summary.ts';
import { formatRolloutRecord, parseRolloutRecord, rolloutRecordOf, withRolloutRecord } from '../../controller/core/rollout-record.ts';
import { ROLLOUT_ANNOTATION } from '../../controller/core/constants.ts';
import { meshConfig, namespace, rawMeshConfig } from './fixtures/helpers.ts';

const NAMESPACES: Record<string, NamespaceInfo> = {
  shop: namespace('shop'),
  quiet: namespace('quiet', { 'meshinit.dev/injection': 'disabled' }),
};

interface Shape {
  kind?: WorkloadKind;
  ns?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  /** generation / observedGeneration / replicas / updatedReplicas. */
  status?: { generation?: number; observedGeneration?: number; replicas?: number; updatedReplicas?: number };
}

function workload(name: string, shape: Shape = {}): Workload {
  const labels = shape.labels ?? { app: name };
  const s = { generation: 1, observedGeneration: 1, replicas: 2, updatedReplicas: 2, ...shape.status };
  return {
    apiVersion: shape.kind === 'Job' ? 'batch/v1' : 'apps/v1',
    kind: shape.kind ?? 'Deployment',
    metadata: { name, namespace: shape.ns ?? 'shop', uid: `uid-${name}`, resourceVersion: '7', generation: s.generation, labels, ...(shape.annotations ? { annotations: shape.annotations } : {}) },
    spec: { replicas: s.replicas, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
    // As the deployment controller leaves a finished rollout: only updated Pods, all available.
    status: { observedGeneration: s.observedGeneration, replicas: s.updatedReplicas, updatedReplicas: s.updatedReplicas, availableReplicas: s.updatedReplicas, readyReplicas: s.updatedReplicas },
  };
}

function mc(generation: number, image: string, extra: Record<string, unknown> = {}, name = 'mesh'): MeshConfig {
  return meshConfig(name, { updatePolicy: 'Rollout', rollout: { maxPerMinute: 3 }, sidecar: { containers: [{ name: 'mesh-proxy', image }] }, ...extra }, generation);
}

const V1 = mc(1, 'proxy:1');
const V2 = mc(2, 'proxy:2');

const summarise = createWorkloadSummariser();
function cached(object: Workload, by: MeshConfig = V1): RolloutCandidate {
  const injected: KubeObject = injectWorkload(object, by).object;
  return rolloutCandidate(object.kind, summarise(injected));
}

function plan(workloads: RolloutCandidate[], meshConfigs: MeshConfig[], ledger = new RolloutLedger(), now = 1_000_000): RolloutPlan {
  return planRollouts({ now, meshConfigs, workloads, namespace: (n) => NAMESPACES[n], policy: { controllerNamespace: 'meshinit-system' }, ledger, hashes: new ExpectedHashes() });
}

const names = (starts: RolloutStart[]): string[] => starts.map((s) => s.workload.name);

/** Records starts as the executor does after a successful PATCH (generation + 1). */
function record(ledger: RolloutLedger, starts: RolloutStart[], at: number, timeoutMs = 600_000): void {
  for (const s of starts) ledger.started({ ...s.workload, meshConfig: s.meshConfig.name, from: s.from, toGeneration: s.meshConfig.generation, toHash: s.toHash, startedAt: at, patchedGeneration: 2, timeoutMs });
}

describe('rollout planner (core/rollout.ts)', function () {
  const many = ['e', 'a', 'd', 'c', 'b'].map((n) => cached(workload(n)));

  it('starts outdated workloads in namespace/name order, at most maxPerMinute', function () {
    const result = plan(many, [V2]);
    expect(names(result.start)).to.deep.equal(['a', 'b', 'c']);
    expect(result.start[0]!.from).to.include({ meshConfig: 'mesh', generation: 1 });
    expect(result.progress.get('mesh')).to.deep.include({ outdated: 5, rateLimited: 2, inProgress: 0 });
  });

  it('counts the window as sliding: a start 59 s ago still counts, one 60 s ago no longer', function () {
    const ledger = new RolloutLedger();
    const t0 = 1_000_000;
    record(ledger, plan(many, [V2], ledger, t0).start, t0);
    expect(plan(many, [V2], ledger, t0 + 59_000).start).to.deep.equal([]);
    expect(names(plan(many, [V2], ledger, t0 + 60_000).start)).to.deep.equal(['d', 'e']);
  });

  it('never starts the same workload twice for the same sidecar, though the cache still shows the old one', function () {
    const ledger = new RolloutLedger();
    const first = plan(many, [V2], ledger);
    record(ledger, first.start, 1_000_000);
    // Still the same cache (it lags the PATCH), an hour later: only the two never started.
    const later = plan(many, [V2], ledger, 1_000_000 + 3_600_000);
    expect(names(later.start)).to.deep.equal(['d', 'e']);
  });

  it('does nothing while paused, and counts what waits', function () {
    const paused = mc(2, 'proxy:2', { rollout: { maxPerMinute: 3, paused: true } });
    const result = plan(many, [paused]);
    expect(result.start).to.deep.equal([]);
    expect(result.progress.get('mesh')).to.deep.include({ outdated: 5, paused: true });
  });

  it('leaves OnCreate MeshConfigs alone: nothing planned, nothing counted', function () {
    const onCreate = meshConfig('mesh', { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:2' }] } }, 2);
    expect(onCreate.spec.updatePolicy).to.equal('OnCreate');
    const result = plan(many, [onCreate]);
    expect(result.start).to.deep.equal([]);
    expect(result.progress.size).to.equal(0);
  });

  it('never touches opted-out workloads (annotation on the workload or its template, namespace, policy Disabled)', function () {
    const optedOut = workload('opted', { annotations: { 'sidecar.meshinit.dev/inject': 'false' } });
    const templateOptOut = workload('tmpl');
    templateOptOut.spec.template.metadata!.annotations = { 'sidecar.meshinit.dev/inject': 'false' };
    const quiet = workload('quiet', { ns: 'quiet' });
    const candidates = [cached(optedOut), cached(templateOptOut), cached(quiet), cached(workload('ok'))];
    expect(names(plan(candidates, [V2]).start)).to.deep.equal(['ok']);
    // policy Disabled: only workloads annotated "true" are rolled.
    const disabled = mc(2, 'proxy:2', { policy: 'Disabled' });
    const optedIn = workload('in', { annotations: { 'sidecar.meshinit.dev/inject': 'true' } });
    expect(names(plan([cached(optedIn), cached(workload('ok'))], [disabled]).start)).to.deep.equal(['in']);
  });

  it('never starts a Job (its template is immutable), but does StatefulSets and DaemonSets', function () {
    const job = cached(workload('job', { kind: 'Job' }));
    const sts = cached(workload('sts', { kind: 'StatefulSet' }));
    // (The fixture's status has readyReplicas, as a settled StatefulSet's does.)
    const dsObject = workload('ds', { kind: 'DaemonSet' });
    (dsObject as KubeObject).status = { observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 };
    expect(names(plan([job, sts, cached(dsObject)], [mc(2, 'proxy:2', { rollout: { maxPerMinute: 10 } })]).start)).to.deep.equal(['ds', 'sts']);
  });

  it('waits for a workload whose own rollout is under way (generation ahead, or replicas not updated yet)', function () {
    const unobserved = cached(workload('unobserved', { status: { generation: 3, observedGeneration: 2 } }));
    const updating = cached(workload('updating', { status: { replicas: 3, updatedReplicas: 1 } }));
    const result = plan([unobserved, updating, cached(workload('settled'))], [V2]);
    expect(names(result.start)).to.deep.equal(['settled']);
    expect(result.progress.get('mesh')).to.deep.include({ waiting: 2 });
  });

  it('reports a started rollout finished once the controller observed the PATCH and every replica is updated', function () {
    const ledger = new RolloutLedger();
    const a = [cached(workload('a'))];
    record(ledger, plan(a, [V2], ledger).start, 1_000_000);
    // The cache shows the PATCH (generation 2) not yet observed: in progress.
    const patched = workload('a', { status: { generation: 2, observedGeneration: 1 } });
    const midway = plan([cached(patched, V2)], [V2], ledger, 1_010_000);
    expect(midway.finished).to.deep.equal([]);
    expect(midway.progress.get('mesh')).to.deep.include({ inProgress: 1, outdated: 0 });
    // Observed and updated, but a new Pod is not available yet: not finished (kubectl rollout status waits too).
    const unready = workload('a', { status: { generation: 2, observedGeneration: 2, replicas: 2, updatedReplicas: 2 } });
    (unready as KubeObject).status = { ...((unready as KubeObject).status as object), availableReplicas: 1 };
    expect(plan([cached(unready, V2)], [V2], ledger, 1_015_000).finished).to.deep.equal([]);
    const done = workload('a', { status: { generation: 2, observedGeneration: 2, replicas: 2, updatedReplicas: 2 } });
    const result = plan([cached(done, V2)], [V2], ledger, 1_020_000);
    expect(result.finished.map((e) => e.name)).to.deep.equal(['a']);
  });

  it('reports a rollout that outlives timeoutSeconds once, and does not start it again', function () {
    const ledger = new RolloutLedger();
    record(ledger, plan([cached(workload('a'))], [V2], ledger).start, 1_000_000, 30_000);
    const stuck = [cached(workload('a', { status: { generation: 2, observedGeneration: 2, replicas: 2, updatedReplicas: 1 } }), V1)];
    expect(plan(stuck, [V2], ledger, 1_029_000).timedOut).to.deep.equal([]);
    const result = plan(stuck, [V2], ledger, 1_030_000);
    expect(result.timedOut.map((e) => e.name)).to.deep.equal(['a']);
    ledger.ended('uid-a', 'timedOut');
    const after = plan(stuck, [V2], ledger, 1_100_000);
    expect(after.timedOut).to.deep.equal([]);
    expect(after.start).to.deep.equal([]);
  });

  it('starts nothing for a deleted MeshConfig or one shadowed by a higher priority', function () {
    const orphan = cached(workload('a'), mc(1, 'proxy:1', {}, 'gone'));
    expect(plan([orphan], [V2]).start).to.deep.equal([]);
    const higher = mc(1, 'proxy:9', { priority: 10 }, 'takeover');
    const result = plan([cached(workload('b'))], [V2, higher]);
    expect(result.start).to.deep.equal([]);
    expect(result.progress.get('mesh')).to.deep.include({ outdated: 0 });
  });

  it('leaves workloads already carrying the current sidecar alone, and an edit that keeps the sidecar starts nothing', function () {
    expect(plan([cached(workload('a'), V2)], [V2]).start).to.deep.equal([]);
    const samesidecar = mc(3, 'proxy:1', { priority: 5 });
    expect(plan([cached(workload('a'))], [samesidecar]).start).to.deep.equal([]);
  });

  it('forgets a workload that is gone from the cache', function () {
    const ledger = new RolloutLedger();
    record(ledger, plan([cached(workload('a'))], [V2], ledger).start, 1_000_000);
    expect(plan([], [V2], ledger).forget.map((e) => e.name)).to.deep.equal(['a']);
  });
});

describe('rollout progress (core/rollout-progress.ts)', function () {
  it('judges each kind by its own status fields: under way (no start on top) and unfinished (as kubectl rollout status)', function () {
    expect(rolloutUnderWay('Deployment', rolloutFacts(workload('d')))).to.equal(undefined);
    const deployment = { generation: 2, observedGeneration: 2, replicas: 2, updatedReplicas: 2, statusReplicas: 2, availableReplicas: 2 };
    expect(rolloutUnfinished('Deployment', deployment)).to.equal(undefined);
    expect(rolloutUnderWay('Deployment', { ...deployment, statusReplicas: 3 })).to.match(/1 old replicas are pending termination/);
    expect(rolloutUnderWay('Deployment', { ...deployment, observedGeneration: 1 })).to.match(/not observed generation 2/);
    // Unready Pods hold the finish, not a start: a crashing workload may need the new sidecar.
    expect(rolloutUnderWay('Deployment', { ...deployment, availableReplicas: 0 })).to.equal(undefined);
    expect(rolloutUnfinished('Deployment', { ...deployment, availableReplicas: 1 })).to.match(/1 of 2 updated replicas available/);
    const daemonSet = { generation: 1, observedGeneration: 1, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2 };
    expect(rolloutUnfinished('DaemonSet', daemonSet)).to.equal(undefined);
    expect(rolloutUnderWay('DaemonSet', { ...daemonSet, updatedNumberScheduled: 1 })).to.match(/1 of 2 scheduled/);
    expect(rolloutUnfinished('DaemonSet', { ...daemonSet, numberAvailable: 1 })).to.match(/1 of 2 Pods available/);
    const statefulSet = { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, currentRevision: 'b', updateRevision: 'b' };
    expect(rolloutUnfinished('StatefulSet', statefulSet)).to.equal(undefined);
    expect(rolloutUnderWay('StatefulSet', { ...statefulSet, currentRevision: 'a' })).to.match(/currentRevision a/);
    expect(rolloutUnfinished('StatefulSet', { ...statefulSet, readyReplicas: 0 })).to.match(/0 of 1 replicas ready/);
  });
});

describe('rollout planner: starts recorded on the workloads (a new leader, a restarted meshinit)', function () {
  const T0 = 1_000_000;
  const hashOf = (meshConfig: MeshConfig): string => injectWorkload(workload('x'), meshConfig).status.hash;
  /** Rolled to V2 by another replica at `startedAt`: the record on its metadata, the template re-injected. */
  function rolled(name: string, startedAt: number, status?: Shape['status']): RolloutCandidate {
    const object = withRolloutRecord(workload(name, { status }), { meshConfig: 'mesh', generation: 2, hash: hashOf(V2), startedAt });
    return cached(object, V2);
  }
  const outdated = ['p', 'q', 'r', 's', 't'].map((n) => cached(workload(n)));

  it('counts what the previous leader started toward maxPerMinute: an empty ledger starts nothing more in that minute', function () {
    const before = ['a', 'b', 'c'].map((n) => rolled(n, T0));
    const ledger = new RolloutLedger();
    const soon = plan([...before, ...outdated], [V2], ledger, T0 + 10_000);
    expect(soon.start, 'maxPerMinute 3, used up by the three recorded starts').to.deep.equal([]);
    expect(soon.progress.get('mesh')).to.deep.include({ outdated: 5, rateLimited: 5, inProgress: 0 });
    // They had finished: nothing to wait for, and no second Finished Event.
    expect(soon.finished).to.deep.equal([]);
    expect(ledger.size).to.equal(0);
    expect(ledger.lastStartedAt('mesh')).to.equal(T0);
    // Counted once, however many plans see them.
    expect(plan([...before, ...outdated], [V2], ledger, T0 + 20_000).start).to.deep.equal([]);
    expect(ledger.startsWithin('mesh', T0 + 20_000)).to.have.length(3);
    expect(names(plan([...before, ...outdated], [V2], ledger, T0 + 60_001).start)).to.deep.equal(['p', 'q', 'r']);
  });

  it('a recorded start seen again by the replica that made it counts once', function () {
    const ledger = new RolloutLedger();
    const first = plan([cached(workload('a')), ...outdated], [V2], ledger, T0);
    expect(names(first.start)).to.deep.equal(['a', 'p', 'q']);
    record(ledger, first.start.slice(0, 1), T0);
    // The cache now shows a re-injected, with the record of that same start.
    const next = plan([rolled('a', T0), ...outdated], [V2], ledger, T0 + 1000);
    expect(names(next.start), 'two of maxPerMinute 3 left').to.deep.equal(['p', 'q']);
  });

  it('waits for a recorded start still under way, reports it finished once, and never starts it again', function () {
    const ledger = new RolloutLedger();
    const rolling = rolled('a', T0, { generation: 2, observedGeneration: 1 });
    const midway = plan([rolling], [V2], ledger, T0 + 5_000);
    expect(midway.progress.get('mesh')).to.deep.include({ inProgress: 1 });
    expect(ledger.get('uid-a')).to.include({ state: 'inProgress', startedAt: T0, toHash: hashOf(V2), patchedGeneration: 2 });
    const done = plan([rolled('a', T0, { generation: 2, observedGeneration: 2 })], [V2], ledger, T0 + 8_000);
    expect(done.finished.map((e) => e.name)).to.deep.equal(['a']);
    expect(done.start).to.deep.equal([]);
  });

  it('with --target pods (Pods still show the old sidecar), a recorded restart for the current sidecar is not started again', function () {
    const ledger = new RolloutLedger();
    const restarted = rolloutCandidate('Deployment', summarise(withRolloutRecord(injectWorkload(workload('a', { status: { generation: 2, observedGeneration: 2, replicas: 2, updatedReplicas: 1 } }), V1).object, { meshConfig: 'mesh', generation: 2, hash: hashOf(V2), startedAt: T0 })));
    const result = plan([restarted], [V2], ledger, T0 + 5_000);
    expect(result.start).to.deep.equal([]);
    expect(result.progress.get('mesh')).to.deep.include({ outdated: 1, inProgress: 1 });
  });

  it('times out a recorded start from when it was made, and leaves alone a start before the window and the timeout', function () {
    const ledger = new RolloutLedger();
    const stuck = rolled('a', T0, { generation: 2, observedGeneration: 2, replicas: 2, updatedReplicas: 1 });
    expect(plan([stuck], [V2], ledger, T0 + 599_000).timedOut).to.deep.equal([]);
    expect(plan([stuck], [V2], ledger, T0 + 600_000).timedOut.map((e) => e.name)).to.deep.equal(['a']);
    const fresh = new RolloutLedger();
    const old = plan([stuck, ...outdated], [V2], fresh, T0 + 600_000);
    expect(fresh.size).to.equal(0);
    expect(old.timedOut, 'past its timeout when first seen: the replica that started it reports it').to.deep.equal([]);
    expect(names(old.start)).to.deep.equal(['p', 'q', 'r']);
  });

  it('ignores a record that is not meshinit\'s (edited by hand, truncated): never a crash, never a count', function () {
    for (const raw of ['', 'not json', '{"meshConfig":"mesh"}', '{"meshConfig":"mesh","hash":"h","startedAt":"yesterday"}', '[]', 'null']) {
      expect(parseRolloutRecord(raw), raw).to.equal(undefined);
      const object = workload('a', { annotations: { [ROLLOUT_ANNOTATION]: raw } });
      const result = plan([cached(object), ...outdated], [V2], new RolloutLedger(), T0);
      expect(names(result.start), raw).to.deep.equal(['a', 'p', 'q']);
    }
    expect(parseRolloutRecord(42)).to.equal(undefined);
  });

  it('writes the record on the metadata only, keeping every other annotation, and reads back what it wrote', function () {
    const object = workload('a', { annotations: { team: 'shop' } });
    const record = { meshConfig: 'mesh', generation: 2, hash: 'abc', startedAt: Date.UTC(2026, 11, 1, 3, 4, 5, 678) };
    const stamped = withRolloutRecord(object, record);
    expect(stamped.metadata.annotations).to.deep.equal({ team: 'shop', [ROLLOUT_ANNOTATION]: '{"meshConfig":"mesh","generation":2,"hash":"abc","startedAt":"2026-12-01T03:04:05.678Z"}' });
    expect(stamped.spec).to.equal(object.spec);
    expect(object.metadata.annotations, 'the input is not changed').to.deep.equal({ team: 'shop' });
    expect(rolloutRecordOf(stamped)).to.deep.equal(record);
    expect(parseRolloutRecord(formatRolloutRecord(record))).to.deep.equal(record);
    expect(rolloutFacts(stamped).rolloutRecord).to.deep.equal(record);
  });
});

describe('spec.updatePolicy and spec.rollout (core/rollout-spec.ts)', function () {
  it('defaults to OnCreate with maxPerMinute 5, not paused, timeoutSeconds 600', function () {
    const parsed = meshConfig('m');
    expect(parsed.spec.updatePolicy).to.equal('OnCreate');
    expect(parsed.spec.rollout).to.deep.equal({ maxPerMinute: 5, paused: false, timeoutSeconds: 600 });
  });

  it('refuses bad values with the path of each', function () {
    const result = parseMeshConfig(rawMeshConfig('m', { updatePolicy: 'Always', rollout: { maxPerMinute: 0, paused: 'yes', timeoutSeconds: 1.5 } }));
    expect(result.ok).to.equal(false);
    if (result.ok) return;
    expect(result.error.problems).to.include.members([
      'spec.updatePolicy: must be one of OnCreate, Rollout, got "Always"',
      'spec.rollout.maxPerMinute: must be an integer of at least 1, got 0',
      'spec.rollout.paused: must be true or false, got "yes"',
      'spec.rollout.timeoutSeconds: must be an integer of at least 1, got 1.5',
    ]);
    const notObject = parseMeshConfig(rawMeshConfig('m', { rollout: 5 }));
    expect(notObject.ok ? [] : notObject.error.problems).to.deep.equal(['spec.rollout: must be an object (maxPerMinute, paused, timeoutSeconds)']);
  });
});
