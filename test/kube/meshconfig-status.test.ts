import { expect } from 'chai';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import type { KubeObject } from '../../controller/core/types.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import { COUNTED_FROM_PODS, desiredStatus, NOT_COUNTED_IN_POD_MODE } from '../../controller/kube/meshconfig-status.ts';
import { COUNT_SLICE, countFromCaches, MeshConfigStatusWriter } from '../../controller/kube/meshconfig-status-writer.ts';
import type { CountedWorkload } from '../../controller/core/meshconfig-counts.ts';
import { MeshConfigStore, type MeshConfigVerdict } from '../../controller/kube/meshconfig-store.ts';
import type { KubeApi } from '../../controller/kube/types.ts';
import { createMemoryLogger } from '../../controller/logger.ts';

const NOW = new Date('2026-11-23T04:00:00Z');

function meshConfigObject(spec: Record<string, unknown>, generation: number, status?: unknown): KubeObject {
  return { apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default', generation, resourceVersion: String(generation) }, spec, ...(status ? { status } : {}) };
}

const VALID_SPEC = { selector: { matchLabels: { app: 'web' } }, sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:7' }] } };
const INVALID_SPEC = { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:8' }, { name: 'mesh-proxy', image: 'proxy:8' }] } };

function verdictOf(object: KubeObject): MeshConfigVerdict {
  return new MeshConfigStore(createMemoryLogger()).apply(object);
}

describe('MeshConfig status', function () {
  it('status.rollout: written from the count for a Rollout MeshConfig, carried when the count has none (a replica without the rollout lock), dropped for OnCreate', function () {
    const rolling = meshConfigObject({ ...VALID_SPEC, updatePolicy: 'Rollout' }, 2);
    const rollout = { paused: false, inProgress: 3, waiting: 1, rateLimited: 6, lastStartedAt: '2026-11-23T03:59:58.000Z' };
    const counted = desiredStatus(verdictOf(rolling), rolling, NOW, { matched: 10, selecting: 10, takenBy: [], injected: 0, outdated: 10, rollout });
    expect(counted.rollout).to.deep.equal(rollout);
    const onServer = meshConfigObject({ ...VALID_SPEC, updatePolicy: 'Rollout' }, 2, counted);
    const standby = desiredStatus(verdictOf(onServer), onServer, NOW, { matched: 10, selecting: 10, takenBy: [], injected: 3, outdated: 7 });
    expect(standby.rollout, 'carried, not dropped').to.deep.equal(rollout);
    expect(standby.outdatedWorkloads).to.equal(7);
    const backToOnCreate = meshConfigObject(VALID_SPEC, 3, counted);
    expect(desiredStatus(verdictOf(backToOnCreate), backToOnCreate, NOW, { matched: 10, selecting: 10, takenBy: [], injected: 3, outdated: 7 })).to.not.have.property('rollout');
  });

  it('records the accepted spec whole, and keeps it through an invalid edit', function () {
    const valid = meshConfigObject(VALID_SPEC, 4);
    const accepted = desiredStatus(verdictOf(valid), valid, NOW);
    expect(accepted).to.deep.include({ observedGeneration: 4, lastValidGeneration: 4, lastValidSpec: VALID_SPEC });
    const invalid = meshConfigObject(INVALID_SPEC, 5, accepted);
    const refused = desiredStatus(verdictOf(invalid), invalid, NOW);
    expect(refused.observedGeneration).to.equal(5);
    expect(refused.conditions[0]).to.include({ type: 'Ready', status: 'False', reason: 'InvalidSpec' });
    expect(refused.lastValidGeneration).to.equal(4);
    // Recorded as served: the same spec with its defaults applied.
    const recorded = refused.lastValidSpec as { selector: unknown; policy: string; sidecar: { containers: Array<{ image: string }> } };
    expect(recorded.selector).to.deep.equal(VALID_SPEC.selector);
    expect(recorded.policy).to.equal('Enabled');
    expect(recorded.sidecar.containers[0]?.image).to.equal('proxy:7');
  });

  it('for an invalid edit records the version this process serves, even when status still holds an older one', function () {
    const store = new MeshConfigStore(createMemoryLogger());
    const v2Spec = { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:2' }] } };
    store.apply(meshConfigObject(v2Spec, 2));
    // v2's status write has not landed: status still says v1.
    const v3 = meshConfigObject(INVALID_SPEC, 3, { observedGeneration: 1, lastValidGeneration: 1, lastValidSpec: VALID_SPEC });
    const status = desiredStatus(store.apply(v3), v3, NOW);
    expect(status.lastValidGeneration).to.equal(2);
    const recorded = status.lastValidSpec as { sidecar: { containers: Array<{ image: string }> } };
    expect(recorded.sidecar.containers[0]?.image).to.equal('proxy:2');
    // And what it recorded is what a restarted process would serve.
    const restarted = new MeshConfigStore(createMemoryLogger());
    restarted.apply({ ...v3, status });
    expect(restarted.list()[0]?.spec.sidecar.containers[0]?.image).to.equal('proxy:2');
  });

  it('after a restart, an invalid MeshConfig serves the last valid spec recorded in its status', function () {
    const log = createMemoryLogger();
    const store = new MeshConfigStore(log);
    const invalid = meshConfigObject(INVALID_SPEC, 5, { observedGeneration: 5, lastValidGeneration: 4, lastValidSpec: VALID_SPEC });
    const verdict = store.apply(invalid);
    expect(verdict).to.include({ valid: false, servingPrevious: true });
    const [serving] = store.list();
    expect(serving?.generation).to.equal(4);
    expect(serving?.spec.sidecar.containers[0]?.image).to.equal('proxy:7');
    expect(String(log.lines.find((l) => l.message === 'MeshConfig ignored')?.fields.action)).to.include('generation 4, recorded in its status');
    // A recorded spec that is itself invalid (edited by hand) is not used.
    const tampered = new MeshConfigStore(createMemoryLogger());
    expect(tampered.apply(meshConfigObject(INVALID_SPEC, 6, { lastValidSpec: INVALID_SPEC })).valid).to.equal(false);
    expect(tampered.list()).to.deep.equal([]);
    expect(parseMeshConfig(meshConfigObject(VALID_SPEC, 1)).ok).to.equal(true);
  });

  it('retries a failed status write with backoff until it lands, and a newer verdict replaces the retry', async function () {
    const writes: unknown[] = [];
    let failures = 2;
    const api = {
      patch: async (path: string, body: unknown) => {
        if (failures-- > 0) throw new KubeApiError({ method: 'PATCH', path, statusCode: 503, message: 'etcd leader changed' });
        writes.push(body);
        return {};
      },
    } as unknown as KubeApi;
    const scheduled: Array<{ fn: () => void; ms: number }> = [];
    const timers = { setTimeout: (fn: () => void, ms: number) => { scheduled.push({ fn, ms }); return scheduled.length; }, clearTimeout: () => undefined };
    const log = createMemoryLogger();
    const writer = new MeshConfigStatusWriter(api, log, { clock: () => NOW, timers, backoff: { initialMs: 100, maxMs: 1000 } });
    const object = meshConfigObject(VALID_SPEC, 4);
    await writer.report(object, verdictOf(object));
    expect(writes).to.deep.equal([]);
    expect(scheduled.map((s) => s.ms)).to.deep.equal([100]);
    scheduled[0]!.fn();
    await new Promise((resolve) => setImmediate(resolve));
    expect(scheduled.map((s) => s.ms)).to.deep.equal([100, 200]);
    scheduled[1]!.fn();
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).to.have.length(1);
    expect((writes[0] as Array<{ op: string; path: string }>)[0]).to.include({ op: 'add', path: '/status' });
    expect(log.lines.filter((l) => l.message === 'MeshConfig status not written, retrying')).to.have.length(2);

    // A retry that a newer verdict overtook does nothing.
    failures = 1;
    await writer.report(object, verdictOf(object));
    const stale = scheduled.at(-1)!;
    const newer = meshConfigObject(VALID_SPEC, 9);
    await writer.report(newer, verdictOf(newer));
    const before = writes.length;
    stale.fn();
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes.length).to.equal(before);
  });

  it('Ready=True/Valid with the counts; observedSpecHash always, observedGeneration only where the server keeps a generation', function () {
    const valid = meshConfigObject(VALID_SPEC, 4);
    const status = desiredStatus(verdictOf(valid), valid, NOW, { matched: 3, selecting: 3, takenBy: [], injected: 2, outdated: 1 });
    expect(status).to.deep.include({ observedGeneration: 4, matchedWorkloads: 3, injectedWorkloads: 2, outdatedWorkloads: 1 });
    expect(status.conditions).to.deep.equal([{ type: 'Ready', status: 'True', reason: 'Valid', message: 'in use for new workloads', lastTransitionTime: NOW.toISOString() }]);
    expect(status.observedSpecHash).to.match(/^[0-9a-f]{14}$/);
    // 1.9: no metadata.generation on custom resources. The spec hash still says which spec was seen.
    const onOld = { ...valid, metadata: { name: 'default', resourceVersion: '7' } };
    const old = desiredStatus(verdictOf(onOld), onOld, NOW);
    expect(old).not.to.have.property('observedGeneration');
    expect(old.observedSpecHash).to.equal(status.observedSpecHash);
    // Key order does not change the hash; a changed image does.
    const reordered = meshConfigObject({ sidecar: VALID_SPEC.sidecar, selector: VALID_SPEC.selector }, 4);
    expect(desiredStatus(verdictOf(reordered), reordered, NOW).observedSpecHash).to.equal(status.observedSpecHash);
    const edited = meshConfigObject({ ...VALID_SPEC, sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:8' }] } }, 5);
    expect(desiredStatus(verdictOf(edited), edited, NOW).observedSpecHash).not.to.equal(status.observedSpecHash);
  });

  it('Ready=False/NotSelected, naming the winner, when it selects workloads but wins none; back to Valid when it wins one', function () {
    const valid = meshConfigObject(VALID_SPEC, 4);
    const shadowed = desiredStatus(verdictOf(valid), valid, NOW, { matched: 0, selecting: 2, takenBy: ['strict'], injected: 2, outdated: 0 });
    expect(shadowed.conditions[0]).to.include({ type: 'Ready', status: 'False', reason: 'NotSelected' });
    expect(shadowed.conditions[0]!.message).to.include('selects 2 workload(s)').and.to.include('MeshConfig strict');
    const later = new Date(NOW.getTime() + 60_000);
    const recovered = desiredStatus(verdictOf(valid), { ...valid, status: shadowed }, later, { matched: 1, selecting: 2, takenBy: ['strict'], injected: 2, outdated: 0 });
    expect(recovered.conditions[0]).to.include({ status: 'True', reason: 'Valid', lastTransitionTime: later.toISOString() });
    // Nothing selected at all is not NotSelected: no other MeshConfig took anything.
    expect(desiredStatus(verdictOf(valid), valid, NOW, { matched: 0, selecting: 0, takenBy: [], injected: 0, outdated: 0 }).conditions[0]).to.include({ reason: 'Valid' });
  });

  it('InvalidSpec wins over NotSelected, and lastTransitionTime moves only when the status does', function () {
    const valid = meshConfigObject(VALID_SPEC, 4);
    const first = desiredStatus(verdictOf(valid), valid, NOW, { matched: 0, selecting: 1, takenBy: ['other'] });
    const invalid = meshConfigObject(INVALID_SPEC, 5, first);
    const later = new Date(NOW.getTime() + 60_000);
    const refused = desiredStatus(verdictOf(invalid), invalid, later, { matched: 0, selecting: 1, takenBy: ['other'] });
    expect(refused.conditions[0]).to.include({ reason: 'InvalidSpec', status: 'False', lastTransitionTime: NOW.toISOString() });
  });

  it('before the first count (a restart) carries the counts and a NotSelected verdict over instead of writing zeros', function () {
    const valid = meshConfigObject(VALID_SPEC, 4);
    const counted = desiredStatus(verdictOf(valid), valid, NOW, { matched: 0, selecting: 5, takenBy: ['strict'], injected: 4, outdated: 1 });
    const restarted = desiredStatus(verdictOf(valid), { ...valid, status: counted }, NOW);
    expect(restarted).to.deep.equal(counted);
  });

  it('says in webhook --target pods mode that injected and outdated are not counted', function () {
    const valid = meshConfigObject(VALID_SPEC, 4);
    const status = desiredStatus(verdictOf(valid), valid, NOW, { matched: 7, selecting: 7, takenBy: [] });
    expect(status.matchedWorkloads).to.equal(7);
    expect(status).not.to.have.property('injectedWorkloads');
    expect(status.conditions[0]!.message).to.include('not counted in webhook mode --target pods');
  });
  it('--target pods: counts from the Pods the rollout read; a replica without that reading keeps them for a Rollout MeshConfig, both saying the same', function () {
    const rolling = meshConfigObject({ ...VALID_SPEC, updatePolicy: 'Rollout' }, 2);
    const reading = desiredStatus(verdictOf(rolling), rolling, NOW, { matched: 10, selecting: 10, takenBy: [], injected: 4, outdated: 6, fromPods: true });
    expect(reading).to.include({ matchedWorkloads: 10, injectedWorkloads: 4, outdatedWorkloads: 6 });
    expect(reading.conditions[0]!.message).to.include(COUNTED_FROM_PODS);
    const onServer = meshConfigObject({ ...VALID_SPEC, updatePolicy: 'Rollout' }, 2, reading);
    const other = desiredStatus(verdictOf(onServer), onServer, NOW, { matched: 10, selecting: 10, takenBy: [], fromPods: true });
    expect(other, 'the same status: the other replica writes nothing').to.deep.equal(reading);
    // An edit seen first by a replica without the reading: the numbers in status are the previous
    // version's, so they are not carried onto the new one (the reading replica writes new ones).
    const edited = meshConfigObject({ ...VALID_SPEC, updatePolicy: 'Rollout', sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:8' }] } }, 3, reading);
    const editedByOther = desiredStatus(verdictOf(edited), edited, NOW, { matched: 10, selecting: 10, takenBy: [], fromPods: true });
    expect(editedByOther).to.include({ observedGeneration: 3, matchedWorkloads: 10 });
    expect(editedByOther).to.not.have.any.keys('injectedWorkloads', 'outdatedWorkloads');
    // Back to OnCreate: the Pods are no longer read, the numbers would go stale, so they go.
    const onCreate = meshConfigObject(VALID_SPEC, 3, reading);
    const dropped = desiredStatus(verdictOf(onCreate), onCreate, NOW, { matched: 10, selecting: 10, takenBy: [], fromPods: true });
    expect(dropped).to.not.have.any.keys('injectedWorkloads', 'outdatedWorkloads');
    expect(dropped.conditions[0]!.message).to.include(NOT_COUNTED_IN_POD_MODE);
  });
});

describe('MeshConfig status writer: periodic counts', function () {
  interface Call { path: string; status: Record<string, unknown> }
  function recordingApi(calls: Call[], notFoundOnStatus = false): KubeApi {
    return {
      patch: async (path: string, body: unknown) => {
        if (notFoundOnStatus && path.endsWith('/status')) throw new KubeApiError({ method: 'PATCH', path, statusCode: 404, message: 'not found' });
        calls.push({ path, status: (body as Array<{ value: Record<string, unknown> }>)[0]!.value });
        return {};
      },
    } as unknown as KubeApi;
  }
  const noTimers = { setTimeout: () => 0, clearTimeout: () => undefined };
  const countsOf = (injected: number) => new Map([['default', { matched: 3, selecting: 3, takenBy: [], injected, outdated: 3 - injected }]]);

  it('writes once per change of the counts, not once per recount, even before the informer shows its own write', async function () {
    const calls: Call[] = [];
    const writer = new MeshConfigStatusWriter(recordingApi(calls), createMemoryLogger(), { clock: () => NOW, timers: noTimers });
    const object = meshConfigObject(VALID_SPEC, 4);
    await writer.report(object, verdictOf(object));
    expect(calls).to.have.length(1);
    let injected = 1;
    const counting = { counts: () => countsOf(injected) };
    await writer.recount(counting);
    await writer.recount(counting);
    await writer.recount(counting);
    expect(calls.map((c) => c.status.injectedWorkloads)).to.deep.equal([undefined, 1]);
    injected = 3;
    await writer.recount(counting);
    await writer.recount(counting);
    expect(calls.map((c) => c.status.injectedWorkloads)).to.deep.equal([undefined, 1, 3]);
    // The informer now delivers the object our last write produced: still nothing to write.
    const seen = { ...object, metadata: { ...object.metadata, resourceVersion: '99' }, status: calls.at(-1)!.status };
    await writer.report(seen, verdictOf(seen));
    await writer.recount(counting);
    expect(calls).to.have.length(3);
  });

  it('a spec edit is written with counts of the new version: never the new generation with the previous version\'s numbers', async function () {
    const calls: Call[] = [];
    const writer = new MeshConfigStatusWriter(recordingApi(calls), createMemoryLogger(), { clock: () => NOW, timers: noTimers });
    // What the caches hold: 3 workloads on version 4's sidecar, which version 5 makes outdated.
    let version = 4;
    const gate: { open?: Promise<void> } = {};
    let counted = 0;
    const counting = {
      periodMs: 60_000,
      counts: async () => {
        const of = version;
        counted++;
        if (gate.open) await gate.open;
        return countsOf(of === 4 ? 3 : 0);
      },
    };
    writer.startRecounting(counting);
    const v4 = meshConfigObject(VALID_SPEC, 4);
    await writer.report(v4, verdictOf(v4));
    await writer.recount(counting);
    expect(calls.at(-1)!.status).to.include({ observedGeneration: 4, injectedWorkloads: 3, outdatedWorkloads: 0 });
    // A count is under way, begun before the edit, when version 5 arrives.
    let release: () => void = () => undefined;
    gate.open = new Promise((resolve) => { release = resolve; });
    const periodic = writer.recount(counting);
    version = 5;
    const v5 = meshConfigObject({ ...VALID_SPEC, sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:8' }] } }, 5, calls.at(-1)!.status);
    const reported = writer.report(v5, verdictOf(v5));
    release();
    await Promise.all([periodic, reported]);
    const ofV5 = calls.filter((c) => c.status.observedGeneration === 5);
    expect(ofV5.map((c) => [c.status.injectedWorkloads, c.status.outdatedWorkloads])).to.deep.equal([[0, 3]]);
    expect(counted, 'counted once more after the count that began before the edit').to.equal(3);
    // An update of status or metadata alone (the same spec) asks for no count.
    const relabelled = { ...v5, metadata: { ...v5.metadata, labels: { team: 'mesh' } }, status: calls.at(-1)!.status };
    await writer.report(relabelled, verdictOf(relabelled));
    expect(counted).to.equal(3);
  });

  it('does not count while the caches are not synced, and a forgotten MeshConfig is not written', async function () {
    const calls: Call[] = [];
    const writer = new MeshConfigStatusWriter(recordingApi(calls), createMemoryLogger(), { clock: () => NOW, timers: noTimers });
    const object = meshConfigObject(VALID_SPEC, 4, desiredStatus(verdictOf(meshConfigObject(VALID_SPEC, 4)), meshConfigObject(VALID_SPEC, 4), NOW));
    await writer.report(object, verdictOf(object));
    await writer.recount({ counts: () => undefined });
    expect(calls).to.deep.equal([]);
    writer.forget('default');
    await writer.recount({ counts: () => countsOf(2) });
    expect(calls).to.deep.equal([]);
  });

  it('writes nothing while this replica is not the leader, and catches up on the first recount as leader', async function () {
    const calls: Call[] = [];
    let leader = false;
    const writer = new MeshConfigStatusWriter(recordingApi(calls), createMemoryLogger(), { clock: () => NOW, timers: noTimers, isLeader: () => leader });
    const object = meshConfigObject(VALID_SPEC, 4);
    await writer.report(object, verdictOf(object));
    let counted = 0;
    await writer.recount({ counts: () => { counted++; return countsOf(2); } });
    expect(calls).to.deep.equal([]);
    expect(counted, 'a standby does not count the caches it would not write').to.equal(0);
    leader = true;
    await writer.recount({ counts: () => countsOf(2) });
    expect(calls).to.have.length(1);
    expect(calls[0]!.status).to.include({ matchedWorkloads: 3, injectedWorkloads: 2, outdatedWorkloads: 1 });
  });

  it('on a 1.9 server (PATCH /status answers 404) writes status through the main resource from then on', async function () {
    const calls: Call[] = [];
    const writer = new MeshConfigStatusWriter(recordingApi(calls, true), createMemoryLogger(), { clock: () => NOW, timers: noTimers });
    const object = meshConfigObject(VALID_SPEC, 0);
    await writer.report(object, verdictOf(object));
    await writer.recount({ counts: () => countsOf(1) });
    expect(calls.map((c) => c.path)).to.deep.equal(['/apis/meshinit.dev/v1alpha1/meshconfigs/default', '/apis/meshinit.dev/v1alpha1/meshconfigs/default']);
    expect(calls[0]!.status).not.to.have.property('observedGeneration');
  });

  it('recounts on its own every period until stopped', async function () {
    const scheduled: Array<{ fn: () => void; ms: number }> = [];
    const timers = { setTimeout: (fn: () => void, ms: number) => { scheduled.push({ fn, ms }); return scheduled.length; }, clearTimeout: () => undefined };
    const calls: Call[] = [];
    const writer = new MeshConfigStatusWriter(recordingApi(calls), createMemoryLogger(), { clock: () => NOW, timers });
    const object = meshConfigObject(VALID_SPEC, 4);
    await writer.report(object, verdictOf(object));
    let counted = 0;
    writer.startRecounting({ periodMs: 250, counts: () => { counted++; return countsOf(counted); } });
    expect(scheduled.map((s) => s.ms)).to.deep.equal([250]);
    scheduled[0]!.fn();
    await new Promise((resolve) => setImmediate(resolve));
    expect(counted).to.equal(1);
    expect(scheduled.map((s) => s.ms)).to.deep.equal([250, 250]);
    writer.stop();
    scheduled[1]!.fn();
    await new Promise((resolve) => setImmediate(resolve));
    expect(counted, 'no count after stop()').to.equal(1);
  });

  it('counts caches in slices, yielding to other work between them, with the same result as one pass', async function () {
    const mc = parseMeshConfig(meshConfigObject({ sidecar: VALID_SPEC.sidecar }, 2));
    if (!mc.ok) throw mc.error;
    const workloads: CountedWorkload[] = Array.from({ length: COUNT_SLICE * 2 + 7 }, (_, i) => ({ kind: 'Deployment', name: `w${i}`, namespace: 'shop', labels: {}, injection: undefined }));
    let synced = false;
    let turns = 0;
    const counting = countFromCaches({
      synced: () => synced, workloads: () => workloads, meshConfigs: () => [mc.meshConfig], namespace: () => undefined, policy: {}, recordsVisible: true,
    });
    expect(await counting.counts()).to.equal(undefined);
    synced = true;
    // Other work waiting for the event loop: one step per turn, until the count is done.
    let done = false;
    const other = (): void => {
      if (done) return;
      turns++;
      setImmediate(other);
    };
    setImmediate(other);
    const counts = await counting.counts();
    done = true;
    expect(counts?.get('default')).to.deep.equal({ matched: COUNT_SLICE * 2 + 7, selecting: COUNT_SLICE * 2 + 7, takenBy: [], injected: 0, outdated: 0 });
    expect(turns, 'other work ran while counting').to.be.greaterThan(1);
  });
});
