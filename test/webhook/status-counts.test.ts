// MeshConfig status counts in webhook mode, per target, against a nock-served API server: with
// --target workloads the templates carry the record and every count is there; with --target pods
// the sidecar is in Pods, which are not cached, so status has matchedWorkloads only and says why.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { injectWorkload } from '../../controller/core/inject.ts';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import type { KubeObject, Workload } from '../../controller/core/types.ts';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { NOT_COUNTED_IN_POD_MODE, type MeshConfigStatus } from '../../controller/kube/meshconfig-status.ts';
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
