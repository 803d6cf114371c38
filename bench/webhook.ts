// Webhook latency and throughput (issue 9): the compiled meshinit in webhook mode (--target pods)
// against the real modern kube-apiserver, beside a bare node:https server that answers every
// request with one constant AdmissionReview (same certificate, same request bodies, same answer
// size), both measured in the same run with the same load generator:
//   start    500 req/s for --seconds from the moment /readyz says ready (p50/p99 overall and for
//            the first 2 s: what the first Pods after a rollout of meshinit see)
//   curve    latency at each offered load of --rates (the bench-webhook-latency chart)
//   saturate --clients concurrent keep-alive clients for --saturation-seconds: requests/s
// The request body is the AdmissionReview the real server sends for a ReplicaSet's Pod (captured
// once by a webhook registered in this process), pre-serialised with a fresh request uid each.
// Also the server's CPU time per answer at saturation (from /proc), which a busy machine disturbs
// far less than latency. Prints medians over --rounds and writes bench/results/webhook.json.
//   node --import tsx bench/webhook.ts [--rounds 3] [--seconds 10] [--rates 100,250,500,1000,2000]
//     [--curve-seconds 3] [--clients 32] [--saturation-seconds 5] [--meshinit-flags="--log-level warn"]
//     [--distinct-pods]   every Pod another ReplicaSet's: the answer cache never hits
//     [--cpu-prof DIR]    meshinit writes a V8 CPU profile there (read it with bench/profile-summary.ts)
//     [--verbose]         the slowest answers of each run's first 2 s
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseMeshConfig } from '../controller/core/meshconfig.ts';
import { admit } from '../controller/webhook/admission.ts';
import { generateSelfSignedCertificates } from '../controller/webhook/certificates.ts';
import { startControlPlane, type ControlPlane } from '../test/control-plane/control-plane.ts';
import { freePort, installMeshConfigCrd, mustCreate, readYaml, waitUntil, type Json } from '../test/e2e/cluster.ts';
import { repoRoot } from '../test/support/transcripts.ts';
import { median, percentile, writeResult, type Figure } from './result.ts';

const NAMESPACE = 'bench';
const TEMPLATE_HASH = '7d9f8c6b5';
type Who = 'meshinit' | 'bare';

interface Tls { certFile: string; keyFile: string; caPem: string }

// ---------------------------------------------------------------------------------------------
// The bare floor: node:https, the body read and dropped, one pre-serialised answer.

function runBareServer(args: { cert: string; key: string; response: string; port: number }): void {
  const answer = fs.readFileSync(args.response);
  const server = https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key), minVersion: 'TLSv1.2' }, (request, response) => {
    request.on('data', () => undefined);
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end(answer));
  });
  server.listen(args.port, '127.0.0.1');
  process.once('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// The load generator: one keep-alive agent, pre-serialised bodies, nothing parsed on the way back.

interface Sample { at: number; ms: number; ok: boolean }

function loadClient(port: number, caPem: string) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: caPem });
  const request = (method: string, urlPath: string, body?: Buffer): Promise<{ status: number; ms: number }> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const req = https.request({
        host: '127.0.0.1', port, path: urlPath, method, agent,
        headers: body ? { 'content-type': 'application/json', 'content-length': body.length } : {},
      }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      });
      req.on('error', reject);
      req.end(body);
    });
  return { request, close: () => agent.destroy() };
}
type LoadClient = ReturnType<typeof loadClient>;

