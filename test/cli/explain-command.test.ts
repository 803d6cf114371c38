// `meshinit explain -f`: golden text and JSON for real-world-shaped input (the example app, a
// `kubectl get -o yaml` List with a CronJob, MeshConfigs with an invalid edit), flags and exit codes.
//   UPDATE_GOLDEN=1 npx mocha test/cli   regenerates the golden files (review the diff).
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EXPLAIN_HELP } from '../../controller/cli/explain-command.ts';
import { parseResourceRef } from '../../controller/cli/explain-ref.ts';
import { initializerNotHeldReason, JOB_RELEASE_REASON } from '../../controller/core/outcome.ts';
import { REPO_ROOT, runExplain } from './helpers.ts';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const DIR = 'test/cli/golden/explain';

async function golden(file: string, actual: string): Promise<void> {
  const at = path.join(REPO_ROOT, DIR, file);
  if (UPDATE) await writeFile(at, actual);
  expect(actual).to.equal(await readFile(at, 'utf8'));
}

const SHOP = ['-f', `${DIR}/shop-list.yaml`, '--meshconfig', `${DIR}/shop-meshconfigs.yaml`, '--namespace-labels', 'mesh=enabled'];
const APP = ['-f', 'examples/app.yaml', '--meshconfig', 'manifests/meshconfig-sample.yaml', '--meshconfig', 'examples/meshconfig-opt-in.yaml'];

interface Json { [key: string]: unknown }

describe('meshinit explain -f (offline)', () => {
  for (const [name, args] of [['app', APP], ['shop', SHOP]] as const) {
    for (const output of ['text', 'json'] as const) {
      it(`${name}: -o ${output} gives ${name}.${output === 'text' ? 'txt' : 'json'}`, async () => {
        const result = await runExplain([...args, '-o', output]);
        expect(result.code, result.stderr).to.equal(0);
        expect(result.stderr).to.equal('');
        await golden(`${name}.${output === 'text' ? 'txt' : 'json'}`, result.stdout);
      });
    }
  }

  it('shop: the winners and losers of a List with a CronJob, an invalid edit served by its last valid spec, a never-valid MeshConfig', async () => {
    const report = JSON.parse((await runExplain([...SHOP, '-o', 'json'])).stdout) as { explainVersion: number; explanations: Json[]; passedOver: Json[] };
    expect(report.explainVersion).to.equal(1);
    const byName = Object.fromEntries(report.explanations.map((e) => [(e.workload as Json).name, e]));
    expect(Object.keys(byName)).to.deep.equal(['checkout', 'nightly-report', 'nightly-report-29012345', 'ledger']);
    expect(byName.checkout!.selected).to.equal('shop-mesh');
    const job = byName['nightly-report-29012345']!;
    expect(job.selected, 'edited serves with its last valid spec (kinds: Job)').to.equal('edited');
    expect(job.decisions).to.deep.equal([
      { mode: 'initializer', action: 'released', reason: JOB_RELEASE_REASON, code: 'job_template_immutable', meshConfig: 'edited' },
      { mode: 'webhook', action: 'injected', reason: 'selected by MeshConfig edited (policy Enabled)', code: 'policy_enabled', meshConfig: 'edited' },
    ]);
    const ledger = (byName.ledger!.meshConfigs as Json[]).find((mc) => mc.name === 'storage');
    expect(ledger).to.include({ verdict: 'lowerPriority', lostTo: 'shop-mesh' });
    const typo = (byName.checkout!.meshConfigs as Json[]).find((mc) => mc.name === 'typo');
    expect(typo).to.include({ verdict: 'invalid', servingLastValid: false });
    // The CronJob is explained, not passed over: no MeshConfig of this shop lists CronJob.
    expect(byName['nightly-report']!.decisions).to.deep.equal([
      { mode: 'initializer', action: 'not-held', reason: initializerNotHeldReason('CronJob'), code: 'not_targeted' },
      {
        mode: 'webhook', action: 'skipped', reason: 'kind CronJob is not in the kinds of MeshConfig edited, shop-mesh', code: 'kind_not_selected',
        targetPods: 'the webhook with --target pods does not mutate CronJobs and injects their Jobs\' Pods',
      },
    ]);
    expect(report.passedOver).to.deep.equal([]);
  });

  it('--mode initializer shows one decision; --namespace-labels changes the namespaceSelector verdict', async () => {
    const one = JSON.parse((await runExplain([...APP, '--mode', 'initializer', '-o', 'json'])).stdout) as { explanations: Array<{ decisions: unknown[] }> };
    expect(one.explanations.every((e) => e.decisions.length === 1)).to.equal(true);
    const labelled = JSON.parse((await runExplain([...APP, '--namespace-labels', 'mesh=enabled', '-o', 'json'])).stdout) as { explanations: Array<{ workload: Json; selected: string; decisions: Array<{ reason: string }> }> };
    const web = labelled.explanations.find((e) => e.workload.name === 'web')!;
    expect(web.selected).to.equal('opt-in');
    expect(web.decisions[0]!.reason).to.equal('MeshConfig opt-in has policy Disabled and the Deployment is not annotated sidecar.meshinit.dev/inject: "true"');
  });

  it('reads manifests from stdin, and documents without a namespace take -n', async () => {
    const manifest = 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: i}]}\n';
    const result = await runExplain(['-f', '-', '-n', 'edge', '-o', 'json'], { stdin: manifest });
    expect(result.code, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout) as { explanations: Array<{ workload: Json; source: string }> };
    expect(report.explanations[0]!.workload).to.deep.equal({ kind: 'DaemonSet', namespace: 'edge', name: 'agent' });
    expect(report.explanations[0]!.source).to.equal('<stdin>: document 1');
  });

  it('exit 1 with the file named for unreadable or unparsable input, and for a --meshconfig that is not one', async () => {
    const missing = await runExplain(['-f', 'nope.yaml']);
    expect(missing).to.deep.include({ code: 1, stdout: '' });
    expect(missing.stderr).to.match(/^meshinit explain: nope\.yaml: cannot read: /);
    const broken = await runExplain(['-f', 'broken.yaml'], { files: { 'broken.yaml': 'kind: [\n' } });
    expect(broken.code).to.equal(1);
    expect(broken.stderr).to.include('broken.yaml: document 1');
    const notMesh = await runExplain(['-f', 'examples/app.yaml', '--meshconfig', 'examples/app.yaml']);
    expect(notMesh.code).to.equal(1);
    expect(notMesh.stderr).to.include('kind "ConfigMap" is not a MeshConfig');
  });

  it('exit 2 for usage errors, with the reason; --help on stdout with exit 0', async () => {
    const cases: Array<[string[], string]> = [
      [[], 'nothing to explain'],
      [['-f', 'a.yaml', 'deploy/web'], 'not both'],
      [['deploy/web', '--meshconfig', 'm.yaml'], '--meshconfig is for -f'],
      [['-f', 'a.yaml', '--mode', 'both'], '--mode must be auto, initializer, webhook'],
      [['-f', 'a.yaml', '-o', 'yaml'], '-o must be text, json'],
      [['-f', 'a.yaml', '--namespace-labels', 'novalue'], 'is not KEY=VALUE'],
      [['-f', 'a.yaml', '-n', 'Bad_NS'], 'is not a valid namespace name'],
      [['secret/x'], 'is not one meshinit injects'],
      [['cronjob.apps/x'], 'CronJob is in API group "batch", not "apps"'],
      [['--bogus'], "Unknown option '--bogus'"],
    ];
    for (const [argv, text] of cases) {
      const result = await runExplain(argv);
      expect(result.code, argv.join(' ')).to.equal(2);
      expect(result.stderr, argv.join(' ')).to.include(text).and.include('Run "meshinit explain --help"');
    }
    expect(await runExplain(['--help'])).to.deep.equal({ code: 0, stdout: EXPLAIN_HELP, stderr: '' });
  });
});

