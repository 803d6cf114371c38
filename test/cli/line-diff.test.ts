import { expect } from 'chai';
import fc from 'fast-check';
import { unifiedDiff } from '../../controller/cli/line-diff.ts';

const LABELS = { oldLabel: 'a.yaml\t(original)', newLabel: 'a.yaml\t(injected by meshinit)' };

function split(text: string): { lines: string[]; newline: boolean } {
  if (text === '') return { lines: [], newline: true };
  const lines = text.split('\n');
  const newline = lines[lines.length - 1] === '';
  if (newline) lines.pop();
  return { lines, newline };
}

/** Applies a unified diff to `text` (what patch(1) does), to check a diff against its input. */
function applyDiff(text: string, diff: string): string {
  if (diff === '') return text;
  const old = split(text);
  const out: string[] = [];
  let at = 0;
  let last = ' ';
  let withoutNewline = -1;
  for (const line of diff.split('\n').slice(2, -1)) {
    const hunk = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@$/.exec(line);
    if (hunk) {
      const start = Number(hunk[1]) - (hunk[2] === '0' ? 0 : 1);
      while (at < start) out.push(old.lines[at++]!);
    } else if (line === '\\ No newline at end of file') {
      if (last !== '-') withoutNewline = out.length;
    } else {
      last = line[0]!;
      if (last === ' ') out.push(old.lines[at++]!);
      else if (last === '-') at++;
      else out.push(line.slice(1));
    }
  }
  const copiedRest = at < old.lines.length;
  while (at < old.lines.length) out.push(old.lines[at++]!);
  const newline = copiedRest ? old.newline : withoutNewline !== out.length;
  return out.join('\n') + (out.length > 0 && newline ? '\n' : '');
}

describe('cli/line-diff: unified diffs as diff -u writes them', () => {
  it('one changed line, with 3 lines of context and diff -u\'s ranges', () => {
    const diff = unifiedDiff({ oldText: '1\n2\n3\n4\n5\n6\n7\n8\n', newText: '1\n2\n3\n4\nfive\n6\n7\n8\n', ...LABELS });
    expect(diff).to.equal('--- a.yaml\t(original)\n+++ a.yaml\t(injected by meshinit)\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n');
  });

  it('changes far apart make two hunks; close ones one', () => {
    const old = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const far = old.replace('line 2\n', 'line two\n').replace('line 25\n', 'line 25\nadded\n');
    expect(unifiedDiff({ oldText: old, newText: far, ...LABELS }).match(/^@@/gm)).to.have.length(2);
    const near = old.replace('line 2\n', 'line two\n').replace('line 7\n', 'line seven\n');
    expect(unifiedDiff({ oldText: old, newText: near, ...LABELS }).match(/^@@/gm)).to.have.length(1);
  });

  it('an unchanged text is an empty diff', () => {
    expect(unifiedDiff({ oldText: 'a\nb\n', newText: 'a\nb\n', ...LABELS })).to.equal('');
    expect(unifiedDiff({ oldText: '', newText: '', ...LABELS })).to.equal('');
  });

  it('a missing newline at the end is marked as diff -u marks it', () => {
    expect(unifiedDiff({ oldText: 'a\nb', newText: 'a\nb\n', ...LABELS })).to.equal('--- a.yaml\t(original)\n+++ a.yaml\t(injected by meshinit)\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n');
    expect(unifiedDiff({ oldText: 'a\n', newText: 'a\nb', ...LABELS })).to.equal('--- a.yaml\t(original)\n+++ a.yaml\t(injected by meshinit)\n@@ -1 +1,2 @@\n a\n+b\n\\ No newline at end of file\n');
  });

  it('CRLF input: lines compare without their carriage return, so only real changes show, and context keeps the CRLF', () => {
    const diff = unifiedDiff({ oldText: 'kind: Deployment\r\nname: web\r\nimage: a\r\n', newText: 'kind: Deployment\nname: web\nimage: b\n', ...LABELS });
    expect(diff).to.equal('--- a.yaml\t(original)\n+++ a.yaml\t(injected by meshinit)\n@@ -1,3 +1,3 @@\n kind: Deployment\r\n name: web\r\n-image: a\r\n+image: b\n');
  });

  it('from and to empty texts', () => {
    expect(unifiedDiff({ oldText: '', newText: 'x\n', ...LABELS })).to.equal('--- a.yaml\t(original)\n+++ a.yaml\t(injected by meshinit)\n@@ -0,0 +1 @@\n+x\n');
    expect(unifiedDiff({ oldText: 'x\n', newText: '', ...LABELS })).to.equal('--- a.yaml\t(original)\n+++ a.yaml\t(injected by meshinit)\n@@ -1 +0,0 @@\n-x\n');
  });

  it('applying the diff to the old text gives the new one, and no diff is longer than it must be (property)', () => {
    const text = fc.array(fc.constantFrom('a', 'b', 'c', 'd', '', '  - name: x'), { maxLength: 40 }).chain((lines) =>
      fc.boolean().map((newline) => (lines.length === 0 ? '' : lines.join('\n') + (newline ? '\n' : ''))));
    fc.assert(fc.property(text, text, (oldText, newText) => {
      const diff = unifiedDiff({ oldText, newText, ...LABELS });
      expect(diff === '').to.equal(oldText === newText);
      expect(applyDiff(oldText, diff)).to.equal(newText);
    }), { numRuns: 500 });
  });

  it('a long file with a few insertions stays fast (the common head and tail are not searched)', () => {
    const old = Array.from({ length: 50_000 }, (_, i) => `  key${i}: value`).join('\n') + '\n';
    const lines = old.split('\n');
    lines.splice(25_000, 0, '  injected: true');
    const started = Date.now();
    const diff = unifiedDiff({ oldText: old, newText: lines.join('\n'), ...LABELS });
    expect(Date.now() - started).to.be.below(1000);
    expect(diff.match(/^\+ {2}injected: true$/gm)).to.have.length(1);
  });
});
