// Property-based tests that complement test/core/properties.test.ts (which covers Deployments and
// friends built from a fixed vocabulary). Here: Pods as well as the four workload kinds, extra fields
// with hostile keys (__proto__, "a/b", "~1", unicode) and values (NaN, Infinity, control characters)
// at every level, MeshConfig changes that are not order-preserving, initialization patches for
// Pods and releases, and pending lists with our name anywhere. Every property runs from a fixed seed
// (fast-check prints it, with the shrunk counterexample, on failure).
import { expect } from 'chai';
import fc from 'fast-check';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { DEFAULT_INITIALIZER_NAME, STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { isOwnTurn, removeOwnInitializer } from '../../controller/core/initializers.ts';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import { buildInitializationPatch } from '../../controller/core/patch.ts';
import { placeholderValues, renderSidecar, type WorkloadIdentity } from '../../controller/core/render.ts';
import type { InjectionStatus } from '../../controller/core/status-record.ts';
import { WORKLOAD_KINDS, type KubeObject, type MeshConfig, type ObjectMeta, type Pod, type PodSpec, type SidecarSpec, type Workload, type WorkloadKind } from '../../controller/core/types.ts';
import { HOSTILE_KEYS, HOSTILE_STRINGS, own } from './hostile.ts';

const { applyPatch } = fastJsonPatch;
const OURS = DEFAULT_INITIALIZER_NAME;
const SEED = 0x6d657368;
const run = (numRuns: number) => ({ seed: SEED, numRuns: Math.min(numRuns, Number(process.env.FUZZ_RUNS ?? numRuns)) });

// ---- generators -------------------------------------------------------------------------------

const dns = fc.stringMatching(/^[a-z]([a-z0-9-]{0,6}[a-z0-9])?$/);
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 10 }), fc.constantFrom(...HOSTILE_STRINGS));
const anyKey = fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ unit: 'binary', maxLength: 6 }));

/** A key for an extra field: anything but the ones the core reads (those are generated on purpose). */
const extraKey = (...reserved: string[]) => anyKey.filter((key) => !reserved.includes(key));

const leaf = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(NaN, Infinity, -Infinity, -0),
);
const extraValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.array(fc.tuple(anyKey, tie('value')), { maxLength: 3 }).map(own),
  ),
})).value;

const extras = (...reserved: string[]) => fc.array(fc.tuple(extraKey(...reserved), extraValue), { maxLength: 3 }).map(own);

/** A map of strings (annotations, labels) with hostile keys; never our status annotation. */
const stringMap = (pool: readonly string[]) =>
  fc.array(fc.tuple(fc.oneof(extraKey(STATUS_ANNOTATION), fc.constantFrom(...pool)), text), { maxLength: 4 }).map(own) as fc.Arbitrary<Record<string, string>>;

const ANNOTATION_POOL = ['mesh.example.com/version', 'prometheus.io/scrape', 'note', 'team.example.com/owner'];
const LABEL_POOL = ['app', 'version', 'mesh.example.com/proxied'];
const SECRET_POOL = ['regcred', 'mesh-registry', 'shop-registry'];

// The sidecar: names under "mesh-", which user names never start with (a clash is an error, tested
// elsewhere); pull secrets, pod annotations and labels share a pool with the user's on purpose.
const placeholderArg = fc.constantFrom('{{workload.name}}', '{{ workload.namespace }}', '{{workload.kind}}', '{{meshConfig.name}}', '$&', 'plain', 'é💥');
const sidecarContainer = (name: string) =>
  fc.record({ image: fc.constantFrom('proxy:1', 'proxy:2', 'init:1'), args: fc.array(placeholderArg, { maxLength: 3 }), extra: fc.option(fc.dictionary(dns, placeholderArg, { maxKeys: 2 }), { nil: undefined }) })
    .map(({ image, args, extra }) => ({ name, image, args, ...(extra ? { env: Object.entries(extra).map(([n, value]) => ({ name: n, value })) } : {}) }));

interface SidecarModel {
  raw: Record<string, unknown>;
}

