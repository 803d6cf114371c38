// spec.updatePolicy and spec.rollout of a MeshConfig: parsed and defaulted here, not by the CRD,
// because the v1beta1 CRD of the Initializer-era servers cannot carry defaults (and 1.9 keeps any
// value). OnCreate is the default: a MeshConfig written before these fields existed behaves as it
// always did.
import { UPDATE_POLICIES, type RolloutSpec, type UpdatePolicy } from './types.ts';
import { isRecord, quote } from './untrusted.ts';

export const DEFAULT_ROLLOUT: Readonly<RolloutSpec> = Object.freeze({ maxPerMinute: 5, paused: false, timeoutSeconds: 600 });

/** Reports one problem at a path of the MeshConfig (meshconfig.ts collects them all). */
export type ProblemSink = (path: string, message: string) => void;

function positiveInteger(value: unknown, fallback: number, path: string, problem: ProblemSink): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) return value;
  problem(path, `must be an integer of at least 1, got ${quote(value)}`);
  return fallback;
}

export function parseUpdatePolicy(value: unknown, problem: ProblemSink): UpdatePolicy {
  if (value === undefined || value === null) return 'OnCreate';
  if (typeof value === 'string' && (UPDATE_POLICIES as readonly string[]).includes(value)) return value as UpdatePolicy;
  problem('spec.updatePolicy', `must be one of ${UPDATE_POLICIES.join(', ')}, got ${quote(value)}`);
  return 'OnCreate';
}

export function parseRolloutSpec(value: unknown, problem: ProblemSink): RolloutSpec {
  if (value === undefined || value === null) return { ...DEFAULT_ROLLOUT };
  if (!isRecord(value)) {
    problem('spec.rollout', 'must be an object (maxPerMinute, paused, timeoutSeconds)');
    return { ...DEFAULT_ROLLOUT };
  }
  let paused = DEFAULT_ROLLOUT.paused;
  if (value.paused !== undefined && value.paused !== null) {
    if (typeof value.paused === 'boolean') paused = value.paused;
    else problem('spec.rollout.paused', `must be true or false, got ${quote(value.paused)}`);
  }
  return {
    maxPerMinute: positiveInteger(value.maxPerMinute, DEFAULT_ROLLOUT.maxPerMinute, 'spec.rollout.maxPerMinute', problem),
    paused,
    timeoutSeconds: positiveInteger(value.timeoutSeconds, DEFAULT_ROLLOUT.timeoutSeconds, 'spec.rollout.timeoutSeconds', problem),
  };
}
