import { expect } from 'chai';
import fc from 'fast-check';
import { STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { MeshConfigError } from '../../controller/core/errors.ts';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import { rawEnvoyMeshConfig, rawMeshConfig } from './fixtures/helpers.ts';

/** Parses and expects failure; returns the problems. */
function problemsOf(raw: unknown): readonly string[] {
  const result = parseMeshConfig(raw);
  expect(result.ok, 'expected the MeshConfig to be rejected').to.equal(false);
  if (result.ok) return [];
  expect(result.error).to.be.instanceOf(MeshConfigError);
  expect(result.error.name).to.equal('MeshConfigError');
  return result.error.problems;
}

function withSidecar(sidecar: Record<string, unknown>): Record<string, unknown> {
  return rawMeshConfig('bad', { sidecar });
}

const proxy = { name: 'mesh-proxy', image: 'registry.example.com/mesh/envoy:1.8.0' };

describe('core/meshconfig: parseMeshConfig', () => {
  describe('valid input and defaults', () => {
    it('applies every default to a minimal MeshConfig', () => {
      const result = parseMeshConfig({ metadata: { name: 'minimal' }, spec: { sidecar: { containers: [proxy] } } });
      expect(result.ok).to.equal(true);
      if (!result.ok) return;
      const { layout, ...meshConfig } = result.meshConfig;
      // Without nativeSidecar the sidecar goes in as written, the very object: the same hash as before the field existed.
      expect(layout).to.include({ requested: 'Never', effective: 'containers' });
      expect(layout.sidecar).to.equal(result.meshConfig.spec.sidecar);
      expect(meshConfig).to.deep.equal({
        name: 'minimal',
        generation: 0,
        spec: {
          policy: 'Enabled',
          namespaceSelector: {},
          selector: {},
          kinds: ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ReplicaSet', 'ReplicationController', 'DeploymentConfig', 'Pod'],
          failurePolicy: 'Ignore',
          priority: 0,
          sidecar: { initContainers: [], containers: [proxy], volumes: [], imagePullSecrets: [], podAnnotations: {}, podLabels: {} },
          conflictingContainers: [],
          updatePolicy: 'OnCreate',
          rollout: { maxPerMinute: 5, paused: false, timeoutSeconds: 600 },
        },
      });
    });

    it('treats explicit nulls like absent fields (defaults)', () => {
      const result = parseMeshConfig({
        metadata: { name: 'nulls' },
        spec: { policy: null, failurePolicy: null, priority: null, kinds: null, selector: null, namespaceSelector: null, sidecar: { containers: [proxy], volumes: null, podLabels: null } },
      });
      expect(result.ok).to.equal(true);
      if (!result.ok) return;
      expect(result.meshConfig.spec.policy).to.equal('Enabled');
      expect(result.meshConfig.spec.failurePolicy).to.equal('Ignore');
      expect(result.meshConfig.spec.priority).to.equal(0);
      expect(result.meshConfig.spec.kinds).to.deep.equal(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ReplicaSet', 'ReplicationController', 'DeploymentConfig', 'Pod']);
      expect(result.meshConfig.spec.selector).to.deep.equal({});
      expect(result.meshConfig.spec.sidecar.volumes).to.deep.equal([]);
      expect(result.meshConfig.spec.sidecar.podLabels).to.deep.equal({});
    });

    it('keeps every explicit setting of the Envoy sample and its metadata', () => {
      const raw = rawEnvoyMeshConfig();
      raw.spec.policy = 'Disabled';
      raw.spec.failurePolicy = 'Fail';
      raw.spec.kinds = ['StatefulSet', 'Job', 'StatefulSet'];
      raw.spec.priority = -5;
      const result = parseMeshConfig(raw);
      expect(result.ok).to.equal(true);
      if (!result.ok) return;
      const mc = result.meshConfig;
      expect(mc.name).to.equal('envoy-mesh');
      expect(mc.generation).to.equal(3);
      expect(mc.resourceVersion).to.equal('1201');
      expect(mc.spec.policy).to.equal('Disabled');
      expect(mc.spec.failurePolicy).to.equal('Fail');
      // Duplicates are dropped, order of first appearance kept.
      expect(mc.spec.kinds).to.deep.equal(['StatefulSet', 'Job']);
      expect(mc.spec.priority).to.equal(-5);
      expect(mc.spec.namespaceSelector).to.deep.equal({ matchLabels: { mesh: 'enabled' } });
      expect(mc.spec.selector).to.deep.equal({ matchExpressions: [{ key: 'mesh.meshinit.dev/exclude', operator: 'DoesNotExist' }] });
      expect(mc.spec.sidecar.initContainers.map((c) => c.name)).to.deep.equal(['mesh-init']);
      expect(mc.spec.sidecar.containers.map((c) => c.name)).to.deep.equal(['mesh-proxy']);
      expect(mc.spec.sidecar.volumes.map((v) => v.name)).to.deep.equal(['mesh-envoy', 'mesh-certs']);
      expect(mc.spec.sidecar.imagePullSecrets).to.deep.equal([{ name: 'mesh-registry' }]);
      expect(mc.spec.sidecar.podLabels).to.deep.equal({ 'mesh.meshinit.dev/proxied': 'true' });
      // Placeholders are kept verbatim by the parser; rendering happens per workload.
      expect(mc.spec.sidecar.containers[0]!.args).to.include('{{workload.name}}');
    });

    it('copies the sidecar: changing the raw object afterwards does not change the parsed MeshConfig', () => {
      const raw = rawEnvoyMeshConfig();
      const result = parseMeshConfig(raw);
      if (!result.ok) throw result.error;
      raw.spec.sidecar.containers[0].image = 'evil:latest';
      raw.spec.sidecar.containers[0].args.push('--evil');
      expect(result.meshConfig.spec.sidecar.containers[0]!.image).to.equal('registry.example.com/mesh/envoy:1.8.0');
      expect(result.meshConfig.spec.sidecar.containers[0]!.args).to.not.include('--evil');
    });

    it('accepts every documented placeholder, with or without inner spaces', () => {
      const result = parseMeshConfig(withSidecar({
        containers: [{ ...proxy, args: ['{{workload.name}}', '{{ workload.namespace }}', '{{workload.kind}}', '{{meshConfig.name}}'] }],
      }));
      expect(result.ok).to.equal(true);
    });

    it('accepts apiVersion/kind when absent (a bare spec read from a file)', () => {
      const raw = rawMeshConfig('bare');
      delete raw.apiVersion;
      delete raw.kind;
      expect(parseMeshConfig(raw).ok).to.equal(true);
    });
  });

  describe('rejections name the field', () => {
    it('rejects a missing sidecar', () => {
      const problems = problemsOf({ metadata: { name: 'no-sidecar' }, spec: { priority: 1 } });
      expect(problems).to.deep.equal(['spec.sidecar: is required and must be an object']);
    });

    it('rejects a sidecar with an empty or missing containers list', () => {
      expect(problemsOf(withSidecar({ containers: [] }))).to.deep.equal(['spec.sidecar.containers: must list at least one container']);
      expect(problemsOf(withSidecar({ initContainers: [{ name: 'mesh-init', image: 'init:1' }] }))).to.deep.equal([
        'spec.sidecar.containers: must list at least one container',
      ]);
    });

    it('rejects container names that are not DNS-1123 labels, and names the index', () => {
      for (const name of ['Mesh-Proxy', 'mesh_proxy', '-mesh', 'mesh-', '', 'a'.repeat(64), 42, undefined]) {
        const problems = problemsOf(withSidecar({ containers: [proxy, { name, image: 'x:1' }] }));
        expect(problems, String(name)).to.have.length(1);
        expect(problems[0]).to.match(/^spec\.sidecar\.containers\[1\]\.name: must be a DNS-1123 label/);
      }
      // 63 characters is the limit, not an error.
      expect(parseMeshConfig(withSidecar({ containers: [{ name: 'a'.repeat(63), image: 'x:1' }] })).ok).to.equal(true);
    });

    it('rejects a container or init container without an image', () => {
      expect(problemsOf(withSidecar({ containers: [{ name: 'mesh-proxy' }] }))).to.deep.equal(['spec.sidecar.containers[0].image: is required']);
      expect(problemsOf(withSidecar({ containers: [proxy], initContainers: [{ name: 'mesh-init', image: '   ' }] }))).to.deep.equal([
        'spec.sidecar.initContainers[0].image: is required',
      ]);
    });

    it('does not require an image on volumes or pull secrets', () => {
      expect(parseMeshConfig(withSidecar({ containers: [proxy], volumes: [{ name: 'v', emptyDir: {} }], imagePullSecrets: [{ name: 'regcred' }] })).ok).to.equal(true);
    });

    it('rejects the same name used by an init container and a container', () => {
      const problems = problemsOf(withSidecar({ initContainers: [{ name: 'mesh-proxy', image: 'init:1' }], containers: [proxy] }));
      expect(problems).to.deep.equal(['spec.sidecar: container name "mesh-proxy" is used twice']);
    });

    it('rejects duplicate container names within one list', () => {
      expect(problemsOf(withSidecar({ containers: [proxy, { ...proxy }] }))).to.deep.equal(['spec.sidecar: container name "mesh-proxy" is used twice']);
    });

    it('rejects duplicate volume names and duplicate pull secrets', () => {
      expect(problemsOf(withSidecar({ containers: [proxy], volumes: [{ name: 'mesh-envoy', emptyDir: {} }, { name: 'mesh-envoy', secret: { secretName: 's' } }] }))).to.deep.equal([
        'spec.sidecar.volumes: volume name "mesh-envoy" is used twice',
      ]);
      expect(problemsOf(withSidecar({ containers: [proxy], imagePullSecrets: [{ name: 'regcred' }, { name: 'regcred' }] }))).to.deep.equal([
        'spec.sidecar.imagePullSecrets: imagePullSecret name "regcred" is used twice',
      ]);
    });

    it('rejects an unknown placeholder anywhere in a sidecar item, with its path', () => {
      const problems = problemsOf(withSidecar({ containers: [{ ...proxy, args: ['--cluster', '{{foo}}'] }] }));
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/^spec\.sidecar\.containers\[0\]\.args\[1\]: unknown placeholder \{\{foo\}\}/);
      expect(problems[0]).to.include('{{workload.name}}');

      const nested = problemsOf(withSidecar({ containers: [proxy], volumes: [{ name: 'certs', secret: { secretName: 'mesh-{{ pod.name }}' } }] }));
      expect(nested).to.have.length(1);
      expect(nested[0]).to.match(/^spec\.sidecar\.volumes\[0\]\.secret\.secretName: unknown placeholder \{\{ pod\.name \}\}/);
    });

    it('rejects an unknown placeholder in a pod annotation value', () => {
      const problems = problemsOf(withSidecar({ containers: [proxy], podAnnotations: { 'mesh.example.com/cluster': '{{cluster.name}}' } }));
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/^spec\.sidecar\.podAnnotations\.mesh\.example\.com\/cluster: unknown placeholder \{\{cluster\.name\}\}/);
    });

    it('rejects placeholders with a different case (names are exact)', () => {
      const problems = problemsOf(withSidecar({ containers: [{ ...proxy, args: ['{{Workload.Name}}'] }] }));
      expect(problems[0]).to.include('unknown placeholder {{Workload.Name}}');
    });

    it('rejects bad enum values for policy and failurePolicy', () => {
      const problems = problemsOf(rawMeshConfig('bad', { policy: 'enabled', failurePolicy: 'Retry' }));
      expect(problems).to.deep.equal([
        'spec.policy: must be one of Enabled, Disabled, got "enabled"',
        'spec.failurePolicy: must be one of Ignore, Fail, got "Retry"',
      ]);
    });

    it('rejects kinds that carry no pod template, empty, or not a list', () => {
      expect(problemsOf(rawMeshConfig('bad', { kinds: ['Deployment', 'Service', 'PodTemplate'] }))).to.deep.equal([
        'spec.kinds: "Service" is not one of Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, ReplicationController, DeploymentConfig, Pod',
        'spec.kinds: "PodTemplate" is not one of Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, ReplicationController, DeploymentConfig, Pod',
      ]);
      expect(problemsOf(rawMeshConfig('bad', { kinds: [] }))[0]).to.match(/^spec\.kinds: must be a non-empty list/);
      expect(problemsOf(rawMeshConfig('bad', { kinds: 'Deployment' }))[0]).to.match(/^spec\.kinds: must be a non-empty list/);
      expect(problemsOf(rawMeshConfig('bad', { kinds: ['deployment'] }))[0]).to.equal('spec.kinds: "deployment" is not one of Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, ReplicationController, DeploymentConfig, Pod');
    });

    it('accepts every pod-template kind in kinds', () => {
      const parsed = parseMeshConfig(rawMeshConfig('all', { kinds: ['CronJob', 'Pod', 'ReplicaSet', 'ReplicationController', 'DeploymentConfig'] }));
      expect(parsed.ok && parsed.meshConfig.spec.kinds).to.deep.equal(['CronJob', 'Pod', 'ReplicaSet', 'ReplicationController', 'DeploymentConfig']);
    });

    it('takes spec.conflictingContainers as a list of container names, refusing bad names, duplicates and its own sidecar', () => {
      const parsed = parseMeshConfig(rawMeshConfig('c', { conflictingContainers: ['vault-agent', 'app-proxy'] }));
      expect(parsed.ok && parsed.meshConfig.spec.conflictingContainers).to.deep.equal(['vault-agent', 'app-proxy']);
      expect(problemsOf(rawMeshConfig('bad', { conflictingContainers: 'vault-agent' }))).to.deep.equal(['spec.conflictingContainers: must be a list of container names']);
      expect(problemsOf(rawMeshConfig('bad', { conflictingContainers: ['Vault_Agent', 7, 'mesh-proxy', 'x', 'x'] }))).to.deep.equal([
        'spec.conflictingContainers[0]: must be a container name, a DNS-1123 label (lowercase letters, digits, \'-\'), got "Vault_Agent"',
        'spec.conflictingContainers[1]: must be a container name, a DNS-1123 label (lowercase letters, digits, \'-\'), got 7',
        'spec.conflictingContainers[2]: "mesh-proxy" is a container of this MeshConfig\'s own sidecar',
        'spec.conflictingContainers[4]: "x" is listed twice',
      ]);
    });

    it('rejects a priority that is not a safe integer', () => {
      for (const priority of [1.5, '10', Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, true]) {
        const problems = problemsOf(rawMeshConfig('bad', { priority }));
        expect(problems, String(priority)).to.have.length(1);
        expect(problems[0]).to.match(/^spec\.priority: must be an integer/);
      }
    });

    it('requires an operator in every matchExpression, as Kubernetes does', () => {
      const problems = problemsOf(rawMeshConfig('bad', { selector: { matchExpressions: [{ key: 'app' }] } }));
      expect(problems).to.deep.equal(['spec.selector.matchExpressions[0].operator: is required (one of In, NotIn, Exists, DoesNotExist)']);
    });

    it('accepts pull secret names that are DNS subdomains (Secret names may contain dots)', () => {
      const result = parseMeshConfig(withSidecar({ containers: [proxy], imagePullSecrets: [{ name: 'registry.example.com' }] }));
      expect(result.ok).to.equal(true);
      expect(problemsOf(withSidecar({ containers: [proxy], imagePullSecrets: [{ name: 'Registry_Key' }] }))[0]).to.match(/imagePullSecrets\[0\]\.name: must be a DNS-1123 subdomain/);
    });

    it('rejects In/NotIn without values and Exists/DoesNotExist with values', () => {
      const problems = problemsOf(rawMeshConfig('bad', {
        selector: {
          matchExpressions: [
            { key: 'app', operator: 'In', values: [] },
            { key: 'app', operator: 'NotIn' },
            { key: 'app', operator: 'Exists', values: ['x'] },
            { key: 'app', operator: 'DoesNotExist', values: ['y'] },
          ],
        },
      }));
      expect(problems).to.deep.equal([
        'spec.selector.matchExpressions[0].values: must not be empty for operator In',
        'spec.selector.matchExpressions[1].values: must not be empty for operator NotIn',
        'spec.selector.matchExpressions[2].values: must be empty for operator Exists',
        'spec.selector.matchExpressions[3].values: must be empty for operator DoesNotExist',
      ]);
    });

    it('rejects matchExpressions without a key, with a bad operator, or non-string values', () => {
      const problems = problemsOf(rawMeshConfig('bad', {
        namespaceSelector: { matchExpressions: [{ operator: 'Exists' }, { key: 'env', operator: 'Matches', values: ['prod'] }, { key: 'env', operator: 'In', values: [1] }] },
      }));
      expect(problems[0]).to.equal('spec.namespaceSelector.matchExpressions[0]: must have a key');
      expect(problems).to.include('spec.namespaceSelector.matchExpressions[1].operator: must be one of In, NotIn, Exists, DoesNotExist, got "Matches"');
      expect(problems).to.include('spec.namespaceSelector.matchExpressions[2].values: must be a list of strings');
      expect(problemsOf(rawMeshConfig('bad', { selector: { matchExpressions: { key: 'a' } } }))).to.deep.equal(['spec.selector.matchExpressions: must be a list']);
      expect(problemsOf(rawMeshConfig('bad', { selector: 'app=web' }))).to.deep.equal(['spec.selector: must be a label selector']);
    });

    it('rejects invalid label values and keys in podLabels and matchLabels', () => {
      const problems = problemsOf(withSidecar({ containers: [proxy], podLabels: { 'mesh.meshinit.dev/proxied': 'yes please', ok: 'fine' } }));
      expect(problems).to.deep.equal(['spec.sidecar.podLabels.mesh.meshinit.dev/proxied: "yes please" is not a valid label value']);
      expect(problemsOf(withSidecar({ containers: [proxy], podLabels: { version: 'v'.repeat(64) } }))[0]).to.match(/^spec\.sidecar\.podLabels\.version: .* is not a valid label value$/);
      expect(problemsOf(withSidecar({ containers: [proxy], podLabels: { 'bad key': 'v' } }))).to.deep.equal(['spec.sidecar.podLabels["bad key"]: is not a valid Kubernetes key']);
      expect(problemsOf(withSidecar({ containers: [proxy], podLabels: { count: 3 } }))).to.deep.equal(['spec.sidecar.podLabels.count: must be a string']);
      expect(problemsOf(rawMeshConfig('bad', { selector: { matchLabels: { app: 'a b' } } }))).to.deep.equal(['spec.selector.matchLabels.app: "a b" is not a valid label value']);
    });

    it('accepts annotation values that would not be valid label values', () => {
      expect(parseMeshConfig(withSidecar({ containers: [proxy], podAnnotations: { 'example.com/note': 'any text, even spaces: ok' } })).ok).to.equal(true);
    });

    it('rejects podAnnotations that set the status annotation', () => {
      const problems = problemsOf(withSidecar({ containers: [proxy], podAnnotations: { [STATUS_ANNOTATION]: '{}' } }));
      expect(problems).to.deep.equal([`spec.sidecar.podAnnotations: must not set ${STATUS_ANNOTATION}: meshinit writes it`]);
    });

    it('rejects a wrong apiVersion or kind', () => {
      const raw = rawMeshConfig('wrong');
      raw.apiVersion = 'meshinit.dev/v1';
      raw.kind = 'Meshconfig';
      expect(problemsOf(raw)).to.deep.equal([
        'apiVersion: must be meshinit.dev/v1alpha1, got "meshinit.dev/v1"',
        'kind: must be MeshConfig, got "Meshconfig"',
      ]);
    });

    it('rejects a missing name and carries the name into the error when there is one', () => {
      expect(problemsOf({ spec: { sidecar: { containers: [proxy] } } })).to.deep.equal(['metadata.name: is required']);
      const result = parseMeshConfig(rawMeshConfig('named', { policy: 'Sometimes' }));
      if (result.ok) throw new Error('expected failure');
      expect(result.error.meshConfigName).to.equal('named');
      expect(result.error.message).to.equal('MeshConfig named is invalid: spec.policy: must be one of Enabled, Disabled, got "Sometimes"');
    });

    it('collects every problem of one MeshConfig instead of stopping at the first', () => {
      const problems = problemsOf({
        metadata: { name: 'many' },
        spec: { policy: 'x', priority: 'high', sidecar: { containers: [{ name: 'A', image: 'i' }], volumes: [{ name: 'v' }, { name: 'v' }] } },
      });
      expect(problems.map((p) => p.split(':')[0])).to.deep.equal(['spec.priority', 'spec.policy', 'spec.sidecar.containers[0].name', 'spec.sidecar.volumes']);
    });

    it('rejects sidecar lists that are not lists and items that are not objects', () => {
      const problems = problemsOf(withSidecar({ containers: [proxy, 'mesh-agent'], volumes: { name: 'v' }, podAnnotations: ['a'] }));
      expect(problems).to.deep.equal([
        'spec.sidecar.containers[1]: must be an object',
        'spec.sidecar.volumes: must be a list',
        'spec.sidecar.podAnnotations: must be a map of strings',
      ]);
    });
  });

  describe('hostile and garbage input', () => {
    it('rejects non-object documents with a problem, without throwing', () => {
      for (const garbage of [null, undefined, 0, 42, 'MeshConfig', true, [], [rawMeshConfig('in-a-list')], () => 1]) {
        const problems = problemsOf(garbage);
        expect(problems[0], String(garbage)).to.equal('(document): must be an object');
      }
    });

    it('rejects a spec that is not an object', () => {
      for (const spec of [null, [], 'spec', 7]) {
        expect(problemsOf({ metadata: { name: 'x' }, spec })).to.deep.equal(['spec: is required and must be an object']);
      }
    });

    it('does not let __proto__ keys in podAnnotations/podLabels pollute Object.prototype', () => {
      const raw = JSON.parse(
        '{"metadata":{"name":"proto"},"spec":{"sidecar":{"containers":[{"name":"mesh-proxy","image":"envoy:1"}],' +
          '"podAnnotations":{"__proto__":{"polluted":"yes"},"example.com/__proto__":"x"},"podLabels":{"__proto__":"yes"}}}}',
      );
      const problems = problemsOf(raw);
      expect(problems).to.include('spec.sidecar.podAnnotations["__proto__"]: is not a valid Kubernetes key');
      expect(problems).to.include('spec.sidecar.podLabels["__proto__"]: is not a valid Kubernetes key');
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      expect(Object.prototype).to.not.have.own.property('polluted');
    });

    it('keeps keys such as "constructor" as plain own data', () => {
      const result = parseMeshConfig(withSidecar({ containers: [proxy], podAnnotations: { constructor: 'x', toString: 'y' } }));
      if (!result.ok) throw result.error;
      const annotations = result.meshConfig.spec.sidecar.podAnnotations;
      expect(Object.keys(annotations)).to.deep.equal(['constructor', 'toString']);
      expect(annotations.constructor).to.equal('x');
      expect(Object.getPrototypeOf(annotations)).to.equal(Object.prototype);
    });

    it('reports nesting deeper than it inspects instead of recursing without bound', () => {
      let deep: unknown = '{{workload.name}}';
      for (let i = 0; i < 200; i++) deep = { nested: deep };
      const problems = problemsOf(withSidecar({ containers: [{ ...proxy, env: deep }] }));
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/^spec\.sidecar\.containers\[0\]\.env(\.nested)+: is nested too deeply$/);
    });

    it('refuses a document nested thousands of levels deep without throwing (no stack overflow)', () => {
      const deep = JSON.parse(`{"metadata":{"name":"d"},"spec":{"sidecar":{"containers":[{"name":"p","image":"i","env":${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}}]}}}`);
      const result = parseMeshConfig(deep);
      expect(result.ok).to.equal(false);
      if (!result.ok) expect(result.error.problems).to.deep.equal(['(document): is nested more than 1000 levels deep']);
      let list: unknown = 1;
      for (let i = 0; i < 6000; i++) list = [list];
      expect(() => parseMeshConfig({ metadata: { name: 'd' }, spec: { priority: list } })).to.not.throw();
    });

    it('quotes values that JSON cannot show (BigInt) without throwing', () => {
      const result = parseMeshConfig({ metadata: { name: 'd' }, spec: { priority: 10n, policy: 5n, sidecar: { containers: [{ name: 'p', image: 'i' }] } } });
      expect(result.ok).to.equal(false);
      if (!result.ok) expect(result.error.problems.join('\n')).to.include('spec.priority').and.include('spec.policy');
    });

    it('never throws on random JSON documents', () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
          const result = parseMeshConfig(value);
          // A random document is never a complete MeshConfig; whatever it is, the answer is a result.
          expect(result.ok).to.equal(false);
          if (!result.ok) expect(result.error.problems.length).to.be.greaterThan(0);
        }),
        { numRuns: 300 },
      );
    });

    it('never throws when random JSON replaces fields of a valid MeshConfig', () => {
      const fields = ['metadata', 'spec', 'policy', 'kinds', 'priority', 'selector', 'namespaceSelector', 'sidecar', 'containers', 'initContainers', 'volumes', 'podAnnotations', 'podLabels', 'imagePullSecrets'];
      fc.assert(
        fc.property(fc.constantFrom(...fields), fc.jsonValue({ maxDepth: 4 }), (field, value) => {
          const raw = rawEnvoyMeshConfig();
          if (field === 'metadata' || field === 'spec') raw[field] = value;
          else if (['containers', 'initContainers', 'volumes', 'podAnnotations', 'podLabels', 'imagePullSecrets'].includes(field)) raw.spec.sidecar[field] = value;
          else raw.spec[field] = value;
          const result = parseMeshConfig(raw);
          if (!result.ok) expect(result.error.problems.length).to.be.greaterThan(0);
          else expect(result.meshConfig.name).to.be.a('string').and.not.equal('');
        }),
        { numRuns: 300 },
      );
    });
  });
});
