// The hash in the status record must not depend on how it is computed: renderedSidecarHash (which
// skips rendering and re-walking the sidecar per workload) must equal hashing the canonical JSON
// of the rendered sidecar, for any sidecar and any workload, or upgrades would see every workload
// as changed.
import { expect } from 'chai';
import fc from 'fast-check';
import { placeholderValues, renderedSidecarHash, renderSidecar } from '../../controller/core/render.ts';
import { canonicalJson, hashString } from '../../controller/core/status-record.ts';
import type { SidecarSpec } from '../../controller/core/types.ts';

const reference = (sidecar: SidecarSpec, values: ReturnType<typeof placeholderValues>): string => hashString(canonicalJson(renderSidecar(sidecar, values)));

// Strings mixing plain text, every placeholder spelling, near misses and JSON-escaped characters.
const piece = fc.constantFrom('{{workload.name}}', '{{ workload.namespace }}', '{{workload.kind}}', '{{meshConfig.name}}', '{{workload.nam}}', '{{', '}}', '"', '\\', '\n', '\u2028', 'é', 'x', '-', ' ', '$&');
const text = fc.array(piece, { maxLength: 5 }).map((parts) => parts.join(''));
const key = fc.oneof(text, fc.constantFrom('name', 'image', 'args', 'a', 'b', '__proto__x', '{{workload.name}}'));
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
})).value;
const identity = fc.record({
  kind: fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet', 'Job') as fc.Arbitrary<'Deployment'>,
  name: fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,20}$/), text),
  namespace: fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,20}$/), text),
});

describe('renderedSidecarHash', function () {
  it('equals the hash of the canonical JSON of the rendered sidecar, for any sidecar and workload', function () {
    fc.assert(fc.property(fc.dictionary(key, json, { maxKeys: 6 }), identity, fc.oneof(text, fc.constant('default')), (sidecar, who, meshConfig) => {
      const spec = sidecar as unknown as SidecarSpec;
      const values = placeholderValues(who, meshConfig);
      // Twice: the second call uses the cached template.
      expect(renderedSidecarHash(spec, values)).to.equal(reference(spec, values));
      expect(renderedSidecarHash(spec, values)).to.equal(reference(spec, values));
    }), { numRuns: 500 });
  });

  it('differs between workloads exactly when their rendered sidecars differ', function () {
    const sidecar = { containers: [{ name: 'mesh-proxy', image: 'proxy:1', args: ['--cluster', '{{workload.name}}.{{workload.namespace}}'] }], volumes: [{ name: 'certs', emptyDir: {} }] } as unknown as SidecarSpec;
    const a = placeholderValues({ kind: 'Deployment', name: 'web', namespace: 'shop' }, 'default');
    const b = placeholderValues({ kind: 'Deployment', name: 'api', namespace: 'shop' }, 'default');
    const c = placeholderValues({ kind: 'StatefulSet', name: 'web', namespace: 'shop' }, 'default');
    expect(renderedSidecarHash(sidecar, a)).not.to.equal(renderedSidecarHash(sidecar, b));
    // {{workload.kind}} is not used: the kind does not change the injection.
    expect(renderedSidecarHash(sidecar, a)).to.equal(renderedSidecarHash(sidecar, c));
  });
});
