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
}

export function isKubeApiError(error: unknown): error is KubeApiError {
  return error instanceof KubeApiError;
}
