// A minimal HTTP client for tests and in-test actors (creators, other initializers): it speaks to
// the double the way any Kubernetes client does (bearer token, User-Agent, JSON) without going
// through meshinit's own client, so a bug there cannot hide behind the test's own traffic.
import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface ClientIdentity {
  token?: string;
  userAgent?: string;
}

export class TestClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(readonly baseUrl: string, readonly identity: ClientIdentity = {}) {}

  request(method: string, path: string, options: { body?: unknown; rawBody?: string; contentType?: string; query?: Record<string, string> } = {}): Promise<Reply> {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const payload = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.identity.token) headers.Authorization = `Bearer ${this.identity.token}`;
    if (this.identity.userAgent) headers['User-Agent'] = this.identity.userAgent;
    if (payload !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  get(path: string, query?: Record<string, string>): Promise<Reply> {
    return this.request('GET', path, { ...(query ? { query } : {}) });
  }

  post(path: string, body: unknown, query?: Record<string, string>): Promise<Reply> {
    return this.request('POST', path, { body, ...(query ? { query } : {}) });
  }

  patch(path: string, body: unknown, contentType: string): Promise<Reply> {
    return this.request('PATCH', path, { body, contentType });
  }

  /**
   * Reads a watch stream until the server ends it (or `maxEvents` arrive); events as parsed lines.
   * Resolves with the HTTP status too, since a watch can also be refused outright (410, 429, 5xx).
   */
  watch(path: string, query: Record<string, string>, options: { maxEvents?: number; timeoutMs?: number } = {}): Promise<{ status: number; events: Array<{ type: string; object: Record<string, unknown> }>; ended: 'server' | 'limit' | 'timeout' | 'reset' }> {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries({ ...query, watch: 'true' })) url.searchParams.set(key, value);
    const headers: Record<string, string> = {};
    if (this.identity.token) headers.Authorization = `Bearer ${this.identity.token}`;
    return new Promise((resolve, reject) => {
      const events: Array<{ type: string; object: Record<string, unknown> }> = [];
      let buffer = '';
      let settled = false;
      // No keep-alive agent: ending early destroys the socket.
      const req = http.request(url, { headers, agent: false }, (res) => {
        const finish = (ended: 'server' | 'limit' | 'timeout' | 'reset'): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (ended !== 'server' && ended !== 'reset') req.destroy();
          resolve({ status: res.statusCode ?? 0, events, ended });
        };
        const timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 5000);
        res.on('data', (chunk: Buffer) => {
          buffer += chunk.toString('utf8');
          let newline = buffer.indexOf('\n');
          while (newline >= 0) {
            const line = buffer.slice(0, newline).trim();
            buffer = buffer.slice(newline + 1);
            if (line) events.push(JSON.parse(line) as { type: string; object: Record<string, unknown> });
            if (options.maxEvents !== undefined && events.length >= options.maxEvents) return finish('limit');
            newline = buffer.indexOf('\n');
          }
        });
        res.on('end', () => {
          if (buffer.trim()) {
            try {
              events.push(JSON.parse(buffer) as { type: string; object: Record<string, unknown> });
            } catch {
              // A plain-text or partial body: not an event.
            }
          }
          finish('server');
        });
        res.on('error', () => finish('reset'));
        res.on('aborted', () => finish('reset'));
      });
      req.on('error', (error) => {
        if (!settled) reject(error);
      });
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
