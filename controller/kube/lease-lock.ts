// The leader-election record in a coordination.k8s.io Lease (client-go's LeaseLock): the record's
// fields are the Lease's spec, with leaderTransitions named leaseTransitions and the times as
// MicroTime (RFC 3339 with exactly six fractional digits, which the server insists on).
import { parseLeaderElectionRecord, type LeaderElectionRecord } from '../core/leadership.ts';
import { readOrAbsent, resourceVersionOf, type LeaderLock, type LockLocation, type LockSnapshot } from './leader-lock.ts';
import type { KubeApi } from './types.ts';

type Lease = Record<string, unknown> & { spec?: Record<string, unknown> };

/** 2026-11-30T20:00:00.123Z -> 2026-11-30T20:00:00.123000Z */
export function microTime(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000Z');
}

function snapshotOf(lease: Lease | undefined): LockSnapshot {
  const spec = lease?.spec;
  const hasRecord = spec !== undefined && spec.holderIdentity !== undefined;
  const record = hasRecord ? parseLeaderElectionRecord({ ...spec, leaderTransitions: spec.leaseTransitions ?? 0 }) : undefined;
  return { resourceVersion: resourceVersionOf(lease), record, unreadable: hasRecord && record === undefined, object: lease };
}

export function createLeaseLock(api: KubeApi, location: LockLocation, version: 'v1' | 'v1beta1'): LeaderLock {
  const collection = `/apis/coordination.k8s.io/${version}/namespaces/${encodeURIComponent(location.namespace)}/leases`;
  const path = `${collection}/${encodeURIComponent(location.name)}`;
  const specOf = (record: LeaderElectionRecord): Record<string, unknown> => ({
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    ...(record.acquireTime ? { acquireTime: microTime(record.acquireTime) } : {}),
    ...(record.renewTime ? { renewTime: microTime(record.renewTime) } : {}),
    leaseTransitions: record.leaderTransitions,
  });
  return {
    kind: 'Lease',
    description: `leases.coordination.k8s.io/${version} ${location.namespace}/${location.name}`,
    read: async () => snapshotOf(await readOrAbsent<Lease>(api, path)),
    async write(record, basis) {
      if (basis.object === undefined) {
        const created = await api.post<Lease>(collection, {
          apiVersion: `coordination.k8s.io/${version}`, kind: 'Lease',
          metadata: { name: location.name, namespace: location.namespace },
          spec: specOf(record),
        });
        return snapshotOf(created);
      }
      // PUT with the resourceVersion we read: 409 if anyone wrote the Lease since.
      return snapshotOf(await api.put<Lease>(path, { ...basis.object, spec: specOf(record) }));
    },
  };
}
