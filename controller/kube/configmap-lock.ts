// The leader-election record on a ConfigMap (client-go's ConfigMapLock, for servers without
// Leases: 1.9-1.11): the JSON LeaderElectionRecord in the annotation
// control-plane.alpha.kubernetes.io/leader, times in RFC 3339 seconds as metav1.Time writes them.
import { parseLeaderElectionRecord, type LeaderElectionRecord } from '../core/leadership.ts';
import { metadataOf, readOrAbsent, resourceVersionOf, type LeaderLock, type LockLocation, type LockSnapshot } from './leader-lock.ts';
import type { KubeApi } from './types.ts';

/** client-go's LeaderElectionRecordAnnotationKey. */
export const LEADER_ANNOTATION = 'control-plane.alpha.kubernetes.io/leader';

type ConfigMap = Record<string, unknown>;

/** 2026-11-30T20:00:00.123Z -> 2026-11-30T20:00:00Z */
function seconds(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

export function recordAnnotation(record: LeaderElectionRecord): string {
  return JSON.stringify({
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: seconds(record.acquireTime),
    renewTime: seconds(record.renewTime),
    leaderTransitions: record.leaderTransitions,
  });
}

function snapshotOf(configMap: ConfigMap | undefined): LockSnapshot {
  const annotations = metadataOf(configMap).annotations;
  const text = typeof annotations === 'object' && annotations !== null ? (annotations as Record<string, unknown>)[LEADER_ANNOTATION] : undefined;
  if (typeof text !== 'string') return { resourceVersion: resourceVersionOf(configMap), record: undefined, unreadable: false, object: configMap };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const record = parseLeaderElectionRecord(parsed);
  return { resourceVersion: resourceVersionOf(configMap), record, unreadable: record === undefined, object: configMap };
}

export function createConfigMapLock(api: KubeApi, location: LockLocation): LeaderLock {
  const collection = `/api/v1/namespaces/${encodeURIComponent(location.namespace)}/configmaps`;
  const path = `${collection}/${encodeURIComponent(location.name)}`;
  return {
    kind: 'ConfigMap',
    description: `configmaps/v1 ${location.namespace}/${location.name} (annotation ${LEADER_ANNOTATION})`,
    read: async () => snapshotOf(await readOrAbsent<ConfigMap>(api, path)),
    async write(record, basis) {
      if (basis.object === undefined) {
        const created = await api.post<ConfigMap>(collection, {
          apiVersion: 'v1', kind: 'ConfigMap',
          metadata: { name: location.name, namespace: location.namespace, annotations: { [LEADER_ANNOTATION]: recordAnnotation(record) } },
        });
        return snapshotOf(created);
      }
      const metadata = metadataOf(basis.object);
      const annotations = typeof metadata.annotations === 'object' && metadata.annotations !== null ? (metadata.annotations as Record<string, string>) : {};
      // PUT keeps metadata.resourceVersion as read: the server refuses it (409) if anyone wrote since.
      const next = { ...basis.object, metadata: { ...metadata, annotations: { ...annotations, [LEADER_ANNOTATION]: recordAnnotation(record) } } };
      return snapshotOf(await api.put<ConfigMap>(path, next));
    },
  };
}
