// The MeshConfig CRDs (crds/) and the MeshConfigs validated by them (the sample the CLI loads,
// the examples). What a 1.9/1.13 server refuses in a v1beta1 schema comes from the recorded
// fixture 19 (/work/shared/fixtures/legacy-apiserver): `default`, `additionalProperties` beside
// `properties`.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import {
  MESHCONFIG_API_VERSION,
  MESHCONFIG_GROUP,
  MESHCONFIG_KIND,
  MESHCONFIG_PLURAL,
  MESHCONFIG_VERSION,
  PLACEHOLDERS,
} from '../../controller/core/constants.ts';
import { POD_TEMPLATE_KINDS } from '../../controller/core/types.ts';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import { desiredStatus } from '../../controller/kube/meshconfig-status.ts';
import { MeshConfigStore } from '../../controller/kube/meshconfig-store.ts';
import { createMemoryLogger } from '../../controller/logger.ts';

type Json = Record<string, unknown>;
type Schema = Json;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function loadDocs(rel: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path.join(ROOT, rel), 'utf8'));
  return docs.map((d) => {
    if (d.errors.length > 0) throw new Error(`${rel}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as unknown;
  });
}

function loadOne(rel: string): Json {
  const docs = loadDocs(rel);
  expect(docs, `${rel} holds exactly one document`).to.have.length(1);
  return docs[0] as Json;
}

const clone = <T>(v: T): T => structuredClone(v);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

// --- a small OpenAPI v3 schema walker: just the keywords the CRDs use --------------------------

const KEYWORDS = new Set([
  'type', 'enum', 'required', 'properties', 'items', 'minItems', 'additionalProperties',
  'description', 'format', 'default', 'x-kubernetes-preserve-unknown-fields', 'pattern', 'maxLength', 'minimum',
]);

interface ValidateOptions {
  /** apiextensions/v1 prunes fields the schema does not name: report them as errors. */
  pruning: boolean;
}

function typeMatches(type: unknown, v: unknown): boolean {
  switch (type) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    case undefined: return true;
    default: throw new Error(`schema walker: unsupported type ${String(type)}`);
  }
}

function validate(schema: Schema, value: unknown, at: string, opts: ValidateOptions): string[] {
  for (const k of Object.keys(schema)) {
    if (!KEYWORDS.has(k)) throw new Error(`schema walker: unsupported keyword ${k} at ${at}; extend the walker`);
  }
  if (!typeMatches(schema.type, value)) return [`${at}: expected ${String(schema.type)}, got ${JSON.stringify(value)}`];
  const errors: string[] = [];
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)) errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) errors.push(`${at}: longer than ${schema.maxLength}`);
  }
  if (typeof value === 'number' && typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${at}: less than ${schema.minimum}`);
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) {
      errors.push(`${at}: needs at least ${schema.minItems} items`);
    }
    if (isObject(schema.items)) {
      const items = schema.items;
      value.forEach((item, i) => errors.push(...validate(items, item, `${at}[${i}]`, opts)));
    }
  }
  if (isObject(value)) {
    for (const key of (schema.required as string[] | undefined) ?? []) {
      if (!(key in value)) errors.push(`${at}: ${key} is required`);
    }
    const props = isObject(schema.properties) ? schema.properties : undefined;
    for (const [key, v] of Object.entries(value)) {
      const sub = props?.[key];
      if (isObject(sub)) errors.push(...validate(sub, v, `${at}.${key}`, opts));
      else if (isObject(schema.additionalProperties)) errors.push(...validate(schema.additionalProperties, v, `${at}.${key}`, opts));
      else if (schema.additionalProperties === false) errors.push(`${at}.${key}: not allowed`);
      else if (props && opts.pruning && schema['x-kubernetes-preserve-unknown-fields'] !== true) {
        errors.push(`${at}.${key}: unknown field (pruned by the server)`);
      }
    }
  }
  return errors;
}

/** Visits every schema node (not the field names under `properties`), with its JSON path. */
function walkSchema(schema: Schema, visit: (node: Schema, at: string) => void, at = '$'): void {
  visit(schema, at);
  if (isObject(schema.properties)) {
    for (const [k, sub] of Object.entries(schema.properties)) walkSchema(sub as Schema, visit, `${at}.properties.${k}`);
  }
  if (isObject(schema.items)) walkSchema(schema.items, visit, `${at}.items`);
  if (isObject(schema.additionalProperties)) walkSchema(schema.additionalProperties, visit, `${at}.additionalProperties`);
}

