// `meshinit explain KIND/NAME` live, on the real servers: the compiled CLI reads a Deployment, its
// Namespace and the MeshConfigs installed with kubectl as README.md says, and names the MeshConfig
// that matched and why the others lost. On v1.13.0 the controller runs too, and explain's decision
// must be word for word the `reason` of the controller's log line for the same workload.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { LEGACY_RELEASES, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { repoRoot } from '../support/transcripts.ts';
import { freePort, MeshinitProcess, mustKubectl, waitForPendingList, waitUntil, type Json } from './cluster.ts';

const SHOP = 'e2e-shop';
const OURS = 'sidecar.initializer.meshinit.dev';

interface CliResult { code: number | null; stdout: string; stderr: string }

/** The built CLI, as a user runs it: node bin/meshinit.js, no KUBECONFIG from the environment. */
function meshinitCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env['KUBECONFIG'];
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/meshinit.js'), ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

interface ExplainJson {
  explanations: Array<{
    workload: { kind: string; name: string; namespace: string };
    namespace: { labels: Record<string, string>; labelsKnown: boolean };
    meshConfigs: Array<{ name: string; verdict: string; reason: string; lostTo?: string }>;
    selected: string | null;
    decisions: Array<{ mode: string; action: string; reason: string }>;
    injection: { containers: Array<{ name: string; image?: string }> } | null;
    injected: { state: string };
  }>;
}

function deployment(name: string, annotations: Record<string, string> = {}): Json {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: SHOP, labels: { app: name }, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } },
  };
}

function job(name: string): Json {
  return {
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: SHOP, labels: { app: name } },
    spec: { template: { metadata: { labels: { app: name } }, spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox:1.28' }] } } },
  };
}

/** Two MeshConfigs beside the sample (`default`, priority 0): one wins in labelled namespaces, one takes only Jobs. */
const MESHCONFIGS: Json[] = [
  {
    apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'shop-mesh' },
    spec: { priority: 10, namespaceSelector: { matchLabels: { mesh: 'enabled' } }, kinds: ['Deployment', 'StatefulSet', 'Job'], sidecar: { containers: [{ name: 'shop-proxy', image: 'shop/proxy:1.0' }] } },
  },
  {
    apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'batch-only' },
    spec: { priority: 20, kinds: ['Job'], sidecar: { containers: [{ name: 'batch-proxy', image: 'batch/proxy:1.0' }] } },
  },
];

