// `meshinit inject` on manifests shaped like the public ones people feed it (Istio's injection test
// inputs, Google's microservices-demo, the Kubernetes docs, ingress-nginx, prometheus-operator, an
// Argo workflow, Helm output with `# Source:` comments, kubectl's List and JSON, CRLF with anchors).
// A reviewer reads the output as a diff against the input, so that diff must be the injection and
// nothing else: no line of the input removed or re-indented, every added line part of an injected
// item or annotation; and the diff is a patch that gives exactly the output.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import isEqual from 'lodash/isEqual.js';
import { parseAllDocuments, stringify } from 'yaml';
import { STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { GOLDEN_MESHCONFIG, REPO_ROOT, runInject } from './helpers.ts';

const DIR = 'test/cli/realworld';
const FILES = readdirSync(path.join(REPO_ROOT, DIR)).sort();

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

interface Status {
  initContainers: string[];
  containers: string[];
  volumes: string[];
  imagePullSecrets: string[];
  podAnnotations: string[];
}

function statusOf(object: Json): Status | undefined {
  const metadata = isObject(object.metadata) ? object.metadata : {};
  const annotations = isObject(metadata.annotations) ? metadata.annotations : {};
  const status = annotations[STATUS_ANNOTATION];
  return typeof status === 'string' ? (JSON.parse(status) as Status) : undefined;
}

/** Every injected thing in `value`, found through the status annotations: [where, what] pairs. */
function injectedParts(value: unknown, found: Array<{ key: string; value: unknown }> = []): Array<{ key: string; value: unknown }> {
  if (Array.isArray(value)) value.forEach((item) => injectedParts(item, found));
  if (!isObject(value)) return found;
  const status = statusOf(value);
  if (status !== undefined) {
    const annotations = (value.metadata as Json).annotations as Json;
    found.push({ key: STATUS_ANNOTATION, value: annotations[STATUS_ANNOTATION] });
    const spec = isObject(value.spec) ? value.spec : {};
    if (Array.isArray(spec.containers)) {
      for (const key of status.podAnnotations) found.push({ key, value: annotations[key] });
      for (const field of ['initContainers', 'containers', 'volumes', 'imagePullSecrets'] as const) {
        const items = Array.isArray(spec[field]) ? (spec[field] as Json[]) : [];
        for (const item of items.filter((entry) => status[field].includes(entry.name as string))) found.push({ key: field, value: item });
      }
    }
  }
  Object.values(value).forEach((item) => injectedParts(item, found));
  return found;
}

/** The object with everything its status annotations list taken out again (and emptied keys). */
function withoutInjected(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutInjected);
  if (!isObject(value)) return value;
  const status = statusOf(value);
  const copy: Json = Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withoutInjected(item)]));
  if (status !== undefined) {
    const metadata = { ...(copy.metadata as Json) };
    const annotations = { ...(metadata.annotations as Json) };
    delete annotations[STATUS_ANNOTATION];
    const spec = isObject(copy.spec) ? { ...copy.spec } : undefined;
    if (spec !== undefined && Array.isArray(spec.containers)) {
      for (const key of status.podAnnotations) delete annotations[key];
      for (const field of ['initContainers', 'containers', 'volumes', 'imagePullSecrets'] as const) {
        if (Array.isArray(spec[field])) spec[field] = (spec[field] as Json[]).filter((item) => !status[field].includes(item.name as string));
        if (Array.isArray(spec[field]) && (spec[field] as unknown[]).length === 0) delete spec[field];
      }
      copy.spec = spec;
    }
    metadata.annotations = annotations;
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
    copy.metadata = metadata;
    // A pod template without metadata gets one for the annotations.
    if (Object.keys(metadata).length === 0) delete copy.metadata;
  }
  return copy;
}

/** The lines any rendering of the injected parts can have, trimmed: YAML (block or not) and JSON. */
function injectedLines(parts: Array<{ key: string; value: unknown }>): Set<string> {
  const lines = new Set<string>();
  const add = (text: string) => {
    for (const line of text.split('\n')) lines.add(line.trim().replace(/^(?:- )+/, '').replace(/,$/, ''));
  };
  for (const part of parts) {
    for (const rendered of [stringify({ [part.key]: part.value }, { lineWidth: 0 }), stringify({ [part.key]: [part.value] }, { lineWidth: 0 })]) add(rendered);
    for (const indent of [2, 4]) add(JSON.stringify({ [part.key]: [part.value] }, null, indent));
    add(JSON.stringify({ [part.key]: part.value }, null, 4));
  }
  for (const header of ['metadata:', '"metadata": {', 'annotations:', 'initContainers:', 'volumes:', 'imagePullSecrets:', '"annotations": {', '"initContainers": [', '"volumes": [', '}', ']']) lines.add(header);
  return lines;
}

