// Initializer throughput on the real kube-apiserver v1.13.0 (issue 9): a burst of Deployments
// from concurrent creators, each created with includeUninitialized=1 (answered at once, still
// pending), timed from "POST answered" to "initialized" as a watch sees it. Three initializers
// take turns on the same server, each in a fresh namespace, alternating over several rounds:
//   floor    the load generator itself: one JSON Patch (test, remove our entry, add a container)
//            per watch event, no limit on concurrency -- what the server can do;
//   meshinit the compiled meshinit with default flags, as the shipped ServiceAccount.
// Prints medians over the rounds and meshinit/floor ratios, and writes bench/results/latest.json.
//   node --import tsx bench/initializer-throughput.ts [--workloads 1000] [--creators 50] [--rounds 3] [--meshinit-flags="--concurrency 32"]
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane, type ControlPlane } from '../test/control-plane/control-plane.ts';
import { MeshinitProcess, mustCreate, readYaml, waitUntil, type Json } from '../test/e2e/cluster.ts';
import { repoRoot } from '../test/support/transcripts.ts';

const OURS = 'sidecar.initializer.meshinit.dev';
let meshinitFlags: string[] = [];

interface RoundResult {
  initializer: 'floor' | 'meshinit';
  workloads: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuSeconds?: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Clock ticks of user + system CPU of a process so far, from /proc. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** A keep-alive HTTPS client as the admin, for the load generator and the floor initializer. */
function adminClient(plane: ControlPlane, certPem: string, keyPem: string) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 256, ca: plane.caCertPem, cert: certPem, key: keyPem });
  const url = new URL(plane.server);
  const call = (method: string, urlPath: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request({ host: url.hostname, port: url.port, path: urlPath, method, agent, headers: { accept: 'application/json', ...(payload ? { 'content-type': contentType } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(payload);
    });
  /** Streams watch events until stop(); each line parsed. */
  const watch = (urlPath: string, onEvent: (event: { type: string; object: Json }) => void): { stop(): void } => {
    const req = https.request({ host: url.hostname, port: url.port, path: urlPath, method: 'GET', agent: new https.Agent({ ca: plane.caCertPem, cert: certPem, key: keyPem }) }, (res) => {
      let buffer = '';
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.trim()) onEvent(JSON.parse(line) as { type: string; object: Json });
          newline = buffer.indexOf('\n');
        }
      });
    });
    req.on('error', () => undefined);
    req.end();
    return { stop: () => req.destroy() };
  };
  return { call, watch, close: () => agent.destroy() };
}

function pendingNames(object: Json): string[] {
  const initializers = (object.metadata as Json).initializers as { pending?: Array<{ name: string }> } | undefined;
  return (initializers?.pending ?? []).map((p) => p.name);
}

