// Deep equality of JSON-shaped data (what YAML and JSON manifests parse to). Its own few lines
// rather than lodash/isEqual: that one module loads about 100 files, a quarter of the start time
// of `meshinit inject` (issue 12), for types no Kubernetes object holds (Maps, Dates, typed arrays).

/**
 * True when `a` and `b` hold the same data: arrays in order, objects by their own enumerable keys in
 * any order (a key whose value is undefined counts, as in lodash/isEqual), NaN equal to itself.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, index) => deepEqual(item, b[index]));
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  const recordA = a as Record<string, unknown>;
  const recordB = b as Record<string, unknown>;
  return keysA.every((key) => Object.hasOwn(recordB, key) && deepEqual(recordA[key], recordB[key]));
}
