// The fault runs of the suite, each a function of the seed: every fault in turn, then all of them
// together against the real compiled CLI, SIGKILLs included.
import type { Scenario } from './run.ts';

/** 10% of meshinit's requests of every class fail: half 5xx (500/503/504), half 429 with Retry-After. */
const TEN_PERCENT_ERRORS = {
  errorRate: { list: 0.05, watch: 0.05, get: 0.05, patch: 0.05 },
  throttleRate: { list: 0.05, watch: 0.05, get: 0.05, patch: 0.05 },
  // A third of the failed PATCHes failed after the write landed: the answer, not the write, was lost.
  appliedThenFailRate: 0.3,
};

const WATCH_CUTS = { dropWatchesEveryMs: 500, resetFraction: 0.5, stallRate: 0.1 };

/**
 * 410s on resume, a compaction, and a stall of every open watch, spread over the burst. The 410s are
 * HTTP 410 answers: the other form, an ERROR event ending the stream (what a 1.13 watch cache
 * sends), crashes meshinit today (see the report), so the double answers resumes that way here.
 */
const WATCH_COMMANDS: Scenario['commands'] = [
  { at: 0.2, run: (server) => server.goneOnNextResume(2, 'http') },
  { at: 0.45, run: (server) => server.goneOnNextResume(2, 'http') },
  { at: 0.6, run: (server) => server.compact() },
  { at: 0.75, run: (server) => void server.stallWatches() },
];

export function scenarios(seed: number, workloads = 1000): Scenario[] {
  return [
    { name: 'watches cut every 500 ms', seed, workloads, mode: 'in-process', faults: WATCH_CUTS, commands: WATCH_COMMANDS },
    { name: '10% of requests answered 5xx/429', seed, workloads, mode: 'in-process', faults: TEN_PERCENT_ERRORS },
    { name: '30% of PATCHes answered 409 Conflict', seed, workloads, mode: 'in-process', faults: { conflictRate: 0.3 } },
    { name: 'MeshConfig changed mid-burst, then an invalid one pushed', seed, workloads, mode: 'in-process', meshConfigChange: true, checkStatus: true },
    // The README: two replicas may run side by side without leader election; the conditional patch
    // lets one win and the other must find it is no longer its turn.
    { name: 'two replicas side by side, 10% of PATCHes 409', seed, workloads, mode: 'in-process', replicas: 2, faults: { conflictRate: 0.1, latencyMs: [0, 10] } },
    // PATCHes take 2-25 ms to answer, so a SIGKILL finds writes in flight (landed or not).
    { name: 'CLI SIGKILLed mid-burst and restarted, twice', seed, workloads, mode: 'cli', killAt: [0.3, 0.6], faults: { latencyMs: [2, 25], latencyClasses: ['patch'] } },
    {
      name: 'all together (CLI)',
      seed,
      workloads,
      mode: 'cli',
      faults: { ...WATCH_CUTS, ...TEN_PERCENT_ERRORS, conflictRate: 0.2, latencyMs: [0, 20] },
      commands: WATCH_COMMANDS,
      meshConfigChange: true,
      // The second restart comes after the invalid MeshConfig (at 65%): the restarted process has
      // only the last valid version recorded in the MeshConfig's status to go on.
      killAt: [0.3, 0.75],
    },
  ];
}
