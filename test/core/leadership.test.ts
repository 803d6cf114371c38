import { expect } from 'chai';
import { decideLockAttempt, parseLeaderElectionRecord, type LeaderElectionRecord } from '../../controller/core/leadership.ts';

const WALL = new Date('2026-11-30T20:00:00.000Z');
const held = (holder: string, transitions = 3): LeaderElectionRecord => ({
  holderIdentity: holder, leaseDurationSeconds: 15, acquireTime: '2026-11-30T19:00:00Z', renewTime: '2026-11-30T19:59:59Z', leaderTransitions: transitions,
});
const base = { observedAt: 1000, now: 1000, wallNow: WALL, identity: 'me', leaseDurationSeconds: 15 };

describe('leader election decision (client-go tryAcquireOrRenew)', function () {
  it('creates the first record: transitions 0, acquire and renew time now', function () {
    const decision = decideLockAttempt({ ...base, current: undefined });
    expect(decision).to.deep.equal({
      write: true, acquiring: true,
      record: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: WALL.toISOString(), renewTime: WALL.toISOString(), leaderTransitions: 0 },
    });
  });

  it('waits for another holder until its lease, counted from when WE saw the record, has passed', function () {
    expect(decideLockAttempt({ ...base, current: held('other'), now: 1000 + 14_999 })).to.deep.equal({ write: false, holder: 'other', expiresInMs: 1 });
    const taken = decideLockAttempt({ ...base, current: held('other'), now: 1000 + 15_000 });
    expect(taken.write && taken.record.leaderTransitions).to.equal(4);
    expect(taken.write && taken.acquiring).to.equal(true);
    // The renewTime inside the record (another machine's wall clock) is not what counts.
    expect(decideLockAttempt({ ...base, current: { ...held('other'), renewTime: '2000-01-01T00:00:00Z' } }).write).to.equal(false);
  });

  it('renews its own record keeping acquireTime and the transition count', function () {
    const decision = decideLockAttempt({ ...base, current: held('me') });
    expect(decision).to.deep.include({ write: true, acquiring: false });
    expect(decision.write && decision.record).to.deep.include({ acquireTime: '2026-11-30T19:00:00Z', leaderTransitions: 3, renewTime: WALL.toISOString() });
  });

  it('takes a released lock (empty holder) at once, with one more transition', function () {
    const decision = decideLockAttempt({ ...base, current: held('', 7) });
    expect(decision.write && decision.record.leaderTransitions).to.equal(8);
  });

  it('reads untrusted records: malformed ones are refused, a missing count is 0', function () {
    expect(parseLeaderElectionRecord({ holderIdentity: 'a', leaseDurationSeconds: 15 })).to.deep.include({ holderIdentity: 'a', leaderTransitions: 0 });
    for (const bad of [null, [], 'x', { holderIdentity: 'a' }, { holderIdentity: 'a', leaseDurationSeconds: -1 }, { holderIdentity: 'a', leaseDurationSeconds: 'x' },
      { holderIdentity: 3, leaseDurationSeconds: 15 }, { holderIdentity: 'a', leaseDurationSeconds: 15, leaderTransitions: 1.5 }, { holderIdentity: 'a', leaseDurationSeconds: Infinity }]) {
      expect(parseLeaderElectionRecord(bad), JSON.stringify(bad)).to.equal(undefined);
    }
  });
});
