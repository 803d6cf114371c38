// Real Pods on the modern control plane: startControlPlane({ controllers: true }) runs
// kube-controller-manager, kube-scheduler and kwok beside kube-apiserver v1.36.3, so workloads
// behave as in a cluster (no containers run: kwok plays the kubelet). A Deployment gets a
// ReplicaSet and Pods that are scheduled, Running and Ready; a pod-template change rolls out to the
// end `kubectl rollout status` waits for; a Job whose Pod has a native sidecar completes; a deleted
// namespace goes away. Runs under the e2e config only (needs `make control-plane`).

import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  CONTROLLER_MANAGER_CONTROLLERS,
  FAKE_NODE_NAME,
  portClosed,
  startControlPlane,
  type ControlPlane,
} from '../control-plane/control-plane.ts';
import { deploymentRolloutStatus, type DeploymentLike } from '../support/rollout-status.ts';
import { mustCreate, waitUntil, type Json } from './cluster.ts';

interface Condition { type: string; status: string; reason?: string }
interface Meta { name: string; namespace?: string; uid: string; generation?: number; labels?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string; uid: string; controller?: boolean }>; deletionTimestamp?: string }
interface PodObject {
  metadata: Meta;
  spec: { nodeName?: string; initContainers?: Array<{ name: string; restartPolicy?: string }>; containers: Array<{ name: string; env?: Array<{ name: string; value: string }> }> };
  status: { phase?: string; conditions?: Condition[]; initContainerStatuses?: Array<{ name: string; started?: boolean }>; containerStatuses?: Array<{ name: string; state?: Record<string, unknown> }> };
}
interface ReplicaSetObject { metadata: Meta; spec: { replicas: number }; status: { replicas: number; readyReplicas?: number; availableReplicas?: number } }
interface JobObject { metadata: Meta; status: { succeeded?: number; failed?: number; conditions?: Condition[] } }

const IMAGE = 'registry.k8s.io/pause:3.10';

