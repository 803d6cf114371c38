// A real, local Kubernetes control plane for end-to-end tests: etcd and kube-apiserver built by
// `make control-plane` (see test/control-plane/README.md), started on free 127.0.0.1 ports with
// certificates made by openssl in a temporary folder, and always torn down again.
//
// By default there is no kube-controller-manager, scheduler or kubelet: objects are stored and
// served, admission (webhooks included) and RBAC run, but no controller acts on them. With
// `controllers: true` (modern release only) kube-controller-manager, kube-scheduler and kwok run
// too, with one fake Node that kwok keeps Ready: Deployments roll out, Pods are scheduled and
// become Running and Ready (no containers run), and Job Pods succeed.
//
// `release` picks an Initializer-era server instead of the modern one: kube-apiserver v1.13.0 or
// v1.9.11 built by `make legacy-control-plane` (test/legacy-control-plane/), with the Initializers
// admission plugin, the alpha admissionregistration API and the feature gate on, and the insecure
// port open on 127.0.0.1 (`insecureServer`, plain http:// as those servers offered it).

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import * as https from 'node:https';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

const execFileAsync = promisify(execFile);

const MODULE_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(MODULE_DIR, '..', '..');

/** Who a client certificate says it is: the user name (CN) and groups (O). */
export interface Identity {
  user: string;
  groups?: string[];
}

/** Cluster administrator: the `system:masters` group passes every authorization check. */
export const ADMIN: Identity = { user: 'meshinit-e2e-admin', groups: ['system:masters'] };

/**
 * meshinit's controller, as the ServiceAccount `meshinit-system/meshinit` of
 * manifests/initializer/rbac.yaml: the user name and groups the server gives that ServiceAccount's
 * tokens, so RBAC bindings whose subject is `kind: ServiceAccount, namespace: meshinit-system,
 * name: meshinit` apply to it. It has no permission of its own (only the defaults every
 * authenticated user has) until such a binding exists.
 */
export const CONTROLLER: Identity = {
  user: 'system:serviceaccount:meshinit-system:meshinit',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:meshinit-system'],
};

/** The Initializer-era releases that `make legacy-control-plane` builds. */
export const LEGACY_RELEASES = ['v1.13.0', 'v1.9.11'] as const;
export type LegacyRelease = (typeof LEGACY_RELEASES)[number];

export interface ControlPlaneOptions {
  /** An Initializer-era kube-apiserver instead of the modern one (test/control-plane/go.mod). */
  release?: LegacyRelease;
  /** Milliseconds to wait for etcd and then kube-apiserver to be ready. Default 90 000. */
  startTimeoutMs?: number;
  /** More kube-apiserver flags, after the defaults (a later flag wins), e.g. `--v=4`. */
  apiserverArgs?: string[];
  /** Keep the temporary folder (certificates, kubeconfigs, logs) after stop(). Default: env MESHINIT_KEEP_CONTROL_PLANE=1. */
  keep?: boolean;
  /**
   * Also start kube-controller-manager (the controllers in CONTROLLER_MANAGER_CONTROLLERS),
   * kube-scheduler and kwok with one fake Node (FAKE_NODE_NAME), and wait until all three answer
   * and the Node is Ready (~0.5 s more). Modern release only. Default false: the plain plane is
   * faster and nothing acts on what a test stores.
   */
  controllers?: boolean;
}

/**
 * The kube-controller-manager controllers that `controllers: true` runs: what workloads need to
 * roll out and finish, what cleans up after them, and what makes a new Node schedulable. Not the
 * token, taint-eviction, endpoint or volume controllers (no kubelet, no Services here).
 */
export const CONTROLLER_MANAGER_CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  // The apiserver's TaintNodesByCondition admission gives every new Node the
  // node.kubernetes.io/not-ready:NoSchedule taint; this controller lifts it once the Node is Ready.
  'node-lifecycle-controller',
] as const;

/** The fake Node of `controllers: true`; kwok manages Nodes with the annotation FAKE_NODE_ANNOTATION. */
export const FAKE_NODE_NAME = 'kwok-node-0';
export const FAKE_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export interface ControlPlaneBinaries {
  kubeVersion: string;
  etcdVersion: string;
  apiserver: string;
  etcd: string;
}

