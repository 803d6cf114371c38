// What metrics and Events add to one decision, measured in-process: the calls sync makes after
// each decision (decision counter, sync duration, wait since creationTimestamp, Event record), in
// the three regimes the Event recorder meets. Prints the median over rounds, in ns per decision.
//   node --import tsx bench/observability-cost.ts
// The Event writes themselves are not measured (they are asynchronous and rate-limited to a few
// per second); the API here never answers, so the recorder stays at its in-flight bound as it
// does during a burst.
import { createEventRecorder, type EventRecord } from '../controller/kube/events.ts';
import type { KubeApi } from '../controller/kube/types.ts';
import type { Logger } from '../controller/logger.ts';
import { Metrics } from '../controller/metrics.ts';

const ROUNDS = 11;
const PER_ROUND = 50_000;
const silent: Logger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const never = { post: () => new Promise(() => undefined), patch: () => new Promise(() => undefined), get: () => new Promise(() => undefined) } as unknown as KubeApi;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** ns per call of `step(i)`, median of ROUNDS rounds (after one warm-up round). */
function measure(step: (i: number) => void): number {
  const rounds: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < PER_ROUND; i++) step(round * PER_ROUND + i);
    const ns = Number(process.hrtime.bigint() - started) / PER_ROUND;
    if (round > 0) rounds.push(ns);
  }
  return median(rounds);
}

const metrics = new Metrics({ processMetrics: false });
const created = new Date(Date.now() - 1500).toISOString();
const kinds = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'];
const metricsOnly = (i: number): void => {
  metrics.decision('initializer', kinds[i & 3]!, 'injected', 'policy_enabled');
  metrics.syncSeconds(0.004);
  metrics.workloadWaited(created, Date.now());
};

const event = (i: number, distinct: boolean): EventRecord => ({
  object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: distinct ? `web-${i}` : 'web', uid: distinct ? `uid-${i}` : 'uid' },
  type: 'Normal',
  reason: 'SidecarInjected',
  message: 'selected by MeshConfig default (policy Enabled)',
});

// A burst: every distinct decision past the bucket and the queue is dropped (the common case at
// 400 workloads/s against 5 Events/s).
const burst = createEventRecorder(never, silent, { metrics });
// Repeats on one object: counted on the Event being written.
const repeats = createEventRecorder(never, silent, { metrics });
// Room in the queue: the first 200 of a burst are queued. A fresh recorder every 200 decisions
// keeps it in that regime (its creation is part of the figure, so it is a little pessimistic).
let roomy = createEventRecorder(never, silent, { metrics });
const queued = (i: number): void => {
  if (i % 200 === 0) {
    roomy.stop();
    roomy = createEventRecorder(never, silent, { metrics });
  }
  roomy.record(event(i, true));
};

const results = {
  'metrics only (decision counter, sync histogram, wait histogram)': measure(metricsOnly),
  'metrics + Event, burst (distinct objects, dropped past the queue)': measure((i) => { metricsOnly(i); burst.record(event(i, true)); }),
  'metrics + Event, repeats on one object (counted)': measure((i) => { metricsOnly(i); repeats.record(event(i, false)); }),
  'metrics + Event, queued (distinct objects, queue not full)': measure((i) => { metricsOnly(i); queued(i); }),
  'baseline: building the Event record alone': measure((i) => { event(i, true); }),
};
for (const recorder of [burst, repeats, roomy]) recorder.stop();
for (const [what, ns] of Object.entries(results)) console.log(`${ns.toFixed(0).padStart(6)} ns/decision  ${what}`);
const worst = Math.max(...Object.values(results));
console.log(`at 400 decisions/s the worst case costs ${((worst * 400) / 1e6).toFixed(3)} ms of CPU per second (${((worst * 400) / 1e7).toFixed(4)}% of one core)`);
