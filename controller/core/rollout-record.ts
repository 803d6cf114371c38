// The record of a rollout start, kept on the workload itself (sidecar.meshinit.dev/rollout). The
// ledger of starts is in the memory of the replica that made them; a replica that becomes leader
// later (a failover, a restart of meshinit) would start with an empty one and could start another
// maxPerMinute in the same minute, or start again on top of a rollout still under way. Written in
// the same conditional PATCH as the start, the record cannot be missing for a start that happened,
// and the new leader's informer cache has it before it can take the lock (it waits a whole lease).
import { ROLLOUT_ANNOTATION } from './constants.ts';
import type { KubeObject } from './types.ts';
import { isRecord } from './untrusted.ts';

export interface RolloutRecord {
  /** The MeshConfig and the sidecar (its generation and hash) the rollout is for. */
  meshConfig: string;
  generation: number;
  hash: string;
  /** Wall-clock ms of the start, by the clock of the replica that made it. */
  startedAt: number;
}

export function formatRolloutRecord(record: RolloutRecord): string {
  return JSON.stringify({ meshConfig: record.meshConfig, generation: record.generation, hash: record.hash, startedAt: new Date(record.startedAt).toISOString() });
}

/** The record in an annotation value; undefined for anything else (edited by hand, truncated): never a crash. */
export function parseRolloutRecord(raw: unknown): RolloutRecord | undefined {
  if (typeof raw !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || typeof parsed.meshConfig !== 'string' || typeof parsed.hash !== 'string' || typeof parsed.startedAt !== 'string') return undefined;
  const startedAt = Date.parse(parsed.startedAt);
  if (!Number.isFinite(startedAt)) return undefined;
  const generation = typeof parsed.generation === 'number' && Number.isSafeInteger(parsed.generation) ? parsed.generation : 0;
  return { meshConfig: parsed.meshConfig, generation, hash: parsed.hash, startedAt };
}

export function rolloutRecordOf(object: KubeObject): RolloutRecord | undefined {
  const annotations = object.metadata?.annotations;
  return isRecord(annotations) && Object.hasOwn(annotations, ROLLOUT_ANNOTATION) ? parseRolloutRecord(annotations[ROLLOUT_ANNOTATION]) : undefined;
}

/** The workload with the record stamped on its metadata and nothing else changed. */
export function withRolloutRecord<T extends KubeObject>(object: T, record: RolloutRecord): T {
  const metadata = object.metadata ?? {};
  const annotations = isRecord(metadata.annotations) ? metadata.annotations : {};
  return { ...object, metadata: { ...metadata, annotations: { ...annotations, [ROLLOUT_ANNOTATION]: formatRolloutRecord(record) } } };
}

