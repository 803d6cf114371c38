// Turns a MeshConfig as stored on the server (or read from a file) into a validated MeshConfig
// with every default applied. The v1beta1 CRD of the Initializer-era servers cannot carry
// defaults (422 "default is not supported"), and 1.9 keeps unknown fields, so the controller is
// where defaults and the rules beyond the schema live. A MeshConfig that fails here is never used.
import { MESHCONFIG_API_VERSION, MESHCONFIG_KIND, PLACEHOLDERS, STATUS_ANNOTATION } from './constants.ts';
import { MeshConfigError } from './errors.ts';
import { resolveSidecarLayout, UNKNOWN_SERVER } from './native-sidecar.ts';
import { isRecord, nestsDeeperThan, quote } from './untrusted.ts';
import { parseRolloutSpec, parseUpdatePolicy } from './rollout-spec.ts';
import type {
  Container,
  KubeServer,
  LabelSelector,
  LabelSelectorRequirement,
  LocalObjectReference,
  MeshConfig,
  SidecarSpec,
  PodTemplateKind,
  Volume,
} from './types.ts';
import { NATIVE_SIDECAR_MODES, POD_TEMPLATE_KINDS } from './types.ts';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
// One unbounded part only: `\s*([^{}]*?)\s*` backtracks polynomially on long runs of spaces.
const PLACEHOLDER_PATTERN = /\{\{([^{}]*)\}\}/g;
const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;


/** Deeper than this, a document is refused before anything walks or copies it. */
const MAX_DOCUMENT_DEPTH = 1000;



/** Collects every problem instead of stopping at the first, so one log line tells the whole story. */
class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
}

function parseEnum<T extends string>(value: unknown, allowed: readonly T[], fallback: T, path: string, problems: Problems): T {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  problems.add(path, `must be one of ${allowed.join(', ')}, got ${quote(value)}`);
  return fallback;
}

function parseStringMap(value: unknown, path: string, problems: Problems, checkKeys: 'label' | 'annotation'): Record<string, string> {
  const result: Record<string, string> = {};
  if (value === undefined || value === null) return result;
  if (!isRecord(value)) {
    problems.add(path, 'must be a map of strings');
    return result;
  }
  for (const [key, entry] of Object.entries(value)) {
    if (!QUALIFIED_NAME.test(key) || key.length > 316) {
      problems.add(`${path}[${quote(key)}]`, 'is not a valid Kubernetes key');
      continue;
    }
    if (typeof entry !== 'string') {
      problems.add(`${path}.${key}`, 'must be a string');
      continue;
    }
    if (checkKeys === 'label' && (!LABEL_VALUE.test(entry) || entry.length > 63)) {
      problems.add(`${path}.${key}`, `${quote(entry)} is not a valid label value`);
      continue;
    }
    // Own-property definition: a key such as "__proto__" must stay data, never a prototype.
    Object.defineProperty(result, key, { value: entry, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

function parseSelector(value: unknown, path: string, problems: Problems): LabelSelector {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) {
    problems.add(path, 'must be a label selector');
    return {};
  }
  const selector: LabelSelector = {};
  if (value.matchLabels !== undefined) selector.matchLabels = parseStringMap(value.matchLabels, `${path}.matchLabels`, problems, 'label');
  if (value.matchExpressions !== undefined) {
    if (!Array.isArray(value.matchExpressions)) {
      problems.add(`${path}.matchExpressions`, 'must be a list');
    } else {
      const requirements: LabelSelectorRequirement[] = [];
      value.matchExpressions.forEach((raw: unknown, index: number) => {
        const at = `${path}.matchExpressions[${index}]`;
        if (!isRecord(raw) || typeof raw.key !== 'string' || raw.key === '') {
          problems.add(at, 'must have a key');
          return;
        }
        if (raw.operator === undefined || raw.operator === null) {
          problems.add(`${at}.operator`, `is required (one of ${OPERATORS.join(', ')})`);
          return;
        }
        const operator = parseEnum(raw.operator, OPERATORS, 'Exists', `${at}.operator`, problems);
        if (!(OPERATORS as readonly unknown[]).includes(raw.operator)) return;
        const values = raw.values;
        if (values !== undefined && (!Array.isArray(values) || !values.every((v) => typeof v === 'string'))) {
          problems.add(`${at}.values`, 'must be a list of strings');
          return;
        }
        const list = (values as string[] | undefined) ?? [];
        if ((operator === 'In' || operator === 'NotIn') && list.length === 0) problems.add(`${at}.values`, `must not be empty for operator ${operator}`);
        if ((operator === 'Exists' || operator === 'DoesNotExist') && list.length > 0) problems.add(`${at}.values`, `must be empty for operator ${operator}`);
        requirements.push({ key: raw.key, operator, ...(list.length > 0 ? { values: [...list] } : {}) });
      });
      selector.matchExpressions = requirements;
    }
  }
  return selector;
}

/** Every `{{...}}` in a sidecar string must name a known placeholder: nothing else is templated. */
function checkPlaceholders(value: unknown, path: string, problems: Problems, depth = 0): void {
  if (depth > 64) {
    problems.add(path, 'is nested too deeply');
    return;
  }
  if (typeof value === 'string') {
    for (const match of value.matchAll(PLACEHOLDER_PATTERN)) {
      const name = (match[1] ?? '').trim();
      if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
        problems.add(path, `unknown placeholder ${match[0]} (known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')})`);
      }
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => checkPlaceholders(item, `${path}[${index}]`, problems, depth + 1));
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) checkPlaceholders(item, `${path}.${key}`, problems, depth + 1);
  }
}

interface NamedListRules {
  requireImage: boolean;
  /** Containers and volumes are DNS-1123 labels; Secrets (pull secrets) are subdomains. */
  names: 'label' | 'subdomain';
}

function parseNamedList<T extends { name: string }>(value: unknown, path: string, problems: Problems, rules: NamedListRules): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    problems.add(path, 'must be a list');
    return [];
  }
  const items: T[] = [];
  value.forEach((raw: unknown, index: number) => {
    const at = `${path}[${index}]`;
    if (!isRecord(raw)) {
      problems.add(at, 'must be an object');
      return;
    }
    const validName = rules.names === 'label'
      ? typeof raw.name === 'string' && DNS1123_LABEL.test(raw.name) && raw.name.length <= 63
      : typeof raw.name === 'string' && DNS1123_SUBDOMAIN.test(raw.name) && raw.name.length <= 253;
    if (!validName) {
      const form = rules.names === 'label' ? "a DNS-1123 label (lowercase letters, digits, '-')" : "a DNS-1123 subdomain (lowercase letters, digits, '-', '.')";
      problems.add(`${at}.name`, `must be ${form}, got ${quote(raw.name)}`);
      return;
    }
    if (rules.requireImage && (typeof raw.image !== 'string' || raw.image.trim() === '')) {
      problems.add(`${at}.image`, 'is required');
      return;
    }
    checkPlaceholders(raw, at, problems);
    items.push(structuredClone(raw) as T);
  });
  return items;
}

