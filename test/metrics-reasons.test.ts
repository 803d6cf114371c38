// The `reason` label is bounded and means something: every rule the core and the adapters can decide
// by has its own code (never the catch-all `other`), every code in the vocabulary is produced by some
// rule (no dead codes), and whatever a caller passes, the label values stay within the vocabulary.
import { expect } from 'chai';
import fc from 'fast-check';
import { decideInjection, type InjectionCandidate, type PolicyContext } from '../controller/core/policy.ts';
import { planWorkloadInjection } from '../controller/core/plan.ts';
import { REASON_CODES, type ReasonCode } from '../controller/core/reasons.ts';
import type { KubeObject, MeshConfig, NamespaceInfo, Workload } from '../controller/core/types.ts';
import { syncObject, type ClusterView, type ObjectRef, type SyncDeps } from '../controller/initializer/sync.ts';
import { KubeApiError } from '../controller/kube/errors.ts';
import type { EventRecord } from '../controller/kube/events.ts';
import type { KubeApi } from '../controller/kube/types.ts';
import { createMemoryLogger } from '../controller/logger.ts';
import { DECISION_ACTIONS, Metrics, METRIC_KINDS } from '../controller/metrics.ts';
import { admit, type AdmissionContext } from '../controller/webhook/admission.ts';
import { knownServer } from '../controller/core/native-sidecar.ts';
import { demoDeployment, meshConfig, mustParse, OUR_INITIALIZER, rawMeshConfig, reportJob } from './core/fixtures/helpers.ts';
import { uninitializedPod } from './support/objects.ts';

const produced = new Map<ReasonCode, string>();
function saw(code: ReasonCode, where: string): void {
  expect(code, `${where}: a rule with its own code, not the catch-all`).to.not.equal('other');
  expect(REASON_CODES, where).to.include(code);
  if (!produced.has(code)) produced.set(code, where);
}

function candidate(overrides: Partial<InjectionCandidate> = {}): InjectionCandidate {
  return { kind: 'Deployment', name: 'web', namespace: 'shop', labels: { app: 'web' }, annotations: {}, podAnnotations: {}, podSpec: { containers: [{ name: 'app' }] }, ...overrides };
}

function policy(overrides: Partial<PolicyContext> = {}): PolicyContext {
  return { namespace: { name: 'shop', labels: {} }, meshConfigs: [meshConfig('default')], controllerNamespace: 'meshinit-system', ...overrides };
}

/** Sync against a fake API: `patch` answers the PATCHes in turn (undefined: 200), `get` answers GETs. */
async function sync(object: KubeObject, kind: ObjectRef['kind'], options: {
  meshConfigs?: readonly MeshConfig[];
  namespace?: NamespaceInfo;
  job?: Workload;
  patch?: Array<KubeApiError | undefined>;
  get?: (path: string) => unknown;
  events?: EventRecord[];
} = {}) {
  const patches = [...(options.patch ?? [])];
  const api = {
    patchIgnoringAnswer: () => {
      const answer = patches.shift();
      return answer ? Promise.reject(answer) : Promise.resolve();
    },
    get: (path: string) => {
      try {
        return Promise.resolve(options.get ? options.get(path) : object);
      } catch (error) {
        return Promise.reject(error as Error);
      }
    },
  } as unknown as KubeApi;
  const view: ClusterView = {
    object: () => object,
    job: () => options.job,
    namespace: (name) => (options.namespace === undefined ? { name, labels: {} } : options.namespace.name === name ? options.namespace : undefined),
    meshConfigs: () => options.meshConfigs ?? [meshConfig('default')],
    meshConfigsUnavailable: () => undefined,
  };
  const recorded = options.events;
  const events = recorded ? { events: { record: (event: EventRecord) => recorded.push(event), idle: () => Promise.resolve(), stop: () => undefined } } : {};
  const deps: SyncDeps = { api, view, log: createMemoryLogger(), now: () => performance.now(), initializerName: OUR_INITIALIZER, controllerNamespace: 'meshinit-system', ...events };
  const ref = { kind, namespace: object.metadata?.namespace ?? 'default', name: object.metadata?.name ?? '' };
  const result = await syncObject(ref, deps);
  expect(result.code, `${kind} ${ref.name}: ${result.reason}`).to.not.equal(undefined);
  return result;
}

