// deepFreeze guards objects shared between callers (informer caches, memoised sidecars, cached
// admission answers); it must reach every level, and survive objects nested deeper than the stack.
import { expect } from 'chai';
import { deepFreeze } from '../../controller/core/untrusted.ts';

describe('deepFreeze', function () {
  it('freezes every object and list it reaches, and returns the same value', function () {
    const value = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', ports: [{ containerPort: 80 }] }] } };
    expect(deepFreeze(value)).to.equal(value);
    for (const part of [value, value.metadata, value.metadata.labels, value.spec, value.spec.containers, value.spec.containers[0], value.spec.containers[0]!.ports[0]]) {
      expect(Object.isFrozen(part)).to.equal(true);
    }
    expect(() => { (value.spec.containers[0] as { name: string }).name = 'changed'; }).to.throw(TypeError);
  });

  it('handles an object nested 100,000 levels deep without overflowing the stack', function () {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 100_000; i++) deep = (deep.next = {}) as Record<string, unknown>;
    deepFreeze(root);
    expect(Object.isFrozen(deep)).to.equal(true);
  });
});
