import { expect } from 'chai';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import type { KubeObject } from '../../controller/core/types.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import { desiredStatus, MeshConfigStatusWriter } from '../../controller/kube/meshconfig-status.ts';
import { MeshConfigStore, type MeshConfigVerdict } from '../../controller/kube/meshconfig-store.ts';
import type { KubeApi } from '../../controller/kube/types.ts';
import { createMemoryLogger } from '../../controller/logger.ts';

const NOW = new Date('2026-11-23T04:00:00Z');

function meshConfigObject(spec: Record<string, unknown>, generation: number, status?: unknown): KubeObject {
  return { apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default', generation, resourceVersion: String(generation) }, spec, ...(status ? { status } : {}) };
}

const VALID_SPEC = { selector: { matchLabels: { app: 'web' } }, sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:7' }] } };
const INVALID_SPEC = { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:8' }, { name: 'mesh-proxy', image: 'proxy:8' }] } };

function verdictOf(object: KubeObject): MeshConfigVerdict {
  return new MeshConfigStore(createMemoryLogger()).apply(object);
}

describe('MeshConfig status', function () {
  it('records the accepted spec whole, and keeps it through an invalid edit', function () {
    const valid = meshConfigObject(VALID_SPEC, 4);
    const accepted = desiredStatus(verdictOf(valid), valid, NOW);
    expect(accepted).to.deep.include({ observedGeneration: 4, lastValidGeneration: 4, lastValidSpec: VALID_SPEC });
    const invalid = meshConfigObject(INVALID_SPEC, 5, accepted);
    const refused = desiredStatus(verdictOf(invalid), invalid, NOW);
    expect(refused.observedGeneration).to.equal(5);
    expect(refused.conditions[0]).to.include({ type: 'Valid', status: 'False', reason: 'Invalid' });
    expect(refused.lastValidGeneration).to.equal(4);
    // Recorded as served: the same spec with its defaults applied.
    const recorded = refused.lastValidSpec as { selector: unknown; policy: string; sidecar: { containers: Array<{ image: string }> } };
    expect(recorded.selector).to.deep.equal(VALID_SPEC.selector);
    expect(recorded.policy).to.equal('Enabled');
    expect(recorded.sidecar.containers[0]?.image).to.equal('proxy:7');
  });

  it('for an invalid edit records the version this process serves, even when status still holds an older one', function () {
    const store = new MeshConfigStore(createMemoryLogger());
    const v2Spec = { sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:2' }] } };
    store.apply(meshConfigObject(v2Spec, 2));
    // v2's status write has not landed: status still says v1.
    const v3 = meshConfigObject(INVALID_SPEC, 3, { observedGeneration: 1, lastValidGeneration: 1, lastValidSpec: VALID_SPEC });
    const status = desiredStatus(store.apply(v3), v3, NOW);
    expect(status.lastValidGeneration).to.equal(2);
    const recorded = status.lastValidSpec as { sidecar: { containers: Array<{ image: string }> } };
    expect(recorded.sidecar.containers[0]?.image).to.equal('proxy:2');
    // And what it recorded is what a restarted process would serve.
    const restarted = new MeshConfigStore(createMemoryLogger());
    restarted.apply({ ...v3, status });
    expect(restarted.list()[0]?.spec.sidecar.containers[0]?.image).to.equal('proxy:2');
  });

  it('after a restart, an invalid MeshConfig serves the last valid spec recorded in its status', function () {
    const log = createMemoryLogger();
    const store = new MeshConfigStore(log);
    const invalid = meshConfigObject(INVALID_SPEC, 5, { observedGeneration: 5, lastValidGeneration: 4, lastValidSpec: VALID_SPEC });
    const verdict = store.apply(invalid);
    expect(verdict).to.include({ valid: false, servingPrevious: true });
    const [serving] = store.list();
    expect(serving?.generation).to.equal(4);
    expect(serving?.spec.sidecar.containers[0]?.image).to.equal('proxy:7');
    expect(String(log.lines.find((l) => l.message === 'MeshConfig ignored')?.fields.action)).to.include('generation 4, recorded in its status');
    // A recorded spec that is itself invalid (edited by hand) is not used.
    const tampered = new MeshConfigStore(createMemoryLogger());
    expect(tampered.apply(meshConfigObject(INVALID_SPEC, 6, { lastValidSpec: INVALID_SPEC })).valid).to.equal(false);
    expect(tampered.list()).to.deep.equal([]);
    expect(parseMeshConfig(meshConfigObject(VALID_SPEC, 1)).ok).to.equal(true);
  });

  it('retries a failed status write with backoff until it lands, and a newer verdict replaces the retry', async function () {
    const writes: unknown[] = [];
    let failures = 2;
    const api = {
      patch: async (path: string, body: unknown) => {
        if (failures-- > 0) throw new KubeApiError({ method: 'PATCH', path, statusCode: 503, message: 'etcd leader changed' });
        writes.push(body);
        return {};
      },
    } as unknown as KubeApi;
    const scheduled: Array<{ fn: () => void; ms: number }> = [];
    const timers = { setTimeout: (fn: () => void, ms: number) => { scheduled.push({ fn, ms }); return scheduled.length; }, clearTimeout: () => undefined };
    const log = createMemoryLogger();
    const writer = new MeshConfigStatusWriter(api, log, () => NOW, timers, { initialMs: 100, maxMs: 1000 });
    const object = meshConfigObject(VALID_SPEC, 4);
    await writer.report(object, verdictOf(object));
    expect(writes).to.deep.equal([]);
    expect(scheduled.map((s) => s.ms)).to.deep.equal([100]);
    scheduled[0]!.fn();
    await new Promise((resolve) => setImmediate(resolve));
    expect(scheduled.map((s) => s.ms)).to.deep.equal([100, 200]);
    scheduled[1]!.fn();
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).to.have.length(1);
    expect((writes[0] as Array<{ op: string; path: string }>)[0]).to.include({ op: 'add', path: '/status' });
    expect(log.lines.filter((l) => l.message === 'MeshConfig status not written, retrying')).to.have.length(2);

    // A retry that a newer verdict overtook does nothing.
    failures = 1;
    await writer.report(object, verdictOf(object));
    const stale = scheduled.at(-1)!;
    const newer = meshConfigObject(VALID_SPEC, 9);
    await writer.report(newer, verdictOf(newer));
    const before = writes.length;
    stale.fn();
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes.length).to.equal(before);
  });
});
