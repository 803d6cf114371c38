// The webhook-mode install (manifests/webhook): what the API server and an auditor will see.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../support/transcripts.ts';

type Json = Record<string, unknown>;
interface Doc extends Json { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }

const DIR = path.join(repoRoot, 'manifests/webhook');

function render(): Doc[] {
  const kustomization = parseAllDocuments(readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
  expect(Object.keys(kustomization).sort()).to.deep.equal(['apiVersion', 'kind', 'resources']);
  return kustomization.resources.flatMap((file) => {
    expect(existsSync(path.join(DIR, file)), file).to.equal(true);
    return parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8')).map((d) => d.toJS() as Doc).filter(Boolean);
  });
}

function find(docs: Doc[], kind: string): Doc {
  const doc = docs.find((d) => d.kind === kind);
  expect(doc, kind).to.not.equal(undefined);
  return doc!;
}

describe('manifests/webhook', function () {
  const docs = render();

  it('holds exactly the webhook install', function () {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).to.deep.equal([
      'ClusterRole/meshinit-webhook', 'ClusterRoleBinding/meshinit-webhook', 'Deployment/meshinit', 'MutatingWebhookConfiguration/meshinit',
      'Namespace/meshinit-system', 'PodDisruptionBudget/meshinit', 'Service/meshinit', 'ServiceAccount/meshinit',
    ]);
  });

  it('grants the rollout its leader-election lock exactly as the Initializer install does, outside the default install', function () {
    const initializer = parseAllDocuments(readFileSync(path.join(repoRoot, 'manifests/initializer/leader-election-rbac.yaml'), 'utf8')).map((d) => d.toJS() as Doc);
    const rollout = parseAllDocuments(readFileSync(path.join(DIR, 'rollout-rbac.yaml'), 'utf8')).map((d) => d.toJS() as Doc);
    expect(rollout.filter((d) => d.kind === 'Role' || d.kind === 'RoleBinding')).to.deep.equal(initializer);
    expect(docs.filter((d) => d.kind === 'Role' || d.kind === 'RoleBinding')).to.deep.equal([]);
  });

  it('keeps the rollout grants (patch workloads, list Pods) out of the default install, in rollout-rbac.yaml', function () {
    const rollout = parseAllDocuments(readFileSync(path.join(DIR, 'rollout-rbac.yaml'), 'utf8')).map((d) => d.toJS() as Doc & { rules?: Array<{ resources: string[]; verbs: string[] }> });
    expect(rollout.map((d) => `${d.kind}/${d.metadata.name}`)).to.deep.equal([
      'ClusterRole/meshinit-webhook-rollout', 'ClusterRoleBinding/meshinit-webhook-rollout', 'Role/meshinit-leader-election', 'RoleBinding/meshinit-leader-election',
    ]);
    expect(rollout[0]!.rules!.map((r) => `${r.resources.join(',')}:${r.verbs.join(',')}`)).to.deep.equal(['deployments,statefulsets,daemonsets:patch', 'pods:list']);
    const defaultRules = docs.filter((d) => d.kind === 'ClusterRole').flatMap((d) => (d as Doc & { rules: Array<{ resources: string[]; verbs: string[] }> }).rules);
    expect(defaultRules.filter((r) => r.resources.includes('pods')), 'no Pod access by default').to.deep.equal([]);
    expect(defaultRules.filter((r) => r.resources.includes('deployments')).flatMap((r) => r.verbs)).to.not.include('patch');
  });

  it('registers a v1 webhook that cannot block the cluster and skips system and disabled namespaces', function () {
    const mwc = find(docs, 'MutatingWebhookConfiguration') as Doc & { webhooks: Json[] };
    expect(mwc.apiVersion).to.equal('admissionregistration.k8s.io/v1');
    expect(mwc.webhooks).to.have.length(1);
    const webhook = mwc.webhooks[0] as Json & { namespaceSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> }; clientConfig: { service: Json } };
    expect(webhook).to.include({ sideEffects: 'None', failurePolicy: 'Ignore', reinvocationPolicy: 'IfNeeded' });
    expect(webhook.admissionReviewVersions).to.deep.equal(['v1']);
    expect(webhook.timeoutSeconds).to.be.within(1, 10);
    expect(webhook.clientConfig.service).to.include({ name: 'meshinit', namespace: 'meshinit-system', path: '/inject', port: 443 });
    const expressions = webhook.namespaceSelector.matchExpressions;
    expect(expressions).to.deep.include({ key: 'meshinit.dev/injection', operator: 'NotIn', values: ['disabled'] });
    const names = expressions.find((e) => e.key === 'kubernetes.io/metadata.name');
    expect(names?.operator).to.equal('NotIn');
    expect(names?.values).to.include.members(['kube-system', 'kube-public', 'kube-node-lease', 'meshinit-system']);
  });

  it('runs two hardened replicas serving TLS from the Secret, reachable through the Service', function () {
    const deployment = find(docs, 'Deployment') as Doc & { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { spec: { securityContext: Json; containers: Json[]; volumes: Json[] } } } };
    expect(deployment.spec.replicas).to.equal(2);
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).to.include({ runAsNonRoot: true });
    const container = pod.containers[0] as { args: string[]; securityContext: Json & { capabilities: { drop: string[] } }; resources: Json; livenessProbe: Json; readinessProbe: Json; ports: Array<{ name: string }> };
    expect(container.args.slice(0, 3)).to.deep.equal(['run', '--mode', 'webhook']);
    expect(container.args).to.include('--tls-cert-file').and.include('--tls-key-file');
    expect(container.args).to.not.include('--self-signed');
    expect(container.securityContext).to.include({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true });
    expect(container.securityContext.capabilities.drop).to.deep.equal(['ALL']);
    expect(container.resources).to.have.keys('requests', 'limits');
    expect(container.livenessProbe).to.not.equal(undefined);
    expect(container.readinessProbe).to.not.equal(undefined);
    expect(pod.volumes).to.deep.include({ name: 'tls', secret: { secretName: 'meshinit-webhook-tls' } });
    const service = find(docs, 'Service') as Doc & { spec: { selector: Record<string, string>; ports: Array<{ targetPort: string }> } };
    expect(deployment.spec.selector.matchLabels).to.deep.equal(service.spec.selector);
    expect(container.ports.map((p) => p.name)).to.include(service.spec.ports[0]!.targetPort);
    const pdb = find(docs, 'PodDisruptionBudget') as Doc & { spec: { selector: { matchLabels: Record<string, string> }; minAvailable: number } };
    expect(pdb.spec.selector.matchLabels).to.deep.equal(deployment.spec.selector.matchLabels);
    expect(pdb.spec.minAvailable).to.equal(1);
  });

  it('grants the webhook only reads of namespaces, workloads and MeshConfigs, MeshConfig status writes and Events', function () {
    const role = find(docs, 'ClusterRole') as Doc & { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
    const grants = role.rules.flatMap((rule) => rule.apiGroups.flatMap((group) => rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${group}/${resource}:${verb}`)))).sort();
    expect(grants).to.deep.equal([
      '/events:create', '/events:patch', '/namespaces:list', '/namespaces:watch',
      'apps/daemonsets:get', 'apps/daemonsets:list', 'apps/daemonsets:watch', 'apps/deployments:get', 'apps/deployments:list', 'apps/deployments:watch',
      'apps/statefulsets:get', 'apps/statefulsets:list', 'apps/statefulsets:watch',
      'batch/jobs:get', 'batch/jobs:list', 'batch/jobs:watch',
      'meshinit.dev/meshconfigs/status:patch', 'meshinit.dev/meshconfigs:list', 'meshinit.dev/meshconfigs:watch',
    ]);
    const binding = find(docs, 'ClusterRoleBinding') as Doc & { roleRef: Json; subjects: Json[] };
    expect(binding.roleRef).to.include({ kind: 'ClusterRole', name: 'meshinit-webhook' });
    expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'meshinit', namespace: 'meshinit-system' }]);
  });
});
