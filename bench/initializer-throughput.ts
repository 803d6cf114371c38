// Initializer throughput on the real kube-apiserver v1.13.0: a burst of Deployments from
// concurrent creators, each created with includeUninitialized=1 (answered at once, still
// pending), timed from "POST answered" to "initialized" as a watch sees it. The initializers take
// turns on the same server, each in a fresh namespace, alternating over several rounds:
//   floor       the load generator itself: one JSON Patch (test, remove our entry, add a container)
//               per watch event, no limit on concurrency -- what the server can do;
//   floor-full  the same, but sending meshinit's own patch (computed by its core from the same
//               MeshConfig): what the server can do with the sidecar meshinit really adds;
//   minimal     bench/minimal-initializer.ts, its own process: remove + add a container;
//   before      meshinit as built from commit BASELINE_COMMIT (before issue 9; --baseline REF for another
//               commit of this repository's history), its defaults then;
//   meshinit    the compiled meshinit with default flags (--namespace only limits the round), as
//               the shipped ServiceAccount, logging at its default level;
//   cold        the same, measured on its first burst after start (no warm-up).
// Every contender but `cold` first initializes --warmup Deployments, as a running one has.
// Then a load curve: p50 latency vs the number of concurrent creators, floor and meshinit.
// Prints medians and ratios, writes bench/results/initializer-throughput.json.
//   node --import tsx bench/initializer-throughput.ts [--workloads 1000] [--creators 50] [--rounds 3]
//     [--initializers floor,floor-full,minimal,meshinit,meshinit@32] [--meshinit-flags="--log-level warn"]
//     [--meshinit-node-flags="--cpu-prof --cpu-prof-dir=/tmp/prof"] [--no-curve] [--warmup 300]
import { parseArgs } from 'node:util';
import type { MeshConfig } from '../controller/core/types.ts';
import type { ControlPlane } from '../test/control-plane/control-plane.ts';
import { mustCreate, waitUntil } from '../test/e2e/cluster.ts';
import { baselineBuild, BASELINE_COMMIT, OURS, startInitializerPlane, startMeshinit, startMinimalInitializer, type Contender } from './legacy-setup.ts';
import { benchClient, connectionFromKubeconfig, cpuSeconds, createBurst, deploymentBody, meshinitPatch, pendingNames, type BenchClient, type Json } from './kube-client.ts';
import { median, percentile, writeResult, type Figure } from './result.ts';


/** The commit the `before` contender is built from (--baseline). */
let baselineRef = BASELINE_COMMIT;
const beforeName = (): string => (baselineRef === BASELINE_COMMIT ? `before issue 9 (${BASELINE_COMMIT})` : `at ${baselineRef}`);

/** `meshinit@N`: meshinit with --concurrency N, for comparing settings in one run. */
type Initializer = 'floor' | 'floor-full' | 'minimal' | 'before' | 'meshinit' | 'cold' | `meshinit@${number}`;

interface RoundResult {
  initializer: Initializer;
  workloads: number;
  creators: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuSeconds?: number;
}

interface Settings {
  meshinitFlags: string[];
  meshinitNodeFlags: string[];
  meshConfig: MeshConfig;
}

