// A real HTTP server (node:http on 127.0.0.1, port 0) that behaves like the recorded
// Initializer-era kube-apiservers (see ../../../../shared/fixtures/legacy-apiserver and
// test/legacy-apiserver, which replays those recordings against it), with fault injection on
// command and a log of every request: who sent it (bearer token, User-Agent), what, when, and for
// writes the object's pending initializers at that moment.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector, type FaultPlan, type FaultType, type RequestClass } from './faults.ts';
import { discovery, readBody, sendAnswer, versionInfo } from './http-util.ts';
import { faultGate } from './fault-gate.ts';
import { classify, type Delivery, type RecordedRequest } from './log.ts';
import { Registry, type InitializerRule, type Outcome } from './registry.ts';
import { parsePath, RESOURCE_TYPES, type Route } from './resources.ts';
import { pendingNames, type Flavor, type Obj } from './semantics.ts';
import * as S from './status.ts';
import { ObjectStore, type ChangeListener } from './store.ts';
import { WatchHub, type Watcher } from './watch.ts';
import { serveWatch, type WatchContext } from './watch-endpoint.ts';

export type { Delivery, RecordedRequest } from './log.ts';

export interface LegacyApiServerOptions {
  /** Which recorded server to imitate where they differ. Default 1.13. */
  flavor?: Flavor;
  /** What the InitializerConfigurations add to new objects, in order. Default none. */
  initializers?: InitializerRule[];
  /** Serve /apis/admissionregistration.k8s.io/v1alpha1 (the Initializers API). Default true. */
  initializerApi?: boolean;
  /** Keep the MeshConfig status subresource. Default: true on 1.13, false on 1.9. */
  statusSubresource?: boolean;
  /** Watch cache size per resource; resuming from further back is 410 Gone. Default 100. */
  watchCacheSize?: number;
  /** How a too-old resume is refused: an ERROR event in a 200 stream (the watch cache) or HTTP 410. */
  goneAs?: 'event' | 'http';
  blockingTimeoutMs?: number;
  /** Caps how long a blocked create really waits, for tests; its 504 still names the timeout asked for. */
  blockingWaitCapMs?: number;
  faults?: Partial<FaultPlan>;
  /** Resources whose list and watch deliveries are logged per client (see `deliveries`). */
  trackDeliveries?: readonly string[];
}

export class LegacyApiServer {
  readonly flavor: Flavor;
  readonly store: ObjectStore;
  readonly registry: Registry;
  readonly faults: FaultInjector;
  readonly requests: RecordedRequest[] = [];
  readonly deliveries: Delivery[] = [];
  /** 410s the watch cache gave on its own (resume older than the window), not injected. */
  expiredResumes = 0;
  initializerApi: boolean;
  goneAs: 'event' | 'http';
  url = '';
  private readonly hub = new WatchHub();
  private readonly tracked: ReadonlySet<string>;
  private readonly origin = performance.now();
  private server: http.Server | undefined;
  private dropTimer: ReturnType<typeof setInterval> | undefined;
  private inFlight = 0;

  constructor(options: LegacyApiServerOptions = {}) {
    this.flavor = options.flavor ?? '1.13';
    this.store = new ObjectStore(options.watchCacheSize ?? 100);
    this.registry = new Registry(this.store, {
      flavor: this.flavor,
      initializers: [...(options.initializers ?? [])],
      statusSubresource: options.statusSubresource ?? this.flavor === '1.13',
      blockingTimeoutMs: options.blockingTimeoutMs ?? 30_000,
      ...(options.blockingWaitCapMs !== undefined ? { blockingWaitCapMs: options.blockingWaitCapMs } : {}),
    });
    this.faults = new FaultInjector(options.faults);
    this.initializerApi = options.initializerApi ?? true;
    this.goneAs = options.goneAs ?? 'event';
    this.tracked = new Set(options.trackDeliveries ?? []);
    this.store.onChange((change) => this.hub.broadcast(change));
  }

