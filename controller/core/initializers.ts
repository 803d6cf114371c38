// The Initializer protocol as the API server runs it: an object stays uninitialized while
// metadata.initializers.pending is non-empty, and each initializer acts only when its own name is
// first. The server does not enforce whose turn it is (any client with the verbs may remove any
// entry), so honouring the order is entirely the initializer's job.
import type { Initializers, ObjectMeta } from './types.ts';

export function pendingInitializerNames(metadata: ObjectMeta | undefined): string[] {
  // The server validates this list; still, a malformed one must read as "not ours", not throw.
  const pending: unknown = metadata?.initializers?.pending;
  if (!Array.isArray(pending)) return [];
  return pending.map((entry: unknown) => (typeof entry === 'object' && entry !== null && typeof (entry as { name?: unknown }).name === 'string' ? (entry as { name: string }).name : ''));
}

export function isUninitialized(metadata: ObjectMeta | undefined): boolean {
  return pendingInitializerNames(metadata).length > 0;
}

/** True only when `name` is first in pending: the one moment this initializer may act. */
export function isOwnTurn(metadata: ObjectMeta | undefined, name: string): boolean {
  return pendingInitializerNames(metadata)[0] === name;
}

/**
 * The initializers block after removing our own entry, keeping every other entry and its order;
 * `undefined` when nothing remains (the server drops the block when pending becomes empty).
 * Throws when it is not our turn: removing ourselves out of order would let a later initializer
 * act before an earlier one has finished.
 */
export function removeOwnInitializer(initializers: Initializers | undefined, name: string): Initializers | undefined {
  const pending = initializers?.pending ?? [];
  if (pending[0]?.name !== name) {
    throw new Error(`initializer ${name} is not first in metadata.initializers.pending (${pending.map((p) => p.name).join(', ') || 'empty'})`);
  }
  const rest = pending.slice(1).map((entry) => ({ ...entry }));
  if (rest.length === 0 && initializers?.result === undefined) return undefined;
  return { ...initializers, pending: rest };
}
