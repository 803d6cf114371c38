// One HTTP request to the API server: URL, credentials (from credentials.ts), headers, timeout,
// and errors that name the request and never carry a credential. The API client and the watch
// stream are built on it.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Status } from '../core/types.ts';
import { createCredentialSource } from './credentials.ts';
import { KubeApiError } from './errors.ts';
import { allowPlainHttp } from './plain-http.ts';
import type { QueryParams } from './types.ts';

export interface TransportOptions {
  /** Aborts a request that has not completed (for watches: not answered) in this time. Default 30 s; 0: never. */
  requestTimeoutMs?: number;
  userAgent?: string;
  /** The kubeconfig's `tokenFile`, re-read as it rotates (see credentials.ts). */
  tokenFile?: string;
  /** How often credentials are read again (default 60 s). */
  credentialRefreshMs?: number;
}

export interface Transport {
  /** Sends one request; resolves once the response's headers are in (the body is the caller's to read). */
  send(method: string, path: string, query: QueryParams | undefined, body: unknown, contentType?: string, signal?: AbortSignal): Promise<Sent>;
  /** A whole request: JSON in, JSON out, a KubeApiError for any non-2xx answer. */
  request<T>(method: string, path: string, query?: QueryParams, body?: unknown, contentType?: string): Promise<T>;
  /** The same, for callers that do not use a successful answer: its body is read but not parsed. */
  requestIgnoringAnswer(method: string, path: string, query?: QueryParams, body?: unknown, contentType?: string): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
// A burst of uninitialized workloads means hundreds of PATCHes at once; HTTP/1.1 needs a socket
// per in-flight request. The work queue bounds concurrency, so this only has to stay out of its way.
const MAX_SOCKETS = 512;
const MAX_MESSAGE_CHARS = 2048;

function buildQuery(query: QueryParams | undefined): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function retryAfterSeconds(header: string | undefined): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

export function isStatus(value: unknown): value is Status {
  return typeof value === 'object' && value !== null && (value as Status).kind === 'Status';
}

/** Replaces every credential of this request in a message: servers and proxies may echo them. */
function scrub(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out;
}

/** Builds the error from a Status object (JSON error answer or watch ERROR event). */
export function errorFromStatus(method: string, path: string, status: Status, fallbackCode: number, secrets: readonly string[], retryAfter?: number): KubeApiError {
  return new KubeApiError({
    method,
    path,
    statusCode: typeof status.code === 'number' && status.code > 0 ? status.code : fallbackCode,
    reason: typeof status.reason === 'string' && status.reason ? status.reason : undefined,
    message: typeof status.message === 'string' ? scrub(status.message, secrets).slice(0, MAX_MESSAGE_CHARS) : '',
    retryAfterSeconds: retryAfter,
  });
}

export function errorFromResponse(method: string, path: string, res: http.IncomingMessage, body: string, secrets: readonly string[]): KubeApiError {
  const statusCode = res.statusCode ?? 0;
  const retryAfter = retryAfterSeconds(res.headers['retry-after']);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    // 429 from the in-flight limiter and some proxies answer plain text, not a Status.
  }
  if (isStatus(parsed)) return errorFromStatus(method, path, parsed, statusCode, secrets, retryAfter);
  const text = scrub(body.trim(), secrets).slice(0, MAX_MESSAGE_CHARS) || res.statusMessage || `HTTP ${statusCode}`;
  return new KubeApiError({ method, path, statusCode, message: text, retryAfterSeconds: retryAfter });
}

export interface Sent {
  res: http.IncomingMessage;
  /** This request's credentials, to scrub from anything the server sends back. */
  secrets: string[];
  clearTimer(): void;
  /** The request's error for a transport failure: the timeout if that fired first, scrubbed. */
  failure(err: Error): Error;
}

/**
 * Transport errors (reset, refused, TLS, timeout) name the request for operators but never carry
 * a header value: some HTTP layers (proxies, test interceptors) echo request headers in messages.
 */
