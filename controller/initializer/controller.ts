// Wiring for initializer mode: informers feed keys into the work queue, the queue runs sync.
// Handlers only turn objects into keys; all behaviour is in sync. MeshConfigs and Namespaces are
// synced before any workload is looked at, so nothing is released uninjected merely because the
// controller had not loaded its configuration yet -- but for a few seconds at most: the server
// holds every new workload in the cluster for us, so when MeshConfigs cannot be read (no CRD,
// no RBAC) workloads are released unchanged, with the reason, until they can.
import type { Backoff } from '../backoff.ts';
import { isOwnTurn } from '../core/initializers.ts';
import type { KubeObject, KubeServer } from '../core/types.ts';
import { WORKLOAD_KINDS } from '../core/types.ts';
import { recogniseWorkload } from '../core/workload.ts';
import type { CountedWorkload } from '../core/meshconfig-counts.ts';
import { countedWorkload, createWorkloadSummariser, rolloutCandidate } from '../core/workload-summary.ts';
import { isKubeApiError, remedyFor } from '../kube/errors.ts';
import { createInformer, type Informer } from '../kube/informer.ts';
import { createClusterConfig, informerErrorLogger } from '../kube/cluster-config.ts';
import { createEventRecorder } from '../kube/events.ts';
import { NotLeaderError, type Leadership } from '../kube/leader-election.ts';
import type { MeshConfigStore } from '../kube/meshconfig-store.ts';
import { countFromCaches, MeshConfigStatusWriter } from '../kube/meshconfig-status-writer.ts';
import { POD, workloadDescriptor } from '../kube/resources.ts';
import { RolloutRunner } from '../kube/rollout-runner.ts';
import type { KubeApi } from '../kube/types.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { parseRefKey, refKey, syncObject, type ClusterView, type SyncKind } from './sync.ts';
import { KeyedWorkQueue } from './work-queue.ts';
import { keepWholeWhilePending } from './workload-cache.ts';

export interface InitializerControllerConfig {
  namespaces: readonly string[];
  concurrency: number;
  initializerName: string;
  controllerNamespace: string;
  jobPods: boolean;
  resyncPeriodMs: number;
  watchTimeoutSeconds: number;
  /** Work-queue backoff; the defaults suit production, tests shorten them. */
  backoff?: Backoff;
  informerBackoff?: Backoff;
  /** How long start() waits for MeshConfigs and namespaces before handling workloads anyway. */
  configSyncTimeoutMs?: number;
  /** The retry interval after a permanent refusal (403, 401, 400): someone must fix something first. */
  permanentRetryMs?: number;
  /** How often MeshConfig status counts are refreshed (DEFAULT_STATUS_PERIOD_MS); tests shorten it. */
  statusPeriodMs?: number;
  /** How often the rollout of changed MeshConfigs plans (DEFAULT_ROLLOUT_PERIOD_MS). */
  rolloutPeriodMs?: number;
  /** Whether this replica may write MeshConfig status. Default: `leadership`'s verdict, or always. */
  isLeader?: () => boolean;
  /**
   * Leader election: workloads are queued and synced only while this replica leads (and `api`
   * should be fenced with fenceWrites). Without it every replica acts.
   */
  leadership?: Leadership;
  /** The server's version (discovered at start-up): it decides the sidecar layout (nativeSidecar). */
  server?: KubeServer;
}

/** Slow enough not to flood the server and the log, quick enough to notice a fixed RBAC. */
export const DEFAULT_PERMANENT_RETRY_MS = 5 * 60_000;

/** Workloads per LIST page: client-go's default; a page is about a megabyte of JSON. */
export const WORKLOAD_LIST_PAGE_SIZE = 500;

/** Long enough for a healthy server's first LIST, short next to the 30 s a creator waits. */
export const DEFAULT_CONFIG_SYNC_TIMEOUT_MS = 5000;

