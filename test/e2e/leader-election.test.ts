// Two replicas, one active, on the real servers: kube-apiserver v1.9.11 (ConfigMap lock) and
// v1.13.0 (Lease v1beta1) with meshinit installed as README.md says (its RBAC really decides what
// the lock may do), and on the modern server (Lease v1) with two electors driven directly, since
// the Initializer mode does not exist there. Who wrote what comes from the API server's own audit
// log: each replica's User-Agent carries its leader-election identity.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { benchClient, connectionFromKubeconfig, createBurst, deploymentBody, type BenchClient } from '../../bench/kube-client.ts';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { chooseLeaderLock, LeaderElector } from '../../controller/kube/leader-election.ts';
import type { LeaderLock } from '../../controller/kube/leader-lock.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { loadKubeConfigClass } from '../../controller/kube/slim-kubeconfig.ts';
import { LEGACY_RELEASES, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { freePort, MeshinitProcess, mustKubectl, waitForPendingList, waitUntil, type Json } from './cluster.ts';

const OURS = 'sidecar.initializer.meshinit.dev';
const APPS = 'e2e-ha';
const TIMINGS = ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '1s'];
const BURST = 1000;

interface AuditEvent {
  stage: string;
  verb: string;
  userAgent?: string;
  user?: { username?: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
}

/** Writes only, at Metadata level, once the response is complete: what each client changed. */
const AUDIT_POLICY = [
  'apiVersion: audit.k8s.io/v1beta1',
  'kind: Policy',
  'omitStages: [RequestReceived, ResponseStarted]',
  'rules:',
  '  - level: Metadata',
  '    verbs: [create, update, patch, delete]',
  '  - level: None',
].join('\n');

function readAudit(file: string): AuditEvent[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditEvent).filter((e) => e.stage === 'ResponseComplete');
}

/** The replica's user: 1.9's audit events have no User-Agent, so each replica runs as its own ServiceAccount. */
const replicaUser = new Map<MeshinitProcess, string>();
const healthPort = new Map<MeshinitProcess, number>();
function identityOf(process: MeshinitProcess): string {
  const line = process.lines.find((l) => l.message === 'Leader election started');
  return String(line?.identity);
}
function wroteBy(event: AuditEvent, process: MeshinitProcess): boolean {
  return event.user?.username === replicaUser.get(process);
}