  /** Listens on 127.0.0.1 at a free port; resolves with the base URL. */
  async start(): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 60_000;
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.configureFaults(this.faults.plan);
    return this.url;
  }

  async stop(): Promise<void> {
    clearInterval(this.dropTimer);
    for (const watcher of this.hub.list()) this.hub.end(watcher);
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Milliseconds since the server was created: the clock of `requests` and `deliveries`. */
  now(): number {
    return performance.now() - this.origin;
  }

  // ---- state, without HTTP -------------------------------------------------------------------

  get(plural: string, namespace: string | undefined, name: string): Obj | undefined {
    return this.store.get(plural, namespace, name);
  }

  list(plural: string, namespace?: string): Obj[] {
    return this.store.list(plural, namespace);
  }

  /** Stores an object as a create with includeUninitialized would (setup without a client). */
  async seed(plural: string, object: Obj): Promise<Obj> {
    const type = RESOURCE_TYPES.find((t) => t.plural === plural);
    if (!type) throw new Error(`unknown resource ${plural}`);
    const namespace = type.namespaced ? (object.metadata?.namespace ?? 'default') : undefined;
    const outcome = await this.registry.create({ type, namespace, name: undefined, subresource: undefined }, object, new URLSearchParams({ includeUninitialized: '1' }));
    if (outcome.answer.code >= 300) throw new Error(`seeding ${plural}: ${JSON.stringify(outcome.answer.body)}`);
    return outcome.answer.body as Obj;
  }

  setInitializers(rules: InitializerRule[]): void {
    this.registry.options.initializers = [...rules];
  }

  set statusSubresource(on: boolean) {
    this.registry.options.statusSubresource = on;
  }

  onChange(listener: ChangeListener): () => void {
    return this.store.onChange(listener);
  }

  // ---- fault commands ------------------------------------------------------------------------

  /** Replaces the fault rates and (re)starts periodic watch drops. */
  configureFaults(plan: Partial<FaultPlan>): void {
    this.faults.configure(plan);
    clearInterval(this.dropTimer);
    this.dropTimer = undefined;
    const every = this.faults.plan.dropWatchesEveryMs;
    if (every && every > 0 && this.server) {
      this.dropTimer = setInterval(() => this.dropWatches(), every);
      this.dropTimer.unref();
    }
  }

  /** Open watch streams of targeted clients. */
  openWatches(): Watcher[] {
    return this.hub.list((watcher) => this.faults.targets(watcher.token));
  }

  /** Ends every open targeted watch now; `reset` forces (true) or forbids (false) a connection reset. */
  dropWatches(options: { reset?: boolean } = {}): number {
    const watchers = this.openWatches();
    for (const watcher of watchers) {
      const reset = options.reset ?? this.faults.reset(`drop ${watcher.id}`);
      this.faults.count(reset ? 'watch-reset' : 'watch-drop');
      if (reset) this.hub.reset(watcher);
      else this.hub.end(watcher);
    }
    return watchers.length;
  }

  /** Stalls every open targeted watch: open, silent, until its timeoutSeconds. */
  stallWatches(): number {
    const watchers = this.openWatches().filter((watcher) => !watcher.stalled);
    for (const watcher of watchers) {
      watcher.stalled = true;
      this.faults.count('watch-stall');
    }
    return watchers.length;
  }

  /** Answers the next `count` targeted watch resumes with 410 Gone. */
  goneOnNextResume(count = 1, form: 'event' | 'http' = this.goneAs): void {
    for (let i = 0; i < count; i++) this.faults.goneQueue.push(form);
  }

  /** etcd compaction: every resume from before now is 410 Gone. */
  compact(): void {
    this.store.compact();
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const method = req.method ?? 'GET';
    const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const route = parsePath(url.pathname);
    const rec: RecordedRequest = {
      seq: this.requests.length + 1,
      at: this.now(),
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'],
      body: undefined,
      userAgent: req.headers['user-agent'],
      token,
      cls: route ? classify(method, route, url.searchParams) : 'other',
    };
    this.requests.push(rec);
    const raw = await readBody(req);
    if (raw === undefined) {
      rec.aborted = true;
      return;
    }
    const reply = (answer: S.Answer, fault?: FaultType): void => {
      rec.code = answer.code;
      if (fault) rec.fault = fault;
      sendAnswer(res, answer);
    };
    if (raw !== '') {
      try {
        rec.body = JSON.parse(raw);
      } catch {
        return reply(S.status(400, 'BadRequest', 'the request body is not JSON'));
      }
    }
    if (!route) return reply(this.special(url.pathname) ?? S.pageNotFound());
    const cls = rec.cls as RequestClass;
    const targeted = this.faults.targets(token);
    // The in-flight limiter counts every request being handled (latency included), watches aside.
    const max = this.faults.plan.maxInFlight;
    if (cls !== 'watch' && targeted && max !== undefined && this.inFlight >= max) {
      this.faults.count('inflight-429');
      return reply(S.tooManyRequests(), 'inflight-429');
    }
    if (cls === 'watch') {
      const gate = targeted ? await faultGate(this.faults, this.flavor, cls, route, rec) : 'go';
      if (typeof gate === 'object') return reply(gate.answer, gate.fault);
      return serveWatch(this.watchContext(route.type.plural), res, route, url.searchParams, rec, targeted);
    }
    this.inFlight++;
    try {
      const gate = targeted ? await faultGate(this.faults, this.flavor, cls, route, rec) : 'go';
      if (typeof gate === 'object') return reply(gate.answer, gate.fault);
      const current = route.name !== undefined && cls !== 'get' && cls !== 'create' ? this.store.get(route.type.plural, route.namespace, route.name) : undefined;
      if (current) rec.pending = pendingNames(current);
      const outcome = await this.dispatch(cls, route, req.headers['content-type'], rec.body, url.searchParams, token);
      if (outcome.trace) {
        rec.trace = outcome.trace;
        const created = cls === 'create' ? (outcome.answer.body as Obj).metadata?.name : route.name;
        rec.object = { plural: route.type.plural, namespace: route.namespace, name: created };
      }
      // A write that landed but whose answer is lost (a 504 after the commit, a dropped connection).
      if (gate === 'fail-after-apply' && outcome.trace) {
        this.faults.count('applied-then-504');
        return reply(S.createTimeout(this.flavor, '30s'), 'applied-then-504');
      }
      reply(outcome.answer);
    } finally {
      this.inFlight--;
    }
  }

  private watchContext(plural: string): WatchContext {
    return {
      store: this.store,
      hub: this.hub,
      faults: this.faults,
      goneAs: this.goneAs,
      deliver: this.tracked.has(plural) ? (delivery) => this.deliveries.push({ ...delivery, at: this.now() }) : undefined,
      expired: () => this.expiredResumes++,
    };
  }

  private special(pathname: string): S.Answer | undefined {
    if (pathname === '/version') return { code: 200, body: versionInfo(this.flavor) };
    if (pathname === '/apis/admissionregistration.k8s.io/v1alpha1') return this.initializerApi ? { code: 200, body: discovery.initializers } : undefined;
    if (pathname === '/apis/meshinit.dev/v1alpha1') return { code: 200, body: discovery.meshConfigs(this.registry.options.statusSubresource) };
    return undefined;
  }

  private async dispatch(cls: RequestClass, route: Route, contentType: string | undefined, body: unknown, query: URLSearchParams, token: string | undefined): Promise<Outcome> {
    switch (cls) {
      case 'get':
        return { answer: this.registry.get(route) };
      case 'list': {
        const { answer, items } = this.registry.list(route, query);
        if (this.tracked.has(route.type.plural)) {
          for (const item of items) this.deliveries.push({ token, plural: route.type.plural, name: item.metadata?.name ?? '', resourceVersion: item.metadata?.resourceVersion ?? '', via: 'list', at: this.now() });
        }
        return { answer };
      }
      case 'create':
        return this.registry.create(route, body, query);
      case 'patch':
        return this.registry.patch(route, contentType, body);
      case 'update':
        return this.registry.put(route, body);
      case 'delete':
        return this.registry.remove(route);
      default:
        return { answer: S.status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource') };
    }
  }
}
