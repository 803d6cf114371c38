// Objects the controller tests create, shaped as the API server stores them.
import type { KubeObject } from '../../controller/core/types.ts';

/** An uninitialized Pod (with `initializer` pending) whose controlling owner is `owner`. */
export function uninitializedPod(name: string, owner: { kind: string; name: string }, initializer: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      ownerReferences: [{ apiVersion: owner.kind === 'Job' ? 'batch/v1' : 'apps/v1', kind: owner.kind, name: owner.name, uid: `uid-${owner.name}`, controller: true }],
      initializers: { pending: [{ name: initializer }] },
    },
    spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox:1.28' }] },
  };
}
