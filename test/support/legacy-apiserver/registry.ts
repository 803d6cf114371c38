// The double's REST semantics for one request, HTTP aside: create (with the initializers an
// InitializerConfiguration would add, blocking the creator until initialization as fixtures 04/07a/
// 12b show), get, list, patch, update and delete, with the Initializer-era rules on every write.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { applyJsonPatch, mergePatch, patchFormat, strategicMergePatch } from './patch.ts';
import { apiVersionOf, collectionPath, selfLink, type ResourceType, type Route } from './resources.ts';
import { applyDefaults, defaultJobSelector, goValue, isUninitialized, meshConfigSchemaErrors, pendingNames, validateUpdate, type Flavor, type Obj } from './semantics.ts';
import { parseBool } from './http-util.ts';
import * as S from './status.ts';
import type { ObjectStore } from './store.ts';

/** One entry of an InitializerConfiguration: an initializer name and the resources (plurals) it holds. */
export interface InitializerRule {
  name: string;
  resources: readonly string[];
}

export interface RegistryOptions {
  flavor: Flavor;
  initializers: InitializerRule[];
  /** 1.13 keeps a CRD's status subresource; 1.9 drops it (PATCH .../status is 404). */
  statusSubresource: boolean;
  /** How long a create without includeUninitialized waits when it names no ?timeout (the server's 30 s). */
  blockingTimeoutMs: number;
  /** Caps the real wait of a blocked create (tests); the 504 still names the requested timeout. */
  blockingWaitCapMs?: number;
}

/** A write's effect on the object's pending list, for the request log. */
export interface WriteTrace {
  pendingBefore: string[];
  /** null when the object is gone after the write. */
  pendingAfter: string[] | null;
}

export interface Outcome {
  answer: S.Answer;
  /** Set when the write was stored. */
  trace?: WriteTrace;
}


/** Go durations as ?timeout= takes them: 500ms, 5s, 1m. */
function parseDuration(text: string | null): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text ?? '');
  return match ? Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A shallow copy without `keys`. */
function omit<T extends object>(value: T, keys: readonly string[]): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([key]) => !keys.includes(key))) as Partial<T>;
}

