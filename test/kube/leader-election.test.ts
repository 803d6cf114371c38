// The elector on a simulated clock and lock store (leader-election-sim.ts), and its two lock kinds
// against nock: the ConfigMap annotation (1.9) and the Lease (1.13 v1beta1, v1 today).
import { expect } from 'chai';
import nock from 'nock';
import { createMemoryLogger } from '../../controller/logger.ts';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { chooseLeaderLock, fenceWrites, LeaderElector, NotLeaderError, type LeaderElectionConfig } from '../../controller/kube/leader-election.ts';
import { LEADER_ANNOTATION } from '../../controller/kube/configmap-lock.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import { createMigratingLock } from '../../controller/kube/migrating-lock.ts';
import type { KubeApi } from '../../controller/kube/types.ts';
import { parseRunOptions, UsageError } from '../../controller/options.ts';
import { seededRandom, SimClock, SimLockStore, settle } from './leader-election-sim.ts';
import { SERVER, testKubeConfig } from './helpers.ts';

const TIMINGS = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 1000 };

function elector(identity: string, clock: SimClock, lock: ReturnType<SimLockStore['lock']>, config: Partial<LeaderElectionConfig> = {}) {
  const log = createMemoryLogger();
  const e = new LeaderElector({ identity, ...TIMINGS, ...config }, {
    lock, log, now: () => clock.now, timers: clock, random: () => 0.5, wallClock: () => new Date(Date.UTC(2026, 10, 30, 20) + clock.now),
  });
  return { e, log };
}

/** Stops electors while the simulated clock runs (a leader's release is a request in flight). */
async function stopAll(clock: SimClock, ...electors: LeaderElector[]): Promise<void> {
  const stopping = Promise.all(electors.map((x) => x.stop()));
  await clock.advance(5000);
  await stopping;
}

/** A KubeApi whose writes are recorded and succeed; reads fail (not used here). */
function recordingApi(sent: string[]): KubeApi {
  const no = (): Promise<never> => Promise.reject(new Error('not used'));
  return {
    get: no, list: no, watch: () => { throw new Error('not used'); },
    patch: async (path) => { sent.push(`PATCH ${path}`); return {} as never; },
    patchIgnoringAnswer: async (path) => { sent.push(`PATCH ${path}`); },
    post: async (path) => { sent.push(`POST ${path}`); return {} as never; },
    put: async (path) => { sent.push(`PUT ${path}`); return {} as never; },
  };
}

