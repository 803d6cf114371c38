// What every mode needs to decide: the MeshConfigs in force and the namespaces' labels, kept in
// informer caches so no decision costs an API read. MeshConfig verdicts are written to status.
//
// Every workload create in the cluster waits for meshinit, so nothing here may hold workloads
// back: when MeshConfigs cannot be read (the CRD is not installed yet, RBAC refuses the list, the
// server is slow) the caller learns why from meshConfigsUnavailable() and releases workloads
// unchanged, as failurePolicy Ignore would, while the informer keeps trying and picks the CRD
// and its MeshConfigs up as soon as they appear.
import type { Backoff } from '../backoff.ts';
import type { KubeObject, KubeServer, MeshConfig, NamespaceInfo } from '../core/types.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { isKubeApiError } from './errors.ts';
import { createInformer } from './informer.ts';
import { MeshConfigStatusWriter } from './meshconfig-status-writer.ts';
import { specChanged } from './meshconfig-status.ts';
import { MeshConfigStore } from './meshconfig-store.ts';
import { MESHCONFIG, NAMESPACE, collectionPath } from './resources.ts';
import type { KubeApi } from './types.ts';

export interface ClusterConfig {
  start(): void;
  /**
   * Resolves true once MeshConfigs and namespaces are listed, or false after `timeoutMs` (when
   * given) if they are not: the caller goes on without them rather than hold workloads.
   */
  waitForSync(timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
  namespace(name: string): NamespaceInfo | undefined;
  meshConfigs(): readonly MeshConfig[];
  /** Why no MeshConfig can be used right now, with what fixes it; undefined when they are loaded. */
  meshConfigsUnavailable(): string | undefined;
  store: MeshConfigStore;
}

export interface ClusterConfigOptions {
  api: KubeApi;
  log: Logger;
  informerBackoff?: Backoff;
  /** Writes MeshConfig status; the caller passes one that also counts workloads (and knows the leader). */
  statusWriter?: MeshConfigStatusWriter;
  /** MeshConfigs by validity and generation in use; informer relists. */
  metrics?: Pick<Metrics, 'meshConfigRead' | 'meshConfigRemoved' | 'relisted' | 'watchRestarted'>;
  /** After a MeshConfig was added, changed or deleted (the rollout plans again at once). */
  onMeshConfigChange?: () => void;
  /** The server's version (discovered at start-up): it decides the sidecar layout (nativeSidecar). */
  server?: KubeServer;
}

/** The command that installs the CRD, as README.md gives it. */
export const CRD_INSTALL_HINT = 'kubectl apply -f crds/meshconfig.v1beta1.yaml (crds/meshconfig.v1.yaml on Kubernetes >= 1.16)';

// A missing CRD is the common case right after install: retry the MeshConfig list often enough
// that MeshConfigs are used within seconds of `kubectl apply`, and no more often than that.
const MESHCONFIG_BACKOFF: Backoff = { initialMs: 1000, maxMs: 5000 };

export function informerErrorLogger(log: Logger, resource: string): (error: unknown) => void {
  return (error) => log.warn('Watch failed, relisting after backoff', { resource, error: error instanceof Error ? error.message : String(error) });
}

/** What a failed MeshConfig LIST or WATCH means for an operator, and what fixes it. */
export function describeMeshConfigFailure(error: unknown): { problem: string; crdMissing: boolean } {
  const path = collectionPath(MESHCONFIG);
  if (isKubeApiError(error) && error.isNotFound) {
    return { problem: `the MeshConfig CRD is not installed (GET ${path} answered 404); install it: ${CRD_INSTALL_HINT}`, crdMissing: true };
  }
  if (isKubeApiError(error) && (error.statusCode === 401 || error.statusCode === 403)) {
    return {
      problem: `meshinit may not list MeshConfigs (GET ${path} answered ${error.statusCode}: ${error.serverMessage}); apply meshinit's ClusterRole and binding (kubectl apply -k manifests/initializer, or manifests/webhook in webhook mode)`,
      crdMissing: false,
    };
  }
  return { problem: `MeshConfigs could not be listed: ${error instanceof Error ? error.message : String(error)}`, crdMissing: false };
}

export function createClusterConfig(options: ClusterConfigOptions): ClusterConfig {
  const { api, log } = options;
  const backoff = options.informerBackoff ? { backoff: options.informerBackoff } : {};
  const informerMetrics = options.metrics ? { metrics: options.metrics } : {};
  const namespaces = createInformer<KubeObject>({ api, descriptor: NAMESPACE, onError: informerErrorLogger(log, 'namespaces'), ...backoff, ...informerMetrics });
  // The last failure of the MeshConfig informer, until a LIST succeeds again.
  let failure: { problem: string; crdMissing: boolean } | undefined;
  const meshConfigInformer = createInformer<KubeObject>({
    api,
    descriptor: MESHCONFIG,
    ...informerMetrics,
    backoff: options.informerBackoff ?? MESHCONFIG_BACKOFF,
    onError: (error) => {
      const described = describeMeshConfigFailure(error);
      // Once per distinct problem at error level (it stops every injection); repeats at debug,
      // so a CRD installed an hour later does not leave an hour of identical lines.
      const repeat = failure?.problem === described.problem;
      failure = described;
      log[repeat ? 'debug' : 'error']('MeshConfigs unavailable', {
        problem: described.problem,
        consequence: 'workloads are released without a sidecar until MeshConfigs can be read; meshinit keeps trying every few seconds',
      });
    },
    onListed: () => {
      if (failure) log.info('MeshConfigs readable again', { was: failure.problem, meshConfigs: store.list().map((mc) => mc.name) });
      failure = undefined;
    },
  });
  const store = new MeshConfigStore(log, options.server);
  const statusWriter = options.statusWriter ?? new MeshConfigStatusWriter(api, log);
  const load = (object: KubeObject, notify = true): void => {
    const verdict = store.apply(object);
    const inUse = verdict.valid ? verdict.meshConfig : verdict.serving;
    options.metrics?.meshConfigRead({ name: verdict.name, valid: verdict.valid, ...(inUse ? { generationInUse: inUse.generation } : {}) });
    void statusWriter.report(object, verdict);
    // Not for a write of status alone (ours, every few seconds during a rollout): what listens
    // (the rollout, its reading of every Pod with --target pods) cares about the spec only.
    if (notify) options.onMeshConfigChange?.();
  };
  meshConfigInformer.on('add', (object) => load(object));
  meshConfigInformer.on('update', (previous, object) => {
    if (previous !== object) load(object, specChanged(previous, object));
  });
  meshConfigInformer.on('delete', (object) => {
    store.remove(object.metadata?.name ?? '');
    statusWriter.forget(object.metadata?.name ?? '');
    options.metrics?.meshConfigRemoved(object.metadata?.name ?? '');
    options.onMeshConfigChange?.();
  });
  return {
    store,
    start() {
      namespaces.start();
      meshConfigInformer.start();
    },
    async waitForSync(timeoutMs) {
      const synced = Promise.all([namespaces.waitForSync(), meshConfigInformer.waitForSync()]).then(() => true);
      if (timeoutMs === undefined) return synced;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
      try {
        return await Promise.race([synced, deadline]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop() {
      statusWriter.stop();
      await Promise.all([namespaces.stop(), meshConfigInformer.stop()]);
    },
    namespace(name) {
      const object = namespaces.get(name);
      return object ? { name, labels: { ...(object.metadata?.labels ?? {}) } } : undefined;
    },
    meshConfigs: () => store.list(),
    meshConfigsUnavailable() {
      // Listed once and failing since for a passing reason (a watch cut, a 5xx): the cached
      // MeshConfigs are still the right ones. Never listed, or the CRD gone: there are none.
      if (meshConfigInformer.hasSynced() && !failure?.crdMissing) return undefined;
      return failure?.problem ?? 'MeshConfigs are not loaded yet (the first LIST has not answered)';
    },
  };
}
