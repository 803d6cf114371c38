// `meshinit inject` end to end, in process: flags, exit codes, messages, stdin, -o json, and what
// stays out of stdout.
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { INJECT_HELP } from '../../controller/cli/inject-command.ts';
import { defaultMeshConfigPath } from '../../controller/cli/default-meshconfig.ts';
import { GOLDEN_DIR, GOLDEN_MESHCONFIG, runInject, stderrLines } from './helpers.ts';

const MC = ['--meshconfig', GOLDEN_MESHCONFIG];

function deployment(name: string, extra: { namespace?: string; containers?: string[] } = {}): string {
  const ns = extra.namespace === undefined ? '' : `\n  namespace: ${extra.namespace}`;
  const containers = (extra.containers ?? ['app']).map((c) => `\n        - name: ${c}\n          image: example/${c}:1`).join('');
  return `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}${ns}\nspec:\n  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}\n    spec:\n      containers:${containers}\n`;
}

function meshConfig(failurePolicy: 'Ignore' | 'Fail'): string {
  return `apiVersion: meshinit.dev/v1alpha1\nkind: MeshConfig\nmetadata:\n  name: strict\nspec:\n  failurePolicy: ${failurePolicy}\n  sidecar:\n    containers:\n      - name: mesh-proxy\n        image: example/proxy:1\n        args: [--serviceCluster, "{{workload.name}}", --ns, "{{workload.namespace}}"]\n`;
}

type Obj = { kind: string; metadata: { name: string; namespace?: string }; spec: { template: { spec: { containers: { name: string; args?: string[] }[] } } } };

function documents(yaml: string): Obj[] {
  return parseAllDocuments(yaml, { version: '1.1' }).map((document) => document.toJS() as Obj);
}

function containerNames(object: Obj): string[] {
  return object.spec.template.spec.containers.map((c) => c.name);
}

