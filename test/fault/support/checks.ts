// The invariants of a fault run, read from the double's final state and its request log:
// nothing lost or stuck, the sidecar exactly once where policy says and nowhere else (one whole
// MeshConfig version per workload, never the invalid one), every initializer acting in its turn and
// keeping the others' order, and meshinit (known by its token) never writing out of turn.
import type { LegacyApiServer, Obj, RecordedRequest } from '../../support/legacy-apiserver/index.ts';
import { pendingNames } from '../../support/legacy-apiserver/index.ts';
import { expectationFor } from './expectations.ts';
import { KINDS, MESHINIT, OURS, SIDECARS, STATUS_ANNOTATION, WORKLOAD_PLURALS, workloadKey, type WorkloadSpec } from './world.ts';

/** When the MeshConfig change reached the server and when meshinit had certainly received it. */
export interface VersionTimeline {
  /** Server time the v2 write landed; undefined when the scenario does not change the MeshConfig. */
  v2Written?: number;
  /** Server time meshinit first received v2 (list or watch). */
  v2Received?: number;
  /**
   * Server times of restarts that found only the invalid v3 and, recorded in the MeshConfig's
   * status (lastValidSpec), v1 still: a status write for v2 had not landed (faults, or the kill
   * came first). Such a process serves v1 until the end: the product's guarantee is "the last
   * valid version recorded in status", and that record can lag a crash behind.
   */
  restartsServingRecordedV1?: number[];
}

/**
 * A decision made just before v2 arrived may reach the server a little after it (the CLI's event
 * loop on a busy machine); this much is tolerated. Never v3 and never a mix have no slack.
 */
const DECISION_SLACK_MS = 2000;

export interface Findings {
  stuck: string[];
  lost: string[];
  notDeleted: string[];
  wrongSidecar: string[];
  doubleInjections: string[];
  orderViolations: string[];
  outOfTurnWrites: string[];
  /** meshinit writes the server refused because it was not first (harmless, counted for the record). */
  outOfTurnAttempts: number;
  /** A few of them, described, for the report. */
  outOfTurnSamples: string[];
  lostOtherWrites: string[];
  outcomes: Record<string, number>;
  meshinitWrites: number;
}

interface Named {
  name: string;
  image?: string;
}

function podSpec(object: Obj): { containers: Named[]; initContainers: Named[]; volumes: Named[] } {
  const spec = ((object.spec as { template?: { spec?: Record<string, unknown> } }).template?.spec ?? {}) as Record<string, Named[] | undefined>;
  return { containers: spec.containers ?? [], initContainers: spec.initContainers ?? [], volumes: spec.volumes ?? [] };
}

function templateAnnotations(object: Obj): Record<string, string> {
  return ((object.spec as { template?: { metadata?: { annotations?: Record<string, string> } } }).template?.metadata?.annotations) ?? {};
}

const names = (items: Named[]): string => items.map((i) => i.name).join(',');
const duplicated = (items: Named[]): boolean => new Set(items.map((i) => i.name)).size !== items.length;

/** Which initializer a request came from, by its bearer token. */
export type WriterOf = (request: RecordedRequest) => string;

export function checkRun(server: LegacyApiServer, specs: readonly WorkloadSpec[], timeline: VersionTimeline, writerOf: WriterOf): Findings {
  const findings: Findings = { stuck: [], lost: [], notDeleted: [], wrongSidecar: [], doubleInjections: [], orderViolations: [], outOfTurnWrites: [], outOfTurnAttempts: 0, outOfTurnSamples: [], lostOtherWrites: [], outcomes: {}, meshinitWrites: 0 };
  const writes = new Map<string, RecordedRequest[]>();
  for (const request of server.requests) {
    if (!request.object || !WORKLOAD_PLURALS.includes(request.object.plural)) continue;
    const key = `${request.object.plural}/${request.object.namespace}/${request.object.name}`;
    if (request.trace) writes.set(key, [...(writes.get(key) ?? []), request]);
  }
  for (const request of server.requests) {
    const workload = request.object?.plural ?? request.path.split('/').at(-2) ?? '';
    if (request.token === MESHINIT.token && request.pending !== undefined && WORKLOAD_PLURALS.includes(workload) && request.pending[0] !== OURS) {
      findings.outOfTurnAttempts++;
      if (findings.outOfTurnSamples.length < 5) findings.outOfTurnSamples.push(`seq ${request.seq} at ${request.at.toFixed(0)} ms ${request.method} ${request.path} pending [${request.pending}] -> ${request.code}${request.trace ? ' (stored!)' : ''}`);
    }
  }
  for (const spec of specs) {
    const key = workloadKey(spec);
    const plural = KINDS[spec.kind].plural;
    const history = writes.get(`${plural}/${spec.namespace}/${spec.name}`) ?? [];
    const final = server.get(plural, spec.namespace, spec.name);
    const expected = expectationFor(spec);
    const outcome = expected.outcome === 'sidecar' ? `sidecar/${expected.meshConfig}` : expected.outcome;
    findings.outcomes[outcome] = (findings.outcomes[outcome] ?? 0) + 1;

    // Turn order: after the create, each write is by the initializer first in pending, removes
    // exactly that entry and keeps the rest in order (or, for meshinit's Failure result, deletes).
    const ours = history.filter((w) => w.token === MESHINIT.token);
    findings.meshinitWrites += ours.length;
    if (ours.length > 1) findings.doubleInjections.push(`${key}: meshinit wrote it ${ours.length} times`);
    const [create, ...rest] = history;
    if (!create || create.method !== 'POST' || create.trace!.pendingAfter!.join(',') !== spec.pending.join(',')) {
      findings.orderViolations.push(`${key}: created with pending [${create?.trace?.pendingAfter}] instead of [${spec.pending}]`);
    }
    for (const write of rest) {
      const { pendingBefore, pendingAfter } = write.trace!;
      const writer = writerOf(write);
      if (write.token === MESHINIT.token && pendingBefore[0] !== OURS) {
        findings.outOfTurnWrites.push(`${key}: meshinit wrote (seq ${write.seq}) while pending was [${pendingBefore}]`);
        continue;
      }
      const removedFirst = pendingAfter !== null && pendingAfter.join(',') === pendingBefore.slice(1).join(',');
      const failedByUs = pendingAfter === null && writer === OURS;
      if (writer !== pendingBefore[0] || !(removedFirst || failedByUs)) {
        findings.orderViolations.push(`${key}: ${writer} turned [${pendingBefore}] into [${pendingAfter ?? 'deleted'}]`);
      }
    }

    if (!final) {
      if (expected.outcome !== 'deleted') findings.lost.push(`${key}: gone, expected ${outcome}`);
      continue;
    }
    const pending = pendingNames(final);
    if (pending.length > 0) {
      findings.stuck.push(`${key}: still pending [${pending}] (expected ${outcome})`);
      continue;
    }
    if (expected.outcome === 'deleted') findings.notDeleted.push(`${key}: initialized, expected deletion by a Failure result`);
    for (const other of spec.pending.filter((name) => name !== OURS)) {
      if (final.metadata?.annotations?.[`${other}/checked`] !== 'true') findings.lostOtherWrites.push(`${key}: the mark of ${other} is gone`);
    }
    checkPodTemplate({ spec, final, expected, timeline, writeAt: ours.at(-1)?.at, findings, key });
  }
  return findings;
}

