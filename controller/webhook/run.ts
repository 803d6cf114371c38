// Webhook mode wiring: MeshConfig and Namespace caches, the serving certificate, the HTTPS listener.
import { SidecarMemo } from '../core/sidecar-memo.ts';
import { WORKLOAD_KINDS, type KubeObject, type KubeServer, type WorkloadKind, type WorkloadMetadata } from '../core/types.ts';
import type { CountedWorkload } from '../core/meshconfig-counts.ts';
import { countedWorkload, createWorkloadSummariser, rolloutCandidate, SUMMARY_ROLLOUT } from '../core/workload-summary.ts';
import { createClusterConfig, informerErrorLogger } from '../kube/cluster-config.ts';
import { countFromCaches, MeshConfigStatusWriter } from '../kube/meshconfig-status-writer.ts';
import { createInformer } from '../kube/informer.ts';
import { workloadDescriptor } from '../kube/resources.ts';
import type { KubeApi } from '../kube/types.ts';
import { publishCaBundle } from '../kube/webhook-configuration.ts';
import { createEventRecorder } from '../kube/events.ts';
import { fenceWrites, type Leadership } from '../kube/leader-election.ts';
import { RolloutRunner } from '../kube/rollout-runner.ts';
import { PodMarksRefresher } from '../kube/pod-marks-refresher.ts';
import { scanPodMarks } from '../kube/pod-scan.ts';
import type { PodMarks } from '../core/pod-marks.ts';
import { rolloutFacts } from '../core/rollout-progress.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { WebhookOptions } from '../options.ts';
import type { AdmissionContext } from './admission.ts';
import { createWebhookHandler } from './app.ts';
import { generateSelfSignedCertificates } from './certificates.ts';
import { startWebhookServer, type TlsSource, type WebhookServer } from './server.ts';
import { warmAdmission } from './warmup.ts';

export interface WebhookRuntimeConfig {
  webhook: WebhookOptions;
  controllerNamespace: string;
  /** `--namespace`: inject only there. */
  namespaces: readonly string[];
  /** How often MeshConfig status counts are refreshed (DEFAULT_STATUS_PERIOD_MS); tests shorten it. */
  statusPeriodMs?: number;
  /** How often the rollout of changed MeshConfigs plans (DEFAULT_ROLLOUT_PERIOD_MS). */
  rolloutPeriodMs?: number;
  /** --target pods: how often Pods are read while a rollout is wanted (POD_SCAN_PERIOD_MS). */
  podScanPeriodMs?: number;
  /** The server's version (discovered at start-up): it decides the sidecar layout (nativeSidecar). */
  server?: KubeServer;
}