/** Open loop: requests go out on schedule whether or not earlier ones have been answered. */
async function fixedRate(client: LoadClient, bodies: Buffer[], rate: number, seconds: number): Promise<Sample[]> {
  const total = Math.round(rate * seconds);
  const samples: Sample[] = [];
  const pending: Array<Promise<void>> = [];
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((done) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
      for (; sent < due; sent++) {
        const at = performance.now() - t0;
        pending.push(client.request('POST', '/inject', bodies[sent % bodies.length]).then(
          (r) => { samples.push({ at, ms: r.ms, ok: r.status === 200 }); },
          () => { samples.push({ at, ms: performance.now() - t0 - at, ok: false }); },
        ));
      }
      if (sent < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  await Promise.all(pending);
  return samples;
}

/** Closed loop: `clients` keep-alive clients, each sending its next request when answered. */
async function saturate(client: LoadClient, bodies: Buffer[], clients: number, seconds: number): Promise<{ perSecond: number; samples: Sample[] }> {
  const samples: Sample[] = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let next = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < end) {
      const at = performance.now() - t0;
      const r = await client.request('POST', '/inject', bodies[next++ % bodies.length]).catch(() => ({ status: 0, ms: 0 }));
      samples.push({ at, ms: r.ms, ok: r.status === 200 });
    }
  }));
  return { perSecond: samples.filter((s) => s.ok).length / ((performance.now() - t0) / 1000), samples };
}

/** User + system CPU seconds of a process so far, from /proc (clock ticks of 10 ms). */
function cpuSeconds(pid: number | undefined): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// ---------------------------------------------------------------------------------------------
// The servers under test, each a child process.

interface Server { who: Who; port: number; child: ChildProcess; stop(): Promise<void> }

function spawnLogged(args: string[], logFile: string): ChildProcess {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  return child;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  };
}

interface StartOptions { plane: ControlPlane; tls: Tls; workDir: string; responseFile: string; cpuProfDir?: string; meshinitFlags: string[] }

async function startServer(who: Who, options: StartOptions): Promise<Server> {
  const port = await freePort();
  const logFile = path.join(options.workDir, `${who}.log`);
  const child = who === 'meshinit'
    ? spawnLogged([
      ...(options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []),
      path.join(repoRoot, 'bin/meshinit.js'), 'run', '--mode', 'webhook', '--kubeconfig', options.plane.controllerKubeconfigPath,
      '--health-addr', '', '--webhook-addr', `127.0.0.1:${port}`, '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile,
      '--target', 'pods', ...options.meshinitFlags,
    ], logFile)
    : spawnLogged(['--import', 'tsx', path.join(repoRoot, 'bench/webhook.ts'), '--bare-server', '--cert', options.tls.certFile, '--key', options.tls.keyFile,
      '--response', options.responseFile, '--port', String(port)], logFile);
  return { who, port, child, stop: stopper(child) };
}

/** Polls /readyz (meshinit) or any path (bare) every 5 ms until it answers 200. */
async function waitReady(server: Server, client: LoadClient): Promise<number> {
  const started = performance.now();
  await waitUntil(async () => {
    if (server.child.exitCode !== null) throw new Error(`${server.who} exited with ${server.child.exitCode}`);
    const reply = await client.request('GET', '/readyz').catch(() => undefined);
    if (reply?.status === 200) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return undefined;
  }, `${server.who} ready`, 60_000);
  return performance.now() - started;
}

// ---------------------------------------------------------------------------------------------

interface Latency { p50: number; p99: number; n: number; errors: number }

function latency(samples: Sample[]): Latency {
  const ms = samples.filter((s) => s.ok).map((s) => s.ms);
  return { p50: ms.length ? percentile(ms, 50) : NaN, p99: ms.length ? percentile(ms, 99) : NaN, n: samples.length, errors: samples.length - ms.length };
}

interface RoundResult {
  who: Who;
  readyMs: number;
  /** The slowest answers of the first 2 s: [ms after the start of the run, latency ms], to tell a pause from a slow path. */
  start: { all: Latency; first2s: Latency; slowest: Array<[number, number]> };
  curve: Array<{ rate: number } & Latency>;
  /** CPU time of the server process per request answered at saturation: robust to a busy machine. */
  saturation: { perSecond: number; cpuMicrosPerRequest: number } & Latency;
}