function checkUnique(names: string[], what: string, path: string, problems: Problems): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) problems.add(path, `${what} name ${quote(name)} is used twice`);
    seen.add(name);
  }
}

function parseSidecar(value: unknown, problems: Problems): SidecarSpec {
  if (!isRecord(value)) {
    problems.add('spec.sidecar', 'is required and must be an object');
    return { initContainers: [], containers: [], volumes: [], imagePullSecrets: [], podAnnotations: {}, podLabels: {} };
  }
  const sidecar: SidecarSpec = {
    initContainers: parseNamedList<Container>(value.initContainers, 'spec.sidecar.initContainers', problems, { requireImage: true, names: 'label' }),
    containers: parseNamedList<Container>(value.containers, 'spec.sidecar.containers', problems, { requireImage: true, names: 'label' }),
    volumes: parseNamedList<Volume>(value.volumes, 'spec.sidecar.volumes', problems, { requireImage: false, names: 'label' }),
    imagePullSecrets: parseNamedList<LocalObjectReference>(value.imagePullSecrets, 'spec.sidecar.imagePullSecrets', problems, { requireImage: false, names: 'subdomain' }),
    podAnnotations: parseStringMap(value.podAnnotations, 'spec.sidecar.podAnnotations', problems, 'annotation'),
    podLabels: parseStringMap(value.podLabels, 'spec.sidecar.podLabels', problems, 'label'),
  };
  // Kept only when set: a MeshConfig without it parses to the sidecar (and hash) it always had.
  if (value.nativeSidecar !== undefined && value.nativeSidecar !== null) {
    sidecar.nativeSidecar = parseEnum(value.nativeSidecar, NATIVE_SIDECAR_MODES, 'Never', 'spec.sidecar.nativeSidecar', problems);
  }
  if (!Array.isArray(value.containers) || value.containers.length === 0) {
    problems.add('spec.sidecar.containers', 'must list at least one container');
  }
  checkUnique([...sidecar.initContainers, ...sidecar.containers].map((c) => c.name), 'container', 'spec.sidecar', problems);
  checkUnique(sidecar.volumes.map((v) => v.name), 'volume', 'spec.sidecar.volumes', problems);
  checkUnique(sidecar.imagePullSecrets.map((s) => s.name), 'imagePullSecret', 'spec.sidecar.imagePullSecrets', problems);
  checkPlaceholders(sidecar.podAnnotations, 'spec.sidecar.podAnnotations', problems);
  if (Object.hasOwn(sidecar.podAnnotations, STATUS_ANNOTATION)) {
    problems.add('spec.sidecar.podAnnotations', `must not set ${STATUS_ANNOTATION}: meshinit writes it`);
  }
  return sidecar;
}

/**
 * spec.conflictingContainers: container names meaning another mesh (beyond the ones meshinit knows,
 * see core/other-mesh.ts). Names as Kubernetes allows them; never one of this MeshConfig's own
 * sidecar containers, which would make meshinit refuse every pod it injected.
 */
