// Property-based tests of injection over random application pod specs and random MeshConfigs.
import { expect } from 'chai';
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { injectWorkload } from '../../controller/core/inject.ts';
import { buildInitializationPatch } from '../../controller/core/patch.ts';
import { placeholderValues, renderSidecar } from '../../controller/core/render.ts';
import { WORKLOAD_KINDS, type Container, type MeshConfig, type SidecarSpec, type Volume, type Workload } from '../../controller/core/types.ts';
import { deepFreeze, mustParse, names, omit, OUR_INITIALIZER } from './fixtures/helpers.ts';

const { applyPatch } = fastJsonPatch;
const RUNS = { numRuns: 200 };

// ---- generators ---------------------------------------------------------------------------

const dnsName = fc.stringMatching(/^[a-z]([a-z0-9-]{0,5}[a-z0-9])?$/);
const arg = fc.constantFrom('proxy', '--serviceCluster', '{{workload.name}}', '{{ workload.namespace }}', '{{workload.kind}}', '{{meshConfig.name}}', '$&', '$1', "$'");
const image = fc.constantFrom('registry.example.com/mesh/envoy:1.8.0', 'registry.example.com/mesh/envoy:1.9.1', 'registry.example.com/mesh/proxy-init:1.4.2');
const annotationKey = fc.constantFrom('mesh.example.com/version', 'prometheus.io/scrape', 'prometheus.io/port', 'note', 'mesh.example.com/cluster');
const annotationValue = fc.constantFrom('1.8.0', 'true', 'false', '{{workload.name}}.{{workload.namespace}}', '$&', '');
const labelKey = fc.constantFrom('mesh.example.com/proxied', 'app', 'version', 'security.istio.io/tlsMode');
const labelValue = fc.constantFrom('true', 'v1', 'istio', '');
const secretName = fc.constantFrom('regcred', 'mesh-registry', 'shop-registry', 'gcr-json-key');

interface SidecarModel {
  init: Container[];
  containers: Container[];
  volumes: Volume[];
  secrets: string[];
  annotations: Record<string, string>;
  labels: Record<string, string>;
}

const containerBody = fc.record({ image, args: fc.array(arg, { maxLength: 4 }), privileged: fc.boolean() });

const sidecarModel: fc.Arbitrary<SidecarModel> = fc
  .record({
    containerNames: fc.uniqueArray(dnsName, { minLength: 1, maxLength: 5 }),
    initCount: fc.nat(),
    bodies: fc.array(containerBody, { minLength: 5, maxLength: 5 }),
    volumes: fc.uniqueArray(fc.tuple(dnsName, fc.boolean()), { selector: ([name]) => name, maxLength: 3 }),
    secrets: fc.uniqueArray(secretName, { maxLength: 2 }),
    annotations: fc.dictionary(annotationKey, annotationValue, { maxKeys: 3 }),
    labels: fc.dictionary(labelKey, labelValue, { maxKeys: 2 }),
  })
  .map(({ containerNames, initCount, bodies, volumes, secrets, annotations, labels }) => {
    const items = containerNames.map((name, i): Container => {
      const body = bodies[i]!;
      return { name, image: body.image, args: body.args, ...(body.privileged ? { securityContext: { privileged: true } } : {}) };
    });
    const split = initCount % containerNames.length;
    return {
      init: items.slice(0, split),
      containers: items.slice(split),
      volumes: volumes.map(([name, secret]) => (secret ? { name, secret: { secretName: 'mesh.{{workload.namespace}}' } } : { name, emptyDir: { medium: 'Memory' } })),
      secrets,
      annotations,
      labels,
    };
  });

function meshConfigFrom(model: SidecarModel, generation: number, name = 'mesh-a'): MeshConfig {
  return mustParse({
    apiVersion: 'meshinit.dev/v1alpha1',
    kind: 'MeshConfig',
    metadata: { name, generation },
    spec: {
      sidecar: {
        initContainers: model.init,
        containers: model.containers,
        volumes: model.volumes,
        imagePullSecrets: model.secrets.map((s) => ({ name: s })),
        podAnnotations: model.annotations,
        podLabels: model.labels,
      },
    },
  });
}

