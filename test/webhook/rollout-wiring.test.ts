// The rollout wired into the webhook mode, against a nock-served API server: with --target
// workloads a Rollout MeshConfig re-injects the workload carrying its older sidecar through one
// JSON Patch, leaves the others alone, and MeshConfig status carries status.rollout; with
// --target pods the Pods are read and the Deployment whose Pods carry the older sidecar is
// restarted (template annotations), once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import { RESTARTED_FOR_ANNOTATION } from '../../controller/core/constants.ts';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import type { KubeObject, Pod, Workload } from '../../controller/core/types.ts';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import type { MeshConfigStatus } from '../../controller/kube/meshconfig-status.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';
import { startWebhook, type WebhookRuntime } from '../../controller/webhook/run.ts';
import { SERVER, testKubeConfig, waitFor } from '../kube/helpers.ts';
import { NockCluster } from '../support/nock-cluster.ts';

const MESHCONFIGS = 'apis/meshinit.dev/v1alpha1/meshconfigs';
const DEPLOYMENTS = 'apis/apps/v1/deployments';

function meshConfig(generation: number, image: string): KubeObject {
  return {
    apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh', generation },
    spec: { updatePolicy: 'Rollout', sidecar: { containers: [{ name: 'proxy', image }] } },
  };
}

function deployment(name: string): Workload {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'shop', uid: `uid-${name}`, generation: 1, labels: { app: name } },
    spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
    status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 },
  } as Workload;
}

const image = (object: KubeObject | undefined): string => JSON.stringify((object as Workload | undefined)?.spec.template.spec.containers);

for (const target of ['workloads', 'pods'] as const) {
  describe(`webhook mode --target ${target}: rolling a changed MeshConfig out`, function () {
    let cluster: NockCluster;
    let runtime: WebhookRuntime | undefined;
    let dir: string;
    const log = createMemoryLogger();

    beforeEach(async function () {
      cluster = new NockCluster(SERVER).start();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-rollout-'));
      cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
      const first = parseMeshConfig(meshConfig(1, 'proxy:1'));
      if (!first.ok) throw first.error;
      cluster.put(MESHCONFIGS, meshConfig(2, 'proxy:2'));
      cluster.put(DEPLOYMENTS, injectWorkload(deployment('outdated'), first.meshConfig).object);
      cluster.put(DEPLOYMENTS, deployment('plain'));
      const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      const [certFile, keyFile] = [path.join(dir, 'tls.crt'), path.join(dir, 'tls.key')];
      fs.writeFileSync(certFile, certs.certPem);
      fs.writeFileSync(keyFile, certs.keyPem);
      runtime = await startWebhook(
        { webhook: { address: { host: '127.0.0.1', port: 0 }, tls: { kind: 'files', certFile, keyFile }, target, configurationName: 'meshinit' }, controllerNamespace: 'meshinit-system', namespaces: [], statusPeriodMs: 20, rolloutPeriodMs: 20, podScanPeriodMs: 50 },
        { api: createKubeApi(testKubeConfig(), { requestTimeoutMs: 5000, userAgent: 'test' }), log },
      );
    });

    afterEach(async function () {
      await runtime?.stop();
      cluster.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    if (target === 'workloads') {
      it('re-injects the outdated Deployment once, leaves the other alone, and status carries status.rollout', async function () {
        await waitFor(() => image(cluster.get(DEPLOYMENTS, 'shop', 'outdated')).includes('proxy:2'), 'the outdated Deployment re-injected');
        expect(image(cluster.get(DEPLOYMENTS, 'shop', 'plain'))).to.not.include('proxy');
        const status = (): Partial<MeshConfigStatus> | undefined => cluster.get(MESHCONFIGS, '', 'mesh')?.status as Partial<MeshConfigStatus> | undefined;
        await waitFor(() => status()?.rollout?.lastStartedAt !== undefined, 'status.rollout written');
        expect(status()?.rollout).to.include({ paused: false, rateLimited: 0, waiting: 0 });
        expect(log.lines.filter((l) => l.message === 'Sidecar rollout started').map((l) => l.fields.name)).to.deep.equal(['outdated']);
      });
    } else {
      it('reads the Pods and restarts, once, the Deployment whose Pods carry the older sidecar; no sidecar goes into a template', async function () {
        const first = parseMeshConfig(meshConfig(1, 'proxy:1'));
        if (!first.ok) throw first.error;
        // plain's Pods were injected at admission with the first sidecar.
        for (const suffix of ['a', 'b']) {
          const pod: Pod = {
            apiVersion: 'v1', kind: 'Pod',
            metadata: { name: `plain-7d4f-${suffix}`, namespace: 'shop', uid: `pod-${suffix}`, labels: { app: 'plain', 'pod-template-hash': '7d4f' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'plain-7d4f', uid: 'rs', controller: true }] },
            spec: { containers: [{ name: 'app', image: 'nginx' }] },
          };
          cluster.put('api/v1/pods', injectPod(pod, first.meshConfig, { kind: 'Deployment', name: 'plain', namespace: 'shop' }).object);
        }
        const restartedFor = (): string | undefined => (cluster.get(DEPLOYMENTS, 'shop', 'plain') as Workload | undefined)?.spec.template.metadata?.annotations?.[RESTARTED_FOR_ANNOTATION];
        await waitFor(() => restartedFor() !== undefined, 'plain restarted', 5000);
        expect(restartedFor()).to.match(/^mesh\/[0-9a-f]+$/);
        expect(image(cluster.get(DEPLOYMENTS, 'shop', 'plain')), 'the template gets no sidecar').to.not.include('proxy');
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(log.lines.filter((l) => l.message === 'Sidecar rollout started').map((l) => l.fields.name)).to.deep.equal(['plain']);
      });
    }
  });
}
