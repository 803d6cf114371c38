// When a Deployment has finished rolling out, judged the way `kubectl rollout status` judges it
// (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go, DeploymentStatusViewer), so that the
// end-to-end tests wait for what an operator would wait for, not for a count they chose.

/** The parts of an apps/v1 Deployment that the judgement reads. */
export interface DeploymentLike {
  metadata?: { name?: string; generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    conditions?: Array<{ type: string; status?: string; reason?: string; message?: string }>;
  };
}

export interface RolloutStatus {
  /** True once `kubectl rollout status` would exit 0. */
  done: boolean;
  /** kubectl's own words for the state, e.g. "1 old replicas are pending termination...". */
  message: string;
}

/**
 * Throws when the rollout can no longer finish (Progressing=False, ProgressDeadlineExceeded), as
 * kubectl does; otherwise says whether it is done and, if not, what it waits for.
 */
export function deploymentRolloutStatus(deployment: DeploymentLike): RolloutStatus {
  const name = deployment.metadata?.name ?? '(unnamed)';
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  // A status written for an older spec says nothing about the current one.
  if (generation > (status.observedGeneration ?? 0)) {
    return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  }
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    throw new Error(`deployment "${name}" exceeded its progress deadline`);
  }
  const updated = status.updatedReplicas ?? 0;
  const replicas = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const wanted = deployment.spec?.replicas;
  if (wanted !== undefined && updated < wanted) {
    return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${wanted} new replicas have been updated...` };
  }
  if (replicas > updated) {
    return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${replicas - updated} old replicas are pending termination...` };
  }
  if (available < updated) {
    return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...` };
  }
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}