const sidecarModel: fc.Arbitrary<SidecarModel> = fc
  .record({
    names: fc.uniqueArray(dns.map((n) => `mesh-${n}`), { minLength: 1, maxLength: 4 }),
    initCount: fc.nat(),
    volumes: fc.uniqueArray(dns.map((n) => `mesh-${n}`), { maxLength: 3 }),
    secrets: fc.uniqueArray(fc.constantFrom(...SECRET_POOL, 'mesh-pull'), { maxLength: 2 }),
    podAnnotations: fc.dictionary(fc.constantFrom(...ANNOTATION_POOL, 'mesh.example.com/cluster'), placeholderArg, { maxKeys: 3 }),
    podLabels: fc.dictionary(fc.constantFrom(...LABEL_POOL, 'mesh'), fc.constantFrom('true', 'v1', ''), { maxKeys: 2 }),
    seed: fc.nat(),
  })
  .chain(({ names, initCount, volumes, secrets, podAnnotations, podLabels }) => {
    const split = initCount % names.length;
    return fc.tuple(...names.map(sidecarContainer)).map((containers) => ({
      raw: {
        initContainers: containers.slice(0, split),
        containers: containers.slice(split),
        volumes: volumes.map((name) => ({ name, emptyDir: { medium: 'Memory' } })),
        imagePullSecrets: secrets.map((name) => ({ name })),
        podAnnotations,
        podLabels,
      },
    }));
  });

function meshConfigOf(model: SidecarModel, name: string, generation: number): MeshConfig {
  const parsed = parseMeshConfig({ apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name, generation }, spec: { sidecar: model.raw } });
  if (!parsed.ok) throw new Error(`generator made an invalid MeshConfig: ${parsed.error.problems.join('; ')}`);
  return parsed.meshConfig;
}

/** User item names: DNS-ish or any unicode, never "mesh-…" (the sidecar's). */
const userName = fc.oneof(dns, fc.string({ unit: 'binary', minLength: 1, maxLength: 8 })).filter((name) => !name.startsWith('mesh-'));
const namedItems = (min: number, max: number) =>
  fc.uniqueArray(userName, { minLength: min, maxLength: max }).chain((names) =>
    fc.tuple(...names.map((name) => extras('name').map((rest) => ({ ...rest, name })))),
  ) as fc.Arbitrary<Array<{ name: string; [key: string]: unknown }>>;

interface AppModel {
  kind: WorkloadKind | 'Pod';
  name: string;
  namespace: string;
  spec: PodSpec;
  podMetadata: ObjectMeta | undefined;
  workloadAnnotations: Record<string, string> | undefined;
  top: Record<string, unknown>;
  metadataExtras: Record<string, unknown>;
  specExtras: Record<string, unknown>;
  templateExtras: Record<string, unknown>;
  pending: Array<Record<string, unknown>>;
  resourceVersion: string | undefined;
}

const LISTS = ['initContainers', 'containers', 'volumes', 'imagePullSecrets'] as const;

const appModel: fc.Arbitrary<AppModel> = fc.record({
  kind: fc.constantFrom<WorkloadKind | 'Pod'>(...WORKLOAD_KINDS, 'Pod'),
  name: fc.oneof(dns, fc.string({ unit: 'binary', minLength: 1, maxLength: 8 })),
  namespace: fc.oneof(dns, text),
  containers: namedItems(1, 3),
  initContainers: fc.option(namedItems(0, 2), { nil: undefined }),
  // A user's volume list may hold odd items; they are the user's and must stay where they are.
  volumes: fc.option(fc.tuple(namedItems(0, 2), fc.array(fc.oneof(fc.constant(null), fc.integer(), extras('name')), { maxLength: 1 })).map(([named, odd]) => [...named, ...odd]), { nil: undefined }),
  imagePullSecrets: fc.option(fc.uniqueArray(fc.oneof(fc.constantFrom(...SECRET_POOL), dns), { maxLength: 3 }).map((names) => names.map((name) => ({ name }))), { nil: undefined }),
  podSpecExtras: extras(...LISTS, 'hostNetwork'),
  podMetadata: fc.option(
    fc.record({ annotations: fc.option(stringMap(ANNOTATION_POOL), { nil: undefined }), labels: fc.option(stringMap(LABEL_POOL), { nil: undefined }), rest: extras('annotations', 'labels', 'initializers') }),
    { nil: undefined },
  ),
  workloadAnnotations: fc.option(stringMap(ANNOTATION_POOL), { nil: undefined }),
  top: extras('kind', 'apiVersion', 'metadata', 'spec'),
  metadataExtras: extras('name', 'namespace', 'annotations', 'labels', 'initializers', 'resourceVersion', 'generateName'),
  specExtras: extras('template', 'containers', 'initContainers', 'volumes', 'imagePullSecrets', 'hostNetwork'),
  templateExtras: extras('metadata', 'spec'),
  pendingOthers: fc.array(fc.tuple(fc.oneof(dns.map((n) => `${n}.example.com`), fc.constant(OURS)), extras('name')), { maxLength: 3 }),
  resourceVersion: fc.option(fc.nat().map(String), { nil: undefined }),
}).map((m) => {
  const spec = own(Object.entries(m.podSpecExtras)) as PodSpec;
  if (m.initContainers) spec.initContainers = m.initContainers;
  spec.containers = m.containers;
  if (m.volumes) spec.volumes = m.volumes as PodSpec['volumes'];
  if (m.imagePullSecrets) spec.imagePullSecrets = m.imagePullSecrets;
  let podMetadata: ObjectMeta | undefined;
  if (m.podMetadata) {
    podMetadata = own(Object.entries(m.podMetadata.rest)) as ObjectMeta;
    if (m.podMetadata.annotations) podMetadata.annotations = m.podMetadata.annotations;
    if (m.podMetadata.labels) podMetadata.labels = m.podMetadata.labels;
  }
  return {
    kind: m.kind,
    name: m.name,
    namespace: m.namespace,
    spec,
    podMetadata,
    workloadAnnotations: m.workloadAnnotations,
    top: m.top,
    metadataExtras: m.metadataExtras,
    specExtras: m.specExtras,
    templateExtras: m.templateExtras,
    pending: [{ name: OURS }, ...m.pendingOthers.map(([name, rest]) => ({ ...rest, name }))],
    resourceVersion: m.resourceVersion,
  };
});