interface TemplateCheck {
  spec: WorkloadSpec;
  final: Obj;
  expected: ReturnType<typeof expectationFor>;
  timeline: VersionTimeline;
  writeAt: number | undefined;
  findings: Findings;
  key: string;
}

function checkPodTemplate({ spec, final, expected, timeline, writeAt, findings, key }: TemplateCheck): void {
  const pod = podSpec(final);
  if ([pod.containers, pod.initContainers, pod.volumes].some(duplicated)) {
    findings.doubleInjections.push(`${key}: containers [${names(pod.containers)}] init [${names(pod.initContainers)}] volumes [${names(pod.volumes)}]`);
    return;
  }
  if (expected.outcome !== 'sidecar') {
    const untouched = names(pod.containers) === spec.userContainers.join(',') && names(pod.initContainers) === spec.userInitContainers.join(',') && pod.volumes.length === 0;
    if (!untouched || final.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined) {
      findings.wrongSidecar.push(`${key}: expected no sidecar (${expected.why}), got containers [${names(pod.containers)}] init [${names(pod.initContainers)}]`);
    }
    return;
  }
  // Which version it carries, judged by the proxy's image; then every item must be of that version.
  const proxy = pod.containers.find((c) => c.name === 'mesh-proxy');
  const version = Object.keys(SIDECARS).find((id) => id.startsWith(`${expected.meshConfig}/`) && SIDECARS[id]!.containers[0]!.image === proxy?.image);
  const shape = version ? SIDECARS[version] : undefined;
  if (!version || !shape) {
    findings.wrongSidecar.push(`${key}: expected the sidecar of ${expected.meshConfig}, got containers [${names(pod.containers)}] (proxy image ${proxy?.image})`);
    return;
  }
  const wantContainers = [...spec.userContainers, ...shape.containers.map((c) => c.name)].join(',');
  const wantInit = [...shape.initContainers.map((c) => c.name), ...spec.userInitContainers].join(',');
  const images = [...shape.containers, ...shape.initContainers].every((want) => [...pod.containers, ...pod.initContainers].some((c) => c.name === want.name && c.image === want.image));
  const versionNote = templateAnnotations(final)['mesh.example.com/version'] === version.split('/')[1] || version.startsWith('strict') || version.startsWith('optin');
  if (names(pod.containers) !== wantContainers || names(pod.initContainers) !== wantInit || names(pod.volumes) !== shape.volumes.join(',') || !images || !versionNote) {
    findings.wrongSidecar.push(`${key}: a mix of versions or a partial sidecar: containers [${names(pod.containers)}] init [${names(pod.initContainers)}] volumes [${names(pod.volumes)}]`);
    return;
  }
  if (final.metadata?.annotations?.[STATUS_ANNOTATION] === undefined || templateAnnotations(final)[STATUS_ANNOTATION] === undefined) {
    findings.wrongSidecar.push(`${key}: injected without the ${STATUS_ANNOTATION} record`);
  }
  if (expected.meshConfig !== 'default') return;
  const allowed = allowedVersions(timeline, writeAt);
  if (!allowed.includes(version)) findings.wrongSidecar.push(`${key}: carries ${version}, written at ${writeAt?.toFixed(0)} ms, when only ${allowed.join(' or ')} was in force`);
}

/** The versions of MeshConfig `default` acceptable for a write at `at` (never v3, the invalid one). */
export function allowedVersions(timeline: VersionTimeline, at: number | undefined): string[] {
  if (timeline.v2Written === undefined || at === undefined || at < timeline.v2Written) return ['default/v1'];
  if (timeline.v2Received === undefined || at < timeline.v2Received + DECISION_SLACK_MS) return ['default/v1', 'default/v2'];
  if ((timeline.restartsServingRecordedV1 ?? []).some((restart) => at >= restart)) return ['default/v1', 'default/v2'];
  return ['default/v2'];
}
