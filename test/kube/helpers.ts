// Shared setup for tests that drive the real API client against nock.

import { Readable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';

export const SERVER = 'https://127.0.0.1:6443';
export const TOKEN = 'secret-token-5b87242d-e6e1';

/** A kubeconfig for the nock server; `token` lets a test use one it can recognise in output. */
export function testKubeConfig(token = TOKEN): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'legacy', server: SERVER, skipTLSVerify: true }],
    users: [{ name: 'initctl', token }],
    contexts: [{ name: 'legacy', cluster: 'legacy', user: 'initctl' }],
    currentContext: 'legacy',
  });
  return kc;
}

/** A response body delivered in the given pieces, a few ms apart, then ended (or left open). */
export function chunkedStream(pieces: Array<string | Buffer>, options: { end?: boolean } = {}): Readable {
  const stream = new Readable({ read() {} });
  let i = 0;
  const next = (): void => {
    if (stream.destroyed) return;
    if (i < pieces.length) {
      stream.push(pieces[i++]);
      setTimeout(next, 1);
    } else if (options.end !== false) {
      stream.push(null);
    }
  };
  setTimeout(next, 1);
  return stream;
}

export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
