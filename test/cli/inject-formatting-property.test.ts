// A property over many formattings of the same manifests: whatever the indent step, sequence
// style, flow collections, anchors and aliases, trailing comments, line endings, document markers
// and final newline, `meshinit inject` removes no input line (but the last one when the file has
// no final newline and something is added after it, and a flow collection that gains entries,
// rewritten on its own line), the objects come back as the core injected them, and injecting
// again changes nothing. Seeded: a failure names its seed (MESHINIT_FORMAT_SEED to replay one).
import { expect } from 'chai';
import { Document, isPair, isScalar, parseAllDocuments, stringify, visit } from 'yaml';
import type { ToStringOptions } from 'yaml';
import { diffLines } from '../../controller/cli/line-diff.ts';
import { mulberry32 as random } from '../support/legacy-apiserver/prng.ts';
import { GOLDEN_MESHCONFIG, runInject } from './helpers.ts';

const RUNS = 150;

function workload(name: string, pick: () => number): Record<string, unknown> {
  const containers = [{ name, image: `ghcr.io/example/${name}:1.0`, ports: [{ containerPort: 8080 }], args: ['--port', '8080'] }];
  const podSpec: Record<string, unknown> = { containers };
  if (pick() < 0.5) podSpec.volumes = [{ name: 'data', emptyDir: {} }];
  if (pick() < 0.3) podSpec.initContainers = [{ name: 'migrate', image: 'migrate:1' }];
  const template: Record<string, unknown> = { spec: podSpec };
  // One labels object used twice comes out as an anchor and an alias.
  const labels = { app: name };
  if (pick() < 0.8) template.metadata = { labels, ...(pick() < 0.4 ? { annotations: { team: 'shop' } } : {}) };
  const kind = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'][Math.floor(pick() * 4)]!;
  const selector = { matchLabels: pick() < 0.4 ? labels : { app: name } };
  return { apiVersion: kind === 'Job' ? 'batch/v1' : 'apps/v1', kind, metadata: { name }, spec: { ...(kind === 'Job' ? {} : { selector }), template } };
}

/** YAML text of `value`, some of its collections of scalars written in flow style (`[a, b]`). */
function render(value: unknown, options: ToStringOptions, pick: () => number): string {
  const document = new Document(value);
  visit(document, {
    Collection: (_key, node) => {
      if (node.items.every((item) => isScalar(item) || (isPair(item) && isScalar(item.value))) && pick() < 0.3) node.flow = true;
    },
  });
  return document.toString(options);
}

function formatted(seed: number): string {
  const pick = random(seed);
  const options: ToStringOptions = { indent: 2 + Math.floor(pick() * 3), indentSeq: pick() < 0.5, lineWidth: 0 };
  const documents = [render(workload('web', pick), options, pick), render({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } }, options, pick)];
  if (pick() < 0.5) documents.reverse();
  let text = (pick() < 0.3 ? '---\n' : '') + documents.join(pick() < 0.2 ? '...\n---\n' : '---\n');
  if (pick() < 0.5) text = text.replace(/\n/g, () => (pick() < 0.2 ? '   # note\n' : '\n'));
  if (pick() < 0.3) text = `# generated\n${text}`;
  if (pick() < 0.3) text = text.replace(/\n$/, '');
  if (pick() < 0.3) text = text.replace(/\n/g, '\r\n');
  return text;
}

async function inject(text: string) {
  return runInject(['-f', 'in.yaml', '--meshconfig', GOLDEN_MESHCONFIG], { files: { 'in.yaml': text } });
}

describe('meshinit inject over many formattings of the same manifests', () => {
  it(`removes no input line, injects what the core computes, and is a fixed point (${RUNS} seeds)`, async function () {
    this.timeout(120_000);
    const fixed = process.env.MESHINIT_FORMAT_SEED;
    const seeds = fixed !== undefined ? [Number(fixed)] : Array.from({ length: RUNS }, (_, i) => 20261130 + i);
    for (const seed of seeds) {
      const input = formatted(seed);
      const result = await inject(input);
      expect(result.code, `seed ${seed}: ${result.stderr}`).to.equal(0);
      expect(result.stdout, `seed ${seed}: injected`).to.include("name: mesh-proxy");
      const lastLine = input.endsWith('\n') ? undefined : input.slice(input.lastIndexOf('\n') + 1).replace(/\r$/, '');
      const removed = diffLines(input, result.stdout)
        .filter((edit) => edit.op === '-')
        .map((edit) => edit.line.key);
      // A flow collection that gains entries is rewritten on its line: the key before it stays.
      const added = diffLines(input, result.stdout).filter((edit) => edit.op === '+').map((edit) => edit.line.key);
      const flowEdit = (line: string) => /[[{]/.test(line) && added.some((other) => other.startsWith(line.slice(0, line.search(/[[{]/) + 1)));
      expect(removed.filter((line) => line !== lastLine && !flowEdit(line)), `seed ${seed}: removed input lines\n${input}`).to.deep.equal([]);
      // What the core would give, from the same input read as plain data and rendered afresh.
      const plain = (await inject(parseAllDocuments(input, { version: '1.1' }).map((document) => stringify(document.toJS())).join('---\n'))).stdout;
      const values = (text: string) => parseAllDocuments(text, { version: '1.1' }).map((document) => document.toJS() as unknown).filter((value) => value !== null);
      expect(values(result.stdout), `seed ${seed}`).to.deep.equal(values(plain));
      if (input.includes('\r\n')) expect(result.stdout, `seed ${seed}: CRLF kept`).to.not.match(/[^\r]\n/);
      expect((await inject(result.stdout)).stdout, `seed ${seed}: fixed point`).to.equal(result.stdout);
    }
  });
});
