// `make demo-webhook`: meshinit's webhook mode on a real (modern) kube-apiserver, start to finish. Starts the local control plane,
// installs the CRD, the sample MeshConfig and a webhook registration, runs the compiled meshinit
// (webhook mode, as the shipped least-privilege identity), creates the example workloads, prints
// what was injected and why the others were skipped, then tails meshinit's log until Ctrl-C and
// tears everything down. MESHINIT_DEMO_NO_TAIL=1 stops after the summary (used by the e2e suite).
// kube-controller-manager, kube-scheduler and kwok run beside the API server, so Deployments have
// real ReplicaSets and Pods: after the summary the demo edits the MeshConfig (a new proxy image,
// updatePolicy: Rollout) and shows meshinit rolling it out, workload by workload, at the rate set.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateSelfSignedCertificates } from '../controller/webhook/certificates.ts';
import { startControlPlane } from '../test/control-plane/control-plane.ts';
import { create, freePort, installMeshConfigCrd, MeshinitProcess, mustCreate, readYaml, type Json } from '../test/e2e/cluster.ts';
import { showRollout } from './rollout.ts';
import { followLog, names, podSpecOf, runDemo, say, WORKLOAD_KINDS } from './show.ts';

const NAMESPACE = 'demo';

async function main(): Promise<void> {
  const started = Date.now();
  say('meshinit demo: starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (one fake Node) on 127.0.0.1 ...');
  const plane = await startControlPlane({ controllers: true });
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-demo-'));
  let meshinit: MeshinitProcess | undefined;
  const teardown = async (): Promise<void> => {
    await meshinit?.stop();
    await plane.stop();
    fs.rmSync(certDir, { recursive: true, force: true });
  };
  try {
    say(`  kube-apiserver ${plane.kubeVersion} ready at ${plane.server} (${Date.now() - started} ms)`);
    await installMeshConfigCrd(plane);
    for (const file of ['manifests/webhook/namespace.yaml', 'manifests/webhook/rbac.yaml', 'manifests/webhook/rollout-rbac.yaml']) for (const doc of readYaml(file)) await mustCreate(plane, doc);
    await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    await mustCreate(plane, readYaml('manifests/meshconfig-sample.yaml')[0]!);
    say('  installed: MeshConfig CRD, namespace meshinit-system with the webhook RBAC (rbac.yaml and rollout-rbac.yaml), MeshConfig "default" (manifests/meshconfig-sample.yaml)');

    const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    fs.writeFileSync(path.join(certDir, 'tls.crt'), certs.certPem);
    fs.writeFileSync(path.join(certDir, 'tls.key'), certs.keyPem);
    const port = await freePort();
    const shipped = (readYaml('manifests/webhook/mutatingwebhookconfiguration.yaml')[0] as { webhooks: Json[] }).webhooks[0]!;
    await mustCreate(plane, {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'meshinit-demo' },
      webhooks: [{
        ...shipped, name: 'workloads.sidecar.meshinit.dev',
        clientConfig: { url: `https://127.0.0.1:${port}/inject`, caBundle: Buffer.from(certs.caPem).toString('base64') },
        rules: [
          { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments', 'statefulsets', 'daemonsets'], scope: 'Namespaced' },
          { apiGroups: ['batch'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['jobs'], scope: 'Namespaced' },
        ],
      }],
    });
    meshinit = new MeshinitProcess([
      'run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--webhook-addr', `127.0.0.1:${port}`,
      '--tls-cert-file', path.join(certDir, 'tls.crt'), '--tls-key-file', path.join(certDir, 'tls.key'), '--target', 'workloads',
    ]);
    await meshinit.waitForLog((line) => line.message === 'Webhook serving', 'webhook serving');
    const mode = meshinit.lines.find((line) => line.message === 'Mode selected');
    say(`  meshinit running as system:serviceaccount:meshinit-system:meshinit: mode ${String(mode?.mode)} (${String(mode?.why)}), --target workloads, https://127.0.0.1:${port}/inject`);
    say('');
    say(`Creating examples/app.yaml in namespace ${NAMESPACE} through the API ...`);
    say('');
    const rows: string[] = [];
    for (const doc of readYaml('examples/app.yaml')) {
      const metadata: Json = { ...(doc.metadata as Json), namespace: NAMESPACE };
      const before = podSpecOf(doc);
      const reply = await create(plane, { ...doc, metadata });
      const name = String(metadata.name);
      if (reply.status !== 201) {
        rows.push(`  ${String(doc.kind)}/${name}: create answered ${reply.status}: ${JSON.stringify(reply.object).slice(0, 200)}`);
        continue;
      }
      if (!WORKLOAD_KINDS.has(String(doc.kind))) {
        rows.push(`  ${String(doc.kind)}/${name}: not a workload, stored as written`);
        continue;
      }
      const decision = await meshinit.waitForLog((line) => line.name === name && line.namespace === NAMESPACE, `decision for ${name}`);
      const after = podSpecOf(reply.object);
      if (decision.action === 'injected') {
        rows.push(`  ${String(doc.kind)}/${name}: INJECTED by MeshConfig ${String(decision.meshConfig)}`);
        rows.push(`      containers      ${names(before.containers)}  ->  ${names(after.containers)}`);
        rows.push(`      initContainers  ${names(before.initContainers)}  ->  ${names(after.initContainers)}`);
      } else {
        rows.push(`  ${String(doc.kind)}/${name}: ${String(decision.action).toUpperCase()}: ${String(decision.reason)}`);
      }
    }
    for (const row of rows) say(row);
    say('');
    await showRollout(plane, NAMESPACE, meshinit);
    say('');
    if (process.env.MESHINIT_DEMO_NO_TAIL === '1') return;
    await followLog(meshinit);
  } finally {
    await teardown();
  }
}

runDemo(main);
