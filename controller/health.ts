// Liveness, readiness and metrics for the kubelet's probes and Prometheus. Readiness means caches
// are synced, MeshConfigs are readable and workloads are being processed; /readyz says which of
// these is missing, so `kubectl describe pod` shows the cause (say, the MeshConfig CRD is not
// installed). /metrics is served here in both modes, never on the webhook's TLS port: Prometheus
// scrapes plain HTTP, and the API server must not be able to reach it.
import http from 'node:http';

export interface HealthServer {
  close(): Promise<void>;
  port(): number;
}

/** The metrics as Prometheus reads them (see metrics.ts). */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export const METRICS_PATH = '/metrics';

/** `notReadyReason` answers why the process is not ready, or undefined when it is. */
export function startHealthServer(address: { host: string; port: number }, notReadyReason: () => string | undefined, metrics?: MetricsSource): Promise<HealthServer> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === METRICS_PATH && metrics) {
      metrics.render().then(
        (text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${error instanceof Error ? error.message : String(error)}\n`),
      );
      return;
    }
    const problem = path === '/healthz' || path === '/livez' ? undefined : path === '/readyz' ? notReadyReason() : null;
    if (problem === null) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(problem === undefined ? 200 : 503, { 'content-type': 'text/plain' }).end(problem === undefined ? 'ok\n' : `not ready: ${problem}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve({
        port: () => {
          const bound = server.address();
          return typeof bound === 'object' && bound ? bound.port : address.port;
        },
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}
