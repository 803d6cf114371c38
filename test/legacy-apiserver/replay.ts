// Replays the session recorded against the real servers (fixtures 02-13, in the recorded order and
// with the recorded request bodies from requests/) against the double, keeping every answer by the
// number of the fixture that holds the real one. The tests then compare the two.
import { LegacyApiServer, TestClient, type Flavor, type Reply } from '../support/legacy-apiserver/index.ts';
import { loadJsonFixture, loadTranscript, type Transcript } from '../support/transcripts.ts';

export const RECORDED_INITIALIZER = 'sidecar.initializer.example.com';
export const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

/** The directory of a flavor's recordings. */
export function fixtureDir(flavor: Flavor): string {
  return flavor === '1.13' ? 'v1.13.0' : 'v1.9';
}

export function recorded(flavor: Flavor, file: string): Transcript {
  return loadTranscript(`${fixtureDir(flavor)}/${file}`);
}

export function request(name: string): unknown {
  return loadJsonFixture(`requests/${name}`);
}

/** A copy without what differs between any two runs: uid, creationTimestamp, resourceVersion. */
export function comparable(value: unknown): unknown {
  const copy = structuredClone(value) as { metadata?: Record<string, unknown>; items?: unknown[] };
  if (copy && typeof copy === 'object') {
    if (copy.metadata) for (const key of ['uid', 'creationTimestamp', 'resourceVersion']) delete copy.metadata[key];
    if (Array.isArray(copy.items)) copy.items = copy.items.map(comparable);
  }
  return copy;
}

export interface Session {
  server: LegacyApiServer;
  client: TestClient;
  replies: Map<string, Reply>;
  watchWithFlag: Array<{ type: string; object: Record<string, unknown> }>;
  watchWithoutFlag: Array<{ type: string; object: Record<string, unknown> }>;
  close(): Promise<void>;
}

async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!predicate()) throw new Error('replay: condition not reached');
}

export async function replaySession(flavor: Flavor): Promise<Session> {
  // Blocked creates answer after 150 ms instead of 30 s (or 5 s); their message names the timeout asked for.
  const server = new LegacyApiServer({ flavor, blockingWaitCapMs: 150 });
  const client = new TestClient(await server.start(), { token: 'replay', userAgent: 'replay/1.0' });
  const replies = new Map<string, Reply>();
  const keep = async (id: string, reply: Promise<Reply>): Promise<Reply> => {
    const answer = await reply;
    replies.set(id, answer);
    return answer;
  };
  const patch = (name: string, body: unknown, type: keyof typeof PATCH_TYPES) => client.patch(`${DEPLOYMENTS}/${name}`, body, PATCH_TYPES[type]);
  await server.seed('namespaces', { metadata: { name: 'default' } });

  // 01/02: the first InitializerConfiguration's rules were ANDed and matched nothing.
  await keep('02', client.post(DEPLOYMENTS, request('deploy-a.json')));
  // 03: one entry per rule; from here on new workloads wait for the recorded initializer.
  server.setInitializers([{ name: RECORDED_INITIALIZER, resources: ['deployments', 'statefulsets', 'daemonsets', 'jobs'] }]);
  await keep('04', client.post(DEPLOYMENTS, request('deploy-b.json')));
  await keep('05a', client.get(`${DEPLOYMENTS}/demo-b`));
  await keep('05b', client.get(`${DEPLOYMENTS}/demo-b`, { includeUninitialized: 'true' }));
  await keep('05c', client.get(DEPLOYMENTS));
  await keep('05d', client.get(DEPLOYMENTS, { includeUninitialized: 'true' }));
  await keep('06a', client.post(DEPLOYMENTS, request('deploy-c.json'), { includeUninitialized: 'true' }));
  await keep('06b', client.post(DEPLOYMENTS, request('deploy-d.json'), { includeUninitialized: '1' }));
  await keep('06c', client.post(DEPLOYMENTS, request('deploy-e.json'), { timeout: '5s' }));
  // 07: a creator blocked in POST gets the initialized object once the initializer's patch lands.
  const blockedF = keep('07a', client.post(DEPLOYMENTS, request('deploy-f.json')));
  await until(() => server.get('deployments', 'default', 'demo-f') !== undefined);
  await keep('07b', patch('demo-f', request('smp-f.json'), 'strategic'));
  await blockedF;
  await keep('08', patch('demo-d', request('mp-d.json'), 'merge'));
  await keep('09', patch('demo-c', request('jp-c.json'), 'json'));
  await keep('10', patch('demo-b', request('smp-b.json'), 'strategic'));
  await keep('11', client.get(DEPLOYMENTS));
  await keep('12a', patch('demo-e', request('mp-result-success.json'), 'merge'));
  // 12b-d: a Failure result deletes the object; the blocked creator gets the result as its answer.
  const blockedG = keep('12b', client.post(DEPLOYMENTS, request('deploy-g.json')));
  await until(() => server.get('deployments', 'default', 'demo-g') !== undefined);
  await keep('12c', patch('demo-g', request('mp-result-failure.json'), 'merge'));
  await blockedG;
  await keep('12d', client.get(`${DEPLOYMENTS}/demo-g`));
  await keep('12e', patch('demo-e', request('mp-result-failure.json'), 'merge'));
  await keep('12f', client.get(`${DEPLOYMENTS}/demo-e`));
  // 13: two watches from now, with and without the flag, while demo-h is created and initialized (13c).
  const from = String(server.store.revision);
  const withFlag = client.watch(DEPLOYMENTS, { includeUninitialized: 'true', resourceVersion: from, timeoutSeconds: '1' });
  const withoutFlag = client.watch(DEPLOYMENTS, { resourceVersion: from, timeoutSeconds: '1' });
  await until(() => server.openWatches().length === 2);
  await keep('13-post', client.post(DEPLOYMENTS, request('deploy-h.json'), { includeUninitialized: '1' }));
  await keep('13-patch', patch('demo-h', [
    { op: 'remove', path: '/metadata/initializers' },
    { op: 'add', path: '/spec/template/spec/containers/-', value: { name: 'sidecar', image: 'busybox:1.28' } },
  ], 'json'));
  const [watchWithFlag, watchWithoutFlag] = await Promise.all([withFlag, withoutFlag]);
  return {
    server,
    client,
    replies,
    watchWithFlag: watchWithFlag.events,
    watchWithoutFlag: watchWithoutFlag.events,
    async close() {
      client.close();
      await server.stop();
    },
  };
}
