// Memory and start-up of meshinit in Initializer mode on the real kube-apiserver v1.13.0 (issue 9).
// The compiled meshinit, with default flags, as the shipped ServiceAccount, is started fresh with
// 0, 10,000, 20,000 and 50,000 Deployments already in the cluster (initialized: no
// InitializerConfiguration is installed, so creating them is not held and meshinit's watch is the
// same). For each count and round it records
//   ready  ms from spawning the process to the timestamp of its "Initializer controller running"
//          line (MeshConfigs, namespaces and every workload informer listed);
//   RSS    VmRSS of the process 10 s after ready (--settle-ms), and again once V8 has given back
//          what the start-up burst left (--steady-ms, default 45 s after ready: V8's memory reducer
//          runs its compacting GCs about 30 s after the last busy moment; the first 10 s figure
//          still holds that garbage); VmHWM, the peak.
// The baseline is a bare `node -e` measured the same way in the same run. Medians over the rounds
// go to the table and to bench/results/memory.json (figures, and the charts bench-memory and
// bench-ready).
//   node --import tsx bench/memory.ts [--workloads 10000,20000,50000] [--rounds 3] [--settle-ms 10000] [--steady-ms 45000] [--namespaces 10]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { startControlPlane, type ControlPlane } from '../test/control-plane/control-plane.ts';
import { MeshinitProcess, mustCreate } from '../test/e2e/cluster.ts';
import { installMeshinit } from './legacy-setup.ts';
import { median, writeResult, type Figure } from './result.ts';

const MB = 1024 * 1024;
const IDLE_TARGET_MB = 70;
const LOADED_TARGET_MB = 150;
const READY_TARGETS_MS: Record<number, number> = { 10_000: 2000, 50_000: 5000 };

interface Sample {
  workloads: number;
  readyMs: number;
  /** VmRSS --settle-ms after ready. */
  settledRssMb: number;
  /** VmRSS --steady-ms after ready. */
  rssMb: number;
  hwmMb: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** VmRSS and VmHWM of a live process, in MB. */
function memoryOf(pid: number): { rssMb: number; hwmMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: (kb('VmRSS') * 1024) / MB, hwmMb: (kb('VmHWM') * 1024) / MB };
}

/** A bare Node.js process that only waits: what any Node program costs before its first import. */
async function bareNode(settleMs: number): Promise<{ rssMb: number; hwmMb: number }> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
  try {
    await sleep(settleMs);
    return memoryOf(child.pid!);
  } finally {
    child.kill('SIGKILL');
  }
}

/**
 * Creates Deployments `from`..`to-1` spread over `namespaces` namespaces, many in flight on
 * keep-alive connections to the insecure port (plain HTTP: the load generator must not be what
 * limits a 50,000-object set-up on 2 cores). Resolves with the creates per second.
 */
async function createDeployments(plane: ControlPlane, from: number, to: number, namespaces: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = new URL(plane.insecureServer!);
  const post = (urlPath: string, body: unknown): Promise<number> => new Promise((resolve, reject) => {
    const req = http.request({ host: server.hostname, port: server.port, path: urlPath, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
  const started = performance.now();
  let next = from;
  try {
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < to) {
        const n = next++;
        const name = `w-${n}`;
        const labels = { app: name, tier: 'bench' };
        const status = await post(`/apis/apps/v1/namespaces/bench-mem-${n % namespaces}/deployments`, {
          apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels },
          spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.13', ports: [{ containerPort: 80 }] }] } } },
        });
        if (status !== 201) throw new Error(`create Deployment bench-mem-${n % namespaces}/${name}: HTTP ${status}`);
      }
    }));
  } finally {
    agent.destroy();
  }
  return (to - from) / ((performance.now() - started) / 1000);
}

