// The leader-election decision, as client-go's leaderelection.tryAcquireOrRenew makes it, without
// I/O: given the lock record last read and when this process first saw it (by its own monotonic
// clock), may it write the lock now, and with what record? Writing is always a compare-and-swap on
// the lock object's resourceVersion, so two candidates that both decide "write" cannot both win.
//
// Expiry is judged from when *this* process first observed the record, never from the times
// written in it: another machine's wall clock says nothing about ours (client-go does the same).

/** client-go's LeaderElectionRecord, field for field, so `kubectl get` shows the familiar shape. */
export interface LeaderElectionRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: string;
  renewTime: string;
  leaderTransitions: number;
}

export interface LockAttemptInput {
  /** The record read just now; undefined when the lock object or its record does not exist. */
  current: LeaderElectionRecord | undefined;
  /** Monotonic ms at which this process first saw the lock object at its current version. */
  observedAt: number;
  /** Monotonic ms now. */
  now: number;
  /** Wall-clock time for the times written into the record (informational only). */
  wallNow: Date;
  identity: string;
  leaseDurationSeconds: number;
}

export type LockAttempt =
  | { write: true; record: LeaderElectionRecord; acquiring: boolean }
  | { write: false; holder: string; expiresInMs: number };

/** What to do with the lock this round: wait for another holder's lease, or write our record. */
export function decideLockAttempt(input: LockAttemptInput): LockAttempt {
  const { current, identity } = input;
  const stamp = input.wallNow.toISOString();
  if (current && current.holderIdentity !== '' && current.holderIdentity !== identity) {
    const expiresInMs = input.observedAt + current.leaseDurationSeconds * 1000 - input.now;
    if (expiresInMs > 0) return { write: false, holder: current.holderIdentity, expiresInMs };
  }
  // Our own record (a renewal, or taking back a lease we let lapse: the compare-and-swap proves
  // nobody wrote it since), a released lock (empty holder) or an expired one.
  const renewing = current?.holderIdentity === identity;
  return {
    write: true,
    acquiring: !renewing,
    record: {
      holderIdentity: identity,
      leaseDurationSeconds: input.leaseDurationSeconds,
      acquireTime: renewing && current ? current.acquireTime : stamp,
      renewTime: stamp,
      leaderTransitions: current ? current.leaderTransitions + (renewing ? 0 : 1) : 0,
    },
  };
}

/** A record read from the server is untrusted input: anything malformed becomes undefined. */
export function parseLeaderElectionRecord(value: unknown): LeaderElectionRecord | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const duration = record.leaseDurationSeconds;
  const transitions = record.leaderTransitions ?? 0;
  if (typeof record.holderIdentity !== 'string' && record.holderIdentity !== undefined) return undefined;
  if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0) return undefined;
  if (typeof transitions !== 'number' || !Number.isInteger(transitions) || transitions < 0) return undefined;
  return {
    holderIdentity: record.holderIdentity ?? '',
    leaseDurationSeconds: duration,
    acquireTime: typeof record.acquireTime === 'string' ? record.acquireTime : '',
    renewTime: typeof record.renewTime === 'string' ? record.renewTime : '',
    leaderTransitions: transitions,
  };
}

/**
 * Stands in for a record that exists but cannot be read (hand-edited, another program's): somebody
 * may be holding it, so it is waited out for a whole lease like any other holder's, then replaced.
 */
export function unreadableRecord(leaseDurationSeconds: number): LeaderElectionRecord {
  return { holderIdentity: '(unreadable lock record)', leaseDurationSeconds, acquireTime: '', renewTime: '', leaderTransitions: 0 };
}
