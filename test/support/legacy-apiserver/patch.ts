// The three PATCH formats of a 1.9/1.13 server. JSON Patch (RFC 6902) is applied by fast-json-patch;
// its failures are translated by the caller into the server's answer. JSON merge patch is RFC 7386.
// Strategic merge patch is the subset the fixtures exercise: lists of named things merge by key,
// `$patch: delete` removes an item, `null` removes a field, and items the patch brings that the
// server did not have come first (fixtures 07b, 10, 16 all show the new container before `app`).
import jsonpatch from 'fast-json-patch';

export type PatchFormat = 'json' | 'merge' | 'strategic';

const FORMATS: Record<string, PatchFormat> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
};

export function patchFormat(contentType: string | undefined): PatchFormat | undefined {
  return FORMATS[(contentType ?? '').split(';')[0]!.trim().toLowerCase()];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7386: objects merge recursively, null removes, anything else (lists included) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** Lists Kubernetes merges by a key in a strategic merge patch (patchMergeKey in the Go types). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  pending: 'name',
  ownerReferences: 'uid',
};

function mergeList(original: unknown[], patch: unknown[], key: string): unknown[] {
  if (patch.some((item) => isRecord(item) && item.$patch === 'replace')) {
    return patch.filter((item) => !(isRecord(item) && item.$patch === 'replace')).map((item) => structuredClone(item));
  }
  const keyOf = (item: unknown): unknown => (isRecord(item) ? item[key] : undefined);
  const deleted = new Set(patch.filter((item) => isRecord(item) && item.$patch === 'delete').map(keyOf));
  const patched = patch.filter((item) => !(isRecord(item) && item.$patch === 'delete'));
  const patchedKeys = new Set(patched.map(keyOf));
  // Patch items first, in patch order (merged into the server's copy when there is one), then the
  // items only the server had, in their order: what normalizeElementOrder does without
  // $setElementOrder, and what the recordings show.
  const head = patched.map((item) => {
    const existing = original.find((candidate) => keyOf(candidate) === keyOf(item));
    return existing === undefined ? strategicMergePatch(undefined, item) : strategicMergePatch(existing, item);
  });
  const tail = original.filter((item) => !patchedKeys.has(keyOf(item)) && !deleted.has(keyOf(item)));
  return [...head, ...tail];
}

/** Strategic merge patch (the subset above); `$`-directives other than `$patch` are ignored. */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    return structuredClone(Object.fromEntries(Object.entries(patch).filter(([key]) => key !== '$patch')));
  }
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      delete result[key];
    } else if (Array.isArray(value) && MERGE_KEYS[key] !== undefined && (result[key] === undefined || Array.isArray(result[key]))) {
      result[key] = mergeList((result[key] as unknown[] | undefined) ?? [], value, MERGE_KEYS[key]!);
    } else if (isRecord(value)) {
      result[key] = strategicMergePatch(result[key], value);
    } else {
      result[key] = structuredClone(value);
    }
  }
  return result;
}

export type JsonPatchOutcome = { ok: true; document: unknown } | { ok: false; malformed: boolean; message: string };

/**
 * RFC 6902 with every operation validated; the message on failure is the one evanphx/json-patch
 * (the server's library) gives, because 1.9 passed it through to the client.
 */
export function applyJsonPatch(document: unknown, operations: unknown): JsonPatchOutcome {
  if (!Array.isArray(operations)) return { ok: false, malformed: true, message: 'json: cannot unmarshal object into Go value of type jsonpatch.Patch' };
  try {
    const result = jsonpatch.applyPatch(structuredClone(document), operations as jsonpatch.Operation[], true, true);
    return { ok: true, document: result.newDocument };
  } catch (error) {
    const e = error as { name?: string; operation?: { op?: string; path?: string } };
    const op = e.operation?.op ?? 'unknown';
    const path = e.operation?.path ?? '';
    if (e.name === 'TEST_OPERATION_FAILED') return { ok: false, malformed: false, message: `Testing value ${path} failed` };
    if (e.name === 'OPERATION_PATH_UNRESOLVABLE' || e.name === 'OPERATION_FROM_UNRESOLVABLE' || e.name === 'OPERATION_PATH_ILLEGAL_ARRAY_INDEX') {
      return { ok: false, malformed: false, message: `jsonpatch ${op} operation does not apply: doc is missing path: ${path}` };
    }
    return { ok: false, malformed: true, message: (error as Error).message.split('\n')[0] ?? 'invalid JSON Patch' };
  }
}
