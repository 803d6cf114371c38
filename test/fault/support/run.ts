// One fault run: a fresh double, the world of world.ts, meshinit (in-process or the CLI), the two
// other initializers, a burst of workloads with faults and mid-burst events (a MeshConfig change, an
// invalid MeshConfig, SIGKILLs, server commands), a bounded wait, then the checks of checks.ts.
import { LegacyApiServer, TestClient, type FaultPlan, type RecordedRequest } from '../../support/legacy-apiserver/index.ts';
import { OtherInitializer } from './actor.ts';
import { checkRun, type Findings, type VersionTimeline } from './checks.ts';
import { startCli, startInProcess, type RunningMeshinit } from './meshinit.ts';
import { ADMIN, AUDIT, CREATOR, KINDS, MESHCONFIG_OPTIN, MESHCONFIG_STRICT, MESHINIT, meshConfigDefault, NAMESPACES, OURS, POLICY, SIDECARS, WORKLOAD_PLURALS, generateBurst, type DefaultVersion } from './world.ts';

export interface Scenario {
  name: string;
  seed: number;
  workloads: number;
  mode: 'in-process' | 'cli';
  /** Faults for meshinit's requests (the creator, the other initializers and the admin are spared). */
  faults?: Omit<Partial<FaultPlan>, 'seed' | 'targets'>;
  /** Push MeshConfig default v2 at 35% of the burst and an invalid v3 at 65%. */
  meshConfigChange?: boolean;
  /** SIGKILL and restart the CLI when this share of the burst is created (e.g. [0.3, 0.55]). */
  killAt?: readonly number[];
  /** Commands to the double at a share of the burst (410 on the next resumes, compaction...). */
  commands?: ReadonlyArray<{ at: number; run: (server: LegacyApiServer) => void }>;
  /** The burst is spread over this long, so periodic faults land in the middle of it. Default 4 s. */
  burstMs?: number;
  concurrency?: number;
  /** meshinit replicas side by side (the README says two may run without leader election). Default 1. */
  replicas?: number;
  /** The bounded wait for the last workload after the burst. Default 45 s. */
  deadlineMs?: number;
  /** Assert MeshConfig default's status after the invalid push (off where its writes may fail: see the report). */
  checkStatus?: boolean;
  /** Plays meshinit with something else (the suite's own self-test uses a misbehaving one). */
  meshinit?: (server: LegacyApiServer) => Promise<RunningMeshinit>;
  /** Called with the double at the end of the run, before it stops (diagnostics). */
  inspect?: (server: LegacyApiServer) => void;
}

export interface KillRecord {
  /** Server time of the SIGKILL. */
  at: number;
  /** meshinit's stored writes to workloads before it. */
  writesBefore: number;
  /** meshinit requests still unanswered when it died. */
  inFlight: number;
  /** The restart found v3 invalid and only v1 recorded in status (see VersionTimeline). */
  servedRecordedV1?: boolean;
}

