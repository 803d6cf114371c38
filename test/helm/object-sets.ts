// Compares two renderings of a set of Kubernetes objects (the Helm chart and a kustomize set) as
// sets keyed by apiVersion, kind, namespace and name, and says in readable lines which object or
// field differs, so that a chart drifting from manifests/ fails with the reason in the message.
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';

export type Json = Record<string, unknown>;

/**
 * The labels the chart puts on every top-level object on top of manifests/' labels (Helm's
 * conventions), with their values for a release: the only difference the comparison forgives.
 */
export function helmLabels(release: string, chart: { name: string; version: string }): Record<string, string> {
  return {
    'helm.sh/chart': `${chart.name}-${chart.version}`,
    'app.kubernetes.io/managed-by': 'Helm',
    'app.kubernetes.io/instance': release,
  };
}

/** Every document of a multi-document YAML stream that is an object (empty documents dropped). */
export function parseObjects(yamlText: string, source: string): Json[] {
  return parseAllDocuments(yamlText).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? [value as Json] : [];
  });
}

function metadata(object: Json): Json {
  return (object.metadata ?? {}) as Json;
}

/** `apps/v1 Deployment meshinit-system/meshinit`; cluster-scoped objects have no namespace part. */
export function objectKey(object: Json): string {
  const { namespace, name } = metadata(object) as { namespace?: string; name?: string };
  return `${String(object.apiVersion)} ${String(object.kind)} ${namespace ? `${namespace}/` : ''}${String(name)}`;
}

/** Objects by key; two objects with the same key are an error (the later one would hide the first). */
export function indexObjects(objects: Json[], source: string): Map<string, Json> {
  const byKey = new Map<string, Json>();
  for (const object of objects) {
    const key = objectKey(object);
    if (byKey.has(key)) throw new Error(`${source}: ${key} appears twice`);
    byKey.set(key, object);
  }
  return byKey;
}

/**
 * A copy of `object` without the given top-level metadata labels, and a problem line for each one
 * that is missing or has another value than `expected` says (so dropping them hides nothing).
 */
export function withoutLabels(object: Json, expected: Record<string, string>): { object: Json; problems: string[] } {
  const copy = structuredClone(object);
  const meta = metadata(copy);
  const labels = { ...((meta.labels ?? {}) as Record<string, unknown>) };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(expected)) {
    if (labels[key] !== value) problems.push(`${objectKey(object)}: label ${key} is ${JSON.stringify(labels[key])}, expected ${JSON.stringify(value)}`);
    delete labels[key];
  }
  if (Object.keys(labels).length > 0) meta.labels = labels;
  else delete meta.labels;
  return { object: copy, problems };
}

const show = (value: unknown): string => (value === undefined ? '(absent)' : JSON.stringify(value));

/** Field-by-field differences as `path: <left> vs <right>` lines (empty when deep-equal). */
export function fieldDiffs(left: unknown, right: unknown, at = ''): string[] {
  if (isDeepStrictEqual(left, right)) return [];
  const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isMap(left) && isMap(right)) {
    const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])].sort();
    return keys.flatMap((key) => fieldDiffs(left[key], right[key], at ? `${at}.${key}` : key));
  }
  if (Array.isArray(left) && Array.isArray(right) && left.length === right.length) {
    return left.flatMap((item, i) => fieldDiffs(item, right[i], `${at}[${i}]`));
  }
  return [`${at || '(root)'}: ${show(left)} vs ${show(right)}`];
}

/**
 * What differs between two object sets, one readable line per missing object and per differing
 * field (`<left name> vs <right name>` values); an empty list means the sets are equal.
 */
export function compareObjectSets(left: Map<string, Json>, right: Map<string, Json>, names: { left: string; right: string }): string[] {
  const lines: string[] = [];
  for (const key of left.keys()) if (!right.has(key)) lines.push(`${key}: only in ${names.left}`);
  for (const key of right.keys()) if (!left.has(key)) lines.push(`${key}: only in ${names.right}`);
  for (const [key, object] of left) {
    const other = right.get(key);
    if (other === undefined) continue;
    for (const diff of fieldDiffs(object, other)) lines.push(`${key}: ${diff} (${names.left} vs ${names.right})`);
  }
  return lines;
}

/**
 * What `live` (an object read back from the server) lacks of `rendered`: every field the chart
 * sets must be there with the same value; fields the server adds (defaults, status, uid) are
 * ignored. Arrays must have the same length, items compared the same way.
 */
export function missingFields(rendered: unknown, live: unknown, at = ''): string[] {
  const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isMap(rendered) && isMap(live)) {
    return Object.keys(rendered).sort().flatMap((key) => missingFields(rendered[key], live[key], at ? `${at}.${key}` : key));
  }
  if (Array.isArray(rendered) && Array.isArray(live) && rendered.length === live.length) {
    return rendered.flatMap((item, i) => missingFields(item, live[i], `${at}[${i}]`));
  }
  return isDeepStrictEqual(rendered, live) ? [] : [`${at || '(root)'}: rendered ${show(rendered)}, server has ${show(live)}`];
}
