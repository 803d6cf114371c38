// The Initializer-mode install (manifests/initializer) and its opt-in overlay
// (manifests/initializer-job-pods). The kustomizations are rendered here by a minimal kustomize
// (resources + JSON 6902 patches, the only features they use) so the checks run without kubectl;
// when kubectl is on the PATH its `kubectl kustomize` output is compared with ours as well.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { expect } from 'chai';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_INITIALIZER_NAME, INJECT_ANNOTATION, NAMESPACE_INJECTION_DISABLED, NAMESPACE_INJECTION_LABEL } from '../../controller/core/constants.ts';

type Json = Record<string, unknown>;
interface KubeDoc extends Json { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown } }

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASE = 'manifests/initializer';
const OVERLAY = 'manifests/initializer-job-pods';
const NAMESPACE = 'meshinit-system';

function loadDocs(abs: string): unknown[] {
  return parseAllDocuments(readFileSync(abs, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${abs}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as unknown;
  }).filter((d) => d !== null);
}

// --- a minimal kustomize ----------------------------------------------------------------------

const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'patches']);

interface Target { group?: string; version?: string; kind?: string; name?: string; namespace?: string }

function matches(doc: KubeDoc, t: Target): boolean {
  const [group, version] = doc.apiVersion.includes('/') ? doc.apiVersion.split('/') : ['', doc.apiVersion];
  return (t.group === undefined || t.group === group) && (t.version === undefined || t.version === version)
    && (t.kind === undefined || t.kind === doc.kind) && (t.name === undefined || t.name === doc.metadata.name)
    && (t.namespace === undefined || t.namespace === doc.metadata.namespace);
}

/** Paths a kustomization refers to: [kind, path relative to the repository]. */
function references(dir: string): [string, string][] {
  const k = loadDocs(path.join(ROOT, dir, 'kustomization.yaml'))[0] as Json;
  return [
    ...((k.resources as string[] | undefined) ?? []).map((r): [string, string] => ['resource', path.join(dir, r)]),
    ...((k.patches as Json[] | undefined) ?? []).map((p): [string, string] => ['patch', path.join(dir, String(p.path))]),
  ];
}

function build(dir: string): KubeDoc[] {
  const k = loadDocs(path.join(ROOT, dir, 'kustomization.yaml'))[0] as Json;
  expect(k).to.include({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' });
  for (const field of Object.keys(k)) {
    expect(KUSTOMIZATION_FIELDS.has(field), `${dir}: kustomization field ${field} is not understood by this test; extend build()`).to.equal(true);
  }
  const out: KubeDoc[] = [];
  for (const r of (k.resources as string[] | undefined) ?? []) {
    const abs = path.join(ROOT, dir, r);
    expect(existsSync(abs), `${dir}: resource ${r} exists`).to.equal(true);
    if (statSync(abs).isDirectory()) {
      out.push(...build(path.join(dir, r)));
    } else {
      // kustomize's load restrictor: files must be inside the kustomization's directory.
      expect(path.relative(path.join(ROOT, dir), abs).startsWith('..'), `${dir}: ${r} is inside the kustomization root`).to.equal(false);
      out.push(...(loadDocs(abs) as KubeDoc[]));
    }
  }
  for (const p of (k.patches as Json[] | undefined) ?? []) {
    const abs = path.join(ROOT, dir, String(p.path));
    expect(existsSync(abs), `${dir}: patch ${String(p.path)} exists`).to.equal(true);
    const ops = loadDocs(abs)[0] as Operation[];
    expect(ops, `${String(p.path)} is a JSON 6902 list of operations`).to.be.an('array');
    const target = p.target as Target;
    // kustomize silently applies a patch to nothing when the target matches nothing.
    const hits = out.filter((d) => matches(d, target));
    expect(hits, `${dir}: patch ${String(p.path)} targets exactly one resource`).to.have.length(1);
    const patched = fastJsonPatch.applyPatch(structuredClone(hits[0]!), ops, true, false).newDocument;
    out[out.indexOf(hits[0]!)] = patched;
  }
  return out;
}

const key = (d: KubeDoc): string => `${d.kind}/${d.metadata.namespace ? `${d.metadata.namespace}/` : ''}${d.metadata.name}`;
const find = (docs: KubeDoc[], kind: string, name: string): KubeDoc => {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!d) throw new Error(`${kind} ${name} not found`);
  return d;
};

// Rendered on first use, inside a test, so that a broken kustomization fails tests instead of
// the loading of this file.
const rendered = new Map<string, KubeDoc[]>();
function render(dir: string): KubeDoc[] {
  if (!rendered.has(dir)) rendered.set(dir, build(dir));
  return rendered.get(dir)!;
}
const builds = [['base', BASE], ['overlay', OVERLAY]] as const;

// --- expectations -----------------------------------------------------------------------------

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'InitializerConfiguration']);

