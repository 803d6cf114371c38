// `make demo`: the product's main job, the Initializer mode, on a real kube-apiserver v1.13.0 (the
// last release with Initializers). Starts etcd and that server, installs meshinit with kubectl
// exactly as README.md says, runs the compiled meshinit as the shipped ServiceAccount's identity,
// creates examples/app.yaml with plain blocking creates (what `kubectl create` does: the answer
// comes once meshinit has released the workload), prints what happened to each and how long its
// create took, edits the MeshConfig and creates again, then follows meshinit's log until Ctrl-C
// and tears everything down. MESHINIT_DEMO_NO_TAIL=1 stops after the summary (the e2e suite).
import { startControlPlane, type ControlPlane } from '../test/control-plane/control-plane.ts';
import { MeshinitProcess, mustKubectl, readYaml, waitForPendingList, waitUntil, type Json } from '../test/e2e/cluster.ts';
import { followLog, names, podSpecOf, runDemo, say, WORKLOAD_KINDS } from './show.ts';

const RELEASE = 'v1.13.0';

function collectionOf(object: Json, namespace: string): string {
  const apiVersion = String(object.apiVersion);
  const plural = `${String(object.kind).toLowerCase()}s`.replace(/ys$/, 'ies');
  return `${apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`}/namespaces/${namespace}/${plural}`;
}

async function kubectlShown(plane: ControlPlane, args: string[]): Promise<void> {
  say(`  $ kubectl ${args.join(' ')}`);
  const result = await mustKubectl(plane.adminKubeconfigPath, args);
  for (const line of result.stdout.trim().split('\n').filter(Boolean)) say(`      ${line}`);
}

/** Creates every document of examples/app.yaml in `namespace` with a plain POST and says what happened. */
async function createApp(plane: ControlPlane, meshinit: MeshinitProcess, namespace: string): Promise<void> {
  for (const doc of readYaml('examples/app.yaml')) {
    const metadata: Json = { ...(doc.metadata as Json), namespace };
    const name = String(metadata.name);
    const before = podSpecOf(doc);
    const started = Date.now();
    const reply = await plane.request('POST', collectionOf(doc, namespace), { body: { ...doc, metadata } });
    const ms = Date.now() - started;
    const object = JSON.parse(reply.body) as Json;
    if (reply.status !== 201) {
      say(`  ${String(doc.kind)}/${name}: create answered ${reply.status} after ${ms} ms: ${String(object.message ?? reply.body).slice(0, 200)}`);
      continue;
    }
    if (!WORKLOAD_KINDS.has(String(doc.kind))) {
      say(`  ${String(doc.kind)}/${name}: not held by the InitializerConfiguration, created in ${ms} ms`);
      continue;
    }
    const decision = await meshinit.waitForLog((line) => line.name === name && line.namespace === namespace && typeof line.action === 'string', `decision for ${name}`);
    const after = podSpecOf(object);
    const took = `create answered 201 in ${ms} ms`;
    if (decision.action === 'injected') {
      const proxy = after.containers?.find((c) => c.name === 'mesh-proxy');
      say(`  ${String(doc.kind)}/${name}: INJECTED by MeshConfig ${String(decision.meshConfig)} (${took}; meshinit took ${Number(decision.durationMs).toFixed(1)} ms)`);
      say(`      containers      ${names(before.containers)}  ->  ${names(after.containers)}   (proxy image ${proxy?.image ?? '?'})`);
      say(`      initContainers  ${names(before.initContainers)}  ->  ${names(after.initContainers)}`);
    } else {
      say(`  ${String(doc.kind)}/${name}: ${String(decision.action).toUpperCase()} (${took}): ${String(decision.reason)}`);
    }
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  say(`meshinit demo (Initializer mode): starting etcd and kube-apiserver ${RELEASE} on 127.0.0.1 ...`);
  const plane = await startControlPlane({ release: RELEASE });
  let meshinit: MeshinitProcess | undefined;
  try {
    say(`  kube-apiserver ${plane.kubeVersion} ready at ${plane.server} (${Date.now() - started} ms), Initializers on`);
    say('');
    say('Installing as README.md says:');
    await kubectlShown(plane, ['apply', '-f', 'crds/meshconfig.v1beta1.yaml']);
    await kubectlShown(plane, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/meshconfigs.meshinit.dev']);
    await kubectlShown(plane, ['apply', '-k', 'manifests/initializer']);
    await kubectlShown(plane, ['apply', '-f', 'manifests/meshconfig-sample.yaml']);
    await kubectlShown(plane, ['create', 'namespace', 'demo']);
    // The server polls InitializerConfigurations once a second: until it has read ours, new
    // workloads are created at once, never held, so meshinit would never see them.
    const waiting = Date.now();
    await waitForPendingList(plane, (n) => ({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `probe-${n}`, namespace: 'demo' },
      spec: { selector: { matchLabels: { app: 'probe' } }, template: { metadata: { labels: { app: 'probe' } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } },
    }), ['sidecar.initializer.meshinit.dev']);
    say(`  (the server holds new workloads for sidecar.initializer.meshinit.dev after ${Date.now() - waiting} ms more: it reads InitializerConfigurations once a second)`);
    say('');
    // No kubelet runs the meshinit Deployment here: the same program runs as a local process, as
    // the ServiceAccount meshinit-system/meshinit (its user name and groups), so the shipped RBAC applies.
    meshinit = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '']);
    await meshinit.waitForLog((line) => line.message === 'Initializer controller running', 'meshinit running');
    const mode = meshinit.lines.find((line) => line.message === 'Mode selected');
    say(`meshinit running as system:serviceaccount:meshinit-system:meshinit: mode ${String(mode?.mode)} (${String(mode?.why)})`);
    say('');
    say('Creating examples/app.yaml in namespace demo with plain creates (each waits until meshinit has released it):');
    await createApp(plane, meshinit, 'demo');
    say('');
    say('Editing the MeshConfig (a new proxy image), then creating the app again in namespace demo-2:');
    const seen = meshinit.lines.length;
    await kubectlShown(plane, ['patch', 'meshconfig', 'default', '--type', 'json', '-p',
      '[{"op":"replace","path":"/spec/sidecar/containers/0/image","value":"ghcr.io/meshinit/proxy:1.0.1"}]']);
    const running = meshinit;
    await waitUntil(async () => (running.lines.slice(seen).some((line) => line.message === 'MeshConfig loaded') ? true : undefined), 'meshinit to load the edit');
    await kubectlShown(plane, ['create', 'namespace', 'demo-2']);
    await createApp(plane, meshinit, 'demo-2');
    say('');
    say(`Everything above took ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    say('');
    if (process.env.MESHINIT_DEMO_NO_TAIL === '1') return;
    await followLog(meshinit);
  } finally {
    await meshinit?.stop();
    await plane.stop();
  }
}

runDemo(main);