/** The object an app model stands for: a workload whose template is the pod, or the Pod itself. */
function objectOf(app: AppModel): Workload | Pod {
  const metadata: ObjectMeta = { ...app.metadataExtras, name: app.name, namespace: app.namespace, initializers: { pending: app.pending.map((p) => ({ ...p })) as Array<{ name: string }> } };
  if (app.resourceVersion !== undefined) metadata.resourceVersion = app.resourceVersion;
  if (app.kind === 'Pod') {
    const podMeta = { ...(app.podMetadata ?? {}), ...metadata };
    if (app.podMetadata?.annotations) podMeta.annotations = app.podMetadata.annotations;
    if (app.podMetadata?.labels) podMeta.labels = app.podMetadata.labels;
    return { ...app.top, apiVersion: 'v1', kind: 'Pod', metadata: podMeta, spec: app.spec } as Pod;
  }
  if (app.workloadAnnotations) metadata.annotations = app.workloadAnnotations;
  const template = { ...app.templateExtras, ...(app.podMetadata ? { metadata: app.podMetadata } : {}), spec: app.spec };
  return { ...app.top, apiVersion: app.kind === 'Job' ? 'batch/v1' : 'apps/v1', kind: app.kind, metadata, spec: { ...app.specExtras, template } } as Workload;
}

function identityOf(app: AppModel): WorkloadIdentity {
  return { kind: app.kind === 'Pod' ? 'Job' : app.kind, name: app.name, namespace: app.namespace };
}

function inject(object: Workload | Pod, app: AppModel, mc: MeshConfig) {
  return object.kind === 'Pod' ? injectPod(object as Pod, mc, identityOf(app)) : injectWorkload(object as Workload, mc);
}

/** The value as it would travel over the wire (NaN and Infinity become null, undefined goes). */
function toJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** The pod parts (metadata and spec holding the sidecar) of a workload or a Pod. */
function podParts(object: Workload | Pod): { metadata: ObjectMeta | undefined; spec: PodSpec } {
  if (object.kind === 'Pod') return { metadata: object.metadata, spec: (object as Pod).spec };
  const template = (object as Workload).spec.template;
  return { metadata: template.metadata, spec: template.spec };
}

function nameOf(item: unknown): string | undefined {
  return typeof item === 'object' && item !== null && typeof (item as { name?: unknown }).name === 'string' ? (item as { name: string }).name : undefined;
}

/** `map` without `keys`; undefined when the result is empty and there was no map before. */
function withoutKeys(map: Record<string, string> | undefined, keys: readonly string[], hadBefore: boolean): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  const copy = own(Object.entries(map).filter(([key]) => !keys.includes(key))) as Record<string, string>;
  return Object.keys(copy).length === 0 && !hadBefore ? undefined : copy;
}

function setOrDelete(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value === undefined) delete target[key];
  else Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * `after` with exactly what the status record says meshinit added taken out again. When nothing
 * outside the injected items changed, this equals the original object.
 */
