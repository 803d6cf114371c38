// What the Initializer mode keeps of each workload in its informer caches. Sync reads a cached
// object only while it is uninitialized (it acts when our name is first in
// metadata.initializers.pending, and leaves alone an object whose initializers carry a failure
// result); everything else -- in a settled cluster, almost every object -- is cached only so that
// a relist can tell what changed and the cache knows the key. A whole small Deployment costs about
// 4.5 KB of heap, its identity a tenth of that, so at 50,000 workloads this is most of the
// process's memory.
//
// An object that becomes uninitialized again cannot: initializers are set only at creation. The
// event that hands an object over to us (created pending, or the initializer before us removing
// its entry) carries the whole object, which is kept whole for as long as it is pending.
import type { KubeObject } from '../core/types.ts';

/** The whole object while it has metadata.initializers; afterwards only its identity and version. */
export function keepWholeWhilePending(object: KubeObject): KubeObject {
  const metadata = object.metadata;
  if (!metadata || metadata.initializers !== undefined) return object;
  const identity: KubeObject = { metadata: { name: metadata.name, namespace: metadata.namespace, uid: metadata.uid, resourceVersion: metadata.resourceVersion } };
  if (object.apiVersion !== undefined) identity.apiVersion = object.apiVersion;
  if (object.kind !== undefined) identity.kind = object.kind;
  return identity;
}