function review(object: KubeObject, options: { resource?: string; group?: string; operation?: string } = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'r1', resource: { group: options.group ?? '', version: 'v1', resource: options.resource ?? 'pods' }, namespace: 'shop', operation: options.operation ?? 'CREATE', object },
  };
}

const webhook = (target: 'pods' | 'workloads', meshConfigs = [meshConfig('default')]): AdmissionContext => ({
  target, namespace: (name) => ({ name, labels: {} }), meshConfigs: () => meshConfigs, controllerNamespace: 'meshinit-system',
});

describe('reason codes: every rule has its own, bounded code', function () {
  it('policy: each check returns its own code', function () {
    const cases: Array<[string, ReasonCode, ReturnType<typeof decideInjection>]> = [
      ['kube-system', 'system_namespace', decideInjection(candidate(), policy({ namespace: { name: 'kube-system', labels: {} } }))],
      ['own namespace', 'controller_namespace', decideInjection(candidate(), policy({ namespace: { name: 'meshinit-system', labels: {} } }))],
      ['--namespace', 'namespace_not_watched', decideInjection(candidate(), policy({ injectNamespaces: ['other'] }))],
      ['namespace label', 'namespace_disabled', decideInjection(candidate(), policy({ namespace: { name: 'shop', labels: { 'meshinit.dev/injection': 'disabled' } } }))],
      ['opt-out', 'opted_out', decideInjection(candidate({ annotations: { 'sidecar.meshinit.dev/inject': 'false' } }), policy())],
      ['hostNetwork', 'host_network', decideInjection(candidate({ podSpec: { containers: [{ name: 'app' }], hostNetwork: true } }), policy())],
      ['no CRD', 'meshconfig_unavailable', decideInjection(candidate(), policy({ meshConfigsUnavailable: 'the CRD is not installed' }))],
      ['none exists', 'no_meshconfig', decideInjection(candidate(), policy({ meshConfigs: [] }))],
      ['selectors', 'not_selected', decideInjection(candidate(), policy({ meshConfigs: [meshConfig('x', { selector: { matchLabels: { app: 'other' } } })] }))],
      ['kinds', 'kind_not_selected', decideInjection(candidate(), policy({ meshConfigs: [meshConfig('x', { kinds: ['Job'] })] }))],
      ['Disabled', 'policy_disabled', decideInjection(candidate(), policy({ meshConfigs: [meshConfig('x', { policy: 'Disabled' })] }))],
      ['Enabled', 'policy_enabled', decideInjection(candidate(), policy())],
      ['opt-in', 'opted_in', decideInjection(candidate({ annotations: { 'sidecar.meshinit.dev/inject': 'true' } }), policy({ meshConfigs: [meshConfig('x', { policy: 'Disabled' })] }))],
      ['a copy of its controller\'s template', 'template_copied', decideInjection(candidate({ templateOwner: { kind: 'CronJob', name: 'nightly' } }), policy())],
      ['another mesh', 'other_mesh', decideInjection(candidate({ podSpec: { containers: [{ name: 'app' }, { name: 'istio-proxy' }], initContainers: [{ name: 'istio-init' }] } }), policy())],
    ];
    for (const [what, code, decision] of cases) {
      expect(decision.code, `${what}: ${decision.reason}`).to.equal(code);
      saw(decision.code, `policy: ${what}`);
    }
  });

  it('policy, any input: the code is in the vocabulary and never the catch-all', function () {
    const meshConfigs = [meshConfig('all'), meshConfig('jobs', { kinds: ['Job'] }), meshConfig('off', { policy: 'Disabled', priority: 5 }), meshConfig('labelled', { selector: { matchLabels: { tier: 'web' } }, priority: 9 })];
    fc.assert(fc.property(
      fc.record({
        namespace: fc.constantFrom('shop', 'kube-system', 'meshinit-system', 'other'),
        disabled: fc.boolean(),
        inject: fc.constantFrom(undefined, 'true', 'false', 'maybe'),
        hostNetwork: fc.boolean(),
        kind: fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet', 'Job'),
        tier: fc.constantFrom(undefined, 'web', 'db'),
        configs: fc.subarray(meshConfigs),
        unavailable: fc.boolean(),
        only: fc.constantFrom(undefined, ['shop'], ['other']),
      }),
      (input) => {
        const decision = decideInjection(
          candidate({
            kind: input.kind,
            labels: input.tier ? { tier: input.tier } : {},
            annotations: input.inject ? { 'sidecar.meshinit.dev/inject': input.inject } : {},
            podSpec: { containers: [{ name: 'app' }], hostNetwork: input.hostNetwork },
          }),
          policy({
            namespace: { name: input.namespace, labels: input.disabled ? { 'meshinit.dev/injection': 'disabled' } : {} },
            meshConfigs: input.configs,
            ...(input.unavailable ? { meshConfigsUnavailable: 'no CRD' } : {}),
            ...(input.only ? { injectNamespaces: input.only } : {}),
          }),
        );
        return (REASON_CODES as readonly string[]).includes(decision.code) && decision.code !== 'other';
      },
    ), { numRuns: 500 });
  });

  it('Initializer sync: what it adds after policy has codes too', async function () {
    const demo = demoDeployment();
    saw((await sync(demo, 'Deployment')).code!, 'sync: injected');
    const injected = planWorkloadInjection(demo, policy({ namespace: { name: 'default', labels: {} } }));
    if (injected.action !== 'inject') throw new Error('fixture not injected');
    const again = await sync(injected.object, 'Deployment');
    expect(again.code).to.equal('already_injected');
    saw(again.code!, 'sync: already injected');
    const clash = await sync(demo, 'Deployment', { meshConfigs: [meshConfig('clash', { sidecar: { containers: [{ name: 'app', image: 'proxy:1' }] } })] });
    expect(clash.code).to.equal('injection_error');
    saw(clash.code!, 'sync: injection error');
    const oldServer = knownServer({ major: 1, minor: 13, gitVersion: 'v1.13.0' });
    const always = mustParse(rawMeshConfig('native', { sidecar: { nativeSidecar: 'Always', containers: [{ name: 'mesh-proxy', image: 'proxy:1' }] } }), oldServer);
    const unsupported = await sync(demo, 'Deployment', { meshConfigs: [always] });
    expect(unsupported).to.include({ action: 'released', code: 'native_sidecar_unsupported' });
    saw(unsupported.code!, 'sync: native sidecar on a server without them');
    const refused = new KubeApiError({ method: 'PATCH', path: '/x', statusCode: 422, reason: 'Invalid', message: 'spec.template.spec.containers[1].fancyField: unknown' });
    const rejected = await sync(demo, 'Deployment', { patch: [refused] });
    expect(rejected).to.include({ action: 'released', code: 'rejected_by_server' });
    saw(rejected.code!, 'sync: rejected by the server');
    const job = { ...reportJob(), metadata: { ...reportJob().metadata, namespace: 'default', initializers: { pending: [{ name: OUR_INITIALIZER }] } } };
    const released = await sync(job, 'Job');
    expect(released.code).to.equal('job_template_immutable');
    saw(released.code!, 'sync: Job');
    const notJobs = await sync(uninitializedPod('web-1', { kind: 'ReplicaSet', name: 'web-1a2b' }, OUR_INITIALIZER), 'Pod', { get: () => { throw new KubeApiError({ method: 'GET', path: '/j', statusCode: 404, message: 'nf' }); } });
    expect(notJobs.code).to.equal('not_job_pod');
    saw(notJobs.code!, 'sync: not a Job\'s Pod');
    const malformed = await sync({ ...demo, spec: { replicas: 1 } }, 'Deployment');
    expect(malformed.code).to.equal('malformed');
    saw(malformed.code!, 'sync: malformed');
    const forbidden = new KubeApiError({ method: 'GET', path: '/api/v1/namespaces/default', statusCode: 403, reason: 'Forbidden', message: 'no' });
    const unreadable = await sync(demo, 'Deployment', { namespace: { name: 'elsewhere', labels: {} }, get: () => { throw forbidden; } });
    expect(unreadable.code).to.equal('namespace_unreadable');
    saw(unreadable.code!, 'sync: namespace unreadable');
  });

  it('Initializer sync: each decision is one Event of the right type and reason, with the human reason as its message; a Pod that is not a Job\'s gets none', async function () {
    const demo = demoDeployment();
    const cases: Array<[string, KubeObject, ObjectRef['kind'], Parameters<typeof sync>[2], string | undefined]> = [
      ['injected', demo, 'Deployment', {}, 'Normal SidecarInjected'],
      ['opted out', { ...demo, metadata: { ...demo.metadata, annotations: { 'sidecar.meshinit.dev/inject': 'false' } } }, 'Deployment', {}, 'Normal InjectionSkipped'],
      ['clash, failurePolicy Fail', demo, 'Deployment', { meshConfigs: [meshConfig('clash', { failurePolicy: 'Fail', sidecar: { containers: [{ name: 'app', image: 'p:1' }] } })] }, 'Warning InjectionFailed'],
      ['clash, failurePolicy Ignore', demo, 'Deployment', { meshConfigs: [meshConfig('clash', { sidecar: { containers: [{ name: 'app', image: 'p:1' }] } })] }, 'Warning SidecarNotInjected'],
      ['a ReplicaSet\'s Pod', uninitializedPod('web-1', { kind: 'ReplicaSet', name: 'web-1a2b' }, OUR_INITIALIZER), 'Pod', { get: () => { throw new KubeApiError({ method: 'GET', path: '/j', statusCode: 404, message: 'nf' }); } }, undefined],
    ];
    for (const [what, object, kind, options, expected] of cases) {
      const events: EventRecord[] = [];
      const result = await sync(object, kind, { ...options, events });
      expect(events.map((e) => `${e.type} ${e.reason}`), what).to.deep.equal(expected ? [expected] : []);
      if (expected) {
        expect(events[0]!.message, what).to.equal(result.reason);
        expect(events[0]!.object, what).to.include({ kind, name: object.metadata!.name, uid: object.metadata!.uid });
      }
    }
  });

  it('webhook admission: what it adds after policy has codes too', function () {
    const bare = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare' }, spec: { containers: [{ name: 'app', image: 'a:1' }] } };
    const cases: Array<[string, ReasonCode, ReturnType<typeof admit>]> = [
      ['other resource', 'not_targeted', admit(review(bare, { resource: 'services' }), webhook('pods'))],
      ['UPDATE of a Pod', 'not_targeted', admit(review(bare, { operation: 'UPDATE' }), webhook('pods'))],
      ['bare Pod', 'no_controller', admit(review(bare), webhook('pods'))],
      ['malformed Pod', 'malformed', admit(review({ kind: 'Pod', metadata: {}, spec: { containers: 'no' } }), webhook('pods'))],
      ['malformed workload', 'malformed', admit(review({ kind: 'Deployment', metadata: { name: 'w' } }, { group: 'apps', resource: 'deployments' }), webhook('workloads'))],
    ];
    for (const [what, code, outcome] of cases) {
      expect(outcome.decision.code, `${what}: ${outcome.decision.reason}`).to.equal(code);
      saw(outcome.decision.code, `webhook: ${what}`);
    }
  });

  it('every code in the vocabulary but `other` is produced by some rule above (no dead codes)', function () {
    const missing = REASON_CODES.filter((code) => code !== 'other' && !produced.has(code));
    expect(missing).to.deep.equal([]);
  });

  it('label cardinality is bounded whatever callers pass: mode x kind x action x code', async function () {
    const metrics = new Metrics({ processMetrics: false });
    fc.assert(fc.property(fc.constantFrom('initializer', 'webhook' as const), fc.string(), fc.constantFrom(...DECISION_ACTIONS), fc.string(), (mode, kind, action, code) => {
      metrics.decision(mode as 'initializer' | 'webhook', kind, action, code);
    }), { numRuns: 2000 });
    for (const code of REASON_CODES) for (const kind of METRIC_KINDS) metrics.decision('initializer', kind, 'skipped', code);
    const series = (await metrics.render()).split('\n').filter((l) => l.startsWith('meshinit_decisions_total{'));
    expect(series.length).to.be.at.most(2 * METRIC_KINDS.length * DECISION_ACTIONS.length * REASON_CODES.length);
    for (const line of series) {
      const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      expect(METRIC_KINDS, line).to.include(labels.kind);
      expect(REASON_CODES, line).to.include(labels.reason);
    }
  });
});
