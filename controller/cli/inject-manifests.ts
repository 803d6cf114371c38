// Manifest streams for `meshinit inject`: multi-document YAML (or JSON) in, the same files out.
// People review and commit the output as a diff against their file, so a file is written back
// byte for byte except where the injection changed it: those changes are made as text edits
// (yaml-edit.ts), checked by reading the edited document back, and only when no edit fits is a
// document rebuilt from its YAML tree (yaml-rebuild.ts).
import { isRecord } from '../core/untrusted.ts';
import { deepEqual } from '../core/equal.ts';
import { Document, isCollection, isMap, isNode, isSeq, parseAllDocuments } from 'yaml';
import type { DocumentOptions, Node, ParseOptions, SchemaOptions, Tags, ToStringOptions } from 'yaml';
import { applyEdits, itemReplacement, nodeEdits, type TextEdit } from './yaml-edit.ts';
import { lineEnding } from './yaml-style.ts';
import { CREATE_OPTIONS, editable, reconcile } from './yaml-rebuild.ts';
import type { Manifest, SourceDocument, Stream } from './manifest.ts';

export { withValue, type Manifest } from './manifest.ts';

/**
 * Read manifests as kubectl does (sigs.k8s.io/yaml, YAML 1.1): `0644` is octal and `yes` is a
 * boolean, and a new string such as "yes" is quoted on output. Timestamps and sexagesimal numbers
 * stay strings, as they do for Kubernetes; the 1.2 default would turn `defaultMode: 0644` into 644.
 */
const YAML_OPTIONS: DocumentOptions & ParseOptions & SchemaOptions = {
  version: '1.1',
  customTags: (tags: Tags) =>
    tags.filter((tag) => typeof tag === 'string' || (tag.tag !== 'tag:yaml.org,2002:timestamp' && tag.format !== 'TIME')),
  uniqueKeys: true,
  prettyErrors: true,
};

/** No folding of long strings (the status annotation is one long JSON line), no `---` of our own. */
const STRINGIFY_OPTIONS: ToStringOptions = { lineWidth: 0, directives: false, flowCollectionPadding: false };

export type ParsedManifests = { ok: true; manifests: Manifest[]; warnings: string[] } | { ok: false; message: string };

/** True when `value` contains itself (a recursive YAML alias): no Kubernetes object can. */
function isCircular(value: unknown): boolean {
  // Iterative depth-first walk keeping the current path: a deep document must not overflow the
  // stack, and an alias used twice side by side (not recursive) must not count.
  const onPath = new Set<object>();
  const stack: Array<{ node: object; children: unknown[] }> = [];
  const enter = (node: unknown): boolean => {
    if (typeof node !== 'object' || node === null) return false;
    if (onPath.has(node)) return true;
    onPath.add(node);
    stack.push({ node, children: Object.values(node) });
    return false;
  };
  if (enter(value)) return true;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.children.length === 0) {
      stack.pop();
      onPath.delete(top.node);
    } else if (enter(top.children.pop())) {
      return true;
    }
  }
  return false;
}

function isList(value: unknown): value is Record<string, unknown> & { items: unknown[] } {
  return isRecord(value) && value.kind === 'List' && Array.isArray(value.items);
}

/** Parses a stream; the items of a `kind: List` are manifests of their own when `expandLists` is set. */
export function parseManifests(text: string, label: string, expandLists = true): ParsedManifests {
  const stream: Stream = { source: text };
  const documents = parseAllDocuments(text, YAML_OPTIONS);
  const manifests: Manifest[] = [];
  const warnings: string[] = [];
  let from = 0;
  for (const [index, document] of documents.entries()) {
    const origin = `${label}: document ${index + 1}`;
    const [error] = document.errors;
    if (error) return { ok: false, message: `${origin}: ${error.message.trimEnd()}` };
    for (const warning of document.warnings) warnings.push(`${origin}: ${warning.message.trimEnd()}`);
    // Documents tile the stream: comments before a `---` belong to the document before it, and
    // whatever follows the last document belongs to the last one.
    const to = index === documents.length - 1 ? text.length : document.range[2];
    let value: unknown;
    try {
      value = document.toJS();
    } catch (caught) {
      return { ok: false, message: `${origin}: ${caught instanceof Error ? caught.message : String(caught)}` };
    }
    if (isCircular(value)) return { ok: false, message: `${origin}: a recursive alias makes the document contain itself, which no Kubernetes object can` };
    const source: SourceDocument = { stream, document, from, to, value };
    from = to;
    if (expandLists && isList(value)) {
      manifests.push(...value.items.map((item, at) => ({ origin: `${origin}, item ${at + 1}`, value: item, source, item: at })));
      continue;
    }
    // A trailing `---` or an empty stream yields an empty document: its text is kept, but it is
    // no manifest.
    if (value === null || value === undefined) {
      if (text.slice(source.from, source.to).replace(/^(?:---|\.\.\.)[ \t]*\r?$/gm, '').trim() === '') continue;
      value = null;
    }
    manifests.push({ origin, value, source, item: undefined });
  }
  // A file of nothing but comments or empty documents holds no manifest; it is still written back.
  if (manifests.length === 0 && text.trim() !== '') {
    manifests.push({ origin: `${label}: document 1`, value: null, source: { stream, document: new Document(null, YAML_OPTIONS), from: 0, to: text.length, value: null }, item: undefined });
  }
  return { ok: true, manifests, warnings };
}