interface AppModel {
  kind: (typeof WORKLOAD_KINDS)[number];
  name: string;
  namespace: string;
  containerNames: string[];
  initCount: number;
  volumes: string[];
  secrets: string[];
  hasTemplateMetadata: boolean;
  templateAnnotations: Record<string, string> | undefined;
  templateLabels: Record<string, string> | undefined;
  workloadAnnotations: Record<string, string> | undefined;
  workloadLabels: Record<string, string>;
  others: string[];
  podExtras: Record<string, unknown>;
}

const appModel: fc.Arbitrary<AppModel> = fc.record({
  kind: fc.constantFrom(...WORKLOAD_KINDS),
  name: dnsName,
  namespace: fc.constantFrom('shop', 'default', 'team-a'),
  containerNames: fc.uniqueArray(dnsName, { minLength: 1, maxLength: 6 }),
  initCount: fc.nat(),
  volumes: fc.uniqueArray(dnsName, { maxLength: 4 }),
  secrets: fc.uniqueArray(secretName, { maxLength: 3 }),
  hasTemplateMetadata: fc.boolean(),
  templateAnnotations: fc.option(fc.dictionary(fc.oneof(annotationKey, fc.constantFrom('team.example.com/owner')), annotationValue, { maxKeys: 3 }), { nil: undefined }),
  templateLabels: fc.option(fc.dictionary(labelKey, labelValue, { maxKeys: 3 }), { nil: undefined }),
  workloadAnnotations: fc.option(fc.dictionary(fc.constantFrom('deployment.kubernetes.io/revision', 'team.example.com/owner', 'note'), fc.constantFrom('1', 'payments', '{{workload.name}}')), { nil: undefined }),
  workloadLabels: fc.dictionary(labelKey, labelValue, { maxKeys: 2 }),
  others: fc.array(fc.constantFrom('podpreset.initializer.example.com', 'quota.initializer.example.com'), { maxLength: 2 }),
  podExtras: fc.record(
    {
      restartPolicy: fc.constantFrom('Always', 'OnFailure', 'Never'),
      terminationGracePeriodSeconds: fc.nat(120),
      nodeSelector: fc.dictionary(fc.constantFrom('disk', 'zone'), fc.constantFrom('ssd', 'eu-1')),
      hostNetwork: fc.constant(false),
      serviceAccountName: dnsName,
      securityContext: fc.constant({}),
    },
    { requiredKeys: [] },
  ),
});

/** Builds the app workload, dropping user names that a sidecar in `sidecars` also uses. */
function workloadFrom(app: AppModel, sidecars: SidecarModel[]): Workload | undefined {
  const sidecarContainers = new Set(sidecars.flatMap((s) => [...s.init, ...s.containers].map((c) => c.name)));
  const sidecarVolumes = new Set(sidecars.flatMap((s) => s.volumes.map((v) => v.name)));
  const free = app.containerNames.filter((n) => !sidecarContainers.has(n));
  const split = free.length === 0 ? 0 : app.initCount % free.length;
  const containers = free.slice(split).map((name, i): Container => ({ name, image: `registry.example.com/app/${name}:${i}`, ports: [{ containerPort: 8080 + i }] }));
  if (containers.length === 0) return undefined;
  const initContainers = free.slice(0, split).map((name): Container => ({ name, image: 'busybox:1.29', command: ['sh', '-c', 'true'] }));
  const volumes = app.volumes.filter((n) => !sidecarVolumes.has(n)).map((name): Volume => ({ name, configMap: { name: `${name}-config` } }));
  const spec: Record<string, unknown> = { ...app.podExtras };
  if (initContainers.length > 0) spec.initContainers = initContainers;
  spec.containers = containers;
  if (volumes.length > 0) spec.volumes = volumes;
  if (app.secrets.length > 0) spec.imagePullSecrets = app.secrets.map((name) => ({ name }));
  const templateMetadata: Record<string, unknown> = { creationTimestamp: null };
  if (app.templateAnnotations) templateMetadata.annotations = app.templateAnnotations;
  if (app.templateLabels) templateMetadata.labels = app.templateLabels;
  return {
    apiVersion: app.kind === 'Job' ? 'batch/v1' : 'apps/v1',
    kind: app.kind,
    metadata: {
      name: app.name,
      namespace: app.namespace,
      uid: '5b87242d-e6e1-11f1-aab2-5250ef7abce5',
      resourceVersion: '43',
      generation: 1,
      labels: app.workloadLabels,
      ...(app.workloadAnnotations ? { annotations: app.workloadAnnotations } : {}),
      initializers: { pending: [OUR_INITIALIZER, ...app.others].map((name) => ({ name })) },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: app.name } },
      template: { ...(app.hasTemplateMetadata ? { metadata: templateMetadata } : {}), spec: spec as unknown as Workload['spec']['template']['spec'] },
    },
    status: {},
  };
}

