// core/json-diff: the webhook's patch builder. Whatever the two values, the patch applied to the
// first gives the second; on what injection produces it says only what changed, in few operations.
import { expect } from 'chai';
import fc from 'fast-check';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import { diffJson } from '../../controller/core/json-diff.ts';
import type { JsonPatchOperation } from '../../controller/core/patch.ts';
import { deepFreeze, demoDeployment, envoyMeshConfig, meshConfig, reportJobPod, shopDeployment } from './fixtures/helpers.ts';

const { applyPatch } = fastJsonPatch;

function apply(document: unknown, ops: JsonPatchOperation[]): unknown {
  return applyPatch(structuredClone(document), ops as Operation[], true, false).newDocument;
}

/**
 * JSON values as they travel (-0 arrives as 0), without "__proto__" keys, which fast-json-patch
 * refuses to apply (the API server has no such guard).
 */
const json = fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown).filter((value) => !JSON.stringify(value).includes('"__proto__"'));

/**
 * `value` with one subtree replaced along a random path, and the JSON Pointer of what was replaced;
 * everything off the path is shared, as injection shares it.
 */
function edited(value: unknown, path: number[], replacement: unknown, at = ''): { value: unknown; pointer: string } {
  if (path.length === 0) return { value: replacement, pointer: at };
  const [step, ...rest] = path as [number, ...number[]];
  if (Array.isArray(value) && value.length > 0) {
    const index = step % (value.length + 1);
    if (index === value.length) return { value: [...value, replacement], pointer: `${at}/${index}` };
    const inner = edited(value[index], rest, replacement, `${at}/${index}`);
    return { value: value.map((item, i) => (i === index ? inner.value : item)), pointer: inner.pointer };
  }
  if (typeof value === 'object' && value !== null && Object.keys(value).length > 0) {
    const key = Object.keys(value)[step % Object.keys(value).length]!;
    const inner = edited((value as Record<string, unknown>)[key], rest, replacement, `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    return { value: { ...value, [key]: inner.value }, pointer: inner.pointer };
  }
  return { value: replacement, pointer: at };
}

describe('core/json-diff', function () {
  it('property: for any two JSON values, the patch applied to the first gives the second', function () {
    fc.assert(fc.property(json, json, (a, b) => {
      expect(apply(a, diffJson(a, b))).to.deep.equal(b);
    }), { numRuns: 500 });
  });

  it('property: on edited copies that share the untouched subtrees, the patch gives the copy and touches only the edited path', function () {
    fc.assert(fc.property(json, fc.array(fc.nat(), { maxLength: 5 }), json, (a, path, replacement) => {
      deepFreeze(a);
      const { value: b, pointer } = edited(a, path, replacement);
      const ops = diffJson(a, b);
      expect(apply(a, ops)).to.deep.equal(b);
      for (const op of ops) expect(op.path === pointer || op.path.startsWith(`${pointer}/`), `${op.path} is under ${pointer}`).to.equal(true);
    }), { numRuns: 500 });
  });

  it('escapes "~" and "/" in keys (RFC 6901), and replaces the root when the types differ', function () {
    expect(diffJson({ 'a/b': 1, 'c~d': 1 }, { 'a/b': 2, 'c~d': 1, 'e~/': 3 })).to.deep.equal([
      { op: 'replace', path: '/a~1b', value: 2 },
      { op: 'add', path: '/e~0~1', value: 3 },
    ]);
    expect(diffJson([1], { a: 1 })).to.deep.equal([{ op: 'replace', path: '', value: { a: 1 } }]);
    expect(diffJson({ a: [1, 2] }, { a: [1, 2] }), 'equal but not the same objects').to.deep.equal([]);
  });

  it('keeps a list\'s common head and tail: an append, a prepend, a removal in the middle are one operation each', function () {
    expect(diffJson(['web'], ['web', 'proxy'])).to.deep.equal([{ op: 'add', path: '/1', value: 'proxy' }]);
    expect(diffJson(['wait'], ['init', 'wait'])).to.deep.equal([{ op: 'add', path: '/0', value: 'init' }]);
    expect(diffJson(['a', 'b', 'c'], ['a', 'c'])).to.deep.equal([{ op: 'remove', path: '/1' }]);
    expect(diffJson(['a', 'b', 'c', 'd'], ['a', 'x'])).to.deep.equal([{ op: 'replace', path: '/1', value: 'x' }, { op: 'remove', path: '/3' }, { op: 'remove', path: '/2' }]);
  });

  it('on injected workloads and Pods: gives the injected object, with as few operations as fast-json-patch\'s compare or fewer', function () {
    const cases: Array<[unknown, unknown]> = [];
    for (const workload of [demoDeployment(), shopDeployment()]) {
      const original = deepFreeze(workload);
      const once = injectWorkload(original, envoyMeshConfig()).object;
      cases.push([original, once]);
      // An upgrade: another MeshConfig's sidecar replaces the first one's.
      cases.push([deepFreeze(once), injectWorkload(once, meshConfig('envoy', { sidecar: { containers: [{ name: 'other-proxy', image: 'proxy:2' }] } }, 2)).object]);
    }
    const pod = deepFreeze(reportJobPod());
    cases.push([pod, injectPod(pod, envoyMeshConfig(), { kind: 'Job', name: 'report', namespace: 'shop' }).object]);
    for (const [original, desired] of cases) {
      const ops = diffJson(original, desired);
      expect(apply(original, ops)).to.deep.equal(JSON.parse(JSON.stringify(desired)));
      expect(ops.length).to.be.at.most(fastJsonPatch.compare(original as object, desired as object).length);
    }
  });
});
