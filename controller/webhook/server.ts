// The webhook's HTTPS listener. The API server only calls webhooks over TLS, so there is no plain
// HTTP fallback. Certificates from files are re-read when they change (cert-manager and Secret
// volumes swap them in place), without dropping the listener or its connections.
import fs from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import type { Logger } from '../logger.ts';

export type TlsSource = { kind: 'files'; certFile: string; keyFile: string } | { kind: 'inline'; certPem: string; keyPem: string };

export interface WebhookServer {
  port(): number;
  /** Re-reads the certificate files now (the poller calls this on change); false if they are unusable. */
  reload(): boolean;
  close(): Promise<void>;
}

export interface WebhookServerOptions {
  address: { host: string; port: number };
  tls: TlsSource;
  handler: (request: http.IncomingMessage, response: http.ServerResponse) => void;
  log: Logger;
  /** How often certificate files are checked for changes; polling survives symlink swaps. */
  reloadIntervalMs?: number;
}

function readTls(source: TlsSource): { cert: string; key: string } {
  if (source.kind === 'inline') return { cert: source.certPem, key: source.keyPem };
  return { cert: fs.readFileSync(source.certFile, 'utf8'), key: fs.readFileSync(source.keyFile, 'utf8') };
}

export function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const { log } = options;
  let current = readTls(options.tls);
  const server = https.createServer({ ...current, minVersion: 'TLSv1.2' }, options.handler);
  server.on('tlsClientError', (error) => log.debug('TLS handshake failed', { error: error.message }));

  const reload = (): boolean => {
    try {
      const next = readTls(options.tls);
      if (next.cert === current.cert && next.key === current.key) return true;
      server.setSecureContext({ ...next, minVersion: 'TLSv1.2' });
      current = next;
      log.info('Serving certificate reloaded');
      return true;
    } catch (error) {
      // A half-written pair (cert updated, key not yet) fails here; the next poll picks it up.
      log.warn('Serving certificate not reloaded, keeping the previous one', { error: (error as Error).message });
      return false;
    }
  };
  const timer = options.tls.kind === 'files' ? setInterval(reload, options.reloadIntervalMs ?? 10_000) : undefined;
  timer?.unref();

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.address.port, options.address.host, () => {
      server.off('error', reject);
      resolve({
        port: () => {
          const bound = server.address();
          return typeof bound === 'object' && bound ? bound.port : options.address.port;
        },
        reload,
        close: () =>
          new Promise<void>((done) => {
            if (timer) clearInterval(timer);
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
  });
}
