// Golden files of `meshinit inject`: test/cli/golden/<case>.yaml is injected with the fixed
// MeshConfig test/cli/golden/meshconfig.yaml and compared byte for byte with
// <case>.yaml.injected (<case>.json.injected for -o json). A stale golden file fails.
//
// After an intended change of the output, regenerate the golden files and review the diff:
//   UPDATE_GOLDEN=1 npx mocha test/cli
// Without UPDATE_GOLDEN the tests never write a file.
import { expect } from 'chai';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { GOLDEN_DIR, GOLDEN_MESHCONFIG, REPO_ROOT, runInject, stderrLines } from './helpers.ts';

const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface GoldenCase {
  name: string;
  output: 'yaml' | 'json';
  /** Every stderr line, as regular expressions; none for a clean run. */
  stderr: RegExp[];
}

const CASES: GoldenCase[] = [
  { name: 'deployment', output: 'yaml', stderr: [] },
  { name: 'passthrough', output: 'yaml', stderr: [] },
  { name: 'workload-kinds', output: 'yaml', stderr: [] },
  { name: 'workload-kinds', output: 'json', stderr: [] },
  { name: 'opted-out', output: 'yaml', stderr: [/^meshinit: skipped Deployment shop\/report: .*sidecar\.meshinit\.dev\/inject: "false"$/] },
  { name: 'hostnetwork', output: 'yaml', stderr: [/^meshinit: skipped DaemonSet monitoring\/node-agent: .*hostNetwork/] },
  { name: 'kube-system', output: 'yaml', stderr: [/^meshinit: skipped Deployment kube-system\/coredns: namespace kube-system is a system namespace/] },
  { name: 'upgrade', output: 'yaml', stderr: [] },
  { name: 'list', output: 'yaml', stderr: [] },
  {
    name: 'pod-template-kinds',
    output: 'yaml',
    // One note per document of a kind some mode on a cluster would not inject, saying which.
    stderr: [
      /^meshinit: note: test\/cli\/golden\/pod-template-kinds\.yaml(\.injected)?: document 1: CronJob shop\/nightly-report injected; on a cluster, only the webhook with --target workloads injects CronJobs; the Initializer mode does not hold them/,
      /^meshinit: note: .*: document 2: CronJob shop\/cleanup injected; /,
      /^meshinit: note: .*: document 3: ReplicaSet shop\/frontend injected; on a cluster, only the webhook with --target workloads injects ReplicaSets;/,
      /^meshinit: note: .*: document 4: ReplicationController shop\/nginx injected; .*--target pods does not inject their Pods$/,
      /^meshinit: note: .*: document 5: DeploymentConfig shop\/ruby-hello injected; .*the Initializer mode does not hold them/,
      /^meshinit: note: .*: document 6: Pod shop\/debug injected; on a cluster, only the webhook with --target workloads injects bare Pods;/,
    ],
  },
  {
    name: 'other-mesh',
    output: 'yaml',
    stderr: [
      /^meshinit: warning: skipped Deployment bookinfo\/ratings: the pod template belongs to another mesh, Istio \(init container istio-init, container istio-proxy, annotation sidecar\.istio\.io\/status\): two meshes in one pod would both redirect its traffic to their own proxy, so meshinit leaves it to Istio$/,
      /^meshinit: warning: skipped Deployment emojivoto\/emoji: the pod template belongs to another mesh, Linkerd \(annotation linkerd\.io\/inject: "enabled"\)/,
      /^meshinit: warning: skipped Deployment shop\/payments: the pod template has container vault-agent, listed in spec\.conflictingContainers of MeshConfig golden: meshinit does not add its sidecar beside it$/,
    ],
  },
  { name: 'crlf', output: 'yaml', stderr: [] },
  { name: 'aliases', output: 'yaml', stderr: [] },
];

const inputOf = (c: GoldenCase) => `${GOLDEN_DIR}/${c.name}.yaml`;
const goldenOf = (c: GoldenCase) => `${GOLDEN_DIR}/${c.name}.${c.output}.injected`;

async function readRepoFile(file: string): Promise<string> {
  return readFile(path.join(REPO_ROOT, file), 'utf8');
}

async function inject(file: string, output: 'yaml' | 'json') {
  return runInject(['-f', file, '--meshconfig', GOLDEN_MESHCONFIG, '-o', output]);
}

