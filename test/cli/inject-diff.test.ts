// `meshinit inject --diff`: a diff -u per input file, against what inject would print for it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { GOLDEN_DIR, GOLDEN_MESHCONFIG, REPO_ROOT, runInject } from './helpers.ts';

const DEPLOYMENT = `${GOLDEN_DIR}/deployment.yaml`;
const OPTED_OUT = `${GOLDEN_DIR}/opted-out.yaml`;

describe('meshinit inject --diff', () => {
  it('prints diff -u of each file that changes, headed by its name; patch -p0 turns the file into the injected output', async () => {
    const result = await runInject(['-f', DEPLOYMENT, '--meshconfig', GOLDEN_MESHCONFIG, '--diff']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout.split('\n').slice(0, 2)).to.deep.equal([`--- ${DEPLOYMENT}\t(original)`, `+++ ${DEPLOYMENT}\t(injected by meshinit)`]);
    expect(result.stdout).to.match(/^@@ -\d+(,\d+)? \+\d+(,\d+)? @@$/m);
    expect(result.stdout).to.match(/^\+ {6}- name: mesh-proxy$/m);

    // The diff is a real patch: applied to a copy of the file it gives exactly what inject prints.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-diff-'));
    try {
      fs.mkdirSync(path.join(dir, GOLDEN_DIR), { recursive: true });
      fs.copyFileSync(path.join(REPO_ROOT, DEPLOYMENT), path.join(dir, DEPLOYMENT));
      execFileSync('patch', ['-p0', '--quiet'], { cwd: dir, input: result.stdout });
      const injected = await runInject(['-f', DEPLOYMENT, '--meshconfig', GOLDEN_MESHCONFIG]);
      expect(fs.readFileSync(path.join(dir, DEPLOYMENT), 'utf8')).to.equal(injected.stdout);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unchanged file gives an empty diff (a skipped workload: the reason still goes to stderr); exit 0 either way', async () => {
    const result = await runInject(['-f', OPTED_OUT, '--meshconfig', GOLDEN_MESHCONFIG, '--diff']);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.include('skipped Deployment shop/report');
    const both = await runInject(['-f', OPTED_OUT, '-f', DEPLOYMENT, '--meshconfig', GOLDEN_MESHCONFIG, '--diff']);
    expect(both.stdout.match(/^--- /gm), 'one diff: only the file that changes').to.have.length(1);
    expect(both.stdout).to.include(`--- ${DEPLOYMENT}`);
  });

  it('CRLF input and a missing final newline: the same changes as the LF file, in CRLF, and still no final newline', async () => {
    const source = fs.readFileSync(path.join(REPO_ROOT, DEPLOYMENT), 'utf8');
    const crlf = source.replace(/\n/g, '\r\n').replace(/\r\n$/, '');
    const plain = await runInject(['-f', DEPLOYMENT, '--meshconfig', GOLDEN_MESHCONFIG, '--diff']);
    const result = await runInject(['-f', 'crlf.yaml', '--meshconfig', GOLDEN_MESHCONFIG, '--diff'], { files: { 'crlf.yaml': crlf } });
    expect(result.code, result.stderr).to.equal(0);
    const changed = (diff: string): string[] => diff.split('\n').filter((line) => /^[-+][^-+]/.test(line)).map((line) => line.replace(/\r$/, ''));
    // The same changes as for the LF file (the carriage returns are not changes), except that the
    // last line, which had no newline, gets one because the mesh volume now follows it.
    const lastLine = '          defaultMode: 0644 # octal, as kubectl reads it';
    expect(changed(result.stdout).filter((line) => line.slice(1) !== lastLine)).to.deep.equal(changed(plain.stdout));
    expect(changed(result.stdout).filter((line) => line.slice(1) === lastLine)).to.deep.equal([`-${lastLine}`, `+${lastLine}`]);
    expect(result.stdout).to.include('\\ No newline at end of file');
    expect(plain.stdout).to.not.include('No newline');

    const injected = await runInject(['-f', 'crlf.yaml', '--meshconfig', GOLDEN_MESHCONFIG], { files: { 'crlf.yaml': crlf } });
    expect(injected.stdout, 'every line ends in CRLF').to.not.match(/[^\r]\n/);
    expect(injected.stdout.endsWith('\n'), 'no final newline added').to.equal(false);
  });

  it('stdin is labelled <stdin>; --diff with -o is a usage error (exit 2)', async () => {
    const source = fs.readFileSync(path.join(REPO_ROOT, DEPLOYMENT), 'utf8');
    const result = await runInject(['-f', '-', '--meshconfig', GOLDEN_MESHCONFIG, '--diff'], { stdin: source });
    expect(result.stdout.split('\n')[0]).to.equal('--- <stdin>\t(original)');
    const usage = await runInject(['-f', DEPLOYMENT, '--diff', '-o', 'json']);
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.include('--diff compares YAML');
  });
});