function rendered(mc: MeshConfig, workload: Workload): SidecarSpec {
  return renderSidecar(mc.spec.sidecar, placeholderValues({ kind: workload.kind, name: workload.metadata.name!, namespace: workload.metadata.namespace! }, mc.name));
}

// ---- checks -------------------------------------------------------------------------------

/** Everything outside the injected items is as it was, and the injected items are exactly the sidecar's. */
function checkInjection(original: Workload, result: Workload, mc: MeshConfig): void {
  const sidecar = rendered(mc, original);
  const before = original.spec.template.spec;
  const after = result.spec.template.spec;
  const sidecarContainerNames = new Set(sidecar.containers.map((c) => c.name));
  const sidecarInitNames = new Set(sidecar.initContainers.map((c) => c.name));
  const sidecarVolumeNames = new Set(sidecar.volumes.map((v) => v.name));

  // Lists: sidecar init containers first, the rest appended; user items unchanged and in order.
  expect(after.initContainers ?? []).to.deep.equal([...sidecar.initContainers, ...(before.initContainers ?? [])]);
  expect(after.containers).to.deep.equal([...before.containers, ...sidecar.containers]);
  expect(after.volumes ?? []).to.deep.equal([...(before.volumes ?? []), ...sidecar.volumes]);
  const userSecrets = names(before.imagePullSecrets);
  expect(names(after.imagePullSecrets)).to.deep.equal([...userSecrets, ...names(sidecar.imagePullSecrets).filter((n) => !userSecrets.includes(n))]);
  expect(after.containers.filter((c) => !sidecarContainerNames.has(c.name))).to.deep.equal(before.containers);
  expect((after.initContainers ?? []).filter((c) => !sidecarInitNames.has(c.name))).to.deep.equal(before.initContainers ?? []);
  expect((after.volumes ?? []).filter((v) => !sidecarVolumeNames.has(v.name))).to.deep.equal(before.volumes ?? []);

  // Pod spec fields other than the four lists.
  const lists = ['initContainers', 'containers', 'volumes', 'imagePullSecrets'];
  expect(omit(after, ...lists)).to.deep.equal(omit(before, ...lists));

  // Template metadata: user annotations/labels keep their values; ours are added only where absent.
  const beforeMeta = original.spec.template.metadata ?? {};
  const afterMeta = result.spec.template.metadata!;
  const { annotations: afterAnnotations, labels: afterLabels, ...afterMetaRest } = afterMeta;
  const { annotations: beforeAnnotations, labels: beforeLabels, ...beforeMetaRest } = beforeMeta;
  expect(afterMetaRest).to.deep.equal(beforeMetaRest);
  const { [STATUS_ANNOTATION]: templateStatus, ...annotationsWithoutStatus } = afterAnnotations!;
  expect(annotationsWithoutStatus).to.deep.equal({ ...sidecar.podAnnotations, ...(beforeAnnotations ?? {}) });
  expect(afterLabels ?? {}).to.deep.equal({ ...sidecar.podLabels, ...(beforeLabels ?? {}) });

  // The record: exactly the items added, on the template and the workload.
  const record = JSON.parse(templateStatus!);
  expect(record).to.deep.include({
    meshConfig: mc.name,
    generation: mc.generation,
    initContainers: [...sidecarInitNames],
    containers: [...sidecarContainerNames],
    volumes: [...sidecarVolumeNames],
    imagePullSecrets: names(sidecar.imagePullSecrets).filter((n) => !userSecrets.includes(n)),
    podAnnotations: Object.keys(sidecar.podAnnotations).filter((k) => !Object.hasOwn(beforeAnnotations ?? {}, k)),
    podLabels: Object.keys(sidecar.podLabels).filter((k) => !Object.hasOwn(beforeLabels ?? {}, k)),
  });
  expect(result.metadata.annotations![STATUS_ANNOTATION]).to.equal(templateStatus);

  // The workload outside its template.
  const { annotations: wAnnotations, ...wMeta } = result.metadata;
  const { annotations: wBeforeAnnotations, ...wBeforeMeta } = original.metadata;
  expect(wMeta).to.deep.equal(wBeforeMeta);
  expect(omit(wAnnotations, STATUS_ANNOTATION)).to.deep.equal(wBeforeAnnotations ?? {});
  expect(omit(result.spec, 'template')).to.deep.equal(omit(original.spec, 'template'));
  expect(omit(result, 'spec', 'metadata')).to.deep.equal(omit(original, 'spec', 'metadata'));
}

