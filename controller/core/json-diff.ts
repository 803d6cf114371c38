// A JSON Patch from one JSON value to another that costs what changed, not the object's size.
// Injection copies only the path it changes and shares every other subtree with the object it was
// given, so a subtree that is the same object on both sides is skipped without being walked
// (fast-json-patch's compare walks, and deep-clones, everything). Lists keep their common head and
// tail: appending a container is one `add`, prepending an init container one `add` at index 0.
import { deepEqual } from './equal.ts';
import type { JsonPatchOperation } from './patch.ts';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 6901: `~` and `/` in a key are escaped, in that order. */
function pointer(path: string, key: string | number): string {
  return `${path}/${typeof key === 'number' ? key : key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

function same(a: unknown, b: unknown): boolean {
  return a === b || deepEqual(a, b);
}

function diffLists(a: unknown[], b: unknown[], path: string, ops: JsonPatchOperation[]): void {
  const shorter = Math.min(a.length, b.length);
  let head = 0;
  while (head < shorter && same(a[head], b[head])) head++;
  let tail = 0;
  while (tail < shorter - head && same(a[a.length - 1 - tail], b[b.length - 1 - tail])) tail++;
  const fromLength = a.length - head - tail;
  const toLength = b.length - head - tail;
  const common = Math.min(fromLength, toLength);
  for (let i = 0; i < common; i++) diffValues(a[head + i], b[head + i], pointer(path, head + i), ops);
  // Added in increasing index order, removed from the highest down: each index is valid when applied.
  for (let i = common; i < toLength; i++) ops.push({ op: 'add', path: pointer(path, head + i), value: b[head + i] });
  for (let i = fromLength - 1; i >= common; i--) ops.push({ op: 'remove', path: pointer(path, head + i) });
}

function diffValues(a: unknown, b: unknown, path: string, ops: JsonPatchOperation[]): void {
  if (a === b) return;
  if (isObject(a) && isObject(b)) {
    for (const key of Object.keys(a)) if (!Object.hasOwn(b, key)) ops.push({ op: 'remove', path: pointer(path, key) });
    for (const key of Object.keys(b)) {
      if (Object.hasOwn(a, key)) diffValues(a[key], b[key], pointer(path, key), ops);
      else ops.push({ op: 'add', path: pointer(path, key), value: b[key] });
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) return diffLists(a, b, path, ops);
  if (!deepEqual(a, b)) ops.push({ op: 'replace', path, value: b });
}

/**
 * JSON Patch turning `original` into `desired` (values as JSON.parse makes them). The operations
 * hold `desired`'s own values, not copies: serialise the patch before changing either object.
 */
export function diffJson(original: unknown, desired: unknown): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  diffValues(original, desired, '', ops);
  return ops;
}
