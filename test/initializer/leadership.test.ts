// The controller under leader election, against the nock-served Initializer-era API server: a
// standby keeps its caches and writes nothing; becoming leader queues every pending workload of
// the caches; losing the lock stops the writes at once, through the fenced API.
import { expect } from 'chai';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { createInitializerController, type InitializerController } from '../../controller/initializer/controller.ts';
import { fenceWrites, type Leadership } from '../../controller/kube/leader-election.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import type { KubeObject } from '../../controller/core/types.ts';
import { NockCluster } from '../support/nock-cluster.ts';
import { SERVER, testKubeConfig, waitFor } from '../kube/helpers.ts';

const OURS = 'sidecar.initializer.meshinit.dev';
const DEPLOYMENTS = 'apis/apps/v1/deployments';
const MESHCONFIGS = 'apis/meshinit.dev/v1alpha1/meshconfigs';

function deployment(name: string): KubeObject {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, initializers: { pending: [{ name: OURS }] } },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } },
  };
}

class SwitchableLeadership implements Leadership {
  leading = false;
  private readonly callbacks: Array<(leading: boolean) => void> = [];
  isLeader(): boolean {
    return this.leading;
  }
  onLeadershipChange(callback: (leading: boolean) => void): () => void {
    this.callbacks.push(callback);
    return () => undefined;
  }
  set(leading: boolean): void {
    this.leading = leading;
    for (const callback of this.callbacks) callback(leading);
  }
}

describe('initializer controller under leader election (nock)', function () {
  let cluster: NockCluster;
  let controller: InitializerController | undefined;
  let log: ReturnType<typeof createMemoryLogger>;
  let leadership: SwitchableLeadership;

  beforeEach(async function () {
    cluster = new NockCluster(SERVER).start();
    cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    cluster.put(MESHCONFIGS, {
      apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default', generation: 1 },
      spec: { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:1' }] } },
    });
    log = createMemoryLogger();
    leadership = new SwitchableLeadership();
    controller = createInitializerController(
      {
        namespaces: [], concurrency: 4, initializerName: OURS, controllerNamespace: 'meshinit-system', jobPods: false,
        resyncPeriodMs: 0, watchTimeoutSeconds: 60, backoff: { initialMs: 5, maxMs: 50 }, informerBackoff: { initialMs: 5, maxMs: 50 }, leadership,
      },
      { api: fenceWrites(createKubeApi(testKubeConfig()), leadership), log },
    );
  });

  afterEach(async function () {
    await controller?.stop();
    cluster.stop();
  });

  const writes = (): string[] => cluster.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);

  it('a standby syncs its caches, is ready, and sends no write; becoming leader queues every pending workload', async function () {
    cluster.put(DEPLOYMENTS, deployment('before-start'));
    await controller!.start();
    expect(controller!.ready()).to.equal(true);
    cluster.put(DEPLOYMENTS, deployment('while-standby'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(writes(), 'a standby writes nothing (no PATCH, no Event, no MeshConfig status)').to.deep.equal([]);

    leadership.set(true);
    await waitFor(() => cluster.patches().length === 2, 'both pending workloads patched');
    await controller!.idle();
    expect(cluster.patches().map((p) => p.path).sort()).to.deep.equal([
      '/apis/apps/v1/namespaces/default/deployments/before-start', '/apis/apps/v1/namespaces/default/deployments/while-standby',
    ]);
    expect(log.lines.find((l) => l.message === 'Queued every pending workload in the caches')?.fields).to.deep.include({ queued: 2, cachesSynced: true });
  });

  it('after losing the lock nothing more is written: new workloads wait for the next leader', async function () {
    leadership.leading = true;
    await controller!.start();
    cluster.put(DEPLOYMENTS, deployment('while-leading'));
    await waitFor(() => cluster.patches().length === 1, 'the leader patches');
    await controller!.idle();
    // The decision's Event is sent after the PATCH, off the work queue: it belongs to the time of leading.
    await waitFor(() => writes().some((w) => w.includes('/events')), 'the Event of the leader\'s decision');
    leadership.set(false);
    const before = writes().length;
    cluster.put(DEPLOYMENTS, deployment('after-loss'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(writes().slice(before)).to.deep.equal([]);
    expect(cluster.patches().map((p) => p.path)).to.deep.equal(['/apis/apps/v1/namespaces/default/deployments/while-leading']);
  });

  it('a key already queued when the lock is lost is dropped, not retried into a loop', async function () {
    cluster.patchDelayMs = 100;
    leadership.leading = true;
    await controller!.start();
    cluster.put(DEPLOYMENTS, deployment('in-flight'));
    await waitFor(() => cluster.patches().length === 1, 'the first patch on its way');
    // Lost while that PATCH is answered; the next one (a second workload) must not go out.
    leadership.leading = false;
    cluster.put(DEPLOYMENTS, deployment('queued'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await controller!.idle();
    expect(cluster.patches().map((p) => p.path)).to.deep.equal(['/apis/apps/v1/namespaces/default/deployments/in-flight']);
    expect(log.lines.filter((l) => l.message === 'Sync failed'), 'a refused write is not an error to retry').to.deep.equal([]);
  });
});
