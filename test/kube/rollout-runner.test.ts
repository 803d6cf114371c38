// The rollout executor against a fake API server that applies JSON Patches as the real one does
// (a failed `test` is refused, the resourceVersion moves on every write): the PATCH it sends, the
// ledger and Events it leaves, and what it does when the world moved between plan and PATCH — a
// conflict, the leader fence refusing, the workload gone, the workload changed since the plan.
import { expect } from 'chai';
import jsonpatch from 'fast-json-patch';
import { injectWorkload } from '../../controller/core/inject.ts';
import type { KubeObject, MeshConfig, Workload } from '../../controller/core/types.ts';
import { createWorkloadSummariser, rolloutCandidate } from '../../controller/core/workload-summary.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import type { EventRecord } from '../../controller/kube/events.ts';
import { fenceWrites } from '../../controller/kube/leader-election.ts';
import { REASON_ROLLOUT_FINISHED, REASON_ROLLOUT_STARTED, REASON_ROLLOUT_TIMED_OUT, RolloutRunner, type RolloutStrategy } from '../../controller/kube/rollout-runner.ts';
import { injectPod } from '../../controller/core/inject.ts';
import { PodMarks } from '../../controller/core/pod-marks.ts';
import { RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION, ROLLOUT_ANNOTATION } from '../../controller/core/constants.ts';
import type { Pod } from '../../controller/core/types.ts';
import type { KubeApi } from '../../controller/kube/types.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { Metrics } from '../../controller/metrics.ts';
import { meshConfig } from '../core/fixtures/helpers.ts';

