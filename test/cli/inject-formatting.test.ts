// The YAML shapes `meshinit inject` must carry through untouched around what it adds: document
// markers, directives, a BOM, block scalars, long lines, tabs in comments, merge keys, removed
// items on an upgrade. Each case injects with the golden MeshConfig and checks the lines removed
// from the input (none, unless the case says which) and that the output reads back right.
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { diffLines } from '../../controller/cli/line-diff.ts';
import { GOLDEN_MESHCONFIG, runInject } from './helpers.ts';

const WORKLOAD = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ghcr.io/example/web:1.0
`;

async function inject(text: string) {
  const result = await runInject(['-f', 'in.yaml', '--meshconfig', GOLDEN_MESHCONFIG], { files: { 'in.yaml': text } });
  expect(result.code, result.stderr).to.equal(0);
  const again = await runInject(['-f', 'in.yaml', '--meshconfig', GOLDEN_MESHCONFIG], { files: { 'in.yaml': result.stdout } });
  expect(again.stdout, 'injecting the output again changes nothing').to.equal(result.stdout);
  return result.stdout;
}

function removedLines(before: string, after: string): string[] {
  return diffLines(before, after)
    .filter((edit) => edit.op === '-')
    .map((edit) => edit.line.text);
}

function values(text: string): unknown[] {
  return parseAllDocuments(text, { version: '1.1' }).map((document) => {
    expect(document.errors).to.deep.equal([]);
    return document.toJS() as unknown;
  });
}

describe('meshinit inject keeps the shape of the input', () => {
  it('--- and ... markers, a directive, a BOM and the documents around an injected one', async () => {
    const input = `\uFEFF%YAML 1.1\n# leading comment\n---\nkind: ConfigMap # not a workload\ndata: {a: "1"}\n...\n---\n${WORKLOAD}...\n--- # after\nkind: Service\n`;
    const output = await inject(input);
    expect(removedLines(input, output)).to.deep.equal([]);
    expect(output.startsWith('\uFEFF%YAML 1.1\n# leading comment\n---\nkind: ConfigMap # not a workload\ndata: {a: "1"}\n...\n---\n')).to.equal(true);
    expect(output.endsWith('        - name: mesh-config\n          emptyDir: {}\n...\n--- # after\nkind: Service\n') || output.endsWith('      - name: mesh-config\n        emptyDir: {}\n...\n--- # after\nkind: Service\n')).to.equal(true);
    expect(values(output)).to.have.length(3);
  });

  it('block scalars, very long lines and tabs in comments around the new items', async () => {
    const long = 'x'.repeat(5000);
    const input = WORKLOAD.replace(
      '        image: ghcr.io/example/web:1.0\n',
      `        image: ghcr.io/example/web:1.0\t#\tpinned\n        command:\n        - sh\n        - -c\n        - |\n          echo start\n\n          exec web --flag=${long}\n`,
    );
    const output = await inject(input);
    expect(removedLines(input, output)).to.deep.equal([]);
    const [value] = values(output) as Array<{ spec: { template: { spec: { containers: Array<{ command?: string[] }> } } } }>;
    expect(value!.spec.template.spec.containers[0]!.command![2]).to.equal(`echo start\n\nexec web --flag=${long}\n`);
  });

  it('a merge key in the pod spec: the data is right (the document is rebuilt, its comments kept)', async () => {
    const input = `# defaults shared below\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: merged\nspec:\n  selector: {matchLabels: {app: merged}}\n  template:\n    metadata: {labels: {app: merged}}\n    spec:\n      <<: {terminationGracePeriodSeconds: 5}\n      containers:\n      - name: app # the app\n        image: app:1\n`;
    const output = await inject(input);
    expect(output).to.include('# defaults shared below');
    const [value] = values(output) as Array<{ spec: { template: { spec: { terminationGracePeriodSeconds: number; containers: Array<{ name: string }> } } } }>;
    expect(value!.spec.template.spec.terminationGracePeriodSeconds).to.equal(5);
    expect(value!.spec.template.spec.containers.map((container) => container.name)).to.deep.equal(['app', 'mesh-proxy']);
  });

  it('an upgrade removes exactly the lines of what the old injection added', async () => {
    const status = `'{"meshConfig":"golden","generation":0,"hash":"0000000000000","initContainers":[],"containers":["mesh-proxy"],"volumes":["mesh-old"],"imagePullSecrets":[],"podAnnotations":[],"podLabels":[]}'`;
    const input = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: up\n  annotations:\n    sidecar.meshinit.dev/status: ${status}\nspec:\n  selector: {matchLabels: {app: up}}\n  template:\n    metadata:\n      labels: {app: up}\n      annotations:\n        sidecar.meshinit.dev/status: ${status}\n    spec:\n      containers:\n      - name: up   # the app\n        image: up:1\n      - name: mesh-proxy\n        image: registry.example/mesh-proxy:0.9.0\n      volumes:\n      # the old mesh volume\n      - name: mesh-old\n        emptyDir: {}\n      - name: data\n        emptyDir: {}\n`;
    const output = await inject(input);
    // diff -u may pair the old item's `emptyDir: {}` with the new item's: that line may or may not show.
    const removed = removedLines(input, output);
    expect(removed.filter((line) => line !== '        emptyDir: {}')).to.deep.equal([
      `    sidecar.meshinit.dev/status: ${status}`,
      `        sidecar.meshinit.dev/status: ${status}`,
      '        image: registry.example/mesh-proxy:0.9.0',
      '      # the old mesh volume',
      '      - name: mesh-old',
    ]);
    expect(removed.length).to.be.at.most(6);
    expect(output).to.not.include('mesh-old');
    expect(output).to.include('      - name: up   # the app\n');
  });

  it('a document without a final newline keeps it missing; an empty file and comment-only files stay as they are', async () => {
    const output = await inject(WORKLOAD.trimEnd());
    expect(output.endsWith('\n')).to.equal(false);
    expect(removedLines(WORKLOAD.trimEnd(), output)).to.deep.equal(['        image: ghcr.io/example/web:1.0']);
    for (const text of ['', '# only a comment\n', '---\n---\n', '# a\n---\n# b']) expect(await inject(text)).to.equal(text);
  });
});
