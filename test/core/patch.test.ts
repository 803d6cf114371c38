import { expect } from 'chai';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import { buildFailurePatch, buildInitializationPatch, type JsonPatchOperation } from '../../controller/core/patch.ts';
import type { KubeObject, Workload } from '../../controller/core/types.ts';
import { deepFreeze, demoDeployment, envoyMeshConfig, OUR_INITIALIZER, reportJobPod, shopDeployment } from './fixtures/helpers.ts';

const { applyPatch } = fastJsonPatch;

/** Applies `patch` to a deep copy of `document`, as the API server would, validating every op. */
function apply<T>(document: T, patch: JsonPatchOperation[]): T {
  return applyPatch(structuredClone(document), patch as Operation[], true, true).newDocument;
}

/** `object` as the server stores it once our pending entry is gone. */
function released<T extends KubeObject>(object: T): T {
  const copy = structuredClone(object);
  const pending = copy.metadata!.initializers!.pending!;
  pending.shift();
  if (pending.length === 0 && copy.metadata!.initializers!.result === undefined) delete copy.metadata!.initializers;
  return copy;
}

function touchesInitializers(op: JsonPatchOperation): boolean {
  return op.path === '/metadata/initializers' || op.path.startsWith('/metadata/initializers/');
}

describe('core/patch', () => {
  describe('buildInitializationPatch', () => {
    it('starts with the test, the resourceVersion precondition and our removal, then the injection', () => {
      const original = deepFreeze(shopDeployment());
      const desired = injectWorkload(original, envoyMeshConfig()).object;
      const patch = buildInitializationPatch({ original, desired, initializerName: OUR_INITIALIZER });
      expect(patch.slice(0, 3)).to.deep.equal([
        { op: 'test', path: '/metadata/initializers/pending/0/name', value: OUR_INITIALIZER },
        { op: 'replace', path: '/metadata/resourceVersion', value: '512' },
        { op: 'remove', path: '/metadata/initializers/pending/0' },
      ]);
      expect(patch.length).to.be.greaterThan(3);
      expect(patch.slice(1).filter(touchesInitializers)).to.deep.equal([{ op: 'remove', path: '/metadata/initializers/pending/0' }]);
      expect(patch.filter((op) => op.path === '/metadata/resourceVersion')).to.have.length(1);
    });

    it('applied to the original, yields the injected object with only our pending entry gone', () => {
      const original = shopDeployment();
      const desired = injectWorkload(original, envoyMeshConfig()).object;
      const patch = buildInitializationPatch({ original: deepFreeze(structuredClone(original)), desired, initializerName: OUR_INITIALIZER });
      const result = apply(original, patch);
      expect(result).to.deep.equal(released(desired));
      expect(result.metadata.initializers).to.deep.equal({ pending: [{ name: 'podpreset.initializer.example.com' }, { name: 'quota.initializer.example.com' }] });
      expect(result.spec.template.spec.containers.map((c) => c.name)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);
      expect(result.spec.template.spec.initContainers!.map((c) => c.name)).to.deep.equal(['mesh-init', 'migrate']);
    });

    it('removes the whole initializers block when ours was the last entry, and nothing else there', () => {
      const original = demoDeployment();
      const desired = injectWorkload(original, envoyMeshConfig()).object;
      const patch = buildInitializationPatch({ original, desired, initializerName: OUR_INITIALIZER });
      expect(patch.slice(0, 3)).to.deep.equal([
        { op: 'test', path: '/metadata/initializers/pending/0/name', value: OUR_INITIALIZER },
        { op: 'replace', path: '/metadata/resourceVersion', value: '43' },
        { op: 'remove', path: '/metadata/initializers' },
      ]);
      expect(patch.slice(1).filter(touchesInitializers)).to.deep.equal([{ op: 'remove', path: '/metadata/initializers' }]);
      const result = apply(original, patch);
      expect(result.metadata).to.not.have.property('initializers');
      expect(result).to.deep.equal(released(desired));
    });

    it('only releases when the desired object is the original', () => {
      const original = shopDeployment();
      expect(buildInitializationPatch({ original, desired: structuredClone(original), initializerName: OUR_INITIALIZER })).to.deep.equal([
        { op: 'test', path: '/metadata/initializers/pending/0/name', value: OUR_INITIALIZER },
        { op: 'replace', path: '/metadata/resourceVersion', value: '512' },
        { op: 'remove', path: '/metadata/initializers/pending/0' },
      ]);
      const demo = demoDeployment();
      const patch = buildInitializationPatch({ original: demo, desired: demo, initializerName: OUR_INITIALIZER });
      expect(patch.map((op) => `${op.op} ${op.path}`)).to.deep.equal([
        'test /metadata/initializers/pending/0/name',
        'replace /metadata/resourceVersion',
        'remove /metadata/initializers',
      ]);
      expect(apply(demo, patch)).to.deep.equal(released(demo));
    });

    it('omits the resourceVersion precondition when the cached object has none', () => {
      const original = demoDeployment();
      delete original.metadata.resourceVersion;
      const patch = buildInitializationPatch({ original, desired: original, initializerName: OUR_INITIALIZER });
      expect(patch).to.deep.equal([
        { op: 'test', path: '/metadata/initializers/pending/0/name', value: OUR_INITIALIZER },
        { op: 'remove', path: '/metadata/initializers' },
      ]);
    });

    it('escapes annotation keys with "/" in the pointer, so the server adds the right key', () => {
      const original = shopDeployment();
      const desired = injectWorkload(original, envoyMeshConfig()).object;
      const patch = buildInitializationPatch({ original, desired, initializerName: OUR_INITIALIZER });
      const statusOps = patch.filter((op) => op.path.includes('sidecar.meshinit.dev~1status'));
      expect(statusOps.map((op) => `${op.op} ${op.path}`).sort()).to.deep.equal([
        'add /metadata/annotations/sidecar.meshinit.dev~1status',
        'add /spec/template/metadata/annotations/sidecar.meshinit.dev~1status',
      ]);
    });

    it('fails at the test operation when another initializer has moved in front (a concurrent change)', () => {
      const original = shopDeployment();
      const desired = injectWorkload(original, envoyMeshConfig()).object;
      const patch = buildInitializationPatch({ original, desired, initializerName: OUR_INITIALIZER });
      const changed = structuredClone(original);
      changed.metadata.initializers!.pending!.unshift({ name: 'early.initializer.example.com' });
      expect(() => apply(changed, patch)).to.throw(/Test operation failed/);
    });

    it('refuses to build a patch when it is not our turn', () => {
      const original = shopDeployment();
      original.metadata.initializers!.pending!.reverse();
      expect(() => buildInitializationPatch({ original, desired: original, initializerName: OUR_INITIALIZER })).to.throw(/is not first/);
    });

    it('round-trips an injected Job Pod', () => {
      const original = reportJobPod();
      const identity = { kind: 'Job' as const, name: 'nightly-report', namespace: 'shop' };
      const desired = injectPod(original, envoyMeshConfig(), identity).object;
      const patch = buildInitializationPatch({ original, desired, initializerName: OUR_INITIALIZER });
      expect(patch[0]).to.deep.equal({ op: 'test', path: '/metadata/initializers/pending/0/name', value: OUR_INITIALIZER });
      expect(patch[1]).to.deep.equal({ op: 'replace', path: '/metadata/resourceVersion', value: '652' });
      expect(patch[2]).to.deep.equal({ op: 'remove', path: '/metadata/initializers' });
      expect(apply(original, patch)).to.deep.equal(released(desired));
    });

    it('round-trips an upgrade that removes, renames and reorders items', () => {
      const injected: Workload = injectWorkload(shopDeployment(), envoyMeshConfig()).object;
      injected.metadata.initializers = { pending: [{ name: OUR_INITIALIZER }, { name: 'zz.initializer.example.com' }] };
      const next = envoyMeshConfig();
      next.generation = 4;
      next.spec.sidecar.containers = [{ ...next.spec.sidecar.containers[0]!, name: 'mesh-envoy' }];
      next.spec.sidecar.volumes = next.spec.sidecar.volumes.slice(1);
      next.spec.sidecar.initContainers = [];
      const desired = injectWorkload(injected, next).object;
      const patch = buildInitializationPatch({ original: injected, desired, initializerName: OUR_INITIALIZER });
      const result = apply(injected, patch);
      expect(result).to.deep.equal(released(desired));
      expect(result.spec.template.spec.containers.map((c) => c.name)).to.deep.equal(['checkout', 'log-shipper', 'mesh-envoy']);
      expect(result.metadata.initializers).to.deep.equal({ pending: [{ name: 'zz.initializer.example.com' }] });
    });
  });

  describe('buildFailurePatch', () => {
    it('tests our turn, pins the resourceVersion and adds a Failure result, keeping pending', () => {
      const original = deepFreeze(shopDeployment());
      const patch = buildFailurePatch({ original, initializerName: OUR_INITIALIZER, message: 'container "mesh-proxy" already exists' });
      expect(patch).to.deep.equal([
        { op: 'test', path: '/metadata/initializers/pending/0/name', value: OUR_INITIALIZER },
        { op: 'replace', path: '/metadata/resourceVersion', value: '512' },
        {
          op: 'add',
          path: '/metadata/initializers/result',
          value: {
            apiVersion: 'v1',
            kind: 'Status',
            status: 'Failure',
            reason: 'Forbidden',
            code: 403,
            message: `${OUR_INITIALIZER}: container "mesh-proxy" already exists`,
          },
        },
      ]);
      expect(patch.some((op) => op.op === 'remove')).to.equal(false);
    });

    it('applied, leaves pending and the rest of the object exactly as they were', () => {
      const original = shopDeployment();
      const result = apply(original, buildFailurePatch({ original, initializerName: OUR_INITIALIZER, message: 'no' }));
      const { result: status, ...initializers } = result.metadata.initializers!;
      expect(initializers).to.deep.equal(original.metadata.initializers);
      expect(status).to.deep.include({ kind: 'Status', status: 'Failure', code: 403, message: `${OUR_INITIALIZER}: no` });
      delete result.metadata.initializers!.result;
      expect(result).to.deep.equal(original);
    });
  });
});