function readValue(manifest: Manifest): unknown {
  const document = manifest.source.value;
  return manifest.item === undefined ? document : isList(document) ? document.items[manifest.item] : undefined;
}

/** The document's data once its changed manifests are written into it. */
function expectedValue(source: SourceDocument, changed: readonly Manifest[]): unknown {
  const single = changed.find((manifest) => manifest.item === undefined);
  if (single !== undefined || !isList(source.value)) return single?.value;
  const items = [...source.value.items];
  for (const manifest of changed) items[manifest.item!] = manifest.value;
  return { ...source.value, items };
}

/** Edits that write the changed manifests into their document; undefined when it must be rebuilt. */
function documentEdits(source: SourceDocument, changed: readonly Manifest[]): TextEdit[] | undefined {
  const text = source.stream.source;
  const contents = source.document.contents;
  if (!isNode(contents)) return undefined;
  if (isCollection(contents) && contents.flow === true) {
    const json = jsonEdit(text, contents, source.value, expectedValue(source, changed));
    return json === undefined ? undefined : [json];
  }
  const items = isMap(contents) ? contents.get('items', true) : undefined;
  const edits: TextEdit[] = [];
  for (const manifest of changed) {
    const before = readValue(manifest);
    if (manifest.item === undefined) return nodeEdits({ source: text, node: contents, styleRoot: contents, before, after: manifest.value });
    const item = isSeq(items) ? items.items[manifest.item] : undefined;
    if (!isNode(item)) return undefined;
    const itemEdits = nodeEdits({ source: text, node: item, styleRoot: contents, before, after: manifest.value }) ?? [itemReplacement({ source: text, item, styleRoot: contents, value: manifest.value })];
    if (itemEdits.some((edit) => edit === undefined)) return undefined;
    edits.push(...(itemEdits as TextEdit[]));
  }
  return edits;
}

/**
 * A JSON document stays JSON: when its text is what JSON.stringify writes with some indentation
 * (as kubectl -o json prints), the changed object is written the same way.
 */
function jsonEdit(text: string, contents: Node, before: unknown, after: unknown): TextEdit | undefined {
  const [from, to] = contents.range ?? [0, 0];
  const written = text.slice(from, to).replace(/\r\n/g, '\n');
  const eol = lineEnding(text);
  for (const indent of [2, 4, '\t', 1, 3, 8, 0]) {
    if (JSON.stringify(before, null, indent) === written) return { from, to, text: JSON.stringify(after, null, indent).replace(/\n/g, eol) };
  }
  return undefined;
}

