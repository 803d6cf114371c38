// The rollout part of `make demo-webhook`: the MeshConfig gets a new proxy image and
// updatePolicy: Rollout, and the demo prints, once a second, what an operator would watch:
// `kubectl get meshconfig` (injected and outdated falling), each workload's own rollout, and
// finally the Events meshinit wrote on the workloads.
import type { ControlPlane } from '../test/control-plane/control-plane.ts';
import type { Json, MeshinitProcess } from '../test/e2e/cluster.ts';
import { deploymentRolloutStatus } from '../test/support/rollout-status.ts';
import { logLine, say } from './show.ts';

const NEW_IMAGE = 'ghcr.io/meshinit/proxy:1.0.1';
const ROLLED = [['deployments', 'web'], ['statefulsets', 'cache']] as const;
const TIMEOUT_MS = 150_000;

async function read(plane: ControlPlane, path: string): Promise<Json> {
  const reply = await plane.request('GET', path);
  if (reply.status !== 200) throw new Error(`GET ${path} answered ${reply.status}: ${reply.body.slice(0, 200)}`);
  return JSON.parse(reply.body) as Json;
}

function proxyImage(workload: Json): string {
  const spec = (workload.spec as { template?: { spec?: { containers?: Array<{ name: string; image?: string }>; initContainers?: Array<{ name: string; image?: string }> } } }).template?.spec;
  const proxy = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].find((c) => c.name === 'mesh-proxy');
  return proxy?.image ?? '-';
}

function workloadState(kind: string, workload: Json): string {
  const status = (workload.status ?? {}) as { updatedReplicas?: number; replicas?: number; readyReplicas?: number };
  const generation = (workload.metadata as { generation?: number }).generation ?? 0;
  const rollout = kind === 'deployments' ? deploymentRolloutStatus(workload).message : `${status.updatedReplicas ?? 0}/${status.replicas ?? 0} updated`;
  return `generation ${generation}, proxy ${proxyImage(workload)}, ${rollout}`;
}

export async function showRollout(plane: ControlPlane, namespace: string, meshinit: MeshinitProcess): Promise<void> {
  const meshConfigPath = '/apis/meshinit.dev/v1alpha1/meshconfigs/default';
  const before = await read(plane, meshConfigPath);
  const sidecar = (before.spec as { sidecar: { containers: Array<{ name: string; image: string }> } }).sidecar;
  const containers = sidecar.containers.map((c) => (c.name === 'mesh-proxy' ? { ...c, image: NEW_IMAGE } : c));
  say(`Rolling out a new proxy: MeshConfig default gets image ${NEW_IMAGE}, updatePolicy: Rollout, rollout.maxPerMinute: 1`);
  say('  (one workload a minute is too slow to watch; the demo uses 1 so the pacing shows: the second waits a minute)');
  const patch = { spec: { updatePolicy: 'Rollout', rollout: { maxPerMinute: 1 }, sidecar: { ...sidecar, containers } } };
  const reply = await plane.request('PATCH', meshConfigPath, { body: JSON.stringify(patch), contentType: 'application/merge-patch+json' });
  if (reply.status !== 200) throw new Error(`PATCH MeshConfig default answered ${reply.status}: ${reply.body.slice(0, 300)}`);
  const started = Date.now();
  let last = '';
  for (;;) {
    const meshConfig = await read(plane, meshConfigPath);
    const status = (meshConfig.status ?? {}) as { injectedWorkloads?: number; outdatedWorkloads?: number; rollout?: { inProgress?: number; waiting?: number; rateLimited?: number } };
    const rollout = status.rollout ? `, rolling ${status.rollout.inProgress ?? 0}, waiting ${status.rollout.waiting ?? 0}, rate-limited ${status.rollout.rateLimited ?? 0}` : '';
    const rows = [`MeshConfig default: injected ${status.injectedWorkloads ?? '-'}, outdated ${status.outdatedWorkloads ?? '-'}${rollout}`];
    // Done when both templates carry the new sidecar, web has rolled out, and the count has caught up
    // (the Job alone stays outdated: see below).
    let done = status.outdatedWorkloads === 1;
    for (const [plural, name] of ROLLED) {
      const workload = await read(plane, `/apis/apps/v1/namespaces/${namespace}/${plural}/${name}`);
      rows.push(`${plural === 'deployments' ? 'Deployment' : 'StatefulSet'}/${name}: ${workloadState(plural, workload)}`);
      if (proxyImage(workload) !== NEW_IMAGE) done = false;
      if (plural === 'deployments' && !deploymentRolloutStatus(workload).done) done = false;
    }
    const text = rows.join(' | ');
    if (text !== last) say(`  +${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s  ${text}`);
    last = text;
    if (done) break;
    if (Date.now() - started > TIMEOUT_MS) {
      const said = meshinit.lines.filter((line) => String(line.message).startsWith('Sidecar rollout')).map(logLine).join('\n  ');
      throw new Error(`the rollout did not finish in ${TIMEOUT_MS / 1000} s; last state: ${text}\nmeshinit said:\n  ${said || '(nothing about the rollout)'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  say('  outdated stays 1: Job/db-migrate keeps the sidecar it ran with (a Job\'s pod template cannot change, so a rollout never');
  say('  touches it). StatefulSet/cache stays at 0/1 updated and "rolling 1" until its timeout: its new Pod waits for a');
  say('  PersistentVolume (volumeClaimTemplates), which this control plane has no provisioner for; its template is done.');
  const events = await read(plane, `/api/v1/namespaces/${namespace}/events`);
  say('');
  say('Events meshinit wrote (kubectl get events -n demo):');
  for (const event of (events.items as Json[]).filter((e) => String(e.reason).startsWith('SidecarRollout'))) {
    const involved = event.involvedObject as { kind: string; name: string };
    say(`  ${String(event.type).padEnd(7)} ${String(event.reason).padEnd(22)} ${involved.kind}/${involved.name}: ${String(event.message)}`);
  }
}