const BASE_OBJECTS = [
  'Namespace/meshinit-system',
  'ServiceAccount/meshinit-system/meshinit',
  'ClusterRole/meshinit',
  'ClusterRoleBinding/meshinit',
  'Role/meshinit-system/meshinit-leader-election',
  'RoleBinding/meshinit-system/meshinit-leader-election',
  'Deployment/meshinit-system/meshinit',
  'PodDisruptionBudget/meshinit-system/meshinit',
  'InitializerConfiguration/meshinit-apps',
  'InitializerConfiguration/meshinit-extensions',
  'InitializerConfiguration/meshinit-jobs',
];

const WORKLOAD_VERBS = ['get', 'list', 'watch', 'patch', 'initialize'];
const BASE_GRANTS = [
  ...['deployments', 'statefulsets', 'daemonsets'].flatMap((r) => WORKLOAD_VERBS.map((v) => `apps/${r}:${v}`)),
  ...WORKLOAD_VERBS.map((v) => `batch/jobs:${v}`),
  'core/namespaces:get', 'core/namespaces:list', 'core/namespaces:watch',
  'meshinit.dev/meshconfigs:list', 'meshinit.dev/meshconfigs:watch',
  'meshinit.dev/meshconfigs:patch', // 1.9 has no /status: status goes through the main resource
  'meshinit.dev/meshconfigs/status:patch',
  'core/events:create',
];
const OVERLAY_GRANTS = [...BASE_GRANTS, ...WORKLOAD_VERBS.map((v) => `core/pods:${v}`)];

const BASE_INITIALIZED = [
  ...['v1', 'v1beta2', 'v1beta1'].flatMap((v) => ['deployments', 'statefulsets', 'daemonsets'].map((r) => `apps/${v}/${r}`)),
  'extensions/v1beta1/deployments', 'extensions/v1beta1/daemonsets',
  'batch/v1/jobs',
];
const OVERLAY_INITIALIZED = [...BASE_INITIALIZED, 'core/v1/pods'];

function grants(role: KubeDoc): string[] {
  const out: string[] = [];
  for (const rule of role.rules as Json[]) {
    expect(rule, 'no resourceNames or nonResourceURLs').not.to.have.any.keys('resourceNames', 'nonResourceURLs');
    for (const g of rule.apiGroups as string[]) {
      for (const r of rule.resources as string[]) {
        for (const v of rule.verbs as string[]) out.push(`${g === '' ? 'core' : g}/${r}:${v}`);
      }
    }
  }
  return out;
}

function initialized(docs: KubeDoc[]): string[] {
  return docs.filter((d) => d.kind === 'InitializerConfiguration').flatMap((d) =>
    (d.initializers as Json[]).flatMap((e) => (e.rules as Json[]).flatMap((r) =>
      (r.apiGroups as string[]).flatMap((g) => (r.apiVersions as string[]).flatMap((v) =>
        (r.resources as string[]).map((res) => `${g === '' ? 'core' : g}/${v}/${res}`))))));
}

