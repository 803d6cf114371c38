// test/helm/build.sh (`make helm`): a cached helm makes it a no-op that needs no Go, at the very
// path the tests look for (helm.ts), under MESHINIT_CONTROL_PLANE_DIR like the control plane.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { repoRoot } from '../support/transcripts.ts';
import { helmBinary } from './helm.ts';

const execFileAsync = promisify(execFile);

describe('test/helm/build.sh', function () {
  this.timeout(20_000);
  let cache: string;
  const saved = process.env['MESHINIT_CONTROL_PLANE_DIR'];

  beforeEach(() => {
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-helm-cache-'));
    process.env['MESHINIT_CONTROL_PLANE_DIR'] = cache;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['MESHINIT_CONTROL_PLANE_DIR'];
    else process.env['MESHINIT_CONTROL_PLANE_DIR'] = saved;
    fs.rmSync(cache, { recursive: true, force: true });
  });

  it('pins helm v3.22.0 in go.mod, and the tests look for it in MESHINIT_CONTROL_PLANE_DIR/helm-v3.22.0/helm', () => {
    expect(helmBinary()).to.deep.equal({ version: 'v3.22.0', path: path.join(cache, 'helm-v3.22.0', 'helm') });
    const goSum = fs.readFileSync(path.join(repoRoot, 'test', 'helm', 'go.sum'), 'utf8');
    expect(goSum, 'go.sum pins the module').to.match(/^helm\.sh\/helm\/v3 v3\.22\.0 h1:/m);
  });

  it('make e2e builds helm first (CI runs make test on a clean clone), and make helm runs this script', () => {
    const makefile = fs.readFileSync(path.join(repoRoot, 'Makefile'), 'utf8');
    const prerequisites = (target: string): string[] => new RegExp(`^${target}:(.*)$`, 'm').exec(makefile)?.[1]?.trim().split(/\s+/) ?? [];
    expect(prerequisites('e2e')).to.include('helm');
    expect(prerequisites('test')).to.include('e2e');
    expect(makefile).to.match(/^helm:\n\t@bash test\/helm\/build\.sh$/m);
  });

  it('is a no-op, without Go on PATH, when that binary is there', async () => {
    const binary = helmBinary().path;
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    fs.writeFileSync(binary, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const { stdout } = await execFileAsync('bash', [path.join(repoRoot, 'test', 'helm', 'build.sh')], {
      env: { PATH: '/usr/bin:/bin', MESHINIT_CONTROL_PLANE_DIR: cache, HOME: cache },
    });
    expect(stdout).to.equal(`helm: up to date: helm v3.22.0 in ${cache}\n`);
  });
});
