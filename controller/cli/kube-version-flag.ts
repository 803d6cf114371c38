// --kube-version: offline, meshinit cannot ask a server its version, and the version decides the
// sidecar layout of a MeshConfig with nativeSidecar Auto or Always (core/native-sidecar.ts).
import { knownServer, NATIVE_SIDECAR_MINOR, parseVersionFlag, unknownServer } from '../core/native-sidecar.ts';
import type { KubeServer } from '../core/types.ts';

export const KUBE_VERSION_HELP =
  `      --kube-version 1.N        The Kubernetes version of the cluster the output is for (1.30, v1.30.2).
                                It decides the layout of a MeshConfig with nativeSidecar Auto: native
                                sidecars from 1.${NATIVE_SIDECAR_MINOR}, regular containers before and when not
                                given; with Always, before 1.${NATIVE_SIDECAR_MINOR} an injection error.`;

/** The server offline runs judge for; a string is the usage error for a malformed value. */
export function kubeVersionServer(value: string | undefined): KubeServer | string {
  if (value === undefined) return unknownServer('no --kube-version was given');
  const version = parseVersionFlag(value);
  if (!version) return `--kube-version must be a Kubernetes version such as 1.30 or v1.30.2, got ${JSON.stringify(value)}`;
  return knownServer(version);
}
