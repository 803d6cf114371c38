// A real, local Kubernetes control plane for end-to-end tests: etcd and kube-apiserver built by
// `make control-plane` (see test/control-plane/README.md), started on free 127.0.0.1 ports with
// certificates made by openssl in a temporary folder, and always torn down again.
//
// There is no kube-controller-manager, scheduler or kubelet: objects are stored and served,
// admission (webhooks included) and RBAC run, but no controller acts on them.
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
}

export interface ControlPlaneBinaries {
  kubeVersion: string;
  etcdVersion: string;
  apiserver: string;
  etcd: string;
}

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
  logs: { apiserver: string; etcd: string };
  /** The last lines of a log, for failure messages. */
  logTail(which: 'apiserver' | 'etcd', lines?: number): string;
  /** Stops kube-apiserver and etcd (their whole process groups) and removes `dir`. Idempotent. */
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
  for (const file of [bins.apiserver, bins.etcd]) {
    try {
      await access(file, constants.X_OK);
    } catch {
      throw new Error(
        `control plane binary missing: ${file}\n` +
          `Run \`${target}\` at the repository root first (builds kube-apiserver ${bins.kubeVersion} ` +
          `and etcd with Go; the first build takes many minutes).`,
      );
    }
  }
  return bins;
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

/** Starts etcd and kube-apiserver; resolves once /readyz answers ok. Call stop() when done. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const bins = await findControlPlaneBinaries(options.release);
  const legacy = options.release;
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  const keep = options.keep ?? process.env['MESHINIT_KEEP_CONTROL_PLANE'] === '1';
  sweepStaleDirs();
  const dir = mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX));
  writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
  const state: Running = { children: [], dir, keep };
  running.add(state);
  register();

  const logs = { apiserver: path.join(dir, 'kube-apiserver.log'), etcd: path.join(dir, 'etcd.log') };
  const identities = new Map<string, Promise<string>>();
  let stopped: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // apiserver first, then etcd; SIGTERM, then SIGKILL after 10 s.
      for (const child of [...state.children].reverse()) {
        killGroup(child, 'SIGTERM');
        if (!(await waitForExit(child, 10_000))) {
          killGroup(child, 'SIGKILL');
          await waitForExit(child, 5_000);
        }
      }
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
    const failure = (what: string, which: 'etcd' | 'apiserver'): Error =>
      new Error(`${what}\n--- last lines of ${logs[which]} ---\n${tail(logs[which])}`);

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
      logTail: (which, lines) => tail(logs[which], lines),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
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

function httpsStatus(url: string, ca: string, cert: string, key: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, cert, key, agent: false, timeout: 5000 }, (res) => {
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