for (const release of [...LEGACY_RELEASES, undefined]) {
  const label = release ?? 'v1.36.3 (modern)';
  describe(`meshinit explain live on a real kube-apiserver ${label}`, function () {
    this.timeout(180_000);
    let plane: ControlPlane;
    let dir: string;
    let meshinit: MeshinitProcess | undefined;
    const validate = release === 'v1.9.11' ? ['--validate=false'] : [];
    const admin = (): string => plane.adminKubeconfigPath;

    async function apply(objects: Json[]): Promise<void> {
      const file = path.join(dir, `apply-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
      fs.writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
      await mustKubectl(admin(), ['apply', ...validate, '-f', file]);
    }

    async function explainJson(ref: string, extra: string[] = []): Promise<ExplainJson['explanations'][number]> {
      const result = await meshinitCli(['explain', ref, '-n', SHOP, '--kubeconfig', admin(), '-o', 'json', ...extra]);
      expect(result.code, result.stderr).to.equal(0);
      const parsed = JSON.parse(result.stdout) as ExplainJson;
      expect(parsed.explanations).to.have.length(1);
      return parsed.explanations[0]!;
    }

    before(async function () {
      plane = await startControlPlane(release ? { release } : {});
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-explain-'));
      await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SHOP, labels: { mesh: 'enabled' } } }]);
    });

    after(async function () {
      await meshinit?.stop();
      await plane?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('without the MeshConfig CRD: exit 1, saying the CRD is missing and how to install it', async function () {
      await apply([deployment('web')]);
      const result = await meshinitCli(['explain', 'deployment/web', '-n', SHOP, '--kubeconfig', admin()]);
      expect(result.code).to.equal(1);
      expect(result.stderr).to.include('MeshConfig CRD (meshconfigs.meshinit.dev) is not installed').and.include('kubectl apply -f crds/meshconfig');
      expect(result.stdout).to.equal('');
    });

    it('names the MeshConfig that matched and why each other lost, and the decision of the mode this server runs', async function () {
      // README.md's install: the CRD of the server's generation, then the sample and our two.
      await mustKubectl(admin(), ['apply', ...validate, '-f', release ? 'crds/meshconfig.v1beta1.yaml' : 'crds/meshconfig.v1.yaml']);
      await mustKubectl(admin(), ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/meshconfigs.meshinit.dev']);
      await mustKubectl(admin(), ['apply', ...validate, '-f', 'manifests/meshconfig-sample.yaml']);
      await apply(MESHCONFIGS);

      const explained = await explainJson('deployment.apps/web');
      expect(explained.workload).to.deep.equal({ kind: 'Deployment', namespace: SHOP, name: 'web' });
      expect(explained.namespace.labels).to.deep.include({ mesh: 'enabled' });
      expect(explained.namespace.labelsKnown).to.equal(true);
      expect(explained.selected).to.equal('shop-mesh');
      const byName = Object.fromEntries(explained.meshConfigs.map((mc) => [mc.name, mc]));
      expect(explained.meshConfigs.map((mc) => mc.name), 'in the order they are tried').to.deep.equal(['batch-only', 'shop-mesh', 'default']);
      expect(byName['batch-only']).to.include({ verdict: 'kind', reason: 'kinds Job do not include Deployment' });
      expect(byName['default']).to.include({ verdict: 'lowerPriority', lostTo: 'shop-mesh', reason: 'matches, but MeshConfig shop-mesh has a higher priority (10 > 0)' });
      const mode = release ? 'initializer' : 'webhook';
      expect(explained.decisions).to.deep.equal([{ mode, action: 'injected', reason: 'selected by MeshConfig shop-mesh (policy Enabled)', meshConfig: 'shop-mesh' }]);
      expect(explained.injection?.containers).to.deep.equal([{ name: 'shop-proxy', image: 'shop/proxy:1.0' }]);
      expect(explained.injected.state).to.equal('none');

      // kubectl's other spellings, and the text output.
      const text = await meshinitCli(['explain', 'deploy', 'web', '-n', SHOP, '--kubeconfig', admin()]);
      expect(text.code, text.stderr).to.equal(0);
      expect(text.stdout).to.include(`Deployment ${SHOP}/web (cluster ${plane.server})`).and.include('not selected: kinds Job do not include Deployment').and.not.include('undefined');
    });

    it('a Job, explained for the webhook mode on request (--mode); an object that does not exist is exit 1 with what to check', async function () {
      await apply([job('nightly')]);
      const explained = await explainJson('job/nightly', ['--mode', 'webhook']);
      expect(explained.selected).to.equal('batch-only');
      expect(explained.decisions[0]).to.include({ mode: 'webhook', action: 'injected' });
      const missing = await meshinitCli(['explain', 'sts/nope', '-n', SHOP, '--kubeconfig', admin()]);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.include(`StatefulSet ${SHOP}/nope not found`).and.include('kubectl get statefulsets -n e2e-shop');
    });

    it('403 for an identity without RBAC: exit 1 with the permissions explain needs', async function () {
      const nobody = await plane.kubeconfigFor({ user: 'e2e-nobody', groups: [] });
      const result = await meshinitCli(['explain', 'deployment/web', '-n', SHOP, '--kubeconfig', nobody]);
      expect(result.code, result.stdout).to.equal(1);
      expect(result.stderr).to.include('forbidden').and.include('e2e-nobody').and.include('kubectl create clusterrole meshinit-explain');
    });

    if (release === 'v1.13.0') {
      it('with the controller running: the decision words equal the `reason` of its log line for the same workload', async function () {
        await mustKubectl(admin(), ['apply', '-k', 'manifests/initializer']);
        const healthPort = await freePort();
        meshinit = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', `127.0.0.1:${healthPort}`]);
        await meshinit.waitForLog((l) => l.message === 'Initializer controller running', 'the controller running', 30_000);
        await waitForPendingList(plane, (n) => deployment(`probe-${n}`, { 'sidecar.meshinit.dev/inject': 'false' }), [OURS]);

        await apply([deployment('api'), deployment('report', { 'sidecar.meshinit.dev/inject': 'false' }), job('migrate')]);
        const logged = async (name: string): Promise<string> => String((await meshinit!.waitForLog((l) => l.name === name && typeof l.reason === 'string', `the decision on ${name}`)).reason);

        // Released and skipped: the controller's reason, word for word.
        const migrate = await explainJson('job/migrate');
        expect(migrate.decisions[0]!.action).to.equal('released');
        expect(migrate.decisions[0]!.reason).to.equal(await logged('migrate'));
        const report = await explainJson('deployment/report');
        expect(report.decisions[0]!.reason).to.equal(await logged('report'));

        // Injected: live, the same words and that it carries the current injection; offline, from
        // the manifest and the cluster's MeshConfigs as `kubectl get` prints them, the same words.
        const api = await explainJson('deploy/api');
        expect(api.injected.state).to.equal('current');
        expect(api.decisions[0]).to.deep.include({ action: 'injected', reason: await logged('api') });
        const meshConfigsFile = path.join(dir, 'meshconfigs.yaml');
        fs.writeFileSync(meshConfigsFile, (await mustKubectl(admin(), ['get', 'meshconfigs', '-o', 'yaml'])).stdout);
        const manifest = path.join(dir, 'api.yaml');
        fs.writeFileSync(manifest, stringify(deployment('api')));
        const offline = await meshinitCli(['explain', '-f', manifest, '--meshconfig', meshConfigsFile, '--namespace-labels', 'mesh=enabled', '--mode', 'initializer', '-o', 'json']);
        expect(offline.code, offline.stderr).to.equal(0);
        const offlineDecision = (JSON.parse(offline.stdout) as ExplainJson).explanations[0]!.decisions[0]!;
        expect(offlineDecision.action).to.equal('injected');
        expect(offlineDecision.reason).to.equal(await logged('api'));

        // A MeshConfig edit: the workload now carries an older injection.
        await mustKubectl(admin(), ['patch', 'meshconfig', 'shop-mesh', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/sidecar/containers/0/image","value":"shop/proxy:2.0"}]']);
        const outdated = await waitUntil(async () => {
          const now = await explainJson('deploy/api');
          return now.injected.state === 'outdated' ? now : undefined;
        }, 'explain to see the older injection');
        expect(outdated.injection?.containers).to.deep.equal([{ name: 'shop-proxy', image: 'shop/proxy:2.0' }]);
      });
    }
  });
}
