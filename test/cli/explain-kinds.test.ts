// `meshinit explain -f` for every kind that carries a pod template, not only the four the
// Initializer mode holds: each decision is the one the mode makes (the same core functions, the
// same reason and code), the Initializer mode says plainly that it does not hold the kind, and the
// webhook says what --target pods does instead. Real-world-shaped objects: what `kubectl get -o
// yaml` prints for a Deployment's ReplicaSet, a CronJob's Job, an Istio-injected Deployment.
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { initializerNotHeldReason, JOB_RELEASE_REASON, targetPodsReason, templateOwnerReason } from '../../controller/core/outcome.ts';
import { POD_TEMPLATE_KINDS, WORKLOAD_KINDS } from '../../controller/core/types.ts';
import { REPO_ROOT, runExplain, runInject } from './helpers.ts';

interface Decision { mode: string; action: string; reason: string; code: string; meshConfig?: string; warning?: string; targetPods?: string }
interface Explained {
  workload: { kind: string; namespace: string; name: string };
  selected: string | null;
  decisions: Decision[];
  injection: { containers: Array<{ name: string }>; patch: Array<{ op: string; path: string }> } | null;
}
interface Report { explainVersion: number; explanations: Explained[]; passedOver: unknown[] }

const SAMPLE = ['--meshconfig', 'manifests/meshconfig-sample.yaml'];
const template = (app: string): Record<string, unknown> => ({ metadata: { labels: { app } }, spec: { containers: [{ name: app, image: `shop/${app}:1.0` }] } });

const CRONJOB = {
  apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly-report', namespace: 'shop', uid: 'c0ffee00-0000-4000-8000-000000000001' },
  spec: { schedule: '0 3 * * *', concurrencyPolicy: 'Forbid', jobTemplate: { spec: { backoffLimit: 2, template: { ...template('report'), spec: { restartPolicy: 'OnFailure', containers: [{ name: 'report', image: 'shop/report:1.0' }] } } } } },
};
// What the CronJob controller creates: the Job carries the template and a controller reference back.
const CRONJOB_JOB = {
  apiVersion: 'batch/v1', kind: 'Job',
  metadata: {
    name: 'nightly-report-29012345', namespace: 'shop', labels: { app: 'report' },
    ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly-report', uid: 'c0ffee00-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true }],
  },
  spec: { template: { ...template('report'), spec: { restartPolicy: 'OnFailure', containers: [{ name: 'report', image: 'shop/report:1.0' }] } } },
};
const REPLICASET = {
  apiVersion: 'apps/v1', kind: 'ReplicaSet',
  metadata: {
    name: 'checkout-7d4b9c8f6d', namespace: 'shop', labels: { app: 'checkout', 'pod-template-hash': '7d4b9c8f6d' },
    annotations: { 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/revision': '2' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'checkout', uid: 'c0ffee00-0000-4000-8000-000000000002', controller: true, blockOwnerDeletion: true }],
  },
  spec: { replicas: 3, selector: { matchLabels: { app: 'checkout', 'pod-template-hash': '7d4b9c8f6d' } }, template: template('checkout') },
};
const RC = { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'legacy', namespace: 'shop' }, spec: { replicas: 1, selector: { app: 'legacy' }, template: template('legacy') } };
const DC = { apiVersion: 'apps.openshift.io/v1', kind: 'DeploymentConfig', metadata: { name: 'frontend', namespace: 'shop' }, spec: { replicas: 2, selector: { app: 'frontend' }, template: template('frontend') } };
const BARE_POD = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug', namespace: 'shop', labels: { app: 'debug' } }, spec: { containers: [{ name: 'shell', image: 'busybox:1.36', command: ['sleep', '3600'] }] } };

function documents(...objects: unknown[]): string {
  return objects.map((object) => stringify(object)).join('---\n');
}

async function explainJson(stdin: string, extra: string[] = []): Promise<Report> {
  const result = await runExplain(['-f', '-', ...SAMPLE, ...extra, '-o', 'json'], { stdin });
  expect(result.code, result.stderr).to.equal(0);
  expect(result.stderr).to.equal('');
  return JSON.parse(result.stdout) as Report;
}

function byMode(explained: Explained): Record<string, Decision> {
  return Object.fromEntries(explained.decisions.map((decision) => [decision.mode, decision]));
}

