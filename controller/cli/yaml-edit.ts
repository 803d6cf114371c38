// Minimal text edits that turn a YAML node's source into the source of a changed value. A reviewer
// reads `meshinit inject` output as a diff against the input, so every byte the injection did not
// change is copied verbatim (indentation, comments, quoting, flow sequences, line endings), and
// only what changed is written by the YAML library, in the style of its siblings: the column of
// the keys around it, `- ` under or beside its key as the file does, the file's indent step.
import { deepEqual } from '../core/equal.ts';
import { Document, isAlias, isMap, isNode, isScalar, isSeq } from 'yaml';
import type { Node, Pair, YAMLMap, YAMLSeq } from 'yaml';
import { column, dashOf, endOfLine, lineEnding, lineStart, PLACE_BEFORE, seqIndentedIn, start, styleOf, valueEnd, type Style } from './yaml-style.ts';

/** Replace source[from, to) with text; inserts have from === to. */
export interface TextEdit {
  from: number;
  to: number;
  text: string;
}

interface EditContext {
  source: string;
  style: Style;
  edits: TextEdit[];
}

/** Moves an insertion point above the full-line comments right over it at the same column. */
function aboveComments(source: string, at: number, col: number): number {
  let point = at;
  while (point > 0) {
    const previous = lineStart(source, point - 1);
    const line = source.slice(previous, point);
    if (!/^[ \t]*#/.test(line) || line.length - line.trimStart().length !== col) break;
    point = previous;
  }
  return point;
}

/** `value` with new keys where they read best (PLACE_BEFORE), at every level. */
function conventionalOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(conventionalOrder);
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value).map(([key, item]): [string, unknown] => [key, conventionalOrder(item)]);
  for (const [key, next] of Object.entries(PLACE_BEFORE)) {
    const from = entries.findIndex(([candidate]) => candidate === key);
    const to = entries.findIndex(([candidate]) => candidate === next);
    if (from > to && to >= 0) entries.splice(to, 0, ...entries.splice(from, 1));
  }
  return Object.fromEntries(entries);
}

/** Block YAML for `value`, every line but the first indented to `col`, in the file's line ending. */
function block(context: EditContext, value: unknown, col: number, indentFirst: boolean): string {
  const document = new Document(conventionalOrder(value), { version: '1.1', aliasDuplicateObjects: false });
  const rendered = document.toString({ indent: context.style.indent, indentSeq: context.style.indentSeq, lineWidth: 0, flowCollectionPadding: false });
  const pad = ' '.repeat(col);
  const lines = rendered.replace(/\n$/, '').split('\n');
  return lines.map((line, index) => ((index > 0 || indentFirst) && line !== '' ? pad + line : line) + context.style.eol).join('');
}

