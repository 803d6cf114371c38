// The work queue's back-off on a real server's in-flight limiter: kube-apiserver v1.13.0 with a
// mutating in-flight limit far below meshinit's default concurrency answers 429 (Retry-After: 1)
// to the excess. meshinit must halve how many workloads it runs at once, say so, and still
// initialize, injected, every workload of a burst: none dropped, none left pending.
import { expect } from 'chai';
import { startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { MeshinitProcess, mustCreate, readYaml, waitForPendingList, waitUntil, type Json } from './cluster.ts';

const OURS = 'sidecar.initializer.meshinit.dev';
const NAMESPACE = 'overload';
const BURST = 300;

function deployment(name: string): Json {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: NAMESPACE, labels: { app: name } }, spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } } };
}

describe('Initializer mode against a real kube-apiserver v1.13.0 that answers 429', function () {
  this.timeout(240_000);
  let plane: ControlPlane | undefined;
  let meshinit: MeshinitProcess | undefined;

  after(async function () {
    await meshinit?.stop();
    await plane?.stop();
  });

  it('lowers its concurrency on 429 (and says so), and still injects every workload of a burst', async function () {
    plane = await startControlPlane({ release: 'v1.13.0', apiserverArgs: ['--max-mutating-requests-inflight=4'] });
    const server = plane;
    for (const file of ['manifests/initializer/namespace.yaml', 'manifests/initializer/rbac.yaml', 'manifests/initializer/leader-election-rbac.yaml']) for (const doc of readYaml(file)) await mustCreate(server, doc);
    await mustCreate(server, readYaml('crds/meshconfig.v1beta1.yaml')[0]!);
    await waitUntil(async () => ((await server.request('GET', '/apis/meshinit.dev/v1alpha1/meshconfigs')).status === 200 ? true : undefined), 'the CRD served');
    await mustCreate(server, readYaml('manifests/meshconfig-sample.yaml')[0]!);
    await mustCreate(server, readYaml('manifests/initializer/initializerconfiguration.yaml')[0]!);
    await mustCreate(server, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    await waitForPendingList(server, (n) => deployment(`probe-${n}`), [OURS]);
    meshinit = new MeshinitProcess(['run', '--kubeconfig', server.controllerKubeconfigPath, '--health-addr', '', '--namespace', NAMESPACE]);
    await meshinit.waitForLog((line) => line.message === 'Initializer controller running', 'meshinit running', 60_000);

    // Held creates (answered at once), retried when the limiter refuses them too.
    let next = 0;
    let refusedCreates = 0;
    await Promise.all(Array.from({ length: 20 }, async () => {
      while (next < BURST) {
        const name = `w-${next++}`;
        for (;;) {
          const reply = await server.request('POST', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments?includeUninitialized=1`, { body: deployment(name) });
          if (reply.status === 201 || reply.status === 202) break;
          if (reply.status !== 429) throw new Error(`create ${name}: ${reply.status} ${reply.body.slice(0, 200)}`);
          refusedCreates++;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }));

    const containers = (item: Json): string[] => ((((item.spec as Json).template as Json).spec as Json).containers as Array<{ name: string }>).map((c) => c.name);
    const items = await waitUntil(async () => {
      const reply = await server.request('GET', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments?includeUninitialized=true`);
      if (reply.status !== 200) return undefined;
      const list = (JSON.parse(reply.body) as { items: Json[] }).items.filter((item) => String((item.metadata as Json).name).startsWith('w-'));
      return list.length === BURST && list.every((item) => (item.metadata as Json).initializers === undefined) ? list : undefined;
    }, `all ${BURST} Deployments initialized`, 180_000);
    expect(items.filter((item) => !containers(item).includes('mesh-proxy')).map((item) => (item.metadata as Json).name), 'left without a sidecar').to.deep.equal([]);

    const overloaded = meshinit.lines.filter((line) => line.message === 'API server overloaded (429): processing fewer workloads at once');
    expect(overloaded.length, `meshinit saw the limiter (creates refused ${refusedCreates} times)`).to.be.greaterThan(0);
    expect(Number(overloaded[0]!.concurrency)).to.equal(64);
    expect(meshinit.lines.filter((line) => line.message === 'Injected sidecar' && String(line.name).startsWith('w-'))).to.have.length(BURST);
  });
});
