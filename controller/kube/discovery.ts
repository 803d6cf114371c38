// Initializers exist only where the API server serves admissionregistration.k8s.io/v1alpha1
// (Kubernetes 1.7-1.13 with the alpha feature turned on). Without it the controller would wait for
// objects that never become uninitialized, so it refuses to start and says what to do instead.
import { knownServer, parseServerVersion, supportsNativeSidecars, unknownServer } from '../core/native-sidecar.ts';
import type { KubeServer } from '../core/types.ts';
import { isKubeApiError } from './errors.ts';
import type { KubeApi } from './types.ts';

export const INITIALIZER_API = '/apis/admissionregistration.k8s.io/v1alpha1';

export class InitializersUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `this API server does not serve admissionregistration.k8s.io/v1alpha1 initializerconfigurations (${detail}). ` +
        'Initializers were removed in Kubernetes 1.14; on 1.7-1.13 the server needs ' +
        '--runtime-config=admissionregistration.k8s.io/v1alpha1=true, the Initializers admission plugin and ' +
        '--feature-gates=Initializers=true. On Kubernetes >= 1.14 use --mode webhook (or --mode auto), or inject ' +
        'manifests offline with "meshinit inject -f FILE".',
    );
    this.name = 'InitializersUnavailableError';
  }
}

interface ApiResourceList {
  resources?: Array<{ name?: string }>;
}

/** 'served', or why not; other failures (network, 403, 5xx) are thrown: they say nothing about the API. */
export async function initializerApiStatus(api: KubeApi): Promise<'served' | string> {
  let list: ApiResourceList;
  try {
    list = await api.get<ApiResourceList>(INITIALIZER_API);
  } catch (error) {
    if (isKubeApiError(error) && error.isNotFound) return `GET ${INITIALIZER_API} answered 404`;
    throw error;
  }
  if (!(list.resources ?? []).some((resource) => resource.name === 'initializerconfigurations')) {
    return 'the group version exists but lists no initializerconfigurations';
  }
  return 'served';
}

/**
 * The first of `versions` under which the server lists `descriptor`'s resource, or undefined when
 * none does (the group version answers 404, or lists no such resource). Other failures are thrown.
 */
export async function servedVersion(api: KubeApi, descriptor: { group: string; plural: string }, versions: readonly string[]): Promise<string | undefined> {
  for (const version of versions) {
    let list: ApiResourceList;
    try {
      list = await api.get<ApiResourceList>(descriptor.group === '' ? `/api/${version}` : `/apis/${descriptor.group}/${version}`);
    } catch (error) {
      if (isKubeApiError(error) && error.isNotFound) continue;
      throw error;
    }
    if ((list.resources ?? []).some((resource) => resource.name === descriptor.plural)) return version;
  }
  return undefined;
}

/**
 * The server's version from GET /version, as the core decides with it (the sidecar layout), and
 * what that means for native sidecars, in words for the start-up log line. Failures are thrown:
 * the caller's first request is this one, and an unreachable server fails the start.
 */
export async function discoverServer(api: KubeApi): Promise<{ gitVersion: string | undefined; server: KubeServer; nativeSidecars: string }> {
  const info = await api.get<{ gitVersion?: unknown }>('/version');
  const version = parseServerVersion(info);
  const gitVersion = typeof info.gitVersion === 'string' ? info.gitVersion : undefined;
  if (!version) {
    return {
      gitVersion,
      server: unknownServer(`GET /version answered no readable version (${JSON.stringify(info).slice(0, 200)})`),
      nativeSidecars: 'unknown: MeshConfigs with nativeSidecar Auto inject regular containers',
    };
  }
  return {
    gitVersion,
    server: knownServer(version),
    nativeSidecars: supportsNativeSidecars(version)
      ? 'supported: MeshConfigs with nativeSidecar Auto or Always inject init containers with restartPolicy Always'
      : 'not supported (Kubernetes 1.29+): MeshConfigs with nativeSidecar Auto inject regular containers, Always is an injection error',
  };
}