/** Starts the contender; resolves once it is watching. Returns what stops it and its pid. */
async function startContender(plane: ControlPlane, client: BenchClient, initializer: Initializer, namespace: string, settings: Settings): Promise<Contender> {
  const base = `/apis/apps/v1/namespaces/${namespace}/deployments`;
  if (initializer === 'floor' || initializer === 'floor-full') {
    // What the server can do: one patch per event, at once, no queue.
    const watch = client.watch(`${base}?watch=true&includeUninitialized=true`, (event) => {
      if (event.type !== 'ADDED' || pendingNames(event.object)[0] !== OURS) return;
      const name = String((event.object.metadata as Json).name);
      const ops = initializer === 'floor-full' ? meshinitPatch(event.object, settings.meshConfig, OURS) : [
        { op: 'test', path: '/metadata/initializers/pending/0/name', value: OURS },
        { op: 'remove', path: '/metadata/initializers' },
        { op: 'add', path: '/spec/template/spec/containers/-', value: { name: 'mesh-proxy', image: 'ghcr.io/meshinit/proxy:1.0.0' } },
      ];
      void client.call('PATCH', `${base}/${name}`, ops, 'application/json-patch+json');
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { stop: async () => watch.stop() };
  }
  if (initializer === 'minimal') return startMinimalInitializer(plane, namespace);
  if (initializer === 'before') return startMeshinit(plane, namespace, [], settings.meshinitNodeFlags, baselineBuild(baselineRef));
  const concurrency = initializer.startsWith('meshinit@') ? ['--concurrency', initializer.slice('meshinit@'.length)] : [];
  return startMeshinit(plane, namespace, [...settings.meshinitFlags, ...concurrency], settings.meshinitNodeFlags);
}

async function runRound(plane: ControlPlane, client: BenchClient, initializer: Initializer, namespace: string, workloads: number, creators: number, settings: Settings, warmup: number): Promise<RoundResult> {
  await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const answered = new Map<string, number>();
  const initialized = new Map<string, number>();
  const base = `/apis/apps/v1/namespaces/${namespace}/deployments`;
  const observer = client.watch(`${base}?watch=true&includeUninitialized=true`, (event) => {
    const name = String((event.object.metadata as Json).name);
    if (event.type === 'MODIFIED' && pendingNames(event.object).length === 0 && !initialized.has(name)) initialized.set(name, performance.now());
  });
  const contender = await startContender(plane, client, initializer, namespace, settings);
  if (warmup > 0 && initializer !== 'cold') {
    // A controller runs for weeks: its connections to the server are open and its code is
    // compiled when a burst comes. A fresh process would pay for up to --concurrency TLS
    // handshakes and V8's first compilations inside the measured burst.
    const warmed = new Set<string>();
    const warm = client.watch(`${base}?watch=true&includeUninitialized=true`, (event) => {
      const name = String((event.object.metadata as Json).name);
      if (event.type === 'MODIFIED' && name.startsWith('warm-') && pendingNames(event.object).length === 0) warmed.add(name);
    });
    await createBurst(warmup, creators, async (name) => {
      const reply = await client.call('POST', `${base}?includeUninitialized=1`, deploymentBody(name));
      if (reply.status !== 202 && reply.status !== 201) throw new Error(`create ${name}: ${reply.status} ${reply.body.slice(0, 200)}`);
    }, 'warm-');
    await waitUntil(async () => (warmed.size >= warmup ? true : undefined), `${warmup} warm-up Deployments initialized by ${initializer}`, 120_000);
    warm.stop();
  }
  const cpuBefore = cpuSeconds(contender.pid);
  const started = performance.now();
  await createBurst(workloads, creators, async (name) => {
    const reply = await client.call('POST', `${base}?includeUninitialized=1`, deploymentBody(name));
    if (reply.status !== 202 && reply.status !== 201) throw new Error(`create ${name}: ${reply.status} ${reply.body.slice(0, 200)}`);
    answered.set(name, performance.now());
  });
  await waitUntil(async () => (initialized.size >= workloads ? true : undefined), `${workloads} initialized by ${initializer} (${initialized.size} so far)`, 300_000);
  const cpuAfter = cpuSeconds(contender.pid);
  const seconds = (Math.max(...initialized.values()) - started) / 1000;
  const latencies = [...initialized].map(([name, at]) => at - (answered.get(name) ?? at));
  observer.stop();
  await contender.stop();
  return {
    initializer, workloads, creators, seconds, perSecond: workloads / seconds, p50Ms: median(latencies), p99Ms: percentile(latencies, 99),
    ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuSeconds: cpuAfter - cpuBefore } : {}),
  };
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    workloads: { type: 'string', default: '1000' }, creators: { type: 'string', default: '50' }, rounds: { type: 'string', default: '3' },
    initializers: { type: 'string', default: 'floor,floor-full,minimal,before,meshinit,cold' },
    // Extra `meshinit run` flags; default none: the defaults are what is measured.
    'meshinit-flags': { type: 'string', default: '' },
    // Flags for node running meshinit (NODE_OPTIONS refuses --cpu-prof).
    'meshinit-node-flags': { type: 'string', default: '' },
    'no-curve': { type: 'boolean', default: false },
    // Deployments each contender initializes before the measured burst (0: measure a cold start).
    warmup: { type: 'string', default: '300' },
    // The commit `before` is built from (default: before issue 9).
    baseline: { type: 'string', default: BASELINE_COMMIT },
  } });
  baselineRef = values.baseline;
  const words = (text: string): string[] => text.split(/\s+/).filter(Boolean);
  const initializers = values.initializers.split(',') as Initializer[];
  const workloads = Number(values.workloads);
  const creators = Number(values.creators);
  const rounds = Number(values.rounds);
  const { plane, meshConfig } = await startInitializerPlane();
  try {
    const settings: Settings = { meshinitFlags: words(values['meshinit-flags']), meshinitNodeFlags: words(values['meshinit-node-flags']), meshConfig };
    const client = benchClient(connectionFromKubeconfig(plane.adminKubeconfigPath));
    const results: RoundResult[] = [];
    let namespaces = 0;
    const run = async (initializer: Initializer, n: number, c: number): Promise<RoundResult> => {
      const result = await runRound(plane, client, initializer, `bench-${initializer.replace('@', '-c')}-${namespaces++}`, n, c, settings, Number(values.warmup));
      say(`  ${initializer.padEnd(10)} ${String(c).padStart(3)} creators ${result.perSecond.toFixed(0).padStart(5)}/s  p50 ${result.p50Ms.toFixed(0).padStart(5)} ms  p99 ${result.p99Ms.toFixed(0).padStart(5)} ms${result.cpuSeconds !== undefined ? `  CPU ${result.cpuSeconds.toFixed(2)} s` : ''}`);
      return result;
    };
    say(`Initializer throughput on kube-apiserver ${plane.kubeVersion}: ${workloads} Deployments from ${creators} creators, ${rounds} rounds`);
    for (let round = 0; round < rounds; round++) {
      say(`round ${round + 1}`);
      for (const initializer of initializers) results.push(await run(initializer, workloads, creators));
    }
    const curve: RoundResult[] = [];
    if (!values['no-curve']) {
      say('load curve: 500 Deployments, p50 latency vs concurrent creators');
      for (const c of [1, 5, 10, 25, 50]) for (const initializer of ['floor', 'meshinit'] as const) curve.push(await run(initializer, 500, c));
    }
    client.close();
    const has = (who: Initializer): boolean => results.some((r) => r.initializer === who);
    const of = (who: Initializer, pick: (r: RoundResult) => number): number => median(results.filter((r) => r.initializer === who).map(pick));
    const figures: Figure[] = [];
    const label = `${workloads} Deployments, ${creators} creators`;
    if (has('meshinit') && has('floor')) {
      const rate = of('meshinit', (r) => r.perSecond);
      const floorRate = of('floor', (r) => r.perSecond);
      figures.push({ figure: `Initializer throughput (${label})`, value: rate, unit: 'workloads/s', baseline: { name: 'floor', value: floorRate }, ratio: rate / floorRate, target: '>= 0.85 of the floor', met: rate / floorRate >= 0.85 });
      const p50 = of('meshinit', (r) => r.p50Ms);
      const floorP50 = of('floor', (r) => r.p50Ms);
      figures.push({ figure: `Initializer p50 latency, POST answered to initialized (${label})`, value: p50, unit: 'ms', baseline: { name: 'floor', value: floorP50 }, ratio: p50 / floorP50, target: '<= 1.5x the floor', met: p50 / floorP50 <= 1.5 });
    }
    if (has('meshinit') && has('floor-full')) {
      const rate = of('meshinit', (r) => r.perSecond);
      const full = of('floor-full', (r) => r.perSecond);
      figures.push({ figure: `Initializer throughput vs the floor sending meshinit's own patch (${label})`, value: rate, unit: 'workloads/s', baseline: { name: 'floor-full', value: full }, ratio: rate / full });
    }
    if (has('meshinit')) {
      const cpuOf = (who: Initializer): number => of(who, (r) => ((r.cpuSeconds ?? NaN) * 1000) / r.workloads);
      const cpu = cpuOf('meshinit');
      if (has('before')) {
        const before = cpuOf('before');
        figures.push({ figure: 'meshinit CPU-seconds per 1,000 workloads', value: cpu, unit: 'CPU-s', baseline: { name: `meshinit ${beforeName()}`, value: before }, ratio: cpu / before, target: '< before', met: cpu < before });
        const rate = of('meshinit', (r) => r.perSecond);
        figures.push({ figure: `Initializer throughput vs meshinit ${beforeName()} (${label})`, value: rate, unit: 'workloads/s', baseline: { name: `before (${baselineRef})`, value: of('before', (r) => r.perSecond) }, ratio: rate / of('before', (r) => r.perSecond) });
      }
      if (has('minimal')) figures.push({ figure: 'meshinit CPU-seconds per 1,000 workloads vs the minimal initializer', value: cpu, unit: 'CPU-s', baseline: { name: 'minimal initializer', value: cpuOf('minimal') }, ratio: cpu / cpuOf('minimal') });
    }
    if (has('cold') && has('floor')) {
      const p50 = of('cold', (r) => r.p50Ms);
      figures.push({ figure: `Initializer p50 latency on the first burst after start (${label})`, value: p50, unit: 'ms', baseline: { name: 'floor', value: of('floor', (r) => r.p50Ms) }, ratio: p50 / of('floor', (r) => r.p50Ms) });
      figures.push({ figure: 'meshinit CPU-seconds per 1,000 workloads on the first burst after start', value: of('cold', (r) => ((r.cpuSeconds ?? NaN) * 1000) / r.workloads), unit: 'CPU-s' });
    }
    if (has('minimal') && has('floor')) {
      const rate = of('minimal', (r) => r.perSecond);
      figures.push({ figure: `Minimal initializer throughput (${label})`, value: rate, unit: 'workloads/s', baseline: { name: 'floor', value: of('floor', (r) => r.perSecond) }, ratio: rate / of('floor', (r) => r.perSecond) });
    }
    say('');
    for (const f of figures) say(`${f.figure}: ${f.value.toFixed(f.unit === 'CPU-s' ? 2 : 0)} ${f.unit}${f.baseline ? ` (${f.baseline.name} ${f.baseline.value.toFixed(f.unit === 'CPU-s' ? 2 : 0)}, ratio ${f.ratio?.toFixed(2)})` : ''}${f.target ? `  target ${f.target}: ${f.met ? 'met' : 'NOT met'}` : ''}`);
    const line = (who: 'floor' | 'meshinit', pick: (r: RoundResult) => number): Array<[number, number]> => curve.filter((r) => r.initializer === who).map((r) => [r.perSecond, pick(r)]);
    writeResult({
      runner: 'initializer-throughput',
      server: plane.kubeVersion,
      measuredAt: new Date().toISOString(),
      figures,
      ...(curve.length ? { series: [{
        chart: 'bench-initializer-latency',
        title: `Initializer: latency vs load (500 Deployments, 1-50 creators, kube-apiserver ${plane.kubeVersion})`,
        xLabel: 'workloads initialized per second',
        yLabel: 'ms from POST answered to initialized',
        lines: [
          { name: 'floor p50', points: line('floor', (r) => r.p50Ms) },
          { name: 'floor p99', points: line('floor', (r) => r.p99Ms) },
          { name: 'meshinit p50', points: line('meshinit', (r) => r.p50Ms) },
          { name: 'meshinit p99', points: line('meshinit', (r) => r.p99Ms) },
        ],
      }] } : {}),
      raw: { rounds: results, curve, meshinitFlags: settings.meshinitFlags },
    });
  } finally {
    await plane.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
