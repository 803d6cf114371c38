// Liveness and readiness for the kubelet's probes. Readiness means caches are synced, MeshConfigs
// are readable and workloads are being processed; /readyz says which of these is missing, so
// `kubectl describe pod` shows the cause (say, the MeshConfig CRD is not installed).
import http from 'node:http';

export interface HealthServer {
  close(): Promise<void>;
  port(): number;
}

/** `notReadyReason` answers why the process is not ready, or undefined when it is. */
export function startHealthServer(address: { host: string; port: number }, notReadyReason: () => string | undefined): Promise<HealthServer> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
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
