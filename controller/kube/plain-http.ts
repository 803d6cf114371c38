// API servers reached over plain http://: the insecure port of the 1.9-1.13 servers and `kubectl
// proxy` (how people run a controller from a laptop). kubectl and client-go use such a kubeconfig
// as it is; @kubernetes/client-node refuses it unless `insecure-skip-tls-verify` is set
// (kubernetes-client/javascript#2348), although there is no TLS to skip. The kubeconfig stays
// client-node's to read; only that refusal is taken away, and only for an http:// server.
import type { KubeConfig } from '@kubernetes/client-node';

function currentServer(kc: KubeConfig): URL | undefined {
  const server = kc.getCurrentCluster()?.server;
  if (!server) return undefined;
  try {
    return new URL(server);
  } catch {
    return undefined;
  }
}

export function isPlainHttp(kc: KubeConfig): boolean {
  return currentServer(kc)?.protocol === 'http:';
}

/**
 * The same kubeconfig, with skip-TLS-verify set on the current cluster when its server is http://
 * (meaningless there, and what client-node demands before it will send anything). Any other
 * kubeconfig is returned as it is.
 */
export function allowPlainHttp(kc: KubeConfig): KubeConfig {
  const cluster = kc.getCurrentCluster();
  if (!cluster || !isPlainHttp(kc) || cluster.skipTLSVerify) return kc;
  // The same class as `kc`'s: meshinit loads KubeConfig without client-node's generated API
  // (slim-kubeconfig.ts), and importing the package here would load all of it.
  const copy = new (kc.constructor as new () => KubeConfig)();
  copy.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === cluster.name ? { ...c, skipTLSVerify: true } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.getCurrentContext(),
  });
  return copy;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Why sending this kubeconfig's credentials is unsafe, when it is: a token, password or other
 * credential on its way over plain HTTP to a host other than this machine can be read on the wire.
 */
export function plainHttpCredentialWarning(kc: KubeConfig): string | undefined {
  const server = currentServer(kc);
  if (!server || server.protocol !== 'http:' || isLoopback(server.hostname)) return undefined;
  const user = kc.getCurrentUser();
  if (!user) return undefined;
  const kinds = [
    user.token || (user as { tokenFile?: string }).tokenFile ? 'a bearer token' : undefined,
    user.username || user.password ? 'a username and password' : undefined,
    user.exec ? 'an exec plugin\'s token' : undefined,
    user.authProvider ? 'an auth provider\'s token' : undefined,
  ].filter((kind): kind is string => kind !== undefined);
  if (kinds.length === 0) return undefined;
  return `the kubeconfig sends ${kinds.join(' and ')} over plain HTTP to ${server.host}, which is not this machine: ` +
    'anyone on the network path can read and reuse it; use https:// (or `kubectl proxy` on this machine, which keeps the credentials on its https:// side)';
}
