// updatePolicy: Rollout with the webhook's default target, --target pods, on the modern
// kube-apiserver with kube-controller-manager, kube-scheduler and kwok: the Deployments' Pods are
// created by the real ReplicaSet controller and injected at admission; a new sidecar in the
// MeshConfig makes meshinit restart each Deployment once (the template annotations, as kubectl
// rollout restart), the real Deployment controller replaces the Pods, and the webhook injects the
// new ones with the new sidecar. Run with the shipped RBAC plus rollout-rbac.yaml, as README says,
// and with leader election on (its default).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { RESTARTED_FOR_ANNOTATION } from '../../controller/core/constants.ts';
import { COUNTED_FROM_PODS } from '../../controller/kube/meshconfig-status.ts';
import { startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { deploymentRolloutStatus, type DeploymentLike } from '../support/rollout-status.ts';
import { installMeshConfigCrd, MeshinitProcess, mustCreate, waitUntil, type Json } from './cluster.ts';
import { startMeshinitWebhook } from './meshinit-webhook.ts';

const NS = 'rollout-pods';
const MESHCONFIGS = '/apis/meshinit.dev/v1alpha1/meshconfigs';
const ROLLED = ['api', 'web'];
const OPTED_OUT = 'batch-report';

interface PodLike {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: Array<{ name: string; image?: string }> };
  status?: { phase?: string };
}

function meshConfig(image: string): Json {
  return {
    apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' },
    spec: {
      updatePolicy: 'Rollout', rollout: { maxPerMinute: 30 },
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
      sidecar: { containers: [{ name: 'mesh-proxy', image }] },
    },
  };
}

function deployment(name: string, optOut = false): Json {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: NS, ...(optOut ? { annotations: { 'sidecar.meshinit.dev/inject': 'false' } } : {}) },
    spec: {
      replicas: 2, selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1' }] } },
    },
  };
}

