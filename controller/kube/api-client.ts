// HTTP access to the API server. KubeConfig supplies only the server URL and credentials; requests
// go through node:http(s) ourselves because client-node's generated clients cannot send
// `includeUninitialized` (an alpha parameter removed in 1.14) and its watch drops extra query params.
// Three parts, each on its own: credentials.ts (what to send), transport.ts (one request),
// watch-stream.ts (one watch); this module puts them together as the KubeApi the rest uses.
import type { KubeConfig } from '@kubernetes/client-node';
import { createTransport, type TransportOptions } from './transport.ts';
import type { KubeApi, KubeListResponse, PatchContentType, QueryParams } from './types.ts';
import { openWatch } from './watch-stream.ts';

export type KubeApiOptions = TransportOptions;

export function createKubeApi(kubeconfig: KubeConfig, options: KubeApiOptions = {}): KubeApi {
  const transport = createTransport(kubeconfig, options);
  const request = transport.request;
  return {
    get: <T>(path: string, query?: QueryParams) => request<T>('GET', path, query),
    list: <T>(path: string, query?: QueryParams) => request<KubeListResponse<T>>('GET', path, query),
    watch: (path, query, onEvent) => openWatch(transport, path, query, onEvent),
    patch: <T>(path: string, body: unknown, contentType: PatchContentType, query?: QueryParams) =>
      request<T>('PATCH', path, query, body, contentType),
    patchIgnoringAnswer: (path, body, contentType) => transport.requestIgnoringAnswer('PATCH', path, undefined, body, contentType),
    post: <T>(path: string, body: unknown, query?: QueryParams) => request<T>('POST', path, query, body),
    put: <T>(path: string, body: unknown, query?: QueryParams) => request<T>('PUT', path, query, body),
  };
}
