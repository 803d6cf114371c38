// Blocking creates on the real kube-apiserver v1.13.0: a plain POST, as `kubectl create` sends it,
// is answered only once every initializer is done, so its latency is what a user waits for.
// One creator, one Deployment at a time; rounds alternate between meshinit (defaults, its own
// process), bench/minimal-initializer.ts (remove + add a container, its own process) and the same
// minimal initializer sending meshinit's own patch (what the real sidecar costs the server).
// Prints medians and their ratio, writes bench/results/blocking-create.json.
//   node --import tsx bench/blocking-create.ts [--creates 200] [--rounds 3] [--contenders minimal,minimal-full,meshinit]
//     [--meshinit-node-flags="--cpu-prof --cpu-prof-dir=/tmp/prof"]
import { parseArgs } from 'node:util';
import type { ControlPlane } from '../test/control-plane/control-plane.ts';
import { mustCreate } from '../test/e2e/cluster.ts';
import { startInitializerPlane, startMeshinit, startMinimalInitializer } from './legacy-setup.ts';
import { benchClient, connectionFromKubeconfig, type BenchClient } from './kube-client.ts';
import { median, percentile, writeResult } from './result.ts';

type Contender = 'minimal' | 'minimal-full' | 'meshinit';
let meshinitNodeFlags: string[] = [];

function startContender(plane: ControlPlane, contender: Contender, namespace: string): Promise<{ stop(): Promise<void> }> {
  return contender === 'meshinit'
    ? startMeshinit(plane, namespace, [], meshinitNodeFlags)
    : startMinimalInitializer(plane, namespace, { meshinitPatch: contender === 'minimal-full' });
}

async function runRound(plane: ControlPlane, client: BenchClient, contender: Contender, namespace: string, creates: number): Promise<number[]> {
  await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const running = await startContender(plane, contender, namespace);
  const base = `/apis/apps/v1/namespaces/${namespace}/deployments`;
  const latencies: number[] = [];
  // A few creates first: the first of each connection pays for TLS and the server's caches.
  for (let i = -10; i < creates; i++) {
    const name = `c-${i + 10}`;
    const body = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels: { app: name } }, spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } } };
    const started = performance.now();
    const reply = await client.call('POST', base, body);
    const ms = performance.now() - started;
    if (reply.status !== 201) throw new Error(`create ${name} with ${contender}: ${reply.status} ${reply.body.slice(0, 200)}`);
    if (i >= 0) latencies.push(ms);
  }
  await running.stop();
  return latencies;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    creates: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' },
    contenders: { type: 'string', default: 'minimal,minimal-full,meshinit' }, 'meshinit-node-flags': { type: 'string', default: '' },
  } });
  meshinitNodeFlags = values['meshinit-node-flags'].split(/\s+/).filter(Boolean);
  const contenders = values.contenders.split(',') as Contender[];
  const creates = Number(values.creates);
  const rounds = Number(values.rounds);
  const { plane } = await startInitializerPlane();
  try {
    const client = benchClient(connectionFromKubeconfig(plane.adminKubeconfigPath));
    const medians: Record<Contender, number[]> = { minimal: [], 'minimal-full': [], meshinit: [] };
    const p99s: Record<Contender, number[]> = { minimal: [], 'minimal-full': [], meshinit: [] };
    process.stdout.write(`Blocking creates on kube-apiserver ${plane.kubeVersion}: ${creates} Deployments one at a time, ${rounds} rounds\n`);
    for (let round = 0; round < rounds; round++) {
      for (const contender of contenders) {
        const latencies = await runRound(plane, client, contender, `blocking-${contender}-${round}`, creates);
        medians[contender].push(median(latencies));
        p99s[contender].push(percentile(latencies, 99));
        process.stdout.write(`  round ${round + 1} ${contender.padEnd(8)} median ${median(latencies).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms\n`);
      }
    }
    client.close();
    const value = median(medians.meshinit);
    const baseline = median(medians.minimal);
    process.stdout.write(`\nBlocking create median: meshinit ${value.toFixed(1)} ms, minimal initializer ${baseline.toFixed(1)} ms, ratio ${(value / baseline).toFixed(2)} (target <= 1.2); minimal with meshinit's patch ${median(medians['minimal-full']).toFixed(1)} ms\n`);
    writeResult({
      runner: 'blocking-create',
      server: plane.kubeVersion,
      measuredAt: new Date().toISOString(),
      figures: [
        { figure: `Blocking create median (plain POST, ${creates} Deployments one at a time)`, value, unit: 'ms', baseline: { name: 'minimal initializer', value: baseline }, ratio: value / baseline, target: '<= 1.2x the minimal initializer', met: value / baseline <= 1.2 },
        { figure: 'Blocking create p99', value: median(p99s.meshinit), unit: 'ms', baseline: { name: 'minimal initializer', value: median(p99s.minimal) }, ratio: median(p99s.meshinit) / median(p99s.minimal) },
        { figure: 'Blocking create median vs the minimal initializer sending meshinit\'s own patch (the server\'s cost of the real sidecar)', value, unit: 'ms', baseline: { name: 'minimal initializer, meshinit patch', value: median(medians['minimal-full']) }, ratio: value / median(medians['minimal-full']) },
      ],
      raw: { medians, p99s },
    });
  } finally {
    await plane.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
