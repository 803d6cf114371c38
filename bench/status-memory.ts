// What MeshConfig status counting costs the Initializer mode's workload caches (issue 10), in one
// process, without a server: N injected Deployments shaped as kube-apiserver v1.13 returns them
// (the sample MeshConfig's sidecar, with its placeholders, injected by the real core) are kept as
// the cache keeps an initialized workload: (a) identity only, as before issue 10; (b) the summary
// counting needs (identity, labels, the record's MeshConfig and hash); (b) again after a count,
// which remembers each workload's expected hash. Heap and RSS after a full GC, and the time of a
// first (hashing) and a later (remembered) count.
//   node --expose-gc --import tsx bench/status-memory.ts [--workloads 20000,50000]
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { injectWorkload } from '../controller/core/inject.ts';
import { parseMeshConfig } from '../controller/core/meshconfig.ts';
import { countMeshConfigWorkloads, ExpectedHashes } from '../controller/core/meshconfig-counts.ts';
import type { KubeObject, MeshConfig, Workload } from '../controller/core/types.ts';
import { deepFreeze } from '../controller/core/untrusted.ts';
import { countedWorkload, createWorkloadSummariser } from '../controller/core/workload-summary.ts';

const MB = 1024 * 1024;
const { values } = parseArgs({ options: { workloads: { type: 'string', default: '20000,50000' } } });
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const parsed = parseMeshConfig(parse(fs.readFileSync('manifests/meshconfig-sample.yaml', 'utf8')));
if (!parsed.ok) throw new Error(parsed.error.message);
const meshConfig: MeshConfig = { ...parsed.meshConfig, generation: 3 };

/** The JSON text the server sends for one injected Deployment (parsed per object, as the informer does). */
function injectedJson(i: number): string {
  const name = `bench-${i}`;
  const labels = { app: name, tier: 'bench' };
  const workload: Workload = {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: {
      name, namespace: `bench-mem-${i % 10}`, uid: `0b9c1c5e-0000-11e9-8000-${String(i).padStart(12, '0')}`, resourceVersion: String(100000 + i),
      generation: 1, creationTimestamp: '2026-11-30T19:00:00Z', selfLink: `/apis/apps/v1/namespaces/bench-mem-${i % 10}/deployments/${name}`, labels,
    },
    spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.13', ports: [{ containerPort: 80 }] }] } } },
  };
  const object = injectWorkload(workload, { ...meshConfig, generation: 3 }).object;
  return JSON.stringify({ ...object, status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 } });
}

function identityOnly(object: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion } = object.metadata ?? {};
  return { apiVersion: object.apiVersion, kind: object.kind, metadata: { name, namespace, uid, resourceVersion } };
}

function measure(): { heapMb: number; rssMb: number } {
  gc!();
  gc!();
  const usage = process.memoryUsage();
  return { heapMb: usage.heapUsed / MB, rssMb: usage.rss / MB };
}

function keep(count: number, transform: (object: KubeObject) => KubeObject): Map<string, KubeObject> {
  const cache = new Map<string, KubeObject>();
  for (let i = 0; i < count; i++) {
    const object = deepFreeze(transform(JSON.parse(injectedJson(i)) as KubeObject));
    cache.set(`${object.metadata?.namespace}/${object.metadata?.name}`, object);
  }
  return cache;
}

function countOnce(cache: Map<string, KubeObject>, hashes: ExpectedHashes, mc: MeshConfig): number {
  const started = performance.now();
  const counts = countMeshConfigWorkloads({
    workloads: [...cache.values()].map((object) => countedWorkload('Deployment', object)),
    meshConfigs: [mc], namespace: (name) => ({ name, labels: {} }), policy: {}, recordsVisible: true, hashes,
  });
  const ms = performance.now() - started;
  const mine = counts.get(mc.name);
  if (mine?.injected !== cache.size) throw new Error(`counted ${JSON.stringify(mine)} of ${cache.size}`);
  return ms;
}

for (const count of values.workloads.split(',').map(Number)) {
  const base = measure();
  let cache = keep(count, identityOnly);
  const identity = measure();
  cache = new Map();
  measure();
  cache = keep(count, createWorkloadSummariser());
  const summary = measure();
  const hashes = new ExpectedHashes();
  // The generation in the record names the spec: no hashing (1.13 and later).
  const byGenerationMs = countOnce(cache, hashes, meshConfig);
  // 1.9 (generation 0 everywhere) or right after an edit: every workload's hash, then remembered.
  const onOld = { ...meshConfig, generation: 7 };
  const firstMs = countOnce(cache, hashes, onOld);
  const laterMs = countOnce(cache, hashes, { ...onOld });
  const counted = measure();
  const per = (m: { heapMb: number }): string => `${(((m.heapMb - base.heapMb) * MB) / count).toFixed(0)} B/workload`;
  console.log(JSON.stringify({
    workloads: count,
    identityOnly: { heapMb: +(identity.heapMb - base.heapMb).toFixed(1), perWorkload: per(identity) },
    summary: { heapMb: +(summary.heapMb - base.heapMb).toFixed(1), perWorkload: per(summary) },
    summaryAfterCount: { heapMb: +(counted.heapMb - base.heapMb).toFixed(1), perWorkload: per(counted), rssMb: +counted.rssMb.toFixed(1) },
    countMs: { sameGeneration: Math.round(byGenerationMs), hashingEvery: Math.round(firstMs), remembered: Math.round(laterMs) },
  }));
  cache.clear();
}
