// What every mode needs to decide: the MeshConfigs in force and the namespaces' labels, kept in
// informer caches so no decision costs an API read. MeshConfig verdicts are written to status.
import type { KubeObject, MeshConfig, NamespaceInfo } from '../core/types.ts';
import type { Logger } from '../logger.ts';
import { createInformer } from './informer.ts';
import { MeshConfigStatusWriter } from './meshconfig-status.ts';
import { MeshConfigStore } from './meshconfig-store.ts';
import { MESHCONFIG, NAMESPACE } from './resources.ts';
import type { KubeApi } from './types.ts';

export interface ClusterConfig {
  start(): void;
  waitForSync(): Promise<void>;
  stop(): Promise<void>;
  namespace(name: string): NamespaceInfo | undefined;
  meshConfigs(): readonly MeshConfig[];
  store: MeshConfigStore;
}

export interface ClusterConfigOptions {
  api: KubeApi;
  log: Logger;
  informerBackoff?: { initialMs: number; maxMs: number };
}

export function informerErrorLogger(log: Logger, resource: string): (error: unknown) => void {
  return (error) => log.warn('Watch failed, relisting after backoff', { resource, error: error instanceof Error ? error.message : String(error) });
}

export function createClusterConfig(options: ClusterConfigOptions): ClusterConfig {
  const { api, log } = options;
  const backoff = options.informerBackoff ? { backoff: options.informerBackoff } : {};
  const namespaces = createInformer<KubeObject>({ api, descriptor: NAMESPACE, onError: informerErrorLogger(log, 'namespaces'), ...backoff });
  const meshConfigInformer = createInformer<KubeObject>({ api, descriptor: MESHCONFIG, onError: informerErrorLogger(log, 'meshconfigs'), ...backoff });
  const store = new MeshConfigStore(log);
  const statusWriter = new MeshConfigStatusWriter(api, log);
  const load = (object: KubeObject): void => {
    void statusWriter.report(object, store.apply(object));
  };
  meshConfigInformer.on('add', load);
  meshConfigInformer.on('update', (previous, object) => {
    if (previous !== object) load(object);
  });
  meshConfigInformer.on('delete', (object) => store.remove(object.metadata?.name ?? ''));
  return {
    store,
    start() {
      namespaces.start();
      meshConfigInformer.start();
    },
    async waitForSync() {
      await Promise.all([namespaces.waitForSync(), meshConfigInformer.waitForSync()]);
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
  };
}
