// What a request needs from the kubeconfig: a TLS agent (CA, client certificate and key) and the
// auth headers. Credentials rotate under a long-running controller -- bound ServiceAccount tokens
// expire within the hour, cert-manager renews client certificates, CA bundles are replaced -- so
// they are read again every `refreshMs` and the agent is rebuilt when the TLS material changes.
// @kubernetes/client-node stays the authority on kubeconfig semantics (exec plugins, auth
// providers, the in-cluster token); this module adds what it lacks: the kubeconfig `tokenFile`
// field (client-node reads only a `token-file` spelling, and only once) and agent rotation.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';

export interface Credentials {
  agent: http.Agent;
  headers: Record<string, string>;
  /** user:password for basic auth, when the kubeconfig has one. */
  auth?: string;
}

export interface CredentialSource {
  /** The credentials to use now; re-read from their sources at most every `refreshMs`. */
  current(): Promise<Credentials>;
  /** Closes every agent this source made (idle keep-alive sockets included). */
  close(): void;
}

export interface CredentialSourceOptions {
  /** How often credentials are read again. Default 60 s (client-go re-reads token files every minute). */
  refreshMs?: number;
  /** A file holding the bearer token, re-read at every refresh (kubeconfig `tokenFile`). */
  tokenFile?: string;
  now?: () => number;
  readFile?: (file: string) => Buffer;
  /** Agents are keep-alive with this many sockets. */
  maxSockets?: number;
}

const DEFAULT_REFRESH_MS = 60_000;
// A rotated-away agent still carries watches started before the rotation; it is closed once they
// must have ended (the longest watch meshinit asks for, plus its grace).
const RETIRED_AGENT_CLOSE_MS = 10 * 60_000;

function headerRecord(headers: https.RequestOptions['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers || Array.isArray(headers)) return out;
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/** Everything an https.Agent is built from, as one comparable string (the PEM bytes themselves). */
function tlsFingerprint(opts: https.RequestOptions): string {
  const text = (value: unknown): string => (value === undefined || value === null ? '' : Buffer.isBuffer(value) ? value.toString('base64') : String(value));
  return JSON.stringify([text(opts.ca), text(opts.cert), text(opts.key), text(opts.pfx), text(opts.passphrase), text(opts.servername), String(opts.rejectUnauthorized)]);
}

/** A TLS context for every socket of an agent; none when the material does not parse, so that the error surfaces per request, as before. */
function sharedSecureContext(material: tls.SecureContextOptions): { secureContext?: tls.SecureContext } {
  try {
    return { secureContext: tls.createSecureContext(material) };
  } catch {
    return {};
  }
}

function buildAgent(server: URL, opts: https.RequestOptions, proxied: boolean, maxSockets: number): http.Agent {
  // applyToHTTPSOptions builds a fresh agent without keep-alive on every call. Proxy agents know a
  // protocol we do not, so those are kept; otherwise we make our own keep-alive agent and copy the
  // TLS material (CA, client cert, skip-verify, SNI name) it was given.
  if (proxied && opts.agent instanceof http.Agent) return opts.agent;
  const common = { keepAlive: true, maxSockets };
  if (server.protocol === 'http:') return new http.Agent(common);
  const material = { ca: opts.ca, cert: opts.cert, key: opts.key, pfx: opts.pfx, passphrase: opts.passphrase };
  return new https.Agent({
    ...common,
    ...material,
    // Built once per agent: without it every new socket parses the CA bundle and the client key
    // again (about 1 ms of CPU each), which a burst that opens --concurrency sockets pays in full.
    ...sharedSecureContext(material),
    servername: opts.servername,
    ...(opts.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: opts.rejectUnauthorized }),
  });
}

export function createCredentialSource(kc: KubeConfig, options: CredentialSourceOptions = {}): CredentialSource {
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  const now = options.now ?? (() => Date.now());
  const readFile = options.readFile ?? ((file: string) => fs.readFileSync(file));
  const maxSockets = options.maxSockets ?? 512;
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = new URL(cluster.server);
  let agent: { agent: http.Agent; fingerprint: string } | undefined;
  const retired = new Set<http.Agent>();
  let loaded: Promise<Credentials> | undefined;
  let loadedAt = 0;

  async function load(): Promise<Credentials> {
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const fingerprint = tlsFingerprint(opts);
    if (!agent || agent.fingerprint !== fingerprint) {
      const previous = agent?.agent;
      agent = { agent: buildAgent(server, opts, Boolean(cluster?.proxyUrl), maxSockets), fingerprint };
      if (previous) {
        retired.add(previous);
        setTimeout(() => {
          previous.destroy();
          retired.delete(previous);
        }, RETIRED_AGENT_CLOSE_MS).unref();
      }
    }
    const headers = headerRecord(opts.headers);
    if (options.tokenFile) {
      // Read every refresh: a projected or rotated token replaces the file's content in place.
      const token = readFile(options.tokenFile).toString('utf8').trim();
      if (token === '') throw new Error(`the kubeconfig's tokenFile ${options.tokenFile} is empty`);
      headers.Authorization = `Bearer ${token}`;
    }
    return { agent: agent.agent, headers, ...(opts.auth ? { auth: opts.auth } : {}) };
  }

  return {
    current() {
      if (!loaded || now() - loadedAt >= refreshMs) {
        loadedAt = now();
        const attempt = load();
        loaded = attempt;
        // A failed refresh (exec plugin down, token file being replaced) must not be cached: the
        // next request tries again.
        attempt.catch(() => {
          if (loaded === attempt) loaded = undefined;
        });
      }
      return loaded;
    },
    close() {
      agent?.agent.destroy();
      for (const old of retired) old.destroy();
      retired.clear();
    },
  };
}

/**
 * The `tokenFile` of the kubeconfig's current user (kubectl's spelling; `token-file` is accepted
 * too), resolved against the kubeconfig's folder as kubectl does, or undefined. `files` are the
 * kubeconfig files in KUBECONFIG order; the first that names the user wins, as in a merge.
 */
export function kubeconfigTokenFile(files: readonly string[], userName: string | undefined): string | undefined {
  if (!userName) return undefined;
  for (const file of files) {
    let document: unknown;
    try {
      document = parse(fs.readFileSync(file, 'utf8'));
    } catch {
      continue; // client-node has already reported an unreadable kubeconfig
    }
    const users = (document as { users?: unknown } | null)?.users;
    if (!Array.isArray(users)) continue;
    for (const entry of users as Array<{ name?: unknown; user?: Record<string, unknown> }>) {
      if (entry?.name !== userName) continue;
      const value = entry.user?.tokenFile ?? entry.user?.['token-file'];
      if (typeof value !== 'string' || value === '') return undefined;
      return path.isAbsolute(value) ? value : path.resolve(path.dirname(file), value);
    }
  }
  return undefined;
}

/** The kubeconfig files `meshinit run` reads: --kubeconfig, else $KUBECONFIG, else ~/.kube/config. */
export function kubeconfigFiles(explicit: string | undefined, env: Readonly<Record<string, string | undefined>>): string[] {
  if (explicit) return [explicit];
  if (env.KUBECONFIG) return env.KUBECONFIG.split(path.delimiter).filter(Boolean);
  const home = env.HOME ?? env.USERPROFILE;
  return home ? [path.join(home, '.kube', 'config')] : [];
}
