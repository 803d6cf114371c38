// Seeded fuzz of the webhook's admission path: hostile AdmissionReviews (wrong types, missing
// fields, huge and deep values, prototype-pollution keys) through admit(), and a share of them
// as raw bytes through the HTTP handler. admit() may only answer, or throw AdmissionRequestError
// (the handler's 400); every answer must be a well-formed AdmissionReview for the same uid whose
// patch, if any, applies to the submitted object.
import { PassThrough } from 'node:stream';
import type http from 'node:http';
import { expect } from 'chai';
import jsonpatch from 'fast-json-patch';
import { parseMeshConfig } from '../../controller/core/meshconfig.ts';
import type { MeshConfig, NamespaceInfo } from '../../controller/core/types.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { admit, AdmissionRequestError, type AdmissionContext, type WebhookTarget } from '../../controller/webhook/admission.ts';
import { createWebhookHandler } from '../../controller/webhook/app.ts';
import { assertNoPollution, hostileObject, hostileString, hostileValue, mulberry32, mutate, prototypeSnapshot, putHuge, type Rng } from './hostile.ts';

const SEED = Number(process.env.MESHINIT_FUZZ_SEED ?? 0x5eed2026);
const CASES = 3000;
const HTTP_CASES = 300;
const CASE_BUDGET_MS = 2000;

function meshConfigs(): MeshConfig[] {
  const raw = [
    { metadata: { name: 'default', generation: 1 }, spec: { sidecar: { initContainers: [{ name: 'mesh-init', image: 'init:1' }], containers: [{ name: 'mesh-proxy', image: 'proxy:1', args: ['{{workload.name}}', '{{workload.kind}}'] }], volumes: [{ name: 'mesh-certs', emptyDir: {} }], podAnnotations: { 'mesh.example.com/v': '1' } } } },
    { metadata: { name: 'strict', generation: 2 }, spec: { failurePolicy: 'Fail', priority: 5, selector: { matchLabels: { strict: 'yes' } }, sidecar: { containers: [{ name: 'mesh-proxy', image: 'proxy:2' }] } } },
  ];
  return raw.map((mc) => {
    const parsed = parseMeshConfig(mc);
    if (!parsed.ok) throw parsed.error;
    return parsed.meshConfig;
  });
}

const MESHCONFIGS = meshConfigs();

function context(rng: Rng): AdmissionContext {
  const target: WebhookTarget = rng.chance(0.6) ? 'pods' : 'workloads';
  return {
    target,
    namespace: (name): NamespaceInfo | undefined => (rng.chance(0.2) ? undefined : { name, labels: rng.chance(0.2) ? { 'meshinit.dev/injection': 'disabled' } : {} }),
    meshConfigs: () => MESHCONFIGS,
    controllerNamespace: 'meshinit-system',
  };
}

