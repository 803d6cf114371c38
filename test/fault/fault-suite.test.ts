// Issue 4, first half: meshinit never loses a workload. Each run sends a burst of 1,000
// uninitialized workloads through the legacy API server double (test/support/legacy-apiserver)
// while it injects faults, with meshinit in this process or as the compiled CLI (SIGKILLed and
// restarted), and two other initializers around ours. Every run prints its figures and must end
// with nothing stuck, lost, injected twice or in the wrong shape, and no initializer out of turn.
// The seed is fixed; FAULT_SEED=n replays another world and other faults.
import { expect } from 'chai';
import { formatReport, runScenario, type RunReport } from './support/run.ts';
import { scenarios } from './support/scenarios.ts';
import type { Scenario } from './support/run.ts';

const DEFAULT_SEED = 20261123;
const seed = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : DEFAULT_SEED;

/** A failure message with the first few offenders and the tail of meshinit's warnings. */
function explain(report: RunReport, list: string[]): string {
  return `${list.length} in ${report.scenario} (seed ${report.seed}):\n  ${list.slice(0, 8).join('\n  ')}\nmeshinit warnings (last 10):\n  ${report.warnings.slice(-10).join('\n  ')}`;
}

function faultsInjected(report: RunReport, types: string[]): number {
  return types.reduce((sum, type) => sum + (report.faults[type] ?? 0), 0);
}

/** The scenario really exercised what it is named after. */
function exercised(scenario: Scenario, report: RunReport): void {
  const faults = scenario.faults ?? {};
  if (faults.dropWatchesEveryMs) expect(faultsInjected(report, ['watch-drop', 'watch-reset']), 'watch drops').to.be.above(5);
  if (faults.errorRate) expect(faultsInjected(report, ['http-500', 'http-503', 'http-504']), '5xx answers').to.be.above(10);
  if (faults.throttleRate) expect(faultsInjected(report, ['http-429']), '429 answers').to.be.above(10);
  if (faults.conflictRate) expect(faultsInjected(report, ['conflict-409']), '409 answers').to.be.above(50);
  if (scenario.commands) expect(faultsInjected(report, ['watch-gone-http', 'watch-stall']), '410s and stalls').to.be.above(0);
  expect(report.kills, 'SIGKILLs').to.have.length(scenario.killAt?.length ?? 0);
  // Side by side, the replicas really competed: the losers' patches were refused.
  if ((scenario.replicas ?? 1) > 1) expect(report.outOfTurnAttempts, 'refused patches of the losing replica').to.be.above(0);
}

describe(`fault suite: meshinit never loses a workload (seed ${seed}; FAULT_SEED to vary)`, function () {
  for (const scenario of scenarios(seed)) {
    it(`${scenario.name}: every workload initialized or deleted as policy says, each initializer in turn`, async function () {
      this.timeout(scenario.mode === 'cli' ? 120_000 : 90_000);
      const report = await runScenario(scenario);
      // The figures, whether the run passes or not.
      console.log(formatReport(report));
      expect(report.stuck, explain(report, report.stuck)).to.deep.equal([]);
      expect(report.lost, explain(report, report.lost)).to.deep.equal([]);
      expect(report.doubleInjections, explain(report, report.doubleInjections)).to.deep.equal([]);
      expect(report.orderViolations, explain(report, report.orderViolations)).to.deep.equal([]);
      expect(report.outOfTurnWrites, explain(report, report.outOfTurnWrites)).to.deep.equal([]);
      expect(report.wrongSidecar, explain(report, report.wrongSidecar)).to.deep.equal([]);
      expect(report.notDeleted, explain(report, report.notDeleted)).to.deep.equal([]);
      expect(report.lostOtherWrites, explain(report, report.lostOtherWrites)).to.deep.equal([]);
      expect(report.statusProblems, explain(report, report.statusProblems)).to.deep.equal([]);
      // Our name is in every workload's pending list: exactly one stored write each, no more.
      expect(report.meshinitWrites, 'meshinit writes stored').to.equal(report.workloads);
      expect(report.outcomes.deleted ?? 0, 'clashes under the Fail MeshConfig').to.be.above(0);
      exercised(scenario, report);
    });
  }
});