describe('LeaderElector', function () {
  it('acquires a missing lock, renews it every retry period, and says so once', async function () {
    const clock = new SimClock();
    const store = new SimLockStore(clock);
    const { e, log } = elector('a', clock, store.lock({ latency: () => 20 }));
    const changes: boolean[] = [];
    e.onLeadershipChange((leading) => changes.push(leading));
    e.start();
    await clock.advance(50);
    expect(e.isLeader()).to.equal(true);
    expect(store.record).to.deep.include({ holderIdentity: 'a', leaseDurationSeconds: 4, leaderTransitions: 0 });
    const acquired = store.record!.acquireTime;
    await clock.advance(10_000);
    expect(e.isLeader()).to.equal(true);
    expect(store.writes.length).to.be.within(10, 12);
    expect(store.record!.acquireTime).to.equal(acquired);
    expect(changes).to.deep.equal([true]);
    expect(log.lines.filter((l) => l.message === 'Became leader')).to.have.length(1);
    expect(log.lines.find((l) => l.message === 'Became leader')!.fields).to.deep.include({ identity: 'a', lockKind: 'Lease', leaderTransitions: 0 });
    await stopAll(clock, e);
  });

  it('a standby waits a full lease from its own sight of the record, then takes over with one more transition', async function () {
    const clock = new SimClock();
    const store = new SimLockStore(clock);
    store.resourceVersion = 7;
    store.record = { holderIdentity: 'dead', leaseDurationSeconds: 4, acquireTime: '', renewTime: '', leaderTransitions: 2 };
    const { e, log } = elector('b', clock, store.lock({ latency: () => 10 }));
    e.start();
    await clock.advance(3900);
    expect(e.isLeader()).to.equal(false);
    expect(log.lines.find((l) => l.message === 'Standing by')?.fields).to.deep.include({ identity: 'b', holder: 'dead' });
    await clock.advance(2600);
    expect(e.isLeader()).to.equal(true);
    expect(store.record).to.deep.include({ holderIdentity: 'b', leaderTransitions: 3 });
    expect(store.writes[0]!.at, 'not before a lease after the first read').to.be.at.least(4005);
    await stopAll(clock, e);
  });

  it('a leader whose renewals fail stops writing at sentAt + renew deadline, before the lease can expire for anyone', async function () {
    const clock = new SimClock();
    const store = new SimLockStore(clock);
    let failing = false;
    const { e, log } = elector('a', clock, store.lock({ failing: () => failing }));
    const sent: string[] = [];
    const api = fenceWrites(recordingApi(sent), e);
    e.start();
    await clock.advance(1);
    expect(e.isLeader()).to.equal(true);
    await clock.advanceTo(2000);
    const lastRenewal = store.writes.at(-1)!.at;
    failing = true;
    await api.patch('/apis/apps/v1/namespaces/a/deployments/x', [], 'application/json-patch+json');
    expect(sent).to.have.length(1);
    await clock.advanceTo(lastRenewal + TIMINGS.renewDeadlineMs - 1);
    expect(e.isLeader(), 'still inside the renew deadline').to.equal(true);
    await clock.advanceTo(lastRenewal + TIMINGS.renewDeadlineMs);
    expect(e.isLeader()).to.equal(false);
    let refused: unknown;
    await api.post('/api/v1/namespaces/a/events', {}).catch((error: unknown) => { refused = error; });
    expect(refused).to.be.instanceOf(NotLeaderError);
    await api.patchIgnoringAnswer('/x', [], 'application/json-patch+json').catch(() => undefined);
    await api.put('/x', {}).catch(() => undefined);
    expect(sent, 'nothing reached the transport after the deadline').to.have.length(1);
    expect(log.lines.find((l) => l.message === 'Lost leadership, standing by')?.fields).to.deep.include({ identity: 'a', why: 'could not renew the lock within the renew deadline' });
    // A standby that saw that renewal could only take over a whole lease after it: a second after we stopped.
    expect(lastRenewal + TIMINGS.leaseDurationMs - (lastRenewal + TIMINGS.renewDeadlineMs)).to.equal(1000);
    await stopAll(clock, e);
  });

  it('a process paused past its lease refuses writes the instant it resumes and reads the lock before writing it', async function () {
    const clock = new SimClock();
    const store = new SimLockStore(clock);
    const lockA = store.lock({ latency: () => 10 });
    const { e: a } = elector('a', clock, lockA);
    const { e: b } = elector('b', clock, store.lock({ latency: () => 10 }));
    a.start();
    await clock.advance(100);
    b.start();
    await clock.advance(1500);
    expect(a.isLeader()).to.equal(true);
    // SIGSTOP a: its timers cannot run. Simulate by stopping a's loop from acting (its requests
    // stay in flight) while b's world goes on: a's next renewal is delayed by latency 0 but a's
    // process does not run. Here: jump the clock for a only by not letting it renew.
    const pausedAt = clock.now;
    const writesBefore = store.writes.filter((w) => w.record.holderIdentity === 'a').length;
    // Freeze a: make its lock calls never complete (a paused process sends nothing).
    const frozen = new Promise<never>(() => {});
    lockA.read = () => frozen;
    lockA.write = () => frozen;
    await clock.advance(8000);
    expect(b.isLeader(), 'b took over').to.equal(true);
    expect(a.isLeader(), 'a, asked first thing on resume').to.equal(false);
    const sent: string[] = [];
    await fenceWrites(recordingApi(sent), a).patch('/x', [], 'application/json-patch+json').catch(() => undefined);
    expect(sent).to.deep.equal([]);
    expect(store.writes.filter((w) => w.record.holderIdentity === 'a').length).to.equal(writesBefore);
    expect(store.writes.find((w) => w.record.holderIdentity === 'b')!.at).to.be.above(pausedAt);
    await stopAll(clock, a, b);
  });

  it('a lock read that took longer than the margin (the answer waited while paused) is not acted on', async function () {
    const clock = new SimClock();
    const store = new SimLockStore(clock);
    store.resourceVersion = 3;
    store.record = { holderIdentity: 'a', leaseDurationSeconds: 4, acquireTime: '', renewTime: '', leaderTransitions: 0 };
    const { e } = elector('a', clock, store.lock({ latency: () => 1500 }));
    e.start();
    await clock.advance(10_000);
    expect(store.reads).to.be.at.least(3);
    expect(store.writes, 'every read was too old to write on').to.deep.equal([]);
    await stopAll(clock, e);
  });

  it('releases the lock on stop so that the standby takes over without waiting for the lease', async function () {
    const clock = new SimClock();
    const store = new SimLockStore(clock);
    const { e: a } = elector('a', clock, store.lock());
    const { e: b, log } = elector('b', clock, store.lock());
    a.start();
    await clock.advance(10);
    b.start();
    await clock.advance(10);
    const stopping = a.stop();
    await clock.advance(5);
    await stopping;
    expect(store.record).to.deep.include({ holderIdentity: '', leaseDurationSeconds: 1 });
    await clock.advance(2300);
    expect(b.isLeader()).to.equal(true);
    expect(log.lines.some((l) => l.message === 'Became leader')).to.equal(true);
    await stopAll(clock, b);
  });

  it('a lock it may not write (403, a missing namespace) is retried every period and said once per ten failures, never leading', async function () {
    const clock = new SimClock();
    const store = new SimLockStore(clock);
    const lock = store.lock();
    lock.write = () => Promise.reject(new KubeApiError({ method: 'POST', path: '/api/v1/namespaces/x/configmaps', statusCode: 403, reason: 'Forbidden', message: 'cannot create configmaps' }));
    const { e, log } = elector('a', clock, lock);
    const sent: string[] = [];
    e.start();
    await clock.advance(20_500);
    expect(e.isLeader()).to.equal(false);
    await fenceWrites(recordingApi(sent), e).post('/x', {}).catch(() => undefined);
    expect(sent).to.deep.equal([]);
    const warned = log.lines.filter((l) => l.message === 'Lock not written');
    expect(store.reads).to.be.within(10, 21);
    expect(warned.map((l) => l.fields.failures)).to.deep.equal([1, 10, 20].filter((n) => n <= store.reads));
    expect(String(warned[0]!.fields.error)).to.include('403');
    await stopAll(clock, e);
  });

  it('during an API server upgrade that adds Leases, a replica on the ConfigMap alone and one on Lease + ConfigMap never both lead', async function () {
    this.timeout(30_000);
    let handovers = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed * 104729);
      const clock = new SimClock();
      const leaseStore = new SimLockStore(clock);
      const configMapStore = new SimLockStore(clock);
      const cutOffUntil: Record<string, number> = { old: 0, new: 0 };
      const client = (store: SimLockStore, id: string) => store.lock({ latency: () => random() * 200, failing: () => clock.now < cutOffUntil[id]! || random() < 0.05 });
      const old = elector('old', clock, client(configMapStore, 'old')).e;
      const migrating = elector('new', clock, createMigratingLock(client(leaseStore, 'new'), client(configMapStore, 'new'), 'new')).e;
      let last: LeaderElector | undefined;
      let both = 0;
      for (const x of [old, migrating]) {
        x.onLeadershipChange((leading) => {
          if (leading && last && last !== x) handovers++;
          if (leading) last = x;
        });
      }
      old.start();
      await clock.advance(random() * 3000);
      migrating.start();
      for (let step = 0; step < 80; step++) {
        if (random() < 0.1) cutOffUntil[random() < 0.5 ? 'old' : 'new'] = clock.now + random() * 8000;
        await clock.advance(random() * 1000, () => {
          if (old.isLeader() && migrating.isLeader()) both++;
        });
      }
      await stopAll(clock, old, migrating);
      expect(both, `seed ${seed}`).to.equal(0);
    }
    expect(handovers).to.be.above(5);
  });

  it('a Lease + ConfigMap lock whose ConfigMap answer waited past the margin (paused mid-write) does not send the Lease write', async function () {
    for (const [delayMs, leaseWritten] of [[200, true], [1500, false]] as const) {
      const clock = new SimClock();
      const leaseStore = new SimLockStore(clock);
      const configMapStore = new SimLockStore(clock);
      const configMap = configMapStore.lock({ latency: () => 10 });
      // The ConfigMap PUT is applied, but its answer reaches the process only after delayMs.
      const slowConfigMap = {
        ...configMap,
        write: async (...args: Parameters<typeof configMap.write>) => {
          const written = await configMap.write(...args);
          await new Promise<void>((resolve) => clock.setTimeout(resolve, delayMs));
          return written;
        },
      };
      const { e, log } = elector('a', clock, createMigratingLock(leaseStore.lock({ latency: () => 10 }), slowConfigMap, 'a'));
      e.start();
      await clock.advance(delayMs + 100);
      expect(configMapStore.writes.length, `${delayMs} ms`).to.be.at.least(1);
      expect(leaseStore.writes.length > 0, `${delayMs} ms: Lease written`).to.equal(leaseWritten);
      expect(e.isLeader(), `${delayMs} ms`).to.equal(leaseWritten);
      const abandoned = log.lines.find((l) => l.message === 'Lock write abandoned: paused while writing it');
      expect(Boolean(abandoned), `${delayMs} ms: abandoned logged`).to.equal(!leaseWritten);
      if (abandoned) expect(abandoned.fields).to.deep.include({ skipped: leaseStore.lock().description });
      await stopAll(clock, e);
    }
  });

  it('refuses timings that would allow two writers', function () {
    const clock = new SimClock();
    const lock = new SimLockStore(clock).lock();
    expect(() => elector('a', clock, lock, { renewDeadlineMs: 4000 })).to.throw(/shorter than the lease/);
    expect(() => elector('a', clock, lock, { leaseDurationMs: 4500 })).to.throw(/whole seconds/);
    expect(() => elector('a', clock, lock, { retryPeriodMs: 2600 })).to.throw(/1.2 x the retry period/);
  });

  it('property: two electors on one store, random latencies, failures and pauses, are never both leaders at any instant', async function () {
    this.timeout(60_000);
    let handovers = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const random = seededRandom(seed * 7919);
      const clock = new SimClock();
      const store = new SimLockStore(clock);
      // Latencies up to 1.8 s each way, a 5% failure rate, and partitions: for seconds at a time
      // one replica's requests all fail (its renewals miss while the other can still take over).
      const cutOffUntil: Record<string, number> = { a: 0, b: 0 };
      const electors = ['a', 'b'].map((id) => elector(id, clock, store.lock({
        latency: () => (random() < 0.2 ? random() * 1800 : random() * 50),
        failing: () => clock.now < cutOffUntil[id]! || random() < 0.05,
      })).e);
      let leaderTime = 0;
      let both = 0;
      const check = (): void => {
        const leaders = electors.filter((x) => x.isLeader()).length;
        if (leaders === 2) both++;
      };
      let lastLeader: LeaderElector | undefined;
      for (const x of electors) {
        x.onLeadershipChange((leading) => {
          if (leading && lastLeader && lastLeader !== x) handovers++;
          if (leading) lastLeader = x;
        });
        x.start();
      }
      for (let step = 0; step < 100; step++) {
        const before = clock.now;
        if (random() < 0.1) cutOffUntil[random() < 0.5 ? 'a' : 'b'] = clock.now + random() * 8000;
        await clock.advance(random() * 1000, check);
        if (electors.some((x) => x.isLeader())) leaderTime += clock.now - before;
      }
      await stopAll(clock, ...electors);
      await settle();
      expect(both, `seed ${seed}: instants with two leaders`).to.equal(0);
      expect(leaderTime, `seed ${seed}: somebody led`).to.be.above(0);
    }
    // The schedules are hostile enough that leadership really moves between the two.
    expect(handovers).to.be.above(10);
  });
});

