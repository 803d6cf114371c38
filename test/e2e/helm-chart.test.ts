// charts/meshinit renders the same objects as the kustomize sets in manifests/, in both modes: each
// set is compared object by object (apiVersion/kind/namespace/name) with `kubectl kustomize`, after
// dropping only the three Helm labels (helm.sh/chart, app.kubernetes.io/managed-by,
// app.kubernetes.io/instance: their values are checked) from each object's metadata.labels. The
// CRD is compared with crds/ instead (kustomize leaves it out), forgiving those labels and the
// helm.sh/resource-policy annotation. Needs the helm binary of `make helm`.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parse } from 'yaml';
import { helm, mustHelm } from '../helm/helm.ts';
import { compareObjectSets, helmLabels, indexObjects, parseObjects, withoutLabels, type Json } from '../helm/object-sets.ts';
import { repoRoot } from '../support/transcripts.ts';
import { readYaml } from './cluster.ts';

const execFileAsync = promisify(execFile);
const CHART_DIR = 'charts/meshinit';
const chart = parse(fs.readFileSync(path.join(repoRoot, CHART_DIR, 'Chart.yaml'), 'utf8')) as { name: string; version: string; appVersion: string };
const HELM_LABELS = helmLabels('meshinit', chart);
const RESOURCE_POLICY = 'helm.sh/resource-policy';

async function kustomize(set: string): Promise<Json[]> {
  const { stdout } = await execFileAsync('kubectl', ['kustomize', `manifests/${set}`], { cwd: repoRoot });
  return parseObjects(stdout, `kubectl kustomize manifests/${set}`);
}

/** `helm template meshinit charts/meshinit --namespace NS ARGS...`, parsed. */
async function render(args: string[], namespace = 'meshinit-system'): Promise<Json[]> {
  const { stdout } = await mustHelm(['template', 'meshinit', CHART_DIR, '--namespace', namespace, ...args]);
  return parseObjects(stdout, 'helm template');
}

const isCrd = (o: Json): boolean => o.kind === 'CustomResourceDefinition';

/** The chart's objects without the Helm labels (each checked) and without the CRD; the CRD apart. */
function split(objects: Json[]): { objects: Map<string, Json>; crd: Json | undefined } {
  const problems: string[] = [];
  const stripped = objects.map((o) => {
    const result = withoutLabels(o, HELM_LABELS);
    problems.push(...result.problems);
    return result.object;
  });
  expect(problems, 'Helm labels').to.deep.equal([]);
  const crds = stripped.filter(isCrd);
  expect(crds.length, 'at most one CRD').to.be.at.most(1);
  return { objects: indexObjects(stripped.filter((o) => !isCrd(o)), 'helm template'), crd: crds[0] };
}

function expectSameSets(kustomized: Json[], rendered: Map<string, Json>, what: string): void {
  const lines = compareObjectSets(indexObjects(kustomized, what), rendered, { left: what, right: 'chart' });
  expect(lines, `the chart differs from ${what}:\n  ${lines.join('\n  ')}\n`).to.deep.equal([]);
}

/** The chart's CRD is crds/FILE plus exactly the resource-policy annotation. */
function expectCrdFrom(crd: Json | undefined, file: string): void {
  expect(crd, `a CRD (${file})`).to.not.equal(undefined);
  const annotations = { ...(((crd!.metadata as Json).annotations ?? {}) as Record<string, string>) };
  expect(annotations[RESOURCE_POLICY], 'kept on helm uninstall').to.equal('keep');
  delete annotations[RESOURCE_POLICY];
  const copy = structuredClone(crd!);
  if (Object.keys(annotations).length > 0) (copy.metadata as Json).annotations = annotations;
  else delete (copy.metadata as Json).annotations;
  const source = parseObjects(fs.readFileSync(path.join(repoRoot, 'crds', file), 'utf8'), file);
  expectSameSets(source, indexObjects([copy], 'chart CRD'), `crds/${file}`);
}

/** The values that render manifests/monitoring (the *-monitoring overlays). */
const MONITORING = ['--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.prometheusRule.enabled=true', '--set', 'metrics.dashboard.enabled=true'];

const SETS = [
  { set: 'initializer', args: [] as string[], crd: 'meshconfig.v1beta1.yaml' },
  // The Pods rule is refused on a first install (every Pod would wait for a meshinit not running
  // yet): rendered as the upgrade it must be.
  { set: 'initializer-job-pods', args: ['--set', 'initializer.jobPods=true', '--is-upgrade'], crd: 'meshconfig.v1beta1.yaml' },
  { set: 'webhook', args: ['--set', 'mode=webhook'], crd: 'meshconfig.v1.yaml' },
  { set: 'overlays/initializer-monitoring', args: MONITORING, crd: 'meshconfig.v1beta1.yaml' },
  { set: 'overlays/webhook-monitoring', args: ['--set', 'mode=webhook', ...MONITORING], crd: 'meshconfig.v1.yaml' },
];

