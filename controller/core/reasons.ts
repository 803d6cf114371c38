// Reason codes: a small fixed vocabulary next to every human reason. The human reason names the
// object, the MeshConfig and the fix; the code names only the rule, so it can be a metric label
// (bounded: one time series per code, not per workload) and something a script can switch on.
// A new rule gets a new code here; the metrics test checks that every rule the core and the
// adapters can produce has one.

export const REASON_CODES = [
  // Policy (core/policy.ts, core/selection.ts), in the order policy checks them.
  'system_namespace',
  'controller_namespace',
  'namespace_not_watched',
  'namespace_disabled',
  'opted_out',
  'host_network',
  'meshconfig_unavailable',
  'no_meshconfig',
  'not_selected',
  'kind_not_selected',
  'policy_disabled',
  'template_copied',
  'other_mesh',
  // Injected.
  'policy_enabled',
  'opted_in',
  // What an adapter adds after policy.
  'already_injected',
  'injection_error',
  'native_sidecar_unsupported',
  'rejected_by_server',
  'job_template_immutable',
  'not_job_pod',
  'no_controller',
  'malformed',
  'namespace_unreadable',
  'not_targeted',
  // Only for a reason from outside this list (never produced by meshinit itself).
  'other',
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

const KNOWN: ReadonlySet<string> = new Set(REASON_CODES);

/** A code as a label value: anything not in the vocabulary becomes `other`, so labels stay bounded. */
export function boundedReasonCode(code: string | undefined): ReasonCode {
  return code !== undefined && KNOWN.has(code) ? (code as ReasonCode) : 'other';
}