function stripKeys(schema: Schema, keys: string[]): Schema {
  const out = clone(schema);
  walkSchema(out, (node) => keys.forEach((k) => delete node[k]));
  return out;
}

function at(obj: unknown, ...keys: (string | number)[]): unknown {
  return keys.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], obj);
}

// --- the files ---------------------------------------------------------------------------------

const crdV1 = loadOne('crds/meshconfig.v1.yaml');
const crdV1beta1 = loadOne('crds/meshconfig.v1beta1.yaml');
const v1Version = (at(crdV1, 'spec', 'versions') as Json[])[0]!;
const schemaV1 = at(v1Version, 'schema', 'openAPIV3Schema') as Schema;
const schemaV1beta1 = at(crdV1beta1, 'spec', 'validation', 'openAPIV3Schema') as Schema;
const sample = loadOne('manifests/meshconfig-sample.yaml');
const specSchema = (s: Schema, ...keys: string[]): Schema =>
  at(s, 'properties', 'spec', ...keys.flatMap((k) => ['properties', k])) as Schema;

describe('MeshConfig CRDs', () => {
  for (const [file, crd] of [['v1', crdV1], ['v1beta1', crdV1beta1]] as const) {
    it(`${file}: group, names, cluster scope and short name`, () => {
      expect(at(crd, 'metadata', 'name')).to.equal(`${MESHCONFIG_PLURAL}.${MESHCONFIG_GROUP}`);
      expect(at(crd, 'spec', 'group')).to.equal(MESHCONFIG_GROUP);
      expect(at(crd, 'spec', 'scope')).to.equal('Cluster');
      expect(at(crd, 'spec', 'names')).to.deep.equal({
        kind: MESHCONFIG_KIND, listKind: `${MESHCONFIG_KIND}List`, plural: MESHCONFIG_PLURAL,
        singular: 'meshconfig', shortNames: ['mc'],
      });
    });
  }

  it('v1: one served storage version with the status subresource and printer columns', () => {
    expect(crdV1.apiVersion).to.equal('apiextensions.k8s.io/v1');
    expect(at(crdV1, 'spec', 'versions')).to.have.length(1);
    expect(v1Version).to.include({ name: MESHCONFIG_VERSION, served: true, storage: true });
    expect(at(v1Version, 'subresources')).to.deep.equal({ status: {} });
  });

  it('v1beta1: spec.version (1.9 has no spec.versions), status subresource and printer columns', () => {
    expect(crdV1beta1.apiVersion).to.equal('apiextensions.k8s.io/v1beta1');
    expect(at(crdV1beta1, 'spec', 'version')).to.equal(MESHCONFIG_VERSION);
    expect(at(crdV1beta1, 'spec', 'versions')).to.equal(undefined);
    expect(at(crdV1beta1, 'spec', 'subresources')).to.deep.equal({ status: {} });
  });

  it('both: the same printer columns, each pointing at a field of the schema', () => {
    const v1Cols = (at(v1Version, 'additionalPrinterColumns') as Json[])
      .map((c) => ({ name: c.name, type: c.type, path: c.jsonPath, priority: c.priority }));
    const betaCols = (at(crdV1beta1, 'spec', 'additionalPrinterColumns') as Json[])
      .map((c) => ({ name: c.name, type: c.type, path: c.JSONPath, priority: c.priority }));
    expect(betaCols).to.deep.equal(v1Cols);
    // What `kubectl get mc` shows; -o wide adds the priority-1 columns.
    expect(v1Cols.filter((c) => c.priority === undefined).map((c) => c.name)).to.deep.equal(['Policy', 'Priority', 'Ready', 'Injected', 'Outdated', 'Age']);
    expect(v1Cols.filter((c) => c.priority === 1).map((c) => c.name)).to.deep.equal(['Reason', 'Matched', 'FailurePolicy', 'Kinds']);
    for (const col of v1Cols) {
      // A filter (`conditions[?(@.type=="Ready")]`) selects an item of the array it follows.
      const [top, ...rest] = String(col.path).replace(/^\./, '').replace(/\[\?\(@\.type=="[A-Za-z]+"\)\]/g, '.[]').split('.');
      if (top === 'metadata') continue;
      const node = at(schemaV1, 'properties', top!, ...rest.flatMap((k) => (k === '[]' ? ['items'] : ['properties', k])));
      expect(node, `printer column ${String(col.name)} -> ${String(col.path)}`).to.be.an('object');
    }
  });

  it('v1beta1: nothing the 1.9/1.13 servers refuse or drop (default, any additionalProperties, ...)', () => {
    const problems: string[] = [];
    walkSchema(schemaV1beta1, (node, p) => {
      for (const k of ['default', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string',
        '$ref', 'definitions', 'dependencies', 'patternProperties', 'uniqueItems', 'additionalItems']) {
        if (k in node) problems.push(`${p}: ${k}`);
      }
      // 1.9 refuses additionalProperties in any form (422 "additionalProperties cannot be set to
      // false", also for `{type: string}` on a map): seen on a real v1.9.11.
      if ('additionalProperties' in node) problems.push(`${p}: additionalProperties`);
    });
    expect(problems).to.deep.equal([]);
    // Belt and braces: no `default:` key anywhere in the file, whatever the nesting.
    expect(JSON.stringify(crdV1beta1)).not.to.match(/"default":/);
  });

  it('v1: structural (every node typed, arrays have items, no additionalProperties beside properties)', () => {
    const problems: string[] = [];
    walkSchema(schemaV1, (node, p) => {
      if (typeof node.type !== 'string') problems.push(`${p}: no type`);
      if (node.type === 'array' && !isObject(node.items)) problems.push(`${p}: array without items`);
      if ('additionalProperties' in node && 'properties' in node) problems.push(`${p}: additionalProperties beside properties`);
      if ('default' in node) {
        const errs = validate(stripKeys(node, ['default']), node.default, `${p}.default`, { pruning: true });
        problems.push(...errs);
      }
    });
    expect(problems).to.deep.equal([]);
  });

  it('v1 and v1beta1 validate the same way (v1 adds defaults, preserve-unknown-fields and string-map value types)', () => {
    expect(stripKeys(schemaV1, ['default', 'x-kubernetes-preserve-unknown-fields', 'nullable', 'additionalProperties'])).to.deep.equal(schemaV1beta1);
  });

  it('v1beta1 lets a non-string map value through, and the controller refuses that MeshConfig', () => {
    const mc = clone(sample);
    (at(mc, 'spec', 'sidecar') as Json).podLabels = { a: 1 };
    (mc.spec as Json).selector = { matchLabels: { app: true } };
    expect(validate(schemaV1beta1, mc, '$', { pruning: false })).to.deep.equal([]);
    const parsed = parseMeshConfig({ ...mc, metadata: { name: 'maps' } });
    expect(parsed.ok).to.equal(false);
    if (!parsed.ok) expect(parsed.error.problems.join('; ')).to.include('podLabels').and.include('matchLabels');
  });

  it('v1: the defaults the controller also applies', () => {
    expect(at(specSchema(schemaV1, 'policy'), 'default')).to.equal('Enabled');
    expect(at(specSchema(schemaV1, 'failurePolicy'), 'default')).to.equal('Ignore');
    expect(at(specSchema(schemaV1, 'priority'), 'default')).to.equal(0);
    expect(at(specSchema(schemaV1, 'kinds'), 'default')).to.deep.equal([...POD_TEMPLATE_KINDS]);
  });

  it('v1: containers and volumes are kept whole (preserve-unknown-fields, typed objects with required names)', () => {
    for (const list of ['initContainers', 'containers', 'volumes']) {
      const items = at(specSchema(schemaV1, 'sidecar', list), 'items') as Schema;
      expect(items, list).to.include({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
      expect(items.required, list).to.include('name');
      if (list !== 'volumes') expect(items.required, list).to.include('image');
    }
  });

  it('both: enums and required fields match the controller types', () => {
    for (const s of [schemaV1, schemaV1beta1]) {
      expect(at(specSchema(s, 'kinds'), 'items', 'enum')).to.deep.equal([...POD_TEMPLATE_KINDS]);
      expect(at(specSchema(s, 'conflictingContainers'), 'items')).to.deep.equal({ type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 });
      expect(at(specSchema(s, 'policy'), 'enum')).to.deep.equal(['Enabled', 'Disabled']);
      expect(at(specSchema(s, 'failurePolicy'), 'enum')).to.deep.equal(['Ignore', 'Fail']);
      expect(at(s, 'properties', 'spec', 'required')).to.deep.equal(['sidecar']);
      expect(at(specSchema(s, 'sidecar', 'containers'), 'minItems')).to.equal(1);
      for (const sel of ['namespaceSelector', 'selector']) {
        expect(at(specSchema(s, sel, 'matchExpressions'), 'items', 'properties', 'operator', 'enum'))
          .to.deep.equal(['In', 'NotIn', 'Exists', 'DoesNotExist']);
      }
    }
  });
});

describe('MeshConfig documents against the CRD schema', () => {
  const schemas = [['v1', schemaV1, true], ['v1beta1', schemaV1beta1, false]] as const;

  for (const file of ['manifests/meshconfig-sample.yaml', 'examples/meshconfig-opt-in.yaml']) {
    for (const [name, schema, pruning] of schemas) {
      it(`${file} is valid for the ${name} CRD`, () => {
        const mc = loadOne(file);
        expect(mc.apiVersion).to.equal(MESHCONFIG_API_VERSION);
        expect(mc.kind).to.equal(MESHCONFIG_KIND);
        expect(validate(schema, mc, '$', { pruning })).to.deep.equal([]);
      });
    }
  }

  it('the status meshinit writes is valid for both CRDs, and v1 prunes none of it', () => {
    const mc = clone(sample);
    (mc.metadata as Json).generation = 3;
    const verdict = new MeshConfigStore(createMemoryLogger()).apply(mc);
    for (const counts of [{ matched: 4, selecting: 6, takenBy: ['strict'], injected: 3, outdated: 1 }, { matched: 0, selecting: 2, takenBy: ['strict'] }]) {
      mc.status = desiredStatus(verdict, mc, new Date('2026-11-30T20:00:00Z'), counts) as unknown as Json;
      for (const [name, schema, pruning] of schemas) expect(validate(schema, mc, '$', { pruning }), name).to.deep.equal([]);
    }
  });

  const broken: [string, (mc: Json) => void][] = [
    ['policy: Sometimes (refused by the real servers, fixture 19)', (mc) => { (mc.spec as Json).policy = 'Sometimes'; }],
    ['no sidecar', (mc) => { delete (mc.spec as Json).sidecar; }],
    ['no containers in the sidecar', (mc) => { (at(mc, 'spec', 'sidecar') as Json).containers = []; }],
    ['a container without image', (mc) => { delete (at(mc, 'spec', 'sidecar', 'containers', 0) as Json).image; }],
    ['a volume without name', (mc) => { delete (at(mc, 'spec', 'sidecar', 'volumes', 0) as Json).name; }],
    ['kind PodTemplate', (mc) => { (mc.spec as Json).kinds = ['PodTemplate']; }],
    ['a conflicting container name that is not a DNS-1123 label', (mc) => { (mc.spec as Json).conflictingContainers = ['Vault_Agent']; }],
    ['a conflicting container name of 64 characters', (mc) => { (mc.spec as Json).conflictingContainers = ['a'.repeat(64)]; }],
    ['failurePolicy Retry', (mc) => { (mc.spec as Json).failurePolicy = 'Retry'; }],
    ['priority "high"', (mc) => { (mc.spec as Json).priority = 'high'; }],
    ['priority 1.5', (mc) => { (mc.spec as Json).priority = 1.5; }],
    ['a podLabels value that is not a string', (mc) => { (at(mc, 'spec', 'sidecar') as Json).podLabels = { a: 1 }; }],
    ['selector operator Gt', (mc) => {
      (mc.spec as Json).selector = { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] };
    }],
    ['namespaceSelector expression without key', (mc) => {
      (mc.spec as Json).namespaceSelector = { matchExpressions: [{ operator: 'Exists' }] };
    }],
    ['imagePullSecrets as strings', (mc) => { (at(mc, 'spec', 'sidecar') as Json).imagePullSecrets = ['regcred']; }],
    ['a condition with status Maybe', (mc) => { mc.status = { conditions: [{ type: 'Ready', status: 'Maybe' }] }; }],
  ];
  for (const [what, breakIt] of broken) {
    it(`refuses a MeshConfig with ${what}`, () => {
      for (const [name, schema, pruning] of schemas) {
        // 1.9 refuses additionalProperties in a CRD, so v1beta1 cannot type map values: the
        // controller's own validation catches those (tested above).
        if (name === 'v1beta1' && what.includes('podLabels')) continue;
        const mc = clone(sample);
        breakIt(mc);
        expect(validate(schema, mc, '$', { pruning }), name).not.to.deep.equal([]);
      }
    });
  }

  it('v1 would prune a misspelt spec field (the walker reports it) but keeps unknown container fields', () => {
    const mc = clone(sample);
    (mc.spec as Json).failurPolicy = 'Fail';
    expect(validate(schemaV1, mc, '$', { pruning: true })).to.deep.equal(['$.spec.failurPolicy: unknown field (pruned by the server)']);
    const kept = clone(sample);
    (at(kept, 'spec', 'sidecar', 'containers', 0) as Json).lifecycle = { preStop: { exec: { command: ['sleep', '5'] } } };
    expect(validate(schemaV1, kept, '$', { pruning: true })).to.deep.equal([]);
  });
});

describe('the sample MeshConfig (built-in default of meshinit inject)', () => {
  const sidecar = at(sample, 'spec', 'sidecar') as Json;
  const containers = sidecar.containers as Json[];
  const initContainers = sidecar.initContainers as Json[];

  it('is a single document named default, selecting every pod-template kind, policy Enabled, failurePolicy Ignore', () => {
    expect(loadDocs('manifests/meshconfig-sample.yaml')).to.have.length(1);
    expect(at(sample, 'metadata', 'name')).to.equal('default');
    expect(sample.spec).to.include({ policy: 'Enabled', failurePolicy: 'Ignore' });
    expect(at(sample, 'spec', 'kinds')).to.deep.equal([...POD_TEMPLATE_KINDS]);
  });

  it('has the mesh-init init container and the mesh-proxy container on the expected images', () => {
    expect(initContainers.map((c) => [c.name, c.image])).to.deep.equal([['mesh-init', 'ghcr.io/meshinit/proxy-init:1.0.0']]);
    expect(containers.map((c) => [c.name, c.image])).to.deep.equal([['mesh-proxy', 'ghcr.io/meshinit/proxy:1.0.0']]);
    expect(at(initContainers[0], 'securityContext', 'capabilities', 'add')).to.include.members(['NET_ADMIN', 'NET_RAW']);
    expect(at(containers[0], 'securityContext', 'runAsUser')).to.equal(1337);
    expect(containers[0]!.args).to.include.members(['--serviceCluster', '{{workload.name}}', '--namespace', '{{workload.namespace}}']);
    expect((containers[0]!.ports as Json[]).map((p) => p.containerPort)).to.include.members([15001, 15090]);
    expect(containers[0]!.readinessProbe).to.be.an('object');
    expect(at(containers[0], 'resources', 'limits')).to.be.an('object');
  });

  it('the proxy runs as the uid the iptables rules exclude, or it would loop into itself', () => {
    const args = (initContainers[0]!.args as string[]).join(' ');
    expect(args).to.include(`--proxy-uid=${String(at(containers[0], 'securityContext', 'runAsUser'))}`);
  });

  it('mounts only volumes it declares; port names are unique, at most 15 characters', () => {
    const volumes = (sidecar.volumes as Json[]).map((v) => v.name);
    expect(sidecar.volumes).to.deep.equal([{ name: 'mesh-proxy-config', emptyDir: { medium: 'Memory' } }]);
    for (const c of [...initContainers, ...containers]) {
      for (const m of (c.volumeMounts as Json[] | undefined) ?? []) expect(volumes).to.include(m.name);
    }
    const names = [...initContainers, ...containers].flatMap((c) => ((c.ports as Json[] | undefined) ?? []).map((p) => String(p.name)));
    expect(new Set(names).size).to.equal(names.length);
    for (const n of names) expect(n.length, n).to.be.at.most(15);
  });

  it('pod labels and annotations are strings, including the proxy label', () => {
    expect(sidecar.podLabels).to.deep.include({ 'meshinit.dev/proxy': 'true' });
    expect(sidecar.podAnnotations).to.deep.include({ 'prometheus.io/port': '15090' });
  });

  for (const file of ['manifests/meshconfig-sample.yaml', 'examples/meshconfig-opt-in.yaml']) {
    it(`${file} uses only the known placeholders`, () => {
      const used = [...JSON.stringify(loadOne(file)).matchAll(/\{\{(.*?)\}\}/g)].map((m) => m[1]);
      expect(used.length).to.be.greaterThan(0);
      for (const p of used) expect(PLACEHOLDERS as readonly string[], `{{${String(p)}}}`).to.include(p);
    });
  }
});