describe('meshinit explain -f for every pod-template kind', () => {
  it('a CronJob: injected by the webhook (--target workloads) into spec.jobTemplate.spec.template, not held by the Initializer mode', async () => {
    const report = await explainJson(documents(CRONJOB));
    expect(report.explainVersion).to.equal(1);
    expect(report.passedOver).to.deep.equal([]);
    const [cron] = report.explanations;
    expect(cron!.workload).to.deep.equal({ kind: 'CronJob', namespace: 'shop', name: 'nightly-report' });
    const { initializer, webhook } = byMode(cron!);
    expect(initializer).to.deep.equal({
      mode: 'initializer', action: 'not-held', code: 'not_targeted',
      reason: 'the Initializer mode does not hold CronJobs: its InitializerConfiguration lists Deployments, StatefulSets, DaemonSets and Jobs (with --job-pods it injects their Jobs\' Pods)',
    });
    expect(webhook).to.deep.equal({
      mode: 'webhook', action: 'injected', reason: 'selected by MeshConfig default (policy Enabled)', code: 'policy_enabled', meshConfig: 'default',
      targetPods: 'the webhook with --target pods does not mutate CronJobs and injects their Jobs\' Pods',
    });
    expect(cron!.injection!.containers.map((c) => c.name)).to.include('mesh-proxy');
    expect(cron!.injection!.patch.length).to.be.greaterThan(0);
    // Beside the CronJob's own annotation (as for a Deployment), only the Job template inside it changes.
    const paths = cron!.injection!.patch.map((op) => op.path).filter((at) => at !== '/metadata/annotations');
    expect(paths).to.include('/spec/jobTemplate/spec/template/spec/containers/1');
    for (const at of paths) expect(at, 'the patch edits the Job template inside the CronJob').to.match(/^\/spec\/jobTemplate\/spec\/template\//);
  });

  it('the same CronJob as "meshinit inject" injects it: the patch adds what inject adds', async () => {
    const result = await runExplain(['-f', '-', ...SAMPLE, '--mode', 'webhook', '-o', 'text'], { stdin: documents(CRONJOB) });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include('Decision (webhook mode): injected: selected by MeshConfig default (policy Enabled)\n      note: the webhook with --target pods does not mutate CronJobs and injects their Jobs\' Pods');
    expect(result.stdout).to.match(/\n {2}Sidecar \(MeshConfig default, /);
  });

  it('what "meshinit inject" made of a CronJob, a ReplicaSet and a bare Pod carries the current injection (the record is read where each kind keeps its template)', async () => {
    const standalone = { ...REPLICASET, metadata: { name: 'standalone', namespace: 'shop' } };
    const injected = await runInject(['-f', '-', ...SAMPLE], { stdin: documents(CRONJOB, standalone, BARE_POD) });
    expect(injected.code, injected.stderr).to.equal(0);
    const report = await explainJson(injected.stdout, ['--mode', 'webhook']);
    expect(report.explanations.map((e) => [e.workload.kind, (e as Explained & { injected: { state: string } }).injected.state])).to.deep.equal([
      ['CronJob', 'current'], ['ReplicaSet', 'current'], ['Pod', 'current'],
    ]);
    const before = await explainJson(documents(CRONJOB), ['--mode', 'webhook']);
    expect((before.explanations[0] as Explained & { injected: { state: string } }).injected.state).to.equal('none');
  });

  it('a Deployment\'s ReplicaSet and a CronJob\'s Job: skipped as copies (template_copied), naming the controller to inject', async () => {
    const report = await explainJson(documents(REPLICASET, CRONJOB_JOB));
    const [rs, job] = report.explanations;
    const rsModes = byMode(rs!);
    expect(rsModes.webhook).to.deep.equal({
      mode: 'webhook', action: 'skipped', code: 'template_copied', reason: templateOwnerReason('ReplicaSet', { kind: 'Deployment', name: 'checkout' }),
      targetPods: targetPodsReason('ReplicaSet'),
    });
    expect(rsModes.webhook!.reason).to.equal('its pod template is copied from its controller, Deployment checkout: meshinit injects the Deployment\'s template ("meshinit inject", or the webhook with --target workloads), not the ReplicaSet made from it');
    expect(rsModes.initializer).to.deep.equal({ mode: 'initializer', action: 'not-held', code: 'not_targeted', reason: initializerNotHeldReason('ReplicaSet') });
    expect(rs!.injection, 'nothing is added to a copy').to.equal(null);
    const jobModes = byMode(job!);
    const copied = templateOwnerReason('Job', { kind: 'CronJob', name: 'nightly-report' });
    expect(jobModes.webhook).to.deep.equal({ mode: 'webhook', action: 'skipped', code: 'template_copied', reason: copied });
    // The Initializer holds Jobs: it releases the CronJob's Job with a warning, as it logs it.
    expect(jobModes.initializer).to.deep.equal({ mode: 'initializer', action: 'released', code: 'template_copied', reason: `${copied}; or run meshinit with --job-pods to inject the Job's Pods` });
  });

  it('an Istio-injected Deployment: skipped by every mode with code other_mesh, and the webhook warns kubectl', async () => {
    const text = await readFile(path.join(REPO_ROOT, 'test/cli/golden/other-mesh.yaml'), 'utf8');
    const report = await explainJson(text);
    const ratings = report.explanations.find((e) => e.workload.name === 'ratings')!;
    const { initializer, webhook } = byMode(ratings);
    expect(initializer).to.include({ action: 'skipped', code: 'other_mesh' });
    expect(webhook).to.include({ action: 'skipped', code: 'other_mesh', reason: initializer!.reason });
    expect(initializer!.reason).to.match(/^the pod template belongs to another mesh, Istio \(.*istio-proxy.*\): two meshes in one pod/);
    expect(webhook!.warning).to.equal(`meshinit did not inject its sidecar: ${webhook!.reason}`);
    expect(webhook!.targetPods, 'a Deployment: the decision holds for --target pods too').to.equal(undefined);
    expect(ratings.injection).to.equal(null);
  });

  it('a ReplicationController, a DeploymentConfig and a bare Pod: injected by the webhook, each not held by the Initializer mode', async () => {
    const report = await explainJson(documents(RC, DC, BARE_POD));
    expect(report.explanations.map((e) => e.workload.kind)).to.deep.equal(['ReplicationController', 'DeploymentConfig', 'Pod']);
    for (const explained of report.explanations) {
      const kind = explained.workload.kind as (typeof POD_TEMPLATE_KINDS)[number];
      const { initializer, webhook } = byMode(explained);
      expect(initializer, kind).to.deep.equal({ mode: 'initializer', action: 'not-held', code: 'not_targeted', reason: initializerNotHeldReason(kind) });
      expect(webhook, kind).to.include({ action: 'injected', code: 'policy_enabled', meshConfig: 'default', targetPods: targetPodsReason(kind) });
    }
    const pod = report.explanations[2]!;
    expect(byMode(pod).initializer!.reason).to.equal('the Initializer mode does not hold bare Pods: its InitializerConfiguration lists Deployments, StatefulSets, DaemonSets and Jobs');
    expect(byMode(pod).webhook!.targetPods).to.equal('the webhook with --target pods injects only Pods that have a controller');
    expect(pod.injection!.patch.every((op) => op.path.startsWith('/spec/') || op.path.startsWith('/metadata/')), 'a Pod is its own template').to.equal(true);
    expect(byMode(report.explanations[0]!).webhook!.targetPods).to.equal('the webhook with --target pods does not mutate ReplicationControllers and does not inject their Pods');
  });

  it('the four workload kinds get a verdict from the Initializer mode and no --target pods note; every other kind gets both', async () => {
    const objects = POD_TEMPLATE_KINDS.map((kind) => {
      const base = { apiVersion: 'v1', kind, metadata: { name: kind.toLowerCase(), namespace: 'shop' } };
      if (kind === 'Pod') return { ...base, spec: { containers: [{ name: 'c', image: 'i:1' }] } };
      if (kind === 'CronJob') return { ...base, spec: { jobTemplate: { spec: { template: template('c') } } } };
      return { ...base, spec: { selector: { matchLabels: { app: 'c' } }, template: template('c') } };
    });
    const report = await explainJson(documents(...objects));
    expect(report.explanations.map((e) => e.workload.kind)).to.deep.equal([...POD_TEMPLATE_KINDS]);
    for (const explained of report.explanations) {
      const held = (WORKLOAD_KINDS as readonly string[]).includes(explained.workload.kind);
      const { initializer, webhook } = byMode(explained);
      expect(initializer!.action === 'not-held', explained.workload.kind).to.equal(!held);
      expect(webhook!.targetPods === undefined, explained.workload.kind).to.equal(held);
      expect(webhook!.action, explained.workload.kind).to.equal('injected');
    }
    expect(byMode(report.explanations.find((e) => e.workload.kind === 'Job')!).initializer!.reason).to.equal(JOB_RELEASE_REASON);
  });

  it('a malformed CronJob is passed over with the reason, and the other documents are still explained', async () => {
    const broken = { ...CRONJOB, metadata: { name: 'broken', namespace: 'shop' }, spec: { schedule: '* * * * *', jobTemplate: { spec: {} } } };
    const report = await explainJson(documents(broken, RC));
    expect(report.passedOver).to.deep.equal([{ source: '<stdin>: document 1', kind: 'CronJob', name: 'broken', reason: 'malformed, the controller would release it unchanged: CronJob broken has no spec.jobTemplate.spec.template.spec.containers list' }]);
    expect(report.explanations.map((e) => e.workload.name)).to.deep.equal(['legacy']);
  });
});
