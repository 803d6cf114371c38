// meshinit in webhook mode, as the e2e tests run it: the shipped namespace and RBAC (plus any
// extra manifests a test needs), a self-signed serving certificate, a MutatingWebhookConfiguration
// with the shipped one's settings (for --target workloads, the workload rules instead of Pods),
// and the compiled meshinit as the shipped ServiceAccount.
import fs from 'node:fs';
import path from 'node:path';
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';
import type { ControlPlane } from '../control-plane/control-plane.ts';
import { freePort, MeshinitProcess, mustCreate, readYaml, type Json } from './cluster.ts';

export interface MeshinitWebhookOptions {
  /** Default workloads. */
  target?: 'workloads' | 'pods';
  /** More `meshinit run` flags (leader-election timings, say). */
  extraArgs?: string[];
  /** metadata.name of the MutatingWebhookConfiguration. */
  configurationName: string;
  /** Folder for the certificate and key. */
  dir: string;
  /** Manifests applied after manifests/webhook/namespace.yaml and rbac.yaml. */
  extraManifests?: string[];
  /** --target workloads: also send Jobs (batch/v1) to the webhook. */
  jobs?: boolean;
}

export async function startMeshinitWebhook(plane: ControlPlane, options: MeshinitWebhookOptions): Promise<MeshinitProcess> {
  const target = options.target ?? 'workloads';
  const manifests = ['manifests/webhook/namespace.yaml', 'manifests/webhook/rbac.yaml', ...(options.extraManifests ?? [])];
  for (const file of manifests) for (const doc of readYaml(file)) await mustCreate(plane, doc);
  const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  fs.writeFileSync(path.join(options.dir, 'tls.crt'), certs.certPem);
  fs.writeFileSync(path.join(options.dir, 'tls.key'), certs.keyPem);
  const port = await freePort();
  const shipped = readYaml('manifests/webhook/mutatingwebhookconfiguration.yaml')[0] as { webhooks: Json[] };
  const rule = (apiGroup: string, resources: string[]): Json => ({ apiGroups: [apiGroup], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources, scope: 'Namespaced' });
  const clientConfig = { url: `https://127.0.0.1:${port}/inject`, caBundle: Buffer.from(certs.caPem).toString('base64') };
  // --target pods: the shipped registration as it is (Pods, CREATE), pointed at this process.
  const registration = target === 'pods'
    ? { ...shipped.webhooks[0], clientConfig }
    : {
      ...shipped.webhooks[0], name: 'workloads.sidecar.meshinit.dev', clientConfig,
      rules: [rule('apps', ['deployments', 'statefulsets', 'daemonsets']), ...(options.jobs ? [rule('batch', ['jobs'])] : [])],
    };
  await mustCreate(plane, {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: options.configurationName },
    webhooks: [registration],
  });
  const meshinit = new MeshinitProcess([
    'run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--webhook-addr', `127.0.0.1:${port}`,
    '--tls-cert-file', path.join(options.dir, 'tls.crt'), '--tls-key-file', path.join(options.dir, 'tls.key'), '--target', target,
    ...(options.extraArgs ?? []),
  ]);
  await meshinit.waitForLog((l) => l.message === 'Webhook serving', 'the webhook serving');
  return meshinit;
}