export interface WebhookRuntime {
  notReadyReason(): string | undefined;
  server: WebhookServer;
  stop(): Promise<void>;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * What a Pod decision keeps of its workload: identity, labels, annotations (not the pod template),
 * and what a rollout needs to know of it (generations, updated replicas, the template's opt-out).
 */
function metadataOnly(object: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion, labels, annotations } = object.metadata ?? {};
  return { apiVersion: object.apiVersion, kind: object.kind, metadata: { name, namespace, uid, resourceVersion, labels, annotations }, [SUMMARY_ROLLOUT]: Object.freeze(rolloutFacts(object)) };
}

/** LIST pages, as in the Initializer mode (client-go's default): a cluster's workloads are never held raw at once. */
const WORKLOAD_PAGE_SIZE = 500;

/**
 * Deployments, StatefulSets, DaemonSets and Jobs by namespace/name, never whole (a few hundred
 * bytes each, not the template): with --target pods their metadata, so a Pod is judged as its
 * workload without an API read; with --target workloads their summary (identity, labels, whose
 * sidecar the template carries), for MeshConfig status counts.
 */
function createWorkloadCaches(api: KubeApi, log: Logger, transform: (object: KubeObject) => KubeObject, metrics: Metrics | undefined) {
  const informers = new Map(WORKLOAD_KINDS.map((kind) => [kind, createInformer<KubeObject>({
    api, descriptor: workloadDescriptor(kind), transform, pageSize: WORKLOAD_PAGE_SIZE, onError: informerErrorLogger(log, workloadDescriptor(kind).plural), ...(metrics ? { metrics } : {}),
  })]));
  return {
    start: () => informers.forEach((informer) => informer.start()),
    stop: async () => { await Promise.all([...informers.values()].map((informer) => informer.stop())); },
    synced: () => [...informers.values()].every((informer) => informer.hasSynced()),
    get: (kind: WorkloadKind, namespace: string, name: string): WorkloadMetadata | undefined => {
      const object = informers.get(kind)?.get(`${namespace}/${name}`);
      return object?.metadata ? { kind, metadata: object.metadata } : undefined;
    },
    /** With --target pods and a reading of the Pods, each workload carries its Pods' oldest record, as for the rollout. */
    *counted(podMarks?: PodMarks): Iterable<CountedWorkload> {
      for (const [kind, informer] of informers) {
        for (const object of informer.list()) {
          const counted = countedWorkload(kind, object);
          yield podMarks ? { ...counted, injection: podMarks.of(kind, counted.namespace, counted.name)[0] } : counted;
        }
      }
    },
    /**
     * With --target pods the templates carry no record: `podMarks` says which sidecar each
     * workload's Pods carry (the oldest first, the one a restart is for).
     */
    *rolloutCandidates(podMarks?: PodMarks) {
      for (const [kind, informer] of informers) {
        for (const object of informer.list()) {
          const candidate = rolloutCandidate(kind, object);
          yield podMarks ? { ...candidate, injection: podMarks.of(kind, candidate.namespace, candidate.name)[0] } : candidate;
        }
      }
    },
  };
}

export interface WebhookDeps {
  api: KubeApi;
  log: Logger;
  metrics?: Metrics;
  /**
   * Either target: the replica holding it rolls changed MeshConfigs out (admission needs no
   * leader: every replica answers). Not started yet: it starts with the first MeshConfig of
   * updatePolicy Rollout. Without it this replica rolls out alone.
   */
  rolloutLeadership?: Leadership & { start(): void };
}

export async function startWebhook(config: WebhookRuntimeConfig, deps: WebhookDeps): Promise<WebhookRuntime> {
  const { api, log, metrics } = deps;
  const options = config.webhook;
  let tls: TlsSource;
  if (options.tls?.kind === 'files') {
    tls = options.tls;
  } else if (options.tls?.kind === 'self-signed') {
    const hosts = options.tls.hosts;
    const generated = generateSelfSignedCertificates({ dnsNames: hosts.filter((h) => !IPV4.test(h) && !h.includes(':')), ipAddresses: hosts.filter((h) => IPV4.test(h) || h.includes(':')) });
    const webhooks = await publishCaBundle(api, options.configurationName, generated.caPem);
    log.info('Self-signed CA published', { webhookConfiguration: options.configurationName, webhooks, hosts });
    tls = { kind: 'inline', certPem: generated.certPem, keyPem: generated.keyPem };
  } else {
    throw new Error('webhook mode needs a serving certificate: pass --tls-cert-file and --tls-key-file, or --self-signed');
  }
  // Every replica writes status (webhook replicas are stateless and alike): a write happens only
  // when status differs, so replicas agreeing on the counts write once between them.
  const statusWriter = new MeshConfigStatusWriter(api, log);
  const onMeshConfigChange = (): void => {
    // The election starts with the first Rollout MeshConfig: until one exists the webhook needs no
    // lock (nor the Role for it), and says nothing about one.
    if (clusterConfig.meshConfigs().some((mc) => mc.spec.updatePolicy === 'Rollout')) deps.rolloutLeadership?.start();
    podMarks?.requestScan();
    void rollouts.tick();
  };
  const clusterConfig = createClusterConfig({ api, log, statusWriter, onMeshConfigChange, ...(metrics ? { metrics } : {}), ...(config.server ? { server: config.server } : {}) });
  const workloads = createWorkloadCaches(api, log, options.target === 'pods' ? metadataOnly : createWorkloadSummariser(), metrics);
  const owners = options.target === 'pods' ? workloads : undefined;
  const events = createEventRecorder(api, log, metrics ? { metrics } : {});
  let synced = false;
  // The API server calls the webhook for every create whatever we know: without MeshConfigs the
  // answer is "allowed, uninjected" with the reason, and /readyz says what is missing.
  const notReadyReason = (): string | undefined => {
    const unavailable = clusterConfig.meshConfigsUnavailable();
    if (unavailable !== undefined) return `admitting without a sidecar: ${unavailable}`;
    if (!synced) return 'namespaces not synced yet';
    return owners && !owners.synced() ? 'workload caches not synced yet (Pods are judged on their own labels meanwhile)' : undefined;
  };
  const context: AdmissionContext = {
    target: options.target,
    namespace: clusterConfig.namespace,
    meshConfigs: clusterConfig.meshConfigs,
    meshConfigsUnavailable: clusterConfig.meshConfigsUnavailable,
    controllerNamespace: config.controllerNamespace,
    injectNamespaces: config.namespaces,
    ...(owners ? { workload: owners.get } : {}),
    sidecars: new SidecarMemo(),
  };
  const handler = createWebhookHandler({
    context,
    log,
    notReadyReason,
    now: () => performance.now(),
    events,
    ...(metrics ? { metrics } : {}),
  });
  const server = await startWebhookServer({ address: options.address, tls, handler, log });
  // Rollout writes (the workload PATCHes and their Events) go through the fence: only the leader's leave the process.
  const leadership = deps.rolloutLeadership;
  const isLeader = (): boolean => leadership?.isLeader() ?? true;
  const rolloutApi = leadership ? fenceWrites(api, leadership) : api;
  // --target pods: the sidecar is in the Pods, so the rollout reads them (paged, while a rollout is
  // wanted) and restarts a workload whose Pods carry an older sidecar, as kubectl rollout restart does.
  const podMarks = options.target === 'pods'
    ? new PodMarksRefresher({
      scan: () => scanPodMarks(api, { namespaces: config.namespaces }), log, isLeader, onScanned: () => void rollouts.tick(),
      needed: () => clusterConfig.meshConfigs().some((mc) => mc.spec.updatePolicy === 'Rollout' && !mc.spec.rollout.paused),
      ...(config.podScanPeriodMs !== undefined ? { periodMs: config.podScanPeriodMs } : {}),
    })
    : undefined;
  const rolloutEvents = createEventRecorder(rolloutApi, log, metrics ? { metrics } : {});
  const rollouts = new RolloutRunner({
    api: rolloutApi, log, events: rolloutEvents, isLeader, strategy: podMarks ? 'restart' : 'reinject',
    ...(metrics ? { metrics } : {}), ...(config.rolloutPeriodMs !== undefined ? { periodMs: config.rolloutPeriodMs } : {}),
    source: {
      // Pods not read yet: no workload looks outdated, rather than every one looking uninjected.
      synced: () => synced && workloads.synced() && (podMarks === undefined || podMarks.marks() !== undefined),
      workloads: () => workloads.rolloutCandidates(podMarks?.marks()), meshConfigs: clusterConfig.meshConfigs, namespace: clusterConfig.namespace,
      policy: { controllerNamespace: config.controllerNamespace, injectNamespaces: config.namespaces },
    },
  });
  // Started only now that everything their callbacks reach (onMeshConfigChange: podMarks,
  // rollouts) exists.
  clusterConfig.start();
  workloads.start();
  statusWriter.startRecounting(countFromCaches({
    synced: () => synced && workloads.synced(),
    workloads: () => workloads.counted(podMarks?.marks()),
    meshConfigs: clusterConfig.meshConfigs,
    namespace: clusterConfig.namespace,
    policy: { controllerNamespace: config.controllerNamespace, injectNamespaces: config.namespaces },
    // --target pods injects Pods, which are not cached: templates carry no record, and the Pods'
    // records are known only while the rollout reads them, on the replica leading it.
    recordsVisible: podMarks ? () => podMarks.marks() !== undefined : true,
    fromPods: podMarks !== undefined,
    rollout: (name) => rollouts.status(name),
    ...(config.statusPeriodMs !== undefined ? { periodMs: config.statusPeriodMs } : {}),
  }));
  rollouts.start();
  podMarks?.start();
  void clusterConfig.waitForSync().then(() => {
    // Before ready, not before listening: the API server may call at any time. The warm-up holds
    // the event loop for at most its budget (1 s), so such a request waits at most that long.
    const warmup = warmAdmission(context, { now: () => performance.now() });
    synced = true;
    log.info('Webhook serving', {
      port: server.port(), target: options.target, meshConfigs: clusterConfig.meshConfigs().map((mc) => mc.name),
      warmup: { reviews: warmup.iterations, ms: Math.round(warmup.ms), action: warmup.action },
    });
  });
  return {
    notReadyReason,
    server,
    async stop() {
      await server.close();
      rollouts.stop();
      await podMarks?.stop();
      rolloutEvents.stop();
      events.stop();
      await Promise.all([clusterConfig.stop(), workloads.stop()]);
    },
  };
}