function stripInjection(after: Workload | Pod, before: Workload | Pod, status: InjectionStatus): KubeObject {
  const partsAfter = podParts(after);
  const partsBefore = podParts(before);
  const spec = { ...partsAfter.spec } as Record<string, unknown>;
  for (const field of LISTS) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    const kept = list.filter((item) => !(nameOf(item) !== undefined && status[field].includes(nameOf(item)!)));
    setOrDelete(spec, field, kept.length === 0 && (partsBefore.spec as Record<string, unknown>)[field] === undefined ? undefined : kept);
  }
  const metaBefore = partsBefore.metadata;
  let metadata: Record<string, unknown> | undefined = partsAfter.metadata ? { ...partsAfter.metadata } : undefined;
  if (metadata) {
    setOrDelete(metadata, 'annotations', withoutKeys(metadata.annotations as Record<string, string>, [STATUS_ANNOTATION, ...status.podAnnotations], metaBefore?.annotations !== undefined));
    setOrDelete(metadata, 'labels', withoutKeys(metadata.labels as Record<string, string>, status.podLabels, metaBefore?.labels !== undefined));
    if (metaBefore === undefined && Object.keys(metadata).length === 0) metadata = undefined;
  }
  if (after.kind === 'Pod') return { ...after, metadata: metadata as ObjectMeta, spec };
  const workload = after as Workload;
  const workloadMeta = { ...workload.metadata };
  setOrDelete(workloadMeta, 'annotations', withoutKeys(workloadMeta.annotations, [STATUS_ANNOTATION], before.metadata.annotations !== undefined));
  const template = { ...workload.spec.template } as Record<string, unknown>;
  setOrDelete(template, 'metadata', metadata);
  template.spec = spec;
  return { ...workload, metadata: workloadMeta, spec: { ...workload.spec, template } };
}

function rendered(mc: MeshConfig, app: AppModel): SidecarSpec {
  return renderSidecar(mc.spec.sidecar, placeholderValues(identityOf(app), mc.name));
}

/** Empty optional lists and label maps mean the same to the API server as absent ones. */
function normalise(object: KubeObject): KubeObject {
  const copy = structuredClone(object) as Workload | Pod;
  const parts = podParts(copy);
  for (const key of ['initContainers', 'volumes', 'imagePullSecrets'] as const) {
    if (Array.isArray(parts.spec[key]) && (parts.spec[key] as unknown[]).length === 0) delete parts.spec[key];
  }
  if (parts.metadata?.labels && Object.keys(parts.metadata.labels).length === 0) delete parts.metadata.labels;
  return copy;
}

// ---- properties -------------------------------------------------------------------------------

