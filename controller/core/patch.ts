// The one PATCH an initializer sends. It is conditional twice over: a `test` that we are still
// first in pending, and the cached resourceVersion written back, which the API server treats as an
// optimistic-concurrency precondition (409 Conflict when the object changed since we read it). So
// a concurrent writer is never overwritten, and a stale cache can only cost a retry.
import { diffJson } from './json-diff.ts';
import { removeOwnInitializer } from './initializers.ts';
import type { KubeObject, Status } from './types.ts';

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'test' | 'move' | 'copy';
  path: string;
  value?: unknown;
  from?: string;
}

function guardOperations(original: KubeObject, initializerName: string): JsonPatchOperation[] {
  const guard: JsonPatchOperation[] = [{ op: 'test', path: '/metadata/initializers/pending/0/name', value: initializerName }];
  const resourceVersion = original.metadata?.resourceVersion;
  if (resourceVersion) guard.push({ op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion });
  return guard;
}

/** JSON Patch from `original` to `desired` (which must keep the same initializers block). */
export function diffObjects(original: KubeObject, desired: KubeObject): JsonPatchOperation[] {
  return diffJson(original, desired);
}

export interface InitializationPatchRequest {
  /** The object as read (cache), uninitialized with our name first in pending. */
  original: KubeObject;
  /** The object we want, initializers untouched: the original itself when nothing is injected. */
  desired: KubeObject;
  initializerName: string;
}

/** Removes our pending entry (others keep their order) and applies the injection, in one patch. */
export function buildInitializationPatch(request: InitializationPatchRequest): JsonPatchOperation[] {
  const { original, desired, initializerName } = request;
  const remaining = removeOwnInitializer(original.metadata?.initializers, initializerName);
  // The last entry takes the whole block with it, as the server itself would.
  const release: JsonPatchOperation = remaining === undefined
    ? { op: 'remove', path: '/metadata/initializers' }
    : { op: 'remove', path: '/metadata/initializers/pending/0' };
  // Releasing unchanged is the common case (every workload policy skips): no need to walk the
  // whole object to find that it equals itself.
  return [...guardOperations(original, initializerName), release, ...(desired === original ? [] : diffObjects(original, desired))];
}

export interface FailurePatchRequest {
  original: KubeObject;
  initializerName: string;
  message: string;
}

/**
 * Sets metadata.initializers.result to a Failure Status. The API server then deletes the object
 * and a creator blocked in POST receives this Status, so the message must say what to fix.
 * `Success` is refused by the server (422): failure is the only result an initializer can set.
 */
export function buildFailurePatch(request: FailurePatchRequest): JsonPatchOperation[] {
  const result: Status = {
    apiVersion: 'v1',
    kind: 'Status',
    status: 'Failure',
    reason: 'Forbidden',
    code: 403,
    message: `${request.initializerName}: ${request.message}`,
  };
  return [...guardOperations(request.original, request.initializerName), { op: 'add', path: '/metadata/initializers/result', value: result }];
}

/**
 * The one PATCH that rolls a changed MeshConfig out to an initialized workload: the re-injection's
 * diff behind a `test` that the object is still the one we read and the resourceVersion written
 * back (409 when it changed). A concurrent writer (kubectl apply, an HPA, the deployment
 * controller) is never overwritten; the rollout re-plans from the cache on its next tick.
 */
export function buildRolloutPatch(original: KubeObject, desired: KubeObject): JsonPatchOperation[] {
  const resourceVersion = original.metadata?.resourceVersion;
  const guard: JsonPatchOperation[] = resourceVersion
    ? [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }, { op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion }]
    : [];
  return [...guard, ...diffObjects(original, desired)];
}