/** One line of YAML for a scalar or flow collection, undefined when it needs more. */
function inline(source: string, value: unknown, like: Node): string | undefined {
  const document = new Document(value, { version: '1.1', aliasDuplicateObjects: false });
  if (isScalar(like) && isScalar(document.contents) && typeof value === 'string' && typeof like.value === 'string') document.contents.type = like.type;
  if ((isMap(document.contents) || isSeq(document.contents)) && !isScalar(like)) document.contents.flow = true;
  // `[ a, b ]` stays padded, `[a, b]` stays tight.
  const padded = /^[[{] /.test(source.slice(start(like), start(like) + 2));
  const text = document.toString({ lineWidth: 0, flowCollectionPadding: padded }).replace(/\n$/, '');
  return text.includes('\n') ? undefined : text;
}

/** An insert at `at`; at the end of a file without a final newline, the newline comes first. */
function insert(context: EditContext, at: number, text: string): void {
  const { source, style } = context;
  if (at === source.length && source !== '' && !source.endsWith('\n')) {
    context.edits.push({ from: at, to: at, text: style.eol + text.slice(0, text.length - style.eol.length) });
  } else {
    context.edits.push({ from: at, to: at, text });
  }
}

/** Replaces a whole block (a pair or a sequence item from its `-`) with freshly written YAML. */
function replaceBlock(context: EditContext, from: number, to: number, value: unknown, col: number): void {
  const { source } = context;
  let text = block(context, value, col, false);
  if (to === source.length && !source.endsWith('\n')) text = text.slice(0, text.length - context.style.eol.length);
  context.edits.push({ from, to, text });
}

function pairKey(pair: Pair): string | undefined {
  return isScalar(pair.key) && (typeof pair.key.value === 'string' || typeof pair.key.value === 'number') ? String(pair.key.value) : undefined;
}

function pairEnd(context: EditContext, pair: Pair): number {
  const last = isNode(pair.value) ? pair.value : (pair.key as Node);
  return endOfLine(context.source, valueEnd(last));
}

function editMap(context: EditContext, node: YAMLMap, before: Record<string, unknown>, after: Record<string, unknown>): boolean {
  const { source } = context;
  const keys = node.items.map(pairKey);
  // A merge key (`<<: *base`) or a complex key: the data is not the pairs as written.
  if (keys.some((key) => key === undefined || key === '<<') || node.items.length === 0) return false;
  const firstKey = node.items[0]!.key as Node;
  const col = column(source, start(firstKey));
  node.items.forEach((pair, index) => {
    const key = keys[index]!;
    const keyStart = start(pair.key as Node);
    if (!Object.hasOwn(after, key)) {
      context.edits.push({ from: lineStart(source, keyStart), to: pairEnd(context, pair), text: '' });
    } else if (!deepEqual(before[key], after[key])) {
      if (!isNode(pair.value) || !editNode(context, pair.value, before[key], after[key])) {
        replaceBlock(context, keyStart, pairEnd(context, pair), { [key]: after[key] }, col);
      }
    }
  });
  for (const [key, value] of Object.entries(after)) {
    if (Object.hasOwn(before, key)) continue;
    const next = Object.hasOwn(PLACE_BEFORE, key) ? node.items.find((pair) => pairKey(pair) === PLACE_BEFORE[key]) : undefined;
    const at = next === undefined ? pairEnd(context, node.items[node.items.length - 1]!) : aboveComments(source, lineStart(source, start(next.key as Node)), col);
    insert(context, at, block(localStyle(context, node), { [key]: value }, col, true));
  }
  return true;
}

function nameOf(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null && typeof (value as { name?: unknown }).name === 'string' ? (value as { name: string }).name : undefined;
}

/** For each new item, the index of the old item it is (by name where items have one), or -1. */
function matchItems(before: unknown[], after: unknown[]): number[] | undefined {
  const used = new Set<number>();
  const matches = after.map((item, index) => {
    const name = nameOf(item);
    const at =
      name !== undefined
        ? before.findIndex((candidate, i) => !used.has(i) && nameOf(candidate) === name)
        : index < before.length && !used.has(index) && nameOf(before[index]) === undefined
          ? index
          : -1;
    if (at >= 0) used.add(at);
    return at;
  });
  const kept = matches.filter((at) => at >= 0);
  // Reordered items cannot be written as inserts and deletes around the ones that stay.
  return kept.every((at, i) => i === 0 || at > kept[i - 1]!) ? matches : undefined;
}

function editSeq(context: EditContext, node: YAMLSeq, before: unknown[], after: unknown[]): boolean {
  const { source } = context;
  const items = node.items.filter(isNode);
  if (items.length !== node.items.length || items.length === 0) return false;
  const dashes = items.map((item) => dashOf(source, item));
  if (dashes.some((dash) => dash === undefined)) return false;
  const matches = matchItems(before, after);
  if (matches === undefined) return false;
  const col = column(source, dashes[0]!);
  const itemEnd = (index: number) => endOfLine(source, valueEnd(items[index]!));
  const itemStart = (index: number) => aboveComments(source, lineStart(source, dashes[index]!), col);
  items.forEach((item, index) => {
    if (!matches.includes(index)) context.edits.push({ from: itemStart(index), to: itemEnd(index), text: '' });
  });
  after.forEach((value, index) => {
    const at = matches[index]!;
    if (at >= 0) {
      if (!deepEqual(before[at], value) && !editNode(context, items[at]!, before[at], value)) replaceBlock(context, dashes[at]!, itemEnd(at), [value], col);
      return;
    }
    const nextKept = matches.slice(index + 1).find((candidate) => candidate >= 0);
    insert(context, nextKept === undefined ? itemEnd(items.length - 1) : itemStart(nextKept), block(localStyle(context, node), [value], col, true));
  });
  return true;
}

/**
 * Adds the edits that turn `node` (which holds `before`) into `after`; false when the node cannot
 * be edited in place and its parent must write it afresh: an alias (expanded there, so the anchor's
 * other users keep their value), a merge key, reordered items, a value of another shape.
 */
function editNode(context: EditContext, node: Node, before: unknown, after: unknown): boolean {
  if (deepEqual(before, after)) return true;
  if (isAlias(node)) return false;
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isMap(node) && !node.flow && isObject(before) && isObject(after)) return editMap(context, node, before, after);
  if (isSeq(node) && !node.flow && Array.isArray(before) && Array.isArray(after)) return editSeq(context, node, before, after);
  if (isScalar(node) || ((isMap(node) || isSeq(node)) && node.flow === true)) {
    if (typeof after === 'object' && after !== null && isScalar(node)) return false;
    const text = inline(context.source, after, node);
    if (text === undefined) return false;
    context.edits.push({ from: start(node), to: valueEnd(node), text });
    return true;
  }
  return false;
}

/**
 * The style for what is added to `node`: sequences as the nearest ones are written (a pod spec's
 * `containers`, a container's `ports`), where the file mixes both styles; else the file's style.
 */
function localStyle(context: EditContext, node: Node): EditContext {
  const indentSeq = seqIndentedIn(context.source, node);
  return indentSeq === undefined || indentSeq === context.style.indentSeq ? context : { ...context, style: { ...context.style, indentSeq } };
}

/**
 * The edits that turn the text of `node` into a node holding `after`; undefined when the node
 * itself must be written afresh. New text follows the style of the document `styleRoot` heads.
 */
export function nodeEdits(params: { source: string; node: Node; styleRoot: Node; before: unknown; after: unknown }): TextEdit[] | undefined {
  const { source, node, styleRoot, before, after } = params;
  const context: EditContext = { source, style: { ...styleOf(source, styleRoot), eol: lineEnding(source) }, edits: [] };
  return editNode(context, node, before, after) ? context.edits : undefined;
}

/** A sequence item written afresh, from its `-` to the end of its last line. */
export function itemReplacement(params: { source: string; item: Node; styleRoot: Node; value: unknown }): TextEdit | undefined {
  const { source, item, styleRoot, value } = params;
  const dash = dashOf(source, item);
  if (dash === undefined) return undefined;
  const context: EditContext = { source, style: { ...styleOf(source, styleRoot), eol: lineEnding(source) }, edits: [] };
  replaceBlock(context, dash, endOfLine(source, valueEnd(item)), [value], column(source, dash));
  return context.edits[0];
}

/** Applies edits (non-overlapping; inserts at one point keep their order). */
export function applyEdits(source: string, edits: readonly TextEdit[]): string {
  const sorted = edits.map((edit, order) => ({ ...edit, order })).sort((a, b) => a.from - b.from || a.order - b.order);
  let out = '';
  let at = 0;
  for (const edit of sorted) {
    if (edit.from < at) throw new Error(`overlapping edits at offset ${edit.from}`);
    out += source.slice(at, edit.from) + edit.text;
    at = edit.to;
  }
  return out + source.slice(at);
}
