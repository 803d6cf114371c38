// Native sidecars: since Kubernetes 1.29 (SidecarContainers, beta and on by default) an init
// container with `restartPolicy: Always` is a sidecar. The kubelet starts it before the init
// containers after it and the app, keeps it running, and stops it once the app's containers have
// exited, so a Job's Pod completes instead of running forever beside its proxy. An older server
// drops the unknown field: the proxy becomes an ordinary init container that never exits, and the
// Pod stays in Init forever. So the layout depends on the server, and is decided here, once per
// MeshConfig version, from the server's version the adapters discover (pure: no I/O).
import type { KubeServer, NativeSidecarMode, ServerVersion, SidecarLayout, SidecarSpec } from './types.ts';

/** The first minor of Kubernetes 1.x whose servers run native sidecars by default. */
export const NATIVE_SIDECAR_MINOR = 29;

/** The README section that says what to do on older servers. */
const README_SECTION = 'README "Jobs that finish: native sidecars"';

/** Offline, and wherever the version could not be read: `why` says which. */
export function unknownServer(why: string): KubeServer {
  return { known: false, why };
}

export function knownServer(version: ServerVersion): KubeServer {
  return { known: true, version };
}

/** What parseMeshConfig assumes when no server is named. */
export const UNKNOWN_SERVER: KubeServer = unknownServer('the server\'s version is not known');

// "1", "29", and the "29+" of managed clusters (GKE, EKS) that carry vendor builds.
const LEADING_NUMBER = /^(\d{1,4})\+?$/;
const VERSION_FLAG = /^v?(\d{1,4})\.(\d{1,4})(?:\.\d{1,4})?$/;
const GIT_VERSION = /^v?(\d{1,4})\.(\d{1,4})(?:[.+-].*)?$/;

function number(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = LEADING_NUMBER.exec(value.trim());
  return match ? Number(match[1]) : undefined;
}

/**
 * The version in a GET /version answer ({major, minor, gitVersion}), or undefined when none of it
 * can be read. major and minor win when both parse ("1" and "36+" on a managed cluster); else
 * gitVersion (v1.36.3, v1.29.0-eks-abc) decides.
 */
export function parseServerVersion(info: unknown): ServerVersion | undefined {
  if (typeof info !== 'object' || info === null) return undefined;
  const { major, minor, gitVersion } = info as Record<string, unknown>;
  const git = typeof gitVersion === 'string' ? gitVersion.trim() : '';
  const fromGit = GIT_VERSION.exec(git);
  const parsedMajor = number(major);
  const parsedMinor = number(minor);
  if (parsedMajor !== undefined && parsedMinor !== undefined) {
    return { major: parsedMajor, minor: parsedMinor, gitVersion: git !== '' ? git : `v${parsedMajor}.${parsedMinor}` };
  }
  if (fromGit) return { major: Number(fromGit[1]), minor: Number(fromGit[2]), gitVersion: git };
  return undefined;
}

/** A version as a user gives it on the command line: 1.30, v1.30, 1.30.2. */
export function parseVersionFlag(text: string): ServerVersion | undefined {
  const match = VERSION_FLAG.exec(text);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), gitVersion: text.startsWith('v') ? text : `v${text}` };
}

export function supportsNativeSidecars(version: ServerVersion): boolean {
  return version.major > 1 || (version.major === 1 && version.minor >= NATIVE_SIDECAR_MINOR);
}

/** For log lines and explain: the server, and whether it runs native sidecars. */
export function describeServer(server: KubeServer): string {
  return server.known ? server.version.gitVersion : `unknown (${server.why})`;
}

/**
 * The sidecar in the native layout: its own init containers first (an iptables init such as
 * istio-init still runs, and exits, before anything else), then every container of the sidecar as
 * an init container with restartPolicy Always, so the proxy is up before the user's init
 * containers and the app, and is stopped after them.
 */
export function nativeLayout(sidecar: SidecarSpec): SidecarSpec {
  return {
    ...withoutSwitch(sidecar),
    initContainers: [...sidecar.initContainers, ...sidecar.containers.map((container) => ({ ...container, restartPolicy: 'Always' }))],
    containers: [],
  };
}

/** A copy without the nativeSidecar switch: it says how to inject, it is not part of what is injected. */
function withoutSwitch(sidecar: SidecarSpec): SidecarSpec {
  const copy = { ...sidecar };
  delete copy.nativeSidecar;
  return copy;
}

/** The sidecar as written (the very object when the switch is absent): what Never has always injected. */
function containersLayout(sidecar: SidecarSpec): SidecarSpec {
  return sidecar.nativeSidecar === undefined ? sidecar : withoutSwitch(sidecar);
}

const TOO_OLD = `native sidecars (init containers with restartPolicy: Always) need Kubernetes 1.${NATIVE_SIDECAR_MINOR} or newer`;

/**
 * How `sidecar` is injected for `server`. Never keeps the layout (and hash) meshinit always had;
 * Auto is native where the server runs native sidecars and regular containers elsewhere; Always is
 * native, and refused where the server would mangle it.
 */
export function resolveSidecarLayout(sidecar: SidecarSpec, server: KubeServer): SidecarLayout {
  const requested: NativeSidecarMode = sidecar.nativeSidecar ?? 'Never';
  const about = describeServer(server);
  const native = { requested, effective: 'native' as const, sidecar: nativeLayout(sidecar), server: about };
  const containers = { requested, effective: 'containers' as const, sidecar: containersLayout(sidecar), server: about };
  if (requested === 'Never') return containers;
  if (server.known && supportsNativeSidecars(server.version)) return native;
  if (requested === 'Auto') {
    const note = server.known
      ? `nativeSidecar Auto: the API server is ${about} and ${TOO_OLD}, so the sidecar is injected as regular containers ` +
        `and a Job's Pods keep running after its work is done; on this server stop the proxy from the Job, or opt Jobs out (${README_SECTION})`
      : `nativeSidecar Auto: ${server.why}, so the sidecar is injected as regular containers; ` +
        `give the server's version (--kube-version 1.${NATIVE_SIDECAR_MINOR} or newer) to inject native sidecars`;
    return { ...containers, note };
  }
  if (!server.known) {
    return { ...native, note: `nativeSidecar Always: ${server.why}; injected as native sidecars as asked, which only a Kubernetes 1.${NATIVE_SIDECAR_MINOR}+ server runs (an older one holds the Pod in Init forever)` };
  }
  return {
    ...native,
    refusal: `nativeSidecar Always, but the API server is ${about} and ${TOO_OLD}: this server would drop the proxy's restartPolicy and hold the Pod in Init forever, ` +
      'so meshinit does not inject it; set spec.sidecar.nativeSidecar to Auto (regular containers on this server) or Never',
  };
}