function documents(text: string): unknown[] {
  return parseAllDocuments(text, { version: '1.1' }).map((document) => {
    expect(document.errors, String(document.errors[0])).to.deep.equal([]);
    return document.toJS() as unknown;
  });
}

/** Removed and added lines of a unified diff, without the file headers. */
function changedLines(diff: string): { removed: string[]; added: string[] } {
  const body = diff.split('\n').filter((line) => !/^(?:---|\+\+\+) .*\t\(/.test(line));
  return { removed: body.filter((line) => line.startsWith('-')).map((line) => line.slice(1)), added: body.filter((line) => line.startsWith('+')).map((line) => line.slice(1)) };
}

describe('meshinit inject on real-world-shaped manifests', () => {
  it('has inputs to test', () => expect(FILES.length).to.be.at.least(10));

  for (const file of FILES) {
    describe(file, () => {
      const input = `${DIR}/${file}`;

      it('the diff against the input touches only injected lines', async () => {
        const source = await readFile(path.join(REPO_ROOT, input), 'utf8');
        const result = await runInject(['-f', input, '--meshconfig', GOLDEN_MESHCONFIG, '--diff']);
        expect(result.code, result.stderr).to.equal(0);
        const injected = await runInject(['-f', input, '--meshconfig', GOLDEN_MESHCONFIG]);
        const parts = injectedParts(documents(injected.stdout));
        expect(parts.length, 'something was injected').to.be.greaterThan(0);
        const { removed, added } = changedLines(result.stdout);
        // Only JSON may change an input line, and only by the comma before a new entry.
        const commaFixes = removed.filter((line) => added.includes(`${line},`));
        expect(removed, 'removed or re-indented input lines').to.deep.equal(commaFixes);
        const allowed = injectedLines(parts);
        const stray = added.filter((line) => !commaFixes.includes(line.replace(/,$/, '')) && !allowed.has(line.replace(/\r$/, '').trim().replace(/^(?:- )+/, '').replace(/,$/, '')));
        expect(stray, 'added lines that are no injected item').to.deep.equal([]);
        // Line endings: the file's own.
        if (source.includes('\r\n')) expect(injected.stdout).to.not.match(/[^\r]\n/);
      });

      it('patch -p0 with the --diff turns the file into exactly what inject prints', async () => {
        const diff = await runInject(['-f', input, '--meshconfig', GOLDEN_MESHCONFIG, '--diff']);
        const injected = await runInject(['-f', input, '--meshconfig', GOLDEN_MESHCONFIG]);
        const dir = mkdtempSync(path.join(os.tmpdir(), 'meshinit-realworld-'));
        try {
          mkdirSync(path.join(dir, DIR), { recursive: true });
          copyFileSync(path.join(REPO_ROOT, input), path.join(dir, input));
          execFileSync('patch', ['-p0', '--quiet', '--binary'], { cwd: dir, input: diff.stdout });
          expect(readFileSync(path.join(dir, input), 'utf8')).to.equal(injected.stdout);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it('everything the status annotations do not list comes back equal, and the output is a fixed point', async () => {
        const source = await readFile(path.join(REPO_ROOT, input), 'utf8');
        const injected = await runInject(['-f', input, '--meshconfig', GOLDEN_MESHCONFIG]);
        const before = documents(source);
        const after = documents(injected.stdout);
        expect(after.length).to.equal(before.length);
        after.forEach((document, index) => expect(isEqual(withoutInjected(document), before[index]), `document ${index + 1}`).to.equal(true));
        const again = await runInject(['-f', input.replace(/\.json$/, '.yaml'), '--meshconfig', GOLDEN_MESHCONFIG], { files: { [input.replace(/\.json$/, '.yaml')]: injected.stdout } });
        expect(again.stdout).to.equal(injected.stdout);
      });
    });
  }
});
