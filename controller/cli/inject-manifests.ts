// Manifest streams for `meshinit inject`: multi-document YAML (or JSON) in, the same documents out.
// People review and commit the output, so a document the injection does not change is written
// back byte for byte, and an injected one is edited in its YAML tree rather than re-serialised
// from a plain object, so its comments and the order of the fields we did not touch survive.
import { isRecord } from '../core/untrusted.ts';
import isEqual from 'lodash/isEqual.js';
import { Document, isCollection, isMap, isNode, isScalar, isSeq, parseAllDocuments, visit } from 'yaml';
import type { CreateNodeOptions, DocumentOptions, Node, ParseOptions, SchemaOptions, Tags, ToStringOptions } from 'yaml';

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

/** Where a new key reads best, by Kubernetes convention (the core appends new keys at the end). */
const PLACE_BEFORE: Readonly<Record<string, string>> = { initContainers: 'containers', metadata: 'spec' };

/** Plain data in, plain nodes out: no anchors invented for objects the core happens to share. */
const CREATE_OPTIONS: CreateNodeOptions = { aliasDuplicateObjects: false };

export interface Manifest {
  /** Where the manifest came from, for messages: `app.yaml: document 3` (`, item 2` in a List). */
  origin: string;
  /** The document as plain data (what policy and injection see); null for an empty document. */
  value: unknown;
  /** The YAML tree, re-stringified once the manifest has been changed. */
  document: Document;
  /** The input text of the document, written out verbatim while the manifest is unchanged. */
  text: string | undefined;
}

export type ParsedManifests = { ok: true; manifests: Manifest[]; warnings: string[] } | { ok: false; message: string };


/**
 * The source text of one document without its `---` line (the output writes its own separators).
 * Undefined when the text cannot stand alone: directives, or content on the `---` line itself.
 */
