// Liveness and readiness for the kubelet's probes. Readiness means caches are synced and workloads
// are being processed; until then a second replica keeps serving.
import http from 'node:http';

export interface HealthServer {
  close(): Promise<void>;
  port(): number;
}

export function startHealthServer(address: { host: string; port: number }, ready: () => boolean): Promise<HealthServer> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    const ok = path === '/healthz' || path === '/livez' ? true : path === '/readyz' ? ready() : undefined;
    if (ok === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'caches not synced\n');
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
