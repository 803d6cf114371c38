// Another initializer, played in-test with its own bearer token and User-Agent: when (and only
// when) its name is first in an object's pending list it leaves a mark (an annotation, so a lost
// write would show) and removes its own entry, in one JSON Patch guarded by a `test` op. It learns
// of changes from the double directly, so it is never the slow party; faults target meshinit only.
import { keyedRandom, pendingNames, TestClient, type LegacyApiServer, type Obj } from '../../support/legacy-apiserver/index.ts';
import { KINDS, WORKLOAD_PLURALS } from './world.ts';

const GROUP_OF: Record<string, string> = Object.fromEntries(Object.values(KINDS).map((k) => [k.plural, k.group]));

export class OtherInitializer {
  /** Entries removed. */
  acted = 0;
  /** Answers other than 200 (retried). */
  retries = 0;
  private readonly client: TestClient;
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly server: LegacyApiServer, readonly name: string, readonly identity: { token: string; userAgent: string }, private readonly seed: number) {
    this.client = new TestClient(server.url, identity);
  }

  /** The annotation it leaves on everything it initializes. */
  get mark(): string {
    return `${this.name}/checked`;
  }

  start(): void {
    this.unsubscribe = this.server.onChange((change) => {
      if (change.type !== 'DELETED' && WORKLOAD_PLURALS.includes(change.plural)) this.consider(change.plural, change.object);
    });
    for (const plural of WORKLOAD_PLURALS) for (const object of this.server.list(plural)) this.consider(plural, object);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await Promise.all([...this.running]);
    this.client.close();
  }

  private consider(plural: string, object: Obj): void {
    if (this.stopped || pendingNames(object)[0] !== this.name) return;
    const key = `${plural}/${object.metadata?.namespace}/${object.metadata?.name}`;
    if (this.busy.has(key)) return;
    this.busy.add(key);
    const work = this.act(plural, object.metadata!.namespace!, object.metadata!.name!, key).finally(() => {
      this.busy.delete(key);
      this.running.delete(work);
    });
    this.running.add(work);
  }

  private async act(plural: string, namespace: string, name: string, key: string): Promise<void> {
    for (let attempt = 1; attempt <= 50 && !this.stopped; attempt++) {
      // A short seeded think time, so our turn and others' interleave differently per workload.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(keyedRandom(this.seed, `${this.name} ${key} ${attempt}`) * 15)));
      const latest = this.server.get(plural, namespace, name);
      if (!latest || pendingNames(latest)[0] !== this.name) return;
      const annotations = latest.metadata?.annotations;
      const markPath = `/metadata/annotations/${this.mark.replaceAll('~', '~0').replaceAll('/', '~1')}`;
      const reply = await this.client.patch(`/apis/${GROUP_OF[plural]}/v1/namespaces/${namespace}/${plural}/${name}`, [
        { op: 'test', path: '/metadata/initializers/pending/0/name', value: this.name },
        annotations ? { op: 'add', path: markPath, value: 'true' } : { op: 'add', path: '/metadata/annotations', value: { [this.mark]: 'true' } },
        { op: 'remove', path: '/metadata/initializers/pending/0' },
      ], 'application/json-patch+json');
      if (reply.status === 200) {
        this.acted++;
        return;
      }
      this.retries++;
    }
  }
}