interface RunSettings { seconds: number; rates: number[]; curveSeconds: number; clients: number; saturationSeconds: number }

async function runRound(who: Who, options: StartOptions, bodies: Buffer[], settings: RunSettings): Promise<RoundResult> {
  const server = await startServer(who, options);
  const client = loadClient(server.port, options.tls.caPem);
  try {
    const readyMs = await waitReady(server, client);
    const start = await fixedRate(client, bodies, 500, settings.seconds);
    const curve: RoundResult['curve'] = [];
    for (const rate of settings.rates) curve.push({ rate, ...latency(await fixedRate(client, bodies, rate, settings.curveSeconds)) });
    const cpuBefore = cpuSeconds(server.child.pid);
    const saturation = await saturate(client, bodies, settings.clients, settings.saturationSeconds);
    const cpu = cpuSeconds(server.child.pid) - cpuBefore;
    return {
      who, readyMs,
      start: {
        all: latency(start), first2s: latency(start.filter((s) => s.at < 2000)),
        slowest: start.filter((s) => s.at < 2000).sort((a, b) => b.ms - a.ms).slice(0, 8).map((s): [number, number] => [Math.round(s.at), Math.round(s.ms * 100) / 100]),
      },
      curve,
      saturation: { perSecond: saturation.perSecond, cpuMicrosPerRequest: (cpu * 1e6) / saturation.samples.filter((x) => x.ok).length, ...latency(saturation.samples) },
    };
  } finally {
    client.close();
    await server.stop();
  }
}

/** The AdmissionReview the server sends for a ReplicaSet's Pod, captured by a webhook of our own. */
async function captureReview(plane: ControlPlane, tls: Tls, certPem: string, keyPem: string): Promise<Json> {
  let captured: Json | undefined;
  const server = https.createServer({ cert: certPem, key: keyPem }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } };
      captured ??= review as unknown as Json;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await mustCreate(plane, {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'bench-capture' },
    webhooks: [{
      name: 'capture.bench.meshinit.dev', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail',
      clientConfig: { url: `https://127.0.0.1:${port}/capture`, caBundle: Buffer.from(tls.caPem).toString('base64') },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NAMESPACE } },
    }],
  });
  // What the ReplicaSet controller creates for Deployment web: the template, generateName, owner.
  const deployment = readYaml('examples/app.yaml').find((d) => d.kind === 'Deployment' && (d.metadata as Json).name === 'web')!;
  const template = (deployment.spec as { template: { metadata: Json; spec: Json } }).template;
  const replicaSet = `web-${TEMPLATE_HASH}`;
  const pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      generateName: `${replicaSet}-`, namespace: NAMESPACE,
      labels: { ...(template.metadata.labels as Json), 'pod-template-hash': TEMPLATE_HASH },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: replicaSet, uid: '0b7d3c2a-5f0e-4c59-9d7e-6a1f2b3c4d5e', controller: true, blockOwnerDeletion: true }],
    },
    spec: template.spec,
  };
  // The webhook configuration takes a moment to reach the server's admission chain.
  await waitUntil(async () => {
    const reply = await plane.request('POST', `/api/v1/namespaces/${NAMESPACE}/pods?dryRun=All`, { body: pod });
    return captured ? true : reply.status >= 400 ? (() => { throw new Error(`pod create: ${reply.status} ${reply.body}`); })() : undefined;
  }, 'the capture webhook to be called');
  await plane.request('DELETE', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/bench-capture');
  server.close();
  const review = captured!;
  // dryRun=All made the capture; the bench sends what a real create sends.
  (review.request as Json).dryRun = false;
  return review;
}