async function runRound(plane: ControlPlane, client: ReturnType<typeof adminClient>, initializer: 'floor' | 'meshinit', namespace: string, workloads: number, creators: number): Promise<RoundResult> {
  await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const answered = new Map<string, number>();
  const initialized = new Map<string, number>();
  const base = `/apis/apps/v1/namespaces/${namespace}/deployments`;
  let floorWatch: { stop(): void } | undefined;
  if (initializer === 'floor') {
    // What the server can do: one patch per event, at once, no queue.
    floorWatch = client.watch(`${base}?watch=true&includeUninitialized=true`, (event) => {
      if (event.type !== 'ADDED' || pendingNames(event.object)[0] !== OURS) return;
      const name = String((event.object.metadata as Json).name);
      void client.call('PATCH', `${base}/${name}`, [
        { op: 'test', path: '/metadata/initializers/pending/0/name', value: OURS },
        { op: 'remove', path: '/metadata/initializers' },
        { op: 'add', path: '/spec/template/spec/containers/-', value: { name: 'mesh-proxy', image: 'ghcr.io/meshinit/proxy:1.0.0' } },
      ], 'application/json-patch+json');
    });
  }
  const observer = client.watch(`${base}?watch=true&includeUninitialized=true`, (event) => {
    const name = String((event.object.metadata as Json).name);
    if (event.type === 'MODIFIED' && pendingNames(event.object).length === 0 && !initialized.has(name)) initialized.set(name, performance.now());
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  let meshinit: MeshinitProcess | undefined;
  let cpuBefore: number | undefined;
  if (initializer === 'meshinit') {
    meshinit = new MeshinitProcess(['run', '--kubeconfig', plane.controllerKubeconfigPath, '--health-addr', '', '--log-level', 'warn', '--namespace', namespace, ...meshinitFlags]);
    await waitUntil(async () => (cpuSeconds(meshinit!.pid) !== undefined ? true : undefined), 'meshinit started');
    // --log-level warn hides "running": give its informers time to sync before the burst.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    cpuBefore = cpuSeconds(meshinit.pid);
  }
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: creators }, async () => {
    while (next < workloads) {
      const name = `w-${next++}`;
      const body = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels: { app: name } }, spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } } };
      const reply = await client.call('POST', `${base}?includeUninitialized=1`, body);
      if (reply.status !== 202 && reply.status !== 201) throw new Error(`create ${name}: ${reply.status} ${reply.body.slice(0, 200)}`);
      answered.set(name, performance.now());
    }
  }));
  await waitUntil(async () => (initialized.size >= workloads ? true : undefined), `${workloads} initialized by ${initializer} (${initialized.size} so far)`, 300_000);
  const cpuAfter = cpuSeconds(meshinit?.pid);
  const seconds = (Math.max(...initialized.values()) - started) / 1000;
  const latencies = [...initialized].map(([name, at]) => at - (answered.get(name) ?? at));
  observer.stop();
  floorWatch?.stop();
  await meshinit?.stop();
  return {
    initializer, workloads, seconds, perSecond: workloads / seconds, p50Ms: median(latencies), p99Ms: percentile(latencies, 99),
    ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuSeconds: cpuAfter - cpuBefore } : {}),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    workloads: { type: 'string', default: '1000' }, creators: { type: 'string', default: '50' }, rounds: { type: 'string', default: '3' },
    // Extra `meshinit run` flags, e.g. --meshinit-flags="--concurrency 32"; default: none (the defaults are what is measured).
    'meshinit-flags': { type: 'string', default: '' },
  } });
  meshinitFlags = values['meshinit-flags'].split(/\s+/).filter(Boolean);
  const workloads = Number(values.workloads);
  const creators = Number(values.creators);
  const rounds = Number(values.rounds);
  const plane = await startControlPlane({ release: 'v1.13.0' });
  try {
    for (const file of ['manifests/initializer/namespace.yaml', 'manifests/initializer/rbac.yaml']) for (const doc of readYaml(file)) await mustCreate(plane, doc);
    await mustCreate(plane, readYaml('crds/meshconfig.v1beta1.yaml')[0]!);
    await waitUntil(async () => ((await plane.request('GET', '/apis/meshinit.dev/v1alpha1/meshconfigs')).status === 200 ? true : undefined), 'the CRD served');
    await mustCreate(plane, readYaml('manifests/meshconfig-sample.yaml')[0]!);
    await mustCreate(plane, readYaml('manifests/initializer/initializerconfiguration.yaml')[0]!);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const adminKubeconfig = JSON.parse(fs.readFileSync(plane.adminKubeconfigPath, 'utf8')) as { users: Array<{ user: Record<string, string> }> };
    const user = adminKubeconfig.users[0]!.user;
    const client = adminClient(plane, Buffer.from(user['client-certificate-data']!, 'base64').toString(), Buffer.from(user['client-key-data']!, 'base64').toString());
    const results: RoundResult[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const initializer of ['floor', 'meshinit'] as const) {
        const result = await runRound(plane, client, initializer, `bench-${initializer}-${round}`, workloads, creators);
        results.push(result);
        process.stdout.write(`round ${round + 1} ${initializer.padEnd(8)} ${result.perSecond.toFixed(0).padStart(5)}/s  p50 ${result.p50Ms.toFixed(0).padStart(5)} ms  p99 ${result.p99Ms.toFixed(0).padStart(5)} ms${result.cpuSeconds !== undefined ? `  meshinit CPU ${result.cpuSeconds.toFixed(2)} s` : ''}\n`);
      }
    }
    client.close();
    const of = (who: 'floor' | 'meshinit', pick: (r: RoundResult) => number): number => median(results.filter((r) => r.initializer === who).map(pick));
    const summary = {
      server: plane.kubeVersion, workloads, creators, rounds,
      floor: { perSecond: of('floor', (r) => r.perSecond), p50Ms: of('floor', (r) => r.p50Ms) },
      meshinit: { perSecond: of('meshinit', (r) => r.perSecond), p50Ms: of('meshinit', (r) => r.p50Ms), cpuSecondsPer1000: of('meshinit', (r) => ((r.cpuSeconds ?? NaN) * 1000) / r.workloads) },
    };
    process.stdout.write(`\nmedians of ${rounds} rounds, ${workloads} Deployments from ${creators} creators, kube-apiserver ${plane.kubeVersion}:\n`);
    process.stdout.write(`| initializer | workloads/s | p50 ms | CPU-s per 1,000 |\n| --- | --- | --- | --- |\n`);
    process.stdout.write(`| floor (one patch per event) | ${summary.floor.perSecond.toFixed(0)} | ${summary.floor.p50Ms.toFixed(0)} | - |\n`);
    process.stdout.write(`| meshinit (${meshinitFlags.length ? meshinitFlags.join(' ') : 'defaults'}) | ${summary.meshinit.perSecond.toFixed(0)} | ${summary.meshinit.p50Ms.toFixed(0)} | ${summary.meshinit.cpuSecondsPer1000.toFixed(2)} |\n`);
    process.stdout.write(`ratio meshinit/floor: throughput ${(summary.meshinit.perSecond / summary.floor.perSecond).toFixed(2)}, p50 ${(summary.meshinit.p50Ms / summary.floor.p50Ms).toFixed(2)}x (targets: >= 0.85, <= 1.5x)\n`);
    const out = path.join(repoRoot, 'bench', 'results');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'latest.json'), `${JSON.stringify({ initializerThroughput: { summary, rounds: results } }, null, 2)}\n`);
  } finally {
    await plane.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
