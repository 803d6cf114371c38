// API errors carry what an operator needs to act: the request, the HTTP status, the server's
// reason and message, and whether trying again can help.

export interface KubeApiErrorInit {
  method: string;
  path: string;
  statusCode: number;
  reason?: string;
  message: string;
  /** Seconds from a Retry-After header (429, some 5xx), when the server sent one. */
  retryAfterSeconds?: number;
}

export class KubeApiError extends Error {
  readonly method: string;
  readonly path: string;
  readonly statusCode: number;
  readonly reason: string | undefined;
  readonly serverMessage: string;
  readonly retryAfterSeconds: number | undefined;

  constructor(init: KubeApiErrorInit) {
    super(`${init.method} ${init.path}: ${init.statusCode}${init.reason ? ` ${init.reason}` : ''}: ${init.message}`);
    this.name = 'KubeApiError';
    this.method = init.method;
    this.path = init.path;
    this.statusCode = init.statusCode;
    this.reason = init.reason;
    this.serverMessage = init.message;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }

  /** 409: someone else changed the object since we read it (resourceVersion precondition). */
  get isConflict(): boolean {
    return this.statusCode === 409;
  }

  get isNotFound(): boolean {
    return this.statusCode === 404;
  }

  /** 410: the resourceVersion a watch resumed from is too old; the informer must list again. */
  get isGone(): boolean {
    return this.statusCode === 410;
  }

  /** 429 and 5xx are the server protecting itself or failing for a moment: retry with backoff. */
  get isRetryable(): boolean {
    return this.statusCode === 429 || this.statusCode >= 500 || this.statusCode === 409;
  }

  /**
   * A refusal that trying again will not fix until someone changes something (RBAC, credentials,
   * meshinit itself): 4xx other than 404, 409, 410 and 429.
   */
  get isPermanent(): boolean {
    return this.statusCode >= 400 && this.statusCode < 500 && ![404, 409, 410, 429].includes(this.statusCode);
  }
}

/** What an operator does about a permanent refusal, in one sentence. */
export function remedyFor(error: KubeApiError): string {
  if (error.statusCode === 401) return 'the API server does not accept meshinit\'s credentials: check the kubeconfig, or the ServiceAccount token of the Pod';
  if (error.statusCode === 403) {
    return 'meshinit\'s ClusterRole lacks this permission (the server demands `initialize` as well as `patch` on uninitialized objects): kubectl apply -k manifests/initializer';
  }
  return `the API server refused the request itself (${error.statusCode}): please report this line with the server's version, it is a meshinit bug for that server`;
}

export function isKubeApiError(error: unknown): error is KubeApiError {
  return error instanceof KubeApiError;
}
