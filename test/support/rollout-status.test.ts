// deploymentRolloutStatus: each state in which `kubectl rollout status` keeps waiting, and the one
// in which it stops, so the end-to-end rollout tests cannot pass on a half-finished rollout.
import { expect } from 'chai';
import { deploymentRolloutStatus, type DeploymentLike } from './rollout-status.ts';

const rolledOut = (): DeploymentLike => ({
  metadata: { name: 'web', generation: 2 },
  spec: { replicas: 2 },
  status: { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2, conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }] },
});

describe('deploymentRolloutStatus (as kubectl rollout status)', () => {
  it('is done when the current generation is observed and every replica is updated and available', () => {
    expect(deploymentRolloutStatus(rolledOut())).to.deep.equal({ done: true, message: 'deployment "web" successfully rolled out' });
  });

  it('waits while the controller has not observed the current spec (a stale status would look finished)', () => {
    const d = rolledOut();
    d.metadata!.generation = 3;
    expect(deploymentRolloutStatus(d)).to.deep.equal({ done: false, message: 'Waiting for deployment spec update to be observed...' });
  });

  it('waits for new replicas to be updated', () => {
    const d = rolledOut();
    d.status!.updatedReplicas = 1;
    expect(deploymentRolloutStatus(d).message).to.equal('Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated...');
  });

  it('waits for old replicas to go away', () => {
    const d = rolledOut();
    d.status!.replicas = 3;
    expect(deploymentRolloutStatus(d)).to.deep.equal({ done: false, message: 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...' });
  });

  it('waits for updated replicas to be available', () => {
    const d = rolledOut();
    d.status!.availableReplicas = 0;
    expect(deploymentRolloutStatus(d)).to.deep.equal({ done: false, message: 'Waiting for deployment "web" rollout to finish: 0 of 2 updated replicas are available...' });
  });

  it('treats a Deployment with no status yet as not observed', () => {
    expect(deploymentRolloutStatus({ metadata: { name: 'web', generation: 1 }, spec: { replicas: 1 } }).done).to.equal(false);
  });

  it('fails once the progress deadline is exceeded, instead of waiting forever', () => {
    const d = rolledOut();
    d.status!.conditions = [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }];
    expect(() => deploymentRolloutStatus(d)).to.throw('deployment "web" exceeded its progress deadline');
  });
});