// --- tests ------------------------------------------------------------------------------------

describe('manifests: kustomizations', () => {
  for (const dir of [BASE, OVERLAY]) {
    it(`${dir}: every resource and patch it lists exists`, () => {
      const missing = references(dir).filter(([, p]) => !existsSync(path.join(ROOT, p)));
      expect(missing).to.deep.equal([]);
    });

    it(`${dir}: renders (files inside the root, each patch applies to exactly one object)`, () => {
      expect(render(dir)).not.to.be.empty;
    });
  }

  it('the base holds exactly the expected objects, in meshinit-system where namespaced', () => {
    const base = render(BASE);
    expect(base.map(key)).to.have.members(BASE_OBJECTS);
    for (const d of base) {
      if (CLUSTER_SCOPED.has(d.kind)) expect(d.metadata.namespace, key(d)).to.equal(undefined);
      else expect(d.metadata.namespace, key(d)).to.equal(NAMESPACE);
    }
  });

  it('the overlay adds only the Pods InitializerConfiguration', () => {
    expect(render(OVERLAY).map(key)).to.have.members([...BASE_OBJECTS, 'InitializerConfiguration/meshinit-pods']);
  });

  it('matches `kubectl kustomize` when kubectl is available', function () {
    let kubectl = true;
    try { execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 5000 }); } catch { kubectl = false; }
    if (!kubectl) this.skip();
    this.timeout(30000);
    for (const dir of [BASE, OVERLAY]) {
      const ours = render(dir);
      const text = execFileSync('kubectl', ['kustomize', path.join(ROOT, dir)], { encoding: 'utf8', timeout: 20000 });
      const theirs = parseAllDocuments(text).map((d) => d.toJS() as KubeDoc);
      const byKey = (docs: KubeDoc[]) => Object.fromEntries(docs.map((d) => [key(d), d]));
      expect(byKey(theirs), dir).to.deep.equal(byKey(ours));
    }
  });
});

describe('manifests: RBAC', () => {
  it('the base ClusterRole grants exactly the expected verbs, nothing wider', () => {
    expect(grants(find(render(BASE), 'ClusterRole', 'meshinit')).sort()).to.deep.equal([...BASE_GRANTS].sort());
  });

  it('the overlay adds get, list, watch, patch, initialize on pods and nothing else', () => {
    expect(grants(find(render(OVERLAY), 'ClusterRole', 'meshinit')).sort()).to.deep.equal([...OVERLAY_GRANTS].sort());
  });

  for (const [name, dir] of builds) {
    it(`${name}: no wildcards, no secrets or configmaps, no Roles beside the ClusterRole and the leader-election Role`, () => {
      const docs = render(dir);
      const all = grants(find(docs, 'ClusterRole', 'meshinit'));
      expect(all.filter((g) => g.includes('*'))).to.deep.equal([]);
      expect(all.filter((g) => /\/(secrets|configmaps)[:/]/.test(g))).to.deep.equal([]);
      expect(docs.filter((d) => d.kind === 'Role' || d.kind === 'RoleBinding').map(key)).to.have.members([
        'Role/meshinit-system/meshinit-leader-election', 'RoleBinding/meshinit-system/meshinit-leader-election',
      ]);
    });

    it(`${name}: the leader-election Role reaches only the lock object by name, except create (which RBAC cannot restrict by name)`, () => {
      const role = find(render(dir), 'Role', 'meshinit-leader-election');
      expect(role.metadata.namespace).to.equal(NAMESPACE);
      expect(role.rules).to.deep.equal([
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['meshinit'], verbs: ['get', 'update'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        { apiGroups: [''], resources: ['configmaps'], resourceNames: ['meshinit'], verbs: ['get', 'update'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
      ]);
      const binding = find(render(dir), 'RoleBinding', 'meshinit-leader-election');
      expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'meshinit', namespace: NAMESPACE }]);
    });

    it(`${name}: two replicas spread by hostname, with POD_NAME for the leader-election identity`, () => {
      const deployment = find(render(dir), 'Deployment', 'meshinit');
      const spec = deployment.spec as Json;
      expect(spec.replicas).to.equal(2);
      const template = (spec.template as Json).spec as Json;
      const terms = (((template.affinity as Json).podAntiAffinity as Json).preferredDuringSchedulingIgnoredDuringExecution as Json[]);
      expect((terms[0]!.podAffinityTerm as Json).topologyKey).to.equal('kubernetes.io/hostname');
      const env = ((template.containers as Json[])[0]!.env as Json[]).map((e) => e.name);
      expect(env).to.include('POD_NAME');
    });
  }

  it('the base has no rule on pods', () => {
    expect(grants(find(render(BASE), 'ClusterRole', 'meshinit')).filter((g) => g.startsWith('core/pods'))).to.deep.equal([]);
  });

  it('binds the ClusterRole to the ServiceAccount the Deployment runs as', () => {
    const base = render(BASE);
    const binding = find(base, 'ClusterRoleBinding', 'meshinit');
    expect(binding.roleRef).to.deep.equal({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshinit' });
    expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'meshinit', namespace: NAMESPACE }]);
    const spec = (find(base, 'Deployment', 'meshinit').spec as Json).template as Json;
    expect((spec.spec as Json).serviceAccountName).to.equal('meshinit');
  });
});

