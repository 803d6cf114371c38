// Warms the admission path before /readyz says ready. A fresh Node process runs each function in
// the interpreter until V8 has seen it often enough to compile it: the first few hundred requests
// after a start would each cost several times what they cost later, while the API server is
// already sending Pods. So before the webhook reports ready it answers synthetic AdmissionReviews
// itself, with the MeshConfigs in force, through the same code: parsing, deciding, rendering,
// injecting, diffing, the answer cache and the sidecar memo (throwaway ones) and serialising.
// Nothing is logged and nothing reaches the real caches.
import { SidecarMemo } from '../core/sidecar-memo.ts';
import type { KubeObject } from '../core/types.ts';
import type { AdmissionContext } from './admission.ts';
import { ReviewCache } from './review-cache.ts';

export interface WarmupOptions {
  /** Synthetic reviews answered at most. */
  iterations?: number;
  /** Stop after this long whatever the count, so a slow machine is not kept unready. */
  budgetMs?: number;
  now(): number;
}

export interface WarmupResult {
  iterations: number;
  ms: number;
  /** What the synthetic review got: `injected` when the MeshConfigs in force select it. */
  action: string;
}

const WARMUP_NAMESPACE = 'meshinit-warmup';

/** An AdmissionReview like the API server sends for the `n`th object of the webhook's target. */
function syntheticReview(context: AdmissionContext, namespace: string, n: number, uid: number): string {
  const template = {
    labels: { app: 'warmup', 'pod-template-hash': '5d8f7c9b6' },
    spec: {
      containers: [{ name: 'app', image: `registry.example/warmup:${n}`, ports: [{ containerPort: 8080, protocol: 'TCP' }], resources: {}, terminationMessagePath: '/dev/termination-log', imagePullPolicy: 'IfNotPresent' }],
      restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', securityContext: {}, schedulerName: 'default-scheduler',
    },
  };
  const object: KubeObject = context.target === 'pods'
    ? {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        generateName: 'warmup-5d8f7c9b6-', namespace, labels: template.labels,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'warmup-5d8f7c9b6', uid: '00000000-0000-4000-8000-000000000000', controller: true, blockOwnerDeletion: true }],
      },
      spec: template.spec,
    }
    : {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'warmup', namespace, labels: { app: 'warmup' } },
      spec: { replicas: 1, selector: { matchLabels: { app: 'warmup' } }, template: { metadata: { labels: { app: 'warmup' } }, spec: template.spec } },
    };
  const resource = context.target === 'pods' ? { group: '', version: 'v1', resource: 'pods' } : { group: 'apps', version: 'v1', resource: 'deployments' };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: { uid: `warmup-${uid}`, resource, namespace, operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' }, object, oldObject: null, dryRun: false },
  });
}

/**
 * Answers synthetic reviews until `iterations` or `budgetMs`: every fourth a new object (the
 * uncached path), the rest repeats (the cache's hit path), as a rollout's Pods would come.
 */
export function warmAdmission(context: AdmissionContext, options: WarmupOptions): WarmupResult {
  const iterations = options.iterations ?? 400;
  const budgetMs = options.budgetMs ?? 1000;
  // A namespace the workload would be injected in: --namespace limits injection to its list.
  const namespace = context.injectNamespaces?.[0] ?? WARMUP_NAMESPACE;
  // Throwaway caches: the real ones keep only what real requests bring.
  const cache = new ReviewCache({ ...context, ...(context.sidecars ? { sidecars: new SidecarMemo(4) } : {}) }, { maxEntries: 16 });
  const started = options.now();
  let action = 'none';
  let done = 0;
  while (done < iterations && options.now() - started < budgetMs) {
    const text = Buffer.from(syntheticReview(context, namespace, done - (done % 4), done)).toString('utf8');
    const answer = cache.lookup(text) ?? cache.admit(text, JSON.parse(text));
    action = answer.outcome.decision.action;
    done++;
  }
  return { iterations: done, ms: options.now() - started, action };
}
