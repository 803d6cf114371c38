// The double's request log: every request with who sent it (bearer token, User-Agent), what, when,
// how it was answered, and for writes to an object the object's pending initializers at that moment.
import type { FaultType, RequestClass } from './faults.ts';
import { parseBool } from './http-util.ts';
import type { WriteTrace } from './registry.ts';
import type { Route } from './resources.ts';

export interface RecordedRequest {
  seq: number;
  /** Milliseconds since the server started, when the request arrived. */
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  body: unknown;
  userAgent: string | undefined;
  token: string | undefined;
  cls: RequestClass | 'other';
  /** The answer's status code (200 for a watch that started streaming); undefined if none was sent. */
  code?: number;
  /** The injected fault that shaped the answer, if any. */
  fault?: FaultType;
  /** The client went away before the request body arrived: nothing was done. */
  aborted?: boolean;
  /** For PATCH, PUT and DELETE of an existing object: its pending initializers when the request was handled. */
  pending?: string[];
  /** For writes that were stored: the object's pending initializers just before and after. */
  trace?: WriteTrace;
  /** For writes: the object addressed (the created one for POST). */
  object?: { plural: string; namespace: string | undefined; name: string | undefined };
}

export interface Delivery {
  token: string | undefined;
  plural: string;
  name: string;
  resourceVersion: string;
  via: 'list' | 'watch';
  at: number;
}

/** Whether a patch body sets metadata.resourceVersion (a JSON Patch op on it, or a merge patch field). */
export function carriesResourceVersion(body: unknown): boolean {
  if (Array.isArray(body)) return body.some((op) => (op as { path?: string }).path === '/metadata/resourceVersion');
  return typeof (body as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion === 'string';
}

export function classify(method: string, route: Route, query: URLSearchParams): RequestClass {
  if (method === 'GET') return route.name !== undefined ? 'get' : parseBool(query.get('watch')) ? 'watch' : 'list';
  return ({ POST: 'create', PATCH: 'patch', PUT: 'update', DELETE: 'delete' } as Record<string, RequestClass>)[method] ?? 'get';
}

