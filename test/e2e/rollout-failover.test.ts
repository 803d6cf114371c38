// A rollout that changes hands: two replicas of the Initializer controller on kube-apiserver
// v1.13.0, a MeshConfig with updatePolicy Rollout and maxPerMinute 3 over 6 Deployments. The
// leader starts the first 3 and is killed at once (SIGKILL); the standby takes the lock a lease
// later with an empty ledger. What must hold: it finds those 3 starts recorded on the Deployments
// (sidecar.meshinit.dev/rollout) and starts the other 3 only when the minute of the first start is
// over; no Deployment is PATCHed twice (generation + 1 each); one Started Event per Deployment;
// the 3 left rolling by the killed leader are waited for and reported finished by the new one.
// Without the record the standby would start the other 3 a few seconds after taking over.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { kubectlApplyObject, MeshinitProcess, mustCreate, mustKubectl, waitForPendingList, waitUntil, type Json } from './cluster.ts';

const NS = 'e2e-failover';
const MESHCONFIG = 'e2e-failover';
const RATE = 3;
const NAMES = Array.from({ length: 6 }, (_, i) => `app-${i}`);
const OLD_IMAGE = 'ghcr.io/meshinit/proxy:1.0.0';
const NEW_IMAGE = 'ghcr.io/meshinit/proxy:1.0.1';
const TIMINGS = ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '1s'];

interface Deployment {
  metadata: { name: string; generation: number; annotations?: Record<string, string> };
  spec: { template: unknown };
  status?: { observedGeneration?: number };
}

function meshConfig(image: string): Json {
  return {
    apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: MESHCONFIG },
    spec: {
      namespaceSelector: { matchLabels: { 'e2e-failover': 'yes' } },
      updatePolicy: 'Rollout', rollout: { maxPerMinute: RATE },
      sidecar: { containers: [{ name: 'mesh-proxy', image, args: ['--service={{workload.name}}'] }] },
    },
  };
}

function deployment(name: string): Json {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: NS, labels },
    spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] } } },
  };
}

const carriesNew = (w: Deployment): boolean => JSON.stringify(w.spec.template).includes(NEW_IMAGE);
const startsOf = (replica: MeshinitProcess): Json[] => replica.lines.filter((l) => l.message === 'Sidecar rollout started');

