// Seeded, hostile inputs for the fuzz tests: a small PRNG (mulberry32, so a run is reproducible from
// its seed alone), values of every wrong type, and structural mutations of well-formed objects.
// Nothing here is random unless it comes from an Rng built from a seed.

export type Rng = {
  /** A float in [0, 1). */
  next(): number;
  int(maxExclusive: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
};

export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (maxExclusive: number): number => Math.floor(next() * maxExclusive);
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => items[int(items.length)]!,
  };
}

/** Own enumerable data properties, so "__proto__" is a key like any other (as JSON.parse makes it). */
export function own(entries: Iterable<readonly [string, unknown]>): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, value] of entries) Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

/** Keys that have meaning to JavaScript or to JSON Pointer, and keys that look like numbers. */
export const HOSTILE_KEYS = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__',
  '', ' ', 'a/b', '~', '~0', '~1', '/', '0', '-1', '1e3', 'NaN', 'null', 'undefined', '$ref', '.', '..',
  'name', 'kind', 'spec', 'metadata', 'items', 'containers',
  'ключ', '键', '🔑', 'e\u0301', '\u202eevil', 'tab\tkey', 'new\nline', 'nul\u0000key',
] as const;

/** Strings that break naive code: control characters, lone surrogates, bidi overrides, templates. */
export const HOSTILE_STRINGS = [
  '', ' ', '\u0000', '\u0007\u001b[31m', '\r\n', '\t', '\uFEFF', '\uD800', '\uDFFF', '\u202E', '\u200B',
  'é', 'e\u0301', '💥', '👩‍👩‍👧', 'Ω≈ç√', '𝕳', 'null', 'true', '0', '-0', '1e309', 'NaN', 'undefined',
  '{{workload.name}}', '{{ meshConfig.name }}', '{{unknown}}', '{{', '}}', '{{{{}}}}', '$&', '$1', "$'", '$$',
  '../../etc/passwd', '/', 'a/b', '~1', '%2F', '<script>', "'; DROP TABLE", '${HOME}', '`id`',
  '__proto__', 'constructor', 'sidecar.initializer.meshinit.dev', 'sidecar.meshinit.dev/status',
  'Bearer abc.def', 'x'.repeat(300),
] as const;

export function hostileString(rng: Rng): string {
  switch (rng.int(4)) {
    case 0:
      return rng.pick(HOSTILE_STRINGS);
    case 1: {
      // Random code points, surrogate halves and controls included.
      let text = '';
      const length = rng.int(12);
      for (let i = 0; i < length; i++) {
        const range = rng.int(4);
        const code = range === 0 ? rng.int(0x20) : range === 1 ? 0x20 + rng.int(0x60) : range === 2 ? 0xd800 + rng.int(0x800) : rng.int(0x110000);
        text += code > 0xffff ? String.fromCodePoint(code) : String.fromCharCode(code);
      }
      return text;
    }
    case 2:
      return rng.pick(HOSTILE_STRINGS) + rng.pick(HOSTILE_STRINGS);
    default:
      return `n${rng.int(1000)}`;
  }
}

export function hostileKey(rng: Rng): string {
  return rng.chance(0.6) ? rng.pick(HOSTILE_KEYS) : hostileString(rng);
}

const NUMBERS = [0, -0, 1, -1, 0.5, 2 ** 53 + 1, -(2 ** 63), 1e308, Number.MIN_VALUE, NaN, Infinity, -Infinity] as const;

/** Any value a JS object (not only JSON) can hold, shallow unless depth allows nesting. */
export function hostileValue(rng: Rng, depth = 2): unknown {
  const roll = rng.int(depth > 0 ? 10 : 7);
  switch (roll) {
    case 0: return null;
    case 1: return undefined;
    case 2: return rng.chance(0.5);
    case 3: return rng.pick(NUMBERS);
    case 4:
    case 5: return hostileString(rng);
    case 6: return rng.int(100);
    case 7: return Array.from({ length: rng.int(4) }, () => hostileValue(rng, depth - 1));
    default: return hostileObject(rng, depth - 1);
  }
}

export function hostileObject(rng: Rng, depth = 1): Record<string, unknown> {
  const entries: Array<[string, unknown]> = [];
  const count = rng.int(4);
  for (let i = 0; i < count; i++) entries.push([hostileKey(rng), hostileValue(rng, depth)]);
  return own(entries);
}

