// `meshinit inject` on every pod-template kind, end to end through YAML: an upgrade (a changed
// MeshConfig over an injected file) gives exactly what a fresh injection gives, and another
// mesh's Pods and a controller's copies are left byte for byte.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { GOLDEN_DIR, GOLDEN_MESHCONFIG, REPO_ROOT, runInject, stderrLines } from './helpers.ts';

const KINDS = `${GOLDEN_DIR}/pod-template-kinds.yaml`;

async function repoFile(file: string): Promise<string> {
  return readFile(path.join(REPO_ROOT, file), 'utf8');
}

describe('meshinit inject: every pod-template kind', () => {
  it('an upgrade of the injected kinds (a new proxy image) equals a fresh injection with the new MeshConfig', async () => {
    const golden = await repoFile(GOLDEN_MESHCONFIG);
    const upgraded = golden.replace('registry.example/mesh-proxy:1.0.0', 'registry.example/mesh-proxy:2.0.0');
    expect(upgraded).to.not.equal(golden);
    const files = { 'upgraded-meshconfig.yaml': upgraded };
    const fresh = await runInject(['-f', KINDS, '--meshconfig', 'upgraded-meshconfig.yaml'], { files });
    const overInjected = await runInject(['-f', `${KINDS}.injected`, '--meshconfig', 'upgraded-meshconfig.yaml'], { files });
    expect(fresh.code, fresh.stderr).to.equal(0);
    expect(overInjected.code, overInjected.stderr).to.equal(0);
    expect(overInjected.stdout).to.include('registry.example/mesh-proxy:2.0.0').and.not.include('registry.example/mesh-proxy:1.0.0');
    expect(overInjected.stdout).to.equal(fresh.stdout);
  });

  it('a file of one kind and Services is injected in the kind only; a MeshConfig without the kind skips it with the reason', async () => {
    const manifest = [
      'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}',
      'apiVersion: v1\nkind: ReplicationController\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: "nginx:1.27"}]',
    ].join('\n---\n');
    const fourKinds = (await repoFile(GOLDEN_MESHCONFIG)).replace('  policy: Enabled\n', '  policy: Enabled\n  kinds: [Deployment, StatefulSet, DaemonSet, Job]\n');
    const skipped = await runInject(['-f', 'rc.yaml', '--meshconfig', 'four.yaml'], { files: { 'rc.yaml': `${manifest}\n`, 'four.yaml': fourKinds } });
    expect(skipped.code).to.equal(0);
    expect(stderrLines(skipped)).to.deep.equal(['meshinit: skipped ReplicationController shop/web: kind ReplicationController is not in the kinds of MeshConfig golden']);
    expect(skipped.stdout).to.equal(`${manifest}\n`);
  });

  it('a ReplicaSet made by a Deployment (as kubectl get -o yaml shows it) is printed unchanged, with the reason', async () => {
    const replicaSet = [
      'apiVersion: apps/v1',
      'kind: ReplicaSet',
      'metadata:',
      '  name: web-7d9f8c6b5',
      '  namespace: shop',
      '  ownerReferences:',
      '  - {apiVersion: apps/v1, kind: Deployment, name: web, uid: 1b4e28ba-2fa1-11d2-883f-0016d3cca427, controller: true, blockOwnerDeletion: true}',
      'spec:',
      '  selector: {matchLabels: {app: web}}',
      '  template:',
      '    metadata: {labels: {app: web}}',
      '    spec:',
      '      containers: [{name: app, image: "nginx:1.27"}]',
      '',
    ].join('\n');
    const result = await runInject(['-f', 'rs.yaml', '--meshconfig', GOLDEN_MESHCONFIG], { files: { 'rs.yaml': replicaSet } });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal(replicaSet);
    expect(stderrLines(result)).to.deep.equal([
      'meshinit: skipped ReplicaSet shop/web-7d9f8c6b5: its pod template is copied from its controller, Deployment web: meshinit injects the Deployment\'s template ("meshinit inject", or the webhook with --target workloads), not the ReplicaSet made from it',
    ]);
  });

  it('a malformed CronJob (no jobTemplate) is printed unchanged with a warning naming the path', async () => {
    const cronJob = 'apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: broken, namespace: shop}\nspec: {schedule: "* * * * *"}\n';
    const result = await runInject(['-f', 'cj.yaml', '--meshconfig', GOLDEN_MESHCONFIG], { files: { 'cj.yaml': cronJob } });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal(cronJob);
    expect(stderrLines(result)).to.deep.equal(['meshinit: warning: cj.yaml: document 1: CronJob broken has no spec.jobTemplate.spec.template.spec.containers list; printed unchanged']);
  });
});
