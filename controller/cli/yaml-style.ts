// Where things are in a YAML source and how the file writes them: line and column arithmetic over
// node ranges, and the style new text must follow (indent step, `- ` under its key or beside it,
// line ending), read from the document itself. Used by yaml-edit.ts.
import { isMap, isNode, isPair, visit } from 'yaml';
import type { Node } from 'yaml';

/** Where a new key reads best, by Kubernetes convention (the core appends new keys at the end). */
export const PLACE_BEFORE: Readonly<Record<string, string>> = { initContainers: 'containers', metadata: 'spec' };

/** How the file writes what we add: its indent step and whether `- ` is indented under its key. */
export interface Style {
  indent: number;
  indentSeq: boolean;
  eol: string;
}

export function lineStart(source: string, at: number): number {
  return source.lastIndexOf('\n', at - 1) + 1;
}

/** The start of the line after the one `at` is on (or `at` when it already starts a line). */
export function endOfLine(source: string, at: number): number {
  if (at > 0 && source[at - 1] === '\n') return at;
  const newline = source.indexOf('\n', at);
  return newline < 0 ? source.length : newline + 1;
}

export function column(source: string, at: number): number {
  return at - lineStart(source, at);
}

export function start(node: Node): number {
  return node.range?.[0] ?? -1;
}

export function valueEnd(node: Node): number {
  return node.range?.[1] ?? -1;
}

/** The `-` of a block sequence item (the item's own range starts after it). */
export function dashOf(source: string, item: Node): number | undefined {
  let at = start(item) - 1;
  while (at >= 0 && (source[at] === ' ' || source[at] === '\t')) at -= 1;
  return source[at] === '-' ? at : undefined;
}

/** Read once per document: the items of a long List share it. */
const STYLES = new WeakMap<Node, Omit<Style, 'eol'>>();

/** The file's indent step and sequence style, read from its first nested map and block sequence. */
export function styleOf(source: string, root: Node): Omit<Style, 'eol'> {
  const known = STYLES.get(root);
  if (known !== undefined) return known;
  const style = readStyle(source, root);
  STYLES.set(root, style);
  return style;
}

function readStyle(source: string, root: Node): Omit<Style, 'eol'> {
  let indent: number | undefined;
  visit(root, {
    Pair: (_key, pair, path) => {
      const parent = path[path.length - 1];
      const grand = path[path.length - 2];
      if (!isNode(pair.key) || !isMap(parent) || parent.flow || !isPair(grand) || !isNode(grand.key)) return undefined;
      indent = column(source, start(pair.key)) - column(source, start(grand.key));
      return visit.BREAK;
    },
  });
  return { indent: indent !== undefined && indent > 0 ? indent : 2, indentSeq: seqIndentedIn(source, root) ?? false };
}

/** Whether the first block sequence under a key in `root` has its `- ` indented under that key. */
export function seqIndentedIn(source: string, root: Node): boolean | undefined {
  let indented: boolean | undefined;
  visit(root, {
    Seq: (_key, seq, path) => {
      const parent = path[path.length - 1];
      const first = seq.items[0];
      if (seq.flow || !isPair(parent) || !isNode(parent.key) || !isNode(first)) return undefined;
      const dash = dashOf(source, first);
      if (dash === undefined) return undefined;
      indented = column(source, dash) > column(source, start(parent.key));
      return visit.BREAK;
    },
  });
  return indented;
}

/** The line ending the file uses (its first one). */
export function lineEnding(source: string): string {
  const newline = source.indexOf('\n');
  return newline > 0 && source[newline - 1] === '\r' ? '\r\n' : '\n';
}