/** Empty optional lists and an empty label map mean the same to the API server as absent ones. */
function normalise(workload: Workload): Workload {
  const copy = structuredClone(workload);
  const spec = copy.spec.template.spec as unknown as Record<string, unknown>;
  for (const key of ['initContainers', 'volumes', 'imagePullSecrets']) if (Array.isArray(spec[key]) && (spec[key] as unknown[]).length === 0) delete spec[key];
  const meta = copy.spec.template.metadata;
  if (meta?.labels && Object.keys(meta.labels).length === 0) delete meta.labels;
  return copy;
}

// ---- an order-preserving edit of a sidecar (the kind of change an upgrade makes) -------------

interface Edit {
  keep: boolean[];
  bump: boolean[];
  added: string[];
  addAt: number[];
  keepVolumes: boolean[];
  addedVolumes: string[];
  keepSecrets: boolean[];
  addedSecrets: string[];
  annotations: Record<string, string>;
  dropAnnotations: boolean;
  labels: Record<string, string>;
}

const editArb: fc.Arbitrary<Edit> = fc.record({
  keep: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  bump: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  added: fc.uniqueArray(dnsName.map((n) => `${n}-v2`), { maxLength: 2 }),
  addAt: fc.array(fc.nat(), { minLength: 2, maxLength: 2 }),
  keepVolumes: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  addedVolumes: fc.uniqueArray(dnsName.map((n) => `${n}-v2`), { maxLength: 2 }),
  keepSecrets: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
  addedSecrets: fc.uniqueArray(fc.constantFrom('regcred', 'gcr-json-key', 'quay-creds'), { maxLength: 1 }),
  annotations: fc.dictionary(annotationKey, annotationValue, { maxKeys: 3 }),
  dropAnnotations: fc.boolean(),
  labels: fc.dictionary(labelKey, labelValue, { maxKeys: 2 }),
});

/**
 * Applies `edit` to `a`: drops items, bumps images, adds new containers (new init containers may go
 * anywhere among the kept ones; new containers, volumes and secrets go last). Common items keep
 * their relative order.
 */
function applyEdit(a: SidecarModel, edit: Edit): SidecarModel {
  const bump = (c: Container, i: number): Container => (edit.bump[i] ? { ...c, image: 'registry.example.com/mesh/envoy:2.0.0' } : c);
  const all = [...a.init.map((c) => ({ c, init: true })), ...a.containers.map((c) => ({ c, init: false }))];
  const taken = new Set(all.map(({ c }) => c.name));
  const kept = all.map(({ c, init }, i) => ({ c: bump(c, i), init, keep: edit.keep[i]! }));
  const init = kept.filter((k) => k.init && k.keep).map((k) => k.c);
  let containers = kept.filter((k) => !k.init && k.keep).map((k) => k.c);
  edit.added.filter((n) => !taken.has(n)).forEach((name, i) => {
    const c: Container = { name, image: 'registry.example.com/mesh/agent:1.0' };
    if (i === 0) init.splice(edit.addAt[0]! % (init.length + 1), 0, c);
    else containers.push(c);
  });
  if (containers.length === 0) containers = [a.containers[0]!];
  const volumeNames = new Set(a.volumes.map((v) => v.name));
  const secretNames = new Set(a.secrets);
  return {
    init,
    containers,
    volumes: [...a.volumes.filter((_, i) => edit.keepVolumes[i]), ...edit.addedVolumes.filter((n) => !volumeNames.has(n)).map((name) => ({ name, emptyDir: {} }))],
    secrets: [...a.secrets.filter((_, i) => edit.keepSecrets[i]), ...edit.addedSecrets.filter((n) => !secretNames.has(n))],
    annotations: edit.dropAnnotations ? edit.annotations : { ...a.annotations, ...edit.annotations },
    labels: edit.labels,
  };
}