function expectStderr(lines: string[], expected: RegExp[]): void {
  expect(lines, lines.join('\n')).to.have.length(expected.length);
  expected.forEach((pattern, index) => expect(lines[index]).to.match(pattern));
}

describe('meshinit inject golden files', () => {
  for (const c of CASES) {
    it(`${c.name}.yaml -o ${c.output} gives ${path.basename(goldenOf(c))}`, async () => {
      const result = await inject(inputOf(c), c.output);
      expect(result.code, result.stderr).to.equal(0);
      expectStderr(stderrLines(result), c.stderr);
      if (UPDATE) await writeFile(path.join(REPO_ROOT, goldenOf(c)), result.stdout);
      expect(result.stdout).to.equal(await readRepoFile(goldenOf(c)));
    });
  }

  for (const c of CASES) {
    // Also the already-injected case: the controller must not touch a workload twice.
    it(`re-injecting ${path.basename(goldenOf(c))} changes nothing`, async () => {
      const golden = await readRepoFile(goldenOf(c));
      const result = await inject(goldenOf(c), c.output);
      expect(result.code, result.stderr).to.equal(0);
      expectStderr(stderrLines(result), c.stderr);
      expect(result.stdout).to.equal(golden);
    });
  }

  it('passes Services, ConfigMaps and comment-only documents through byte for byte', async () => {
    const input = await readRepoFile(`${GOLDEN_DIR}/passthrough.yaml`);
    expect(await readRepoFile(`${GOLDEN_DIR}/passthrough.yaml.injected`)).to.equal(input);
  });

  it('leaves skipped workloads byte for byte', async () => {
    for (const name of ['opted-out', 'hostnetwork', 'kube-system', 'other-mesh']) {
      expect(await readRepoFile(`${GOLDEN_DIR}/${name}.yaml.injected`), name).to.equal(await readRepoFile(`${GOLDEN_DIR}/${name}.yaml`));
    }
  });

  it('has a case for every golden file (no stale leftovers)', async () => {
    const expected = new Set(CASES.map((c) => path.basename(goldenOf(c))));
    const present = (await readdir(path.join(REPO_ROOT, GOLDEN_DIR))).filter((file) => file.endsWith('.injected'));
    expect(present.sort()).to.deep.equal([...expected].sort());
  });

  it('keeps comments and untouched key order of an injected Deployment and adds no namespace', async () => {
    const golden = await readRepoFile(`${GOLDEN_DIR}/deployment.yaml.injected`);
    expect(golden).to.contain('replicas: 2 # two, for the rollout');
    expect(golden).to.contain("# the app's own init container stays after mesh-init");
    expect(golden).to.contain('defaultMode: 0644 # octal, as kubectl reads it');
    const [document] = parseAllDocuments(golden, { version: '1.1' });
    const value = document!.toJS() as { metadata: Record<string, unknown>; spec: { template: { spec: Record<string, unknown> } } };
    expect(Object.keys(value)).to.deep.equal(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(value.metadata).to.not.have.property('namespace');
    const podSpec = value.spec.template.spec as { initContainers: { name: string }[]; containers: { name: string; args?: string[] }[] };
    expect(podSpec.initContainers.map((c) => c.name)).to.deep.equal(['mesh-init', 'wait-for-db']);
    expect(podSpec.containers.map((c) => c.name)).to.deep.equal(['web', 'mesh-proxy']);
    // Placeholders: the workload's name, and the namespace policy used (the default one).
    expect(podSpec.containers[1]!.args).to.deep.equal(['proxy', '--serviceCluster', 'web', '--namespace', 'default']);
  });

  it('-o json golden is a v1 List of the injected objects', async () => {
    const list = JSON.parse(await readRepoFile(`${GOLDEN_DIR}/workload-kinds.json.injected`)) as { apiVersion: string; kind: string; items: { kind: string; spec: { template: { spec: { containers: { name: string }[] } } } }[] };
    expect(list.apiVersion).to.equal('v1');
    expect(list.kind).to.equal('List');
    expect(list.items.map((item) => item.kind)).to.deep.equal(['StatefulSet', 'DaemonSet', 'Job']);
    for (const item of list.items) expect(item.spec.template.spec.containers.map((c) => c.name)).to.include('mesh-proxy');
  });
});
