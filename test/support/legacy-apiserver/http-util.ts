// HTTP plumbing of the double: reading a body (and noticing a client that died mid-request, whose
// request the server must not act on), writing an answer, and the static documents it serves.
import type http from 'node:http';
import type { Flavor } from './semantics.ts';
import type { Answer } from './status.ts';

/** Go's strconv.ParseBool, which the server uses for boolean query parameters. */
export function parseBool(value: string | null): boolean {
  return value !== null && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value);
}

/** The whole body, or undefined when the connection closed before it was complete. */
export function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let complete = false;
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      complete = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('close', () => {
      if (!complete) resolve(undefined);
    });
    req.on('error', () => resolve(undefined));
  });
}

/** Writes a JSON (object body) or plain-text (string body) answer. */
export function sendAnswer(res: http.ServerResponse, answer: Answer): void {
  if (res.destroyed || res.headersSent) return;
  const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  const headers: Record<string, string> = {
    'Content-Type': typeof answer.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    ...answer.headers,
    'Content-Length': String(Buffer.byteLength(text)),
  };
  res.writeHead(answer.code, headers);
  res.end(text);
}

/** GET /version as the recorded servers answer it (fixture 00, and 15 for 1.9's gitVersion). */
export function versionInfo(flavor: Flavor): Record<string, string> {
  return flavor === '1.9'
    ? { major: '1', minor: '9', gitVersion: 'v1.9.7-beta.0+65e0e7c723-localpatched', gitTreeState: 'dirty', goVersion: 'go1.9.3', compiler: 'gc', platform: 'linux/amd64' }
    : { major: '1', minor: '13', gitVersion: 'v1.13.0+localpatched', gitCommit: 'ddf47ac13c1a9483ea035a79cd7c10005ff21a6d', gitTreeState: 'dirty', goVersion: 'go1.19.8', compiler: 'gc', platform: 'linux/amd64' };
}

const INITIALIZER_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Discovery documents (fixture 20). */
export const discovery = {
  initializers: {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: 'admissionregistration.k8s.io/v1alpha1',
    resources: [{ name: 'initializerconfigurations', singularName: '', namespaced: false, kind: 'InitializerConfiguration', verbs: INITIALIZER_VERBS }],
  },
  meshConfigs(statusSubresource: boolean) {
    const verbs = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: 'meshinit.dev/v1alpha1',
      resources: [
        { name: 'meshconfigs', singularName: 'meshconfig', namespaced: false, kind: 'MeshConfig', verbs, shortNames: ['mc'] },
        ...(statusSubresource ? [{ name: 'meshconfigs/status', singularName: '', namespaced: false, kind: 'MeshConfig', verbs: ['get', 'patch', 'update'] }] : []),
      ],
    };
  },
};
