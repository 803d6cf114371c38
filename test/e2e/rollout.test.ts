// Rolling a changed MeshConfig out, on real servers: the Initializer mode on kube-apiserver v1.13.0
// (and on v1.9.11 unpaced, to keep the file short: records there carry no generation, the hash
// decides what is outdated) and the webhook mode (--target workloads) on today's server with kube-controller-manager, the
// scheduler and kwok, so that Deployments roll out for real (ReplicaSets, Pods, observedGeneration
// and updatedReplicas set by the deployment controller). The compiled meshinit runs as the shipped
// ServiceAccount with the shipped RBAC.
//
// Two MeshConfigs changed at the same moment: `rolling` (updatePolicy Rollout, maxPerMinute 10)
// with 20 Deployments, two opted-out ones and a Job; `steady` (OnCreate) with 20 Deployments. What
// must hold: every one of the 20 ends up with the new injection; no 60 s window holds more than 10
// starts; each is PATCHed exactly once (its generation goes up by exactly 1, one Started Event);
// the opted-out ones and the Job are not written (same resourceVersion where no controller writes
// their status, same generation, metadata and spec everywhere); `rolling`'s outdatedWorkloads falls
// to the workloads it must leave alone; `steady` keeps its 20 outdated and nothing of it is written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { kubectlApplyObject, MeshinitProcess, mustCreate, mustKubectl, waitForPendingList, waitUntil, type Json } from './cluster.ts';
import { startMeshinitWebhook } from './meshinit-webhook.ts';

const ROLLING = 'e2e-rolling';
const STEADY = 'e2e-steady';
const COUNT = 20;
/** maxPerMinute where the rate is the point; elsewhere all 20 start at once, to keep the file short. */
const RATE = 10;
const UNPACED = 100;
const MESHCONFIGS = '/apis/meshinit.dev/v1alpha1/meshconfigs';
const STATUS_ANNOTATION = 'sidecar.meshinit.dev/status';

interface Setup {
  release: 'v1.13.0' | 'v1.9.11' | undefined;
  mode: 'initializer' | 'webhook';
  crd: string;
  /** spec.rollout.maxPerMinute. */
  rate: number;
}

const SETUPS: Setup[] = [
  { release: 'v1.13.0', mode: 'initializer', crd: 'crds/meshconfig.v1beta1.yaml', rate: RATE },
  // 1.9 keeps no generation for custom resources (every record says 0): the hash decides what is outdated.
  { release: 'v1.9.11', mode: 'initializer', crd: 'crds/meshconfig.v1beta1.yaml', rate: UNPACED },
  { release: undefined, mode: 'webhook', crd: 'crds/meshconfig.v1.yaml', rate: RATE },
];

function meshConfig(name: string, image: string, rate?: number): Json {
  return {
    apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name },
    spec: {
      namespaceSelector: { matchLabels: { 'e2e-rollout': name } },
      ...(rate !== undefined ? { updatePolicy: 'Rollout', rollout: { maxPerMinute: rate } } : {}),
      sidecar: { containers: [{ name: 'mesh-proxy', image, args: ['--service={{workload.name}}'] }] },
    },
  };
}

function deployment(ns: string, name: string, annotations?: Record<string, string>): Json {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns, labels, ...(annotations ? { annotations } : {}) },
    spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] } } },
  };
}

function job(ns: string, name: string): Json {
  return {
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: ns },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'task', image: 'busybox', command: ['true'] }] } } },
  };
}

interface Workload { metadata: { name: string; resourceVersion: string; generation: number; annotations?: Record<string, string> }; spec: { template: { metadata?: { annotations?: Record<string, string> } } }; status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number } }

const NEW_IMAGE = 'ghcr.io/meshinit/proxy:1.0.1';
/** Whether the workload's template carries the changed sidecar. */
const carriesNew = (w: Workload): boolean => JSON.stringify(w.spec.template).includes(NEW_IMAGE);

const mark = (w: Workload): { meshConfig: string; generation: number; hash: string } | undefined => {
  const raw = w.spec.template.metadata?.annotations?.[STATUS_ANNOTATION];
  return raw === undefined ? undefined : (JSON.parse(raw) as { meshConfig: string; generation: number; hash: string });
};

