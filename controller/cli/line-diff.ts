// A unified diff of two texts, line by line, in the format of `diff -u`: `---`/`+++` headers,
// `@@ -a,b +c,d @@` hunks with 3 lines of context, and `\ No newline at end of file`. Texts in,
// text out: it knows nothing of how `meshinit inject` produces its output, so it keeps working
// when that changes. Myers' O(ND) algorithm after trimming the common head and tail: injection
// changes a few places in a file, so D is small even for long manifests.

export interface UnifiedDiffRequest {
  oldText: string;
  newText: string;
  oldLabel: string;
  newLabel: string;
  /** Lines of context around each change (`diff -u`: 3). */
  context?: number;
}

interface Line {
  /** The line without its end of line; a trailing `\r` is not part of it (as `diff --strip-trailing-cr`). */
  key: string;
  /** The line as written (without `\n`), for the output. */
  text: string;
  /** The last line of a text that does not end with a newline. */
  noNewline: boolean;
}

type Edit = { op: ' ' | '-' | '+'; line: Line };

function splitLines(text: string): Line[] {
  if (text === '') return [];
  const parts = text.split('\n');
  const endsWithNewline = parts[parts.length - 1] === '';
  if (endsWithNewline) parts.pop();
  return parts.map((part, index) => ({
    key: part.endsWith('\r') ? part.slice(0, -1) : part,
    text: part,
    noNewline: !endsWithNewline && index === parts.length - 1,
  }));
}

function sameLine(a: Line, b: Line): boolean {
  return a.key === b.key && a.noNewline === b.noNewline;
}

/** Beyond this many differences, the middle is shown as removed and added whole (quadratic memory otherwise). */
const MAX_EDIT_DISTANCE = 2000;

/** The shortest edit script from `a` to `b` (Myers 1986, forward search with the V arrays kept for the way back). */
function myers(a: Line[], b: Line[]): Edit[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const offset = max + 1;
  let v: Int32Array = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= Math.min(max, MAX_EDIT_DISTANCE); d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && sameLine(a[x]!, b[y]!)) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    if (found >= 0) break;
  }
  if (found < 0) return [...a.map((line): Edit => ({ op: '-', line })), ...b.map((line): Edit => ({ op: '+', line }))];
  const edits: Edit[] = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    v = trace[d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? k + 1 : k - 1;
    const prevX = v[offset + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      edits.push({ op: ' ', line: a[--x]! });
      y--;
    }
    if (x === prevX) edits.push({ op: '+', line: b[--y]! });
    else edits.push({ op: '-', line: a[--x]! });
  }
  while (x > 0 && y > 0) {
    edits.push({ op: ' ', line: a[--x]! });
    y--;
  }
  return edits.reverse();
}

/** The edit script: common head, Myers on the middle, common tail. */
export function diffLines(oldText: string, newText: string): Edit[] {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let head = 0;
  while (head < a.length && head < b.length && sameLine(a[head]!, b[head]!)) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && sameLine(a[a.length - 1 - tail]!, b[b.length - 1 - tail]!)) tail++;
  return [
    ...a.slice(0, head).map((line): Edit => ({ op: ' ', line })),
    ...myers(a.slice(head, a.length - tail), b.slice(head, b.length - tail)),
    ...a.slice(a.length - tail).map((line): Edit => ({ op: ' ', line })),
  ];
}

function range(start: number, count: number): string {
  // diff -u: an empty range names the line before it; a one-line range has no count.
  if (count === 0) return `${start},0`;
  return count === 1 ? `${start + 1}` : `${start + 1},${count}`;
}

/** `diff -u` output, or '' when the texts have the same lines. */
export function unifiedDiff(request: UnifiedDiffRequest): string {
  const context = request.context ?? 3;
  const edits = diffLines(request.oldText, request.newText);
  const changes = edits.map((edit, index) => (edit.op === ' ' ? -1 : index)).filter((index) => index >= 0);
  if (changes.length === 0) return '';
  // Group changes whose context windows touch into one hunk.
  const hunks: Array<{ from: number; to: number }> = [];
  for (const index of changes) {
    const from = Math.max(0, index - context);
    const to = Math.min(edits.length, index + context + 1);
    const last = hunks[hunks.length - 1];
    if (last && from <= last.to) last.to = Math.max(last.to, to);
    else hunks.push({ from, to });
  }
  const out = [`--- ${request.oldLabel}`, `+++ ${request.newLabel}`];
  let oldLine = 0;
  let newLine = 0;
  let at = 0;
  for (const hunk of hunks) {
    for (; at < hunk.from; at++) {
      if (edits[at]!.op !== '+') oldLine++;
      if (edits[at]!.op !== '-') newLine++;
    }
    const slice = edits.slice(hunk.from, hunk.to);
    const oldCount = slice.filter((edit) => edit.op !== '+').length;
    const newCount = slice.filter((edit) => edit.op !== '-').length;
    out.push(`@@ -${range(oldLine, oldCount)} +${range(newLine, newCount)} @@`);
    for (const edit of slice) {
      out.push(`${edit.op}${edit.line.text}`);
      if (edit.line.noNewline) out.push('\\ No newline at end of file');
    }
    oldLine += oldCount;
    newLine += newCount;
    at = hunk.to;
  }
  return `${out.join('\n')}\n`;
}
