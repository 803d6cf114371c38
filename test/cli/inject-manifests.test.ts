// The manifest stream layer of `meshinit inject`: verbatim pass-through, edits that keep comments,
// YAML 1.1 as kubectl reads it, and the default MeshConfig's location.
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultMeshConfigPath, findPackageRoot } from '../../controller/cli/default-meshconfig.ts';
import { parseManifests, parseSingleDocument, renderJsonList, renderYaml, withValue, type Manifest } from '../../controller/cli/inject-manifests.ts';
import { REPO_ROOT } from './helpers.ts';

function parse(text: string): Manifest[] {
  const parsed = parseManifests(text, 'in.yaml');
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.manifests;
}

describe('inject manifests', () => {
  describe('parseManifests and renderYaml', () => {
    it('round-trips a stream byte for byte, whatever its indentation, quoting and comments', () => {
      const text = '# head\na:   1   # spaced\nlist:\n- x\n-   "y"\n---\n# before b\nb: {c: [1,2]}\n...\n---\nc: |\n  text\n';
      expect(renderYaml(parse(text))).to.equal(text);
      for (const verbatim of ['a: 1\n...\n# next\n---\nb: 2\n', 'a: 1\n--- # second\nb: 2\n', '%YAML 1.1\n---\na: 1\n', '\uFEFFa: 1\r\nb: 2', 'a: 1 #\ttab\n']) {
        expect(renderYaml(parse(verbatim)), JSON.stringify(verbatim)).to.equal(verbatim);
      }
    });

    it('keeps the empty document of a trailing --- in the text, but not as a manifest', () => {
      const manifests = parse('a: 1\n---\n# only a comment\n---\n');
      expect(manifests.map((m) => m.value)).to.deep.equal([{ a: 1 }, null]);
      expect(renderYaml(manifests)).to.equal('a: 1\n---\n# only a comment\n---\n');
      expect(renderYaml(parse(''))).to.equal('');
    });

    it('reads YAML 1.1 as kubectl does: octal 0644 and yes, but timestamps and 1:30 stay strings', () => {
      const [manifest] = parse('mode: 0644\nflag: yes\nday: 2024-01-02\ntime: 1:30\n');
      expect(manifest!.value).to.deep.equal({ mode: 420, flag: true, day: '2024-01-02', time: '1:30' });
    });

    it('reports the first YAML error with the file and document number', () => {
      const parsed = parseManifests('a: 1\n---\nb: 1\nb: 2\n', 'x.yaml');
      expect(parsed.ok).to.equal(false);
      if (!parsed.ok) expect(parsed.message).to.match(/^x\.yaml: document 2: Map keys must be unique/);
    });

    it('reads the items of a List as manifests and writes the List back as a List', () => {
      const text = 'kind: List\nitems:\n- kind: A # first\n- kind: B\n';
      const manifests = parse(text);
      expect(manifests.map((m) => [m.origin, m.value])).to.deep.equal([
        ['in.yaml: document 1, item 1', { kind: 'A' }],
        ['in.yaml: document 1, item 2', { kind: 'B' }],
      ]);
      expect(renderYaml(manifests)).to.equal(text);
      expect(renderYaml([manifests[0]!, withValue(manifests[1]!, { kind: 'B', x: [1] })])).to.equal('kind: List\nitems:\n- kind: A # first\n- kind: B\n  x:\n  - 1\n');
      const unexpanded = parseManifests('kind: List\nitems: []\n', 'x', false);
      expect(unexpanded.ok && unexpanded.manifests.map((m) => m.value)).to.deep.equal([{ kind: 'List', items: [] }]);
    });

    it('passes a JSON document through verbatim', () => {
      const json = '{\n  "kind": "Service",\n  "metadata": {"name": "s"}\n}\n';
      expect(renderYaml(parse(json))).to.equal(json);
    });

    it('joins files with --- (... before a file with directives) and keeps a BOM only at the start', () => {
      const first = parse('\uFEFFa: 1');
      const second = parseManifests('\uFEFF%YAML 1.1\n---\nb: 2\n', 'two.yaml');
      const third = parseManifests('--- # three\nc: 3\n', 'three.yaml');
      if (!second.ok || !third.ok) throw new Error('parse failed');
      expect(renderYaml([...first, ...second.manifests, ...third.manifests])).to.equal('\uFEFFa: 1\n...\n%YAML 1.1\n---\nb: 2\n--- # three\nc: 3\n');
    });
  });

  describe('withValue', () => {
    it('edits only what changed: formatting, comments and quoting elsewhere stay; list items matched by name', () => {
      const [manifest] = parse('# top\nkind: X # kind\nspec:\n  b: "quoted"\n  items:\n  - name: one # first\n    v: 1\n  - name: two\n');
      const value = { kind: 'X', spec: { b: 'quoted', items: [{ name: 'zero' }, { name: 'one', v: 1 }, { name: 'two', w: 'yes' }] }, extra: true };
      const out = renderYaml([withValue(manifest!, value)]);
      expect(out).to.equal('# top\nkind: X # kind\nspec:\n  b: "quoted"\n  items:\n  - name: zero\n  - name: one # first\n    v: 1\n  - name: two\n    w: "yes"\nextra: true\n');
      expect(parse(out)[0]!.value).to.deep.equal(value);
      expect(renderYaml([manifest!]), 'the original is not modified').to.equal(renderYaml(parse(renderYaml([manifest!]))));
    });

    it('puts a new initContainers before containers and a new metadata before spec', () => {
      const [manifest] = parse('template:\n  spec:\n    containers: []\n');
      const out = renderYaml([withValue(manifest!, { template: { spec: { containers: [], initContainers: [{ name: 'i' }] }, metadata: { a: 'b' } } })]);
      expect(out).to.equal('template:\n  metadata:\n    a: b\n  spec:\n    initContainers:\n    - name: i\n    containers: []\n');
    });

    it('writes new sequence items as their siblings are written: indented under the key or not, CRLF, flow', () => {
      const [indented] = parse('list:\r\n    -   name: a\r\n        v: 1\r\nflow: [ x ]\r\n');
      expect(renderYaml([withValue(indented!, { list: [{ name: 'a', v: 1 }, { name: 'b', v: 2 }], flow: ['x', 'z'] })])).to.equal(
        'list:\r\n    -   name: a\r\n        v: 1\r\n    - name: b\r\n      v: 2\r\nflow: [ x, z ]\r\n',
      );
      const [last] = parse('a:\n- 1');
      expect(renderYaml([withValue(last!, { a: [1, 2] })]), 'no final newline added').to.equal('a:\n- 1\n- 2');
    });

    it('where a file mixes sequence styles, new sequences follow the nearest ones', () => {
      const [manifest] = parse('ports:\n- 80\nspec:\n  containers:\n    - name: a\n');
      const out = renderYaml([withValue(manifest!, { ports: [80], spec: { containers: [{ name: 'a' }], volumes: [{ name: 'v' }] } })]);
      expect(out).to.equal('ports:\n- 80\nspec:\n  containers:\n    - name: a\n  volumes:\n    - name: v\n');
    });

    it('expands an alias that must change, leaving its anchor and the anchor\'s other users as they were', () => {
      const [aliased] = parse('base: &b {x: 1}\ncopy: *b\nother: *b\n');
      expect(renderYaml([withValue(aliased!, { base: { x: 1 }, copy: { x: 2 }, other: { x: 1 } })])).to.equal('base: &b {x: 1}\ncopy:\n  x: 2\nother: *b\n');
    });

    it('rebuilds a document whose changed node is an anchor other aliases use, equal in data', () => {
      const [anchored] = parse('# kept\na: &x\n  b: 1\nc: *x\n');
      const value = { a: { b: 2 }, c: { b: 1 } };
      const out = renderYaml([withValue(anchored!, value)]);
      expect(out.startsWith('# kept\n')).to.equal(true);
      expect(parse(out)[0]!.value).to.deep.equal(value);
    });

    it('writes a JSON document back as JSON with its indentation and line endings', () => {
      const [json] = parse('{\r\n    "a": {\r\n        "b": 1\r\n    }\r\n}\r\n');
      expect(renderYaml([withValue(json!, { a: { b: 1, c: [1] } })])).to.equal('{\r\n    "a": {\r\n        "b": 1,\r\n        "c": [\r\n            1\r\n        ]\r\n    }\r\n}\r\n');
      const [tight] = parse('{"a": {"b": 1}}');
      expect(renderYaml([withValue(tight!, { a: { b: 2 } })]), 'one line stays one line').to.equal('{"a":{"b":2}}');
      const [odd] = parse('{\n   "a": {"b": 1}\n}\n');
      expect(renderYaml([withValue(odd!, { a: { b: 2 } })]), 'its indent kept').to.equal('{\n   "a": {\n      "b": 2\n   }\n}\n');
    });
  });

  describe('renderJsonList and parseSingleDocument', () => {
    it('renders a pretty v1 List without empty documents', () => {
      expect(renderJsonList(parse('a: 1\n---\n# c\n'))).to.equal('{\n  "apiVersion": "v1",\n  "kind": "List",\n  "items": [\n    {\n      "a": 1\n    }\n  ]\n}\n');
    });

    it('wants exactly one document', () => {
      expect(parseSingleDocument('# c\na: 1\n', 'f')).to.deep.equal({ ok: true, value: { a: 1 } });
      expect(parseSingleDocument('', 'f')).to.deep.equal({ ok: false, message: 'f: expected exactly one YAML or JSON document, found 0' });
    });
  });

  describe('default MeshConfig location', () => {
    it('finds the package root from the sources and from the build (one level deeper)', () => {
      expect(findPackageRoot(pathToFileURL(path.join(REPO_ROOT, 'controller/cli/default-meshconfig.ts')))).to.equal(REPO_ROOT);
      expect(findPackageRoot(pathToFileURL(path.join(REPO_ROOT, 'dist/controller/cli/default-meshconfig.js')).href)).to.equal(REPO_ROOT);
      expect(findPackageRoot()).to.equal(REPO_ROOT);
      expect(defaultMeshConfigPath()).to.equal(path.join(REPO_ROOT, 'manifests/meshconfig-sample.yaml'));
    });

    it('ignores package.json files of other packages and gives up at the filesystem root', async () => {
      const directory = await mkdtemp(path.join(os.tmpdir(), 'meshinit-root-'));
      try {
        const { writeFile, mkdir } = await import('node:fs/promises');
        await writeFile(path.join(directory, 'package.json'), '{"name": "something-else"}');
        await mkdir(path.join(directory, 'lib'));
        expect(findPackageRoot(path.join(directory, 'lib', 'x.js'))).to.equal(undefined);
        expect(defaultMeshConfigPath(path.join(directory, 'lib', 'x.js'))).to.equal(undefined);
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });
  });
});
