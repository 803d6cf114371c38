// A document written afresh from its data, for the few edits yaml-edit.ts cannot make in place
// (see renderStream in inject-manifests.ts): the YAML tree is edited, keeping every node whose data
// is unchanged (and with it comments and key order), and then stringified as a whole.
import { deepEqual } from '../core/equal.ts';
import { isCollection, isMap, isNode, isScalar, isSeq, visit } from 'yaml';
import type { CreateNodeOptions, Document, Node } from 'yaml';
import { isRecord } from '../core/untrusted.ts';
import { PLACE_BEFORE } from './yaml-style.ts';


/** Plain data in, plain nodes out: no anchors invented for objects the core happens to share. */
export const CREATE_OPTIONS: CreateNodeOptions = { aliasDuplicateObjects: false };

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
export function editable(node: unknown): node is Node {
  return isNode(node) && !(isCollection(node) && node.flow === true) && !hasAlias(node);
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
export function reconcile(document: Document, node: unknown, value: unknown): unknown {
  if (isNode(node) && deepEqual(nodeValue(node, document), value)) return node;
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