describe('meshinit explain in the command line', () => {
  it('is listed in meshinit --help and dispatched by main', async () => {
    const { main, MAIN_HELP } = await import('../../controller/main.ts');
    expect(MAIN_HELP).to.include('meshinit explain KIND/NAME');
    const out: string[] = [];
    const sink = { write: (s: string) => out.push(s) };
    const io = { stdin: process.stdin, stdout: sink, stderr: sink, readFile: async () => '', cwd: REPO_ROOT, env: {}, version: 't', waitForStopSignal: async () => 'SIGTERM' };
    expect(await main(['explain', '--help'], io)).to.equal(0);
    expect(out.join('')).to.equal(EXPLAIN_HELP);
  });
});

describe('KIND/NAME as kubectl spells it', () => {
  it('accepts short names, plurals, group- and version-qualified resources, and KIND NAME', () => {
    const cases: Array<[string[], string, string]> = [
      [['deploy/web'], 'Deployment', 'web'],
      [['deployment.apps/web'], 'Deployment', 'web'],
      [['deployments.v1.apps/web'], 'Deployment', 'web'],
      [['Deployment', 'web'], 'Deployment', 'web'],
      [['sts/db-0.x'], 'StatefulSet', 'db-0.x'],
      [['ds/agent'], 'DaemonSet', 'agent'],
      [['jobs.batch/migrate'], 'Job', 'migrate'],
      [['po/web-7d4b9-x2x1z'], 'Pod', 'web-7d4b9-x2x1z'],
      [['cj/nightly'], 'CronJob', 'nightly'],
      [['cronjobs.v1beta1.batch/nightly'], 'CronJob', 'nightly'],
      [['rs/web-7d4b9'], 'ReplicaSet', 'web-7d4b9'],
      [['replicasets.apps/web-7d4b9'], 'ReplicaSet', 'web-7d4b9'],
      [['rc/legacy'], 'ReplicationController', 'legacy'],
      [['replicationcontroller', 'legacy'], 'ReplicationController', 'legacy'],
      [['dc/app'], 'DeploymentConfig', 'app'],
      [['deploymentconfigs.apps.openshift.io/app'], 'DeploymentConfig', 'app'],
    ];
    for (const [positionals, kind, name] of cases) expect(parseResourceRef(positionals), positionals.join(' ')).to.deep.equal({ kind, name });
  });

  it('refuses the wrong group, a missing name, names no object may have, extra words', () => {
    expect(parseResourceRef(['deployment.batch/web'])).to.include('API group "apps", not "batch"');
    expect(parseResourceRef(['deployment/'])).to.include('names no object');
    expect(parseResourceRef(['deployment'])).to.include('names no object');
    expect(parseResourceRef(['deployment/Web_1'])).to.include('not a valid object name');
    expect(parseResourceRef(['deploy/web', 'extra'])).to.include('expected KIND/NAME or KIND NAME');
  });
});