function wellFormedReview(rng: Rng): Record<string, unknown> {
  const pod = rng.chance(0.6);
  const labels: Record<string, string> = { app: 'web', ...(rng.chance(0.3) ? { strict: 'yes', 'pod-template-hash': '7d9f' } : {}) };
  const podSpec = { containers: [{ name: 'web', image: 'web:1' }, ...(rng.chance(0.1) ? [{ name: 'mesh-proxy', image: 'mine:1' }] : [])], ...(rng.chance(0.1) ? { hostNetwork: true } : {}) };
  const object = pod
    ? {
        apiVersion: 'v1', kind: 'Pod',
        metadata: { generateName: 'web-7d9f-', labels, ownerReferences: [{ apiVersion: 'apps/v1', kind: rng.pick(['ReplicaSet', 'StatefulSet', 'Job', 'DaemonSet', 'Weird']), name: 'web-7d9f', uid: 'u', controller: rng.chance(0.9) }] },
        spec: podSpec,
      }
    : { apiVersion: 'apps/v1', kind: rng.pick(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']), metadata: { name: 'web', labels }, spec: { template: { metadata: { labels }, spec: podSpec } } };
  const kind = String(object.kind);
  return {
    apiVersion: rng.chance(0.9) ? 'admission.k8s.io/v1' : 'admission.k8s.io/v1beta1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${rng.int(1e9)}`,
      kind: { group: pod ? '' : kind === 'Job' ? 'batch' : 'apps', version: 'v1', kind },
      resource: { group: pod ? '' : kind === 'Job' ? 'batch' : 'apps', version: 'v1', resource: `${kind.toLowerCase()}s` },
      namespace: rng.pick(['default', 'shop', 'kube-system', 'meshinit-system', 'quiet']),
      operation: rng.pick(['CREATE', 'CREATE', 'CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
      dryRun: rng.chance(0.2),
      object,
    },
  };
}

function hostileReview(rng: Rng): unknown {
  const roll = rng.int(10);
  if (roll === 0) return hostileValue(rng, 3);
  if (roll === 1) return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: hostileObject(rng, 3) };
  const review = wellFormedReview(rng);
  mutate(rng, review, 1 + rng.int(6));
  if (rng.chance(0.03)) putHuge(rng, review);
  if (rng.chance(0.05)) Object.defineProperty(review, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
  if (rng.chance(0.05)) (review.request as Record<string, unknown> | undefined) && Object.assign(review.request as object, { uid: hostileString(rng) });
  return review;
}

function checkAnswer(body: unknown, answer: ReturnType<typeof admit>): void {
  const request = (body as { request: { uid: string; object: unknown } }).request;
  expect(answer.review.kind).to.equal('AdmissionReview');
  expect(answer.review.apiVersion).to.equal((body as { apiVersion: string }).apiVersion);
  expect(answer.review.response.uid).to.equal(request.uid);
  expect(answer.review.response.allowed).to.be.a('boolean');
  if (!answer.review.response.allowed) expect(answer.review.response.status?.message).to.be.a('string').and.not.empty;
  if (answer.review.response.patch !== undefined) {
    expect(answer.review.response.patchType).to.equal('JSONPatch');
    const ops = JSON.parse(Buffer.from(answer.review.response.patch, 'base64').toString('utf8')) as jsonpatch.Operation[];
    const validation = jsonpatch.validate(ops, structuredClone(request.object));
    expect(validation, 'the patch applies to the submitted object').to.equal(undefined);
    expect(answer.decision.action).to.equal('injected');
  }
}

/** An in-memory ServerResponse: what the handler answered. */
class RecordedResponse {
  status = 0;
  headersSent = false;
  constructor(private readonly done: (reply: { status: number; body: string }) => void) {}
  writeHead(code: number): this {
    this.status = code;
    this.headersSent = true;
    return this;
  }
  end(text?: string): void {
    this.done({ status: this.status, body: text ?? '' });
  }
  destroy(): void {
    this.done({ status: -1, body: 'destroyed' });
  }
}

/** The HTTP handler with an in-memory request and response: status code and body. */
function callHandler(handler: ReturnType<typeof createWebhookHandler>, body: Buffer, contentType: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const request = Object.assign(new PassThrough(), { url: '/inject', method: 'POST', headers: { 'content-type': contentType, 'content-length': String(body.length) } });
    handler(request as unknown as http.IncomingMessage, new RecordedResponse(resolve) as unknown as http.ServerResponse);
    request.end(body);
  });
}

/** JSON text of a review; one too deep for JSON.stringify is written out as text instead. */
function reviewText(review: unknown): string {
  try {
    return JSON.stringify(review) ?? 'null';
  } catch {
    return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep","object":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
  }
}

describe(`fuzz: ${CASES + HTTP_CASES} seeded hostile AdmissionReviews (seed ${SEED})`, function () {
  this.timeout(120_000);

  it(`admit(): ${CASES} reviews answer well-formed or are refused as not an AdmissionReview, never crash`, function () {
    const rng = mulberry32(SEED ^ 0xad31);
    const before = prototypeSnapshot();
    const counts = { answered: 0, refused: 0, injected: 0, denied: 0, crashes: 0, maxMs: 0 };
    for (let i = 0; i < CASES; i++) {
      const body = hostileReview(rng);
      const started = performance.now();
      try {
        const answer = admit(body, context(rng));
        checkAnswer(body, answer);
        counts.answered++;
        if (answer.decision.action === 'injected') counts.injected++;
        if (answer.decision.action === 'denied') counts.denied++;
      } catch (error) {
        if (error instanceof AdmissionRequestError) counts.refused++;
        else {
          counts.crashes++;
          throw new Error(`case ${i} (seed ${SEED}): ${error instanceof Error ? `${error.name}: ${error.message}\n${(error.stack ?? '').split('\n').slice(1, 8).join('\n')}` : String(error)}`);
        }
      }
      const ms = performance.now() - started;
      counts.maxMs = Math.max(counts.maxMs, ms);
      expect(ms, `case ${i} took ${ms} ms`).to.be.below(CASE_BUDGET_MS);
      if (i % 100 === 0) assertNoPollution(before, `admission case ${i}`);
    }
    assertNoPollution(before, 'admission');
    console.log(`      admission: ${CASES} cases, ${counts.answered} answered (${counts.injected} injected, ${counts.denied} denied), ${counts.refused} refused as malformed, ${counts.crashes} crashes, max ${counts.maxMs.toFixed(1)} ms`);
    expect(counts.injected, 'the fuzz reaches injection').to.be.greaterThan(50);
    expect(counts.refused, 'the fuzz reaches refusal').to.be.greaterThan(50);
  });

  it(`HTTP handler: ${HTTP_CASES} raw bodies (JSON, truncated, binary, huge, wrong content type) get 200/400/413/415, never 500`, async function () {
    const rng = mulberry32(SEED ^ 0x4771);
    const log = createMemoryLogger();
    const handler = createWebhookHandler({ context: context(mulberry32(SEED)), log, notReadyReason: () => undefined, now: () => performance.now(), maxBodyBytes: 256 * 1024 });
    const seen: Record<number, number> = {};
    for (let i = 0; i < HTTP_CASES; i++) {
      const json = reviewText(hostileReview(rng));
      const roll = rng.int(10);
      const body = roll < 6 ? Buffer.from(json) : roll < 7 ? Buffer.from(json.slice(0, rng.int(json.length))) : roll < 8 ? Buffer.from(Array.from({ length: 64 }, () => rng.int(256))) : roll < 9 ? Buffer.alloc(300 * 1024, 0x7b) : Buffer.from(json);
      const contentType = roll === 9 ? rng.pick(['text/plain', 'application/yaml', '', 'application/json; charset=utf-8']) : 'application/json';
      const reply = await callHandler(handler, body, contentType);
      seen[reply.status] = (seen[reply.status] ?? 0) + 1;
      expect([200, 400, 413, 415], `case ${i}: ${reply.status} ${reply.body.slice(0, 200)}`).to.include(reply.status);
    }
    expect(log.lines.filter((l) => l.message === 'Webhook request failed'), 'no internal errors').to.deep.equal([]);
    console.log(`      admission over HTTP: ${HTTP_CASES} cases, statuses ${JSON.stringify(seen)}`);
  });
});