export interface InitializerControllerDeps {
  api: KubeApi;
  log: Logger;
  /** Served at /metrics; none in tests that do not look. */
  metrics?: Metrics;
  now?: () => number;
}

export interface InitializerController {
  /** Starts informers; resolves once caches are synced and workloads are being processed. */
  start(): Promise<void>;
  /** Stops taking work, lets in-flight patches finish. */
  stop(): Promise<void>;
  ready(): boolean;
  /** Why the controller is not ready (for /readyz and the log); undefined when it is. */
  notReadyReason(): string | undefined;
  /** Resolves when the work queue has nothing queued, running or waiting for a retry (tests). */
  idle(): Promise<void>;
  meshConfigs: MeshConfigStore;
}

export function createInitializerController(config: InitializerControllerConfig, deps: InitializerControllerDeps): InitializerController {
  const { api, log } = deps;
  const now = deps.now ?? (() => performance.now());
  // Always every namespace: an InitializerConfiguration cannot select namespaces, so the server
  // holds new workloads everywhere for us. --namespace limits injection, never the watch (a
  // workload outside it is released unchanged, not left pending until its creator's 504).
  const scopes: Array<string | undefined> = [undefined];
  const { metrics } = deps;
  const leadership = config.leadership;
  const leading = (): boolean => leadership?.isLeader() ?? true;
  // Only the leader writes status: a standby's write would be refused by the fence anyway.
  const statusWriter = new MeshConfigStatusWriter(api, log, { isLeader: config.isLeader ?? leading });
  const events = createEventRecorder(api, log, metrics ? { metrics } : {});
  // Changed MeshConfigs with updatePolicy Rollout re-inject the initialized workloads they injected
  // before (the caches keep those too, as summaries): leader only, through the same fenced api. It
  // reads the caches and the configuration below only when it ticks, after start().
  const rollouts = new RolloutRunner({
    api, log, events, isLeader: leading, ...(metrics ? { metrics } : {}),
    ...(config.rolloutPeriodMs !== undefined ? { periodMs: config.rolloutPeriodMs } : {}),
    source: {
      synced: () => synced, workloads: () => rolloutWorkloads(), meshConfigs: () => clusterConfig.meshConfigs(), namespace: (name) => clusterConfig.namespace(name),
      policy: { controllerNamespace: config.controllerNamespace, injectNamespaces: config.namespaces },
    },
  });
  const clusterConfig = createClusterConfig({
    api, log, statusWriter, onMeshConfigChange: () => void rollouts.tick(),
    ...(metrics ? { metrics } : {}), ...(config.informerBackoff ? { informerBackoff: config.informerBackoff } : {}), ...(config.server ? { server: config.server } : {}),
  });

  const kinds: SyncKind[] = [...WORKLOAD_KINDS, ...(config.jobPods ? (['Pod'] as const) : [])];
  const workloadInformers = new Map<SyncKind, Array<Informer<KubeObject>>>();
  const summarise = createWorkloadSummariser();
  const enqueuers: Array<() => void> = [];
  const queue = new KeyedWorkQueue({
    concurrency: config.concurrency,
    ...(config.backoff ? { backoff: config.backoff } : {}),
    handler: async (key) => {
      // A key queued before leadership was lost is dropped: the next leader queues it again.
      if (!leading()) return;
      try {
        await syncObject(parseRefKey(key), syncDeps);
      } catch (error) {
        if (error instanceof NotLeaderError) return;
        throw error;
      }
    },
    // A workload refused for good (no RBAC, bad credentials) stays pending whatever we do: retry
    // it slowly, so that fixing the cause is noticed, without a line a minute per workload.
    retryDelayMs: (error, _attempt, backoffMs) =>
      isKubeApiError(error) && error.isPermanent ? Math.max(backoffMs, config.permanentRetryMs ?? DEFAULT_PERMANENT_RETRY_MS) : backoffMs,
    onLimitChange: (limit, why) => {
      // Every step down is news (the server's in-flight limit is being hit); steps back up are
      // routine, so only the return to the configured bound is said.
      if (why === 'overloaded') log.warn('API server overloaded (429): processing fewer workloads at once', { concurrency: limit, configured: config.concurrency });
      else if (limit === config.concurrency) log.info('API server keeps up again: back to full concurrency', { concurrency: limit });
    },
    onError: (key, error, info) => {
      if (info.retrying) metrics?.retried(isKubeApiError(error) && error.statusCode === 429);
      const ref = parseRefKey(key);
      const fields = {
        kind: ref.kind, namespace: ref.namespace, name: ref.name,
        error: error instanceof Error ? error.message : String(error),
        attempt: info.attempt, retryInMs: info.delayMs,
      };
      if (isKubeApiError(error) && error.isPermanent) {
        // Said once at error level with what to do; the slow retries after it at warn.
        log[info.attempt === 1 ? 'error' : 'warn']('Sync failed', { ...fields, fix: remedyFor(error), workloadState: 'still pending: the API server holds it until meshinit can release it' });
        return;
      }
      // Retryable (409/429/5xx, network) is routine under load.
      log.warn('Sync failed', fields);
    },
  });

  for (const kind of kinds) {
    const descriptor = kind === 'Pod' ? POD : workloadDescriptor(kind);
    const informers = scopes.map((namespace) => {
      const informer = createInformer<KubeObject>({
        api,
        descriptor,
        ...(namespace ? { namespace } : {}),
        // Uninitialized objects are invisible to LIST and WATCH without this alpha parameter.
        query: { includeUninitialized: true },
        watchTimeoutSeconds: config.watchTimeoutSeconds,
        resyncPeriodMs: config.resyncPeriodMs,
        // Sync reads whole objects only while they are pending; --job-pods also reads whole Jobs.
        ...(kind === 'Job' && config.jobPods ? {} : { transform: keepWholeWhilePending(summarise) }),
        // Pages, so that a cluster's worth of workloads is never held raw at once.
        pageSize: WORKLOAD_LIST_PAGE_SIZE,
        onError: informerErrorLogger(log, descriptor.plural),
        ...(metrics ? { metrics } : {}),
        ...(config.informerBackoff ? { backoff: config.informerBackoff } : {}),
      });
      // Add, update and resync all count: an object that was not ours to take when it was added
      // becomes ours when the initializer before us removes itself, which arrives as an update.
      const enqueue = (object: KubeObject): void => {
        if (!leading()) return;
        if (!isOwnTurn(object.metadata, config.initializerName)) return;
        queue.add(refKey({ kind, namespace: object.metadata?.namespace ?? '', name: object.metadata?.name ?? '' }));
      };
      enqueuers.push(() => {
        for (const object of informer.list()) enqueue(object);
      });
      informer.on('add', enqueue);
      informer.on('update', (_previous, object) => enqueue(object));
      return informer;
    });
    workloadInformers.set(kind, informers);
  }

  // A new leader's first work: every workload its warm caches hold that still waits for us (the
  // old leader's queue died with its leadership). A standby queues nothing.
  leadership?.onLeadershipChange((isLeading) => {
    if (!isLeading) return;
    const before = queue.size + queue.pending;
    for (const enqueueAll of enqueuers) enqueueAll();
    log.info('Queued every pending workload in the caches', { queued: queue.size + queue.pending - before, cachesSynced: synced });
  });

  const find = (kind: SyncKind, namespace: string, name: string): KubeObject | undefined => {
    for (const informer of workloadInformers.get(kind) ?? []) {
      const object = informer.get(`${namespace}/${name}`);
      if (object) return object;
    }
    return undefined;
  };
  // What MeshConfig status counts: every cached workload (Pods of --job-pods are not workloads).
  function* cachedWorkloads(): Iterable<CountedWorkload> {
    for (const kind of WORKLOAD_KINDS) {
      for (const informer of workloadInformers.get(kind) ?? []) for (const object of informer.list()) yield countedWorkload(kind, object);
    }
  }
  const view: ClusterView = {
    object: (ref) => find(ref.kind, ref.namespace, ref.name),
    job: (namespace, name) => {
      const job = find('Job', namespace, name);
      const recognised = job ? recogniseWorkload(job) : undefined;
      return recognised?.ok ? recognised.value : undefined;
    },
    namespace: (name) => clusterConfig.namespace(name),
    meshConfigs: () => clusterConfig.meshConfigs(),
    meshConfigsUnavailable: () => clusterConfig.meshConfigsUnavailable(),
  };
  function* rolloutWorkloads() {
    for (const kind of WORKLOAD_KINDS) {
      for (const informer of workloadInformers.get(kind) ?? []) for (const object of informer.list()) yield rolloutCandidate(kind, object);
    }
  }
  const syncDeps = {
    api, view, log, now,
    initializerName: config.initializerName,
    controllerNamespace: config.controllerNamespace,
    injectNamespaces: config.namespaces,
    events,
    ...(metrics ? { metrics } : {}),
  };
  metrics?.observeQueue({ depth: () => queue.size, inFlight: () => queue.pending, concurrencyLimit: () => queue.concurrencyLimit, longestWaitingSeconds: () => queue.longestWaitingMs / 1000 });

  let synced = false;
  const notReadyReason = (): string | undefined => {
    if (!synced) return 'workload caches not synced yet';
    const unavailable = clusterConfig.meshConfigsUnavailable();
    return unavailable === undefined ? undefined : `releasing workloads without a sidecar: ${unavailable}`;
  };
  return {
    meshConfigs: clusterConfig.store,
    async start() {
      clusterConfig.start();
      const timeoutMs = config.configSyncTimeoutMs ?? DEFAULT_CONFIG_SYNC_TIMEOUT_MS;
      if (await clusterConfig.waitForSync(timeoutMs)) {
        log.info('MeshConfigs and namespaces synced', { meshConfigs: clusterConfig.meshConfigs().map((mc) => mc.name) });
      } else {
        log.error('Handling workloads without a complete configuration', {
          waitedMs: timeoutMs,
          meshConfigs: clusterConfig.meshConfigsUnavailable() ?? 'loaded',
          consequence: 'workloads are not held: until MeshConfigs load they are released without a sidecar; a namespace not yet cached is read directly',
        });
      }
      const informers = [...workloadInformers.values()].flat();
      for (const informer of informers) informer.start();
      await Promise.all(informers.map((informer) => informer.waitForSync()));
      synced = true;
      statusWriter.startRecounting(countFromCaches({
        synced: () => synced,
        workloads: () => cachedWorkloads(),
        meshConfigs: () => clusterConfig.meshConfigs(),
        namespace: (name) => clusterConfig.namespace(name),
        policy: { controllerNamespace: config.controllerNamespace, injectNamespaces: config.namespaces },
        recordsVisible: true,
        rollout: (name) => rollouts.status(name),
        ...(config.statusPeriodMs !== undefined ? { periodMs: config.statusPeriodMs } : {}),
      }));
      rollouts.start();
      log.info('Initializer controller running', {
        initializerName: config.initializerName,
        kinds,
        watching: 'all namespaces',
        injecting: config.namespaces.length > 0 ? config.namespaces : 'all namespaces',
        concurrency: config.concurrency,
      });
    },
    async stop() {
      rollouts.stop();
      await Promise.all([clusterConfig.stop(), ...[...workloadInformers.values()].flat().map((informer) => informer.stop())]);
      await queue.shutdown();
      syncDeps.events.stop();
    },
    ready: () => notReadyReason() === undefined,
    notReadyReason,
    idle: () => queue.onIdle(),
  };
}
