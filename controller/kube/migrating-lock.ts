// A Lease lock that also holds the ConfigMap lock, as client-go's MultiLock ("configmapsleases")
// does, so that replicas which chose differently cannot both lead. That happens when the API server
// is upgraded from 1.11 (no Leases, ConfigMap lock) to 1.12+ (Leases served) while meshinit runs:
// the replicas started before still use only the ConfigMap, a replica started after discovers
// Leases. Holding both, the newer one waits for the older one's ConfigMap lease, and the older one
// sees the newer one's renewals of the ConfigMap and stands by.
import type { LeaderElectionRecord } from '../core/leadership.ts';
import { LockWriteAbandoned, type LeaderLock, type LockSnapshot } from './leader-lock.ts';

interface Parts {
  lease: LockSnapshot;
  configMap: LockSnapshot;
}

/** The record that decides: another holder on either lock wins (we must wait for it); else the Lease's. */
function decidingRecord(parts: Parts, identity: string): LeaderElectionRecord | undefined {
  const foreign = [parts.configMap.record, parts.lease.record].find((record) => record && record.holderIdentity !== '' && record.holderIdentity !== identity);
  return foreign ?? parts.lease.record ?? parts.configMap.record;
}

export function createMigratingLock(lease: LeaderLock, configMap: LeaderLock, identity: string): LeaderLock {
  const parts = new WeakMap<LockSnapshot, Parts>();
  const combine = (both: Parts): LockSnapshot => {
    const snapshot: LockSnapshot = {
      // Any write to either object is a change the standby's lease count starts again from.
      resourceVersion: both.lease.resourceVersion === undefined && both.configMap.resourceVersion === undefined
        ? undefined
        : `${both.lease.resourceVersion ?? '-'}/${both.configMap.resourceVersion ?? '-'}`,
      record: decidingRecord(both, identity),
      unreadable: both.lease.unreadable || both.configMap.unreadable,
      object: undefined,
    };
    parts.set(snapshot, both);
    return snapshot;
  };
  return {
    kind: 'Lease',
    description: `${lease.description} and ${configMap.description}`,
    async read() {
      const [leaseSnapshot, configMapSnapshot] = await Promise.all([lease.read(), configMap.read()]);
      return combine({ lease: leaseSnapshot, configMap: configMapSnapshot });
    },
    async write(record, basis, stillFresh) {
      const both = parts.get(basis);
      if (!both) throw new Error('migrating lock: write without a snapshot read through this lock');
      // The ConfigMap first: it is the lock older replicas read, and its compare-and-swap failing
      // leaves nothing half-taken. If the Lease write then fails, this replica does not lead; the
      // ConfigMap names it until its lease runs out, which only makes others wait.
      const configMapWritten = await configMap.write(record, both.configMap);
      // The process may have been paused while the ConfigMap's answer waited (SIGSTOP, a frozen
      // VM): by now another replica may have taken both locks, and a Lease write on the old read
      // would be a write sent without the lock. Seen on v1.13.0: a replica thawed 8 s after
      // SIGSTOP sent its Lease PUT and got 409.
      if (stillFresh && !stillFresh()) throw new LockWriteAbandoned(configMap.description, lease.description);
      const leaseWritten = await lease.write(record, both.lease);
      return combine({ lease: leaseWritten, configMap: configMapWritten });
    },
  };
}