/** Fields the server sets itself: whatever a client sends for them is replaced. */
const SERVER_MANAGED = ['name', 'namespace', 'generateName', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp'];

/** Stored objects carry kind and apiVersion; list items come without them (fixture 05c). */
function withoutTypeMeta(object: Obj): Obj {
  return omit(object, ['kind', 'apiVersion']);
}

export class Registry {
  private readonly waiters = new Map<string, Array<(answer: S.Answer) => void>>();
  private generated = 0;

  constructor(private readonly store: ObjectStore, readonly options: RegistryOptions) {}

  private tracksGeneration(t: ResourceType): boolean {
    // 1.9 keeps no metadata.generation for custom resources (fixture 19).
    return t.generation && !(t.custom && this.options.flavor === '1.9');
  }

  private statusViaSubresource(t: ResourceType): boolean {
    return t.custom && this.options.statusSubresource;
  }

  get(route: Route): S.Answer {
    if (route.subresource !== undefined && !(route.subresource === 'status' && this.statusViaSubresource(route.type))) return S.pageNotFound();
    const object = this.store.get(route.type.plural, route.namespace, route.name!);
    return object ? { code: 200, body: object } : S.notFound(route.type, route.name!);
  }

  list(route: Route, query: URLSearchParams): { answer: S.Answer; items: Obj[] } {
    const t = route.type;
    const includeUninitialized = parseBool(query.get('includeUninitialized'));
    const items = this.store.list(t.plural, route.namespace).filter((object) => includeUninitialized || !isUninitialized(object));
    const body = {
      kind: `${t.kind}List`,
      apiVersion: apiVersionOf(t),
      metadata: { selfLink: collectionPath(t, route.namespace), resourceVersion: String(this.store.revision) },
      items: items.map(withoutTypeMeta),
    };
    return { answer: { code: 200, body }, items };
  }

  /** Creates; resolves at once, or (uninitialized, no includeUninitialized) when initialization ends. */
  async create(route: Route, body: unknown, query: URLSearchParams): Promise<Outcome> {
    const t = route.type;
    if (!isRecord(body) || route.name !== undefined) return { answer: S.status(400, 'BadRequest', 'the request body must be an object') };
    const object = structuredClone(body) as Obj;
    const metadata = { ...(object.metadata ?? {}) };
    if (t.namespaced) {
      if (metadata.namespace !== undefined && metadata.namespace !== route.namespace) {
        return { answer: S.status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request') };
      }
      metadata.namespace = route.namespace;
    }
    const name = metadata.name ?? (metadata.generateName ? `${metadata.generateName}${(++this.generated).toString(36).padStart(5, '0')}` : undefined);
    if (!name) return { answer: S.invalid(t, '', [{ field: 'metadata.name', type: 'FieldValueInvalid', message: 'Required value: name or generateName is required' }]) };
    if (t.namespaced && !this.store.get('namespaces', undefined, route.namespace!)) {
      return { answer: S.status(404, 'NotFound', `namespaces "${route.namespace}" not found`, { name: route.namespace!, kind: 'namespaces' }) };
    }
    if (this.store.get(t.plural, route.namespace, name)) return { answer: S.alreadyExists(t, name) };
    if (t.initializable) {
      // An explicit initializers block replaces what the configuration would add (fixture 14).
      const explicit = metadata.initializers;
      const pending = explicit !== undefined ? (explicit?.pending ?? []) : this.options.initializers.filter((rule) => rule.resources.includes(t.plural) || rule.resources.includes('*')).map((rule) => ({ name: rule.name }));
      if (pending.length > 0) metadata.initializers = { pending: pending.map((entry) => ({ ...entry })) };
      else delete metadata.initializers;
    } else {
      delete metadata.initializers;
    }
    const uid = randomUUID();
    object.kind = t.kind;
    object.apiVersion = apiVersionOf(t);
    object.metadata = {
      name,
      ...(t.namespaced ? { namespace: route.namespace } : {}),
      selfLink: selfLink(t, route.namespace, name),
      uid,
      resourceVersion: '',
      ...(this.tracksGeneration(t) ? { generation: 1 } : {}),
      creationTimestamp: timestamp(),
      ...omit(metadata, SERVER_MANAGED),
    };
    if (t.kind === 'MeshConfig') {
      // Validated with the server's metadata filled in, as the error message shows it (fixture 19).
      const problems = meshConfigSchemaErrors(object);
      if (problems.length > 0) return { answer: this.schemaInvalid(t, name, { ...object, metadata: omit(object.metadata, ['resourceVersion', 'selfLink']) }, problems) };
    }
    const revision = this.store.nextRevision();
    object.metadata.resourceVersion = String(revision);
    if (t.kind === 'Job') defaultJobSelector(object, uid);
    applyDefaults(t, object);
    if (this.statusViaSubresource(t)) delete object.status;
    this.store.commit(t.plural, 'ADDED', object, revision);
    const trace: WriteTrace = { pendingBefore: [], pendingAfter: pendingNames(object) };
    if (!isUninitialized(object)) return { answer: { code: 201, body: object }, trace };
    // 1.9 honoured only "1" here; "true" made the create block (fixture 06a).
    const flag = query.get('includeUninitialized');
    if (this.options.flavor === '1.9' ? flag === '1' : parseBool(flag)) return { answer: { code: 202, body: object }, trace };
    return { answer: await this.waitForInitialization(t, object, query.get('timeout')), trace };
  }

  private waitForInitialization(t: ResourceType, object: Obj, timeout: string | null): Promise<S.Answer> {
    const key = `${t.plural}/${object.metadata?.namespace ?? ''}/${object.metadata?.name}`;
    const ms = Math.min(parseDuration(timeout) ?? this.options.blockingTimeoutMs, this.options.blockingWaitCapMs ?? Infinity);
    return new Promise((resolve) => {
      const list = this.waiters.get(key) ?? [];
      this.waiters.set(key, list);
      const timer = setTimeout(() => {
        list.splice(list.indexOf(done), 1);
        resolve(S.createTimeout(this.options.flavor, timeout ?? '30s'));
      }, ms);
      const done = (answer: S.Answer): void => {
        clearTimeout(timer);
        resolve(answer);
      };
      list.push(done);
    });
  }

  private release(t: ResourceType, object: Obj, answer: S.Answer): void {
    const key = `${t.plural}/${object.metadata?.namespace ?? ''}/${object.metadata?.name}`;
    const list = this.waiters.get(key);
    this.waiters.delete(key);
    for (const done of list ?? []) done(answer);
  }

  private schemaInvalid(t: ResourceType, name: string, object: Obj, problems: string[]): S.Answer {
    const shown = this.options.flavor === '1.9' ? { ...object, metadata: { clusterName: '', ...object.metadata } } : object;
    const answer = S.status(422, 'Invalid', `${t.kind}.${t.group} "${name}" is invalid: []: Invalid value: ${goValue(shown)}: validation failure list:\n${problems.join('\n')}`, {
      name, group: t.group, kind: t.kind, causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${goValue(shown)}: validation failure list:\n${problems.join('\n')}`, field: '[]' }],
    });
    return answer;
  }

  patch(route: Route, contentType: string | undefined, body: unknown): Outcome {
    const t = route.type;
    const statusOnly = route.subresource === 'status';
    if (route.subresource !== undefined && !(statusOnly && this.statusViaSubresource(t))) return { answer: S.pageNotFound() };
    const current = this.store.get(t.plural, route.namespace, route.name!);
    if (!current) return { answer: S.notFound(t, route.name!) };
    const format = patchFormat(contentType);
    if (format === undefined || (format === 'strategic' && t.custom)) {
      if (format === 'strategic' && this.options.flavor === '1.9') return { answer: S.status(400, 'BadRequest', 'strategic merge patch format is not supported') };
      const accepted = t.custom ? 'application/json-patch+json, application/merge-patch+json' : 'application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json';
      return { answer: S.status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted}`) };
    }
    let candidate: unknown;
    if (format === 'json') {
      const outcome = applyJsonPatch(current, body);
      if (!outcome.ok) return { answer: outcome.malformed ? S.status(400, 'BadRequest', outcome.message) : S.patchNotApplicable(this.options.flavor, outcome.message) };
      candidate = outcome.document;
    } else {
      if (!isRecord(body)) return { answer: S.status(400, 'BadRequest', 'the patch must be a JSON object') };
      candidate = format === 'merge' ? mergePatch(structuredClone(current), body) : strategicMergePatch(structuredClone(current), body);
    }
    if (!isRecord(candidate)) return { answer: S.status(400, 'BadRequest', 'the patched object is not an object') };
    return this.update(t, current, candidate as Obj, statusOnly);
  }

  put(route: Route, body: unknown): Outcome {
    const t = route.type;
    const current = this.store.get(t.plural, route.namespace, route.name!);
    if (!current) return { answer: S.notFound(t, route.name!) };
    if (!isRecord(body)) return { answer: S.status(400, 'BadRequest', 'the request body must be an object') };
    return this.update(t, current, structuredClone(body) as Obj, route.subresource === 'status');
  }

  /** The shared tail of PATCH and PUT: precondition, validation, the Initializer rules, store. */
  private update(t: ResourceType, current: Obj, candidate: Obj, statusOnly: boolean): Outcome {
    const name = current.metadata!.name!;
    const wanted = candidate.metadata?.resourceVersion;
    // A resourceVersion in the result is a precondition (optimistic concurrency).
    if (wanted !== undefined && wanted !== '' && wanted !== current.metadata?.resourceVersion) return { answer: S.conflict(t, name) };
    let next: Obj = candidate;
    if (this.statusViaSubresource(t)) {
      // 1.13: /status changes only status; the main resource never changes status.
      next = statusOnly ? { ...structuredClone(current), status: structuredClone(candidate.status) } : { ...candidate, status: structuredClone(current.status) };
      if (next.status === undefined) delete next.status;
    }
    const was = current.metadata!;
    next.kind = t.kind;
    next.apiVersion = apiVersionOf(t);
    next.metadata = {
      name,
      ...(t.namespaced ? { namespace: was.namespace } : {}),
      selfLink: was.selfLink,
      uid: was.uid,
      resourceVersion: '',
      ...(was.generation !== undefined ? { generation: was.generation } : {}),
      creationTimestamp: was.creationTimestamp,
      ...omit(next.metadata ?? {}, SERVER_MANAGED),
    };
    const initializers = next.metadata.initializers;
    if (initializers === null) delete next.metadata.initializers;
    const errors = validateUpdate(t, current, next);
    if (errors.length > 0) return { answer: S.invalid(t, name, errors) };
    const failed = next.metadata.initializers?.result?.status === 'Failure';
    if (!failed && next.metadata.initializers && (next.metadata.initializers.pending ?? []).length === 0) delete next.metadata.initializers;
    if (next.metadata.initializers?.result) next.metadata.initializers.result = normalizeResult(next.metadata.initializers.result);
    if (t.kind === 'MeshConfig') {
      const problems = meshConfigSchemaErrors(next);
      if (problems.length > 0) return { answer: this.schemaInvalid(t, name, next, problems) };
    }
    applyDefaults(t, next);
    if (this.tracksGeneration(t) && !isDeepStrictEqual(current.spec, next.spec)) next.metadata.generation = (current.metadata!.generation ?? 0) + 1;
    const revision = this.store.nextRevision();
    next.metadata.resourceVersion = String(revision);
    this.store.commit(t.plural, 'MODIFIED', next, revision);
    const pendingBefore = pendingNames(current);
    if (failed) {
      // The server stores the result, then deletes the object; a blocked creator gets the result.
      const deletion = this.store.nextRevision();
      this.store.commit(t.plural, 'DELETED', { ...next, metadata: { ...next.metadata, resourceVersion: String(deletion) } }, deletion);
      const result = next.metadata.initializers!.result!;
      this.release(t, next, { code: typeof result.code === 'number' ? result.code : 500, body: { kind: 'Status', apiVersion: 'v1', ...result } });
      return { answer: { code: 200, body: next }, trace: { pendingBefore, pendingAfter: null } };
    }
    if (isUninitialized(current) && !isUninitialized(next)) this.release(t, next, { code: 201, body: next });
    return { answer: { code: 200, body: next }, trace: { pendingBefore, pendingAfter: pendingNames(next) } };
  }

  remove(route: Route): Outcome {
    const t = route.type;
    const current = this.store.get(t.plural, route.namespace, route.name!);
    if (!current) return { answer: S.notFound(t, route.name!) };
    const revision = this.store.nextRevision();
    this.store.commit(t.plural, 'DELETED', { ...current, metadata: { ...current.metadata, resourceVersion: String(revision) } }, revision);
    const details = { name: route.name!, ...(t.group ? { group: t.group } : {}), kind: t.plural, uid: current.metadata?.uid };
    return { answer: { code: 200, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details } }, trace: { pendingBefore: pendingNames(current), pendingAfter: null } };
  }
}

/** The server keeps a result as a Status without type meta and with empty metadata (fixture 12c). */
function normalizeResult(result: Record<string, unknown>): Record<string, unknown> {
  return { metadata: {}, ...omit(result, ['kind', 'apiVersion', 'metadata']) };
}