/** The document written afresh from its data, between the comments around it (kept verbatim). */
function rebuiltDocument(source: SourceDocument, expected: unknown): TextEdit {
  const text = source.stream.source;
  const document = source.document.clone();
  const original = source.document.contents as Node;
  const eol = lineEnding(text);
  if (isCollection(original) && original.flow === true) {
    // JSON that JSON.stringify would not write byte for byte: pretty-printed, with the indent of its
    // first indented line, one line when it had none.
    const written = text.slice(original.range![0], original.range![1]);
    const indent = written.includes('\n') ? (/\n([ \t]+)\S/.exec(written)?.[1] ?? '  ') : 0;
    return { from: original.range![0], to: original.range![1], text: JSON.stringify(expected, null, indent).replace(/\n/g, eol) };
  }
  document.contents = editable(document.contents) ? (reconcile(document, document.contents, expected) as Node) : document.createNode(expected, CREATE_OPTIONS);
  // The comments before and after the contents are outside the replaced range and stay as written.
  document.commentBefore = null;
  document.comment = null;
  const contents = document.contents as Node;
  contents.commentBefore = null;
  if (isMap(contents) && isNode(contents.items[0]?.key)) contents.items[0].key.commentBefore = null;
  let rendered = document.toString(STRINGIFY_OPTIONS).replace(/\n/g, eol);
  const to = original.range![1];
  if (to === text.length && !text.endsWith('\n')) rendered = rendered.slice(0, rendered.length - eol.length);
  return { from: original.range![0], to, text: rendered };
}

/** Whether the edited text of the document reads back as exactly the data it should hold. */
function readsBackAs(text: string, expected: unknown): boolean {
  const documents = parseAllDocuments(text, YAML_OPTIONS);
  const [document] = documents;
  if (documents.length !== 1 || document === undefined || document.errors.length > 0) return false;
  try {
    return deepEqual(document.toJS(), expected);
  } catch {
    return false;
  }
}

/**
 * A stream with its changed manifests written in: minimal edits where they read back as the data
 * they should hold (checked by parsing the edited document again), the whole document rebuilt
 * otherwise (an anchor whose other users would change with it, a merge key at the document's top).
 */
function renderStream(stream: Stream, manifests: readonly Manifest[]): string {
  const changedBySource = new Map<SourceDocument, Manifest[]>();
  for (const manifest of manifests) {
    if (manifest.value === readValue(manifest)) continue;
    const changed = changedBySource.get(manifest.source);
    if (changed === undefined) changedBySource.set(manifest.source, [manifest]);
    else changed.push(manifest);
  }
  const edits: TextEdit[] = [];
  for (const [source, changed] of changedBySource) {
    const expected = expectedValue(source, changed);
    const minimal = documentEdits(source, changed);
    const shifted = minimal?.map((edit) => ({ ...edit, from: edit.from - source.from, to: edit.to - source.from }));
    const fits = shifted !== undefined && readsBackAs(applyEdits(stream.source.slice(source.from, source.to), shifted), expected);
    edits.push(...(fits ? minimal! : [rebuiltDocument(source, expected)]));
  }
  return applyEdits(stream.source, edits);
}

/** What goes between two files in one output stream: a `---`, or `...` before directives. */
function separator(next: string): string {
  if (/^---/.test(next)) return '';
  return /^(?:[ \t]*(?:#.*)?\r?\n)*%/.test(next) ? '...\n' : '---\n';
}

/** The manifests as one YAML stream: each input file as written, with only the injection changed. */
export function renderYaml(manifests: readonly Manifest[]): string {
  const byStream = new Map<Stream, Manifest[]>();
  for (const manifest of manifests) {
    const ofStream = byStream.get(manifest.source.stream);
    if (ofStream === undefined) byStream.set(manifest.source.stream, [manifest]);
    else ofStream.push(manifest);
  }
  let out = '';
  for (const [stream, ofStream] of byStream) {
    let text = renderStream(stream, ofStream);
    if (out !== '') {
      // A byte order mark is allowed at the start of the output only.
      text = text.replace(/^\uFEFF/, '');
      if (!out.endsWith('\n')) out += lineEnding(out);
      out += separator(text);
    }
    out += text;
  }
  return out;
}

/** The manifests as a pretty-printed v1 List, as `kubectl get -o json` writes several objects. */
export function renderJsonList(manifests: readonly Manifest[]): string {
  const items = manifests.map((manifest) => manifest.value).filter((value) => value !== null && value !== undefined);
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`;
}

/** A single document (a MeshConfig file); an error message for a stream of none or several. */
export function parseSingleDocument(source: string, label: string): { ok: true; value: unknown } | { ok: false; message: string } {
  const parsed = parseManifests(source, label, false);
  if (!parsed.ok) return parsed;
  const documents = parsed.manifests.filter((manifest) => manifest.value !== null);
  const [only] = documents;
  if (documents.length !== 1 || only === undefined) {
    return { ok: false, message: `${label}: expected exactly one YAML or JSON document, found ${documents.length}` };
  }
  return { ok: true, value: only.value };
}
