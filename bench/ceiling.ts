// meshinit's own ceiling: the same burst as bench/initializer-throughput.ts, but against the API
// server double (test/support/legacy-apiserver, in this process, plain HTTP, objects in memory),
// so the server costs next to nothing and what limits the rate is meshinit itself. A real server
// cannot show this figure; the double shows nothing else (its rate is not a real server's). Rounds
// alternate with meshinit as it was before issue 9 (BASELINE_COMMIT), built once.
// Prints workloads/s and meshinit's CPU-seconds per 1,000, writes bench/results/ceiling.json.
//   node --import tsx bench/ceiling.ts [--workloads 3000] [--creators 50] [--rounds 3] [--meshinit-flags=...] [--meshinit-node-flags=--cpu-prof]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LegacyApiServer, TestClient } from '../test/support/legacy-apiserver/index.ts';
import { MeshinitProcess } from '../test/e2e/cluster.ts';
import { doubleKubeconfig } from '../test/fault/support/meshinit.ts';
import { cpuSeconds, createBurst, deploymentBody } from './kube-client.ts';
import { baselineBuild, BASELINE_COMMIT, benchMeshConfigObject, OURS } from './legacy-setup.ts';
import { median, writeResult } from './result.ts';

const CREATOR_TOKEN = 'creator-bench-token';

interface Round { perSecond: number; cpuPer1000: number | undefined; seconds: number }

async function runRound(workloads: number, creators: number, flags: string[], nodeFlags: string[], root?: string): Promise<Round> {
  const server = new LegacyApiServer({ initializers: [{ name: OURS, resources: ['deployments'] }], watchCacheSize: workloads * 4 });
  await server.start();
  let meshinit: MeshinitProcess | undefined;
  let kubeconfig: string | undefined;
  try {
    for (const name of ['meshinit-system', 'bench']) await server.seed('namespaces', { metadata: { name } });
    await server.seed('meshconfigs', benchMeshConfigObject());
    kubeconfig = doubleKubeconfig(server);
    meshinit = new MeshinitProcess(['run', '--mode', 'initializer', '--kubeconfig', kubeconfig, '--health-addr', '', '--namespace', 'bench', ...flags], nodeFlags, root);
    await meshinit.waitForLog((line) => line.message === 'Initializer controller running', 'meshinit running', 30_000);
    let initialized = 0;
    let last = 0;
    const done = new Promise<void>((resolve) => {
      server.onChange((change) => {
        if (change.plural !== 'deployments' || change.type !== 'MODIFIED' || !change.previous?.metadata?.initializers || change.object.metadata?.initializers) return;
        last = performance.now();
        if (++initialized === workloads) resolve();
      });
    });
    const client = new TestClient(server.url, { token: CREATOR_TOKEN, userAgent: 'bench-creator' });
    const cpuBefore = cpuSeconds(meshinit.pid);
    const started = performance.now();
    await createBurst(workloads, creators, async (name) => {
      const reply = await client.request('POST', '/apis/apps/v1/namespaces/bench/deployments', { query: { includeUninitialized: 'true' }, body: deploymentBody(name) });
      if (reply.status !== 201 && reply.status !== 202) throw new Error(`create ${name}: ${reply.status} ${reply.text.slice(0, 200)}`);
    });
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${initialized} of ${workloads} initialized after 120 s`)), 120_000))]);
    const cpuAfter = cpuSeconds(meshinit.pid);
    const seconds = (last - started) / 1000;
    return { perSecond: workloads / seconds, seconds, cpuPer1000: cpuBefore !== undefined && cpuAfter !== undefined ? ((cpuAfter - cpuBefore) * 1000) / workloads : undefined };
  } finally {
    await meshinit?.stop();
    await server.stop();
    if (kubeconfig) fs.rmSync(path.dirname(kubeconfig), { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    workloads: { type: 'string', default: '3000' }, creators: { type: 'string', default: '50' }, rounds: { type: 'string', default: '3' },
    'meshinit-flags': { type: 'string', default: '' },
    'meshinit-node-flags': { type: 'string', default: '' },
  } });
  const nodeFlags = values['meshinit-node-flags'].split(/\s+/).filter(Boolean);
  const flags = values['meshinit-flags'].split(/\s+/).filter(Boolean);
  const workloads = Number(values.workloads);
  const rounds: Round[] = [];
  const before: Round[] = [];
  const baseline = baselineBuild();
  process.stdout.write(`meshinit's ceiling against the API server double: ${workloads} Deployments from ${values.creators} creators, beside meshinit before issue 9 (${BASELINE_COMMIT})\n`);
  for (let i = 0; i < Number(values.rounds); i++) {
    for (const who of ['before', 'meshinit'] as const) {
      const round = await runRound(workloads, Number(values.creators), who === 'meshinit' ? flags : [], who === 'meshinit' ? nodeFlags : [], who === 'before' ? baseline : undefined);
      (who === 'meshinit' ? rounds : before).push(round);
      process.stdout.write(`  round ${i + 1} ${who.padEnd(8)}: ${round.perSecond.toFixed(0)}/s, CPU ${round.cpuPer1000?.toFixed(2) ?? '?'} s per 1,000\n`);
    }
  }
  const perSecond = median(rounds.map((r) => r.perSecond));
  const cpu = median(rounds.map((r) => r.cpuPer1000 ?? NaN));
  const beforeRate = median(before.map((r) => r.perSecond));
  const beforeCpu = median(before.map((r) => r.cpuPer1000 ?? NaN));
  writeResult({
    runner: 'ceiling',
    measuredAt: new Date().toISOString(),
    figures: [
      { figure: `meshinit's own ceiling (API server double, ${workloads} Deployments)`, value: perSecond, unit: 'workloads/s', baseline: { name: `before (${BASELINE_COMMIT})`, value: beforeRate }, ratio: perSecond / beforeRate },
      { figure: 'meshinit CPU-seconds per 1,000 workloads against the double', value: cpu, unit: 'CPU-s', baseline: { name: `before (${BASELINE_COMMIT})`, value: beforeCpu }, ratio: cpu / beforeCpu },
    ],
    raw: { rounds, before, flags },
  });
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
