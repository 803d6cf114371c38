// The compiled command as a newcomer runs it after `npm ci` (which builds dist/ through the
// "prepare" script): `npm test` builds first, so this checks what ships, not what tsx runs.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../support/transcripts.ts';

const BIN = path.join(repoRoot, 'bin', 'meshinit.js');

function meshinit(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 20000 });
}

describe('the built meshinit command (bin/meshinit.js → dist/)', function () {
  this.timeout(30000);

  it('injects the example manifest as a v1 List with -o json', function () {
    const result = meshinit(['inject', '-f', 'examples/app.yaml', '-o', 'json']);
    expect(result.status, result.stderr).to.equal(0);
    const list = JSON.parse(result.stdout) as { apiVersion: string; kind: string; items: Array<{ kind: string; metadata: { name: string }; spec?: { template?: { spec: { containers: Array<{ name: string }> } } } }> };
    expect(list).to.include({ apiVersion: 'v1', kind: 'List' });
    const web = list.items.find((item) => item.kind === 'Deployment' && item.metadata.name === 'web');
    expect(web?.spec?.template?.spec.containers.map((c) => c.name)).to.include('mesh-proxy');
    expect(result.stderr).to.include('skipped Deployment default/report');
  });

  it('prints run --help and the version', function () {
    const help = meshinit(['run', '--help']);
    expect(help.status).to.equal(0);
    expect(help.stdout).to.include('Usage: meshinit run');
    const version = execFileSync(process.execPath, [BIN, 'version'], { encoding: 'utf8' });
    expect(version).to.match(/^meshinit \d+\.\d+\.\d+\n$/);
  });

  /** Runs the built CLI with a module hook that records every URL the process resolves. */
  function withModuleTrace(args: string[]) {
    const trace = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-trace-')), 'modules.txt');
    const hook = `import fs from 'node:fs'; let file; export function initialize(data) { file = data.file; }
      export async function resolve(specifier, context, next) { const result = await next(specifier, context); fs.appendFileSync(file, result.url + '\\n'); return result; }`;
    const register = `import { register } from 'node:module'; register('data:text/javascript;base64,${Buffer.from(hook).toString('base64')}', import.meta.url, { data: { file: ${JSON.stringify(trace)} } });`;
    const result = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, BIN, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 20000 });
    const modules = fs.readFileSync(trace, 'utf8');
    fs.rmSync(path.dirname(trace), { recursive: true, force: true });
    return { result, modules };
  }

  it('explain -f loads neither @kubernetes/client-node nor the controller (start time), and explains the example', function () {
    const { result, modules } = withModuleTrace(['explain', '-f', 'examples/app.yaml']);
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.include('Deployment default/web (examples/app.yaml: document 3)');
    expect(modules, 'the hook saw the CLI load').to.include('dist/controller/cli/explain-command.js');
    for (const unwanted of ['@kubernetes/client-node', 'dist/controller/kube/api-client.js', 'dist/controller/run-command.js', 'dist/controller/initializer/', 'explain-live.js', 'winston', 'lodash']) {
      expect(modules, unwanted).to.not.include(unwanted);
    }
  });

  it('explain --help loads no YAML library either (start time)', function () {
    const help = withModuleTrace(['explain', '--help']);
    expect(help.result.status, help.result.stderr).to.equal(0);
    expect(help.modules, 'the hook saw the CLI load').to.include('dist/controller/cli/explain-command.js');
    for (const unwanted of ['node_modules/yaml', 'inject-manifests.js', 'lodash', 'winston', '@kubernetes/client-node', 'explain-live.js']) expect(help.modules, unwanted).to.not.include(unwanted);
  });

  it('inject --help loads no YAML library, inject -f nothing beyond it and the core (start time)', function () {
    const help = withModuleTrace(['inject', '--help']);
    expect(help.result.status, help.result.stderr).to.equal(0);
    expect(help.modules, 'the hook saw the CLI load').to.include('dist/controller/cli/inject-command.js');
    for (const unwanted of ['node_modules/yaml', 'inject-manifests.js', 'lodash', 'winston', '@kubernetes/client-node', 'run-command.js']) expect(help.modules, unwanted).to.not.include(unwanted);
    const run = withModuleTrace(['inject', '-f', 'examples/app.yaml']);
    expect(run.result.status, run.result.stderr).to.equal(0);
    expect(run.modules).to.include('node_modules/yaml');
    for (const unwanted of ['lodash', 'winston', '@kubernetes/client-node', 'run-command.js', 'dist/controller/kube/']) expect(run.modules, unwanted).to.not.include(unwanted);
  });

  it('exits 2 on an unknown command', function () {
    const result = meshinit(['frobnicate']);
    expect(result.status).to.equal(2);
    expect(result.stderr).to.include('unknown command "frobnicate"');
  });
});
