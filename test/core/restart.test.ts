// The restart of a workload whose Pods carry an older sidecar (webhook --target pods): one
// conditional JSON Patch that stamps two template annotations and changes nothing else, and the
// "restarted for" record that stops a second restart for the same sidecar.
import { expect } from 'chai';
import jsonpatch from 'fast-json-patch';
import { RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION } from '../../controller/core/constants.ts';
import { buildRolloutPatch } from '../../controller/core/patch.ts';
import { restartedFor, restartedWorkload, type RestartTarget } from '../../controller/core/restart.ts';
import type { KubeObject } from '../../controller/core/types.ts';

const NOW = new Date('2026-11-30T23:15:07.123Z');
const TARGET = { meshConfig: 'mesh', hash: '0a1b2c3d4e5f60' };

function deployment(templateMetadata?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '4711', annotations: { 'deployment.kubernetes.io/revision': '3' } },
    spec: {
      replicas: 3, selector: { matchLabels: { app: 'web' } },
      template: { ...(templateMetadata ? { metadata: templateMetadata } : {}), spec: { containers: [{ name: 'app', image: 'nginx' }] } },
    },
  };
}

function buildRestartPatch(original: KubeObject, target: RestartTarget, now: Date) {
  return buildRolloutPatch(original, restartedWorkload(original, target, now));
}

function apply(object: KubeObject, ops: ReturnType<typeof buildRestartPatch>): KubeObject {
  return jsonpatch.applyPatch(structuredClone(object), ops as jsonpatch.Operation[], true, false).newDocument;
}

describe('restart of a workload for a new sidecar (--target pods)', function () {
  for (const [what, metadata] of [
    ['a template without metadata', undefined],
    ['a template without annotations', { labels: { app: 'web' } }],
    ['a template with the user\'s annotations and kubectl\'s restart', { labels: { app: 'web' }, annotations: { 'prometheus.io/scrape': 'true', 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z' } }],
  ] as const) {
    it(`stamps restartedAt and restartedFor on ${what} and changes nothing else`, function () {
      const original = deployment(metadata as Record<string, unknown> | undefined);
      const ops = buildRestartPatch(original, TARGET, NOW);
      expect(ops.slice(0, 2)).to.deep.equal([{ op: 'test', path: '/metadata/resourceVersion', value: '4711' }, { op: 'replace', path: '/metadata/resourceVersion', value: '4711' }]);
      const patched = apply(original, ops);
      const annotations = (patched.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
      expect(annotations[RESTARTED_AT_ANNOTATION]).to.equal('2026-11-30T23:15:07Z');
      expect(annotations[RESTARTED_FOR_ANNOTATION]).to.equal('mesh/0a1b2c3d4e5f60');
      // Everything but the two annotations is as it was.
      const rest = Object.fromEntries(Object.entries(annotations).filter(([key]) => key !== RESTARTED_AT_ANNOTATION && key !== RESTARTED_FOR_ANNOTATION));
      const before = (original.spec as { template: { metadata?: { annotations?: Record<string, string> } } }).template.metadata?.annotations ?? {};
      expect(rest).to.deep.equal(before);
      expect({ ...patched, spec: { ...(patched.spec as object), template: { ...(patched.spec as { template: object }).template, metadata: undefined } } })
        .to.deep.equal({ ...original, spec: { ...(original.spec as object), template: { ...(original.spec as { template: object }).template, metadata: undefined } } });
      expect(restartedFor(original, TARGET)).to.equal(false);
      expect(restartedFor(patched, TARGET)).to.equal(true);
      expect(restartedFor(patched, { ...TARGET, hash: 'other' })).to.equal(false);
    });
  }

  it('refuses an object without a pod template', function () {
    expect(() => restartedWorkload({ kind: 'Job', metadata: { name: 'j', namespace: 'shop' }, spec: {} }, TARGET, NOW)).to.throw('Job shop/j has no spec.template to restart');
  });
});
