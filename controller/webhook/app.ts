// The webhook's HTTP routes: body, content type and AdmissionReview in/out. Every failure is an
// HTTP answer with a message, never a crash: the API server calls this for every Pod create.
import type http from 'node:http';
import type { Logger } from '../logger.ts';
import { AdmissionRequestError, type AdmissionContext } from './admission.ts';
import { reportAdmission, type AdmissionReporters } from './report.ts';
import { ReviewCache } from './review-cache.ts';

export const INJECT_PATH = '/inject';
/** The API server caps request bodies at 3 MiB; an AdmissionReview carries the object twice at most. */
export const DEFAULT_MAX_BODY_BYTES = 7 * 1024 * 1024;

export interface WebhookAppDeps extends AdmissionReporters {
  context: AdmissionContext;
  log: Logger;
  /** Why the webhook is not ready, or undefined when it is. */
  notReadyReason(): string | undefined;
  now(): number;
  maxBodyBytes?: number;
  /** Answers kept for reviews that repeat (a ReplicaSet's Pods); one of its own when absent. */
  reviewCache?: ReviewCache;
}

/** A plain-text answer (health, errors). */
function send(response: http.ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
}

function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      request.resume();
      resolve('too-large');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    // One chunk is the common case (a Pod's review fits a TLS record or two): no copy then.
    request.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

export function createWebhookHandler(deps: WebhookAppDeps): (request: http.IncomingMessage, response: http.ServerResponse) => void {
  const limit = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const cache = deps.reviewCache ?? new ReviewCache(deps.context);
  const handle = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    const path = (request.url ?? '').split('?')[0];
    if (path === '/healthz' || path === '/livez') return send(response, 200, 'ok');
    if (path === '/readyz') {
      const problem = deps.notReadyReason();
      return problem === undefined ? send(response, 200, 'ok') : send(response, 503, `not ready: ${problem}`);
    }
    if (path !== INJECT_PATH) return send(response, 404, `not found: the webhook path is ${INJECT_PATH}`);
    if (request.method !== 'POST') return send(response, 405, `${request.method} not allowed: POST an AdmissionReview`);
    const contentType = String(request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (contentType !== 'application/json') return send(response, 415, `unsupported content type ${JSON.stringify(contentType)}: send application/json`);
    const started = deps.now();
    const body = await readBody(request, limit);
    if (body === 'too-large') return send(response, 413, `AdmissionReview larger than ${limit} bytes`);
    const text = body.toString('utf8');
    let answer = cache.lookup(text);
    if (!answer) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        return send(response, 400, `the body is not JSON: ${(error as Error).message}`);
      }
      try {
        answer = cache.admit(text, parsed);
      } catch (error) {
        if (error instanceof AdmissionRequestError) return send(response, 400, `malformed AdmissionReview: ${error.message}`);
        throw error;
      }
    }
    const { decision } = answer.outcome;
    const level = decision.action === 'denied' ? 'error' : decision.action === 'allowed-uninjected' || decision.otherMesh !== undefined ? 'warn' : 'info';
    const message = { injected: 'Injected sidecar', skipped: 'Skipped injection', 'allowed-uninjected': 'Admitted without sidecar', denied: 'Denied admission' }[decision.action];
    const ms = deps.now() - started;
    deps.log[level](message, { ...decision, durationMs: Math.round(ms * 100) / 100 });
    response.writeHead(200, { 'content-type': 'application/json' }).end(answer.json);
    reportAdmission(decision, ms / 1000, deps);
  };
  return (request, response) => {
    handle(request, response).catch((error: unknown) => {
      deps.log.error('Webhook request failed', { error: error instanceof Error ? error.message : String(error), path: request.url });
      if (!response.headersSent) send(response, 500, 'internal error; see the meshinit log');
      else response.destroy();
    });
  };
}