// ---- properties ---------------------------------------------------------------------------

describe('core/inject: properties over random pod specs and MeshConfigs', () => {
  it('inject(inject(x)) equals inject(x), and reports no change', () => {
    fc.assert(
      fc.property(sidecarModel, appModel, fc.nat(50), (model, app, generation) => {
        const workload = workloadFrom(app, [model]);
        fc.pre(workload !== undefined);
        const mc = meshConfigFrom(model, generation);
        const once = injectWorkload(workload!, mc);
        expect(once.changed).to.equal(true);
        const twice = injectWorkload(deepFreeze(structuredClone(once.object)), mc);
        expect(twice.changed).to.equal(false);
        expect(twice.object).to.deep.equal(once.object);
        // A new generation of the same sidecar is no change either.
        const bumped = injectWorkload(once.object, meshConfigFrom(model, generation + 1));
        expect(bumped.changed).to.equal(false);
        expect(bumped.object).to.deep.equal(once.object);
      }),
      RUNS,
    );
  });

  it('changes nothing outside the injected items, and injects exactly the rendered sidecar', () => {
    fc.assert(
      fc.property(sidecarModel, appModel, fc.nat(50), (model, app, generation) => {
        const workload = workloadFrom(app, [model]);
        fc.pre(workload !== undefined);
        const original = deepFreeze(workload!);
        const snapshot = structuredClone(original);
        const mc = meshConfigFrom(model, generation);
        const result = injectWorkload(original, mc);
        expect(original).to.deep.equal(snapshot);
        checkInjection(snapshot, result.object, mc);
      }),
      RUNS,
    );
  });

  it('an order-preserving upgrade gives the same object as a fresh injection of the new MeshConfig', () => {
    fc.assert(
      fc.property(sidecarModel, editArb, appModel, (a, edit, app) => {
        const b = applyEdit(a, edit);
        const workload = workloadFrom(app, [a, b]);
        fc.pre(workload !== undefined);
        // Same generation on both sides, so the records compare equal whether or not the sidecar changed.
        const mcA = meshConfigFrom(a, 1);
        const mcB = meshConfigFrom(b, 1);
        const upgraded = injectWorkload(injectWorkload(workload!, mcA).object, mcB);
        const fresh = injectWorkload(workload!, mcB);
        expect(upgraded.status).to.deep.equal(fresh.status);
        expect(normalise(upgraded.object)).to.deep.equal(normalise(fresh.object));
        checkInjection(workload!, normalise(upgraded.object), mcB);
      }),
      RUNS,
    );
  });

  it('the initialization patch, applied to the original, yields the injected object minus our pending entry', () => {
    fc.assert(
      fc.property(sidecarModel, appModel, (model, app) => {
        const workload = workloadFrom(app, [model]);
        fc.pre(workload !== undefined);
        const original = deepFreeze(workload!);
        const desired = injectWorkload(original, meshConfigFrom(model, 1)).object;
        const patch = buildInitializationPatch({ original, desired, initializerName: OUR_INITIALIZER });
        const result = applyPatch(structuredClone(original), patch as Operation[], true, true).newDocument;
        const expected = structuredClone(desired);
        if (app.others.length === 0) delete expected.metadata.initializers;
        else expected.metadata.initializers = { pending: app.others.map((name) => ({ name })) };
        expect(result).to.deep.equal(expected);
        expect(patch.slice(3).some((op) => op.path.startsWith('/metadata/initializers'))).to.equal(false);
      }),
      RUNS,
    );
  });
});