describe('A rollout that changes hands (leader killed mid-rollout) on a real kube-apiserver v1.13.0', function () {
  this.timeout(300_000);
  let plane: ControlPlane;
  let dir: string;
  const replicas: MeshinitProcess[] = [];
  const admin = (): string => plane.adminKubeconfigPath;

  async function list(): Promise<Deployment[]> {
    const reply = await plane.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments`);
    if (reply.status !== 200) throw new Error(`list: ${reply.status} ${reply.body.slice(0, 300)}`);
    return (JSON.parse(reply.body) as { items: Deployment[] }).items;
  }

  /** No kube-controller-manager here: the test says, as the deployment controller would, that each Deployment runs its latest template. */
  async function settle(): Promise<void> {
    for (const w of await list()) {
      if (w.status?.observedGeneration === w.metadata.generation) continue;
      const reply = await plane.request('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/${w.metadata.name}/status`, {
        body: { status: { observedGeneration: w.metadata.generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 } },
        contentType: 'application/merge-patch+json',
      });
      expect(reply.status, reply.body.slice(0, 300)).to.equal(200);
    }
  }

  function startReplica(): MeshinitProcess {
    const replica = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--watch-timeout', '60s', ...TIMINGS]);
    replicas.push(replica);
    return replica;
  }

  before(async function () {
    plane = await startControlPlane({ release: 'v1.13.0' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-failover-'));
    await mustKubectl(admin(), ['apply', '-f', 'crds/meshconfig.v1beta1.yaml']);
    await mustKubectl(admin(), ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/meshconfigs.meshinit.dev']);
    await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'e2e-failover': 'yes' } } });
    await mustKubectl(admin(), ['apply', '-k', 'manifests/initializer']);
  });

  after(async function () {
    for (const replica of replicas) await replica.stop();
    await plane?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`the new leader counts the starts the killed one recorded: ${RATE} then ${RATE} more a minute after the first, none twice`, async function () {
    await kubectlApplyObject(admin(), dir, meshConfig(OLD_IMAGE));
    const first = startReplica();
    await first.waitForLog((l) => l.message === 'Became leader', 'the first replica leading', 30_000);
    const second = startReplica();
    await second.waitForLog((l) => l.message === 'Standing by', 'the second replica standing by', 30_000);
    await waitForPendingList(plane, (n) => ({ ...deployment(`probe-${n}`), metadata: { name: `probe-${n}`, namespace: 'default', annotations: { 'sidecar.meshinit.dev/inject': 'false' } } }), ['sidecar.initializer.meshinit.dev']);
    for (const name of NAMES) await mustCreate(plane, deployment(name));
    await waitUntil(async () => {
      await settle();
      const items = await list();
      return items.length === NAMES.length && items.every((w) => JSON.stringify(w.spec.template).includes(OLD_IMAGE)) ? true : undefined;
    }, 'the Deployments injected with the first sidecar', 30_000);
    const original = new Map((await list()).map((w) => [w.metadata.name, w.metadata.generation]));

    await kubectlApplyObject(admin(), dir, meshConfig(NEW_IMAGE));
    const minute = await waitUntil(async () => (startsOf(first).length >= RATE ? startsOf(first) : undefined), `the leader starting ${RATE}`, 30_000);
    first.kill();
    const killedAt = Date.now();
    const firstStart = Math.min(...minute.map((l) => Date.parse(String(l.timestamp))));
    console.log(`      the leader started ${minute.map((l) => String(l.name)).join(', ')} and was killed ${killedAt - firstStart} ms after its first start`);

    // Their Deployments are left rolling (not settled) until the standby has planned with them:
    // it must take the 3 rollouts under way as its own and report their finish.
    const became = await second.waitForLog((l) => l.message === 'Became leader', 'the standby taking over', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const took = await waitUntil(async () => {
      await settle();
      const items = await list();
      return items.every(carriesNew) ? Date.now() : undefined;
    }, 'every Deployment re-injected', 150_000);

    expect(startsOf(first).map((l) => l.name).sort(), 'the killed leader').to.deep.equal(NAMES.slice(0, RATE));
    const taken = startsOf(second);
    expect(taken.map((l) => l.name).sort(), 'the new leader').to.deep.equal(NAMES.slice(RATE));
    const takenAt = taken.map((l) => Date.parse(String(l.timestamp)));
    console.log(`      the standby became leader ${Date.parse(String(became.timestamp)) - killedAt} ms after the kill; its starts at +${takenAt.map((t) => ((t - firstStart) / 1000).toFixed(1)).join(', +')} s after the first start; all re-injected ${((took - firstStart) / 1000).toFixed(1)} s after it`);
    // Both replicas log with this machine's clock: the window is exact.
    for (const at of takenAt) expect(at - firstStart, 'a start of the new leader within the minute of the old one\'s').to.be.at.least(60_000);

    const after = await list();
    for (const w of after) {
      expect(w.metadata.generation, `${w.metadata.name}: PATCHed once`).to.equal(original.get(w.metadata.name)! + 1);
      const record = JSON.parse(w.metadata.annotations?.['sidecar.meshinit.dev/rollout'] ?? '{}') as Json;
      expect(record, w.metadata.name).to.include({ meshConfig: MESHCONFIG });
      expect(Date.parse(String(record.startedAt)), w.metadata.name).to.be.within(firstStart - 1000, took);
    }
    const events = await waitUntil(async () => {
      const reply = await plane.request('GET', `/api/v1/namespaces/${NS}/events`);
      const items = (JSON.parse(reply.body) as { items: Array<{ reason: string; involvedObject: { name: string } }> }).items.filter((e) => e.reason === 'SidecarRolloutStarted');
      return items.length >= NAMES.length ? items : undefined;
    }, 'a SidecarRolloutStarted Event per Deployment', 20_000);
    expect(events.map((e) => e.involvedObject.name).sort()).to.deep.equal(NAMES);
    // The killed leader's 3 were finished by the new one, with the Event nobody else could send.
    const finished = await waitUntil(async () => {
      // The last starts may have come after the last settle above: the test is the deployment controller.
      await settle();
      const lines = second.lines.filter((l) => l.message === 'Sidecar rollout finished');
      return lines.length >= NAMES.length ? lines : undefined;
    }, 'the new leader reporting every rollout finished', 20_000);
    expect(finished.map((l) => l.name).sort()).to.deep.equal(NAMES);
    expect(first.lines.filter((l) => l.message === 'Sidecar rollout finished')).to.deep.equal([]);
  });
});