describe('Helm chart charts/meshinit (helm template, helm lint)', function () {
  this.timeout(60_000);

  it('passes helm lint --strict in both modes', async function () {
    for (const args of [['--kube-version', '1.13.0'], ['--set', 'mode=webhook'], ['--set', 'mode=webhook', ...MONITORING, '--set', 'namespace.create=true'], ['--kube-version', '1.13.0', ...MONITORING, '--set', 'leaderElection.enabled=false']]) {
      const result = await helm(['lint', '--strict', CHART_DIR, ...args]);
      expect(result.code, `helm lint ${args.join(' ')}:\n${result.stdout}${result.stderr}`).to.equal(0);
      expect(result.stdout).to.include('1 chart(s) linted, 0 chart(s) failed');
    }
  });

  for (const { set, args, crd } of SETS) {
    it(`renders the objects of kubectl kustomize manifests/${set}, and the CRD of crds/${crd}`, async function () {
      const { objects, crd: rendered } = split(await render(['--set', 'namespace.create=true', ...args]));
      expectSameSets(await kustomize(set), objects, `kubectl kustomize manifests/${set}`);
      expectCrdFrom(rendered, crd);
    });
  }

  it('without namespace.create (helm install --create-namespace), the same objects but the Namespace', async function () {
    for (const { set, args } of SETS) {
      const expected = (await kustomize(set)).filter((o) => o.kind !== 'Namespace');
      expect(expected.length, `${set} has objects besides its Namespace`).to.be.greaterThan(3);
      expectSameSets(expected, split(await render(args)).objects, `manifests/${set} without its Namespace`);
    }
  });

  it('image, replicas and resources change only those fields of the Deployment', async function () {
    const { objects } = split(await render([
      '--set', 'namespace.create=true', '--set', 'replicas=3', '--set', 'image.repository=registry.example/meshinit', '--set', 'image.tag=0.2.0',
      '--set', 'image.pullPolicy=Always', '--set', 'resources.limits.memory=512Mi', '--set', 'resources.requests.cpu=100m',
    ]));
    const lines = compareObjectSets(indexObjects(await kustomize('initializer'), 'kustomize'), objects, { left: 'kustomize', right: 'chart' });
    const at = 'apps/v1 Deployment meshinit-system/meshinit: ';
    expect(lines).to.have.members([
      `${at}spec.replicas: 2 vs 3 (kustomize vs chart)`,
      `${at}spec.template.spec.containers[0].image: "ghcr.io/meshinit/meshinit:0.1.0" vs "registry.example/meshinit:0.2.0" (kustomize vs chart)`,
      `${at}spec.template.spec.containers[0].imagePullPolicy: "IfNotPresent" vs "Always" (kustomize vs chart)`,
      `${at}spec.template.spec.containers[0].resources.limits.memory: "256Mi" vs "512Mi" (kustomize vs chart)`,
      `${at}spec.template.spec.containers[0].resources.requests.cpu: "50m" vs "100m" (kustomize vs chart)`,
    ]);
    expect(lines).to.have.length(5);
  });

  it('puts every namespaced object, the webhook\'s Service reference and the RBAC subject in the release namespace', async function () {
    const objects = await render(['--set', 'mode=webhook', '--set', 'namespace.create=true'], 'mesh');
    for (const o of objects) {
      const meta = o.metadata as Json;
      if (['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'CustomResourceDefinition'].includes(String(o.kind))) {
        expect(meta.namespace, `${String(o.kind)} is cluster-scoped`).to.equal(undefined);
      } else {
        expect(meta.namespace, `${String(o.kind)} ${String(meta.name)}`).to.equal('mesh');
      }
    }
    const byKind = (kind: string): Json => objects.find((o) => o.kind === kind)!;
    expect((byKind('Namespace').metadata as Json).name).to.equal('mesh');
    const webhook = (byKind('MutatingWebhookConfiguration').webhooks as Json[])[0]!;
    expect(((webhook.clientConfig as Json).service as Json).namespace).to.equal('mesh');
    expect(JSON.stringify(webhook.namespaceSelector)).to.include('"values":["kube-system","kube-public","kube-node-lease","mesh"]');
    expect((byKind('MutatingWebhookConfiguration').metadata as Json).annotations).to.deep.equal({ 'cert-manager.io/inject-ca-from': 'mesh/meshinit-webhook' });
    expect((byKind('ClusterRoleBinding').subjects as Json[])[0]).to.deep.equal({ kind: 'ServiceAccount', name: 'meshinit', namespace: 'mesh' });
  });

  it('webhook values: caBundle is written into clientConfig; no cert-manager annotation when its Certificate is empty; another TLS Secret', async function () {
    const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
    const objects = await render(['--set', 'mode=webhook', '--set', `webhook.caBundle=${caBundle}`, '--set', 'webhook.certManagerCertificate=', '--set', 'webhook.tlsSecretName=my-tls']);
    const config = objects.find((o) => o.kind === 'MutatingWebhookConfiguration')!;
    expect(((config.webhooks as Json[])[0]!.clientConfig as Json).caBundle).to.equal(caBundle);
    expect((config.metadata as Json).annotations).to.equal(undefined);
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    expect(JSON.stringify(deployment)).to.include('"secret":{"secretName":"my-tls"}');
  });

  it('each metrics value adds exactly its objects of manifests/monitoring, in both modes; the labels values label them', async function () {
    const added = {
      'metrics.serviceMonitor.enabled': ['v1 Service meshinit-system/meshinit-metrics', 'monitoring.coreos.com/v1 ServiceMonitor meshinit-system/meshinit'],
      'metrics.prometheusRule.enabled': ['monitoring.coreos.com/v1 PrometheusRule meshinit-system/meshinit'],
      'metrics.dashboard.enabled': ['v1 ConfigMap meshinit-system/meshinit-grafana-dashboard'],
    };
    for (const mode of ['initializer', 'webhook']) {
      const base = split(await render(['--set', `mode=${mode}`])).objects;
      for (const [value, keys] of Object.entries(added)) {
        const objects = split(await render(['--set', `mode=${mode}`, '--set', `${value}=true`])).objects;
        expect(compareObjectSets(base, objects, { left: 'default', right: value }), `${mode} ${value}`).to.have.members(keys.map((k) => `${k}: only in ${value}`));
      }
      const objects = split(await render(['--set', `mode=${mode}`, ...MONITORING, '--set', 'metrics.serviceMonitor.interval=15s',
        '--set', 'metrics.serviceMonitor.labels.release=prometheus', '--set', 'metrics.prometheusRule.labels.role=alert-rules'])).objects;
      const monitor = objects.get('monitoring.coreos.com/v1 ServiceMonitor meshinit-system/meshinit')!;
      expect((monitor.metadata as Json).labels).to.deep.equal({ 'app.kubernetes.io/name': 'meshinit', 'app.kubernetes.io/part-of': 'meshinit', release: 'prometheus' });
      expect(((monitor.spec as Json).endpoints as Json[])[0]).to.deep.equal({ port: 'metrics', path: '/metrics', interval: '15s' });
      const rule = objects.get('monitoring.coreos.com/v1 PrometheusRule meshinit-system/meshinit')!;
      expect((rule.metadata as Json).labels).to.deep.equal({ 'app.kubernetes.io/name': 'meshinit', 'app.kubernetes.io/part-of': 'meshinit', role: 'alert-rules' });
      // The Service's selector picks the Deployment's Pods; its target port is the container's.
      const service = objects.get('v1 Service meshinit-system/meshinit-metrics')!;
      const deployment = [...objects.values()].find((o) => o.kind === 'Deployment')!;
      const template = (deployment.spec as Json).template as { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ ports: Json[] }> } };
      expect(template.metadata.labels).to.include((service.spec as Json).selector as Record<string, string>);
      expect(template.spec.containers[0]!.ports).to.deep.include({ name: (((service.spec as Json).ports as Json[])[0]!).targetPort, containerPort: 9090, protocol: 'TCP' });
    }
  });

  it('the alert rules keep their own {{ $labels }} templates (Helm does not expand them) and the dashboard is the JSON file', async function () {
    const objects = split(await render(MONITORING, 'mesh')).objects;
    const rule = objects.get('monitoring.coreos.com/v1 PrometheusRule mesh/meshinit')!;
    expect(JSON.stringify(rule.spec)).to.include('meshinit replica {{ $labels.pod }} is not ready');
    const dashboard = objects.get('v1 ConfigMap mesh/meshinit-grafana-dashboard')!;
    expect((dashboard.data as Record<string, string>)['grafana-dashboard.json']).to.equal(fs.readFileSync(path.join(repoRoot, 'manifests/monitoring/grafana-dashboard.json'), 'utf8'));
  });

  it('leaderElection.enabled=false: --leader-elect=false and no leader-election Role, nothing else changes, in both modes; webhook.rollout=true adds the rollout ClusterRole', async function () {
    const objects = split(await render(['--set', 'namespace.create=true', '--set', 'leaderElection.enabled=false'])).objects;
    const lines = compareObjectSets(indexObjects(await kustomize('initializer'), 'kustomize'), objects, { left: 'kustomize', right: 'chart' });
    expect(lines).to.have.members([
      'rbac.authorization.k8s.io/v1 Role meshinit-system/meshinit-leader-election: only in kustomize',
      'rbac.authorization.k8s.io/v1 RoleBinding meshinit-system/meshinit-leader-election: only in kustomize',
      'apps/v1 Deployment meshinit-system/meshinit: spec.template.spec.containers[0].args: ["run","--mode","initializer","--health-addr",":9090"] vs ["run","--mode","initializer","--health-addr",":9090","--leader-elect=false"] (kustomize vs chart)',
    ]);
    const jobPods = split(await render(['--set', 'leaderElection.enabled=false', '--set', 'initializer.jobPods=true', '--is-upgrade'])).objects;
    const args = (((jobPods.get('apps/v1 Deployment meshinit-system/meshinit')!.spec as Json).template as Json).spec as { containers: Array<{ args: string[] }> }).containers[0]!.args;
    expect(args.slice(-2), 'as the initializer-job-pods overlay, --job-pods last').to.deep.equal(['--leader-elect=false', '--job-pods']);
    // Webhook mode: no lock unless rollouts are granted (webhook.rollout), as manifests/webhook.
    const webhook = split(await render(['--set', 'mode=webhook', '--set', 'leaderElection.enabled=false'])).objects;
    expect([...webhook.values()].filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding')).to.deep.equal([]);
    const webhookArgs = (((webhook.get('apps/v1 Deployment meshinit-system/meshinit')!.spec as Json).template as Json).spec as { containers: Array<{ args: string[] }> }).containers[0]!.args;
    expect(webhookArgs.at(-1)).to.equal('--leader-elect=false');
    const rollout = await render(['--set', 'mode=webhook', '--set', 'webhook.rollout=true']);
    for (const shipped of readYaml('manifests/webhook/rollout-rbac.yaml')) {
      const rendered = rollout.find((o) => o.kind === shipped.kind && (o.metadata as Json).name === (shipped.metadata as Json).name);
      expect(rendered, `${String(shipped.kind)} in the chart with webhook.rollout=true`).to.not.equal(undefined);
      expect(rendered!.rules ?? rendered!.roleRef).to.deep.equal(shipped.rules ?? shipped.roleRef);
    }
    const plain = await render(['--set', 'mode=webhook']);
    expect(plain.filter((o) => ['meshinit-webhook-rollout', 'meshinit-leader-election'].includes(String((o.metadata as Json).name)))).to.deep.equal([]);
  });

  it('crd.install=false leaves the CRD out', async function () {
    const objects = await render(['--set', 'crd.install=false']);
    expect(objects.filter(isCrd)).to.deep.equal([]);
    expect(objects.some((o) => o.kind === 'Deployment')).to.equal(true);
  });

  it('refuses impossible values with the reason: an unknown mode or key, jobPods in webhook mode, with one replica, or on a first install', async function () {
    const refusals: Array<[string[], string]> = [
      [['--set', 'mode=sidecar'], "at '/mode': value must be one of 'initializer', 'webhook'"],
      [['--set', 'replica=3'], "additional properties 'replica' not allowed"],
      [['--set', 'leaderElection.enable=false'], "additional properties 'enable' not allowed"],
      [['--set', 'metrics.dashboard.enabled=yes'], "at '/metrics/dashboard/enabled': got string, want boolean"],
      [['--set', 'mode=webhook', '--set', 'initializer.jobPods=true', '--is-upgrade'], 'initializer.jobPods needs mode=initializer'],
      [['--set', 'initializer.jobPods=true'], 'initializer.jobPods is refused on a first install'],
      [['--set', 'initializer.jobPods=true', '--set', 'replicas=1', '--is-upgrade'], 'initializer.jobPods needs replicas >= 2'],
    ];
    for (const [args, message] of refusals) {
      const result = await helm(['template', 'meshinit', CHART_DIR, '--namespace', 'meshinit-system', ...args]);
      expect(result.code, args.join(' ')).to.equal(1);
      expect(result.stderr, args.join(' ')).to.include(message);
      expect(result.stdout, 'nothing rendered').to.equal('');
    }
  });
});