describe('meshinit inject command', () => {
  describe('flags', () => {
    for (const flag of ['--help', '-h']) {
      it(`${flag} prints the help to stdout and exits 0`, async () => {
        const result = await runInject([flag]);
        expect(result).to.deep.equal({ code: 0, stdout: INJECT_HELP, stderr: '' });
      });
    }

    it('the help covers every flag, examples, exit codes, namespace labels and the default MeshConfig', () => {
      for (const text of ['-f, --filename', '--meshconfig', '-o, --output', '-n, --namespace', '--controller-namespace', '-h, --help', 'Examples:', 'Exit codes:', 'namespace labels are unknown', 'manifests/meshconfig-sample.yaml', '-f -']) {
        expect(INJECT_HELP).to.contain(text);
      }
    });

    const bad: [string, string[], RegExp][] = [
      ['an unknown flag', ['-f', `${GOLDEN_DIR}/deployment.yaml`, '--bogus'], /--bogus/],
      ['no -f', [...MC], /at least one -f/],
      ['-o xml', ['-f', `${GOLDEN_DIR}/deployment.yaml`, '-o', 'xml'], /-o must be yaml or json/],
      ['a positional argument', [`${GOLDEN_DIR}/deployment.yaml`], /positional/i],
      ['-f without a value', ['-f'], /-f/],
      ['-f - twice', ['-f', '-', '-f', '-'], /only once/],
      ['an invalid --namespace', ['-f', `${GOLDEN_DIR}/deployment.yaml`, '--namespace', 'Not_A_Namespace'], /not a valid namespace/],
    ];
    for (const [what, argv, pattern] of bad) {
      it(`${what} exits 2 with usage on stderr and nothing on stdout`, async () => {
        const result = await runInject(argv);
        expect(result.code).to.equal(2);
        expect(result.stdout).to.equal('');
        expect(result.stderr).to.match(pattern);
        expect(result.stderr).to.contain('meshinit inject --help');
      });
    }
  });

  describe('bad input exits 2 and writes nothing to stdout', () => {
    it('unparsable YAML: names the file and the document', async () => {
      const broken = `${deployment('one')}---\n${deployment('two')}---\nkind: ConfigMap\ndata: {a: [1, 2}\n`;
      const result = await runInject(['-f', `${GOLDEN_DIR}/deployment.yaml`, '-f', 'examples/broken.yaml', ...MC], { files: { 'examples/broken.yaml': broken } });
      expect(result.code).to.equal(2);
      expect(result.stdout).to.equal('');
      expect(result.stderr).to.match(/^meshinit: examples\/broken\.yaml: document 3: /);
    });

    it('a recursive alias (a document that contains itself): names the document, and -o json does not crash', async () => {
      const recursive = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [&c {name: app, image: x, self: *c}]\n';
      for (const output of [[], ['-o', 'json']]) {
        const result = await runInject(['-f', 'examples/recursive.yaml', ...MC, ...output], { files: { 'examples/recursive.yaml': recursive } });
        expect(result.code).to.equal(2);
        expect(result.stdout).to.equal('');
        expect(result.stderr).to.match(/^meshinit: examples\/recursive\.yaml: document 1: a recursive alias/);
      }
    });

    it('a missing file: names it', async () => {
      const result = await runInject(['-f', 'no/such/file.yaml', ...MC]);
      expect(result.code).to.equal(2);
      expect(result.stdout).to.equal('');
      expect(result.stderr).to.match(/^meshinit: no\/such\/file\.yaml: cannot read: .*ENOENT/);
    });

    it('an invalid MeshConfig: names the file and lists every problem', async () => {
      const invalid = 'apiVersion: meshinit.dev/v1alpha1\nkind: MeshConfig\nmetadata:\n  name: broken\nspec:\n  policy: Sometimes\n  sidecar:\n    containers: []\n';
      const result = await runInject(['-f', `${GOLDEN_DIR}/deployment.yaml`, '--meshconfig', 'mc.yaml'], { files: { 'mc.yaml': invalid } });
      expect(result.code).to.equal(2);
      expect(result.stdout).to.equal('');
      const lines = stderrLines(result);
      expect(lines[0]).to.equal('meshinit: mc.yaml: invalid MeshConfig broken:');
      expect(lines).to.include('  - spec.policy: must be one of Enabled, Disabled, got "Sometimes"');
      expect(lines).to.include('  - spec.sidecar.containers: must list at least one container');
    });

    it('a MeshConfig file with two documents', async () => {
      const two = `${meshConfig('Ignore')}---\n${meshConfig('Fail')}`;
      const result = await runInject(['-f', `${GOLDEN_DIR}/deployment.yaml`, '--meshconfig', 'mc.yaml'], { files: { 'mc.yaml': two } });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.equal('meshinit: mc.yaml: expected exactly one YAML or JSON document, found 2\n');
    });

    it('a MeshConfig in JSON is accepted', async () => {
      const json = JSON.stringify(parseAllDocuments(meshConfig('Ignore'))[0]!.toJS());
      const result = await runInject(['-f', '-', '--meshconfig', 'mc.json'], { files: { 'mc.json': json }, stdin: deployment('web') });
      expect(result.code, result.stderr).to.equal(0);
      expect(containerNames(documents(result.stdout)[0]!)).to.deep.equal(['app', 'mesh-proxy']);
    });
  });

  describe('failurePolicy', () => {
    const clash = deployment('clash', { namespace: 'shop', containers: ['app', 'mesh-proxy'] });
    const input = `${deployment('fine', { namespace: 'shop' })}---\n${clash}`;

    it('Fail: a container-name clash exits 1, names the workload, and writes no manifest at all', async () => {
      const result = await runInject(['-f', 'app.yaml', '--meshconfig', 'mc.yaml'], { files: { 'app.yaml': input, 'mc.yaml': meshConfig('Fail') } });
      expect(result.code).to.equal(1);
      expect(result.stdout).to.equal('');
      const lines = stderrLines(result);
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^meshinit: app\.yaml: document 2: Deployment shop\/clash: containers already has "mesh-proxy".*MeshConfig strict has failurePolicy Fail\)$/);
    });

    it('Ignore: a clash exits 0, prints that workload unchanged and warns; the others are injected', async () => {
      const result = await runInject(['-f', 'app.yaml', '--meshconfig', 'mc.yaml'], { files: { 'app.yaml': input, 'mc.yaml': meshConfig('Ignore') } });
      expect(result.code).to.equal(0);
      const [first, second] = result.stdout.split('---\n');
      expect(second).to.equal(clash);
      expect(containerNames(documents(first!)[0]!)).to.deep.equal(['app', 'mesh-proxy']);
      const lines = stderrLines(result);
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^meshinit: warning: app\.yaml: document 2: Deployment shop\/clash: containers already has "mesh-proxy".*printed unchanged \(MeshConfig strict has failurePolicy Ignore\)$/);
    });
  });

  describe('input and output', () => {
    it('-f - reads stdin, in order with the other files', async () => {
      const result = await runInject(['-f', `${GOLDEN_DIR}/opted-out.yaml`, '-f', '-', ...MC], { stdin: deployment('from-stdin', { namespace: 'shop' }) });
      expect(result.code, result.stderr).to.equal(0);
      const objects = documents(result.stdout);
      expect(objects.map((o) => o.metadata.name)).to.deep.equal(['report', 'from-stdin']);
      expect(containerNames(objects[1]!)).to.deep.equal(['app', 'mesh-proxy']);
    });

    it('-o json prints one v1 List of every object, injected ones injected, comment-only documents left out', async () => {
      const result = await runInject(['-f', `${GOLDEN_DIR}/passthrough.yaml`, '-f', '-', '-o', 'json', ...MC], { stdin: deployment('web', { namespace: 'shop' }) });
      expect(result.code, result.stderr).to.equal(0);
      const list = JSON.parse(result.stdout) as { apiVersion: string; kind: string; items: Obj[] };
      expect(Object.keys(list)).to.deep.equal(['apiVersion', 'kind', 'items']);
      expect(list.apiVersion).to.equal('v1');
      expect(list.kind).to.equal('List');
      expect(list.items.map((item) => item.kind)).to.deep.equal(['Service', 'ConfigMap', 'Deployment']);
      expect(containerNames(list.items[2]!)).to.deep.equal(['app', 'mesh-proxy']);
      // Read as kubectl reads YAML (1.1): `ENABLED: yes` is a boolean there too.
      expect((list.items[1] as unknown as { data: Record<string, unknown> }).data).to.deep.include({ ENABLED: true, MODE: '0644' });
    });

    it('stdout carries only manifests, stderr the skip reasons', async () => {
      const result = await runInject(['-f', `${GOLDEN_DIR}/opted-out.yaml`, '-f', `${GOLDEN_DIR}/kube-system.yaml`, ...MC]);
      expect(result.code).to.equal(0);
      expect(documents(result.stdout).map((o) => o.kind)).to.deep.equal(['Deployment', 'Deployment']);
      expect(result.stdout).to.not.contain('meshinit:');
      expect(stderrLines(result)).to.have.length(2);
      expect(stderrLines(result).every((line) => line.startsWith('meshinit: skipped Deployment '))).to.equal(true);
    });

    it('a Deployment without a containers list is printed unchanged with a warning', async () => {
      const odd = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: odd\nspec:\n  replicas: 1\n';
      const result = await runInject(['-f', '-', ...MC], { stdin: odd });
      expect(result.code).to.equal(0);
      expect(result.stdout).to.equal(odd);
      expect(result.stderr).to.match(/^meshinit: warning: <stdin>: document 1: Deployment odd has no spec\.template\.spec\.containers list; printed unchanged\n$/);
    });
  });

  describe('namespaces', () => {
    it('--namespace applies to documents without one, for policy and {{workload.namespace}}, and is not written out', async () => {
      const result = await runInject(['-f', '-', '--namespace', 'shop', '--meshconfig', 'mc.yaml'], { files: { 'mc.yaml': meshConfig('Ignore') }, stdin: deployment('web') });
      const [object] = documents(result.stdout);
      expect(object!.metadata).to.not.have.property('namespace');
      expect(object!.spec.template.spec.containers[1]!.args).to.deep.equal(['--serviceCluster', 'web', '--ns', 'shop']);
    });

    it('--namespace kube-system skips documents without a namespace, not those with their own', async () => {
      const input = `${deployment('plain')}---\n${deployment('own', { namespace: 'shop' })}`;
      const result = await runInject(['-f', '-', '-n', 'kube-system', ...MC], { stdin: input });
      expect(result.code).to.equal(0);
      const objects = documents(result.stdout);
      expect(containerNames(objects[0]!)).to.deep.equal(['app']);
      expect(containerNames(objects[1]!)).to.deep.equal(['app', 'mesh-proxy']);
      expect(stderrLines(result)).to.deep.equal(['meshinit: skipped Deployment kube-system/plain: namespace kube-system is a system namespace and is never injected']);
    });

    it("--controller-namespace: meshinit's own namespace is never injected", async () => {
      const result = await runInject(['-f', '-', '--controller-namespace', 'meshinit-system', ...MC], { stdin: deployment('meshinit', { namespace: 'meshinit-system' }) });
      expect(result.code).to.equal(0);
      expect(containerNames(documents(result.stdout)[0]!)).to.deep.equal(['app']);
      expect(result.stderr).to.contain("meshinit-system is meshinit's own namespace");
    });
  });

  describe('the default MeshConfig', () => {
    it('without --meshconfig, injects with the sample shipped in the repository', async () => {
      const samplePath = defaultMeshConfigPath();
      expect(samplePath, 'package root not found').to.be.a('string');
      const sample = parseAllDocuments(await readFile(samplePath!, 'utf8'))[0]!.toJS() as { metadata: { name: string }; spec: { sidecar: { containers: { name: string }[] } } };
      const result = await runInject(['-f', '-'], { stdin: deployment('web', { namespace: 'shop' }) });
      expect(result.code, result.stderr).to.equal(0);
      const [object] = documents(result.stdout);
      expect(containerNames(object!)).to.deep.equal(['app', ...sample.spec.sidecar.containers.map((c) => c.name)]);
      expect(result.stdout).to.contain(`"meshConfig":"${sample.metadata.name}"`);
    });
  });
});
