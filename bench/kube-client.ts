// A lean keep-alive HTTPS client for the load generators and the baseline initializers: nothing
// between them and the server but node:https, so what they cost is the server's cost.
import fs from 'node:fs';
import https from 'node:https';
import { parse } from 'yaml';
import { buildInitializationPatch } from '../controller/core/patch.ts';
import { planWorkloadInjection } from '../controller/core/plan.ts';
import type { KubeObject, MeshConfig } from '../controller/core/types.ts';
import { recogniseWorkload } from '../controller/core/workload.ts';

export type Json = Record<string, unknown>;

export interface Connection {
  server: string;
  ca: string;
  cert: string;
  key: string;
}

/** The server and client certificate of a kubeconfig written by test/control-plane (inline data). */
export function connectionFromKubeconfig(file: string): Connection {
  const config = parse(fs.readFileSync(file, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }>; users: Array<{ user: Record<string, string> }> };
  const cluster = config.clusters[0]!.cluster;
  const user = config.users[0]!.user;
  const data = (value: string | undefined): string => Buffer.from(value ?? '', 'base64').toString('utf8');
  return { server: cluster.server!, ca: data(cluster['certificate-authority-data']), cert: data(user['client-certificate-data']), key: data(user['client-key-data']) };
}

export interface BenchClient {
  call(method: string, urlPath: string, body?: unknown, contentType?: string): Promise<{ status: number; body: string }>;
  /** Streams watch events until stop(); each line parsed. */
  watch(urlPath: string, onEvent: (event: { type: string; object: Json }) => void, onOpen?: () => void): { stop(): void };
  close(): void;
}

export function benchClient(connection: Connection): BenchClient {
  const tls = { ca: connection.ca, cert: connection.cert, key: connection.key };
  const agent = new https.Agent({ keepAlive: true, maxSockets: 256, ...tls });
  const url = new URL(connection.server);
  const call: BenchClient['call'] = (method, urlPath, body, contentType = 'application/json') =>
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
  const watch: BenchClient['watch'] = (urlPath, onEvent, onOpen) => {
    const req = https.request({ host: url.hostname, port: url.port, path: urlPath, method: 'GET', agent: new https.Agent(tls) }, (res) => {
      onOpen?.();
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

export function pendingNames(object: Json): string[] {
  const initializers = (object.metadata as Json).initializers as { pending?: Array<{ name: string }> } | undefined;
  return (initializers?.pending ?? []).map((p) => p.name);
}

/** Clock ticks of user + system CPU of a process so far, from /proc. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** meshinit's own patch for `object`, computed by its core: what the server must apply for it. */
export function meshinitPatch(object: Json, meshConfig: MeshConfig, initializerName: string): unknown[] {
  const workload = recogniseWorkload(object);
  if (!workload.ok) throw new Error(`not a workload: ${workload.reason}`);
  const plan = planWorkloadInjection(workload.value, { namespace: { name: String((object.metadata as Json).namespace), labels: {} }, meshConfigs: [meshConfig] });
  if (plan.action !== 'inject') throw new Error(`meshinit's core would not inject: ${plan.action}`);
  return buildInitializationPatch({ original: object as KubeObject, desired: plan.object, initializerName });
}

/** A small Deployment as the load generators create it, labelled by its name. */
export function deploymentBody(name: string): Json {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels: { app: name } }, spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } } } };
}

/** `creators` concurrent loops creating <prefix>0 .. <prefix>(workloads-1) between them, as a burst of users would. */
export async function createBurst(workloads: number, creators: number, create: (name: string) => Promise<void>, prefix = 'w-'): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: creators }, async () => {
    while (next < workloads) await create(`${prefix}${next++}`);
  }));
}
