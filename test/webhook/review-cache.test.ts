// The webhook's answer cache: a review that repeats another but for its uid gets the same answer
// without recomputing it, and any change to what the answer depends on (the object, the
// MeshConfigs, the namespace's labels, the Pod's workload, MeshConfigs becoming unreadable) is a
// miss. The seeded property at the end checks the one rule behind all of it: with or without
// the cache, every answer is exactly what admit() answers.
import { expect } from 'chai';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import { SidecarMemo } from '../../controller/core/sidecar-memo.ts';
import type { KubeObject, MeshConfig, NamespaceInfo, WorkloadMetadata } from '../../controller/core/types.ts';
import { admit, AdmissionRequestError, type AdmissionContext, type AdmissionOutcome } from '../../controller/webhook/admission.ts';
import { ReviewCache, splitReviewUid } from '../../controller/webhook/review-cache.ts';
import { mulberry32, mutate, type Rng } from '../fuzz/hostile.ts';

function meshConfig(image: string, generation = 1, extra: Record<string, unknown> = {}): MeshConfig {
  const parsed = parseMeshConfig({ metadata: { name: 'default', generation }, spec: { ...extra, sidecar: { containers: [{ name: 'mesh-proxy', image, args: ['{{workload.name}}'] }] } } });
  if (!parsed.ok) throw parsed.error;
  return parsed.meshConfig;
}

/** A context whose inputs a test can change between requests, as the informers would. */
function mutableContext() {
  const state = {
    meshConfigs: [meshConfig('proxy:1')] as readonly MeshConfig[],
    namespaceLabels: {} as Record<string, string>,
    unavailable: undefined as string | undefined,
    workload: { kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } } } as WorkloadMetadata | undefined,
  };
  const context: AdmissionContext = {
    target: 'pods',
    namespace: (name): NamespaceInfo => ({ name, labels: { ...state.namespaceLabels } }),
    meshConfigs: () => state.meshConfigs,
    meshConfigsUnavailable: () => state.unavailable,
    controllerNamespace: 'meshinit-system',
    workload: () => state.workload,
  };
  return { state, context };
}

function pod(image = 'web:1'): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      generateName: 'web-7d9f8c6b5-', namespace: 'shop', labels: { app: 'web', 'pod-template-hash': '7d9f8c6b5' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8c6b5', uid: 'rs-1', controller: true, blockOwnerDeletion: true }],
    },
    spec: { containers: [{ name: 'web', image }] },
  };
}

/** As the API server lays a review out: kind, apiVersion, then request with uid first. */
function reviewText(uid: string, object: KubeObject = pod(), extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'shop', operation: 'CREATE', object, oldObject: null, dryRun: false, ...extra },
  });
}

/** What the webhook handler does with a body: the cache first, then admit() through it; and the JSON it sends. */
function answer(cache: ReviewCache, text: string): AdmissionOutcome {
  const { outcome, json } = cache.lookup(text) ?? cache.admit(text, JSON.parse(text));
  expect(json, 'the text sent is the answer').to.equal(JSON.stringify(outcome.review));
  return outcome;
}

function image(outcome: AdmissionOutcome): string | undefined {
  const ops = JSON.parse(Buffer.from(outcome.review.response.patch ?? '', 'base64').toString('utf8') || '[]') as Array<{ path: string; value?: { name?: string; image?: string } }>;
  return ops.find((op) => op.value?.name === 'mesh-proxy')?.value?.image;
}

