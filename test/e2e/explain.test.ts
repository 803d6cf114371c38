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
import { generateSelfSignedCertificates } from '../../controller/webhook/certificates.ts';
import { LEGACY_RELEASES, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { repoRoot } from '../support/transcripts.ts';
import { freePort, MeshinitProcess, mustCreate, mustKubectl, readYaml, waitForPendingList, waitUntil, type Json } from './cluster.ts';

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
    decisions: Array<{ mode: string; action: string; reason: string; code?: string }>;
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

/** A CronJob at the batch version the server serves it: batch/v1 from 1.21, batch/v1beta1 on 1.9-1.13. */
function cronJob(name: string, apiVersion: string): Json {
  return {
    apiVersion, kind: 'CronJob', metadata: { name, namespace: SHOP, labels: { app: name } },
    spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: { metadata: { labels: { app: name } }, spec: { restartPolicy: 'OnFailure', containers: [{ name: 'report', image: 'busybox:1.28' }] } } } } },
  };
}

const NOT_HELD_CRONJOB = 'the Initializer mode does not hold CronJobs: its InitializerConfiguration lists Deployments, StatefulSets, DaemonSets and Jobs (with --job-pods it injects their Jobs\' Pods)';
const TARGET_PODS_CRONJOB = 'the webhook with --target pods does not mutate CronJobs and injects their Jobs\' Pods';

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
      expect(explained.decisions).to.deep.equal([{ mode, action: 'injected', reason: 'selected by MeshConfig shop-mesh (policy Enabled)', code: 'policy_enabled', meshConfig: 'shop-mesh' }]);
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

    it('a Pod is explained as the workload that owns it', async function () {
      const uid = JSON.parse((await mustKubectl(admin(), ['get', 'job', 'nightly', '-n', SHOP, '-o', 'json'])).stdout).metadata.uid as string;
      await apply([{
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: 'nightly-x7k2p', namespace: SHOP, labels: { 'job-name': 'nightly' }, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'nightly', uid, controller: true }] },
        spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox:1.28' }] },
      }]);
      const result = await meshinitCli(['explain', 'pod/nightly-x7k2p', '-n', SHOP, '--kubeconfig', admin(), '-o', 'json']);
      expect(result.code, result.stderr).to.equal(0);
      const report = JSON.parse(result.stdout) as ExplainJson & { notes: string[] };
      expect(report.explanations[0]!.workload).to.deep.equal({ kind: 'Job', namespace: SHOP, name: 'nightly' });
      expect(report.notes).to.include(`Pod ${SHOP}/nightly-x7k2p belongs to Job ${SHOP}/nightly, explained here: a Pod is judged as its workload`);
    });

    it('a CronJob, read where the server serves it (batch/v1, or batch/v1beta1 on 1.9-1.13): injected by the webhook, not held by the Initializer mode', async function () {
      await apply([cronJob('nightly-report', release ? 'batch/v1beta1' : 'batch/v1')]);
      // shop-mesh and batch-only do not list CronJob; the sample lists every pod-template kind.
      const webhook = await explainJson('cj/nightly-report', ['--mode', 'webhook']);
      expect(webhook.workload).to.deep.equal({ kind: 'CronJob', namespace: SHOP, name: 'nightly-report' });
      expect(webhook.selected).to.equal('default');
      expect(webhook.decisions).to.deep.equal([{
        mode: 'webhook', action: 'injected', reason: 'selected by MeshConfig default (policy Enabled)', code: 'policy_enabled', meshConfig: 'default', targetPods: TARGET_PODS_CRONJOB,
      }]);
      expect(webhook.injection?.containers.map((c) => c.name)).to.include('mesh-proxy');
      const initializer = await explainJson('cronjobs.batch/nightly-report', ['--mode', 'initializer']);
      expect(initializer.decisions).to.deep.equal([{ mode: 'initializer', action: 'not-held', reason: NOT_HELD_CRONJOB, code: 'not_targeted' }]);
      // auto: the mode this server runs, in the same words.
      const text = await meshinitCli(['explain', 'cronjob', 'nightly-report', '-n', SHOP, '--kubeconfig', admin()]);
      expect(text.code, text.stderr).to.equal(0);
      expect(text.stdout).to.include(release ? `Decision (initializer mode): not-held: ${NOT_HELD_CRONJOB}` : `Decision (webhook mode): injected: selected by MeshConfig default (policy Enabled)\n      note: ${TARGET_PODS_CRONJOB}`);
      const missing = await meshinitCli(['explain', 'cj/nope', '-n', SHOP, '--kubeconfig', admin()]);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.include(`CronJob ${SHOP}/nope not found`).and.include('kubectl get cronjobs -n e2e-shop');
    });

    it('a ReplicaSet\'s Pod follows the owner chain: to the Deployment, or to the ReplicaSet when it has none (rs/NAME read from apps/v1)', async function () {
      const uidOf = async (kind: string, name: string): Promise<string> => JSON.parse((await mustKubectl(admin(), ['get', kind, name, '-n', SHOP, '-o', 'json'])).stdout).metadata.uid as string;
      const replicaSet = (name: string, owner?: Json): Json => ({
        apiVersion: 'apps/v1', kind: 'ReplicaSet',
        metadata: { name, namespace: SHOP, labels: { app: name }, ...(owner ? { ownerReferences: [owner] } : {}) },
        spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } },
      });
      const podOf = (name: string, rs: string, uid: string): Json => ({
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name, namespace: SHOP, labels: { app: rs }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid, controller: true }] },
        spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] },
      });
      await apply([replicaSet('web-5f7c9', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: await uidOf('deployment', 'web'), controller: true }), replicaSet('solo-rs')]);
      await apply([podOf('web-5f7c9-abcde', 'web-5f7c9', await uidOf('replicaset', 'web-5f7c9')), podOf('solo-rs-fghij', 'solo-rs', await uidOf('replicaset', 'solo-rs'))]);
      expect((await explainJson('pod/web-5f7c9-abcde')).workload).to.deep.equal({ kind: 'Deployment', namespace: SHOP, name: 'web' });
      const solo = await explainJson('pod/solo-rs-fghij', ['--mode', 'webhook']);
      expect(solo.workload).to.deep.equal({ kind: 'ReplicaSet', namespace: SHOP, name: 'solo-rs' });
      expect(solo.decisions[0]).to.deep.include({ action: 'injected', meshConfig: 'default' });
      const copy = await explainJson('rs/web-5f7c9', ['--mode', 'webhook']);
      expect(copy.decisions[0]).to.deep.include({ action: 'skipped', code: 'template_copied' });
    });

    it('a bare Pod is explained as itself', async function () {
      await apply([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug', namespace: SHOP, labels: { app: 'debug' } }, spec: { containers: [{ name: 'shell', image: 'busybox:1.28' }] } }]);
      const explained = await explainJson('pod/debug', ['--mode', 'webhook']);
      expect(explained.workload).to.deep.equal({ kind: 'Pod', namespace: SHOP, name: 'debug' });
      expect(explained.decisions[0]).to.deep.include({ action: 'injected', meshConfig: 'default', targetPods: 'the webhook with --target pods injects only Pods that have a controller' });
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

        // An invalid edit: the controller keeps the last valid version (recorded in its status),
        // and so does explain.
        // (A label value that is a number: the v1beta1 schema cannot type map values, meshinit refuses it.)
        await mustKubectl(admin(), ['patch', 'meshconfig', 'shop-mesh', '--type', 'merge', '-p', JSON.stringify({ spec: { sidecar: { podLabels: { 'mesh-version': 2 } } } })]);
        await waitUntil(async () => {
          const mc = JSON.parse((await mustKubectl(admin(), ['get', 'meshconfig', 'shop-mesh', '-o', 'json'])).stdout) as { status?: { conditions?: Array<{ type: string; status: string }> } };
          return mc.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'False') ? true : undefined;
        }, 'the controller to record the invalid edit in status');
        const invalid = await explainJson('deploy/api');
        const shopMesh = (invalid.meshConfigs as Array<Record<string, unknown>>).find((mc) => mc.name === 'shop-mesh');
        expect(shopMesh).to.deep.include({ verdict: 'selected', servingLastValid: true });
        expect(String((shopMesh!.problems as string[])[0])).to.include('podLabels');
        expect(invalid.injection?.containers, 'the last valid version: image 2.0').to.deep.equal([{ name: 'shop-proxy', image: 'shop/proxy:2.0' }]);
      });
    }

    if (release === undefined) {
      it('with the webhook running (--target workloads): the decision words equal the `reason` of its log line', async function () {
        const certDir = fs.mkdtempSync(path.join(dir, 'tls-'));
        const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
        fs.writeFileSync(path.join(certDir, 'tls.crt'), certs.certPem);
        fs.writeFileSync(path.join(certDir, 'tls.key'), certs.keyPem);
        await mustKubectl(admin(), ['apply', '-f', 'manifests/webhook/namespace.yaml', '-f', 'manifests/webhook/rbac.yaml']);
        const port = await freePort();
        const shipped = readYaml('manifests/webhook/mutatingwebhookconfiguration.yaml')[0] as { webhooks: Json[] };
        await mustCreate(plane, {
          apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'meshinit-explain-e2e' },
          webhooks: [{
            ...shipped.webhooks[0], name: 'workloads.sidecar.meshinit.dev', clientConfig: { url: `https://127.0.0.1:${port}/inject`, caBundle: Buffer.from(certs.caPem).toString('base64') },
            rules: [
              { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'], scope: 'Namespaced' },
              { apiGroups: ['batch'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['cronjobs'], scope: 'Namespaced' },
            ],
          }],
        });
        meshinit = new MeshinitProcess([
          'run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--webhook-addr', `127.0.0.1:${port}`,
          '--tls-cert-file', path.join(certDir, 'tls.crt'), '--tls-key-file', path.join(certDir, 'tls.key'), '--target', 'workloads',
        ]);
        await meshinit.waitForLog((l) => l.message === 'Webhook serving', 'the webhook serving', 30_000);
        // The webhook configuration takes a moment to reach the admission chain: wait for a dry run to be injected.
        await waitUntil(async () => {
          const reply = await plane.request('POST', `/apis/apps/v1/namespaces/${SHOP}/deployments?dryRun=All`, { body: deployment('probe') });
          return reply.body.includes('shop-proxy') ? true : undefined;
        }, 'the webhook to be called');

        await apply([deployment('api'), deployment('report', { 'sidecar.meshinit.dev/inject': 'false' })]);
        const logged = async (name: string): Promise<string> => String((await meshinit!.waitForLog((l) => l.name === name && l.dryRun === false && typeof l.reason === 'string', `the decision on ${name}`)).reason);
        const api = await explainJson('deploy/api');
        expect(api.injected.state).to.equal('current');
        expect(api.decisions[0]).to.deep.include({ mode: 'webhook', action: 'injected', reason: await logged('api') });
        const report = await explainJson('deploy/report');
        expect(report.decisions[0]).to.deep.include({ mode: 'webhook', action: 'skipped', reason: await logged('report') });

        // A CronJob: injected by the webhook into its Job template; explain says so in the logged words, and that it carries it.
        await apply([cronJob('weekly', 'batch/v1')]);
        const weekly = await explainJson('cj/weekly');
        const loggedWeekly = await logged('weekly');
        // As for deploy/api above: the decision the webhook makes for the object as it stands (the
        // server defaults the sidecar's fields, so it would be written again), in the logged words.
        expect(weekly.decisions[0]).to.deep.include({ mode: 'webhook', action: 'injected', reason: loggedWeekly });
        const created = JSON.parse((await mustKubectl(admin(), ['get', 'cronjob', 'weekly', '-n', SHOP, '-o', 'json'])).stdout) as { spec: { jobTemplate: { spec: { template: { spec: { containers: Array<{ name: string }> } } } } } };
        expect(created.spec.jobTemplate.spec.template.spec.containers.map((c) => c.name)).to.include('mesh-proxy');
        expect(weekly.injected.state).to.equal('current');
        // Offline, from the manifest as written: the decision the webhook logged for the create.
        const manifest = path.join(dir, 'weekly.yaml');
        fs.writeFileSync(manifest, stringify(cronJob('weekly', 'batch/v1')));
        const meshConfigsFile = path.join(dir, 'meshconfigs-modern.yaml');
        fs.writeFileSync(meshConfigsFile, (await mustKubectl(admin(), ['get', 'meshconfigs', '-o', 'yaml'])).stdout);
        const offline = await meshinitCli(['explain', '-f', manifest, '--meshconfig', meshConfigsFile, '--namespace-labels', 'mesh=enabled', '--mode', 'webhook', '-o', 'json']);
        expect(offline.code, offline.stderr).to.equal(0);
        expect((JSON.parse(offline.stdout) as ExplainJson).explanations[0]!.decisions[0]).to.deep.include({ action: 'injected', reason: loggedWeekly });
      });
    }
  });
}