/** What `controllers: true` starts besides the plane (modern release only). */
export interface ControllerBinaries {
  kubeVersion: string;
  kwokVersion: string;
  controllerManager: string;
  scheduler: string;
  kwok: string;
  /** The Stages kwok plays (test/kwok/build.sh copies kwokctl's defaults from the kwok module). */
  kwokStages: string;
}

/** What `controllers: true` started, on which ports, and how long they took to be ready. */
export interface ControllersInfo {
  kwokVersion: string;
  /** The fake Node (FAKE_NODE_NAME): Ready and untainted, so the scheduler binds every Pod there. */
  nodeName: string;
  /** kube-controller-manager and kube-scheduler serve /healthz there (https), kwok on http. */
  ports: { controllerManager: number; scheduler: number; kwok: number };
  /** Milliseconds from kube-apiserver ready to all three ready and the Node Ready. */
  startupMs: number;
}

/** The processes whose logs are kept in the plane's folder. */
export type ControlPlaneLog = 'apiserver' | 'etcd' | 'controllerManager' | 'scheduler' | 'kwok';

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  server: string;
  /** Legacy releases only: http://127.0.0.1:PORT, the insecure port (no authentication, no RBAC). */
  insecureServer?: string;
  /**
   * Legacy releases only: a bearer token the server maps to CONTROLLER (a static token file), for
   * kubeconfigs that authenticate with a token (`token`, `tokenFile`) rather than a certificate.
   */
  controllerToken?: string;
  /** The legacy release, when this is one. */
  release?: LegacyRelease;
  kubeVersion: string;
  etcdVersion: string;
  /** `insecure` is 0 on the modern server, which has no insecure port. */
  ports: { apiserver: number; etcdClient: number; etcdPeer: number; insecure: number };
  /** Temporary folder holding everything below; removed by stop(). */
  dir: string;
  /** PEM of the CA that signed the serving and client certificates (a webhook's caBundle is a different one: yours). */
  caCertPem: string;
  caCertPath: string;
  /** Kubeconfig of ADMIN (system:masters). */
  adminKubeconfigPath: string;
  /** Kubeconfig of CONTROLLER (the meshinit ServiceAccount's user name and groups). */
  controllerKubeconfigPath: string;
  /** Kubeconfig (certificate and key embedded) for any user and groups; made once per identity. */
  kubeconfigFor(identity: Identity): Promise<string>;
  /** Plain HTTPS request with an identity's client certificate; the body is sent as JSON unless a string. */
  request(method: string, urlPath: string, options?: { as?: Identity; body?: unknown; contentType?: string }): Promise<{ status: number; body: string }>;
  /** Only with `controllers: true`. */
  controllers?: ControllersInfo;
  /** controllerManager, scheduler and kwok only with `controllers: true`. */
  logs: { apiserver: string; etcd: string } & Partial<Record<ControlPlaneLog, string>>;
  /** The last lines of a log, for failure messages. */
  logTail(which: ControlPlaneLog, lines?: number): string;
  /** Stops every process it started (their whole process groups) and removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

/** The cache folder that `make control-plane` fills. */
export function controlPlaneCacheDir(): string {
  return process.env['MESHINIT_CONTROL_PLANE_DIR'] || path.join(REPO_ROOT, '.cache', 'control-plane');
}

/** The pinned versions (from test/control-plane/go.mod) and where their binaries are cached. */
export function controlPlaneBinaries(): ControlPlaneBinaries {
  const goMod = readFileSync(path.join(MODULE_DIR, 'go.mod'), 'utf8');
  const version = (module: string): string => {
    const line = goMod.split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[0] === module && /^v\d/.test(f[1] ?? ''));
    if (!line?.[1]) throw new Error(`test/control-plane/go.mod does not require ${module}`);
    return line[1];
  };
  const kubeVersion = version('k8s.io/kubernetes');
  const etcdVersion = version('go.etcd.io/etcd/server/v3');
  const cache = controlPlaneCacheDir();
  return {
    kubeVersion,
    etcdVersion,
    apiserver: path.join(cache, `kube-apiserver-${kubeVersion}`, 'kube-apiserver'),
    etcd: path.join(cache, `etcd-${etcdVersion}`, 'etcd'),
  };
}

