// Every YAML file under crds/, manifests/ and examples/ parses; the example application is what
// its comments promise; the Dockerfile copies files that exist and are not docker-ignored.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { INJECT_ANNOTATION } from '../../controller/core/constants.ts';

type Json = Record<string, unknown>;
interface KubeDoc extends Json { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown } }

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function yamlFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)))
    .sort();
}

function parse(rel: string): unknown[] {
  return parseAllDocuments(readFileSync(path.join(ROOT, rel), 'utf8')).map((d) => {
    if (d.errors.length > 0 || d.warnings.length > 0) {
      throw new Error(`${rel}: ${[...d.errors, ...d.warnings].map((e) => e.message).join('; ')}`);
    }
    return d.toJS() as unknown;
  }).filter((d) => d !== null);
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const at = (obj: unknown, ...keys: (string | number)[]): unknown =>
  keys.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], obj);

describe('YAML files', () => {
  const files = ['crds', 'manifests', 'examples'].flatMap(yamlFiles);

  it('there are YAML files in crds/, manifests/ and examples/', () => {
    for (const dir of ['crds/', 'manifests/', 'examples/']) expect(files.some((f) => f.startsWith(dir)), dir).to.equal(true);
  });

  for (const file of files) {
    it(`${file} parses; each document is a named object or a JSON 6902 patch`, () => {
      const docs = parse(file);
      expect(docs.length, 'documents').to.be.greaterThan(0);
      for (const doc of docs) {
        if (Array.isArray(doc)) {
          for (const op of doc) expect(op, 'JSON 6902 operation').to.include.keys('op', 'path');
          continue;
        }
        expect(isObject(doc)).to.equal(true);
        const d = doc as KubeDoc;
        expect(d, file).to.include.keys('apiVersion', 'kind');
        if (d.kind !== 'Kustomization') expect(d.metadata?.name, `${file}: ${d.kind} metadata.name`).to.be.a('string').that.is.not.empty;
      }
    });
  }
});

describe('examples/app.yaml', () => {
  const docs = parse('examples/app.yaml') as KubeDoc[];
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const podSpec = (d: KubeDoc) => ((d.spec as Json).template as Json).spec as Json;

  it('has the promised mix: workloads of every kind plus a Service and a ConfigMap, all in default', () => {
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'Service', 'ConfigMap']) {
      expect(byKind(kind), kind).not.to.be.empty;
    }
    for (const d of docs) expect(d.metadata.namespace, `${d.kind}/${d.metadata.name}`).to.equal('default');
    const keys = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    expect(new Set(keys).size).to.equal(keys.length);
  });

  it('has an injectable Deployment with its own init container, one opted out, and a hostNetwork DaemonSet', () => {
    const deployments = byKind('Deployment');
    const optedOut = deployments.filter((d) => (d.metadata.annotations as Json | undefined)?.[INJECT_ANNOTATION] === 'false');
    expect(optedOut).to.have.length(1);
    const injectable = deployments.filter((d) => !optedOut.includes(d));
    expect(injectable.some((d) => Array.isArray(podSpec(d).initContainers))).to.equal(true);
    expect(byKind('DaemonSet').filter((d) => podSpec(d).hostNetwork === true)).to.have.length(1);
  });

  it('every workload is valid enough to apply: selector matches the template, unique container names', () => {
    for (const d of docs.filter((x) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(x.kind))) {
      const spec = d.spec as Json;
      const labels = ((spec.template as Json).metadata as Json).labels as Json;
      if (d.kind !== 'Job') expect(labels, d.metadata.name).to.deep.include((spec.selector as Json).matchLabels as Json);
      else expect(['Never', 'OnFailure']).to.include(podSpec(d).restartPolicy);
      const names = [...((podSpec(d).initContainers as Json[] | undefined) ?? []), ...(podSpec(d).containers as Json[])].map((c) => c.name);
      expect(new Set(names).size, d.metadata.name).to.equal(names.length);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n')
    .map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const globToRegExp = (g: string) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  const isIgnored = (p: string) => ignored.some((g) => p.split('/').some((_, i, parts) => globToRegExp(g).test(parts.slice(0, i + 1).join('/'))));

  it('copies from the build context only files that exist and are not docker-ignored', () => {
    const sources = dockerfile.split('\n').filter((l) => /^COPY\s/.test(l) && !l.includes('--from='))
      .flatMap((l) => l.trim().split(/\s+/).slice(1, -1));
    expect(sources).to.include.members(['bin', 'package.json', 'manifests/meshconfig-sample.yaml']);
    for (const s of sources) {
      expect(existsSync(path.join(ROOT, s)), `${s} exists`).to.equal(true);
      expect(isIgnored(s), `${s} is not in .dockerignore`).to.equal(false);
    }
  });

  it('runs node bin/meshinit.js as the uid the Deployment expects', () => {
    expect(dockerfile).to.match(/^ENTRYPOINT \["node", "bin\/meshinit\.js"\]$/m);
    const deployment = parse('manifests/initializer/deployment.yaml')[0] as Json;
    const runAsUser = at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'securityContext', 'runAsUser');
    expect(runAsUser).to.be.a('number');
    expect(dockerfile).to.match(new RegExp(`^USER ${String(runAsUser)}(:${String(runAsUser)})?$`, 'm'));
    expect(dockerfile).to.match(/^FROM node:20-bookworm-slim AS build$/m);
    expect(dockerfile).to.match(/npm ci --omit=dev/);
  });
});