const names = Array.from({ length: COUNT }, (_, i) => `web-${String(i).padStart(2, '0')}`);

for (const setup of SETUPS) {
  describe(`Rolling out a changed MeshConfig, ${setup.mode} mode, on a real kube-apiserver ${setup.release ?? '(modern, with kube-controller-manager)'}`, function () {
    this.timeout(240_000);
    let plane: ControlPlane;
    let dir: string;
    let meshinit: MeshinitProcess | undefined;
    const admin = (): string => plane.adminKubeconfigPath;
    const legacy = setup.release !== undefined;
    const validate = setup.release === 'v1.9.11' ? ['--validate=false'] : [];
    /** The generation a record of the first version names (0 on 1.9). */
    const firstGeneration = setup.release === 'v1.9.11' ? 0 : 1;
    const rate = setup.rate;

    async function get<T>(urlPath: string): Promise<T> {
      const reply = await plane.request('GET', urlPath);
      if (reply.status !== 200) throw new Error(`GET ${urlPath}: ${reply.status} ${reply.body.slice(0, 300)}`);
      return JSON.parse(reply.body) as T;
    }
    const list = async (ns: string, plural = 'deployments', group = 'apps'): Promise<Workload[]> => (await get<{ items: Workload[] }>(`/apis/${group}/v1/namespaces/${ns}/${plural}`)).items;
    const status = async (name: string): Promise<Json> => (await get<{ status?: Json }>(`${MESHCONFIGS}/${name}`)).status ?? {};

    async function counted(name: string, expected: Json, timeoutMs = 60_000): Promise<Json> {
      let last: Json = {};
      try {
        return await waitUntil(async () => {
          last = await status(name);
          return Object.entries(expected).every(([key, value]) => last[key] === value) ? last : undefined;
        }, `MeshConfig ${name} status ${JSON.stringify(expected)}`, timeoutMs);
      } catch (error) {
        throw new Error(`${(error as Error).message}; last status: ${JSON.stringify(last)}`);
      }
    }

    /**
     * v1.13.0 here has no kube-controller-manager: the test plays the deployment controller for the
     * rolling namespace, through the status subresource as it would, saying each Deployment has
     * observed its latest generation and runs it on its one replica. On the modern plane the real
     * controller does this (and this only waits for it).
     */
    const rolledOut = (w: Workload): boolean =>
      w.status?.observedGeneration === w.metadata.generation && w.status.replicas === 1 && w.status.updatedReplicas === 1 && w.status.availableReplicas === 1;

    async function settle(ns: string): Promise<void> {
      for (const w of await list(ns)) {
        if (rolledOut(w)) continue;
        if (!legacy) continue;
        const reply = await plane.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/${w.metadata.name}/status`, {
          body: { status: { observedGeneration: w.metadata.generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 } },
          contentType: 'application/merge-patch+json',
        });
        expect(reply.status, reply.body.slice(0, 300)).to.equal(200);
      }
    }

    async function allSettled(ns: string): Promise<void> {
      await diagnosed(() => waitUntil(async () => {
        await settle(ns);
        return (await list(ns)).every(rolledOut) ? true : undefined;
      }, `every Deployment in ${ns} rolled out`, 60_000));
    }

    /** A timeout says what meshinit decided and where the Deployments stand. */
    async function diagnosed<T>(wait: () => Promise<T>): Promise<T> {
      try {
        return await wait();
      } catch (error) {
        const decisions = new Map<string, number>();
        for (const l of meshinit?.lines ?? []) {
          if (typeof l.message === 'string' && l.message.startsWith('Sidecar rollout')) decisions.set(`${l.message}: ${String(l.reason)}`, (decisions.get(`${l.message}: ${String(l.reason)}`) ?? 0) + 1);
        }
        const pending = (await list(ROLLING)).filter((w) => !rolledOut(w) || !carriesNew(w)).slice(0, 5).map((w) => ({ name: w.metadata.name, generation: w.metadata.generation, mark: mark(w)?.generation, status: w.status }));
        throw new Error(`${(error as Error).message}\nmeshinit rollout decisions: ${JSON.stringify([...decisions])}\nnot done (first 5): ${JSON.stringify(pending)}`);
      }
    }

    const applyMeshConfig = (object: Json): Promise<void> => kubectlApplyObject(admin(), dir, object, validate);

    async function startInitializer(): Promise<void> {
      await mustKubectl(admin(), ['apply', ...validate, '-k', 'manifests/initializer']);
      meshinit = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--watch-timeout', '60s']);
      await meshinit.waitForLog((l) => l.message === 'Initializer controller running', 'the controller running', 30_000);
      await waitForPendingList(plane, (n) => ({ ...deployment('default', `probe-${n}`, { 'sidecar.meshinit.dev/inject': 'false' }) }), ['sidecar.initializer.meshinit.dev']);
    }

    async function startWebhook(): Promise<void> {
      // rollout-rbac.yaml: what --target workloads with updatePolicy Rollout needs beyond rbac.yaml.
      meshinit = await startMeshinitWebhook(plane, { configurationName: 'meshinit-e2e-rollout', dir, extraManifests: ['manifests/webhook/rollout-rbac.yaml'], jobs: true });
    }


    if (setup.mode === 'webhook') it('starts no leader election while no MeshConfig has updatePolicy Rollout', async function () {
      await applyMeshConfig(meshConfig(STEADY, 'ghcr.io/meshinit/proxy:1.0.0'));
      await counted(STEADY, { matchedWorkloads: 0 });
      expect(meshinit!.lines.filter((l) => l.message === 'Leader election started')).to.deep.equal([]);
    });

    before(async function () {
      plane = await startControlPlane(setup.release ? { release: setup.release } : { controllers: true });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-rollout-'));
      await mustKubectl(admin(), ['apply', ...validate, '-f', setup.crd]);
      await mustKubectl(admin(), ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/meshconfigs.meshinit.dev']);
      for (const ns of [ROLLING, STEADY]) await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'e2e-rollout': ns } } });
      if (setup.mode === 'initializer') await startInitializer();
      else await startWebhook();
    });

    after(async function () {
      await meshinit?.stop();
      await plane?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    const original: Record<string, Workload> = {};
    let untouchedMarked = 0;

    it(`injects ${COUNT} Deployments per MeshConfig with its first version (plus two opted out and a Job next to the rolling ones)`, async function () {
      await applyMeshConfig(meshConfig(ROLLING, 'ghcr.io/meshinit/proxy:1.0.0', rate));
      await applyMeshConfig(meshConfig(STEADY, 'ghcr.io/meshinit/proxy:1.0.0'));
      for (const name of [ROLLING, STEADY]) await counted(name, { matchedWorkloads: 0 });
      if (setup.mode === 'webhook') {
        // Leader election on (the default), started by the first Rollout MeshConfig: the rollout runs on the replica holding the lock.
        await meshinit!.waitForLog((l) => l.message === 'Became leader', 'the rollout leader lock taken', 30_000);
      }
      const creates: Json[] = [
        ...names.map((name) => deployment(ROLLING, name)),
        ...names.map((name) => deployment(STEADY, name)),
        deployment(ROLLING, 'opted-out', { 'sidecar.meshinit.dev/inject': 'false' }),
        deployment(ROLLING, 'opted-out-later'),
        job(ROLLING, 'batch'),
      ];
      await Promise.all(creates.map((object) => mustCreate(plane, object)));
      // Injected at create, then opted out: it carries generation 1's sidecar, which no rollout may touch.
      const optOut = await plane.request('PATCH', `/apis/apps/v1/namespaces/${ROLLING}/deployments/opted-out-later`, {
        body: { metadata: { annotations: { 'sidecar.meshinit.dev/inject': 'false' } } }, contentType: 'application/merge-patch+json',
      });
      expect(optOut.status, optOut.body.slice(0, 300)).to.equal(200);
      await allSettled(ROLLING);
      const rolling = await list(ROLLING);
      for (const name of names) expect(mark(rolling.find((w) => w.metadata.name === name)!), name).to.include({ meshConfig: ROLLING, generation: firstGeneration });
      expect(mark(rolling.find((w) => w.metadata.name === 'opted-out')!)).to.equal(undefined);
      expect(mark(rolling.find((w) => w.metadata.name === 'opted-out-later')!)).to.include({ meshConfig: ROLLING, generation: firstGeneration });
      const jobs = await list(ROLLING, 'jobs', 'batch');
      for (const w of rolling) original[w.metadata.name] = w;
      for (const w of jobs) original[`${w.metadata.name}/job`] = w;
      for (const w of await list(STEADY)) original[`${w.metadata.name}@steady`] = w;
      // What carries a mark of `rolling` but must stay as it is: opted-out-later, and the Job where it was injected.
      untouchedMarked = 1 + jobs.filter((j) => mark(j) !== undefined).length;
      await counted(ROLLING, { injectedWorkloads: COUNT + untouchedMarked, outdatedWorkloads: 0 });
      await counted(STEADY, { injectedWorkloads: COUNT, outdatedWorkloads: 0 });
    });

    it(`rolls the new sidecar out to all ${COUNT}, at most ${rate} starts in any 60 s, each PATCHed once; OnCreate and opted-out workloads untouched`, async function () {
      const since = meshinit!.lines.length;
      const changedAt = Date.now();
      await applyMeshConfig(meshConfig(ROLLING, NEW_IMAGE, rate));
      await applyMeshConfig(meshConfig(STEADY, NEW_IMAGE));
      const firstSeen = new Map<string, number>();
      let midway: { table: string; outdated: unknown; rollout: unknown } | undefined;
      await diagnosed(() => waitUntil(async () => {
        const now = Date.now();
        for (const w of await list(ROLLING)) {
          if (names.includes(w.metadata.name) && carriesNew(w) && !firstSeen.has(w.metadata.name)) firstSeen.set(w.metadata.name, now);
        }
        await settle(ROLLING);
        // Between the first minute's starts and the next: status has recounted (every 5 s) and shows half done.
        if (rate < COUNT && !midway && firstSeen.size === rate && now - changedAt > 20_000) {
          const current = await status(ROLLING);
          midway = { table: (await mustKubectl(admin(), ['get', 'meshconfig'])).stdout, outdated: current.outdatedWorkloads, rollout: current.rollout };
        }
        return firstSeen.size === COUNT ? true : undefined;
      }, `all ${COUNT} Deployments re-injected`, 150_000));
      if (rate < COUNT) {
        expect(midway, 'a look at status between the two minutes').to.not.equal(undefined);
        console.log(`      kubectl get meshconfig, 20 s after the change:\n${midway!.table.replace(/^/gm, '        ')}      status.rollout: ${JSON.stringify(midway!.rollout)}`);
        expect(midway!.outdated, 'outdatedWorkloads half-way').to.equal(COUNT - rate + untouchedMarked);
        // The other 10 are ready to go and held by maxPerMinute; the first 10 have finished (or are finishing).
        expect(midway!.rollout, 'status.rollout half-way').to.deep.include({ paused: false, waiting: 0, rateLimited: COUNT - rate });
        expect(Date.parse(String((midway!.rollout as Json).lastStartedAt))).to.be.within(changedAt - 1000, changedAt + 20_000);
      }
      const tookS = (Date.now() - changedAt) / 1000;

      // Each PATCHed exactly once for the change: one spec change, so generation + 1, and one start logged.
      const after = await list(ROLLING);
      for (const name of names) {
        const w = after.find((x) => x.metadata.name === name)!;
        expect(w.metadata.generation, name).to.equal(original[name]!.metadata.generation + 1);
        expect(mark(w), name).to.include({ meshConfig: ROLLING });
        expect(JSON.stringify(w.spec.template)).to.include('proxy:1.0.1');
      }
      const starts = meshinit!.lines.slice(since).filter((l) => l.message === 'Sidecar rollout started');
      expect(starts.map((l) => l.name).sort()).to.deep.equal(names);
      for (const line of starts) expect(line).to.include({ kind: 'Deployment', namespace: ROLLING, action: 'started', meshConfig: ROLLING });

      // The rate: meshinit's own clock (ms), and what this test saw on the server (polled every few hundred ms).
      const window = (times: number[], slackMs: number): void => {
        const sorted = [...times].sort((a, b) => a - b);
        for (let i = 0; i + rate < sorted.length; i++) expect(sorted[i + rate]! - sorted[i]!, `start ${i + rate + 1} vs start ${i + 1}`).to.be.at.least(60_000 - slackMs);
      };
      window(starts.map((l) => Date.parse(String(l.timestamp))), 0);
      window([...firstSeen.values()], 1500);
      const seen = [...firstSeen.values()].sort((a, b) => a - b);
      console.log(`      ${COUNT} re-injected in ${tookS.toFixed(1)} s; seen at +${seen.map((t) => ((t - changedAt) / 1000).toFixed(1)).join(', +')} s`);

      // Untouched: the opted-out ones, the Job, every OnCreate Deployment.
      const untouched = (now: Workload, then: Workload, what: string): void => {
        // With kube-controller-manager the controllers write status (resourceVersion moves); nothing else may change.
        if (legacy) expect(now.metadata.resourceVersion, what).to.equal(then.metadata.resourceVersion);
        expect({ generation: now.metadata.generation, annotations: now.metadata.annotations, spec: now.spec }, what).to.deep.equal({ generation: then.metadata.generation, annotations: then.metadata.annotations, spec: then.spec });
      };
      for (const name of ['opted-out', 'opted-out-later']) untouched(after.find((w) => w.metadata.name === name)!, original[name]!, name);
      untouched((await list(ROLLING, 'jobs', 'batch'))[0]!, original['batch/job']!, 'the Job');
      for (const w of await list(STEADY)) untouched(w, original[`${w.metadata.name}@steady`]!, `${STEADY}/${w.metadata.name}`);
    });

    it('status shows it: rolling outdated falls to the workloads it must leave alone, OnCreate stays outdated; Events on each Deployment', async function () {
      await allSettled(ROLLING);
      await counted(ROLLING, { injectedWorkloads: COUNT, outdatedWorkloads: untouchedMarked });
      await counted(STEADY, { injectedWorkloads: 0, outdatedWorkloads: COUNT });
      expect(await status(STEADY)).to.not.have.property('rollout');
      await waitUntil(async () => {
        const rollout = (await status(ROLLING)).rollout as Json | undefined;
        return rollout?.inProgress === 0 && rollout.rateLimited === 0 && rollout.waiting === 0 ? true : undefined;
      }, `${ROLLING} status.rollout settled (nothing in progress, nothing held)`, 20_000);
      const events = await waitUntil(async () => {
        const items = (await get<{ items: Array<{ reason: string; type: string; message: string; involvedObject: { name: string; kind: string } }> }>(`/api/v1/namespaces/${ROLLING}/events`)).items;
        const finished = items.filter((e) => e.reason === 'SidecarRolloutFinished');
        return finished.length === COUNT ? items : undefined;
      }, `${COUNT} SidecarRolloutFinished Events`, 30_000);
      const started = events.filter((e) => e.reason === 'SidecarRolloutStarted');
      expect(started.map((e) => e.involvedObject.name).sort()).to.deep.equal(names);
      expect(started.every((e) => e.type === 'Normal' && e.involvedObject.kind === 'Deployment')).to.equal(true);
      expect(events.filter((e) => e.reason === 'SidecarRolloutTimedOut')).to.deep.equal([]);
      const steadyEvents = (await get<{ items: Array<{ reason: string }> }>(`/api/v1/namespaces/${STEADY}/events`)).items;
      expect(steadyEvents.filter((e) => e.reason.startsWith('SidecarRollout'))).to.deep.equal([]);
      const table = await mustKubectl(admin(), ['get', 'meshconfig']);
      const describe = await mustKubectl(admin(), ['describe', 'deployment', '-n', ROLLING, names[0]!]);
      console.log(`      kubectl get meshconfig:\n${table.stdout.replace(/^/gm, '        ')}`);
      console.log(`      kubectl describe deployment ${names[0]!} (Events):\n${describe.stdout.slice(describe.stdout.indexOf('Events:')).replace(/^/gm, '        ')}`);
      for (const message of ['Sidecar rollout started', 'Sidecar rollout finished']) console.log(`      log: ${JSON.stringify(meshinit!.lines.find((l) => l.message === message))}`);
    });
  });
}
