// A small Initializer-era API server behind nock, for controller tests: LIST (hiding uninitialized
// objects unless includeUninitialized=true, as 1.13 does), WATCH as NDJSON streams the test can
// feed, GET, and JSON Patch with the server's rules that matter here: a `test` op that fails is
// 422, a stale resourceVersion in the patch is 409, an empty pending list drops `initializers`,
// and a Failure result deletes the object. Every request is recorded for assertions.
import { PassThrough } from 'node:stream';
import nock from 'nock';
import jsonpatch from 'fast-json-patch';
import type { KubeObject } from '../../controller/core/types.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  body: unknown;
}

type Reply = [number, unknown, Record<string, string>?];

const ROUTE = /^\/(api|apis\/[^/]+)\/([^/]+)\/(?:namespaces\/([^/]+)\/)?([a-z]+)(?:\/([^/]+))?(\/status)?$/;

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function status(code: number, reason: string, message: string): Reply {
  return [code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }];
}

export class NockCluster {
  readonly requests: RecordedRequest[] = [];
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly watchers = new Map<string, Set<{ stream: PassThrough; namespace: string | undefined; includeUninitialized: boolean }>>();
  private revision = 100;
  /** Every change, so a watch from resourceVersion N replays what happened after N, as etcd does. */
  private readonly history: Array<{ revision: number; resourceKey: string; type: string; object: KubeObject }> = [];
  /** Replies to use for the next PATCHes, before the normal handling (fault injection); a function runs then (it may change the store) and gives the reply. */
  readonly patchFaults: Array<Reply | (() => Reply)> = [];
  /** Replies to use for the next WATCH requests (e.g. a 500), before streaming. */
  readonly watchFaults: Reply[] = [];
  private scope: nock.Scope | undefined;
  /** False imitates 1.9, which silently drops a CRD's status subresource (PATCH /status is 404). */
  statusSubresource = true;
  /** Delay before a workload PATCH is answered (it is applied at once): an in-flight patch. */
  patchDelayMs = 0;
  /**
   * Resources answered with a fixed error, by resourceKey (every verb, every namespace): a CRD
   * that is not installed (404), a resource RBAC refuses (403).
   */
  readonly refused = new Map<string, { code: number; reason: string; message: string }>();
  /** Discovery documents served by path, e.g. `/apis/admissionregistration.k8s.io/v1alpha1`. */
  readonly discovery = new Map<string, unknown>([['/version', { major: '1', minor: '13', gitVersion: 'v1.13.0' }]]);

  constructor(readonly server: string) {}