describe('manifests: InitializerConfigurations', () => {
  for (const [name, dir] of builds) {
    it(`${name}: one entry per object and one rule per entry, all named ${DEFAULT_INITIALIZER_NAME}`, () => {
      const configs = render(dir).filter((d) => d.kind === 'InitializerConfiguration');
      expect(configs.length).to.be.greaterThan(0);
      for (const c of configs) {
        expect(c.apiVersion).to.equal('admissionregistration.k8s.io/v1alpha1');
        // Rules in one entry are ANDed by the servers (fixtures 01/02); equal names in one object
        // break kubectl apply's strategic merge on the name-keyed list.
        expect(c.initializers, c.metadata.name).to.have.length(1);
        for (const entry of c.initializers as Json[]) {
          expect(entry.name).to.equal(DEFAULT_INITIALIZER_NAME);
          expect(entry.rules, c.metadata.name).to.have.length(1);
          for (const r of entry.rules as Json[]) {
            for (const f of ['apiGroups', 'apiVersions', 'resources']) {
              expect(r[f], `${c.metadata.name} ${f}`).to.be.an('array').that.is.not.empty.and.does.not.include('*');
            }
          }
        }
      }
    });
  }

  it('the base holds every version of Deployments, StatefulSets, DaemonSets, and Jobs, but not Pods', () => {
    expect(initialized(render(BASE))).to.have.members(BASE_INITIALIZED);
  });

  it('the overlay adds core/v1 pods', () => {
    expect(initialized(render(OVERLAY))).to.have.members(OVERLAY_INITIALIZED);
  });
});