describe('webhook review cache', function () {
  describe('splitReviewUid', function () {
    it('finds request.uid in the API server\'s layout and in JSON.stringify\'s (apiVersion first), escapes included', function () {
      expect(splitReviewUid(reviewText('abc'))).to.include({ uid: 'abc' });
      const split = splitReviewUid('{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"a\\"b\\\\","x":1}}');
      expect(split).to.deep.equal({ uid: 'a"b\\', before: '{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":', after: ',"x":1}}' });
    });

    it('gives up on anything else: other layouts, whitespace, an empty or unterminated uid, a uid that is not a string', function () {
      for (const text of [
        '{ "kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"a"}}',
        '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v2","request":{"uid":"a"}}',
        '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"name":"x","uid":"a"}}',
        '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":""}}',
        '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"abc',
        '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"a\\x"}}',
        '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":1}}',
      ]) expect(splitReviewUid(text), text).to.equal(undefined);
    });
  });

  it('answers a ReplicaSet\'s next Pod from the cache, with its own uid, exactly as admit() would', function () {
    const { context } = mutableContext();
    const cache = new ReviewCache(context);
    const first = answer(cache, reviewText('uid-1'));
    expect(first.decision.action).to.equal('injected');
    const second = answer(cache, reviewText('uid-2', pod(), { dryRun: false }));
    expect(cache.stats()).to.include({ hits: 1, misses: 1, entries: 1 });
    expect(second).to.deep.equal(admit(JSON.parse(reviewText('uid-2')), context));
    expect(second.review.response.uid).to.equal('uid-2');
    expect(second.decision.uid).to.equal('uid-2');
    // The first answer was handed out before it was kept: still its own uid.
    expect(first.review.response.uid).to.equal('uid-1');
  });

  it('misses when the Pod differs, or anything else in the review but the uid (namespace, dryRun, operation)', function () {
    const { context } = mutableContext();
    const cache = new ReviewCache(context);
    answer(cache, reviewText('a'));
    const other = answer(cache, reviewText('b', pod('web:2')));
    expect(cache.stats()).to.include({ hits: 0, misses: 2 });
    expect(other).to.deep.equal(admit(JSON.parse(reviewText('b', pod('web:2'))), context));
    const dryRun = answer(cache, reviewText('c', pod(), { dryRun: true }));
    expect(dryRun.decision.dryRun).to.equal(true);
    const elsewhere = answer(cache, reviewText('d', pod(), { namespace: 'kube-system' }));
    expect(elsewhere.decision).to.include({ action: 'skipped', namespace: 'kube-system' });
    expect(answer(cache, reviewText('e', pod(), { operation: 'UPDATE' })).decision.action).to.equal('skipped');
    // The same request in a v1beta1 review (everything after the uid equal): answered in kind.
    const beta = reviewText('f').replace('"apiVersion":"admission.k8s.io/v1"', '"apiVersion":"admission.k8s.io/v1beta1"');
    expect(answer(cache, beta).review.apiVersion).to.equal('admission.k8s.io/v1beta1');
    expect(answer(cache, reviewText('g')).review.apiVersion).to.equal('admission.k8s.io/v1');
    expect(cache.stats()).to.include({ hits: 0, misses: 7 });
  });

  it('misses when the MeshConfig changes (a new generation), and injects what the new one says', function () {
    const { state, context } = mutableContext();
    const cache = new ReviewCache(context);
    expect(image(answer(cache, reviewText('a')))).to.equal('proxy:1');
    expect(image(answer(cache, reviewText('b')))).to.equal('proxy:1');
    state.meshConfigs = [meshConfig('proxy:2', 2)];
    const after = answer(cache, reviewText('c'));
    expect(image(after)).to.equal('proxy:2');
    expect(cache.stats()).to.include({ hits: 1, misses: 2 });
    // The same generation number in a different object is a different MeshConfig (1.9 servers keep no generation).
    state.meshConfigs = [meshConfig('proxy:3', 2)];
    expect(image(answer(cache, reviewText('d')))).to.equal('proxy:3');
    // A second MeshConfig appearing changes the answer's inputs too.
    state.meshConfigs = [meshConfig('proxy:3', 2), { ...meshConfig('proxy:9', 1, { priority: 10 }), name: 'urgent' }];
    expect(image(answer(cache, reviewText('e')))).to.equal('proxy:9');
  });

  it('misses when the namespace is relabelled, the Deployment opts out, or MeshConfigs become unreadable', function () {
    const { state, context } = mutableContext();
    const cache = new ReviewCache(context);
    expect(answer(cache, reviewText('a')).decision.action).to.equal('injected');
    state.namespaceLabels = { 'meshinit.dev/injection': 'disabled' };
    expect(answer(cache, reviewText('b')).decision.action).to.equal('skipped');
    state.namespaceLabels = {};
    expect(answer(cache, reviewText('c')).decision.action).to.equal('injected');
    state.workload = { kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' }, annotations: { 'sidecar.meshinit.dev/inject': 'false' } } };
    expect(answer(cache, reviewText('d')).decision).to.include({ action: 'skipped', decidedFrom: 'Deployment/web' });
    state.workload = undefined;
    expect(answer(cache, reviewText('e')).decision.decidedFrom).to.match(/not in meshinit's cache/);
    state.unavailable = 'the MeshConfig CRD is not installed';
    expect(answer(cache, reviewText('f')).decision.action).to.equal('allowed-uninjected');
    state.unavailable = undefined;
    expect(answer(cache, reviewText('g')).decision.action).to.equal('injected');
    // One answer per review text: each change replaced the one before, none was answered stale.
    expect(cache.stats()).to.include({ hits: 0, misses: 7, entries: 1 });
  });

  it('does not keep a review whose uid key appears twice: JSON.parse reads the last, the cache would cut out the first', function () {
    const { context } = mutableContext();
    const cache = new ReviewCache(context);
    const twice = (uid: string): string => reviewText(uid).replace('"operation":"CREATE"', '"operation":"CREATE","uid":"last"');
    const first = answer(cache, twice('a'));
    expect(first.review.response.uid).to.equal('last');
    expect(cache.stats().entries).to.equal(0);
    expect(answer(cache, twice('b')).review.response.uid).to.equal('last');
    // Even when both say the same: the next review may differ in the first only.
    const same = (first: string): string => reviewText(first).replace('"operation":"CREATE"', '"operation":"CREATE","uid":"x"');
    expect(answer(cache, same('x')).review.response.uid).to.equal('x');
    expect(answer(cache, same('y')).review.response.uid).to.equal('x');
    expect(cache.stats()).to.include({ entries: 0, hits: 0 });
  });

  it('keeps malformed reviews out: admit()\'s refusal is thrown and nothing is kept', function () {
    const { context } = mutableContext();
    const cache = new ReviewCache(context);
    const text = '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"a","object":{}}}';
    expect(answer(cache, text).decision.action).to.equal('skipped');
    expect(() => cache.admit('{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"a"}}', { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: {} })).to.throw(AdmissionRequestError);
    expect(cache.stats().entries).to.equal(1);
  });

  it('is bounded: the least recently used answers go first, by count and by size', function () {
    const { context } = mutableContext();
    const cache = new ReviewCache(context, { maxEntries: 2 });
    answer(cache, reviewText('a', pod('web:1')));
    answer(cache, reviewText('b', pod('web:2')));
    answer(cache, reviewText('c', pod('web:1'))); // a hit: web:1 is now the most recent
    answer(cache, reviewText('d', pod('web:3'))); // evicts web:2
    expect(cache.stats()).to.include({ entries: 2, hits: 1, misses: 3 });
    answer(cache, reviewText('e', pod('web:1')));
    expect(cache.stats().hits).to.equal(2);
    answer(cache, reviewText('f', pod('web:2')));
    expect(cache.stats().misses).to.equal(4);

    const measure = new ReviewCache(context);
    answer(measure, reviewText('m', pod('web:1')));
    const oneEntry = measure.stats().chars;
    const small = new ReviewCache(context, { maxChars: Math.floor(oneEntry * 1.5) });
    for (const version of [1, 2, 3]) answer(small, reviewText(`s${version}`, pod(`web:${version}`)));
    expect(small.stats().entries).to.equal(1);
    expect(small.stats().chars).to.be.at.most(oneEntry * 1.5);
    const tiny = new ReviewCache(context, { maxChars: 10 });
    answer(tiny, reviewText('t'));
    expect(tiny.stats()).to.include({ entries: 0, chars: 0 });
  });

  it('hands out answers that cannot be changed in place, so one request cannot alter the next one\'s', function () {
    const { state, context } = mutableContext();
    state.meshConfigs = [meshConfig('proxy:1', 1, { failurePolicy: 'Ignore' })];
    const cache = new ReviewCache(context);
    const clash = pod();
    (clash as { spec: { containers: unknown[] } }).spec.containers.push({ name: 'mesh-proxy', image: 'mine' });
    answer(cache, reviewText('a', clash));
    const hit = answer(cache, reviewText('b', clash));
    expect(hit.review.response.warnings).to.have.length(1);
    expect(() => (hit.review.response.warnings as string[]).push('x')).to.throw(TypeError);
    expect(answer(cache, reviewText('c', clash)).review.response.warnings).to.have.length(1);
  });

  it(`property: through the cache (and the sidecar memo), every answer equals admit()'s, over seeded sequences of repeating, changing and hostile reviews`, function () {
    const rng = mulberry32(0xcac4e);
    const configs = [meshConfig('proxy:1'), meshConfig('proxy:2', 2), meshConfig('proxy:2', 2, { policy: 'Disabled' })];
    const workloads: Array<WorkloadMetadata | undefined> = [
      undefined,
      { kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } } },
      { kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' }, annotations: { 'sidecar.meshinit.dev/inject': 'false' } } },
    ];
    const { state, context } = mutableContext();
    // Through the cache with the sidecar memo the webhook keeps; admit() alone without it.
    const cache = new ReviewCache({ ...context, sidecars: new SidecarMemo(2) }, { maxEntries: 8 });
    const objects = [pod('web:1'), pod('web:2'), { ...pod(), metadata: { name: 'bare', namespace: 'shop' } }];
    let compared = 0;
    for (let i = 0; i < 1500; i++) {
      if (rng.chance(0.05)) state.meshConfigs = rng.chance(0.1) ? [] : [rng.pick(configs)];
      if (rng.chance(0.05)) state.namespaceLabels = rng.chance(0.5) ? {} : { 'meshinit.dev/injection': 'disabled' };
      if (rng.chance(0.03)) state.unavailable = rng.chance(0.5) ? undefined : 'no CRD';
      if (rng.chance(0.05)) state.workload = rng.pick(workloads);
      const text = hostileVariant(rng, reviewText(`uid-${i}`, structuredClone(rng.pick(objects)), { dryRun: rng.chance(0.2), namespace: rng.pick(['shop', 'shop', 'kube-system']) }));
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        continue;
      }
      const expected = attempt(() => admit(structuredClone(body), context));
      const actual = attempt(() => {
        const { outcome, json } = cache.lookup(text) ?? cache.admit(text, body);
        expect(json).to.equal(JSON.stringify(outcome.review));
        return outcome;
      });
      expect(actual, `case ${i}: ${text.slice(0, 300)}`).to.deep.equal(expected);
      compared++;
    }
    expect(cache.stats().hits, 'the sequence repeats reviews').to.be.greaterThan(300);
    expect(compared).to.be.greaterThan(1400);
  });
});

function attempt(run: () => AdmissionOutcome): AdmissionOutcome | string {
  try {
    return run();
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

/** Mostly the review as is; sometimes mutated (wrong types, missing fields), sometimes with its uid key doubled. */
function hostileVariant(rng: Rng, text: string): string {
  const roll = rng.int(20);
  if (roll === 0) {
    const review = JSON.parse(text) as Record<string, unknown>;
    mutate(rng, review, 1 + rng.int(3));
    return JSON.stringify(review) ?? 'null';
  }
  if (roll === 1) return text.replace('"operation":', `"uid":${JSON.stringify(`other-${rng.int(3)}`)},"operation":`);
  return text;
}
