// The comparison behind the chart-vs-kustomize tests (test/e2e/helm-chart.test.ts): it must catch
// a drifted field, a missing object and a wrong Helm label, and say where.
import { expect } from 'chai';
import { compareObjectSets, fieldDiffs, helmLabels, indexObjects, missingFields, objectKey, parseObjects, withoutLabels, type Json } from './object-sets.ts';

const deployment = (args: string[]): Json => ({
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'meshinit', namespace: 'meshinit-system', labels: { 'app.kubernetes.io/name': 'meshinit' } },
  spec: { template: { spec: { containers: [{ name: 'meshinit', args }] } } },
});
const role: Json = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'meshinit' }, rules: [] };

describe('chart comparison (object sets)', () => {
  it('keys objects by apiVersion, kind, namespace and name', () => {
    expect(objectKey(deployment([]))).to.equal('apps/v1 Deployment meshinit-system/meshinit');
    expect(objectKey(role)).to.equal('rbac.authorization.k8s.io/v1 ClusterRole meshinit');
  });

  it('parses a multi-document stream, dropping empty documents, and refuses a key seen twice', () => {
    const objects = parseObjects('---\n# only a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n', 'test');
    expect(objects).to.have.length(1);
    expect(() => indexObjects([role, structuredClone(role)], 'chart')).to.throw('ClusterRole meshinit appears twice');
  });

  it('equal sets give no lines; a changed argument is reported with its path and both values', () => {
    const left = indexObjects([deployment(['run', '--job-pods']), role], 'kustomize');
    expect(compareObjectSets(left, indexObjects([role, deployment(['run', '--job-pods'])], 'helm'), { left: 'kustomize', right: 'helm' })).to.deep.equal([]);
    const lines = compareObjectSets(left, indexObjects([deployment(['run']), role], 'helm'), { left: 'kustomize', right: 'helm' });
    expect(lines).to.deep.equal(['apps/v1 Deployment meshinit-system/meshinit: spec.template.spec.containers[0].args: ["run","--job-pods"] vs ["run"] (kustomize vs helm)']);
  });

  it('reports objects present on one side only, and fields present on one side only', () => {
    const withExtra = { ...role, aggregationRule: { clusterRoleSelectors: [] } };
    const lines = compareObjectSets(indexObjects([deployment([])], 'k'), indexObjects([withExtra], 'h'), { left: 'kustomize', right: 'helm' });
    expect(lines).to.deep.equal([
      'apps/v1 Deployment meshinit-system/meshinit: only in kustomize',
      'rbac.authorization.k8s.io/v1 ClusterRole meshinit: only in helm',
    ]);
    expect(fieldDiffs(role, withExtra)).to.deep.equal(['aggregationRule: (absent) vs {"clusterRoleSelectors":[]}']);
  });

  it('drops exactly the Helm labels, and reports one that is missing or has another value', () => {
    const expected = helmLabels('meshinit', { name: 'meshinit', version: '0.1.0' });
    const labelled = deployment([]);
    (labelled.metadata as Json).labels = { 'app.kubernetes.io/name': 'meshinit', ...expected };
    const { object, problems } = withoutLabels(labelled, expected);
    expect(problems).to.deep.equal([]);
    expect((object.metadata as Json).labels).to.deep.equal({ 'app.kubernetes.io/name': 'meshinit' });
    expect((labelled.metadata as Json).labels, 'the input is not changed').to.include(expected);

    (labelled.metadata as Json).labels = { ...expected, 'app.kubernetes.io/instance': 'other' };
    const wrong = withoutLabels(labelled, expected);
    expect(wrong.problems).to.deep.equal(['apps/v1 Deployment meshinit-system/meshinit: label app.kubernetes.io/instance is "other", expected "meshinit"']);
    expect((wrong.object.metadata as Json).labels, 'no labels left: the key goes too').to.equal(undefined);
  });

  it('missingFields ignores what the server adds and reports what it lacks or changed', () => {
    const rendered = deployment(['run']);
    const live = structuredClone(rendered);
    (live.metadata as Json).uid = 'abc';
    (live as Json).status = { replicas: 0 };
    expect(missingFields(rendered, live)).to.deep.equal([]);
    ((((live.spec as Json).template as Json).spec as Json).containers as Json[])[0]!.args = ['run', '--x'];
    expect(missingFields(rendered, live)).to.deep.equal(['spec.template.spec.containers[0].args: rendered ["run"], server has ["run","--x"]']);
  });
});