describe('webhook --target pods: rolling a changed MeshConfig out by restarting workloads (v1.36.3, real Pods)', function () {
  this.timeout(240_000);
  let plane: ControlPlane;
  let meshinit: MeshinitProcess | undefined;
  let dir: string;

  const get = async <T>(p: string): Promise<T> => {
    const reply = await plane.request('GET', p);
    if (reply.status !== 200) throw new Error(`GET ${p}: ${reply.status} ${reply.body.slice(0, 300)}`);
    return JSON.parse(reply.body) as T;
  };
  const livePods = async (app: string): Promise<PodLike[]> =>
    (await get<{ items: PodLike[] }>(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3D${app}`)).items.filter((p) => !p.metadata.deletionTimestamp);
  const proxyImages = async (app: string): Promise<string[]> =>
    (await livePods(app)).map((p) => p.spec.containers.find((c) => c.name === 'mesh-proxy')?.image ?? 'none').sort();
  const workload = (name: string): Promise<DeploymentLike & { metadata: { generation: number; resourceVersion: string }; spec: { template: { metadata: { annotations?: Record<string, string> } } } }> =>
    get(`/apis/apps/v1/namespaces/${NS}/deployments/${name}`);

  before(async function () {
    plane = await startControlPlane({ controllers: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-rollout-pods-'));
    await installMeshConfigCrd(plane);
    await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await mustCreate(plane, meshConfig('registry.example.com/proxy:1'));
    // The shipped registration (Pods, CREATE, failurePolicy Ignore), pointed at this process.
    meshinit = await startMeshinitWebhook(plane, {
      target: 'pods', configurationName: 'meshinit-e2e-rollout-pods', dir, extraManifests: ['manifests/webhook/rollout-rbac.yaml'],
      extraArgs: ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '1s'],
    });
    await meshinit.waitForLog((l) => l.message === 'Became leader', 'leadership (the Role in rollout-rbac.yaml)', 20_000);
  });

  after(async function () {
    await meshinit?.stop();
    await plane?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('restarts each injected Deployment once, at the new sidecar; the opted-out one is untouched', async function () {
    for (const name of [...ROLLED, OPTED_OUT]) await mustCreate(plane, deployment(name, name === OPTED_OUT));
    for (const name of ROLLED) {
      await waitUntil(async () => ((await proxyImages(name)).join() === 'registry.example.com/proxy:1,registry.example.com/proxy:1' ? true : undefined), `${name}'s two Pods injected with proxy:1`, 60_000);
    }
    await waitUntil(async () => ((await proxyImages(OPTED_OUT)).join() === 'none,none' ? true : undefined), `${OPTED_OUT}'s Pods without a sidecar`, 60_000);
    // status counts the Pods' sidecars, from the reading the rollout makes.
    const podCounts = async (): Promise<{ injected: unknown; outdated: unknown; message: string; observedGeneration: unknown }> => {
      const status = ((await get<{ status?: Json }>(`${MESHCONFIGS}/mesh`)).status ?? {}) as { injectedWorkloads?: number; outdatedWorkloads?: number; observedGeneration?: number; conditions?: Array<{ message: string }> };
      return { injected: status.injectedWorkloads, outdated: status.outdatedWorkloads, message: status.conditions?.[0]?.message ?? '', observedGeneration: status.observedGeneration };
    };
    await waitUntil(async () => {
      const counts = await podCounts();
      return counts.injected === 2 && counts.outdated === 0 ? counts : undefined;
    }, 'status counting both Deployments injected, from their Pods', 30_000);
    expect((await podCounts()).message).to.include(COUNTED_FROM_PODS);
    const optedOutBefore = await workload(OPTED_OUT);
    const before = new Map(await Promise.all(ROLLED.map(async (name) => [name, (await workload(name)).metadata.generation] as const)));

    const current = await get<Json & { metadata: { resourceVersion: string } }>(`${MESHCONFIGS}/mesh`);
    const edited = { ...meshConfig('registry.example.com/proxy:2'), metadata: { name: 'mesh', resourceVersion: current.metadata.resourceVersion } };
    const put = await plane.request('PUT', `${MESHCONFIGS}/mesh`, { body: JSON.stringify(edited) });
    expect(put.status, put.body).to.equal(200);
    const edit = Date.now();
    const editedGeneration = (JSON.parse(put.body) as { metadata: { generation: number } }).metadata.generation;
    // The first status of the edited version counts the Pods as they are: both on the old sidecar.
    const first = await waitUntil(async () => {
      const counts = await podCounts();
      return counts.observedGeneration === editedGeneration ? counts : undefined;
    }, 'status of the edited MeshConfig', 20_000);
    expect({ injected: first.injected, outdated: first.outdated }, 'first status of the edited version').to.deep.equal({ injected: 0, outdated: 2 });

    for (const name of ROLLED) {
      await waitUntil(async () => {
        const images = await proxyImages(name);
        const status = deploymentRolloutStatus(await workload(name));
        return status.done && images.join() === 'registry.example.com/proxy:2,registry.example.com/proxy:2' ? true : undefined;
      }, `${name} rolled out with proxy:2 in every Pod`, 90_000);
    }
    const rolledIn = Date.now() - edit;
    // Counted again from the Pods of the new sidecar (a recount every 5 s after a scan every 15 s).
    const settled = await waitUntil(async () => {
      const counts = await podCounts();
      return counts.observedGeneration === editedGeneration && counts.injected === 2 && counts.outdated === 0 ? Date.now() : undefined;
    }, 'status of the edited MeshConfig counting both Deployments on the new sidecar', 40_000);
    console.log(`      status of the edited version: first injectedWorkloads 0, outdatedWorkloads 2; injectedWorkloads 2, outdatedWorkloads 0 ${settled - edit} ms after the edit`);
    // Two more scan periods: a second restart would show as another generation.
    await new Promise((resolve) => setTimeout(resolve, 2 * 15_000 + 2_000));
    for (const name of ROLLED) {
      const after = await workload(name);
      expect(after.metadata.generation, `${name} restarted exactly once`).to.equal(before.get(name)! + 1);
      expect(after.spec.template.metadata.annotations?.[RESTARTED_FOR_ANNOTATION]).to.match(/^mesh\/[0-9a-f]+$/);
    }
    const optedOutAfter = await workload(OPTED_OUT);
    // Its resourceVersion moves with the Deployment controller's status writes; its spec must not.
    expect(optedOutAfter.metadata.generation, 'the opted-out Deployment is not restarted').to.equal(optedOutBefore.metadata.generation);
    expect(optedOutAfter.spec).to.deep.equal(optedOutBefore.spec);
    expect(await proxyImages(OPTED_OUT)).to.deep.equal(['none', 'none']);

    const started = meshinit!.lines.filter((l) => l.message === 'Sidecar rollout started');
    expect(started.map((l) => l.name).sort()).to.deep.equal(ROLLED);
    const events = (await get<{ items: Array<{ reason: string; type: string; message: string; involvedObject: { name: string } }> }>(`/api/v1/namespaces/${NS}/events`)).items;
    const startedEvents = events.filter((e) => e.reason === 'SidecarRolloutStarted');
    expect(startedEvents.map((e) => e.involvedObject.name).sort()).to.deep.equal(ROLLED);
    expect(startedEvents[0]!.message).to.match(/^Restarted for the new sidecar of MeshConfig mesh/);
    await waitUntil(async () => {
      const items = (await get<{ items: Array<{ reason: string; involvedObject: { name: string } }> }>(`/api/v1/namespaces/${NS}/events`)).items;
      return items.filter((e) => e.reason === 'SidecarRolloutFinished').length === ROLLED.length ? true : undefined;
    }, 'a SidecarRolloutFinished Event per Deployment', 30_000);
    console.log(`      both Deployments rolled to the new sidecar ${rolledIn} ms after the MeshConfig edit`);
  });
});
