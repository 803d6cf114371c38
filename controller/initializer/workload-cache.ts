// What the Initializer mode keeps of each workload in its informer caches. Sync reads a cached
// object only while it is uninitialized (it acts when our name is first in
// metadata.initializers.pending, and leaves alone an object whose initializers carry a failure
// result); everything else -- in a settled cluster, almost every object -- is cached so that a
// relist can tell what changed, the cache knows the key, and MeshConfig status can count it. A
// whole small Deployment costs about 4.5 KB of heap, its summary (core/workload-summary.ts:
// identity, labels, the injection record's MeshConfig and hash) a tenth of that, so at 50,000
// workloads this is most of the process's memory.
//
// An object that becomes uninitialized again cannot: initializers are set only at creation. The
// event that hands an object over to us (created pending, or the initializer before us removing
// its entry) carries the whole object, which is kept whole for as long as it is pending.
import type { KubeObject } from '../core/types.ts';
import type { WorkloadSummariser } from '../core/workload-summary.ts';

/** A cache transform: the whole object while it has metadata.initializers; afterwards its summary. */
export function keepWholeWhilePending(summarise: WorkloadSummariser): (object: KubeObject) => KubeObject {
  return (object) => (!object.metadata || object.metadata.initializers !== undefined ? object : summarise(object));
}