/** Starts meshinit fresh, times it to ready, lets it settle, reads its memory, stops it. */
async function measureMeshinit(plane: ControlPlane, workloads: number, settleMs: number, steadyMs: number): Promise<Sample> {
  const spawnedAt = Date.now();
  const meshinit = new MeshinitProcess(['run', '--mode', 'initializer', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '']);
  try {
    const running = await meshinit.waitForLog((line) => line.message === 'Initializer controller running', 'Initializer controller running', 120_000);
    const readyMs = Date.parse(String(running.timestamp)) - spawnedAt;
    const readyAt = Date.parse(String(running.timestamp));
    await sleep(Math.max(0, readyAt + settleMs - Date.now()));
    const settledRssMb = memoryOf(meshinit.pid!).rssMb;
    await sleep(Math.max(0, readyAt + steadyMs - Date.now()));
    return { workloads, readyMs, settledRssMb, ...memoryOf(meshinit.pid!) };
  } finally {
    await meshinit.stop();
  }
}

function figure(name: string, value: number, unit: string, extra: Omit<Figure, 'figure' | 'value' | 'unit'> = {}): Figure {
  return { figure: name, value: Math.round(value * 10) / 10, unit, ...extra };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    workloads: { type: 'string', default: '10000,20000,50000' },
    rounds: { type: 'string', default: '3' },
    'settle-ms': { type: 'string', default: '10000' },
    'steady-ms': { type: 'string', default: '45000' },
    namespaces: { type: 'string', default: '10' },
  } });
  const counts = [0, ...values.workloads.split(',').map(Number).filter((n) => n > 0).sort((a, b) => a - b)];
  const rounds = Number(values.rounds);
  const settleMs = Number(values['settle-ms']);
  const steadyMs = Math.max(settleMs, Number(values['steady-ms']));
  const namespaces = Number(values.namespaces);
  const plane = await startControlPlane({ release: 'v1.13.0' });
  try {
    await installMeshinit(plane);
    for (let n = 0; n < namespaces; n++) await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `bench-mem-${n}` } });

    const bare: Array<{ rssMb: number; hwmMb: number }> = [];
    for (let round = 0; round < rounds; round++) bare.push(await bareNode(settleMs));
    const bareRss = median(bare.map((b) => b.rssMb));
    process.stdout.write(`bare node -e: RSS ${bareRss.toFixed(1)} MB\n`);

    const samples: Sample[] = [];
    const creation: Array<{ from: number; to: number; perSecond: number }> = [];
    let existing = 0;
    for (const count of counts) {
      if (count > existing) {
        const perSecond = await createDeployments(plane, existing, count, namespaces);
        creation.push({ from: existing, to: count, perSecond });
        process.stdout.write(`created Deployments ${existing}..${count} at ${perSecond.toFixed(0)}/s\n`);
        existing = count;
      }
      for (let round = 0; round < rounds; round++) {
        const sample = await measureMeshinit(plane, count, settleMs, steadyMs);
        samples.push(sample);
        process.stdout.write(`${String(count).padStart(6)} Deployments, round ${round + 1}: ready ${sample.readyMs.toFixed(0).padStart(5)} ms  RSS ${sample.settledRssMb.toFixed(1).padStart(6)} MB after ${settleMs / 1000} s, ${sample.rssMb.toFixed(1).padStart(6)} MB after ${steadyMs / 1000} s  peak ${sample.hwmMb.toFixed(1).padStart(6)} MB\n`);
      }
    }

    const at = (count: number): { readyMs: number; settledRssMb: number; rssMb: number; hwmMb: number } => {
      const mine = samples.filter((s) => s.workloads === count);
      const of = (pick: (s: Sample) => number): number => median(mine.map(pick));
      return { readyMs: of((s) => s.readyMs), settledRssMb: of((s) => s.settledRssMb), rssMb: of((s) => s.rssMb), hwmMb: of((s) => s.hwmMb) };
    };
    const rssTarget = (count: number): number => (count === 0 ? IDLE_TARGET_MB : LOADED_TARGET_MB);
    const baseline = { name: 'bare node -e (RSS, same run)', value: Math.round(bareRss * 10) / 10 };
    const figures: Figure[] = [];
    for (const count of counts) {
      const { readyMs, settledRssMb, rssMb } = at(count);
      const label = count === 0 ? 'idle, no workloads' : `${count.toLocaleString('en-US')} Deployments watched`;
      const ratio = (value: number): number => Math.round((value / bareRss) * 100) / 100;
      const target = rssTarget(count);
      figures.push(figure(`meshinit RSS ${steadyMs / 1000} s after ready, ${label}`, rssMb, 'MB', { baseline, ratio: ratio(rssMb), target: `<= ${target} MB`, met: rssMb <= target }));
      figures.push(figure(`meshinit RSS ${settleMs / 1000} s after ready, ${label}`, settledRssMb, 'MB', { baseline, ratio: ratio(settledRssMb), target: `<= ${target} MB`, met: settledRssMb <= target }));
      const readyTarget = READY_TARGETS_MS[count];
      if (count > 0) {
        figures.push(figure(`meshinit ready after start, ${label}`, readyMs, 'ms', readyTarget ? { target: `<= ${readyTarget} ms`, met: readyMs <= readyTarget } : {}));
      }
    }
    writeResult({
      runner: 'memory',
      server: plane.kubeVersion,
      measuredAt: new Date().toISOString(),
      figures,
      series: [
        {
          chart: 'bench-memory', title: 'meshinit memory vs workloads watched (Initializer mode, kube-apiserver v1.13.0)',
          xLabel: 'Deployments in the cluster', yLabel: 'RSS (MB)',
          lines: [
            { name: `meshinit RSS ${steadyMs / 1000} s after ready`, points: counts.map((c) => [c, at(c).rssMb]) },
            { name: `meshinit RSS ${settleMs / 1000} s after ready`, points: counts.map((c) => [c, at(c).settledRssMb]) },
            { name: 'meshinit peak RSS (VmHWM)', points: counts.map((c) => [c, at(c).hwmMb]) },
            { name: 'bare node -e', points: counts.map((c) => [c, bareRss]) },
          ],
        },
        {
          chart: 'bench-ready', title: 'meshinit start to ready vs workloads (Initializer mode, kube-apiserver v1.13.0)',
          xLabel: 'Deployments in the cluster', yLabel: 'start to ready (ms)',
          lines: [{ name: 'meshinit', points: counts.map((c) => [c, at(c).readyMs]) }],
        },
      ],
      raw: { rounds, settleMs, steadyMs, namespaces, bare, creation, samples },
    });

    process.stdout.write(`\nmedians of ${rounds} rounds, kube-apiserver ${plane.kubeVersion}; bare node -e ${bareRss.toFixed(1)} MB:\n`);
    process.stdout.write(`| Deployments | ready ms | RSS MB at ${settleMs / 1000} s | RSS MB at ${steadyMs / 1000} s | peak RSS MB | targets |\n| --- | --- | --- | --- | --- | --- |\n`);
    for (const count of counts) {
      const { readyMs, settledRssMb, rssMb, hwmMb } = at(count);
      const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
      const readyTarget = READY_TARGETS_MS[count];
      const targets = [
        `RSS <= ${rssTarget(count)}: ${verdict(rssMb <= rssTarget(count))} at ${steadyMs / 1000} s, ${verdict(settledRssMb <= rssTarget(count))} at ${settleMs / 1000} s`,
        ...(readyTarget ? [`ready <= ${readyTarget} ms: ${verdict(readyMs <= readyTarget)}`] : []),
      ];
      process.stdout.write(`| ${count.toLocaleString('en-US')} | ${readyMs.toFixed(0)} | ${settledRssMb.toFixed(1)} | ${rssMb.toFixed(1)} | ${hwmMb.toFixed(1)} | ${targets.join('; ')} |\n`);
    }
  } finally {
    await plane.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
