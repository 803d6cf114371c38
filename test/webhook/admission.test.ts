// The AdmissionReview adapter over the shared core, and the golden cases the CLI uses: a workload
// admitted through the webhook must come out exactly as `meshinit inject` writes it.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import jsonpatch from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import type { KubeObject, MeshConfig, NamespaceInfo } from '../../controller/core/types.ts';
import { admit, AdmissionRequestError, type AdmissionContext } from '../../controller/webhook/admission.ts';
import { repoRoot } from '../support/transcripts.ts';

const GOLDEN = path.join(repoRoot, 'test/cli/golden');

function goldenMeshConfig(overrides: Record<string, unknown> = {}): MeshConfig {
  const raw = parseAllDocuments(fs.readFileSync(path.join(GOLDEN, 'meshconfig.yaml'), 'utf8'))[0]!.toJS() as { spec: Record<string, unknown> };
  const parsed = parseMeshConfig({ ...raw, spec: { ...raw.spec, ...overrides } });
  if (!parsed.ok) throw parsed.error;
  return parsed.meshConfig;
}

function context(meshConfig: MeshConfig, target: 'pods' | 'workloads' = 'pods'): AdmissionContext {
  return {
    target,
    namespace: (name): NamespaceInfo => ({ name, labels: name === 'quiet' ? { 'meshinit.dev/injection': 'disabled' } : {} }),
    meshConfigs: () => [meshConfig],
    controllerNamespace: 'meshinit-system',
  };
}

function review(object: KubeObject, options: { resource?: string; group?: string; namespace?: string; operation?: string; dryRun?: boolean; apiVersion?: string } = {}) {
  return {
    apiVersion: options.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'req-1',
      kind: { group: options.group ?? '', version: 'v1', kind: object.kind },
      resource: { group: options.group ?? '', version: 'v1', resource: options.resource ?? 'pods' },
      namespace: options.namespace ?? 'default',
      operation: options.operation ?? 'CREATE',
      dryRun: options.dryRun ?? false,
      object,
    },
  };
}

function podOf(owner: { kind: string; name: string } | undefined, extra: { labels?: Record<string, string>; annotations?: Record<string, string>; hostNetwork?: boolean; containers?: Array<{ name: string; image: string }> } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(owner ? { generateName: `${owner.name}-` } : { name: 'bare' }),
      labels: { app: 'web', ...(extra.labels ?? {}) },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: 'o1', controller: true }] } : {}),
    },
    spec: { ...(extra.hostNetwork ? { hostNetwork: true } : {}), containers: extra.containers ?? [{ name: 'web', image: 'web:1' }] },
  };
}

function patched(object: KubeObject, response: { patch?: string }): KubeObject {
  const ops = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8')) as jsonpatch.Operation[];
  return jsonpatch.applyPatch(structuredClone(object), ops, true, false).newDocument;
}