describe('manifests: the meshinit Deployment', () => {
  for (const [name, dir] of builds) {
    const parts = () => {
      const docs = render(dir);
      const deploy = find(docs, 'Deployment', 'meshinit');
      const spec = deploy.spec as Json;
      const template = spec.template as Json;
      const podSpec = template.spec as Json;
      const containers = podSpec.containers as Json[];
      return { docs, deploy, spec, template, podSpec, containers, c: containers[0]! };
    };

    it(`${name}: bypasses initialization with metadata.initializers.pending: [] and opts out of injection`, () => {
      const { deploy } = parts();
      expect(deploy.apiVersion).to.equal('apps/v1');
      expect(deploy.metadata.initializers).to.deep.equal({ pending: [] });
      expect(deploy.metadata.annotations).to.deep.include({ [INJECT_ANNOTATION]: 'false' });
    });

    it(`${name}: two replicas, never both down in a rollout, spread and protected by the PDB`, () => {
      const { docs, spec, template } = parts();
      expect(spec.replicas).to.equal(2);
      expect(spec.strategy).to.deep.include({ type: 'RollingUpdate' });
      expect((spec.strategy as Json).rollingUpdate).to.deep.include({ maxUnavailable: 0 });
      const labels = (template.metadata as Json).labels as Json;
      expect(labels).to.deep.include((spec.selector as Json).matchLabels as Json);
      const pdb = find(docs, 'PodDisruptionBudget', 'meshinit');
      expect(pdb.apiVersion).to.equal('policy/v1beta1'); // the only PDB API on 1.9-1.13
      expect(labels).to.deep.include(((pdb.spec as Json).selector as Json).matchLabels as Json);
      expect((pdb.spec as Json).minAvailable).to.equal(1);
    });

    it(`${name}: one container, the meshinit image, run --mode initializer`, () => {
      const { podSpec, containers, c } = parts();
      expect(containers).to.have.length(1);
      expect(c.name).to.equal('meshinit');
      expect(c.image).to.equal('ghcr.io/meshinit/meshinit:0.1.0');
      expect((c.args as string[]).slice(0, 3)).to.deep.equal(['run', '--mode', 'initializer']);
      expect(c.env).to.deep.include({ name: 'NODE_ENV', value: 'production' });
      expect(podSpec.automountServiceAccountToken).to.equal(true);
    });

    it(`${name}: non-root, read-only root filesystem, no privilege escalation, ALL capabilities dropped`, () => {
      const { podSpec, c } = parts();
      expect(podSpec.securityContext).to.deep.include({ runAsNonRoot: true });
      const sc = c.securityContext as Json;
      expect(sc).to.deep.include({ runAsNonRoot: true, runAsUser: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(sc.privileged).not.to.equal(true);
      expect(sc.capabilities).to.deep.equal({ drop: ['ALL'] });
      for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) expect(podSpec[f], f).not.to.equal(true);
    });

    it(`${name}: seccomp through the annotation 1.9-1.13 accept (no 1.19+ field, no runtime/default)`, () => {
      const { deploy, template } = parts();
      expect(JSON.stringify(deploy)).not.to.include('seccompProfile');
      expect((template.metadata as Json).annotations).to.deep.include({ 'seccomp.security.alpha.kubernetes.io/pod': 'docker/default' });
    });

    it(`${name}: resources and HTTP probes on the health port`, () => {
      const { c } = parts();
      const res = c.resources as Record<string, Json>;
      for (const kind of ['requests', 'limits']) expect(res[kind], kind).to.have.all.keys('cpu', 'memory');
      const port = (c.ports as Json[]).find((p) => p.name === (c.livenessProbe as Json & { httpGet: Json }).httpGet.port);
      expect(port?.containerPort).to.equal(9090);
      expect((c.livenessProbe as Json).httpGet).to.deep.include({ path: '/healthz' });
      expect((c.readinessProbe as Json).httpGet).to.deep.include({ path: '/readyz', port: port?.name });
      const args = c.args as string[];
      expect(args[args.indexOf('--health-addr') + 1]).to.equal(':9090');
    });
  }

  it('only the overlay passes --job-pods', () => {
    const args = (docs: KubeDoc[]) => ((((find(docs, 'Deployment', 'meshinit').spec as Json).template as Json).spec as Json).containers as Json[])[0]!.args as string[];
    expect(args(render(BASE))).not.to.include('--job-pods');
    expect(args(render(OVERLAY))).to.include('--job-pods');
  });

  it('its namespace is labelled so that nothing in it is injected', () => {
    expect(find(render(BASE), 'Namespace', NAMESPACE).metadata.labels).to.deep.include({ [NAMESPACE_INJECTION_LABEL]: NAMESPACE_INJECTION_DISABLED });
  });
});
