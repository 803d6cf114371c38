// Names that appear on the cluster: annotation and label keys, the initializer name, the API
// group of MeshConfig. They are part of meshinit's interface with its users; changing one breaks
// every workload annotated with the old name.

/** The name meshinit answers to in metadata.initializers.pending (InitializerConfiguration). */
export const DEFAULT_INITIALIZER_NAME = 'sidecar.initializer.meshinit.dev';

/** Workload annotation: "false" opts out, "true" opts in under `policy: Disabled`. */
export const INJECT_ANNOTATION = 'sidecar.meshinit.dev/inject';

/**
 * Workload and pod-template annotation: JSON record of what was injected (see InjectionStatus).
 * It makes injection idempotent and lets an upgrade replace exactly what an earlier run added.
 */
export const STATUS_ANNOTATION = 'sidecar.meshinit.dev/status';

/** Namespace label: `disabled` keeps every workload in the namespace free of sidecars. */
export const NAMESPACE_INJECTION_LABEL = 'meshinit.dev/injection';
export const NAMESPACE_INJECTION_DISABLED = 'disabled';

/** Namespaces whose workloads are never injected, whatever a MeshConfig selects. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

export const MESHCONFIG_GROUP = 'meshinit.dev';
export const MESHCONFIG_VERSION = 'v1alpha1';
export const MESHCONFIG_KIND = 'MeshConfig';
export const MESHCONFIG_PLURAL = 'meshconfigs';
export const MESHCONFIG_API_VERSION = `${MESHCONFIG_GROUP}/${MESHCONFIG_VERSION}`;

/** The placeholders a sidecar's strings may use; anything else in {{ }} is rejected. */
export const PLACEHOLDERS = ['workload.name', 'workload.namespace', 'workload.kind', 'meshConfig.name'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/**
 * Pod-template annotations of a restart (webhook --target pods, updatePolicy: Rollout): when, and
 * for which MeshConfig and sidecar hash (`name/hash`), as `kubectl rollout restart` stamps
 * kubectl.kubernetes.io/restartedAt. Changing the template makes the workload's controller
 * replace its Pods, and the webhook injects the new ones with the current sidecar; the "for" half
 * tells a later run (another replica, a restarted meshinit) that this restart is already done.
 */
export const RESTARTED_AT_ANNOTATION = 'sidecar.meshinit.dev/restartedAt';
export const RESTARTED_FOR_ANNOTATION = 'sidecar.meshinit.dev/restartedFor';

/**
 * Workload annotation (metadata, not the template, so it starts nothing by itself): JSON record of
 * the last rollout meshinit started on the workload, written in the same conditional PATCH as the
 * start. A new leader reads it from its cache, so maxPerMinute and "one rollout at a time" hold
 * across a failover or a restart of meshinit (see core/rollout-record.ts).
 */
export const ROLLOUT_ANNOTATION = 'sidecar.meshinit.dev/rollout';
