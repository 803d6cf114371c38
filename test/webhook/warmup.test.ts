// The warm-up the webhook runs before /readyz says ready: synthetic reviews through the real
// admission path (uncached and cached), with the MeshConfigs in force, within a time budget, and
// without touching anything the real requests use.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import type { MeshConfig } from '../../controller/core/types.ts';
import { createKubeApi } from '../../controller/kube/api-client.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import type { AdmissionContext } from '../../controller/webhook/admission.ts';
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';
import { startWebhook, type WebhookRuntime } from '../../controller/webhook/run.ts';
import { warmAdmission } from '../../controller/webhook/warmup.ts';
import { SERVER, testKubeConfig, waitFor } from '../kube/helpers.ts';
import { NockCluster } from '../support/nock-cluster.ts';

function meshConfig(spec: Record<string, unknown> = {}): MeshConfig {
  const parsed = parseMeshConfig({ metadata: { name: 'default', generation: 1 }, spec: { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:1', args: ['{{workload.name}}'] }] }, ...spec } });
  if (!parsed.ok) throw parsed.error;
  return parsed.meshConfig;
}

function context(overrides: Partial<AdmissionContext> = {}): AdmissionContext & { namespacesAsked: string[] } {
  const namespacesAsked: string[] = [];
  const meshConfigs = [meshConfig()];
  return {
    target: 'pods',
    namespace: (name) => {
      namespacesAsked.push(name);
      return undefined;
    },
    meshConfigs: () => meshConfigs,
    controllerNamespace: 'meshinit-system',
    ...overrides,
    namespacesAsked,
  };
}

describe('webhook warm-up before ready', function () {
  it('answers synthetic reviews through injection with the MeshConfigs in force, for either target', function () {
    for (const target of ['pods', 'workloads'] as const) {
      const result = warmAdmission(context({ target }), { iterations: 40, budgetMs: 10_000, now: () => performance.now() });
      expect(result, target).to.include({ iterations: 40, action: 'injected' });
    }
  });

  it('warms in a namespace meshinit injects: the first of --namespace, else one of its own', function () {
    const limited = context({ injectNamespaces: ['team-a', 'team-b'] });
    expect(warmAdmission(limited, { iterations: 4, now: () => performance.now() }).action).to.equal('injected');
    expect(new Set(limited.namespacesAsked)).to.deep.equal(new Set(['team-a']));
    const open = context();
    warmAdmission(open, { iterations: 4, now: () => performance.now() });
    expect(new Set(open.namespacesAsked)).to.deep.equal(new Set(['meshinit-warmup']));
  });

  it('says what the synthetic review got when the MeshConfigs would not inject it, and still warms the path', function () {
    const disabled = context({ meshConfigs: () => [meshConfig({ policy: 'Disabled' })] });
    expect(warmAdmission(disabled, { iterations: 8, now: () => performance.now() })).to.include({ iterations: 8, action: 'skipped' });
    const unreadable = context({ meshConfigs: () => [], meshConfigsUnavailable: () => 'no CRD' });
    expect(warmAdmission(unreadable, { iterations: 8, now: () => performance.now() }).action).to.equal('allowed-uninjected');
  });

  it('stops at its time budget, so a slow machine is not kept unready', function () {
    let clock = 0;
    const result = warmAdmission(context(), { iterations: 1000, budgetMs: 50, now: () => (clock += 10) });
    expect(result.iterations).to.be.below(10);
    expect(result.ms).to.be.at.least(50);
  });

  it('in webhook mode, /readyz says ready ("Webhook serving") only once it has warmed with the cluster\'s MeshConfig', async function () {
    const cluster = new NockCluster(SERVER).start();
    const log = createMemoryLogger();
    let runtime: WebhookRuntime | undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-warmup-'));
    try {
      cluster.put('apis/meshinit.dev/v1alpha1/meshconfigs', {
        apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh', generation: 3 },
        spec: { sidecar: { containers: [{ name: 'proxy', image: 'proxy:3', args: ['{{workload.namespace}}'] }] } },
      });
      const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      const [certFile, keyFile] = [path.join(dir, 'tls.crt'), path.join(dir, 'tls.key')];
      fs.writeFileSync(certFile, certs.certPem);
      fs.writeFileSync(keyFile, certs.keyPem);
      runtime = await startWebhook(
        { webhook: { address: { host: '127.0.0.1', port: 0 }, tls: { kind: 'files', certFile, keyFile }, target: 'pods', configurationName: 'meshinit' }, controllerNamespace: 'meshinit-system', namespaces: [] },
        { api: createKubeApi(testKubeConfig(), { requestTimeoutMs: 5000, userAgent: 'test' }), log },
      );
      await waitFor(() => runtime!.notReadyReason() === undefined, 'ready');
      const serving = log.lines.find((l) => l.message === 'Webhook serving');
      expect(serving?.fields.warmup).to.deep.include({ action: 'injected' });
      expect((serving?.fields.warmup as { reviews: number }).reviews).to.be.greaterThan(0);
      expect(log.lines.filter((l) => l.message === 'Injected sidecar'), 'the warm-up logs no decisions').to.deep.equal([]);
    } finally {
      await runtime?.stop();
      cluster.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
