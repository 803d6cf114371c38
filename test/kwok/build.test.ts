// What `make control-plane` builds for startControlPlane({ controllers: true }), checked without
// Go or a real build: a stand-in `go` on PATH records what each build script asks for and writes
// stub binaries. test/kwok/build.sh builds kwok and copies the pinned module's Stages;
// test/control-plane/build.sh builds kube-controller-manager and kube-scheduler with the version
// stamp; the helper finds them where the scripts put them, and refuses controllers on a legacy
// release before it looks for any binary.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { repoRoot } from '../support/transcripts.ts';
import {
  LEGACY_RELEASES,
  controllerBinaries,
  findControllerBinaries,
  startControlPlane,
} from '../control-plane/control-plane.ts';

const execFileAsync = promisify(execFile);

// A `go` that logs its arguments, answers `go list -m -f {{.Dir}}` with $FAKE_MODULE_DIR and, for
// `go build -o OUT`, writes a stub that prints its own name.
const FAKE_GO = `#!/bin/sh
echo "$*" >> "$FAKE_GO_LOG"
if [ "$1" = list ]; then echo "$FAKE_MODULE_DIR"; exit 0; fi
out=""
prev=""
for a in "$@"; do
  if [ "$prev" = "-o" ]; then out="$a"; fi
  prev="$a"
done
printf '#!/bin/sh\\necho "stub %s version v0.0.0"\\n' "$out" > "$out"
chmod +x "$out"
`;

const STAGES = [
  'node/fast/node-initialize',
  'node/heartbeat-with-lease/node-heartbeat-with-lease',
  'pod/fast/pod-ready',
  'pod/fast/pod-complete',
  'pod/fast/pod-delete',
];