/** `count` bodies, each with its own request uid; with `distinct`, each Pod is another ReplicaSet's. */
function requestBodies(review: Json, count: number, distinct: boolean): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const request = review.request as { object: { metadata: Json }; uid: string };
    const uid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    const object = distinct
      ? { ...request.object, metadata: { ...request.object.metadata, generateName: `web${i}-${TEMPLATE_HASH}-`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `web${i}-${TEMPLATE_HASH}`, uid: `u${i}`, controller: true, blockOwnerDeletion: true }] } }
      : request.object;
    return Buffer.from(JSON.stringify({ ...review, request: { ...request, uid, object } }));
  });
}

function fmt(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' },
    rates: { type: 'string', default: '100,250,500,1000,2000' }, 'curve-seconds': { type: 'string', default: '3' },
    clients: { type: 'string', default: '32' }, 'saturation-seconds': { type: 'string', default: '5' },
    'cpu-prof': { type: 'string' }, 'distinct-pods': { type: 'boolean', default: false },
    'meshinit-flags': { type: 'string', default: '' },
    // Writes the captured AdmissionReview here, for profiling the handler offline.
    'save-review': { type: 'string' },
    verbose: { type: 'boolean', default: false },
    // Internal: the bare floor server, run as a child process of the bench.
    'bare-server': { type: 'boolean', default: false }, cert: { type: 'string' }, key: { type: 'string' }, response: { type: 'string' }, port: { type: 'string' },
  } });
  if (values['bare-server']) {
    runBareServer({ cert: values.cert!, key: values.key!, response: values.response!, port: Number(values.port) });
    return;
  }
  const settings: RunSettings = {
    seconds: Number(values.seconds), rates: values.rates.split(',').map(Number), curveSeconds: Number(values['curve-seconds']),
    clients: Number(values.clients), saturationSeconds: Number(values['saturation-seconds']),
  };
  const rounds = Number(values.rounds);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-bench-webhook-'));
  const plane = await startControlPlane();
  try {
    await installMeshConfigCrd(plane);
    for (const file of ['manifests/webhook/namespace.yaml', 'manifests/webhook/rbac.yaml']) for (const doc of readYaml(file)) await mustCreate(plane, doc);
    await mustCreate(plane, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    const sample = readYaml('manifests/meshconfig-sample.yaml')[0]!;
    await mustCreate(plane, sample);
    // The Pod's Deployment, so meshinit judges the Pod as its workload (from its metadata cache).
    const deployment = readYaml('examples/app.yaml').find((d) => d.kind === 'Deployment' && (d.metadata as Json).name === 'web')!;
    await mustCreate(plane, { ...deployment, metadata: { ...(deployment.metadata as Json), namespace: NAMESPACE } });

    const certs = generateSelfSignedCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const tls: Tls = { certFile: path.join(workDir, 'tls.crt'), keyFile: path.join(workDir, 'tls.key'), caPem: certs.caPem };
    fs.writeFileSync(tls.certFile, certs.certPem);
    fs.writeFileSync(tls.keyFile, certs.keyPem);
    const review = await captureReview(plane, tls, certs.certPem, certs.keyPem);
    if (values['save-review']) fs.writeFileSync(values['save-review'], JSON.stringify(review));
    const bodies = requestBodies(review, 2000, values['distinct-pods']);

    // The bare server's constant answer: meshinit's own answer to this review, so both send as much.
    const parsed = parseMeshConfig(sample);
    if (!parsed.ok) throw parsed.error;
    const meshConfig = parsed.meshConfig;
    const expected = admit(JSON.parse(bodies[0]!.toString('utf8')), {
      target: 'pods', namespace: (name) => ({ name, labels: {} }), meshConfigs: () => [meshConfig], controllerNamespace: 'meshinit-system',
    });
    if (expected.decision.action !== 'injected') throw new Error(`the captured Pod is not injected: ${expected.decision.reason}`);
    const responseFile = path.join(workDir, 'response.json');
    fs.writeFileSync(responseFile, JSON.stringify(expected.review));
    process.stdout.write(`kube-apiserver ${plane.kubeVersion}; request ${bodies[0]!.length} bytes, answer ${fs.statSync(responseFile).size} bytes; ` +
      `${rounds} rounds of: 500/s for ${settings.seconds} s from ready, ${settings.rates.join('/')} req/s for ${settings.curveSeconds} s each, ${settings.clients} clients for ${settings.saturationSeconds} s\n`);

    if (values['cpu-prof']) fs.mkdirSync(values['cpu-prof'], { recursive: true });
    const options: StartOptions = {
      plane, tls, workDir, responseFile, meshinitFlags: values['meshinit-flags'].split(/\s+/).filter(Boolean),
      ...(values['cpu-prof'] ? { cpuProfDir: path.resolve(values['cpu-prof']) } : {}),
    };
    // The load generator's own code paths warm (its JIT, TLS client), against a bare server that
    // is then thrown away: the first seconds measured are the server's, not the client's.
    const warmup = await startServer('bare', options);
    const warmupClient = loadClient(warmup.port, tls.caPem);
    await waitReady(warmup, warmupClient);
    await fixedRate(warmupClient, bodies, 1000, 2);
    await saturate(warmupClient, bodies, settings.clients, 1);
    warmupClient.close();
    await warmup.stop();
    const results: RoundResult[] = [];
    for (let round = 0; round < rounds; round++) {
      // Alternate who goes first, so a drift in the machine's load does not favour one side.
      const order: Who[] = round % 2 === 0 ? ['meshinit', 'bare'] : ['bare', 'meshinit'];
      for (const who of order) {
        const r = await runRound(who, options, bodies, settings);
        results.push(r);
        const errors = r.start.all.errors + r.saturation.errors + r.curve.reduce((sum, c) => sum + c.errors, 0);
        process.stdout.write(`round ${round + 1} ${who.padEnd(8)} ready ${fmt(r.readyMs, 0)} ms | 500/s p50 ${fmt(r.start.all.p50)} p99 ${fmt(r.start.all.p99)} ms, first 2 s p99 ${fmt(r.start.first2s.p99)} ms | ` +
          `${settings.clients} clients ${fmt(r.saturation.perSecond, 0)}/s, ${fmt(r.saturation.cpuMicrosPerRequest, 0)} µs CPU each${errors ? ` | ${errors} errors` : ''}\n`);
        if (values.verbose) process.stdout.write(`  slowest in the first 2 s [at ms, latency ms]: ${JSON.stringify(r.start.slowest)}\n`);
      }
    }
    report(results, settings, plane.kubeVersion, values['distinct-pods']);
  } finally {
    await plane.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

function report(results: RoundResult[], settings: RunSettings, server: string, distinct: boolean): void {
  const of = (who: Who, pick: (r: RoundResult) => number): number => median(results.filter((r) => r.who === who).map(pick));
  const curveOf = (who: Who, rate: number, pick: (l: Latency) => number): number => of(who, (r) => pick(r.curve.find((c) => c.rate === rate)!));
  const rows: Array<[string, (r: RoundResult) => number, number]> = [
    ['500/s p50 (ms)', (r) => r.start.all.p50, 2], ['500/s p99 (ms)', (r) => r.start.all.p99, 2],
    ['500/s first 2 s p50 (ms)', (r) => r.start.first2s.p50, 2], ['500/s first 2 s p99 (ms)', (r) => r.start.first2s.p99, 2],
    ...settings.rates.map((rate): [string, (r: RoundResult) => number, number] => [`${rate}/s p99 (ms)`, (r) => r.curve.find((c) => c.rate === rate)!.p99, 2]),
    [`saturation, ${settings.clients} clients (req/s)`, (r) => r.saturation.perSecond, 0],
    ['server CPU per request at saturation (µs)', (r) => r.saturation.cpuMicrosPerRequest, 0],
    ['ready after start (ms)', (r) => r.readyMs, 0],
  ];
  process.stdout.write(`\nmedians of ${results.length / 2} rounds, kube-apiserver ${server}${distinct ? ', every Pod distinct (cache misses)' : ''}:\n| | meshinit | bare node:https | ratio |\n| --- | --- | --- | --- |\n`);
  for (const [label, pick, digits] of rows) {
    const [m, b] = [of('meshinit', pick), of('bare', pick)];
    process.stdout.write(`| ${label} | ${fmt(m, digits)} | ${fmt(b, digits)} | ${fmt(m / b)} |\n`);
  }
  const p99First = of('meshinit', (r) => r.start.first2s.p99);
  const p99All = of('meshinit', (r) => r.start.all.p99);
  const sat = of('meshinit', (r) => r.saturation.perSecond);
  const bareSat = of('bare', (r) => r.saturation.perSecond);
  const figures: Figure[] = [
    { figure: 'Webhook p99 at 500 req/s, first 2 s after ready', value: p99First, unit: 'ms', baseline: { name: 'bare node:https', value: of('bare', (r) => r.start.first2s.p99) }, target: '<= 5 ms', met: p99First <= 5 },
    { figure: `Webhook p99 at 500 req/s, ${settings.seconds} s from ready`, value: p99All, unit: 'ms', baseline: { name: 'bare node:https', value: of('bare', (r) => r.start.all.p99) }, target: '<= 5 ms', met: p99All <= 5 },
    { figure: `Webhook p50 at 500 req/s, ${settings.seconds} s from ready`, value: of('meshinit', (r) => r.start.all.p50), unit: 'ms', baseline: { name: 'bare node:https', value: of('bare', (r) => r.start.all.p50) } },
    { figure: `Webhook saturation (${settings.clients} keep-alive clients)`, value: sat, unit: 'req/s', baseline: { name: 'bare node:https', value: bareSat }, ratio: sat / bareSat, target: '>= 0.70 of bare node:https', met: sat / bareSat >= 0.7 },
    // Server CPU per answer: what saturation would be if the server alone had the cores (the load
    // generator and everything else on the machine take their share of the same 2 cores).
    {
      figure: 'Webhook server CPU per request at saturation', value: of('meshinit', (r) => r.saturation.cpuMicrosPerRequest), unit: 'µs',
      baseline: { name: 'bare node:https', value: of('bare', (r) => r.saturation.cpuMicrosPerRequest) },
      ratio: of('meshinit', (r) => r.saturation.cpuMicrosPerRequest) / of('bare', (r) => r.saturation.cpuMicrosPerRequest),
    },
  ];
  process.stdout.write(`targets: p99 first 2 s ${fmt(p99First)} ms (<= 5: ${p99First <= 5 ? 'met' : 'NOT met'}), saturation ${fmt(sat / bareSat)} of bare (>= 0.70: ${sat / bareSat >= 0.7 ? 'met' : 'NOT met'})\n`);
  const line = (name: string, who: Who, pick: (l: Latency) => number): { name: string; points: Array<[number, number]> } =>
    ({ name, points: settings.rates.map((rate): [number, number] => [rate, curveOf(who, rate, pick)]) });
  writeResult({
    runner: 'webhook', server, measuredAt: new Date().toISOString(), figures,
    series: [{
      chart: 'bench-webhook-latency', title: 'Webhook latency vs offered load (TLS keep-alive, a ReplicaSet\'s Pod)', xLabel: 'offered load (req/s)', yLabel: 'latency (ms)',
      lines: [line('meshinit p50', 'meshinit', (l) => l.p50), line('meshinit p99', 'meshinit', (l) => l.p99), line('bare node:https p50', 'bare', (l) => l.p50), line('bare node:https p99', 'bare', (l) => l.p99)],
    }],
    raw: { settings, distinctPods: distinct, rounds: results },
  });
}

main().then(() => {
  // The bare server keeps serving until the bench stops it; the bench itself is done.
  if (!process.argv.includes('--bare-server')) process.exit(0);
}, (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
