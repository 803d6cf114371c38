// Handling values from untrusted input (API objects, YAML, AdmissionReviews) without ever throwing:
// quoting them in messages, and measuring their nesting before anything recursive walks them.


/** A JSON object (not null, not a list): what every field of an API object must be checked for. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function quote(value: unknown): string {
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'a list' : 'an object';
  if (typeof value === 'function' || typeof value === 'symbol') return typeof value;
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return typeof value;
  }
}

/** True when `value` nests deeper than `limit`; iterative, so hostile input cannot blow the stack. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  const seen = new Set<unknown>();
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    if (depth >= limit) return true;
    seen.add(current);
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Freezes `value` and everything it holds, so that objects shared between callers (informer
 * caches, memoised sidecars, cached admission answers) cannot be changed by any of them.
 * Iterative, like nestsDeeperThan: an object nested thousands of levels deep (a 1.9 server keeps
 * any field) cannot blow the stack.
 */
export function deepFreeze<V>(value: V): V {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current !== 'object' || current === null || Object.isFrozen(current)) continue;
    Object.freeze(current);
    for (const child of Object.values(current)) stack.push(child);
  }
  return value;
}