describe('webhook admission (AdmissionReview in, JSON Patch out)', function () {
  it('injects a Pod of a Deployment, naming the Deployment from its ReplicaSet and pod-template-hash', function () {
    const pod = podOf({ kind: 'ReplicaSet', name: 'web-7d9f8c6b5' }, { labels: { 'pod-template-hash': '7d9f8c6b5' } });
    const { review: answer, decision } = admit(review(pod), context(goldenMeshConfig()));
    expect(answer).to.deep.include({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    expect(answer.response).to.include({ uid: 'req-1', allowed: true, patchType: 'JSONPatch' });
    const result = patched(pod, answer.response) as { spec: { containers: Array<{ name: string; args?: string[] }> } };
    expect(result.spec.containers.map((c) => c.name)).to.deep.equal(['web', 'mesh-proxy']);
    const args = result.spec.containers[1]!.args ?? [];
    expect(args[args.indexOf('--serviceCluster') + 1], '{{workload.name}} is the Deployment').to.equal('web');
    expect(decision).to.include({ action: 'injected', kind: 'Pod', namespace: 'default', name: 'web-7d9f8c6b5-', uid: 'req-1', meshConfig: 'golden' });
  });

  it('skips bare Pods, opted-out Pods, hostNetwork Pods, disabled and system namespaces, with reasons and no patch', function () {
    const cases: Array<[KubeObject, string, RegExp]> = [
      [podOf(undefined), 'default', /no controller/],
      [podOf({ kind: 'StatefulSet', name: 'db' }, { annotations: { 'sidecar.meshinit.dev/inject': 'false' } }), 'default', /sidecar\.meshinit\.dev\/inject/],
      [podOf({ kind: 'DaemonSet', name: 'agent' }, { hostNetwork: true }), 'default', /hostNetwork/],
      [podOf({ kind: 'Job', name: 'j' }), 'quiet', /meshinit\.dev\/injection=disabled/],
      [podOf({ kind: 'Job', name: 'j' }), 'kube-system', /system namespace/],
      [podOf({ kind: 'CronJobRunner', name: 'x' }), 'default', /not one of/],
    ];
    for (const [pod, namespace, reason] of cases) {
      const { review: answer, decision } = admit(review(pod, { namespace }), context(goldenMeshConfig()));
      expect(answer.response, String(reason)).to.deep.equal({ uid: 'req-1', allowed: true });
      expect(decision.action).to.equal('skipped');
      expect(decision.reason).to.match(reason);
    }
  });

  it('admits uninjected, with a warning naming the fix, while MeshConfigs cannot be read (no CRD); opt-outs keep their own reason', function () {
    const unavailable = { ...context(goldenMeshConfig()), meshConfigs: () => [], meshConfigsUnavailable: () => 'the MeshConfig CRD is not installed; install it: kubectl apply -f crds/meshconfig.v1.yaml' };
    const pod = podOf({ kind: 'ReplicaSet', name: 'web-7d9f8c6b5' }, { labels: { 'pod-template-hash': '7d9f8c6b5' } });
    const { review: answer, decision } = admit(review(pod), unavailable);
    expect(answer.response.allowed).to.equal(true);
    expect(answer.response.patch).to.equal(undefined);
    expect(answer.response.warnings?.[0]).to.include('without a sidecar').and.include('kubectl apply -f crds/meshconfig.v1.yaml');
    expect(decision).to.include({ action: 'allowed-uninjected' });
    const optedOut = admit(review(podOf({ kind: 'StatefulSet', name: 'db' }, { annotations: { 'sidecar.meshinit.dev/inject': 'false' } })), unavailable);
    expect(optedOut.decision.action).to.equal('skipped');
    expect(optedOut.decision.reason).to.match(/sidecar\.meshinit\.dev\/inject/);
  });

  describe('a Pod is judged as its workload (read from the informer caches)', function () {
    const deploymentMeta = (annotations: Record<string, string> = {}, labels: Record<string, string> = { app: 'report' }) =>
      ({ kind: 'Deployment' as const, metadata: { name: 'report', namespace: 'default', labels, annotations } });
    const rsPod = () => podOf({ kind: 'ReplicaSet', name: 'report-5d8f7c9b6' }, { labels: { app: 'report', 'pod-template-hash': '5d8f7c9b6' } });

    it('skips the Pod of a Deployment annotated sidecar.meshinit.dev/inject: "false", saying the decision came from the Deployment', function () {
      const withOwners = { ...context(goldenMeshConfig()), workload: () => deploymentMeta({ 'sidecar.meshinit.dev/inject': 'false' }) };
      const { review: answer, decision } = admit(review(rsPod()), withOwners);
      expect(answer.response.patch).to.equal(undefined);
      expect(decision).to.include({ action: 'skipped', decidedFrom: 'Deployment/report' });
      expect(decision.reason).to.match(/Deployment has annotation sidecar\.meshinit\.dev\/inject: "false"/);
      // Before: the Pod, which does not carry its Deployment's annotations, was injected.
      expect(admit(review(rsPod()), context(goldenMeshConfig())).decision.action).to.equal('injected');
    });

    it('matches a MeshConfig selector against the Deployment\'s labels, not only the Pod\'s', function () {
      const selective = goldenMeshConfig({ selector: { matchLabels: { tier: 'backend' } } });
      const withOwners = { ...context(selective), workload: () => deploymentMeta({}, { app: 'report', tier: 'backend' }) };
      expect(admit(review(rsPod()), withOwners).decision).to.include({ action: 'injected', decidedFrom: 'Deployment/report' });
      expect(admit(review(rsPod()), context(selective)).decision.action, 'the Pod alone has no tier label').to.equal('skipped');
    });

    it('keeps the Pod template\'s own opt-out, and falls back to the Pod, saying so, when the workload is not cached', function () {
      const withOwners = { ...context(goldenMeshConfig()), workload: () => deploymentMeta() };
      const optedOutPod = podOf({ kind: 'ReplicaSet', name: 'report-5d8f7c9b6' }, { labels: { 'pod-template-hash': '5d8f7c9b6' }, annotations: { 'sidecar.meshinit.dev/inject': 'false' } });
      expect(admit(review(optedOutPod), withOwners).decision.action).to.equal('skipped');
      const uncached = admit(review(rsPod()), { ...context(goldenMeshConfig()), workload: () => undefined });
      expect(uncached.decision).to.include({ action: 'injected' });
      expect(uncached.decision.decidedFrom).to.equal("Pod (its Deployment report is not in meshinit's cache)");
    });
  });

  it('with --namespace admits Pods elsewhere unchanged, with the reason, and injects in the chosen namespaces', function () {
    const limited = { ...context(goldenMeshConfig()), injectNamespaces: ['team-a'] };
    const pod = podOf({ kind: 'ReplicaSet', name: 'web-7d9f8c6b5' }, { labels: { 'pod-template-hash': '7d9f8c6b5' } });
    const elsewhere = admit(review(pod, { namespace: 'default' }), limited);
    expect(elsewhere.review.response).to.deep.equal({ uid: 'req-1', allowed: true });
    expect(elsewhere.decision.reason).to.equal("namespace default is not one of meshinit's --namespace team-a");
    expect(admit(review(pod, { namespace: 'team-a' }), limited).decision.action).to.equal('injected');
  });

  it('applies failurePolicy to injection errors: Ignore admits unmodified with a warning, Fail denies with the reason', function () {
    const clashing = podOf({ kind: 'StatefulSet', name: 'db' }, { containers: [{ name: 'mesh-proxy', image: 'mine:1' }] });
    const ignored = admit(review(clashing), context(goldenMeshConfig({ failurePolicy: 'Ignore' })));
    expect(ignored.review.response.allowed).to.equal(true);
    expect(ignored.review.response.patch).to.equal(undefined);
    expect(ignored.review.response.warnings?.[0]).to.include('mesh-proxy').and.include('failurePolicy Ignore');
    const denied = admit(review(clashing), context(goldenMeshConfig({ failurePolicy: 'Fail' })));
    expect(denied.review.response.allowed).to.equal(false);
    expect(denied.review.response.status).to.include({ code: 403, reason: 'Forbidden' });
    expect(denied.review.response.status?.message).to.include('mesh-proxy').and.include('failurePolicy Fail');
    expect(denied.decision.action).to.equal('denied');
  });

  it('gives a dryRun request the same answer, and an already-injected Pod (reinvocation) no patch', function () {
    const pod = podOf({ kind: 'StatefulSet', name: 'db' });
    const wet = admit(review(pod), context(goldenMeshConfig()));
    const dry = admit(review(pod, { dryRun: true }), context(goldenMeshConfig()));
    expect(dry.review).to.deep.equal(wet.review);
    expect(dry.decision.dryRun).to.equal(true);
    const again = admit(review(patched(pod, wet.review.response)), context(goldenMeshConfig()));
    expect(again.review.response).to.deep.equal({ uid: 'req-1', allowed: true });
    expect(again.decision.reason).to.include('already injected');
  });

  it('answers admission.k8s.io/v1beta1 in kind (what 1.9-1.15 servers send)', function () {
    const { review: answer } = admit(review(podOf({ kind: 'Job', name: 'j' }), { apiVersion: 'admission.k8s.io/v1beta1' }), context(goldenMeshConfig()));
    expect(answer.apiVersion).to.equal('admission.k8s.io/v1beta1');
    expect(answer.response.patchType).to.equal('JSONPatch');
  });

  it('with --target pods leaves workloads alone, and only mutates Pod CREATE', function () {
    const deployment = parseAllDocuments(fs.readFileSync(path.join(GOLDEN, 'deployment.yaml'), 'utf8'))[0]!.toJS() as KubeObject;
    expect(admit(review(deployment, { group: 'apps', resource: 'deployments' }), context(goldenMeshConfig())).decision.reason).to.include('--target pods');
    expect(admit(review(podOf({ kind: 'Job', name: 'j' }), { operation: 'UPDATE' }), context(goldenMeshConfig())).decision.reason).to.include('UPDATE');
  });

  it('--target pods: a Pod that Istio\'s webhook injected first is skipped with a warning; reinvoked after Istio added its proxy to meshinit\'s Pod, it says both are there', function () {
    const rs = { kind: 'ReplicaSet', name: 'web-7d9f8c6b5' };
    const istioFirst = podOf(rs, { labels: { 'pod-template-hash': '7d9f8c6b5' }, annotations: { 'sidecar.istio.io/status': '{}' }, containers: [{ name: 'web', image: 'web:1' }, { name: 'istio-proxy', image: 'istio/proxyv2:1.24.0' }] });
    const first = admit(review(istioFirst), context(goldenMeshConfig({ failurePolicy: 'Fail' })));
    expect(first.review.response).to.not.have.property('patch');
    expect(first.decision).to.include({ action: 'skipped', otherMesh: 'Istio', decidedFrom: 'Pod (its Deployment web is not in meshinit\'s cache)' });
    expect(first.review.response.warnings?.[0]).to.match(/^meshinit did not inject its sidecar: the pod template belongs to another mesh, Istio/);
    // meshinit first (its configuration renamed to sort before Istio's), then Istio, then meshinit reinvoked.
    const plain = podOf(rs, { labels: { 'pod-template-hash': '7d9f8c6b5' } });
    const ours = patched(plain, admit(review(plain), context(goldenMeshConfig())).review.response) as { spec: { containers: Array<{ name: string; image: string }> } };
    const both = { ...ours, spec: { ...ours.spec, containers: [...ours.spec.containers, { name: 'istio-proxy', image: 'istio/proxyv2:1.24.0' }] } } as KubeObject;
    const reinvoked = admit(review(both), context(goldenMeshConfig()));
    expect(reinvoked.review.response).to.not.have.property('patch');
    expect(reinvoked.decision.reason).to.match(/meshinit's sidecar from an earlier injection is still in it: remove one of the two$/);
  });

  it('rejects what is not an AdmissionReview with a clear error', function () {
    for (const body of [null, [], 'x', { kind: 'AdmissionReview', apiVersion: 'v1' }, { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }, { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: '' } }]) {
      expect(() => admit(body, context(goldenMeshConfig())), JSON.stringify(body)).to.throw(AdmissionRequestError);
    }
  });

  describe('--target workloads: every kind that carries a pod template, and another mesh', function () {
    const golden = (file: string) => parseAllDocuments(fs.readFileSync(path.join(GOLDEN, file), 'utf8')).map((d) => d.toJS() as KubeObject);
    const workloads = context(goldenMeshConfig(), 'workloads');

    it('injects a CronJob (batch/v1 and batch/v1beta1) in spec.jobTemplate.spec.template', function () {
      for (const cronJob of golden('pod-template-kinds.yaml').filter((o) => o.kind === 'CronJob')) {
        const { review: answer, decision } = admit(review(cronJob, { group: 'batch', resource: 'cronjobs', namespace: 'shop' }), workloads);
        expect(decision).to.include({ action: 'injected', kind: 'CronJob', meshConfig: 'golden' });
        const result = patched(cronJob, answer.response) as { spec: { jobTemplate: { spec: { template: { spec: { containers: Array<{ name: string }> } } } } } };
        expect(result.spec.jobTemplate.spec.template.spec.containers.map((c) => c.name)).to.include('mesh-proxy');
      }
    });

    it('skips an Istio-injected Deployment with the other-mesh reason and an admission warning, under failurePolicy Fail too', function () {
      const ratings = golden('other-mesh.yaml')[0]!;
      for (const failurePolicy of ['Ignore', 'Fail']) {
        const { review: answer, decision } = admit(review(ratings, { group: 'apps', resource: 'deployments', namespace: 'bookinfo' }), context(goldenMeshConfig({ failurePolicy }), 'workloads'));
        expect(answer.response, failurePolicy).to.not.have.property('patch');
        expect(answer.response.allowed).to.equal(true);
        expect(decision).to.include({ action: 'skipped', otherMesh: 'Istio' });
        expect(decision.reason).to.match(/^the pod template belongs to another mesh, Istio \(init container istio-init, container istio-proxy, annotation sidecar\.istio\.io\/status\)/);
        expect(answer.response.warnings).to.deep.equal([`meshinit did not inject its sidecar: ${decision.reason}`]);
      }
    });

    it('injects a bare Pod on CREATE only, and leaves a Pod, ReplicaSet or Job made by a controller to that controller\'s template', function () {
      const bare = podOf(undefined);
      expect(admit(review(bare), workloads).decision.action).to.equal('injected');
      expect(admit(review(bare, { operation: 'UPDATE' }), workloads).decision.reason).to.equal('operation UPDATE is not mutated (Pods are injected on CREATE)');
      const ofReplicaSet = admit(review(podOf({ kind: 'ReplicaSet', name: 'web-7d9f8c6b5' })), workloads).decision;
      expect(ofReplicaSet).to.include({ action: 'skipped', reason: 'its pod template is copied from its controller, ReplicaSet web-7d9f8c6b5: meshinit injects the ReplicaSet\'s template ("meshinit inject", or the webhook with --target workloads), not the Pod made from it' });
      const job = { ...golden('workload-kinds.yaml').find((o) => o.kind === 'Job')!, metadata: { name: 'nightly-28911', ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', uid: 'c1', controller: true }] } };
      expect(admit(review(job, { group: 'batch', resource: 'jobs' }), workloads).decision.reason).to.equal('its pod template is copied from its controller, CronJob nightly: meshinit injects the CronJob\'s template ("meshinit inject", or the webhook with --target workloads), not the Job made from it');
    });

    it('still ignores resources without a pod template, and a known resource name in the wrong group', function () {
      expect(admit(review({ kind: 'Service', metadata: { name: 's' } }, { resource: 'services' }), workloads).decision.reason).to.equal('resource /services is not mutated with --target workloads');
      expect(admit(review(podOf(undefined), { group: 'apps', resource: 'pods' }), workloads).decision.reason).to.equal('resource apps/pods is not mutated with --target workloads');
      expect(admit(review(podOf(undefined), { resource: 'constructor' }), workloads).decision.action).to.equal('skipped');
    });
  });

  describe('--target workloads: the same golden cases as meshinit inject', function () {
    const cases = fs.readdirSync(GOLDEN).filter((file) => file.endsWith('.yaml') && fs.existsSync(path.join(GOLDEN, `${file}.injected`)) && !['list.yaml', 'aliases.yaml', 'upgrade.yaml', 'passthrough.yaml'].includes(file));
    for (const file of cases) {
      it(`${file}: every workload admitted equals its ${file}.injected`, function () {
        const inputs = parseAllDocuments(fs.readFileSync(path.join(GOLDEN, file), 'utf8')).map((d) => d.toJS() as KubeObject).filter((o) => o && typeof o === 'object');
        const expected = parseAllDocuments(fs.readFileSync(path.join(GOLDEN, `${file}.injected`), 'utf8')).map((d) => d.toJS() as KubeObject).filter((o) => o && typeof o === 'object');
        let workloads = 0;
        inputs.forEach((input, index) => {
          const groups: Record<string, string> = {
            Deployment: 'apps', StatefulSet: 'apps', DaemonSet: 'apps', Job: 'batch',
            CronJob: 'batch', ReplicaSet: 'apps', ReplicationController: '', DeploymentConfig: 'apps.openshift.io', Pod: '',
          };
          const group = groups[String(input.kind)];
          if (group === undefined) return;
          workloads++;
          const resource = `${String(input.kind).toLowerCase()}s`;
          const { review: answer } = admit(review(input, { group, resource, namespace: input.metadata?.namespace ?? 'default' }), context(goldenMeshConfig(), 'workloads'));
          const result = answer.response.patch ? patched(input, answer.response) : input;
          expect(result, `${file} document ${index + 1}`).to.deep.equal(expected[index]);
        });
        expect(workloads, 'the case has workloads').to.be.greaterThan(0);
      });
    }
  });
});