const V1 = meshConfig('mesh', { updatePolicy: 'Rollout', rollout: { maxPerMinute: 10, timeoutSeconds: 30 }, sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:1' }] } }, 1);
const V2 = meshConfig('mesh', { updatePolicy: 'Rollout', rollout: { maxPerMinute: 10, timeoutSeconds: 30 }, sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:2' }] } }, 2);

function deployment(name: string): Workload {
  const labels = { app: name };
  return injectWorkload({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: '10', generation: 1, labels },
    spec: { replicas: 2, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
    status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
  } as Workload, V1).object;
}

const path = (name: string): string => `/apis/apps/v1/namespaces/shop/deployments/${name}`;

/** Objects by path; PATCH applies the JSON Patch (a failed test is a 422), bumps resourceVersion and, on a spec change, generation. */
class FakeServer {
  readonly objects = new Map<string, KubeObject>();
  readonly patches: Array<{ path: string; ops: jsonpatch.Operation[] }> = [];
  /** Called before a PATCH is applied (a concurrent writer, say). */
  beforePatch: ((path: string) => void) | undefined;
  private rv = 100;

  put(object: KubeObject): void {
    this.objects.set(path(object.metadata!.name!), structuredClone(object));
  }

  write(p: string, change: (object: KubeObject) => void): void {
    const object = this.objects.get(p)!;
    change(object);
    object.metadata!.resourceVersion = String(++this.rv);
  }

  api(): KubeApi {
    const notFound = (method: string, p: string) => new KubeApiError({ method, path: p, statusCode: 404, reason: 'NotFound', message: 'not found' });
    return {
      get: async <T>(p: string) => {
        const object = this.objects.get(p);
        if (!object) throw notFound('GET', p);
        return structuredClone(object) as T;
      },
      patch: async <T>(p: string, body: unknown) => {
        this.beforePatch?.(p);
        const current = this.objects.get(p);
        if (!current) throw notFound('PATCH', p);
        this.patches.push({ path: p, ops: body as jsonpatch.Operation[] });
        let next: KubeObject;
        try {
          next = jsonpatch.applyPatch(structuredClone(current), body as jsonpatch.Operation[], true, false).newDocument;
        } catch {
          throw new KubeApiError({ method: 'PATCH', path: p, statusCode: 422, reason: 'Invalid', message: 'the JSON Patch test failed' });
        }
        const specChanged = JSON.stringify(next.spec) !== JSON.stringify(current.spec);
        next.metadata!.resourceVersion = String(++this.rv);
        if (specChanged) next.metadata!.generation = (current.metadata!.generation ?? 0) + 1;
        this.objects.set(p, next);
        return structuredClone(next) as T;
      },
    } as unknown as KubeApi;
  }
}

interface Rig {
  server: FakeServer;
  runner: RolloutRunner;
  events: EventRecord[];
  log: ReturnType<typeof createMemoryLogger>;
  metrics: Metrics;
  clock: { now: number };
  /** The informer cache: summaries, refreshed from the server by `sync()`. */
  cache: Map<string, KubeObject>;
  sync(): void;
}

function rig(options: { names?: string[]; meshConfigs?: MeshConfig[]; leader?: () => boolean; plans?: () => boolean; strategy?: RolloutStrategy; podMarks?: () => PodMarks; put?: (name: string) => KubeObject } = {}): Rig {
  const server = new FakeServer();
  for (const name of options.names ?? ['a']) server.put(options.put ? options.put(name) : deployment(name));
  // --target pods caches the workload's metadata and rollout facts; whole objects give the same candidate.
  const summarise = options.strategy === 'restart' ? (object: KubeObject) => structuredClone(object) : createWorkloadSummariser();
  const cache = new Map<string, KubeObject>();
  const sync = (): void => {
    cache.clear();
    for (const [p, object] of server.objects) cache.set(p, summarise(object));
  };
  sync();
  const events: EventRecord[] = [];
  const log = createMemoryLogger();
  const metrics = new Metrics({ processMetrics: false });
  const clock = { now: 1_000_000 };
  const leader = options.leader ?? (() => true);
  const runner = new RolloutRunner({
    api: fenceWrites(server.api(), { isLeader: leader }),
    log, metrics,
    events: { record: (event) => events.push(event) },
    isLeader: options.plans ?? (() => true),
    clock: () => clock.now,
    ...(options.strategy ? { strategy: options.strategy } : {}),
    source: {
      synced: () => true,
      workloads: () => [...cache.values()].map((object) => {
        const candidate = rolloutCandidate('Deployment', object);
        return options.podMarks ? { ...candidate, injection: options.podMarks().of('Deployment', candidate.namespace, candidate.name)[0] } : candidate;
      }),
      meshConfigs: () => options.meshConfigs ?? [V2],
      namespace: (name) => ({ name, labels: {} }),
      policy: { controllerNamespace: 'meshinit-system' },
    },
  });
  return { server, runner, events, log, metrics, clock, cache, sync };
}

const image = (object: KubeObject | undefined): unknown => (object as Workload).spec.template.spec.containers.find((c) => c.name === 'mesh-proxy')?.image;

async function rolloutsTotal(metrics: Metrics, result: string): Promise<number> {
  const text = await metrics.render();
  const match = new RegExp(`^meshinit_rollouts_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

describe('rollout executor (kube/rollout-runner.ts)', function () {
  it('re-injects with one conditional PATCH, records the start, and says so in an Event, a log line and a metric', async function () {
    const { server, runner, events, log, metrics } = rig();
    await runner.tick();
    expect(server.patches).to.have.length(1);
    const ops = server.patches[0]!.ops;
    expect(ops[0]).to.deep.equal({ op: 'test', path: '/metadata/resourceVersion', value: '10' });
    expect(image(server.objects.get(path('a')))).to.equal('proxy:2');
    expect(server.objects.get(path('a'))!.metadata!.generation).to.equal(2);
    expect(runner.ledger.get('uid-a')).to.include({ state: 'inProgress', patchedGeneration: 2, toGeneration: 2 });
    expect(events.map((e) => [e.type, e.reason, e.object.uid])).to.deep.equal([['Normal', REASON_ROLLOUT_STARTED, 'uid-a']]);
    expect(events[0]!.message).to.match(/MeshConfig mesh: sidecar generation 1 .* -> 2/);
    const line = log.lines.find((l) => l.message === 'Sidecar rollout started');
    expect(line?.fields).to.include({ kind: 'Deployment', namespace: 'shop', name: 'a', uid: 'uid-a', action: 'started' });
    expect(await rolloutsTotal(metrics, 'started')).to.equal(1);
    expect(runner.status('mesh')).to.deep.equal({ paused: false, inProgress: 0, waiting: 0, rateLimited: 0, lastStartedAt: new Date(1_000_000).toISOString() });
    await runner.tick();
    expect(runner.status('mesh')).to.include({ inProgress: 1 });
    expect(runner.status('other')).to.equal(undefined);
  });

  it('records each start on the workload in the same PATCH, so a new leader with an empty ledger keeps to maxPerMinute', async function () {
    const paced = meshConfig('mesh', { updatePolicy: 'Rollout', rollout: { maxPerMinute: 2, timeoutSeconds: 300 }, sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:2' }] } }, 2);
    const names = ['a', 'b', 'c', 'd'];
    const old = rig({ names, meshConfigs: [paced] });
    await old.runner.tick();
    expect(old.server.patches.map((p) => p.path)).to.deep.equal([path('a'), path('b')]);
    const a = old.server.objects.get(path('a'))!;
    const recorded = JSON.parse(a.metadata!.annotations![ROLLOUT_ANNOTATION]!) as Record<string, unknown>;
    expect(recorded).to.deep.equal({ meshConfig: 'mesh', generation: 2, hash: old.runner.ledger.get('uid-a')!.toHash, startedAt: new Date(old.clock.now).toISOString() });
    // One PATCH: the record rides with the start, under the same resourceVersion test.
    expect(old.server.patches[0]!.ops.filter((op) => op.path === '/metadata/annotations/sidecar.meshinit.dev~1rollout').map((op) => op.op)).to.deep.equal(['add']);
    // The leader dies; the next one has the same server and an empty ledger, 20 s later.
    const next = rig({ names, meshConfigs: [paced], put: (name) => old.server.objects.get(path(name))! });
    next.clock.now = old.clock.now + 20_000;
    await next.runner.tick();
    expect(next.server.patches, 'both of the minute\'s starts were made by the old leader').to.deep.equal([]);
    expect(next.runner.status('mesh')).to.deep.equal({ paused: false, inProgress: 2, waiting: 0, rateLimited: 2, lastStartedAt: new Date(old.clock.now).toISOString() });
    next.clock.now = old.clock.now + 60_001;
    await next.runner.tick();
    expect(next.server.patches.map((p) => p.path)).to.deep.equal([path('c'), path('d')]);
    // The two it recovered were its own to watch: their finish is reported by the new leader, once.
    for (const name of ['a', 'b']) next.server.write(path(name), (object) => { object.status = { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }; });
    next.sync();
    await next.runner.tick();
    await next.runner.tick();
    expect(next.events.filter((e) => e.reason === REASON_ROLLOUT_FINISHED).map((e) => e.object.name)).to.deep.equal(['a', 'b']);
    expect(next.events.filter((e) => e.reason === REASON_ROLLOUT_STARTED).map((e) => e.object.name)).to.deep.equal(['c', 'd']);
  });

  it('does not PATCH again while the cache still shows the old sidecar, and reports the finish once the controller is done', async function () {
    const { server, runner, events, clock, sync } = rig();
    await runner.tick();
    clock.now += 5000;
    await runner.tick();
    expect(server.patches).to.have.length(1);
    // The deployment controller observes generation 2 and updates every replica.
    server.write(path('a'), (object) => { object.status = { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }; });
    sync();
    clock.now += 5000;
    await runner.tick();
    expect(events.map((e) => e.reason)).to.deep.equal([REASON_ROLLOUT_STARTED, REASON_ROLLOUT_FINISHED]);
    expect(runner.ledger.get('uid-a')?.state ?? 'forgotten').to.be.oneOf(['finished', 'forgotten']);
    await runner.tick();
    expect(server.patches).to.have.length(1);
  });

  it('reports a rollout that does not finish within timeoutSeconds with one Warning Event', async function () {
    const { runner, events, clock, sync, server } = rig();
    await runner.tick();
    server.write(path('a'), (object) => { object.status = { observedGeneration: 2, replicas: 3, updatedReplicas: 1, availableReplicas: 2 }; });
    sync();
    clock.now += 31_000;
    await runner.tick();
    clock.now += 31_000;
    await runner.tick();
    expect(events.filter((e) => e.reason === REASON_ROLLOUT_TIMED_OUT).map((e) => e.type)).to.deep.equal(['Warning']);
  });

  it('on a conflict (another writer between GET and PATCH) writes nothing, records nothing, and plans again next tick', async function () {
    const { server, runner, log, events } = rig();
    let once = true;
    server.beforePatch = (p) => {
      if (!once) return;
      once = false;
      server.write(p, (object) => { object.metadata!.labels = { ...object.metadata!.labels, touched: 'yes' }; });
    };
    await runner.tick();
    expect(image(server.objects.get(path('a')))).to.equal('proxy:1');
    expect(runner.ledger.size).to.equal(0);
    expect(events).to.deep.equal([]);
    expect(log.lines.find((l) => l.message === 'Sidecar rollout deferred')?.fields).to.include({ action: 'conflict', name: 'a' });
    await runner.tick();
    expect(image(server.objects.get(path('a')))).to.equal('proxy:2');
  });

  it('sends nothing when the leader fence refuses, and records nothing', async function () {
    let leading = true;
    const { server, runner, events } = rig({ leader: () => leading });
    leading = false;
    await runner.tick();
    expect(server.patches).to.deep.equal([]);

    expect(runner.ledger.size).to.equal(0);
    expect(events).to.deep.equal([]);
  });

  it('plans nothing and reports no status.rollout on a standby, forgetting what it planned as leader', async function () {
    let leading = true;
    const { server, runner } = rig({ plans: () => leading, leader: () => leading });
    await runner.tick();
    expect(runner.status('mesh')).to.not.equal(undefined);
    leading = false;
    await runner.tick();
    expect(runner.status('mesh')).to.equal(undefined);
    expect(server.patches).to.have.length(1);
  });

  it('skips a workload deleted since the plan, and one changed since (opted out, already rolling, already current)', async function () {
    const { server, runner, log, events } = rig({ names: ['gone', 'optout', 'rolling', 'current'] });
    server.objects.delete(path('gone'));
    server.write(path('optout'), (object) => { object.metadata!.annotations = { ...object.metadata!.annotations, 'sidecar.meshinit.dev/inject': 'false' }; });
    server.write(path('rolling'), (object) => { object.metadata!.generation = 5; });
    server.write(path('current'), (object) => { Object.assign(object, injectWorkload(object as Workload, V2).object); });
    await runner.tick();
    expect(server.patches).to.deep.equal([]);
    expect(events).to.deep.equal([]);
    const skipped = Object.fromEntries(log.lines.filter((l) => l.message === 'Sidecar rollout skipped').map((l) => [l.fields.name, l.fields.reason]));
    expect(skipped).to.have.keys(['gone', 'optout', 'rolling', 'current']);
    expect(skipped.gone).to.match(/deleted/);
    expect(skipped.optout).to.match(/"false"/);
    expect(skipped.rolling).to.match(/under way/);
    expect(skipped.current).to.match(/already carries/);
  });

  it('holds a workload whose PATCH failed for another reason (403) instead of retrying every tick', async function () {
    const { server, runner, clock, log } = rig();
    let calls = 0;
    server.beforePatch = () => {
      calls++;
      throw new KubeApiError({ method: 'PATCH', path: path('a'), statusCode: 403, reason: 'Forbidden', message: 'cannot patch deployments' });
    };
    await runner.tick();
    clock.now += 2000;
    await runner.tick();
    expect(calls).to.equal(1);
    expect(log.lines.filter((l) => l.message === 'Sidecar rollout failed')).to.have.length(1);
    clock.now += 60_000;
    await runner.tick();
    expect(calls).to.equal(2);
  });
});

describe('rollout executor, --target pods (restart strategy)', function () {
  /** A Deployment as --target pods leaves it: the template is the user's, the sidecar is in its Pods. */
  function plainDeployment(name: string): KubeObject {
    const labels = { app: name };
    return {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: '10', generation: 1, labels },
      spec: { replicas: 2, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
      status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
    };
  }

  /** What the webhook injected into the Deployment's Pods, with the sidecar of `version`. */
  function podsOf(names: string[], version: MeshConfig): PodMarks {
    const marks = new PodMarks();
    for (const name of names) {
      for (const suffix of ['x1', 'x2']) {
        const pod: Pod = {
          apiVersion: 'v1', kind: 'Pod',
          metadata: { name: `${name}-7f9c-${suffix}`, namespace: 'shop', labels: { app: name, 'pod-template-hash': '7f9c' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-7f9c`, uid: 'rs', controller: true }] },
          spec: { containers: [{ name: 'app', image: 'nginx' }] },
        };
        marks.add(injectPod(pod, version, { kind: 'Deployment', name, namespace: 'shop' }).object);
      }
    }
    return marks;
  }

  it('restarts a workload whose Pods carry the old sidecar: one conditional PATCH of two template annotations, an Event, nothing else', async function () {
    const marks = podsOf(['a'], V1);
    const { server, runner, events } = rig({ strategy: 'restart', put: plainDeployment, podMarks: () => marks });
    const before = structuredClone(server.objects.get(path('a'))!);
    await runner.tick();
    expect(server.patches).to.have.length(1);
    expect(server.patches[0]!.ops[0]).to.deep.equal({ op: 'test', path: '/metadata/resourceVersion', value: '10' });
    const after = server.objects.get(path('a'))!;
    const annotations = (after as Workload).spec.template.metadata!.annotations!;
    expect(annotations[RESTARTED_FOR_ANNOTATION]).to.equal(`mesh/${runner.ledger.get('uid-a')!.toHash}`);
    expect(annotations[RESTARTED_AT_ANNOTATION]).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The template is the user's apart from the two annotations: no sidecar goes into it.
    expect((after as Workload).spec.template.spec).to.deep.equal((before as Workload).spec.template.spec);
    expect(after.metadata!.generation).to.equal(2);
    expect(events.map((e) => [e.type, e.reason])).to.deep.equal([['Normal', REASON_ROLLOUT_STARTED]]);
    expect(events[0]!.message).to.match(/^Restarted for the new sidecar of MeshConfig mesh: sidecar generation 1 .* -> 2/);
  });

  it('leaves a workload whose Pods already carry the current sidecar, and one with no injected Pod', async function () {
    const current = podsOf(['a'], V2);
    const { server, runner } = rig({ strategy: 'restart', names: ['a', 'b'], put: plainDeployment, podMarks: () => current });
    await runner.tick();
    expect(server.patches).to.have.length(0);
    expect(runner.ledger.size).to.equal(0);
  });

  it('does not restart twice: not while the Pods read still show the old sidecar, nor when another replica already stamped the template', async function () {
    const marks = podsOf(['a', 'b'], V1);
    const { server, runner, clock, events, sync } = rig({ strategy: 'restart', names: ['a', 'b'], put: plainDeployment, podMarks: () => marks });
    const hash = (await (async () => { await runner.tick(); return runner.ledger.get('uid-a')!.toHash; })());
    expect(server.patches.map((p) => p.path)).to.deep.equal([path('a'), path('b')]);
    server.patches.length = 0;
    // The pod reading is stale (both still old) and the cache has caught up with the PATCHes.
    sync();
    clock.now += 5_000;
    await runner.tick();
    expect(server.patches, 'no second PATCH for the same sidecar').to.have.length(0);
    // The Deployment controller has rolled both out, but the Pods read are from before: a new
    // replica with an empty ledger finds the templates stamped for this sidecar and adopts the
    // rollouts instead of restarting again.
    for (const name of ['a', 'b']) server.write(path(name), (object) => { object.status = { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }; });
    const fresh = rig({ strategy: 'restart', names: ['a', 'b'], put: (name) => server.objects.get(path(name))!, podMarks: () => marks });
    await fresh.runner.tick();
    expect(fresh.server.patches).to.have.length(0);
    expect(fresh.runner.ledger.get('uid-a')).to.include({ state: 'inProgress', toHash: hash });
    expect(events.filter((e) => e.reason === REASON_ROLLOUT_STARTED)).to.have.length(2);
  });
});