  start(): this {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- nock calls replies with its own `this`
    const cluster = this;
    this.scope = nock(this.server)
      .persist()
      .get(() => true).query(true).reply((uri, body) => cluster.handle('GET', uri, body, undefined))
      .patch(() => true).query(true).reply(async function (uri, body) {
        const reply = cluster.handle('PATCH', uri, body, String(this.req.headers['content-type']));
        if (cluster.patchDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, cluster.patchDelayMs));
        return reply;
      })
      .post(() => true).query(true).reply((uri, body) => cluster.handle('POST', uri, body, undefined));
    return this;
  }

  stop(): void {
    for (const set of this.watchers.values()) for (const watcher of set) watcher.stream.end();
    nock.cleanAll();
  }

  /** Stores an object as if it had been created; resourceKey like `apis/apps/v1/deployments`. */
  put(resourceKey: string, object: KubeObject, emit = true): KubeObject {
    const items = this.store.get(resourceKey) ?? new Map<string, KubeObject>();
    this.store.set(resourceKey, items);
    const key = `${object.metadata?.namespace ?? ''}/${object.metadata?.name}`;
    const existed = items.has(key);
    const stored = structuredClone(object);
    stored.metadata = { ...stored.metadata, resourceVersion: String(++this.revision) };
    items.set(key, stored);
    if (emit) this.emit(resourceKey, existed ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }

  get(resourceKey: string, namespace: string, name: string): KubeObject | undefined {
    return this.store.get(resourceKey)?.get(`${namespace}/${name}`);
  }

  /** PATCHes of workloads and Pods (MeshConfig status writes are left out). */
  patches(): RecordedRequest[] {
    return this.requests.filter((request) => request.method === 'PATCH' && !request.path.includes('/meshconfigs/'));
  }

  watchCount(resourceKey: string): number {
    return this.requests.filter((r) => r.method === 'GET' && r.query.get('watch') === 'true' && r.path.endsWith(resourceKey.split('/').pop() ?? '')).length;
  }

  /** Ends every open watch on a resource, as a server restart or a proxy timeout would. */
  dropWatches(resourceKey: string): void {
    for (const watcher of this.watchers.get(resourceKey) ?? []) watcher.stream.end();
    this.watchers.get(resourceKey)?.clear();
  }

  emit(resourceKey: string, type: string, object: KubeObject): void {
    this.history.push({ revision: this.revision, resourceKey, type, object });
    for (const watcher of this.watchers.get(resourceKey) ?? []) this.send(watcher, type, object);
  }

  private send(watcher: { stream: PassThrough; namespace: string | undefined; includeUninitialized: boolean }, type: string, object: KubeObject): void {
    const uninitialized = (object.metadata?.initializers?.pending?.length ?? 0) > 0;
    if (watcher.namespace && watcher.namespace !== object.metadata?.namespace) return;
    if (uninitialized && !watcher.includeUninitialized) return;
    watcher.stream.write(`${JSON.stringify({ type, object })}\n`);
  }

  private handle(method: string, uri: string, body: unknown, contentType: string | undefined): Reply | [number, PassThrough, Record<string, string>] {
    const url = new URL(uri, this.server);
    this.requests.push({ method, path: url.pathname, query: url.searchParams, contentType, body: typeof body === 'string' && body ? JSON.parse(body) : body });
    if (this.discovery.has(url.pathname)) return [200, this.discovery.get(url.pathname)];
    const match = ROUTE.exec(url.pathname);
    if (!match) return status(404, 'NotFound', `the server could not find the requested resource ${url.pathname}`);
    const [, prefix, version, namespace, plural, name, subresource] = match;
    const resourceKey = `${prefix}/${version}/${plural}`;
    const refusal = this.refused.get(resourceKey);
    if (refusal) return status(refusal.code, refusal.reason, refusal.message);
    if (method === 'POST') return [201, this.requests.at(-1)?.body];
    if (method === 'PATCH' && contentType === 'application/merge-patch+json') return this.mergePatch(resourceKey, namespace ?? '', name ?? '', subresource !== undefined, this.requests.at(-1)?.body);
    if (method === 'PATCH' && subresource !== undefined && !this.statusSubresource) return status(404, 'NotFound', '404 page not found');
    if (method === 'PATCH' && subresource !== undefined) return this.patchStatus(resourceKey, namespace ?? '', name ?? '', this.requests.at(-1)?.body);
    if (method === 'PATCH') return this.patch(resourceKey, namespace ?? '', name ?? '', contentType, this.requests.at(-1)?.body);
    if (name !== undefined) {
      const object = this.get(resourceKey, namespace ?? '', name);
      return object ? [200, object] : status(404, 'NotFound', `${plural} "${name}" not found`);
    }
    const includeUninitialized = url.searchParams.get('includeUninitialized') === 'true';
    if (url.searchParams.get('watch') === 'true') {
      const fault = this.watchFaults.shift();
      if (fault) return fault;
      const stream = new PassThrough();
      const set = this.watchers.get(resourceKey) ?? new Set();
      this.watchers.set(resourceKey, set);
      const watcher = { stream, namespace, includeUninitialized };
      set.add(watcher);
      stream.on('close', () => set.delete(watcher));
      const from = Number(url.searchParams.get('resourceVersion') ?? this.revision);
      for (const change of this.history) {
        if (change.resourceKey === resourceKey && change.revision > from) this.send(watcher, change.type, change.object);
      }
      return [200, stream, { 'Content-Type': 'application/json' }];
    }
    const items = [...(this.store.get(resourceKey)?.values() ?? [])].filter(
      (object) => (!namespace || object.metadata?.namespace === namespace) && (includeUninitialized || !(object.metadata?.initializers?.pending?.length)),
    );
    return [200, { kind: 'List', apiVersion: version, metadata: { resourceVersion: String(this.revision) }, items }];
  }

  /** Merge patch, as MeshConfig status is written; on /status only `status` changes, as on 1.13. */
  private mergePatch(resourceKey: string, namespace: string, name: string, statusOnly: boolean, body: unknown): Reply {
    const current = this.get(resourceKey, namespace, name);
    if (!current || (statusOnly && !this.statusSubresource)) return status(404, 'NotFound', '404 page not found');
    const patched = mergePatch(current, body) as KubeObject;
    const next = statusOnly ? { ...current, status: patched.status } : patched;
    return [200, this.put(resourceKey, next)];
  }

  /** JSON Patch on /status: only `status` changes, as on 1.13. */
  private patchStatus(resourceKey: string, namespace: string, name: string, body: unknown): Reply {
    const current = this.get(resourceKey, namespace, name);
    if (!current) return status(404, 'NotFound', `"${name}" not found`);
    const next = jsonpatch.applyPatch(structuredClone(current), body as jsonpatch.Operation[], true, false).newDocument;
    return [200, this.put(resourceKey, { ...current, status: next.status })];
  }

  private patch(resourceKey: string, namespace: string, name: string, contentType: string | undefined, body: unknown): Reply {
    const fault = this.patchFaults.shift();
    if (fault) return typeof fault === 'function' ? fault() : fault;
    const current = this.get(resourceKey, namespace, name);
    if (!current) return status(404, 'NotFound', `"${name}" not found`);
    if (contentType !== 'application/json-patch+json') return status(415, 'UnsupportedMediaType', `unsupported ${contentType}`);
    const ops = body as jsonpatch.Operation[];
    let next: KubeObject;
    try {
      next = jsonpatch.applyPatch(structuredClone(current), ops, true, false).newDocument;
    } catch (error) {
      return status(422, 'Invalid', `the server rejected our request due to an error in our request: ${(error as Error).message}`);
    }
    if (next.metadata?.resourceVersion !== current.metadata?.resourceVersion) {
      return status(409, 'Conflict', `Operation cannot be fulfilled on ${resourceKey} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    const initializers = next.metadata?.initializers;
    if (initializers?.result?.status === 'Failure') {
      this.store.get(resourceKey)?.delete(`${namespace}/${name}`);
      this.revision++;
      this.emit(resourceKey, 'DELETED', current);
      return [200, next];
    }
    if (initializers && (initializers.pending?.length ?? 0) === 0) delete next.metadata?.initializers;
    return [200, this.put(resourceKey, next)];
  }
}