export interface RunReport extends Findings {
  scenario: string;
  seed: number;
  workloads: number;
  faults: Record<string, number>;
  expiredResumes: number;
  kills: KillRecord[];
  /** Problems with MeshConfig default's status after the change (empty when it tells the truth). */
  statusProblems: string[];
  wallMs: number;
  warnings: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface MidBurstEvent {
  at: number;
  fire: () => Promise<void>;
}

export async function runScenario(scenario: Scenario): Promise<RunReport> {
  const started = performance.now();
  const specs = generateBurst(scenario.seed, scenario.workloads);
  const server = new LegacyApiServer({
    initializers: [{ name: OURS, resources: WORKLOAD_PLURALS }],
    trackDeliveries: ['meshconfigs'],
    // A too-old resume is answered as 1.13's watch cache does: 200 and one ERROR event (410).
    goneAs: 'event',
    faults: { seed: scenario.seed, targets: [MESHINIT.token], ...scenario.faults },
  });
  await server.start();
  const creator = new TestClient(server.url, CREATOR);
  const admin = new TestClient(server.url, ADMIN);
  const actors = [POLICY, AUDIT].map((name, i) => new OtherInitializer(server, name, { token: `${name}-token`, userAgent: `other-initializer-${i}/1.0` }, scenario.seed));
  const writers = new Map<string, string>([[MESHINIT.token, OURS], ...actors.map((a) => [a.identity.token, a.name] as [string, string])]);
  const writerOf = (request: RecordedRequest): string => writers.get(request.token ?? '') ?? `client ${request.token ?? '(anonymous)'}`;
  const timeline: VersionTimeline = {};
  let v2ResourceVersion: number | undefined;
  const start = (): Promise<RunningMeshinit> => scenario.meshinit?.(server) ?? (scenario.mode === 'cli' ? startCli : startInProcess)(server, scenario.concurrency ?? 16);
  const processes: RunningMeshinit[] = [];
  const kills: KillRecord[] = [];
  const statusProblems: string[] = [];
  try {
    for (const ns of NAMESPACES) await server.seed('namespaces', { metadata: { name: ns.name, labels: ns.labels } });
    for (const mc of [meshConfigDefault('v1'), MESHCONFIG_STRICT, MESHCONFIG_OPTIN]) await server.seed('meshconfigs', mc);
    for (const actor of actors) actor.start();
    for (let i = 0; i < (scenario.replicas ?? 1); i++) processes.push(await start());

    let v3Pushed = false;
    const pushDefault = async (version: DefaultVersion): Promise<void> => {
      const reply = await admin.patch('/apis/meshinit.dev/v1alpha1/meshconfigs/default', { spec: meshConfigDefault(version).spec }, 'application/merge-patch+json');
      if (reply.status !== 200) throw new Error(`MeshConfig ${version} refused: ${reply.text}`);
      if (version === 'v3') v3Pushed = true;
      if (version === 'v2') {
        timeline.v2Written = server.now();
        v2ResourceVersion = Number((reply.json as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
      }
    };
    // What MeshConfig default's status records as last accepted (by proxy image), right now.
    const recordedLastValid = (): string | undefined => {
      const status = server.get('meshconfigs', undefined, 'default')?.status as { lastValidSpec?: { sidecar?: { containers?: Array<{ image?: string }> } } } | undefined;
      const image = status?.lastValidSpec?.sidecar?.containers?.[0]?.image;
      return Object.keys(SIDECARS).find((id) => id.startsWith('default/') && SIDECARS[id]!.containers[0]!.image === image);
    };
    const storedWrites = (): number => server.requests.filter((r) => r.token === MESHINIT.token && r.trace && WORKLOAD_PLURALS.includes(r.object?.plural ?? '')).length;
    let writesAtStart = 0;
    const killAndRestart = async (): Promise<void> => {
      // Kill a process at work: once it has stored some writes since it started (bounded wait).
      for (let i = 0; i < 200 && storedWrites() - writesAtStart < 60; i++) await sleep(25);
      const mine = server.requests.filter((r) => r.token === MESHINIT.token);
      kills.push({ at: server.now(), writesBefore: storedWrites(), inFlight: mine.filter((r) => r.code === undefined && r.cls !== 'watch').length });
      // The newest replica dies and comes back; any other keeps running.
      await processes.at(-1)!.stop('kill');
      if (v3Pushed && recordedLastValid() === 'default/v1') {
        (timeline.restartsServingRecordedV1 ??= []).push(server.now());
        kills.at(-1)!.servedRecordedV1 = true;
      }
      processes.push(await start());
      writesAtStart = storedWrites();
    };
    const events: MidBurstEvent[] = [
      ...(scenario.meshConfigChange ? [{ at: 0.35, fire: () => pushDefault('v2') }, { at: 0.65, fire: () => pushDefault('v3') }] : []),
      ...(scenario.killAt ?? []).map((at) => ({ at, fire: killAndRestart })),
      ...(scenario.commands ?? []).map(({ at, run }) => ({ at, fire: async () => run(server) })),
    ].sort((a, b) => a.at - b.at);

    // The burst: 32 clients, paced over burstMs. Mid-burst events run one after another (a
    // MeshConfig push waits for a restart in progress) while creation goes on.
    let chain: Promise<void> = Promise.resolve();
    const schedule = (event: MidBurstEvent): void => {
      chain = chain.then(event.fire);
      chain.catch(() => undefined);
    };
    const burstMs = scenario.burstMs ?? 4000;
    const burstStart = performance.now();
    let next = 0;
    let created = 0;
    const createOne = async (): Promise<void> => {
      for (let i = next++; i < specs.length; i = next++) {
        const spec = specs[i]!;
        const due = burstStart + (i / specs.length) * burstMs - performance.now();
        if (due > 0) await sleep(due);
        const { group, plural } = KINDS[spec.kind];
        const reply = await creator.post(`/apis/${group}/v1/namespaces/${spec.namespace}/${plural}`, spec.body, { includeUninitialized: '1' });
        if (reply.status !== 202) throw new Error(`creating ${spec.name}: ${reply.status} ${reply.text}`);
        created++;
        while (events.length > 0 && created >= events[0]!.at * specs.length) schedule(events.shift()!);
      }
    };
    await Promise.all(Array.from({ length: 32 }, createOne));
    for (const event of events.splice(0)) schedule(event);
    await chain;

    // The bounded wait: every workload initialized or deleted, or the deadline.
    const deadline = performance.now() + (scenario.deadlineMs ?? 45_000);
    const pending = (): number => WORKLOAD_PLURALS.reduce((n, plural) => n + server.list(plural).filter((o) => (o.metadata?.initializers?.pending?.length ?? 0) > 0).length, 0);
    while (pending() > 0 && performance.now() < deadline) await sleep(50);
    // When meshinit first received v2 (or later), by list or watch: from then on only v2 may be injected.
    if (v2ResourceVersion !== undefined) {
      timeline.v2Received = server.deliveries.find((d) => d.token === MESHINIT.token && d.name === 'default' && Number(d.resourceVersion) >= v2ResourceVersion!)?.at;
      if (scenario.checkStatus) statusProblems.push(...(await meshConfigStatusProblems(server)));
    }
  } finally {
    for (const process of processes) await process.stop('graceful');
    for (const actor of actors) await actor.stop();
    scenario.inspect?.(server);
    creator.close();
    admin.close();
    await server.stop();
  }
  const findings = checkRun(server, specs, timeline, writerOf);
  return {
    ...findings,
    scenario: scenario.name,
    seed: scenario.seed,
    workloads: specs.length,
    faults: server.faults.summary(),
    expiredResumes: server.expiredResumes,
    kills,
    statusProblems,
    wallMs: performance.now() - started,
    warnings: processes.flatMap((p) => p.warnings()),
  };
}

/** After the invalid v3, MeshConfig default's status must say so (Ready=False/InvalidSpec) for its generation. */
async function meshConfigStatusProblems(server: LegacyApiServer): Promise<string[]> {
  const describe = (): string | undefined => {
    const mc = server.get('meshconfigs', undefined, 'default');
    const status = mc?.status as { observedGeneration?: number; conditions?: Array<{ type: string; status: string; reason: string }> } | undefined;
    const ready = status?.conditions?.find((c) => c.type === 'Ready');
    // observedGeneration is left out where the server keeps no generation (1.9).
    if ((status?.observedGeneration ?? 0) !== (mc?.metadata?.generation ?? 0)) return `status.observedGeneration ${status?.observedGeneration} for generation ${mc?.metadata?.generation}`;
    if (ready?.status !== 'False' || ready.reason !== 'InvalidSpec') return `condition Ready is ${ready?.status}/${ready?.reason} for the invalid version`;
    return undefined;
  };
  for (let i = 0; i < 60 && describe() !== undefined; i++) await sleep(50);
  const problem = describe();
  return problem ? [problem] : [];
}

/** The figures of a run, as printed by the suite. */
export function formatReport(r: RunReport): string {
  const faults = Object.entries(r.faults).map(([type, n]) => `${type}=${n}`).join(' ') || 'none';
  const outcomes = Object.entries(r.outcomes).sort().map(([o, n]) => `${o}=${n}`).join(' ');
  const kills = r.kills.map((k) => `SIGKILL at ${(k.at / 1000).toFixed(1)} s after ${k.writesBefore} writes, ${k.inFlight} in flight${k.servedRecordedV1 ? ' (restarted on the v1 recorded in status)' : ''}`).join('; ');
  return [
    `[fault] ${r.scenario} (seed ${r.seed}): ${r.workloads} workloads, ${(r.wallMs / 1000).toFixed(1)} s`,
    `        faults injected: ${faults}; watch-cache 410s: ${r.expiredResumes}${kills ? `; ${kills}` : ''}`,
    `        stuck ${r.stuck.length} | double injections ${r.doubleInjections.length} | order violations ${r.orderViolations.length} | out-of-turn writes ${r.outOfTurnWrites.length} (refused attempts ${r.outOfTurnAttempts})`,
    `        lost ${r.lost.length} | wrong sidecar ${r.wrongSidecar.length} | not deleted ${r.notDeleted.length} | lost marks of others ${r.lostOtherWrites.length}${r.statusProblems.length ? ` | MeshConfig status: ${r.statusProblems.join('; ')}` : ''}`,
    `        outcomes: ${outcomes}; meshinit writes ${r.meshinitWrites}`,
  ].join('\n');
}