/** `levels` nested objects (or arrays), built iteratively so building it cannot overflow. */
export function deeplyNested(levels: number, arrays = false): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < levels; i++) value = arrays ? [value] : { d: value };
  return value;
}

/** A "huge" value: a 1 MB string, a 100k-item list, or 10k levels of nesting. */
export function hugeValue(rng: Rng): unknown {
  switch (rng.int(4)) {
    case 0: return 'x'.repeat(1 << 20);
    case 1: return '\u{1F4A5}\u0000é'.repeat(1 << 17);
    case 2: return Array.from({ length: 100_000 }, (_, i) => (i % 2 === 0 ? i : { name: `n${i}` }));
    default: return deeplyNested(10_000, rng.chance(0.5));
  }
}

/** Every [parent, key] pair reachable in `root` (own enumerable keys), capped to stay cheap. */
function slots(root: unknown, limit = 400): Array<[Record<string, unknown> | unknown[], string | number]> {
  const out: Array<[Record<string, unknown> | unknown[], string | number]> = [];
  const stack: unknown[] = [root];
  const seen = new Set<unknown>();
  while (stack.length > 0 && out.length < limit) {
    const current = stack.pop();
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    if (Array.isArray(current)) {
      if (current.length > 1000) continue;
      current.forEach((child, index) => {
        out.push([current, index]);
        stack.push(child);
      });
    } else {
      for (const key of Object.keys(current)) {
        out.push([current as Record<string, unknown>, key]);
        stack.push((current as Record<string, unknown>)[key]);
      }
    }
  }
  return out;
}

function setSlot(parent: Record<string, unknown> | unknown[], key: string | number, value: unknown): void {
  if (Array.isArray(parent)) parent[key as number] = value;
  else Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Applies `count` random mutations to `root` in place: a value replaced by one of the wrong type,
 * deleted, a hostile key added beside it, a list given junk, or turned into a string or a number.
 */
export function mutate(rng: Rng, root: Record<string, unknown>, count: number): void {
  for (let i = 0; i < count; i++) {
    const all = slots(root);
    if (all.length === 0) return;
    const [parent, key] = rng.pick(all);
    const roll = rng.int(10);
    if (roll < 4) setSlot(parent, key, hostileValue(rng));
    else if (roll < 6) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else if (roll < 8) {
      if (Array.isArray(parent)) parent.push(hostileValue(rng));
      else setSlot(parent, hostileKey(rng), hostileValue(rng));
    } else if (roll < 9) {
      const value = (parent as Record<string | number, unknown>)[key];
      if (Array.isArray(value)) value.push(null, 42, 'junk', { name: 7 }, []);
      else setSlot(parent, key, rng.chance(0.5) ? [] : {});
    } else {
      setSlot(parent, key, rng.chance(0.5) ? printable((parent as Record<string | number, unknown>)[key]) : 0);
    }
  }
}

/** `String(value)`, or a placeholder for values that refuse (an own `toString: 1` does). */
export function printable(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '[unprintable]';
  }
}

/** Puts one huge value (1 MB string, 100k-item list, 10k levels) at a random place in `root`. */
export function putHuge(rng: Rng, root: Record<string, unknown>): void {
  const all = slots(root);
  if (all.length === 0) return;
  const [parent, key] = rng.pick(all);
  setSlot(parent, key, hugeValue(rng));
}

/** What `Object.prototype` and friends look like now; compare after a batch to detect pollution. */
export function prototypeSnapshot(): string {
  const describe = (target: object): string => Object.getOwnPropertyNames(target).sort().join(',');
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype].map(describe).join('|');
}

/** Throws when anything looks polluted: `({}).polluted` and friends, or new prototype properties. */
export function assertNoPollution(before: string, target: string): void {
  const probe = {} as Record<string, unknown>;
  const list = [] as unknown as Record<string, unknown>;
  for (const name of ['polluted', 'isAdmin', 'x', 'name', 'd', 'n0', 'bottom', 'image']) {
    if (probe[name] !== undefined || list[name] !== undefined) throw new Error(`${target}: Object.prototype.${name} is polluted`);
  }
  if (prototypeSnapshot() !== before) throw new Error(`${target}: built-in prototypes gained or lost properties`);
}