async function getJson<T>(plane: ControlPlane, urlPath: string): Promise<T> {
  const res = await plane.request('GET', urlPath);
  if (res.status !== 200) throw new Error(`GET ${urlPath}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as T;
}

async function list<T>(plane: ControlPlane, urlPath: string): Promise<T[]> {
  return (await getJson<{ items: T[] }>(plane, urlPath)).items;
}

const ready = (pod: PodObject): boolean => pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const ownedBy = (meta: Meta, owner: Meta): boolean => meta.ownerReferences?.some((o) => o.uid === owner.uid && o.controller === true) ?? false;

function deployment(name: string, namespace: string, version: string): Json {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: IMAGE, env: [{ name: 'VERSION', value: version }] }] },
      },
    },
  };
}

describe('real Pods on the modern control plane (kube-controller-manager, kube-scheduler, kwok)', function () {
  this.timeout(120_000);
  let plane: ControlPlane | undefined;

  before(async function () {
    const t0 = Date.now();
    plane = await startControlPlane({ controllers: true });
    console.log(
      `      plane ${plane.kubeVersion} with controllers ready in ${Date.now() - t0} ms; kube-controller-manager, ` +
        `kube-scheduler and kwok ${plane.controllers!.kwokVersion} ready and Node ${plane.controllers!.nodeName} Ready ` +
        `${plane.controllers!.startupMs} ms after the apiserver`,
    );
  });

  after(async function () {
    await plane?.stop();
  });

  it('starts one fake Node, Ready and untainted, that kwok manages', async function () {
    const node = await getJson<{ metadata: Meta & { annotations?: Record<string, string> }; spec: { taints?: unknown[] }; status: { conditions: Condition[]; nodeInfo: { kubeletVersion: string } } }>(
      plane!, `/api/v1/nodes/${FAKE_NODE_NAME}`);
    expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).to.equal('True');
    expect(node.spec.taints ?? []).to.deep.equal([]);
    expect(node.metadata.annotations).to.include({ 'kwok.x-k8s.io/node': 'fake' });
    // kwok's node-initialize Stage stamps its own version (pkg/consts.Version, no leading v).
    expect(node.status.nodeInfo.kubeletVersion).to.equal(`kwok-${plane!.controllers!.kwokVersion.replace(/^v/, '')}`);
    // Only the controllers asked for run (a cron job controller, say, would be a surprise).
    const log = plane!.logTail('controllerManager', 500);
    expect(log).to.include('"Warning: controller is disabled" controller="cronjob-controller"');
    for (const name of CONTROLLER_MANAGER_CONTROLLERS) expect(log).not.to.include(`"Warning: controller is disabled" controller="${name}"`);
  });

  it('gives a Deployment a ReplicaSet and Pods that are scheduled, Running and Ready, then rolls out a pod-template change as kubectl rollout status judges it', async function () {
    const ns = 'rollout';
    await mustCreate(plane!, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const deploymentPath = `/apis/apps/v1/namespaces/${ns}/deployments/web`;
    const rolledOut = (what: string): Promise<DeploymentLike & { metadata: Meta }> =>
      waitUntil(async () => {
        const d = await getJson<DeploymentLike & { metadata: Meta }>(plane!, deploymentPath);
        return deploymentRolloutStatus(d).done ? d : undefined;
      }, what, 60_000);

    const t0 = Date.now();
    const created = (await mustCreate(plane!, deployment('web', ns, 'v1'))) as unknown as { metadata: Meta };
    const first = await rolledOut('the first rollout of Deployment rollout/web');
    const firstMs = Date.now() - t0;
    expect(first.metadata.uid).to.equal(created.metadata.uid);

    const firstSets = await list<ReplicaSetObject>(plane!, `/apis/apps/v1/namespaces/${ns}/replicasets`);
    expect(firstSets).to.have.length(1);
    const firstSet = firstSets[0]!;
    expect(ownedBy(firstSet.metadata, created.metadata), 'the ReplicaSet is controlled by the Deployment').to.equal(true);
    expect(firstSet.status.readyReplicas).to.equal(2);

    const firstPods = await list<PodObject>(plane!, `/api/v1/namespaces/${ns}/pods`);
    expect(firstPods).to.have.length(2);
    for (const pod of firstPods) {
      expect(ownedBy(pod.metadata, firstSet.metadata), `${pod.metadata.name} is controlled by ${firstSet.metadata.name}`).to.equal(true);
      expect(pod.spec.nodeName, 'bound by kube-scheduler').to.equal(FAKE_NODE_NAME);
      expect(pod.status.phase).to.equal('Running');
      expect(ready(pod), `${pod.metadata.name} Ready`).to.equal(true);
    }

    // A new pod template: a new ReplicaSet, the old one scaled to 0, and only new Pods left.
    const t1 = Date.now();
    const patched = await plane!.request('PATCH', deploymentPath, {
      body: { spec: { template: { spec: { containers: [{ name: 'app', env: [{ name: 'VERSION', value: 'v2' }] }] } } } },
      contentType: 'application/strategic-merge-patch+json',
    });
    expect(patched.status, patched.body).to.equal(200);
    const generation = (JSON.parse(patched.body) as { metadata: Meta }).metadata.generation!;
    expect(generation).to.equal(2);
    const second = await rolledOut('the template change of Deployment rollout/web to roll out');
    const rolloutMs = Date.now() - t1;
    expect(second.metadata.generation).to.equal(generation);
    expect(second.status!.observedGeneration).to.equal(generation);
    expect(second.status!.updatedReplicas).to.equal(2);
    expect(second.status!.replicas).to.equal(2);
    expect(second.status!.availableReplicas).to.equal(2);

    const sets = await list<ReplicaSetObject>(plane!, `/apis/apps/v1/namespaces/${ns}/replicasets`);
    expect(sets).to.have.length(2);
    const old = sets.find((rs) => rs.metadata.uid === firstSet.metadata.uid)!;
    const next = sets.find((rs) => rs.metadata.uid !== firstSet.metadata.uid)!;
    expect({ spec: old.spec.replicas, status: old.status.replicas }, 'old ReplicaSet scaled to 0').to.deep.equal({ spec: 0, status: 0 });
    expect(next.spec.replicas).to.equal(2);
    expect(next.status.availableReplicas).to.equal(2);

    // The old Pods are gone (kwok removes a Pod once it is being deleted, as a kubelet would after
    // its containers stop), and the new ones run the new template.
    const pods = await waitUntil(async () => {
      const now = await list<PodObject>(plane!, `/api/v1/namespaces/${ns}/pods`);
      return now.length === 2 ? now : undefined;
    }, 'the old Pods of rollout/web to be deleted');
    for (const pod of pods) {
      expect(ownedBy(pod.metadata, next.metadata), `${pod.metadata.name} belongs to the new ReplicaSet`).to.equal(true);
      expect(pod.spec.containers[0]!.env).to.deep.equal([{ name: 'VERSION', value: 'v2' }]);
      expect(pod.status.phase).to.equal('Running');
      expect(ready(pod)).to.equal(true);
    }
    console.log(`      Deployment of 2 replicas: first rollout ${firstMs} ms, pod-template change rolled out in ${rolloutMs} ms`);
  });

  it('completes a Job whose Pod has a native sidecar (an init container with restartPolicy Always) and one main container', async function () {
    const ns = 'batch';
    await mustCreate(plane!, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const t0 = Date.now();
    await mustCreate(plane!, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'once', namespace: ns },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            restartPolicy: 'Never',
            initContainers: [{ name: 'proxy', image: IMAGE, restartPolicy: 'Always' }],
            containers: [{ name: 'main', image: IMAGE }],
          },
        },
      },
    });
    const job = await waitUntil(async () => {
      const j = await getJson<JobObject>(plane!, `/apis/batch/v1/namespaces/${ns}/jobs/once`);
      if (j.status.conditions?.some((c) => c.type === 'Failed' && c.status === 'True')) throw new Error(`Job batch/once failed: ${JSON.stringify(j.status)}`);
      return j.status.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
    }, 'Job batch/once to be Complete', 60_000);
    const completeMs = Date.now() - t0;
    // 1.31+: the success criteria are recorded first, Complete once the Pod is terminal.
    expect(job.status.conditions?.filter((c) => c.status === 'True').map((c) => c.type)).to.deep.equal(['SuccessCriteriaMet', 'Complete']);
    expect(job.status.succeeded).to.equal(1);
    expect(job.status.failed ?? 0).to.equal(0);

    const [pod, ...more] = await list<PodObject>(plane!, `/api/v1/namespaces/${ns}/pods`);
    expect(more).to.have.length(0);
    expect(ownedBy(pod!.metadata, job.metadata)).to.equal(true);
    expect(pod!.spec.nodeName).to.equal(FAKE_NODE_NAME);
    expect(pod!.spec.initContainers?.map((c) => [c.name, c.restartPolicy])).to.deep.equal([['proxy', 'Always']]);
    expect(pod!.status.phase).to.equal('Succeeded');
    expect(pod!.status.initContainerStatuses?.map((s) => [s.name, s.started])).to.deep.equal([['proxy', true]]);
    expect(pod!.status.containerStatuses?.map((s) => [s.name, Object.keys(s.state ?? {})])).to.deep.equal([['main', ['terminated']]]);
    console.log(`      Job with a native sidecar Complete in ${completeMs} ms`);
  });

  it('runs a StatefulSet and a DaemonSet to Ready on the fake Node', async function () {
    const ns = 'sets';
    await mustCreate(plane!, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const template = (app: string): Json => ({ metadata: { labels: { app } }, spec: { containers: [{ name: 'app', image: IMAGE }] } });
    await mustCreate(plane!, { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: ns }, spec: { replicas: 2, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: template('db') } });
    await mustCreate(plane!, { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: ns }, spec: { selector: { matchLabels: { app: 'agent' } }, template: template('agent') } });
    await waitUntil(async () => {
      const sts = await getJson<{ status: { readyReplicas?: number } }>(plane!, `/apis/apps/v1/namespaces/${ns}/statefulsets/db`);
      return sts.status.readyReplicas === 2 ? true : undefined;
    }, 'StatefulSet sets/db to have 2 Ready replicas', 60_000);
    await waitUntil(async () => {
      const ds = await getJson<{ status: { desiredNumberScheduled?: number; numberReady?: number } }>(plane!, `/apis/apps/v1/namespaces/${ns}/daemonsets/agent`);
      return ds.status.desiredNumberScheduled === 1 && ds.status.numberReady === 1 ? true : undefined;
    }, 'DaemonSet sets/agent to have its one Pod Ready', 60_000);
    const pods = await list<PodObject>(plane!, `/api/v1/namespaces/${ns}/pods`);
    expect(pods).to.have.length(3);
    expect(pods.filter((p) => p.metadata.labels?.['app'] === 'db').map((p) => p.metadata.name).sort()).to.deep.equal(['db-0', 'db-1']);
    expect(pods.filter((p) => p.metadata.labels?.['app'] === 'agent')).to.have.length(1);
    expect(pods.every((p) => p.spec.nodeName === FAKE_NODE_NAME && ready(p))).to.equal(true);
  });

  it('deletes a namespace with running Pods completely (namespace controller, garbage collector, kwok)', async function () {
    const ns = 'doomed';
    await mustCreate(plane!, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await mustCreate(plane!, deployment('gone', ns, 'v1'));
    await waitUntil(async () => {
      const pods = await list<PodObject>(plane!, `/api/v1/namespaces/${ns}/pods`);
      return pods.length === 2 && pods.every(ready) ? true : undefined;
    }, 'the Pods of doomed/gone to be Ready', 60_000);
    const t0 = Date.now();
    const deleted = await plane!.request('DELETE', `/api/v1/namespaces/${ns}`);
    expect(deleted.status).to.equal(200);
    await waitUntil(async () => ((await plane!.request('GET', `/api/v1/namespaces/${ns}`)).status === 404 ? true : undefined),
      'namespace doomed to be gone', 60_000);
    console.log(`      namespace with a Deployment of 2 Ready Pods deleted in ${Date.now() - t0} ms`);
    expect(await list<ReplicaSetObject>(plane!, `/apis/apps/v1/namespaces/${ns}/replicasets`)).to.have.length(0);
  });
});

describe('startControlPlane({ controllers: true }) teardown', function () {
  this.timeout(120_000);

  it('stops kube-controller-manager, kube-scheduler and kwok with the plane: their ports close and their processes are gone', async function () {
    const plane = await startControlPlane({ controllers: true });
    const { ports } = plane.controllers!;
    // Every process of the plane names a file in plane.dir on its command line.
    const running = processesMentioning(plane.dir);
    expect(running.filter((args) => /kube-controller-manager|kube-scheduler|kwok/.test(args))).to.have.length(3);
    expect(await portClosed(ports.controllerManager)).to.equal(false);
    expect(await portClosed(ports.scheduler)).to.equal(false);
    expect(await portClosed(ports.kwok)).to.equal(false);
    const t0 = Date.now();
    await plane.stop();
    console.log(`      stopped in ${Date.now() - t0} ms`);
    for (const port of [ports.controllerManager, ports.scheduler, ports.kwok, plane.ports.apiserver, plane.ports.etcdClient]) {
      expect(await portClosed(port), `port ${port} closed`).to.equal(true);
    }
    expect(processesMentioning(plane.dir)).to.deep.equal([]);
  });
});

/** Command lines (NUL-separated arguments joined by spaces) of the live processes that mention `text`. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (args.includes(text) && !args.includes('mocha')) found.push(args);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