/**
 * Where `make control-plane` caches kube-controller-manager and kube-scheduler (the versions of
 * test/control-plane/go.mod) and kwok (test/kwok/go.mod).
 */
export function controllerBinaries(): ControllerBinaries {
  const { kubeVersion } = controlPlaneBinaries();
  const kwokGoMod = readFileSync(path.join(REPO_ROOT, 'test', 'kwok', 'go.mod'), 'utf8');
  const kwokVersion = /^\s*sigs\.k8s\.io\/kwok (v\d+\.\d+\.\d+)\b/m.exec(kwokGoMod)?.[1];
  if (!kwokVersion) throw new Error('test/kwok/go.mod does not require sigs.k8s.io/kwok');
  const cache = controlPlaneCacheDir();
  return {
    kubeVersion,
    kwokVersion,
    controllerManager: path.join(cache, `kube-controller-manager-${kubeVersion}`, 'kube-controller-manager'),
    scheduler: path.join(cache, `kube-scheduler-${kubeVersion}`, 'kube-scheduler'),
    kwok: path.join(cache, `kwok-${kwokVersion}`, 'kwok'),
    kwokStages: path.join(cache, `kwok-${kwokVersion}`, 'stages.yaml'),
  };
}

/**
 * Where `make legacy-control-plane` caches an Initializer-era kube-apiserver, and the etcd it runs
 * against (the versions are written by test/legacy-control-plane/build.sh, which owns them).
 */
export function legacyControlPlaneBinaries(release: LegacyRelease): ControlPlaneBinaries {
  const cache = controlPlaneCacheDir();
  const script = readFileSync(path.join(REPO_ROOT, 'test', 'legacy-control-plane', 'build.sh'), 'utf8');
  const etcdVersion = /^etcd_version=(v\d+\.\d+\.\d+)\s*$/m.exec(script)?.[1];
  if (!etcdVersion) throw new Error('test/legacy-control-plane/build.sh does not pin etcd_version');
  return {
    kubeVersion: release,
    etcdVersion,
    apiserver: path.join(cache, `kube-apiserver-${release}`, 'kube-apiserver'),
    etcd: path.join(cache, `etcd-${etcdVersion}`, 'etcd'),
  };
}

/** Throws, saying which `make` target builds them, unless both binaries are there. */
export async function findControlPlaneBinaries(release?: LegacyRelease): Promise<ControlPlaneBinaries> {
  const bins = release ? legacyControlPlaneBinaries(release) : controlPlaneBinaries();
  const target = release ? 'make legacy-control-plane' : 'make control-plane';
  await requireFiles([bins.apiserver, bins.etcd], target, `kube-apiserver ${bins.kubeVersion} and etcd`);
  return bins;
}

/** Throws, saying that `make control-plane` builds them, unless all of them are there. */
export async function findControllerBinaries(): Promise<ControllerBinaries> {
  const bins = controllerBinaries();
  await requireFiles([bins.controllerManager, bins.scheduler, bins.kwok], 'make control-plane',
    `kube-controller-manager and kube-scheduler ${bins.kubeVersion} and kwok ${bins.kwokVersion}`);
  await requireFiles([bins.kwokStages], 'make control-plane', `the kwok ${bins.kwokVersion} Stages`, constants.R_OK);
  return bins;
}