describe('fuzz/properties: injection over all kinds and Pods, with hostile extra fields', function () {
  this.timeout(30_000);

  it('injecting twice equals injecting once, for the four kinds and for Pods (injectPod)', function () {
    fc.assert(
      fc.property(sidecarModel, appModel, fc.nat(20), (model, app, generation) => {
        const mc = meshConfigOf(model, 'mesh-a', generation);
        const once = inject(deepFreeze(objectOf(app)), app, mc);
        expect(once.changed).to.equal(true);
        const twice = inject(deepFreeze(structuredClone(once.object)), app, mc);
        expect(twice.changed, 'a second injection changes nothing').to.equal(false);
        expect(twice.object).to.deep.equal(once.object);
        expect(twice.status).to.deep.equal(once.status);
      }),
      run(250),
    );
  });

  it('changes nothing outside the injected items, and the injected items are exactly the rendered sidecar', function () {
    fc.assert(
      fc.property(sidecarModel, appModel, (model, app) => {
        const mc = meshConfigOf(model, 'mesh-a', 3);
        const original = deepFreeze(objectOf(app));
        const snapshot = structuredClone(original);
        const { object, status } = inject(original, app, mc);
        expect(original, 'the input is not modified').to.deep.equal(snapshot);
        expect(stripInjection(object as Workload | Pod, snapshot, status)).to.deep.equal(snapshot);
        // What was added is the rendered sidecar, in MeshConfig order.
        const sidecar = rendered(mc, app);
        const spec = podParts(object as Workload | Pod).spec;
        const ours = (field: (typeof LISTS)[number]) => ((spec[field] as unknown[] | undefined) ?? []).filter((item) => status[field].includes(nameOf(item) ?? '\u0000none'));
        expect(ours('initContainers')).to.deep.equal(sidecar.initContainers);
        expect(ours('containers')).to.deep.equal(sidecar.containers);
        expect(ours('volumes')).to.deep.equal(sidecar.volumes);
        const userSecrets = (podParts(snapshot).spec.imagePullSecrets ?? []).map((s) => s.name);
        expect(status.imagePullSecrets).to.deep.equal(sidecar.imagePullSecrets.map((s) => s.name).filter((n) => !userSecrets.includes(n)));
        const meta = podParts(object as Workload | Pod).metadata!;
        for (const key of status.podAnnotations) expect(meta.annotations![key]).to.equal(sidecar.podAnnotations[key]);
        for (const key of status.podLabels) expect(meta.labels![key]).to.equal(sidecar.podLabels[key]);
      }),
      run(300),
    );
  });

  it('a MeshConfig change followed by re-injection equals a fresh injection with the new MeshConfig (any change, not only order-preserving)', function () {
    fc.assert(
      fc.property(sidecarModel, sidecarModel, appModel, fc.boolean(), (a, b, app, renamed) => {
        const mcA = meshConfigOf(a, 'mesh-a', 1);
        const mcB = meshConfigOf(b, renamed ? 'mesh-b' : 'mesh-a', 1);
        const original = deepFreeze(objectOf(app));
        const upgraded = inject(deepFreeze(inject(original, app, mcA).object as Workload | Pod), app, mcB);
        const fresh = inject(original, app, mcB);
        expect(upgraded.status).to.deep.equal(fresh.status);
        expect(normalise(upgraded.object)).to.deep.equal(normalise(fresh.object));
      }),
      run(250),
    );
  });

  it('buildInitializationPatch, applied to the original, gives the desired object minus our pending entry (Pods, releases, keys needing JSON Pointer escapes)', function () {
    // "__proto__" is left out of this one property: fast-json-patch refuses to apply a patch that
    // touches such a key (a guard of the JS library; the API server has no such notion).
    const noProto = appModel.filter((app) => !JSON.stringify(app, (key, value: unknown) => (key === '__proto__' ? 'PROTO' : value)).includes('PROTO'));
    fc.assert(
      fc.property(sidecarModel, noProto, fc.boolean(), fc.boolean(), (model, jsApp, release, withResult) => {
        // A patch travels as JSON: NaN and Infinity would arrive as null, so start from JSON.
        const app = toJson(jsApp);
        const original = toJson(objectOf(app));
        if (withResult) original.metadata.initializers!.result = { kind: 'Status', status: 'Failure', message: 'set by someone else' };
        deepFreeze(original);
        const desired = release ? original : inject(original, app, meshConfigOf(model, 'mesh-a', 1)).object;
        const ops = buildInitializationPatch({ original, desired, initializerName: OURS });
        expect(ops[0]).to.deep.equal({ op: 'test', path: '/metadata/initializers/pending/0/name', value: OURS });
        const result = applyPatch(structuredClone(original), ops as Operation[], true, false).newDocument;
        const expected = structuredClone(desired) as KubeObject;
        const rest = app.pending.slice(1);
        if (rest.length === 0 && !withResult) delete expected.metadata!.initializers;
        else expected.metadata!.initializers = { ...expected.metadata!.initializers, pending: structuredClone(rest) as Array<{ name: string }> };
        expect(result).to.deep.equal(expected);
        if (release) expect(ops.length, 'a release is only the test, the precondition and the removal').to.equal(app.resourceVersion === undefined ? 2 : 3);
      }),
      run(250),
    );
  });

  it('our turn is only when our name is first; taking our entry keeps every other entry (and later copies of ours) in order', function () {
    const entry = fc.tuple(fc.oneof(fc.constant(OURS), dns.map((n) => `${n}.example.com`), text), extras('name')).map(([name, rest]) => ({ ...rest, name }));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 3 }), fc.option(extras('pending', 'result'), { nil: undefined }), (jsOthers, positions, jsBlockExtras) => {
        const others = toJson(jsOthers);
        const blockExtras = jsBlockExtras === undefined ? undefined : toJson(jsBlockExtras);
        const pending = [...others];
        for (const at of positions) pending.splice(at % (pending.length + 1), 0, { name: OURS });
        const initializers = deepFreeze({ ...(blockExtras ?? {}), pending });
        const metadata = deepFreeze({ name: 'x', namespace: 'y', initializers });
        const first = pending[0]?.name === OURS;
        expect(isOwnTurn(metadata, OURS)).to.equal(first);
        if (!first) {
          expect(() => removeOwnInitializer(initializers, OURS)).to.throw(/not first/);
          expect(() => buildInitializationPatch({ original: { metadata }, desired: { metadata }, initializerName: OURS })).to.throw(/not first/);
          return;
        }
        const remaining = removeOwnInitializer(initializers, OURS);
        const rest = pending.slice(1);
        if (rest.length === 0) expect(remaining).to.equal(undefined);
        else expect(remaining).to.deep.equal({ ...(blockExtras ?? {}), pending: rest });
        const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata };
        const ops = buildInitializationPatch({ original: object, desired: object, initializerName: OURS });
        const patched = applyPatch(structuredClone(object), ops as Operation[], true, false).newDocument as KubeObject;
        expect(patched.metadata?.initializers?.pending ?? []).to.deep.equal(rest);
      }),
      run(300),
    );
  });
});
