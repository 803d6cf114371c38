// The Status bodies a 1.9/1.13 kube-apiserver answers with, built the way apimachinery's
// errors package builds them, so messages, reasons and details have the recorded shape
// (fixtures 12a, 12d, 14, 17, 18 and the 409/404/410 texts client-go matches on).
import { qualifiedKind, qualifiedResource, type ResourceType } from './resources.ts';

export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
  code: number;
}

/** An answer: status code, body (a Status, an object, or plain text) and extra headers. */
export interface Answer {
  code: number;
  body: unknown;
  headers?: Record<string, string>;
}

export function status(code: number, reason: string | undefined, message: string, details?: StatusBody['details']): Answer {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, ...(reason ? { reason } : {}), ...(details ? { details } : {}), code };
  return { code, body };
}

function resourceDetails(t: ResourceType, name: string): StatusBody['details'] {
  return { name, ...(t.group ? { group: t.group } : {}), kind: t.plural };
}

export function notFound(t: ResourceType, name: string): Answer {
  return status(404, 'NotFound', `${qualifiedResource(t)} "${name}" not found`, resourceDetails(t, name));
}

export function alreadyExists(t: ResourceType, name: string): Answer {
  return status(409, 'AlreadyExists', `${qualifiedResource(t)} "${name}" already exists`, resourceDetails(t, name));
}

/** The optimistic-concurrency refusal, word for word: client-go and kubectl match on it. */
export function conflict(t: ResourceType, name: string): Answer {
  return status(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(t)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, resourceDetails(t, name));
}

export interface FieldError {
  field: string;
  type: 'FieldValueInvalid' | 'FieldValueForbidden';
  /** The message after the field, e.g. `Invalid value: "Success": must be 'Failure'`. */
  message: string;
}

/** 422 Invalid as `errors.NewInvalid` builds it: one cause per field error. */
export function invalid(t: ResourceType, name: string, errors: FieldError[]): Answer {
  const summary = errors.map((e) => `${e.field}: ${e.message}`);
  const aggregate = summary.length === 1 ? summary[0] : `[${summary.join(', ')}]`;
  return status(422, 'Invalid', `${qualifiedKind(t)} "${name}" is invalid: ${aggregate}`, {
    name,
    ...(t.group ? { group: t.group } : {}),
    kind: t.kind,
    causes: errors.map((e) => ({ reason: e.type, message: e.message, field: e.field })),
  });
}

/** A JSON Patch that does not apply (a failed `test`, a missing path). 1.13 answers 422 with this
 * generic text (kubernetes#68346); 1.9 answered 500 with the library's message (kubernetes#68202). */
export function patchNotApplicable(flavor: '1.9' | '1.13', libraryMessage: string): Answer {
  if (flavor === '1.9') return status(500, undefined, libraryMessage);
  return status(422, 'Invalid', 'the server rejected our request due to an error in our request', {});
}

/** 410 for a watch resuming from a resourceVersion the watch cache no longer holds (1.13: NewGone). */
export function gone(requested: string, oldest: number): Answer {
  return status(410, 'Gone', `too old resource version: ${requested} (${oldest})`);
}

/** What a blocked create gets when its timeout passes before initialization (fixtures 04, 06c). */
export function createTimeout(flavor: '1.9' | '1.13', timeout: string): Answer {
  const message = flavor === '1.9' ? 'Timeout: request did not complete within allowed duration' : `Timeout: request did not complete within requested timeout ${timeout}`;
  return status(504, 'Timeout', message, {});
}

/** The in-flight limiter's answer (fixture 21): plain text, not a Status, with Retry-After. */
export function tooManyRequests(): Answer {
  return { code: 429, body: 'Too many requests, please try again later.\n', headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '1' } };
}

/** An unknown path: the mux's plain-text 404 (fixture 19 on 1.9: PATCH .../status). */
export function pageNotFound(): Answer {
  return { code: 404, body: '404 page not found\n', headers: { 'Content-Type': 'text/plain; charset=utf-8' } };
}

export function internalError(message: string): Answer {
  return status(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
}

export function serviceUnavailable(): Answer {
  const answer = status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request', {});
  return { ...answer, headers: { 'Retry-After': '1' } };
}