async function requireFiles(files: string[], target: string, what: string, mode = constants.X_OK): Promise<void> {
  for (const file of files) {
    try {
      await access(file, mode);
    } catch {
      throw new Error(
        `control plane binary missing: ${file}\n` +
          `Run \`${target}\` at the repository root first (builds ${what} ` +
          `with Go; the first build takes many minutes).`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Teardown that also happens when the test process ends without calling stop().

interface Running {
  children: ChildProcess[];
  dir: string;
  keep: boolean;
}

const running = new Set<Running>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function destroySync(r: Running): void {
  for (const child of r.children) killGroup(child, 'SIGKILL');
  if (!r.keep) rmSync(r.dir, { recursive: true, force: true });
  running.delete(r);
}

function onExit(): void {
  for (const r of [...running]) destroySync(r);
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  unregister();
  // With no other handler left, die of the signal as the process would have without us.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
}
function unregister(): void {
  if (!registered) return;
  registered = false;
  process.off('exit', onExit);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
}

// ---------------------------------------------------------------------------------------------
// Helpers

async function freePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
      });
    });
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error('openssl is needed to make the control plane certificates (apt-get install openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

function subject(identity: Identity): string {
  const esc = (s: string): string => s.replace(/[\\/+=,]/g, (c) => `\\${c}`);
  return [...(identity.groups ?? []).map((g) => `/O=${esc(g)}`), `/CN=${esc(identity.user)}`].join('');
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** STEM.key and STEM.crt, signed by the plane's CA. */
async function issue(dir: string, stem: string, subj: string, extensions: string): Promise<void> {
  writeFileSync(path.join(dir, `${stem}.ext`), extensions);
  await openssl(['req', '-new', ...EC_KEY, '-keyout', `${stem}.key`, '-out', `${stem}.csr`, '-subj', subj], dir);
  await openssl(
    ['x509', '-req', '-in', `${stem}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomHex(16)}`,
      '-days', '7', '-sha256', '-extfile', `${stem}.ext`, '-out', `${stem}.crt`],
    dir,
  );
}

function randomHex(bytes: number): string {
  return `7${randomBytes(bytes).toString('hex').slice(1)}`; // positive
}

function kubeconfigYaml(server: string, caPem: string, user: string, certPem: string, keyPem: string): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  // JSON is YAML; no quoting questions.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'meshinit-e2e', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
      users: [{ name: user, user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64(keyPem) } }],
      contexts: [{ name: 'meshinit-e2e', context: { cluster: 'meshinit-e2e', user } }],
      'current-context': 'meshinit-e2e',
    },
    null,
    2,
  );
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

const DIR_PREFIX = 'meshinit-control-plane-';
const OWNER_FILE = 'owner.pid';