function parseConflictingContainers(value: unknown, sidecar: SidecarSpec, problems: Problems): string[] {
  const path = 'spec.conflictingContainers';
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    problems.add(path, 'must be a list of container names');
    return [];
  }
  const own = new Set([...sidecar.initContainers, ...sidecar.containers].map((c) => c.name));
  const names: string[] = [];
  value.forEach((name: unknown, index: number) => {
    const at = `${path}[${index}]`;
    if (typeof name !== 'string' || !DNS1123_LABEL.test(name) || name.length > 63) {
      problems.add(at, `must be a container name, a DNS-1123 label (lowercase letters, digits, '-'), got ${quote(name)}`);
    } else if (own.has(name)) {
      problems.add(at, `${quote(name)} is a container of this MeshConfig's own sidecar`);
    } else if (names.includes(name)) {
      problems.add(at, `${quote(name)} is listed twice`);
    } else {
      names.push(name);
    }
  });
  return names;
}

export type MeshConfigParseResult = { ok: true; meshConfig: MeshConfig } | { ok: false; error: MeshConfigError };

/**
 * Validates a MeshConfig object (from the API or a file) and applies the defaults. Never throws.
 * `server` is the API server it injects for: it decides the sidecar's layout (nativeSidecar).
 */
export function parseMeshConfig(raw: unknown, server: KubeServer = UNKNOWN_SERVER): MeshConfigParseResult {
  const problems = new Problems();
  if (nestsDeeperThan(raw, MAX_DOCUMENT_DEPTH)) {
    const name = isRecord(raw) && isRecord(raw.metadata) && typeof raw.metadata.name === 'string' ? raw.metadata.name : '';
    return { ok: false, error: new MeshConfigError(name, [`(document): is nested more than ${MAX_DOCUMENT_DEPTH} levels deep`]) };
  }
  const object = isRecord(raw) ? raw : {};
  if (!isRecord(raw)) problems.add('(document)', 'must be an object');
  const metadata = isRecord(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  if (name === '') problems.add('metadata.name', 'is required');
  if (object.apiVersion !== undefined && object.apiVersion !== MESHCONFIG_API_VERSION) {
    problems.add('apiVersion', `must be ${MESHCONFIG_API_VERSION}, got ${quote(object.apiVersion)}`);
  }
  if (object.kind !== undefined && object.kind !== MESHCONFIG_KIND) problems.add('kind', `must be ${MESHCONFIG_KIND}, got ${quote(object.kind)}`);
  const spec = isRecord(object.spec) ? object.spec : undefined;
  if (!spec) problems.add('spec', 'is required and must be an object');
  const s = spec ?? {};

  let kinds: PodTemplateKind[] = [...POD_TEMPLATE_KINDS];
  if (s.kinds !== undefined && s.kinds !== null) {
    if (!Array.isArray(s.kinds) || s.kinds.length === 0) {
      problems.add('spec.kinds', `must be a non-empty list of ${POD_TEMPLATE_KINDS.join(', ')}`);
    } else {
      kinds = [];
      for (const kind of s.kinds) {
        if (typeof kind === 'string' && (POD_TEMPLATE_KINDS as readonly string[]).includes(kind)) {
          if (!kinds.includes(kind as PodTemplateKind)) kinds.push(kind as PodTemplateKind);
        } else problems.add('spec.kinds', `${quote(kind)} is not one of ${POD_TEMPLATE_KINDS.join(', ')}`);
      }
    }
  }
  let priority = 0;
  if (s.priority !== undefined && s.priority !== null) {
    if (typeof s.priority === 'number' && Number.isSafeInteger(s.priority)) priority = s.priority;
    else problems.add('spec.priority', `must be an integer, got ${quote(s.priority)}`);
  }
  const parsed: Omit<MeshConfig, 'layout'> = {
    name,
    generation: typeof metadata.generation === 'number' ? metadata.generation : 0,
    ...(typeof metadata.resourceVersion === 'string' ? { resourceVersion: metadata.resourceVersion } : {}),
    spec: {
      policy: parseEnum(s.policy, ['Enabled', 'Disabled'] as const, 'Enabled', 'spec.policy', problems),
      namespaceSelector: parseSelector(s.namespaceSelector, 'spec.namespaceSelector', problems),
      selector: parseSelector(s.selector, 'spec.selector', problems),
      kinds,
      failurePolicy: parseEnum(s.failurePolicy, ['Ignore', 'Fail'] as const, 'Ignore', 'spec.failurePolicy', problems),
      priority,
      sidecar: parseSidecar(s.sidecar, spec ? problems : new Problems()),
      conflictingContainers: [],
      updatePolicy: parseUpdatePolicy(s.updatePolicy, (path, message) => problems.add(path, message)),
      rollout: parseRolloutSpec(s.rollout, (path, message) => problems.add(path, message)),
    },
  };
  parsed.spec.conflictingContainers = parseConflictingContainers(s.conflictingContainers, parsed.spec.sidecar, problems);
  if (problems.list.length > 0) return { ok: false, error: new MeshConfigError(name, problems.list) };
  return { ok: true, meshConfig: { ...parsed, layout: resolveSidecarLayout(parsed.spec.sidecar, server) } };
}
