// MeshConfig status on real servers: the Initializer mode on kube-apiserver v1.9.11 and v1.13.0,
// the webhook mode (--target workloads) on today's. The CRDs as shipped (v1beta1 with its printer
// columns on the old servers, v1 on the new one), the compiled meshinit as the shipped
// ServiceAccount. What an operator would do, in order: create workloads, see them counted; edit the
// MeshConfig's sidecar, create more, see the old ones outdated; a burst of 100 creates costs a
// handful of status writes, not 100; a MeshConfig of higher priority takes every workload and the
// first one says NotSelected; `kubectl get mc` tells the story where the server prints columns.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { LEGACY_RELEASES, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { kubectlApplyObject, MeshinitProcess, mustCreate, mustKubectl, readYaml, waitForPendingList, waitUntil, type Json } from './cluster.ts';
import { startMeshinitWebhook } from './meshinit-webhook.ts';

const OURS = 'sidecar.initializer.meshinit.dev';
const NS = 'e2e-status';
const MESHCONFIGS = '/apis/meshinit.dev/v1alpha1/meshconfigs';
const DEPLOYMENTS = `/apis/apps/v1/namespaces/${NS}/deployments`;
const BURST = 100;

interface Status {
  observedGeneration?: number;
  observedSpecHash?: string;
  matchedWorkloads?: number;
  injectedWorkloads?: number;
  outdatedWorkloads?: number;
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
}

/** A MeshConfig with the sample's sidecar (placeholders and all), selecting the test namespace. */
function meshConfig(name: string, priority: number, image: string): Json {
  const sample = readYaml('manifests/meshconfig-sample.yaml')[0]!;
  const spec = structuredClone(sample.spec) as { sidecar: { containers: Array<{ name: string; image: string }> } } & Json;
  spec.sidecar.containers[0]!.image = image;
  return { ...sample, metadata: { name }, spec: { ...spec, priority, namespaceSelector: { matchLabels: { 'e2e-status': 'counted' } } } };
}

function deployment(name: string): Json {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: NS, labels },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } },
  };
}

interface Setup {
  release: string | undefined;
  mode: 'initializer' | 'webhook';
  crd: string;
  /** Whether the server keeps additionalPrinterColumns (apiextensions from 1.11). */
  columns: boolean;
}

const SETUPS: Setup[] = [
  ...LEGACY_RELEASES.map((release): Setup => ({ release, mode: 'initializer', crd: 'crds/meshconfig.v1beta1.yaml', columns: release !== 'v1.9.11' })),
  { release: undefined, mode: 'webhook', crd: 'crds/meshconfig.v1.yaml', columns: true },
];

