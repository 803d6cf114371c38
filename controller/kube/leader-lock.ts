// Where the leader-election record lives: a coordination.k8s.io Lease where the server serves
// one (v1 today, v1beta1 on 1.12-1.13), otherwise (1.9-1.11) the annotation
// control-plane.alpha.kubernetes.io/leader on a ConfigMap, the lock client-go used before Leases.
// Either way one object, read with GET and written with a resourceVersion precondition: a write
// based on a stale read is refused with 409, which is what makes two writers impossible.
import { isKubeApiError } from './errors.ts';
import type { LeaderElectionRecord } from '../core/leadership.ts';
import type { KubeApi } from './types.ts';

export type LockKind = 'Lease' | 'ConfigMap';

/** The lock object as last read. */
export interface LockSnapshot {
  /** undefined: no object yet (the first write creates it). */
  resourceVersion: string | undefined;
  /** undefined: no record in it, or one that could not be parsed (see `unreadable`). */
  record: LeaderElectionRecord | undefined;
  /** A record exists but is malformed: wait it out as if held, then overwrite it. */
  unreadable: boolean;
  /** The object as read, so that a write keeps what else it holds (a ConfigMap's data). */
  object: Record<string, unknown> | undefined;
}

export interface LeaderLock {
  kind: LockKind;
  /** For log lines: resource, group version, namespace/name. */
  description: string;
  read(): Promise<LockSnapshot>;
  /**
   * Creates the object, or replaces it conditionally on `basis.resourceVersion`; resolves with the
   * new snapshot. A lock written with more than one request asks `stillFresh` before each request
   * after the first, and rejects with LockWriteAbandoned when it answers false.
   */
  write(record: LeaderElectionRecord, basis: LockSnapshot, stillFresh?: () => boolean): Promise<LockSnapshot>;
}

/** A multi-request lock write stopped half-way because its basis grew too old to act on. */
export class LockWriteAbandoned extends Error {
  constructor(readonly written: string, readonly skipped: string) {
    super(`wrote ${written}, but the read it was based on is too old now: not writing ${skipped}`);
    this.name = 'LockWriteAbandoned';
  }
}

export interface LockLocation {
  namespace: string;
  name: string;
}

export type LockPreference = 'auto' | 'leases' | 'configmaps';

/** GET that answers undefined for 404, the one error that means "no lock yet". */
export async function readOrAbsent<T>(api: KubeApi, path: string): Promise<T | undefined> {
  try {
    return await api.get<T>(path);
  } catch (error) {
    if (isKubeApiError(error) && error.isNotFound) return undefined;
    throw error;
  }
}

export function metadataOf(object: Record<string, unknown> | undefined): Record<string, unknown> {
  const metadata = object?.metadata;
  return typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>) : {};
}

export function resourceVersionOf(object: Record<string, unknown> | undefined): string | undefined {
  const version = metadataOf(object).resourceVersion;
  return typeof version === 'string' ? version : undefined;
}
