// Reads which sidecar every workload's Pods carry (webhook --target pods), by paging through the
// Pods instead of caching them: meshinit keeps no Pod informer (it would hold every Pod of the
// cluster to answer a question about a few workloads), so a scan runs only while a MeshConfig with
// updatePolicy: Rollout has something to roll, and its memory is gone when it returns.
import { PodMarks } from '../core/pod-marks.ts';
import type { KubeObject } from '../core/types.ts';
import { isKubeApiError } from './errors.ts';
import { collectionPath, POD } from './resources.ts';
import type { KubeApi } from './types.ts';

/** As the informers page their LISTs: a cluster's Pods are never held raw at once. */
export const POD_SCAN_PAGE_SIZE = 500;

export interface PodScanOptions {
  /** `--namespace`: scan only these (meshinit injects only there); all namespaces when empty. */
  namespaces: readonly string[];
  pageSize?: number;
}

async function scanPath(api: KubeApi, path: string, pageSize: number | undefined, marks: PodMarks): Promise<void> {
  let token: string | undefined;
  do {
    const page = await api.list<KubeObject>(path, { ...(pageSize ? { limit: pageSize } : {}), ...(token ? { continue: token } : {}) });
    for (const pod of page.items) marks.add(pod);
    token = pageSize ? page.metadata.continue || undefined : undefined;
  } while (token);
}

/** The records of every live injected Pod, by workload. Rejects with the API error of a failed page. */
export async function scanPodMarks(api: KubeApi, options: PodScanOptions): Promise<PodMarks> {
  const paths = options.namespaces.length > 0 ? options.namespaces.map((ns) => collectionPath(POD, ns)) : [collectionPath(POD)];
  const pageSize = options.pageSize ?? POD_SCAN_PAGE_SIZE;
  try {
    const marks = new PodMarks();
    for (const path of paths) await scanPath(api, path, pageSize, marks);
    return marks;
  } catch (err) {
    // 410: the snapshot a continue token points into was compacted away (etcd compacts every few
    // minutes); start over with unpaged LISTs rather than race the compaction again.
    if (!(isKubeApiError(err) && err.isGone)) throw err;
    const marks = new PodMarks();
    for (const path of paths) await scanPath(api, path, undefined, marks);
    return marks;
  }
}