describe('controllers for the e2e control plane: build scripts and binaries', function () {
  this.timeout(20_000);
  let scratch: string;
  let cache: string;
  const saved = process.env['MESHINIT_CONTROL_PLANE_DIR'];

  beforeEach(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-controllers-build-'));
    cache = path.join(scratch, 'cache');
    fs.mkdirSync(cache);
    process.env['MESHINIT_CONTROL_PLANE_DIR'] = cache;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['MESHINIT_CONTROL_PLANE_DIR'];
    else process.env['MESHINIT_CONTROL_PLANE_DIR'] = saved;
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** Runs a build script with only the stand-in go on PATH; returns stdout and the go calls. */
  async function runWithFakeGo(script: string, moduleDir = ''): Promise<{ stdout: string; goCalls: string[] }> {
    const bin = path.join(scratch, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'go'), FAKE_GO, { mode: 0o755 });
    const log = path.join(scratch, 'go.log');
    const { stdout } = await execFileAsync('bash', [path.join(repoRoot, script)], {
      env: { PATH: `${bin}:/usr/bin:/bin`, MESHINIT_CONTROL_PLANE_DIR: cache, HOME: scratch, FAKE_GO_LOG: log, FAKE_MODULE_DIR: moduleDir },
    });
    return { stdout, goCalls: fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [] };
  }

  function stub(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '#!/bin/sh\necho "stub version v0.0.0"\n', { mode: 0o755 });
  }

  it('pins kwok v0.8.0 in test/kwok/go.mod and go.sum, and finds kube-controller-manager, kube-scheduler and kwok in MESHINIT_CONTROL_PLANE_DIR', () => {
    expect(controllerBinaries()).to.deep.equal({
      kubeVersion: 'v1.36.3',
      kwokVersion: 'v0.8.0',
      controllerManager: path.join(cache, 'kube-controller-manager-v1.36.3', 'kube-controller-manager'),
      scheduler: path.join(cache, 'kube-scheduler-v1.36.3', 'kube-scheduler'),
      kwok: path.join(cache, 'kwok-v0.8.0', 'kwok'),
      kwokStages: path.join(cache, 'kwok-v0.8.0', 'stages.yaml'),
    });
    const goMod = fs.readFileSync(path.join(repoRoot, 'test', 'kwok', 'go.mod'), 'utf8');
    expect(goMod).to.match(/^tool sigs\.k8s\.io\/kwok\/cmd\/kwok$/m);
    expect(fs.readFileSync(path.join(repoRoot, 'test', 'kwok', 'go.sum'), 'utf8')).to.match(/^sigs\.k8s\.io\/kwok v0\.8\.0 h1:/m);
    const controlPlaneGoMod = fs.readFileSync(path.join(repoRoot, 'test', 'control-plane', 'go.mod'), 'utf8');
    expect(controlPlaneGoMod).to.match(/^\tk8s\.io\/kubernetes\/cmd\/kube-controller-manager$/m);
    expect(controlPlaneGoMod).to.match(/^\tk8s\.io\/kubernetes\/cmd\/kube-scheduler$/m);
  });

  it('make control-plane builds kwok too (CI builds everything from the project files on a clean machine)', () => {
    const makefile = fs.readFileSync(path.join(repoRoot, 'Makefile'), 'utf8');
    expect(makefile).to.match(/^control-plane:\n\t@bash test\/control-plane\/build\.sh\n\t@bash test\/kwok\/build\.sh$/m);
  });

  it('says which make target to run when a controller binary is missing', async () => {
    let error: Error | undefined;
    try {
      await findControllerBinaries();
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.include(path.join(cache, 'kube-controller-manager-v1.36.3', 'kube-controller-manager'));
    expect(error?.message).to.include('Run `make control-plane`');
  });

  for (const release of LEGACY_RELEASES) {
    it(`refuses controllers on ${release}, saying why, before it looks for any binary`, async () => {
      let error: Error | undefined;
      try {
        await startControlPlane({ release, controllers: true });
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message).to.match(new RegExp(`^startControlPlane\\(\\{ release: '${release.replace(/\./g, '\\.')}', controllers: true \\}\\): .*modern release only`));
    });
  }

  it('test/control-plane/build.sh builds kube-controller-manager and kube-scheduler with the version stamp when only kube-apiserver and etcd are cached', async () => {
    stub(path.join(cache, 'kube-apiserver-v1.36.3', 'kube-apiserver'));
    stub(path.join(cache, 'etcd-v3.6.8', 'etcd'));
    const { stdout, goCalls } = await runWithFakeGo('test/control-plane/build.sh');
    expect(goCalls).to.have.length(2);
    const [kcm, scheduler] = goCalls;
    for (const [call, pkg] of [[kcm, 'kube-controller-manager'], [scheduler, 'kube-scheduler']] as const) {
      expect(call).to.match(new RegExp(`^build -mod=readonly .* -o ${cache}/${pkg}-v1\\.36\\.3/${pkg}\\.tmp\\.\\d+ k8s\\.io/kubernetes/cmd/${pkg}$`));
      expect(call).to.include('-X k8s.io/component-base/version.gitVersion=v1.36.3');
    }
    expect(fs.existsSync(controllerBinaries().controllerManager)).to.equal(true);
    expect(fs.existsSync(controllerBinaries().scheduler)).to.equal(true);
    expect(stdout).to.include('control-plane: kube-apiserver v1.36.3: cached at');
  });

  it('test/control-plane/build.sh is a no-op, without Go, when all four binaries are there', async () => {
    for (const file of ['kube-apiserver-v1.36.3/kube-apiserver', 'kube-controller-manager-v1.36.3/kube-controller-manager', 'kube-scheduler-v1.36.3/kube-scheduler', 'etcd-v3.6.8/etcd']) {
      stub(path.join(cache, file));
    }
    const { stdout, goCalls } = await runWithFakeGo('test/control-plane/build.sh');
    expect(goCalls).to.deep.equal([]);
    expect(stdout).to.equal(`control-plane: up to date: kube-apiserver, kube-controller-manager, kube-scheduler v1.36.3, etcd v3.6.8 in ${cache}\n`);
  });

  it('test/kwok/build.sh builds kwok and writes the Stages of the pinned module, node and pod, in kwokctl\'s order', async () => {
    const moduleDir = path.join(scratch, 'kwok-module');
    for (const stage of STAGES) {
      const file = path.join(moduleDir, 'kustomize', 'stage', `${stage}.yaml`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, `kind: Stage\nmetadata:\n  name: ${path.basename(stage)}\n`);
    }
    const { stdout, goCalls } = await runWithFakeGo('test/kwok/build.sh', moduleDir);
    expect(goCalls[0]).to.match(new RegExp(`^build -mod=readonly -trimpath -ldflags -s -w -o ${cache}/kwok-v0\\.8\\.0/kwok\\.tmp\\.\\d+ sigs\\.k8s\\.io/kwok/cmd/kwok$`));
    expect(goCalls[1]).to.equal('list -mod=readonly -m -f {{.Dir}} sigs.k8s.io/kwok');
    const stages = fs.readFileSync(controllerBinaries().kwokStages, 'utf8');
    expect([...stages.matchAll(/name: (\S+)/g)].map((m) => m[1])).to.deep.equal(STAGES.map((s) => path.basename(s)));
    expect(stages.split('\n---\n')).to.have.length(STAGES.length + 1);
    expect(stdout).to.match(/^kwok: built in \d+s -> /m);
  });

  it('test/kwok/build.sh is a no-op, without Go, when kwok and its Stages are there', async () => {
    const { kwok, kwokStages } = controllerBinaries();
    stub(kwok);
    fs.writeFileSync(kwokStages, 'kind: Stage\n');
    const { stdout, goCalls } = await runWithFakeGo('test/kwok/build.sh');
    expect(goCalls).to.deep.equal([]);
    expect(stdout).to.equal(`kwok: up to date: kwok v0.8.0 in ${cache}\n`);
  });
});