describe('leader lock kinds against an API server (nock)', function () {
  const api = (): KubeApi => createKubeApi(testKubeConfig(), { requestTimeoutMs: 2000 });
  afterEach(function () {
    nock.cleanAll();
  });

  it('1.9 (no coordination.k8s.io): a ConfigMap with the control-plane.alpha.kubernetes.io/leader annotation; a CAS conflict (409) is not a win', async function () {
    const cm = '/api/v1/namespaces/meshinit-system/configmaps';
    const scope = nock(SERVER)
      .get('/apis/coordination.k8s.io').reply(404, { kind: 'Status', code: 404 })
      .get(`${cm}/meshinit`).reply(404, { kind: 'Status', code: 404 })
      .post(cm, (body: { metadata: { annotations: Record<string, string> } }) => {
        const record = JSON.parse(body.metadata.annotations[LEADER_ANNOTATION]!) as Record<string, unknown>;
        return record.holderIdentity === 'a' && record.leaderTransitions === 0 && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(String(record.renewTime));
      })
      .reply(201, (_uri, body) => ({ ...(body as object), metadata: { ...(body as { metadata: object }).metadata, resourceVersion: '10' } }));
    const lock = await chooseLeaderLock(api(), { namespace: 'meshinit-system', name: 'meshinit' }, 'auto');
    expect(lock.kind).to.equal('ConfigMap');
    const absent = await lock.read();
    const created = await lock.write({ holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: '2026-11-30T20:00:00.123Z', renewTime: '2026-11-30T20:00:00.123Z', leaderTransitions: 0 }, absent);
    expect(created.resourceVersion).to.equal('10');
    expect(created.record?.holderIdentity).to.equal('a');
    // Someone else wrote since: the PUT carries resourceVersion 10 and the server refuses it.
    scope.put(`${cm}/meshinit`, (body: { metadata: { resourceVersion: string; annotations: Record<string, string> }; data?: unknown }) =>
      body.metadata.resourceVersion === '10' && JSON.parse(body.metadata.annotations[LEADER_ANNOTATION]!).holderIdentity === 'a' && body.metadata.annotations.keep === 'me')
      .reply(409, { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' });
    const withOther = { ...created, object: { ...created.object, metadata: { ...(created.object!.metadata as object), annotations: { ...(created.object!.metadata as { annotations: object }).annotations, keep: 'me' } } } };
    let error: unknown;
    await lock.write(created.record!, withOther).catch((e: unknown) => { error = e; });
    expect((error as { statusCode?: number }).statusCode).to.equal(409);
    expect(scope.isDone()).to.equal(true);
  });

  it('an unreadable annotation is waited out as a held lease, then replaced', async function () {
    const cm = '/api/v1/namespaces/ns/configmaps/meshinit';
    nock(SERVER).persist().get(cm).reply(200, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'meshinit', namespace: 'ns', resourceVersion: '5', annotations: { [LEADER_ANNOTATION]: '{not json' } } });
    const lock = await chooseLeaderLock(api(), { namespace: 'ns', name: 'meshinit' }, 'configmaps');
    const snapshot = await lock.read();
    expect(snapshot).to.deep.include({ unreadable: true, record: undefined, resourceVersion: '5' });
  });

  for (const [served, expected] of [[['v1beta1'], 'v1beta1'], [['v1', 'v1beta1'], 'v1']] as const) {
    it(`Lease ${expected} where the server serves ${served.join(', ')}: MicroTime, leaseTransitions, PUT with resourceVersion`, async function () {
      const leases = `/apis/coordination.k8s.io/${expected}/namespaces/meshinit-system/leases`;
      const scope = nock(SERVER)
        .get('/apis/coordination.k8s.io').reply(200, { kind: 'APIGroup', name: 'coordination.k8s.io', versions: served.map((version) => ({ groupVersion: `coordination.k8s.io/${version}`, version })) })
        .get(`${leases}/meshinit`).reply(200, {
          apiVersion: `coordination.k8s.io/${expected}`, kind: 'Lease', metadata: { name: 'meshinit', namespace: 'meshinit-system', resourceVersion: '42' },
          spec: { holderIdentity: 'old', leaseDurationSeconds: 15, acquireTime: '2026-11-30T19:00:00.000000Z', renewTime: '2026-11-30T19:00:10.000000Z', leaseTransitions: 4 },
        })
        .put(`${leases}/meshinit`, (body: { metadata: { resourceVersion: string }; spec: Record<string, unknown> }) =>
          body.metadata.resourceVersion === '42' && body.spec.holderIdentity === 'a' && body.spec.leaseTransitions === 5 && body.spec.renewTime === '2026-11-30T20:00:00.123000Z')
        .reply(200, (_uri, body) => ({ ...(body as object), metadata: { ...(body as { metadata: object }).metadata, resourceVersion: '43' } }))
        .put(`${leases}/meshinit`).reply(409, { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' });
      const lock = await chooseLeaderLock(api(), { namespace: 'meshinit-system', name: 'meshinit' }, 'leases');
      expect(lock.kind).to.equal('Lease');
      expect(lock.description).to.include(`/${expected}`);
      const read = await lock.read();
      expect(read.record).to.deep.equal({ holderIdentity: 'old', leaseDurationSeconds: 15, acquireTime: '2026-11-30T19:00:00.000000Z', renewTime: '2026-11-30T19:00:10.000000Z', leaderTransitions: 4 });
      const record = { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: '2026-11-30T20:00:00.123Z', renewTime: '2026-11-30T20:00:00.123Z', leaderTransitions: 5 };
      const written = await lock.write(record, read);
      expect(written.resourceVersion).to.equal('43');
      // The same write again is based on resourceVersion 42, which is stale now.
      let error: unknown;
      await lock.write(record, read).catch((e: unknown) => { error = e; });
      expect((error as { isConflict?: boolean }).isConflict).to.equal(true);
      expect(scope.isDone()).to.equal(true);
    });
  }

  it('auto where Leases are served: the Lease and the ConfigMap both, the ConfigMap written first', async function () {
    const leases = '/apis/coordination.k8s.io/v1/namespaces/ns/leases';
    const cms = '/api/v1/namespaces/ns/configmaps';
    const order: string[] = [];
    nock(SERVER)
      .get('/apis/coordination.k8s.io').reply(200, { versions: [{ version: 'v1' }] })
      .get(`${leases}/meshinit`).reply(404, { kind: 'Status', code: 404 })
      .get(`${cms}/meshinit`).reply(404, { kind: 'Status', code: 404 })
      .post(cms).reply(201, (_uri, body) => { order.push('configmap'); return { ...(body as object), metadata: { ...(body as { metadata: object }).metadata, resourceVersion: '1' } }; })
      .post(leases).reply(201, (_uri, body) => { order.push('lease'); return { ...(body as object), metadata: { ...(body as { metadata: object }).metadata, resourceVersion: '2' } }; });
    const lock = await chooseLeaderLock(api(), { namespace: 'ns', name: 'meshinit' }, 'auto', 'a');
    expect(lock.description).to.equal('leases.coordination.k8s.io/v1 ns/meshinit and configmaps/v1 ns/meshinit (annotation control-plane.alpha.kubernetes.io/leader)');
    const written = await lock.write({ holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: '2026-11-30T20:00:00.000Z', renewTime: '2026-11-30T20:00:00.000Z', leaderTransitions: 0 }, await lock.read());
    expect(order).to.deep.equal(['configmap', 'lease']);
    expect(written.resourceVersion).to.equal('2/1');
  });

  it('--leader-elect-resource-lock leases on a server without Leases is refused with the reason', async function () {
    nock(SERVER).get('/apis/coordination.k8s.io').reply(404, { kind: 'Status', code: 404 });
    let error: unknown;
    await chooseLeaderLock(api(), { namespace: 'ns', name: 'meshinit' }, 'leases').catch((e: unknown) => { error = e; });
    expect(String(error)).to.include('does not serve coordination.k8s.io Leases');
  });
});

describe('--leader-elect flags', function () {
  const parse = (argv: string[], env: Record<string, string> = {}) => parseRunOptions(argv, env).options.leaderElection;

  it('defaults to kube-controller-manager\'s: on, 15s/10s/2s, auto lock meshinit in the controller namespace, identity from POD_NAME', function () {
    const options = parse([], { POD_NAMESPACE: 'mesh', POD_NAME: 'meshinit-7d9f-abcde' });
    expect(options).to.deep.include({ enabled: true, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000, resourceLock: 'auto', namespace: 'mesh', name: 'meshinit' });
    expect(options.identity).to.match(/^meshinit-7d9f-abcde_[0-9a-f-]{36}$/);
    expect(parse([], { POD_NAME: 'p' }).identity, 'unique per process').to.not.equal(parse([], { POD_NAME: 'p' }).identity);
  });

  it('takes kube-controller-manager\'s spelling --leader-elect=false, and --no-leader-elect', function () {
    expect(parse(['--leader-elect=false']).enabled).to.equal(false);
    expect(parse(['--no-leader-elect']).enabled).to.equal(false);
    expect(parse(['--leader-elect=true']).enabled).to.equal(true);
    expect(() => parse(['--leader-elect=maybe'])).to.throw(UsageError, /true or false/);
  });

  it('refuses timings under which two replicas could write at once', function () {
    const timings = (lease: string, renew: string, retry: string): string[] => ['--leader-elect-lease-duration', lease, '--leader-elect-renew-deadline', renew, '--leader-elect-retry-period', retry];
    expect(parse(timings('4s', '3s', '1s'))).to.deep.include({ leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 1000 });
    expect(() => parse(timings('10s', '10s', '2s'))).to.throw(UsageError, /shorter than --leader-elect-lease-duration/);
    expect(() => parse(timings('4500ms', '3s', '1s'))).to.throw(UsageError, /whole seconds/);
    expect(() => parse(timings('15s', '2s', '2s'))).to.throw(UsageError, /1.2 x/);
    expect(() => parse(timings('15s', '10s', '0'))).to.throw(UsageError, /positive/);
    expect(() => parse(['--leader-elect-resource-lock', 'endpoints'])).to.throw(UsageError, /auto, leases or configmaps/);
    expect(parse(['--leader-elect-resource-name', 'x', '--leader-elect-resource-namespace', 'y'])).to.deep.include({ name: 'x', namespace: 'y' });
  });
});
