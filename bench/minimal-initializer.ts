// The smallest initializer that does meshinit's job for the server: on every Deployment whose
// first pending initializer is ours, one JSON Patch that removes the entry and adds a container.
// No policy, no MeshConfig, no queue, no log. The baseline for blocking creates and throughput.
// With --meshinit-patch it sends meshinit's own patch instead (computed by meshinit's core from the
// sample MeshConfig): the server's cost of the real sidecar, without meshinit's machinery.
// Runs as its own process, as meshinit does:
//   node --import tsx bench/minimal-initializer.ts KUBECONFIG [NAMESPACE] [--meshinit-patch]
// Prints "ready" once the server has answered its watch.
import { readYaml } from '../test/e2e/cluster.ts';
import { parseMeshConfig } from '../controller/core/meshconfig.ts';
import { benchClient, connectionFromKubeconfig, meshinitPatch, pendingNames, type Json } from './kube-client.ts';
import { OURS } from './legacy-setup.ts';

const args = process.argv.slice(2).filter((arg) => arg !== '--meshinit-patch');
const [kubeconfig, namespace] = args;
const sample = parseMeshConfig(readYaml('manifests/meshconfig-sample.yaml')[0]);
const meshConfig = process.argv.includes('--meshinit-patch') && sample.ok ? sample.meshConfig : undefined;
if (!kubeconfig) {
  process.stderr.write('usage: minimal-initializer.ts KUBECONFIG [NAMESPACE]\n');
  process.exit(2);
}
const client = benchClient(connectionFromKubeconfig(kubeconfig));
const scope = namespace ? `/apis/apps/v1/namespaces/${namespace}/deployments` : '/apis/apps/v1/deployments';
client.watch(`${scope}?watch=true&includeUninitialized=true`, (event) => {
  if (event.type === 'DELETED' || pendingNames(event.object)[0] !== OURS) return;
  const metadata = event.object.metadata as Json;
  const last = pendingNames(event.object).length === 1;
  const ops = meshConfig ? meshinitPatch(event.object, meshConfig, OURS) : [
    { op: 'test', path: '/metadata/initializers/pending/0/name', value: OURS },
    last ? { op: 'remove', path: '/metadata/initializers' } : { op: 'remove', path: '/metadata/initializers/pending/0' },
    { op: 'add', path: '/spec/template/spec/containers/-', value: { name: 'mesh-proxy', image: 'ghcr.io/meshinit/proxy:1.0.0' } },
  ];
  void client.call('PATCH', `/apis/apps/v1/namespaces/${String(metadata.namespace)}/deployments/${String(metadata.name)}`, ops, 'application/json-patch+json').catch(() => undefined);
}, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => {
  client.close();
  process.exit(0);
});