/** Removes the folders of planes whose test process was killed (SIGKILL leaves no time to clean). */
function sweepStaleDirs(): void {
  let names: string[];
  try {
    names = readdirSync(os.tmpdir()).filter((n) => n.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(os.tmpdir(), name);
    try {
      const pid = Number(readFileSync(path.join(dir, OWNER_FILE), 'utf8'));
      if (!Number.isInteger(pid) || pid <= 0) continue;
      try {
        process.kill(pid, 0);
        continue; // owner still alive
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
      }
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // no owner file (kept on purpose, or not ours): leave it
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// util-linux's setpriv (on every Debian) asks the kernel to SIGKILL the child when this process
// dies, so even a `kill -9` of the test runner leaves no etcd or kube-apiserver behind.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((f) => existsSync(f));

function startProcess(binary: string, args: string[], logFile: string, cwd: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    // detached: its own process group, killed as a whole; stdio straight into the log file.
    const [command, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', binary, ...args]] : [binary, args];
    return spawn(command, argv, { cwd, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child) || child.pid === undefined) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

// ---------------------------------------------------------------------------------------------

/**
 * Starts etcd and kube-apiserver (and with `controllers: true` kube-controller-manager,
 * kube-scheduler and kwok); resolves once all of them are ready. Call stop() when done.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const legacy = options.release;
  if (options.controllers && legacy) {
    throw new Error(
      `startControlPlane({ release: '${legacy}', controllers: true }): the controllers (kube-controller-manager, ` +
        'kube-scheduler, kwok) are built for the modern release only (test/control-plane/go.mod); ' +
        `on ${legacy} create Pods directly instead, or drop \`release\` to get the modern server with controllers.`,
    );
  }
  const bins = await findControlPlaneBinaries(legacy);
  const controllerBins = options.controllers ? await findControllerBinaries() : undefined;
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  const keep = options.keep ?? process.env['MESHINIT_KEEP_CONTROL_PLANE'] === '1';
  sweepStaleDirs();
  const dir = mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX));
  writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
  const state: Running = { children: [], dir, keep };
  running.add(state);
  register();

  const logs: ControlPlane['logs'] = { apiserver: path.join(dir, 'kube-apiserver.log'), etcd: path.join(dir, 'etcd.log') };
  const identities = new Map<string, Promise<string>>();
  let stopped: Promise<void> | undefined;
  // kube-controller-manager, kube-scheduler and kwok: clients of the apiserver, stopped together
  // before it so that none of them logs a storm of connection errors on the way out.
  const clients: ChildProcess[] = [];

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // SIGTERM, then SIGKILL after 10 s.
      const terminate = async (child: ChildProcess): Promise<void> => {
        killGroup(child, 'SIGTERM');
        if (!(await waitForExit(child, 10_000))) {
          killGroup(child, 'SIGKILL');
          await waitForExit(child, 5_000);
        }
      };
      await Promise.all(clients.map(terminate));
      // Then the apiserver, then etcd.
      for (const child of [...state.children].reverse()) await terminate(child);
      if (keep) {
        rmSync(path.join(dir, OWNER_FILE), { force: true });
        process.stderr.write(`control plane files kept in ${dir}\n`);
      }
      destroySync(state);
      if (running.size === 0) unregister();
    })();
    return stopped;
  };

  try {
    const taken = new Set<number>();
    const ports = { apiserver: await freePort(taken), etcdClient: await freePort(taken), etcdPeer: await freePort(taken), insecure: legacy ? await freePort(taken) : 0 };
    const server = `https://127.0.0.1:${ports.apiserver}`;

    // Certificates: CA, serving certificate, service-account signing key.
    await openssl(['req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7', '-sha256',
      '-subj', '/CN=meshinit-e2e-ca', '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir);
    await issue(dir, 'apiserver', '/CN=kube-apiserver',
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' +
        'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1\n');
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'sa.key'], dir);
    await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
    const caCertPath = path.join(dir, 'ca.crt');
    const caCertPem = await readFile(caCertPath, 'utf8');
    // Static bearer tokens (token,user,uid,"groups"): the legacy servers' simplest token
    // authenticator, so token-based kubeconfigs can be tried as the controller's identity.
    const controllerToken = randomBytes(24).toString('hex');
    writeFileSync(path.join(dir, 'tokens.csv'), `${controllerToken},${CONTROLLER.user},meshinit-e2e,"${(CONTROLLER.groups ?? []).join(',')}"\n`);

    let counter = 0;
    const credentials = new Map<string, { cert: string; key: string }>();
    const kubeconfigFor = (identity: Identity): Promise<string> => {
      const key = JSON.stringify([identity.user, identity.groups ?? []]);
      let made = identities.get(key);
      if (!made) {
        const stem = `client-${++counter}`;
        made = (async () => {
          await issue(dir, stem, subject(identity),
            'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
          const [cert, keyPem] = await Promise.all([readFile(path.join(dir, `${stem}.crt`), 'utf8'), readFile(path.join(dir, `${stem}.key`), 'utf8')]);
          const file = path.join(dir, `kubeconfig-${stem}.yaml`);
          await writeFile(file, kubeconfigYaml(server, caCertPem, identity.user, cert, keyPem));
          credentials.set(key, { cert, key: keyPem });
          return file;
        })();
        identities.set(key, made);
      }
      return made;
    };
    const [adminKubeconfigPath, controllerKubeconfigPath] = await Promise.all([kubeconfigFor(ADMIN), kubeconfigFor(CONTROLLER)]);

    const request: ControlPlane['request'] = async (method, urlPath, opts = {}) => {
      const as = opts.as ?? ADMIN;
      await kubeconfigFor(as);
      const cred = credentials.get(JSON.stringify([as.user, as.groups ?? []]))!;
      const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      return new Promise((resolve, reject) => {
        const req = https.request(
          `${server}${urlPath}`,
          {
            method,
            ca: caCertPem,
            cert: cred.cert,
            key: cred.key,
            agent: false,
            headers: {
              accept: 'application/json',
              ...(payload === undefined ? {} : { 'content-type': opts.contentType ?? 'application/json' }),
            },
            timeout: 30_000,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
        req.on('error', reject);
        req.end(payload);
      });
    };

    // etcd: one member, data in the temporary folder; fsync off (throwaway data, much faster).
    const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
    const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
    const etcd = startProcess(bins.etcd, [
      '--name=e2e',
      `--data-dir=${path.join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=e2e=${peerUrl}`,
      '--initial-cluster-state=new',
      // etcd 3.4 has neither --unsafe-no-fsync nor zap logging by default.
      ...(legacy ? ['--logger=zap'] : ['--unsafe-no-fsync']),
      '--log-level=warn',
    ], logs.etcd, dir);
    state.children.push(etcd);

    const deadline = started + timeoutMs;
    const failure = (what: string, which: ControlPlaneLog): Error =>
      new Error(`${what}\n--- last lines of ${logs[which] ?? which} ---\n${logs[which] ? tail(logs[which]) : '(no log)'}`);

    while (!(await httpOk(`${etcdUrl}/health`))) {
      if (exited(etcd)) throw failure(`etcd exited (code ${etcd.exitCode}, signal ${etcd.signalCode}) during startup`, 'etcd');
      if (Date.now() > deadline) throw failure(`etcd not healthy after ${timeoutMs} ms`, 'etcd');
      await sleep(100);
    }

    const modernOnly = [
      `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      '--authorization-mode=Node,RBAC',
      // No token controller runs, so the ServiceAccount plugin would refuse every Pod
      // ("serviceaccount default not found"). Everything else stays at the defaults.
      '--disable-admission-plugins=ServiceAccount',
    ];
    // The alpha Initializers, as README.md asks of a 1.9-1.13 cluster. 1.9 has one flag with the
    // whole ordered plugin list; 1.13 adds to its defaults (less ServiceAccount, see above).
    const legacyOnly = [
      '--authorization-mode=RBAC',
      ...(legacy === 'v1.9.11'
        ? ['--admission-control=NamespaceLifecycle,Initializers']
        : ['--enable-admission-plugins=NamespaceLifecycle,Initializers', '--disable-admission-plugins=ServiceAccount']),
      '--runtime-config=admissionregistration.k8s.io/v1alpha1=true',
      '--feature-gates=Initializers=true',
      // The insecure port these releases still had (default 8080, which may be taken): plain
      // http://, no authentication, no authorization. meshinit must work through it.
      `--insecure-port=${ports.insecure}`,
      '--insecure-bind-address=127.0.0.1',
      `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
    ];
    const apiserver = startProcess(bins.apiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports.apiserver}`,
      `--cert-dir=${dir}`,
      `--tls-cert-file=${path.join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${path.join(dir, 'apiserver.key')}`,
      `--client-ca-file=${caCertPath}`,
      `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      ...(legacy ? legacyOnly : modernOnly),
      '--allow-privileged=true',
      '--profiling=false',
      ...(options.apiserverArgs ?? []),
    ], logs.apiserver, dir);
    state.children.push(apiserver);

    const adminCred = credentials.get(JSON.stringify([ADMIN.user, ADMIN.groups ?? []]))!;
    for (;;) {
      // /readyz is 1.16+; the legacy servers answer /healthz once their post-start hooks are done.
      const status = await httpsStatus(`${server}/${legacy ? 'healthz' : 'readyz'}`, caCertPem, adminCred.cert, adminCred.key);
      if (status === 200) break;
      if (exited(apiserver)) throw failure(`kube-apiserver exited (code ${apiserver.exitCode}, signal ${apiserver.signalCode}) during startup`, 'apiserver');
      if (exited(etcd)) throw failure(`etcd exited (code ${etcd.exitCode}) while kube-apiserver was starting`, 'etcd');
      if (Date.now() > deadline) throw failure(`kube-apiserver not ready after ${timeoutMs} ms (last /readyz status ${status})`, 'apiserver');
      await sleep(200);
    }

    const controllers = controllerBins
      ? await startControllers({
          bins: controllerBins, dir, server, caCertPem, adminKubeconfigPath, request, logs, taken, deadline, timeoutMs, failure,
          spawnClient: (binary, args, log) => {
            const child = startProcess(binary, args, log, dir);
            // In state.children too, so that exit, signal and SIGKILL-of-the-runner cleanup reach it.
            state.children.push(child);
            clients.push(child);
            return child;
          },
          watched: [apiserver, etcd],
        })
      : undefined;

    return {
      server,
      ...(legacy ? { insecureServer: `http://127.0.0.1:${ports.insecure}`, release: legacy, controllerToken } : {}),
      kubeVersion: bins.kubeVersion,
      etcdVersion: bins.etcdVersion,
      ports,
      dir,
      caCertPem,
      caCertPath,
      adminKubeconfigPath,
      controllerKubeconfigPath,
      kubeconfigFor,
      request,
      logs,
      ...(controllers ? { controllers } : {}),
      logTail: (which, lines) => (logs[which] ? tail(logs[which], lines) : '(no log)'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface ControllersContext {
  bins: ControllerBinaries;
  dir: string;
  server: string;
  caCertPem: string;
  adminKubeconfigPath: string;
  request: ControlPlane['request'];
  logs: ControlPlane['logs'];
  taken: Set<number>;
  deadline: number;
  timeoutMs: number;
  failure: (what: string, which: ControlPlaneLog) => Error;
  spawnClient: (binary: string, args: string[], logFile: string) => ChildProcess;
  /** The apiserver and etcd: if one dies while the controllers start, say so instead of timing out. */
  watched: ChildProcess[];
}

/**
 * kube-controller-manager, kube-scheduler and kwok, all as the admin (system:masters: no RBAC
 * bootstrap to wait for), leader election off (one of each), each serving /healthz on its own free
 * port with the apiserver's certificate (SAN 127.0.0.1, signed by the plane's CA). Resolves when
 * all three answer and the fake Node is Ready, which is what the scheduler needs to bind a Pod.
 */
async function startControllers(ctx: ControllersContext): Promise<ControllersInfo> {
  const t0 = Date.now();
  const { bins, dir, logs } = ctx;
  const ports = { controllerManager: await freePort(ctx.taken), scheduler: await freePort(ctx.taken), kwok: await freePort(ctx.taken) };
  logs.controllerManager = path.join(dir, 'kube-controller-manager.log');
  logs.scheduler = path.join(dir, 'kube-scheduler.log');
  logs.kwok = path.join(dir, 'kwok.log');
  const serving = (port: number): string[] => [
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--tls-cert-file=${path.join(dir, 'apiserver.crt')}`,
    `--tls-private-key-file=${path.join(dir, 'apiserver.key')}`,
    // Without a delegated authentication/authorization kubeconfig /healthz stays open to
    // anonymous requests (--authorization-always-allow-paths), and nothing else is served.
    `--kubeconfig=${ctx.adminKubeconfigPath}`,
    '--leader-elect=false',
    '--profiling=false',
  ];

  const children = {
    controllerManager: ctx.spawnClient(bins.controllerManager, [
      ...serving(ports.controllerManager),
      `--controllers=${CONTROLLER_MANAGER_CONTROLLERS.join(',')}`,
      // Every controller acts as the admin, not as its own ServiceAccount: no token controller
      // runs, and no per-controller RBAC bootstrap needs to settle first.
      '--use-service-account-credentials=false',
    ], logs.controllerManager),
    scheduler: ctx.spawnClient(bins.scheduler, serving(ports.scheduler), logs.scheduler),
    kwok: ctx.spawnClient(bins.kwok, [
      `--kubeconfig=${ctx.adminKubeconfigPath}`,
      // Only our Stages file; without --config kwok would read ~/.kwok/kwok.yaml.
      `--config=${bins.kwokStages}`,
      `--manage-nodes-with-annotation-selector=${FAKE_NODE_ANNOTATION}=fake`,
      `--server-address=127.0.0.1:${ports.kwok}`,
      // Pod IPs apart from the Service range (10.0.0.0/24), which is also kwok's default.
      '--cidr=10.244.0.0/16',
      '--node-ip=10.243.0.1',
      // kwok renews the Node's Lease, as a kubelet does: without one, the node-lifecycle controller
      // has only the Ready condition's heartbeat, which kwok's heartbeat Stage writes about once a
      // minute, later than the grace period; the Node then flaps to Unknown and every Pod on it to
      // NotReady, and Deployments stop being available.
      '--node-lease-duration-seconds=40',
    ], logs.kwok),
  };

  // The fake Node: kwok's node-initialize Stage makes it Ready (and node-heartbeat-with-lease
  // keeps its Lease fresh). No taints, so every Pod fits there; the labels a kubelet would set.
  const node = await ctx.request('POST', '/api/v1/nodes', {
    body: {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: FAKE_NODE_NAME,
        annotations: { [FAKE_NODE_ANNOTATION]: 'fake' },
        labels: { 'kubernetes.io/hostname': FAKE_NODE_NAME, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
      },
    },
  });
  if (node.status !== 201) throw new Error(`creating the fake Node ${FAKE_NODE_NAME} failed: ${node.status} ${node.body}`);

  const waiting = new Set<keyof typeof children | 'node'>(['controllerManager', 'scheduler', 'kwok', 'node']);
  const last: Record<string, string> = {};
  for (;;) {
    const probes: Record<keyof typeof children | 'node', () => Promise<string>> = {
      // /healthz turns ok once its controllers are started; kube-scheduler's /readyz also waits for its informers.
      controllerManager: async () => String(await httpsStatus(`https://127.0.0.1:${ports.controllerManager}/healthz`, ctx.caCertPem)),
      scheduler: async () => String(await httpsStatus(`https://127.0.0.1:${ports.scheduler}/readyz`, ctx.caCertPem)),
      kwok: async () => ((await httpOk(`http://127.0.0.1:${ports.kwok}/healthz`)) ? '200' : 'not ok'),
      node: async () => nodeReady(await ctx.request('GET', `/api/v1/nodes/${FAKE_NODE_NAME}`)),
    };
    await Promise.all([...waiting].map(async (name) => {
      last[name] = await probes[name]();
      if (last[name] === '200' || last[name] === 'Ready') waiting.delete(name);
    }));
    if (waiting.size === 0) break;
    for (const [name, child] of Object.entries(children) as [keyof typeof children, ChildProcess][]) {
      if (exited(child)) throw ctx.failure(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}) during startup`, name);
    }
    for (const child of ctx.watched) {
      if (exited(child)) throw ctx.failure(`the apiserver or etcd exited (code ${child.exitCode}) while the controllers were starting`, 'apiserver');
    }
    if (Date.now() > ctx.deadline) {
      const first = [...waiting][0]!;
      const detail = [...waiting].map((name) => `${name}: ${last[name]}`).join(', ');
      throw ctx.failure(`controllers not ready after ${ctx.timeoutMs} ms (${detail})`, first === 'node' ? 'kwok' : first);
    }
    await sleep(100);
  }
  return { kwokVersion: bins.kwokVersion, nodeName: FAKE_NODE_NAME, ports, startupMs: Date.now() - t0 };
}

/**
 * 'Ready' when the Node's Ready condition is True and it has no taint left (the not-ready taint
 * that admission put on it is lifted by the node-lifecycle controller), so a Pod is bound at once;
 * else what it shows instead.
 */
function nodeReady(res: { status: number; body: string }): string {
  if (res.status !== 200) return `GET node: ${res.status}`;
  const node = JSON.parse(res.body) as { spec?: { taints?: { key: string; effect: string }[] }; status?: { conditions?: { type: string; status: string }[] } };
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return `Node Ready=${ready?.status ?? 'unset'}`;
  const taints = node.spec?.taints ?? [];
  return taints.length === 0 ? 'Ready' : `Node tainted ${taints.map((t) => `${t.key}:${t.effect}`).join(', ')}`;
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function httpsStatus(url: string, ca: string, cert?: string, key?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, ...(cert && key ? { cert, key } : {}), agent: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** True when nothing accepts connections on 127.0.0.1:port. */
export function portClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}
