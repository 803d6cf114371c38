// The fault suite's checks must be able to fail: a misbehaving stand-in for meshinit (same token,
// same initializer name) runs a small burst, and each kind of misbehaviour must be caught by the
// check that claims to catch it.
import { expect } from 'chai';
import { pendingNames, TestClient, type LegacyApiServer, type Obj } from '../support/legacy-apiserver/index.ts';
import type { RunningMeshinit } from './support/meshinit.ts';
import { runScenario, type RunReport } from './support/run.ts';
import { KINDS, MESHINIT, OURS, WORKLOAD_PLURALS } from './support/world.ts';

type Misbehaviour = 'out-of-turn' | 'inject-twice' | 'ignore-team-b' | 'inject-everything' | 'clobber-annotations' | 'take-two' | 'fail-everything';

const GROUP_OF: Record<string, string> = Object.fromEntries(Object.values(KINDS).map((k) => [k.plural, k.group]));

/** A stand-in for meshinit that breaks one rule; otherwise it releases what it is given. */
function rogue(misbehaviour: Misbehaviour): (server: LegacyApiServer) => Promise<RunningMeshinit> {
  return async (server) => {
    const client = new TestClient(server.url, MESHINIT);
    const busy = new Set<string>();
    const act = async (plural: string, object: Obj): Promise<void> => {
      const { namespace, name } = object.metadata!;
      const pending = pendingNames(object);
      const index = pending.indexOf(OURS);
      const ours = misbehaviour === 'out-of-turn' ? index >= 0 : index === 0;
      if (!ours || (misbehaviour === 'ignore-team-b' && namespace === 'team-b')) return;
      const ops: unknown[] = [{ op: 'remove', path: `/metadata/initializers/pending/${index}` }];
      const sidecar = { name: 'mesh-proxy', image: 'mesh/proxy:v1' };
      if (misbehaviour === 'inject-twice' && plural !== 'jobs') ops.push({ op: 'add', path: '/spec/template/spec/containers/-', value: sidecar }, { op: 'add', path: '/spec/template/spec/containers/-', value: sidecar });
      if (misbehaviour === 'inject-everything' && plural !== 'jobs') ops.push({ op: 'add', path: '/spec/template/spec/containers/-', value: sidecar });
      if (misbehaviour === 'clobber-annotations') ops.push({ op: 'add', path: '/metadata/annotations', value: {} });
      // Removes the next initializer's entry with its own: the next one never gets its turn.
      if (misbehaviour === 'take-two' && pending.length > 1) ops.push({ op: 'remove', path: '/metadata/initializers/pending/0' });
      if (misbehaviour === 'fail-everything') ops.splice(0, ops.length, { op: 'add', path: '/metadata/initializers/result', value: { status: 'Failure', message: 'no', code: 403 } });
      await client.patch(`/apis/${GROUP_OF[plural]}/v1/namespaces/${namespace}/${plural}/${name}`, ops, 'application/json-patch+json');
    };
    const unsubscribe = server.onChange((change) => {
      const key = `${change.plural}/${change.object.metadata?.namespace}/${change.object.metadata?.name}`;
      if (change.type === 'DELETED' || !WORKLOAD_PLURALS.includes(change.plural) || busy.has(key)) return;
      busy.add(key);
      setImmediate(() => void act(change.plural, change.object).finally(() => busy.delete(key)));
    });
    return {
      async stop() {
        unsubscribe();
        client.close();
      },
      warnings: () => [],
    };
  };
}

async function runWith(misbehaviour: Misbehaviour): Promise<RunReport> {
  return runScenario({ name: `self-test: ${misbehaviour}`, seed: 5, workloads: 120, mode: 'in-process', burstMs: 200, deadlineMs: 1500, meshinit: rogue(misbehaviour) });
}

describe('fault suite self-test: each check catches what it claims to', function () {
  this.timeout(20_000);

  it('a write while another initializer is first is an out-of-turn write', async function () {
    const report = await runWith('out-of-turn');
    expect(report.outOfTurnWrites).to.not.be.empty;
    expect(report.outOfTurnWrites[0]).to.match(/meshinit wrote .* while pending was \[policy/);
  });

  it('a sidecar added twice is a double injection', async function () {
    expect((await runWith('inject-twice')).doubleInjections).to.not.be.empty;
  });

  it('workloads left pending are stuck, listed with what is left', async function () {
    const report = await runWith('ignore-team-b');
    expect(report.stuck).to.not.be.empty;
    expect(report.stuck[0]).to.match(/team-b\/.*still pending \[sidecar\.initializer\.meshinit\.dev/);
  });

  it('a sidecar where policy says none, or of the wrong shape, is a wrong sidecar; a clash that should fail is not deleted', async function () {
    const report = await runWith('inject-everything');
    expect(report.wrongSidecar.some((line) => /expected no sidecar \((opted out|hostNetwork|system or controller namespace|namespace disabled)/.test(line))).to.equal(true);
    expect(report.wrongSidecar.some((line) => /partial sidecar/.test(line))).to.equal(true);
    expect(report.notDeleted).to.not.be.empty;
  });

  it("another initializer's write lost under ours is caught", async function () {
    expect((await runWith('clobber-annotations')).lostOtherWrites).to.not.be.empty;
  });

  it('removing more than our own entry is an order violation', async function () {
    const report = await runWith('take-two');
    expect(report.orderViolations.some((line) => /sidecar\.initializer\.meshinit\.dev turned \[sidecar\.initializer\.meshinit\.dev,audit/.test(line))).to.equal(true);
  });

  it('a workload deleted where policy does not say so is lost', async function () {
    const report = await runWith('fail-everything');
    expect(report.lost.length).to.be.above(report.outcomes.deleted ?? 0);
  });
});