for (const setup of SETUPS) {
  describe(`MeshConfig status, ${setup.mode} mode, on a real kube-apiserver ${setup.release ?? '(modern)'}`, function () {
    this.timeout(240_000);
    let plane: ControlPlane;
    let dir: string;
    let meshinit: MeshinitProcess | undefined;
    const validate = setup.release === 'v1.9.11' ? ['--validate=false'] : [];
    const admin = (): string => plane.adminKubeconfigPath;

    async function status(name: string): Promise<Status & { generation?: number }> {
      const reply = await plane.request('GET', `${MESHCONFIGS}/${name}`);
      const object = JSON.parse(reply.body) as { metadata?: { generation?: number }; status?: Status };
      return { ...(object.status ?? {}), ...(object.metadata?.generation !== undefined ? { generation: object.metadata.generation } : {}) };
    }

    /** Waits until status has these counts (recounted every 5 s), returning it. */
    async function counted(name: string, expected: Pick<Status, 'matchedWorkloads' | 'injectedWorkloads' | 'outdatedWorkloads'>, timeoutMs = 40_000): Promise<Status> {
      let last: Status = {};
      try {
        return await waitUntil(async () => {
          last = await status(name);
          return Object.entries(expected).every(([key, value]) => last[key as keyof Status] === value) ? last : undefined;
        }, `MeshConfig ${name} status ${JSON.stringify(expected)}`, timeoutMs);
      } catch (error) {
        throw new Error(`${(error as Error).message}; last status: ${JSON.stringify(last)}`);
      }
    }

    async function ready(name: string): Promise<NonNullable<Status['conditions']>[number] | undefined> {
      return (await status(name)).conditions?.find((c) => c.type === 'Ready');
    }

    /** A create as `kubectl create` sends it; the Initializer mode answers once meshinit released it. */
    async function createDeployment(name: string): Promise<void> {
      const reply = await plane.request('POST', DEPLOYMENTS, { body: deployment(name) });
      expect(reply.status, reply.body.slice(0, 300)).to.equal(201);
    }

    const applyMeshConfig = (object: Json): Promise<void> => kubectlApplyObject(admin(), dir, object, validate);

    async function startInitializer(): Promise<void> {
      await mustKubectl(admin(), ['apply', ...validate, '-k', 'manifests/initializer']);
      meshinit = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--watch-timeout', '60s']);
      await meshinit.waitForLog((l) => l.message === 'Initializer controller running', 'the controller running', 30_000);
      await waitForPendingList(plane, (n) => ({ ...deployment(`probe-${n}`), metadata: { name: `probe-${n}`, namespace: 'default', annotations: { 'sidecar.meshinit.dev/inject': 'false' } } }), [OURS]);
    }

    async function startWebhook(): Promise<void> {
      meshinit = await startMeshinitWebhook(plane, { configurationName: 'meshinit-e2e-status', dir });
    }

    before(async function () {
      plane = await startControlPlane(setup.release ? { release: setup.release as (typeof LEGACY_RELEASES)[number] } : {});
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-status-'));
      await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'e2e-status': 'counted' } } });
    });

    after(async function () {
      await meshinit?.stop();
      await plane?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it(`the server takes the shipped CRD (${path.basename(setup.crd)}) with its printer columns`, async function () {
      await mustKubectl(admin(), ['apply', ...validate, '-f', setup.crd]);
      await mustKubectl(admin(), ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/meshconfigs.meshinit.dev']);
      const crdPath = setup.crd.includes('v1beta1') ? '/apis/apiextensions.k8s.io/v1beta1/customresourcedefinitions/meshconfigs.meshinit.dev' : '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/meshconfigs.meshinit.dev';
      const stored = JSON.parse((await plane.request('GET', crdPath)).body) as { spec: { additionalPrinterColumns?: Json[]; versions?: Array<{ additionalPrinterColumns?: Json[] }> } };
      const columns = (stored.spec.additionalPrinterColumns ?? stored.spec.versions?.[0]?.additionalPrinterColumns ?? []).map((c) => c.name);
      // 1.9 drops the field silently (apiextensions has printer columns from 1.11): the CRD is still taken.
      if (setup.columns) expect(columns).to.include.members(['Policy', 'Priority', 'Ready', 'Injected', 'Outdated', 'Age', 'Matched']);
      else expect(columns).to.deep.equal([]);
      if (setup.mode === 'initializer') await startInitializer();
      else await startWebhook();
    });

    it('counts the workloads a MeshConfig wins and injects: Ready=True/Valid, observedGeneration where the server keeps one, observedSpecHash always', async function () {
      await applyMeshConfig(meshConfig('blue', 0, 'ghcr.io/meshinit/proxy:1.0.0'));
      await waitUntil(async () => ((await ready('blue'))?.status === 'True' ? true : undefined), 'blue Ready=True');
      for (const name of ['web-1', 'web-2', 'web-3']) await createDeployment(name);
      const first = await counted('blue', { matchedWorkloads: 3, injectedWorkloads: 3, outdatedWorkloads: 0 });
      expect(first.conditions?.[0]).to.include({ type: 'Ready', status: 'True', reason: 'Valid' });
      expect(first.observedSpecHash).to.match(/^[0-9a-f]{14}$/);
      const { generation } = await status('blue');
      if (setup.release === 'v1.9.11') expect(first, '1.9 keeps no generation for custom resources').not.to.have.property('observedGeneration');
      else expect(first.observedGeneration).to.equal(generation);
    });

    it('after a sidecar edit, the workloads created before are outdated and those created after are injected', async function () {
      const before = await status('blue');
      await mustKubectl(admin(), ['patch', 'meshconfig', 'blue', '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/sidecar/containers/0/image', value: 'ghcr.io/meshinit/proxy:1.0.1' }])]);
      await waitUntil(async () => ((await status('blue')).observedSpecHash !== before.observedSpecHash ? true : undefined), 'the edit observed');
      // The new version is used for the next create (the informer may be a moment behind the edit).
      await waitUntil(async () => {
        const name = `web-probe-${Date.now()}`;
        const reply = await plane.request('POST', DEPLOYMENTS, { body: deployment(name) });
        await plane.request('DELETE', `${DEPLOYMENTS}/${name}`);
        return reply.body.includes('proxy:1.0.1') ? true : undefined;
      }, 'the edited sidecar in use');
      for (const name of ['web-4', 'web-5']) await createDeployment(name);
      const after = await counted('blue', { matchedWorkloads: 5, injectedWorkloads: 2, outdatedWorkloads: 3 });
      if (setup.release !== 'v1.9.11') expect(after.observedGeneration).to.be.greaterThan(before.observedGeneration!);
    });

    it(`a burst of ${BURST} creates costs a handful of status writes, not one per workload`, async function () {
      const since = meshinit!.lines.length;
      const started = Date.now();
      const names = Array.from({ length: BURST }, (_, i) => `burst-${i}`);
      await Promise.all(names.map(async (name) => {
        // In the Initializer mode held creates (answered at once, still pending): all 100 in flight together.
        const reply = await plane.request('POST', `${DEPLOYMENTS}${setup.mode === 'initializer' ? '?includeUninitialized=1' : ''}`, { body: deployment(name) });
        expect(reply.status, reply.body.slice(0, 300)).to.be.oneOf([201, 202]);
      }));
      await counted('blue', { matchedWorkloads: 5 + BURST, injectedWorkloads: 2 + BURST, outdatedWorkloads: 3 }, 90_000);
      const seconds = (Date.now() - started) / 1000;
      // The server can show the write before meshinit's log line about it has come through the pipe.
      const writes = await waitUntil(async () => {
        const lines = meshinit!.lines.slice(since).filter((l) => l.message === 'MeshConfig status written' && l.meshConfig === 'blue');
        return lines.length > 0 ? lines : undefined;
      }, 'meshinit logging its status write for blue', 5_000);
      console.log(`      ${BURST} creates counted in ${seconds.toFixed(1)} s with ${writes.length} status writes for blue: ${writes.map((w) => `${String(w.matched)}/${String(w.injected)}/${String(w.outdated)}`).join(', ')}`);
      expect(writes.length).to.be.at.least(1);
      // One write per recount period at most (5 s), plus the one that lands the final count.
      expect(writes.length).to.be.at.most(Math.ceil(seconds / 5) + 2);
      expect(writes.length).to.be.below(10);
    });

    it('a MeshConfig of higher priority that takes every workload makes the first one Ready=False/NotSelected', async function () {
      await applyMeshConfig(meshConfig('green', 10, 'ghcr.io/meshinit/proxy:2.0.0'));
      const total = 5 + BURST;
      await counted('green', { matchedWorkloads: total, injectedWorkloads: 0, outdatedWorkloads: 0 });
      // The workloads still carry blue's sidecar: counted as blue's, though green wins them now.
      const blue = await counted('blue', { matchedWorkloads: 0, injectedWorkloads: 2 + BURST, outdatedWorkloads: 3 });
      const condition = blue.conditions?.find((c) => c.type === 'Ready');
      expect(condition).to.include({ status: 'False', reason: 'NotSelected' });
      expect(condition!.message).to.include(`selects ${total} workload(s)`).and.to.include('MeshConfig green');
      // A new workload gets green's sidecar.
      await createDeployment('web-6');
      await counted('green', { matchedWorkloads: total + 1, injectedWorkloads: 1 });
      await waitUntil(async () => ((await ready('blue'))?.message.includes(`selects ${total + 1} workload(s)`) ? true : undefined), 'blue counting web-6 as taken');
      // Settled: two recounts later, nothing has been written again.
      const since = meshinit!.lines.length;
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      expect(meshinit!.lines.slice(since).filter((l) => l.message === 'MeshConfig status written').map((l) => l.meshConfig)).to.deep.equal([]);
    });

    it(setup.columns ? '`kubectl get mc` prints Policy, Priority, Ready, Injected, Outdated and Age (and -o wide Reason and Matched)' : '`kubectl get mc` lists the MeshConfigs (1.9 prints no custom columns)', async function () {
      const table = await mustKubectl(admin(), ['get', 'mc']);
      const wide = await mustKubectl(admin(), ['get', 'mc', '-o', 'wide']);
      const yaml = await mustKubectl(admin(), ['get', 'mc', 'blue', '-o', 'yaml']);
      console.log(`      kubectl get mc:\n${table.stdout.replace(/^/gm, '        ')}      kubectl get mc -o wide:\n${wide.stdout.replace(/^/gm, '        ')}`);
      console.log(`      kubectl get mc blue -o yaml (status):\n${yaml.stdout.slice(yaml.stdout.indexOf('\nstatus:') + 1).replace(/^/gm, '        ')}`);
      const [header, ...rows] = table.stdout.trim().split('\n');
      const row = (name: string): string[] => rows.find((r) => r.startsWith(`${name} `))!.trim().split(/\s+/);
      if (!setup.columns) {
        expect(header).to.match(/^NAME\s+/);
        expect(rows.map((r) => r.split(/\s+/)[0])).to.include.members(['blue', 'green']);
        return;
      }
      expect(header!.trim().split(/\s+/)).to.deep.equal(['NAME', 'POLICY', 'PRIORITY', 'READY', 'INJECTED', 'OUTDATED', 'AGE']);
      expect(row('blue').slice(0, 6)).to.deep.equal(['blue', 'Enabled', '0', 'False', String(2 + BURST), '3']);
      expect(row('green').slice(0, 6)).to.deep.equal(['green', 'Enabled', '10', 'True', '1', '0']);
      const wideHeader = wide.stdout.split('\n')[0]!.trim().split(/\s+/);
      expect(wideHeader).to.include.members(['REASON', 'MATCHED', 'FAILUREPOLICY', 'KINDS']);
      const wideBlue = wide.stdout.split('\n').find((r) => r.startsWith('blue '))!.trim().split(/\s+/);
      expect(wideBlue[wideHeader.indexOf('REASON')]).to.equal('NotSelected');
      expect(wideBlue[wideHeader.indexOf('MATCHED')]).to.equal('0');
      expect(yaml.stdout).to.include('reason: NotSelected').and.include('observedSpecHash:');
    });
  });
}
