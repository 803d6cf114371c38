// The status annotation: a JSON record of exactly what meshinit put into a pod spec. It is what
// makes injection idempotent (same MeshConfig, same hash: nothing to do) and upgrades exact (a
// changed MeshConfig replaces the recorded items and nothing the user wrote).
import { STATUS_ANNOTATION } from './constants.ts';
import { InjectionError } from './errors.ts';

export interface InjectionStatus {
  meshConfig: string;
  generation: number;
  /** Hash of the rendered sidecar: equal hashes mean an identical injection. */
  hash: string;
  initContainers: string[];
  containers: string[];
  volumes: string[];
  imagePullSecrets: string[];
  podAnnotations: string[];
  podLabels: string[];
}

const LIST_FIELDS = ['initContainers', 'containers', 'volumes', 'imagePullSecrets', 'podAnnotations', 'podLabels'] as const;

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** The record in `annotations`, `undefined` when there is none; a corrupt record is an error. */
export function readInjectionStatus(annotations: Record<string, string> | undefined, where: string): InjectionStatus | undefined {
  const raw = annotations && Object.hasOwn(annotations, STATUS_ANNOTATION) ? annotations[STATUS_ANNOTATION] : undefined;
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InjectionError(`annotation ${STATUS_ANNOTATION} on ${where} is not valid JSON; remove it (and the sidecar items it recorded) and create the workload again`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InjectionError(`annotation ${STATUS_ANNOTATION} on ${where} is not an injection record`);
  }
  const record = parsed as Record<string, unknown>;
  if (typeof record.meshConfig !== 'string' || typeof record.hash !== 'string') {
    throw new InjectionError(`annotation ${STATUS_ANNOTATION} on ${where} lacks meshConfig or hash`);
  }
  const status: InjectionStatus = {
    meshConfig: record.meshConfig,
    generation: typeof record.generation === 'number' ? record.generation : 0,
    hash: record.hash,
    initContainers: [],
    containers: [],
    volumes: [],
    imagePullSecrets: [],
    podAnnotations: [],
    podLabels: [],
  };
  for (const field of LIST_FIELDS) {
    const value = record[field];
    if (value === undefined) continue;
    if (!isStringList(value)) throw new InjectionError(`annotation ${STATUS_ANNOTATION} on ${where}: ${field} must be a list of names`);
    status[field] = [...value];
  }
  return status;
}

export function formatInjectionStatus(status: InjectionStatus): string {
  return JSON.stringify(status);
}

/** JSON with sorted keys, so the hash does not depend on the order a YAML author wrote keys in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** cyrb53: a fast, well-mixed 53-bit string hash; a change marker, not a security boundary. */
export function hashString(input: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < input.length; i++) {
    const ch = input.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, '0');
}