function transportError(method: string, path: string, err: Error, secrets: string[]): Error {
  const out = new Error(`${method} ${path}: ${scrub(err.message, secrets)}`);
  const code = (err as NodeJS.ErrnoException).code;
  if (code) Object.assign(out, { code });
  return out;
}

export function createTransport(kubeconfig: KubeConfig, options: TransportOptions = {}): Transport {
  const kc = allowPlainHttp(kubeconfig);
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const userAgent = options.userAgent ?? 'meshinit';
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = new URL(cluster.server);
  const transport = server.protocol === 'http:' ? http : https;
  const prefix = server.pathname.replace(/\/+$/, '');
  const credentials = createCredentialSource(kc, {
    maxSockets: MAX_SOCKETS,
    ...(options.tokenFile ? { tokenFile: options.tokenFile } : {}),
    ...(options.credentialRefreshMs !== undefined ? { refreshMs: options.credentialRefreshMs } : {}),
  });

  /** Sends one request and hands the response over once its headers arrive. */
  async function send(method: string, path: string, query: QueryParams | undefined, body: unknown, contentType?: string, signal?: AbortSignal): Promise<Sent> {
    const conn = await credentials.current();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { ...conn.headers, Accept: 'application/json', 'User-Agent': userAgent };
    if (payload !== undefined) {
      headers['Content-Type'] = contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    // The credential alone (without "Bearer ") is what a message would leak.
    const secrets = [...Object.values(conn.headers), conn.auth ?? '']
      .flatMap((value) => [value, value.replace(/^(Bearer|Basic)\s+/i, '')]);
    return new Promise((resolve, reject) => {
      const req = transport.request({
        protocol: server.protocol,
        hostname: server.hostname.replace(/^\[|\]$/g, ''),
        port: server.port || undefined,
        path: `${prefix}${path}${buildQuery(query)}`,
        method,
        headers,
        agent: conn.agent,
        auth: conn.auth,
        signal,
      });
      let failure: Error | undefined;
      const fail = (err: Error): Error => {
        failure ??= transportError(method, path, err, secrets);
        return failure;
      };
      // 0 means no timeout, as kubectl's --request-timeout 0 does.
      const timer = timeoutMs > 0
        ? setTimeout(() => req.destroy(fail(new Error(`no answer within ${timeoutMs} ms`))), timeoutMs)
        : undefined;
      // `on`, not `once`: a request destroyed after its response arrived emits 'error' again.
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(fail(err));
      });
      req.once('response', (res) => resolve({ res, secrets, clearTimer: () => clearTimeout(timer), failure: (err) => fail(err) }));
      req.end(payload);
    });
  }

  /** The answer's status and, for an error or when `keep` is set, its text; a KubeApiError for non-2xx. */
  async function exchange(method: string, path: string, query: QueryParams | undefined, body: unknown, contentType: string | undefined, keep: boolean): Promise<{ status: number; text: string }> {
    const { res, secrets, clearTimer, failure } = await send(method, path, query, body, contentType);
    const status = res.statusCode ?? 0;
    const ok = status >= 200 && status < 300;
    const text = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      // A successful PATCH answers with the whole object (kilobytes) that sync never reads: the
      // stream is drained so the socket goes back to the pool, and nothing is copied or parsed.
      if (keep || !ok) res.on('data', (chunk: Buffer) => chunks.push(chunk));
      else res.resume();
      res.once('end', () => resolve(chunks.length === 0 ? '' : Buffer.concat(chunks).toString('utf8')));
      res.once('error', (err) => reject(failure(err)));
    }).finally(clearTimer);
    if (!ok) throw errorFromResponse(method, path, res, text, secrets);
    return { status, text };
  }

  async function request<T>(method: string, path: string, query?: QueryParams, body?: unknown, contentType?: string): Promise<T> {
    const { status, text } = await exchange(method, path, query, body, contentType, true);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`${method} ${path}: ${status} answer is not JSON`);
    }
  }

  async function requestIgnoringAnswer(method: string, path: string, query?: QueryParams, body?: unknown, contentType?: string): Promise<void> {
    await exchange(method, path, query, body, contentType, false);
  }

  return { send, request, requestIgnoringAnswer };
}
