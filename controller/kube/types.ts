// The narrow interface between meshinit and the Kubernetes API server. Everything that talks HTTP
// to the server implements or uses these types; the rest of the code receives them as parameters,
// so tests can pass a real client pointed at nock, or a fake.

export type PatchContentType =
  | 'application/json-patch+json'
  | 'application/merge-patch+json'
  | 'application/strategic-merge-patch+json';

export type QueryParams = Record<string, string | number | boolean | undefined>;

export interface KubeListResponse<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T> {
  type: WatchEventType;
  /** The object; for ERROR events a Status (e.g. code 410 "Expired"). */
  object: T;
}

/** How a watch stream ended when it ended without a transport error. */
export interface WatchEnd {
  /** True when the server closed the stream (timeoutSeconds elapsed or server shutdown). */
  closedByServer: boolean;
}

export interface WatchHandle {
  /** Resolves when the stream ends cleanly; rejects with KubeApiError or a transport error. */
  done: Promise<WatchEnd>;
  /** Stops the stream; `done` then resolves. */
  stop(): void;
}

/** Raw, JSON-in/JSON-out access to API paths. Paths start with `/api/` or `/apis/`. */
export interface KubeApi {
  get<T>(path: string, query?: QueryParams): Promise<T>;
  list<T>(path: string, query?: QueryParams): Promise<KubeListResponse<T>>;
  /** Streams watch events (newline-delimited JSON); `watch=true` is added by the client. */
  watch<T>(path: string, query: QueryParams, onEvent: (event: WatchEvent<T>) => void): WatchHandle;
  patch<T>(path: string, body: unknown, contentType: PatchContentType, query?: QueryParams): Promise<T>;
  /** A PATCH whose successful answer is not needed (errors are reported as by `patch`). */
  patchIgnoringAnswer(path: string, body: unknown, contentType: PatchContentType): Promise<void>;
  post<T>(path: string, body: unknown, query?: QueryParams): Promise<T>;
  put<T>(path: string, body: unknown, query?: QueryParams): Promise<T>;
}
