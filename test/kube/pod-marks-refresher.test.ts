// When the Pods are read for a --target pods rollout: only on the leader and only while a
// MeshConfig asks for a rollout (else no reading is kept, so a stale one is never acted on), each
// distinct failure said once, with the RBAC fix for a 403.
import { expect } from 'chai';
import { PodMarks } from '../../controller/core/pod-marks.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import { PodMarksRefresher } from '../../controller/kube/pod-marks-refresher.ts';
import { createMemoryLogger } from '../../controller/logger.ts';

function rig(initial: { needed: boolean; leader: boolean }) {
  const state = { ...initial, scans: 0, scanned: 0, fail: undefined as Error | undefined };
  const log = createMemoryLogger();
  const refresher = new PodMarksRefresher({
    scan: async () => {
      state.scans++;
      if (state.fail) throw state.fail;
      return new PodMarks();
    },
    log, needed: () => state.needed, isLeader: () => state.leader, onScanned: () => { state.scanned++; }, periodMs: 3_600_000,
  });
  return { state, log, refresher };
}

describe('Pod marks refresher (--target pods rollout)', function () {
  it('reads no Pod while no MeshConfig asks for a rollout, nor on a standby', async function () {
    const { state, refresher } = rig({ needed: false, leader: true });
    await refresher.refresh();
    state.needed = true;
    state.leader = false;
    await refresher.refresh();
    expect(state.scans).to.equal(0);
    expect(refresher.marks()).to.equal(undefined);
  });

  it('keeps the reading while it is wanted and hands none out once it is not (paused, lost the lease)', async function () {
    const { state, refresher } = rig({ needed: true, leader: true });
    await refresher.refresh();
    expect(state).to.include({ scans: 1, scanned: 1 });
    expect(refresher.marks()).to.be.instanceOf(PodMarks);
    state.needed = false;
    expect(refresher.marks()).to.equal(undefined);
    state.needed = true;
    state.leader = false;
    expect(refresher.marks()).to.equal(undefined);
  });

  it('says a failure once (a 403 with the RBAC to apply), keeps the last reading, and reads again each period', async function () {
    const { state, log, refresher } = rig({ needed: true, leader: true });
    await refresher.refresh();
    const first = refresher.marks();
    state.fail = new KubeApiError({ method: 'GET', path: '/api/v1/pods', statusCode: 403, reason: 'Forbidden', message: 'pods is forbidden: User "system:serviceaccount:meshinit-system:meshinit" cannot list resource "pods"' });
    await refresher.refresh();
    await refresher.refresh();
    expect(state.scans).to.equal(3);
    const warnings = log.lines.filter((l) => l.message === 'Cannot read Pods for the rollout');
    expect(warnings).to.have.length(1);
    expect(String(warnings[0]!.fields.fix)).to.include('kubectl apply -f manifests/webhook/rollout-rbac.yaml');
    expect(refresher.marks()).to.equal(first);
  });

  it('scans on start and again soon after a MeshConfig change, then stops', async function () {
    const { state, refresher } = rig({ needed: true, leader: true });
    refresher.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    refresher.requestScan();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await refresher.stop();
    expect(state.scans).to.equal(2);
  });
});