function documentText(prefix: string, body: string): string | undefined {
  if (/^%/m.test(prefix)) return undefined;
  let text = body;
  if (body.startsWith('---')) {
    const newline = body.indexOf('\n');
    const rest = newline < 0 ? body.slice(3) : body.slice(3, newline);
    const after = newline < 0 ? '' : body.slice(newline + 1);
    if (/^\s*$/.test(rest)) text = after;
    else if (/^\s+#/.test(rest)) text = `${rest.trim()}\n${after}`;
    else return undefined;
  }
  const whole = prefix + text;
  return whole === '' || whole.endsWith('\n') ? whole : `${whole}\n`;
}

function hasAlias(node: Node): boolean {
  let found = false;
  visit(node, {
    Alias: () => {
      found = true;
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * Whether a node can be kept and edited. Editing around aliases could change what else points at
 * an anchor, or leave an alias without one; and a JSON object (a flow collection) would come out
 * as one endless line. Those are written afresh from their data, as block YAML.
 */
function editable(node: unknown): node is Node {
  return isNode(node) && !(isCollection(node) && node.flow === true) && !hasAlias(node);
}

/** The comments above a document's first line (yaml attaches them at one of three levels). */
function leadingComment(document: Document): string | undefined {
  const contents = document.contents;
  const firstKey = isMap(contents) && isNode(contents.items[0]?.key) ? contents.items[0].key : undefined;
  const comments = [document.commentBefore, isNode(contents) ? contents.commentBefore : undefined, firstKey?.commentBefore];
  return comments.filter((comment) => typeof comment === 'string' && comment !== '').join('\n') || undefined;
}

/** One document per item of a `kind: List`, keeping each item's YAML node (and its comments). */
function expandList(document: Document, value: Record<string, unknown> & { items: unknown[] }, origin: string): Manifest[] {
  const itemsNode = isMap(document.contents) ? document.contents.get('items', true) : undefined;
  return value.items.map((item, index) => {
    const node = isSeq(itemsNode) ? itemsNode.items[index] : undefined;
    const itemDocument = new Document(null, YAML_OPTIONS);
    // Cloned to keep its comments, unless it is JSON or holds an alias to the List's anchors.
    const contents = editable(node) ? (node.clone() as Node) : itemDocument.createNode(item, CREATE_OPTIONS);
    // The List's leading comment would otherwise be lost with the List itself.
    const listComment = index === 0 ? leadingComment(document) : undefined;
    if (listComment !== undefined) contents.commentBefore = [listComment, contents.commentBefore].filter(Boolean).join('\n');
    itemDocument.contents = contents;
    return { origin: `${origin}, item ${index + 1}`, value: item, document: itemDocument, text: undefined };
  });
}

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

/** Parses a stream; `kind: List` documents are replaced by their items when `expandLists` is set. */
export function parseManifests(source: string, label: string, expandLists = true): ParsedManifests {
  const documents = parseAllDocuments(source, YAML_OPTIONS);
  const manifests: Manifest[] = [];
  const warnings: string[] = [];
  let segmentStart = 0;
  for (const [index, document] of documents.entries()) {
    const origin = `${label}: document ${index + 1}`;
    const [error] = document.errors;
    if (error) return { ok: false, message: `${origin}: ${error.message.trimEnd()}` };
    for (const warning of document.warnings) warnings.push(`${origin}: ${warning.message.trimEnd()}`);
    // Documents tile the stream: comments before a `---` belong to the document before it, and
    // whatever follows the last document belongs to the last one.
    const segmentEnd = index === documents.length - 1 ? source.length : document.range[2];
    const text = documentText(source.slice(segmentStart, document.range[0]), source.slice(document.range[0], segmentEnd));
    segmentStart = segmentEnd;
    let value: unknown;
    try {
      value = document.toJS();
    } catch (caught) {
      return { ok: false, message: `${origin}: ${caught instanceof Error ? caught.message : String(caught)}` };
    }
    if (isCircular(value)) return { ok: false, message: `${origin}: a recursive alias makes the document contain itself, which no Kubernetes object can` };
    if (expandLists && isRecord(value) && value.kind === 'List' && Array.isArray(value.items)) {
      manifests.push(...expandList(document, { ...value, items: value.items }, origin));
      continue;
    }
    // A trailing `---` or an empty stream yields an empty document: nothing to keep.
    if ((value === null || value === undefined) && (text ?? '').trim() === '') continue;
    manifests.push({ origin, value: value ?? null, document, text });
  }
  return { ok: true, manifests, warnings };
}

function nodeValue(node: unknown, document: Document): unknown {
  return isNode(node) ? node.toJS(document) : node;
}

function nameOf(value: unknown): string | undefined {
  return isRecord(value) && typeof value.name === 'string' ? value.name : undefined;
}

/**
 * Edits `node` in place until it holds `value`, keeping every node whose data is unchanged (and
 * with it comments, quoting and key order). List items are matched by `name` where they have one,
 * so a prepended init container does not rewrite the ones after it.
 */
function reconcile(document: Document, node: unknown, value: unknown): unknown {
  if (isNode(node) && isEqual(nodeValue(node, document), value)) return node;
  if (isMap(node) && isRecord(value)) {
    const seen = new Set<string>();
    node.items = node.items.filter((pair) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (!Object.hasOwn(value, key) || seen.has(key)) return false;
      seen.add(key);
      pair.value = reconcile(document, pair.value, value[key]);
      return true;
    });
    for (const [key, item] of Object.entries(value)) {
      if (seen.has(key)) continue;
      const pair = document.createPair(key, item, CREATE_OPTIONS);
      const next = Object.hasOwn(PLACE_BEFORE, key) ? PLACE_BEFORE[key] : undefined;
      const at = next === undefined ? -1 : node.items.findIndex((candidate) => isScalar(candidate.key) && candidate.key.value === next);
      if (at < 0) node.items.push(pair);
      else node.items.splice(at, 0, pair);
    }
    return node;
  }
  if (isSeq(node) && Array.isArray(value)) {
    const previous = [...node.items];
    const used = new Set<number>();
    node.items = value.map((item: unknown, index: number) => {
      const name = nameOf(item);
      const at =
        name !== undefined
          ? previous.findIndex((candidate, i) => !used.has(i) && nameOf(nodeValue(candidate, document)) === name)
          : index < previous.length && !used.has(index) && nameOf(nodeValue(previous[index], document)) === undefined
            ? index
            : -1;
      if (at < 0) return document.createNode(item, CREATE_OPTIONS);
      used.add(at);
      return reconcile(document, previous[at], item);
    });
    return node;
  }
  return document.createNode(value, CREATE_OPTIONS);
}

/** The manifest holding `value` instead, its YAML edited from a copy of the original tree. */
export function withValue(manifest: Manifest, value: unknown): Manifest {
  const document = manifest.document.clone();
  document.contents = editable(document.contents)
    ? (reconcile(document, document.contents, value) as Node)
    : document.createNode(value, CREATE_OPTIONS);
  return { origin: manifest.origin, value, document, text: undefined };
}

function manifestYaml(manifest: Manifest): string {
  const text = manifest.text ?? manifest.document.toString(STRINGIFY_OPTIONS);
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** The manifests as one YAML stream, documents separated by `---`. */
export function renderYaml(manifests: readonly Manifest[]): string {
  return manifests.map(manifestYaml).join('---\n');
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