for (const release of LEGACY_RELEASES) {
  describe(`Two replicas, one active, on a real kube-apiserver ${release}`, function () {
    this.timeout(300_000);
    let plane: ControlPlane;
    let dir: string;
    let client: BenchClient;
    const processes: MeshinitProcess[] = [];
    const validate = release === 'v1.9.11' ? ['--validate=false'] : [];
    const auditLog = (): string => path.join(dir, 'audit.log');
    const lockResource = release === 'v1.9.11' ? 'configmaps' : 'leases';

    async function startReplica(): Promise<MeshinitProcess> {
      // Its own ServiceAccount, bound to the shipped ClusterRole and leader-election Role.
      const account = `meshinit-${processes.length}`;
      const admin = plane.adminKubeconfigPath;
      await mustKubectl(admin, ['create', 'clusterrolebinding', account, '--clusterrole=meshinit', `--serviceaccount=meshinit-system:${account}`]);
      await mustKubectl(admin, ['create', 'rolebinding', account, '-n', 'meshinit-system', '--role=meshinit-leader-election', `--serviceaccount=meshinit-system:${account}`]);
      const user = `system:serviceaccount:meshinit-system:${account}`;
      const kubeconfig = await plane.kubeconfigFor({ user, groups: ['system:serviceaccounts', 'system:serviceaccounts:meshinit-system'] });
      const port = await freePort();
      const replica = new MeshinitProcess(['run', '--kubeconfig', kubeconfig, '--health-addr', `127.0.0.1:${port}`, '--watch-timeout', '60s', ...TIMINGS]);
      processes.push(replica);
      replicaUser.set(replica, user);
      healthPort.set(replica, port);
      await replica.waitForLog((l) => l.message === 'Initializer controller running', 'the controller running', 30_000);
      return replica;
    }

    async function deployments(): Promise<Json[]> {
      const reply = await client.call('GET', `/apis/apps/v1/namespaces/${APPS}/deployments?includeUninitialized=true`);
      return (JSON.parse(reply.body) as { items: Json[] }).items;
    }

    /** Every Deployment released (pending empty) with exactly one mesh-proxy. */
    function checkInjected(items: Json[]): { waiting: number; wrong: string[] } {
      let waiting = 0;
      const wrong: string[] = [];
      for (const item of items) {
        const metadata = item.metadata as Json;
        const pending = ((metadata.initializers as { pending?: unknown[] } | undefined)?.pending ?? []).length;
        if (pending > 0) waiting++;
        const containers = ((((item.spec as Json).template as Json).spec as Json).containers as Array<{ name: string }>).map((c) => c.name);
        if (pending === 0 && containers.filter((c) => c === 'mesh-proxy').length !== 1) wrong.push(`${String(metadata.name)}: ${containers.join(',')}`);
      }
      return { waiting, wrong };
    }

    async function createHeld(name: string): Promise<void> {
      const reply = await client.call('POST', `/apis/apps/v1/namespaces/${APPS}/deployments?includeUninitialized=1`, deploymentBody(name));
      if (reply.status !== 201 && reply.status !== 202 && reply.status !== 200) throw new Error(`create ${name}: ${reply.status} ${reply.body.slice(0, 200)}`);
    }

    async function allInjected(expected: number, timeoutMs: number): Promise<number> {
      const started = Date.now();
      let last = { count: 0, waiting: -1, wrong: [] as string[] };
      await waitUntil(async () => {
        const items = await deployments();
        const { waiting, wrong } = checkInjected(items);
        last = { count: items.length, waiting, wrong };
        expect(wrong, 'a Deployment without exactly one mesh-proxy').to.deep.equal([]);
        return items.length === expected && waiting === 0 ? true : undefined;
      }, `all ${expected} Deployments injected (last: ${JSON.stringify(last)})`, timeoutMs);
      return Date.now() - started;
    }

    before(async function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-ha-'));
      fs.writeFileSync(path.join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
      plane = await startControlPlane({ release, apiserverArgs: [`--audit-log-path=${auditLog()}`, `--audit-policy-file=${path.join(dir, 'audit-policy.yaml')}`] });
      client = benchClient(connectionFromKubeconfig(plane.adminKubeconfigPath));
      const admin = plane.adminKubeconfigPath;
      // README.md's install, word for word.
      await mustKubectl(admin, ['apply', ...validate, '-f', 'crds/meshconfig.v1beta1.yaml']);
      await mustKubectl(admin, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/meshconfigs.meshinit.dev']);
      await mustKubectl(admin, ['apply', ...validate, '-k', 'manifests/initializer']);
      await mustKubectl(admin, ['apply', ...validate, '-f', 'manifests/meshconfig-sample.yaml']);
      await mustKubectl(admin, ['create', 'namespace', APPS]);
      await waitForPendingList(plane, (n) => ({ ...deploymentBody(`probe-${n}`), metadata: { name: `probe-${n}`, namespace: APPS, annotations: { 'sidecar.meshinit.dev/inject': 'false' } } }), [OURS]);
    });

    after(async function () {
      for (const replica of processes) {
        replica.signal('SIGCONT');
        await replica.stop();
      }
      client?.close();
      await plane?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it(`elects one of two replicas with the ${lockResource === 'leases' ? 'Lease (coordination.k8s.io/v1beta1)' : 'ConfigMap'} lock; the other stands by, ready`, async function () {
      const first = await startReplica();
      await first.waitForLog((l) => l.message === 'Became leader', 'the first replica leading');
      const second = await startReplica();
      const standing = await second.waitForLog((l) => l.message === 'Standing by', 'the second replica standing by');
      expect(standing.holder).to.equal(identityOf(first));
      expect(standing.lockKind).to.equal(lockResource === 'leases' ? 'Lease' : 'ConfigMap');
      expect(String(standing.lock)).to.include(release === 'v1.13.0' ? 'leases.coordination.k8s.io/v1beta1 meshinit-system/meshinit' : 'control-plane.alpha.kubernetes.io/leader');
      // The lock object as client-go would write it.
      const lockPath = lockResource === 'leases'
        ? '/apis/coordination.k8s.io/v1beta1/namespaces/meshinit-system/leases/meshinit'
        : '/api/v1/namespaces/meshinit-system/configmaps/meshinit';
      const lock = JSON.parse((await client.call('GET', lockPath)).body) as Json;
      const record = lockResource === 'leases'
        ? (lock.spec as Json)
        : JSON.parse(((lock.metadata as Json).annotations as Record<string, string>)['control-plane.alpha.kubernetes.io/leader']!) as Json;
      expect(record.holderIdentity).to.equal(identityOf(first));
      expect(record.leaseDurationSeconds).to.equal(4);
      // Where Leases are served the ConfigMap is held too (replicas from before a server upgrade read it).
      const configMap = JSON.parse((await client.call('GET', '/api/v1/namespaces/meshinit-system/configmaps/meshinit')).body) as Json;
      const annotation = ((configMap.metadata as Json).annotations as Record<string, string>)['control-plane.alpha.kubernetes.io/leader']!;
      expect((JSON.parse(annotation) as Json).holderIdentity).to.equal(identityOf(first));
      console.log(`      lock: ${JSON.stringify(record)}`);
      console.log(`      ${JSON.stringify(standing)}`);
      // A standby with synced caches is ready: it can take over at any moment.
      const readyz = await fetch(`http://127.0.0.1:${healthPort.get(second)}/readyz`);
      expect(readyz.status, await readyz.text()).to.equal(200);
    });

    it(`SIGKILL of the leader during a burst of ${BURST} creates: the standby takes over; every Deployment injected once, each patched exactly once (audit log)`, async function () {
      const [leader, standby] = processes as [MeshinitProcess, MeshinitProcess];
      let killedAt = 0;
      const burst = createBurst(BURST, 50, async (name) => {
        await createHeld(name);
        // Kill once the leader has injected a few hundred: mid-burst, with work queued and in flight.
        if (!killedAt && leader.lines.filter((l) => l.message === 'Injected sidecar').length >= 200) {
          killedAt = Date.now();
          leader.kill();
        }
      });
      const burstStarted = Date.now();
      await burst;
      console.log(`      ${BURST} creates in ${Date.now() - burstStarted} ms; leader killed after ${killedAt ? killedAt - burstStarted : 'never'} ms`);
      expect(killedAt, 'the leader was killed during the burst').to.be.above(0);
      const took = await allInjected(BURST + 0, 120_000);
      const became = await standby.waitForLog((l) => l.message === 'Became leader', 'the standby taking over');
      const queued = standby.lines.find((l) => l.message === 'Queued every pending workload in the caches');
      console.log(`      ${JSON.stringify(became)}\n      ${JSON.stringify(queued)}`);
      console.log(`      all injected ${took} ms after the burst; the standby became leader ${Date.parse(String(became.timestamp)) - killedAt} ms after the kill and queued ${String(queued?.queued)} pending workloads`);

      const meshinitPatches = (): AuditEvent[] => readAudit(auditLog()).filter((e) => e.verb === 'patch' && e.objectRef?.resource === 'deployments' && e.objectRef.namespace === APPS);
      // The audit backend writes in batches: wait until the log has caught up.
      let all: AuditEvent[] = [];
      await waitUntil(async () => {
        all = meshinitPatches();
        return new Set(all.map((e) => e.objectRef?.name)).size >= BURST ? true : undefined;
      }, 'the audit log to record a PATCH of every Deployment', 30_000);
      const patches = all.filter((e) => (e.responseStatus?.code ?? 0) < 300);
      const failed = all.filter((e) => (e.responseStatus?.code ?? 0) >= 300);
      const perObject = new Map<string, number>();
      for (const event of patches) perObject.set(event.objectRef!.name!, (perObject.get(event.objectRef!.name!) ?? 0) + 1);
      const twice = [...perObject].filter(([, n]) => n > 1);
      expect(twice, 'Deployments patched successfully more than once').to.deep.equal([]);
      // Under this burst the servers answer some PATCHes 500 (a failed `test` is 500 on 1.9): the
      // object is re-read and patched again, so it has one 2xx PATCH. Should a 500 ever have been
      // applied, the object has none, and was not patched twice either.
      const answered500 = new Set(failed.filter((e) => e.responseStatus?.code === 500).map((e) => e.objectRef!.name!));
      const appliedBy500 = [...answered500].filter((name) => !perObject.has(name));
      expect(perObject.size + appliedBy500.length, 'every Deployment patched').to.equal(BURST);
      const by = (replica: MeshinitProcess): AuditEvent[] => all.filter((e) => wroteBy(e, replica));
      const byLeader = by(leader).length;
      const byStandby = by(standby).length;
      expect(byLeader + byStandby).to.equal(all.length);
      expect(byLeader).to.be.above(0);
      expect(byStandby).to.be.above(0);
      console.log(`      audit: ${patches.length} PATCHes answered 2xx, ${failed.length} answered ${[...new Set(failed.map((e) => e.responseStatus?.code))].join('/')} (by the killed leader: ${failed.filter((e) => wroteBy(e, leader)).length}); ${byLeader} by the killed leader, ${byStandby} by the new one`);
      const firstByNew = by(standby).map((e) => Date.parse(e.requestReceivedTimestamp)).sort((a, b) => a - b)[0]!;
      const lastRenewal = readAudit(auditLog()).filter((e) => wroteBy(e, leader) && e.objectRef?.resource === lockResource && (e.responseStatus?.code ?? 0) < 300)
        .map((e) => Date.parse(e.requestReceivedTimestamp)).sort((a, b) => b - a)[0]!;
      const leaseExpiry = lastRenewal + 4000;
      console.log(`      kill to the new leader's first PATCH: ${firstByNew - killedAt} ms; lease expiry (last renewal + 4 s) to that PATCH: ${firstByNew - leaseExpiry} ms`);
      // The standby counts the lease from when it first read the last renewal (up to one of its
      // 1-2.2 s jittered retry periods after it), takes the lock at its next retry, then patches.
      expect(firstByNew - leaseExpiry).to.be.within(0, 2 * 2200 + 1600);
    });

    it('SIGSTOP of the leader past its lease: the standby takes over; after SIGCONT the old leader sends no write at all', async function () {
      const leader = processes[1]!;
      const standby = await startReplica();
      await standby.waitForLog((l) => l.message === 'Standing by', 'the new replica standing by');
      leader.signal('SIGSTOP');
      const stoppedAt = Date.now();
      await standby.waitForLog((l) => l.message === 'Became leader', 'the standby taking over from the frozen leader', 20_000);
      for (let i = 0; i < 20; i++) await createHeld(`frozen-${i}`);
      await allInjected(BURST + 20, 60_000);
      // Frozen well past its lease (4 s) and renew deadline (3 s).
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 8000 - (Date.now() - stoppedAt))));
      leader.signal('SIGCONT');
      const thawedAt = Date.now();
      // Workloads for both to see: the thawed one has them in its cache too.
      await createBurst(100, 10, createHeld, 'thawed-');
      await allInjected(BURST + 120, 60_000);
      const lost = await leader.waitForLog((l) => l.message === 'Lost leadership, standing by', 'the old leader noticing', 20_000);
      console.log(`      the thawed leader logged: ${JSON.stringify(lost)}`);
      await new Promise((resolve) => setTimeout(resolve, 3000));

      const audit = readAudit(auditLog());
      const acquired = audit.filter((e) => wroteBy(e, standby) && e.objectRef?.resource === lockResource && (e.responseStatus?.code ?? 0) < 300)
        .map((e) => Date.parse(e.requestReceivedTimestamp)).sort((a, b) => a - b)[0]!;
      expect(acquired).to.be.a('number');
      const late = audit.filter((e) => wroteBy(e, leader) && Date.parse(e.requestReceivedTimestamp) >= acquired);
      expect(late.map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.name} ${e.responseStatus?.code}`), 'writes by the old leader after the new one acquired the lock').to.deep.equal([]);
      const thawedPatches = audit.filter((e) => e.verb === 'patch' && e.objectRef?.name?.startsWith('thawed-'));
      expect(thawedPatches.every((e) => wroteBy(e, standby))).to.equal(true);
      expect(thawedPatches).to.have.length(100);
      console.log(`      thawed ${thawedAt - stoppedAt} ms after SIGSTOP; ${audit.filter((e) => wroteBy(e, leader)).length} writes by it in all, none after ${new Date(acquired).toISOString()}`);
    });
  });
}

describe('Leader election with the Lease v1 lock on the modern kube-apiserver', function () {
  this.timeout(120_000);
  let plane: ControlPlane;

  before(async function () {
    plane = await startControlPlane();
  });

  after(async function () {
    await plane?.stop();
  });

  it('two electors: one leads; when it dies (its requests never answered again) the other takes over within lease + retry', async function () {
    const { KubeConfig } = await loadKubeConfigClass();
    const kc = new KubeConfig();
    kc.loadFromFile(plane.adminKubeconfigPath);
    const api = createKubeApi(kc, { requestTimeoutMs: 5000 });
    await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'meshinit-system' } });
    const location = { namespace: 'meshinit-system', name: 'meshinit' };
    const lockA = await chooseLeaderLock(api, location, 'auto');
    expect(lockA.kind).to.equal('Lease');
    // `auto` holds the ConfigMap too (replicas that chose before and after an upgrade agree).
    expect(lockA.description).to.include('leases.coordination.k8s.io/v1 meshinit-system/meshinit and configmaps/v1 meshinit-system/meshinit');
    let dead = false;
    const hang = new Promise<never>(() => {});
    const killable: LeaderLock = { ...lockA, read: () => (dead ? hang : lockA.read()), write: (r, b) => (dead ? hang : lockA.write(r, b)) };
    const logA = createMemoryLogger();
    const logB = createMemoryLogger();
    const timings = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 1000 };
    const a = new LeaderElector({ identity: 'replica-a', ...timings }, { lock: killable, log: logA });
    const b = new LeaderElector({ identity: 'replica-b', ...timings }, { lock: await chooseLeaderLock(api, location, 'auto'), log: logB });
    a.start();
    await waitUntil(async () => (a.isLeader() ? true : undefined), 'a leading', 10_000);
    b.start();
    await waitUntil(async () => (logB.lines.some((l) => l.message === 'Standing by') ? true : undefined), 'b standing by', 10_000);
    expect(b.isLeader()).to.equal(false);
    dead = true;
    const diedAt = Date.now();
    await waitUntil(async () => (b.isLeader() ? true : undefined), 'b taking over', 15_000);
    const tookMs = Date.now() - diedAt;
    expect(a.isLeader(), 'a stopped counting itself leader (renew deadline) before b took over').to.equal(false);
    expect(tookMs).to.be.within(3000, 4000 + 2 * 2200 + 1000);
    const lease = await api.get<{ spec: Record<string, unknown> }>('/apis/coordination.k8s.io/v1/namespaces/meshinit-system/leases/meshinit');
    expect(lease.spec).to.deep.include({ holderIdentity: 'replica-b', leaseDurationSeconds: 4, leaseTransitions: 1 });
    console.log(`      Lease v1 taken over ${tookMs} ms after the leader died: ${JSON.stringify(lease.spec)}`);
    await b.stop();
    const released = await api.get<{ spec: Record<string, unknown> }>('/apis/coordination.k8s.io/v1/namespaces/meshinit-system/leases/meshinit');
    expect(released.spec.holderIdentity ?? '').to.equal('');
    dead = false;
    // a's loop is stuck on a request that never returns: stop() abandons it.
    await a.stop();
  });
});
