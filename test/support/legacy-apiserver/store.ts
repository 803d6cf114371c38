// The double's etcd and watch cache in one: objects by resource, one global resourceVersion counter
// (as etcd's revision), and per resource a window of recent changes a watch can resume from. A
// watch from a resourceVersion older than the window answers 410 Gone, as the 1.13 watch cache
// does (its default size is 100 events per resource).
import type { Obj } from './semantics.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  revision: number;
  plural: string;
  type: ChangeType;
  /** The object after the change (for DELETED: its last state, at the deletion's revision). */
  object: Obj;
  /** The object before the change; undefined for ADDED. */
  previous: Obj | undefined;
  /** Encoded watch lines by event type, so a change fanned out to many watchers is serialized once. */
  encoded: Map<string, string>;
}

export type ChangeListener = (change: Change) => void;

export function objectKey(object: Obj): string {
  const namespace = object.metadata?.namespace;
  return namespace ? `${namespace}/${object.metadata?.name}` : `${object.metadata?.name}`;
}

export class ObjectStore {
  private readonly objects = new Map<string, Map<string, Obj>>();
  private readonly windows = new Map<string, Change[]>();
  private readonly listeners: ChangeListener[] = [];
  private current: number;

  constructor(private readonly windowSize: number, initialRevision = 1) {
    this.current = initialRevision;
  }

  get revision(): number {
    return this.current;
  }

  /** The revision the next write will get. */
  nextRevision(): number {
    return ++this.current;
  }

  get(plural: string, namespace: string | undefined, name: string): Obj | undefined {
    return this.objects.get(plural)?.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Objects of a resource in key order (etcd lists in key order), optionally one namespace's. */
  list(plural: string, namespace?: string): Obj[] {
    const items = [...(this.objects.get(plural)?.entries() ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, object]) => object);
    return namespace === undefined ? items : items.filter((object) => object.metadata?.namespace === namespace);
  }

  /** Stores (or deletes) an object at `revision`, remembers the change and tells listeners. */
  commit(plural: string, type: ChangeType, object: Obj, revision: number): Change {
    const items = this.objects.get(plural) ?? new Map<string, Obj>();
    this.objects.set(plural, items);
    const key = objectKey(object);
    const previous = items.get(key);
    if (type === 'DELETED') items.delete(key);
    else items.set(key, object);
    const change: Change = { revision, plural, type, object, previous, encoded: new Map() };
    const window = this.windows.get(plural) ?? [];
    this.windows.set(plural, window);
    window.push(change);
    if (window.length > this.windowSize) window.splice(0, window.length - this.windowSize);
    for (const listener of this.listeners) listener(change);
    return change;
  }

  /**
   * Changes after `resourceVersion`, or the oldest resumable version when it is too old. The rule
   * is the 1.13 watch cache's: too old when resourceVersion < oldest-1.
   */
  changesSince(plural: string, resourceVersion: number): { changes: Change[] } | { tooOld: number } {
    const window = this.windows.get(plural) ?? [];
    const oldest = window[0]?.revision;
    if (oldest !== undefined && resourceVersion < oldest - 1) return { tooOld: oldest - 1 };
    if (resourceVersion < this.compactedAt) return { tooOld: this.compactedAt };
    return { changes: window.filter((change) => change.revision > resourceVersion) };
  }

  /** Forgets the change history (etcd compaction): any resume from before now answers 410. */
  compact(): void {
    for (const window of this.windows.values()) window.splice(0, window.length);
    this.compactedAt = this.current;
  }

  /** Revision of the last compaction: resuming from before it is too old even with an empty window. */
  private compactedAt = 0;

  onChange(listener: ChangeListener): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }
}
