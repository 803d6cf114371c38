// MeshConfig status counts in webhook mode, per target, against a nock-served API server: with
// --target workloads the templates carry the record and every count is there; with --target pods
// the sidecar is in Pods, which are not cached, so status has matchedWorkloads only and says why.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import type { KubeObject, Pod, Workload } from '../../controller/core/types.ts';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { COUNTED_FROM_PODS, NOT_COUNTED_IN_POD_MODE, type MeshConfigStatus } from '../../controller/kube/meshconfig-status.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';
import { startWebhook, type WebhookRuntime } from '../../controller/webhook/run.ts';
import { SERVER, testKubeConfig, waitFor } from '../kube/helpers.ts';
import { NockCluster } from '../support/nock-cluster.ts';

const MESHCONFIGS = 'apis/meshinit.dev/v1alpha1/meshconfigs';
const RAW_MESHCONFIG: KubeObject = {
  apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh', generation: 3 },
  spec: { sidecar: { containers: [{ name: 'proxy', image: 'proxy:3', args: ['{{workload.name}}'] }] } },
};

function deployment(name: string): Workload {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'shop', uid: `uid-${name}`, labels: { app: name } },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
  };
}

for (const target of ['workloads', 'pods'] as const) {
  describe(`webhook mode --target ${target}: MeshConfig status counts`, function () {
    let cluster: NockCluster;
    let runtime: WebhookRuntime | undefined;
    let dir: string;

    beforeEach(async function () {
      cluster = new NockCluster(SERVER).start();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-status-'));
      cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
      cluster.put(MESHCONFIGS, RAW_MESHCONFIG);
      const parsed = parseMeshConfig(RAW_MESHCONFIG);
      if (!parsed.ok) throw parsed.error;
      // Created while a webhook --target workloads injected it, and one created before the MeshConfig.
      cluster.put('apis/apps/v1/deployments', injectWorkload(deployment('injected'), parsed.meshConfig).object);
      cluster.put('apis/apps/v1/deployments', deployment('plain'));
      const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      const [certFile, keyFile] = [path.join(dir, 'tls.crt'), path.join(dir, 'tls.key')];
      fs.writeFileSync(certFile, certs.certPem);
      fs.writeFileSync(keyFile, certs.keyPem);
      runtime = await startWebhook(
        { webhook: { address: { host: '127.0.0.1', port: 0 }, tls: { kind: 'files', certFile, keyFile }, target, configurationName: 'meshinit' }, controllerNamespace: 'meshinit-system', namespaces: [], statusPeriodMs: 20 },
        { api: createKubeApi(testKubeConfig(), { requestTimeoutMs: 5000, userAgent: 'test' }), log: createMemoryLogger() },
      );
    });

    afterEach(async function () {
      await runtime?.stop();
      cluster.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it(target === 'workloads' ? 'counts matched, injected and outdated from the templates' : 'counts matched only, and the Ready message says why', async function () {
      const status = (): Partial<MeshConfigStatus> | undefined => cluster.get(MESHCONFIGS, '', 'mesh')?.status as Partial<MeshConfigStatus> | undefined;
      await waitFor(() => status()?.matchedWorkloads === 2, 'two workloads matched');
      const ready = status()!.conditions![0]!;
      expect(ready).to.include({ type: 'Ready', status: 'True', reason: 'Valid' });
      if (target === 'workloads') {
        expect(status()).to.include({ matchedWorkloads: 2, injectedWorkloads: 1, outdatedWorkloads: 0 });
        expect(ready.message).not.to.include(NOT_COUNTED_IN_POD_MODE);
      } else {
        expect(status()).not.to.have.any.keys('injectedWorkloads', 'outdatedWorkloads');
        expect(ready.message).to.include(NOT_COUNTED_IN_POD_MODE);
      }
    });
  });
}

describe('webhook mode --target pods: MeshConfig status counts of a Rollout MeshConfig, from the Pods the rollout reads', function () {
  let cluster: NockCluster;
  let runtime: WebhookRuntime | undefined;
  let dir: string;
  const raw = (generation: number, image: string): KubeObject => ({
    apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh', generation },
    spec: { updatePolicy: 'Rollout', sidecar: { containers: [{ name: 'proxy', image, args: ['{{workload.name}}'] }] } },
  });

  function podOf(workload: string, suffix: string, generation: number, image: string): Pod {
    const parsed = parseMeshConfig(raw(generation, image));
    if (!parsed.ok) throw parsed.error;
    const pod: Pod = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: `${workload}-7d4f-${suffix}`, namespace: 'shop', uid: `pod-${workload}-${suffix}`, labels: { app: workload, 'pod-template-hash': '7d4f' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${workload}-7d4f`, uid: `rs-${workload}`, controller: true }] },
      spec: { containers: [{ name: 'app', image: 'nginx' }] },
    };
    return injectPod(pod, parsed.meshConfig, { kind: 'Deployment', name: workload, namespace: 'shop' }).object as Pod;
  }

  beforeEach(async function () {
    cluster = new NockCluster(SERVER).start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-status-pods-'));
    cluster.put('api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    cluster.put(MESHCONFIGS, raw(3, 'proxy:3'));
    for (const name of ['current', 'older']) cluster.put('apis/apps/v1/deployments', deployment(name));
    // current's Pods carry this version's sidecar; older's were injected at admission with version 2.
    cluster.put('api/v1/pods', podOf('current', 'a', 3, 'proxy:3'));
    cluster.put('api/v1/pods', podOf('older', 'a', 2, 'proxy:2'));
    const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const [certFile, keyFile] = [path.join(dir, 'tls.crt'), path.join(dir, 'tls.key')];
    fs.writeFileSync(certFile, certs.certPem);
    fs.writeFileSync(keyFile, certs.keyPem);
    runtime = await startWebhook(
      { webhook: { address: { host: '127.0.0.1', port: 0 }, tls: { kind: 'files', certFile, keyFile }, target: 'pods', configurationName: 'meshinit' }, controllerNamespace: 'meshinit-system', namespaces: [], statusPeriodMs: 20, podScanPeriodMs: 60_000 },
      { api: createKubeApi(testKubeConfig(), { requestTimeoutMs: 5000, userAgent: 'test' }), log: createMemoryLogger() },
    );
  });

  afterEach(async function () {
    await runtime?.stop();
    cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('counts injected and outdated from the Pods, and the Ready message says where they come from', async function () {
    const status = (): Partial<MeshConfigStatus> | undefined => cluster.get(MESHCONFIGS, '', 'mesh')?.status as Partial<MeshConfigStatus> | undefined;
    await waitFor(() => status()?.injectedWorkloads !== undefined, 'injected counted from the Pods');
    expect(status()).to.include({ matchedWorkloads: 2, injectedWorkloads: 1, outdatedWorkloads: 1 });
    const ready = status()!.conditions![0]!;
    expect(ready.message).to.include(COUNTED_FROM_PODS);
    expect(ready.message).not.to.include(NOT_COUNTED_IN_POD_MODE);
  });

  it('reads the Pods again for an edit of the spec, not for an update of status or metadata alone (status is written every few seconds during a rollout)', async function () {
    const status = (): Partial<MeshConfigStatus> | undefined => cluster.get(MESHCONFIGS, '', 'mesh')?.status as Partial<MeshConfigStatus> | undefined;
    await waitFor(() => status()?.injectedWorkloads !== undefined, 'injected counted from the Pods');
    const podLists = (): number => cluster.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/pods').length;
    const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));
    await settle();
    const before = podLists();
    // Updates of status and metadata alone (a status write, a label): the same spec and generation.
    const stored = cluster.get(MESHCONFIGS, '', 'mesh')!;
    for (let i = 0; i < 3; i++) cluster.put(MESHCONFIGS, { ...stored, metadata: { ...stored.metadata, labels: { touched: String(i) } } });
    await settle();
    expect(podLists(), 'no Pod LIST for status writes').to.equal(before);
    cluster.put(MESHCONFIGS, raw(4, 'proxy:4'));
    await waitFor(() => podLists() > before, 'the Pods read again for the new sidecar');
  });
});
