// Loads the `curl -i` transcripts recorded against real 1.9 / 1.13 API servers, so nock replies in
// tests are what a server actually said. The files are raw captures with annotations around them:
// `# ...` comment lines before the status line, `elapsed 0.01 s` after a JSON body, and notes after
// a blank line following a plain-text body.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WatchEvent } from '../../controller/kube/types.ts';
import type { KubeObject } from '../../controller/core/types.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** CI clones the repository with `shared/` beside it. */
export const fixturesRoot = path.resolve(repoRoot, '../shared/fixtures/legacy-apiserver');

export interface Transcript {
  statusCode: number;
  /** Response headers, names lower-cased; Transfer-Encoding dropped, Content-Length matches rawBody. */
  headers: Record<string, string>;
  /** The body exactly as the server sent it (annotations stripped). */
  rawBody: string;
  /** The body parsed as JSON when it is JSON, else the text. */
  body: unknown;
}

export function readFixture(relPath: string): string {
  return fs.readFileSync(path.join(fixturesRoot, relPath), 'utf8');
}

export function loadJsonFixture<T = unknown>(relPath: string): T {
  return JSON.parse(readFixture(relPath)) as T;
}

/** Index just past the JSON value starting at `start` (which must be `{` or `[`). */
function endOfJsonValue(text: string, start: number, relPath: string): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === '{' || c === '[') {
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new Error(`${relPath}: JSON body is cut off (this recording elides it)`);
}

/** Parses the first HTTP response in a transcript file. */
export function loadTranscript(relPath: string): Transcript {
  const text = readFixture(relPath);
  const statusMatch = /^HTTP\/[\d.]+ (\d{3})[^\n]*\n/m.exec(text);
  if (!statusMatch) throw new Error(`${relPath}: no HTTP status line`);
  const statusCode = Number(statusMatch[1]);
  const afterStatus = statusMatch.index + statusMatch[0].length;
  const blank = /\r?\n\r?\n/.exec(text.slice(afterStatus - 1));
  if (!blank) throw new Error(`${relPath}: no blank line after headers`);
  const headerEnd = afterStatus - 1 + blank.index;
  const bodyStart = headerEnd + blank[0].length;

  const headers: Record<string, string> = {};
  for (const line of text.slice(afterStatus, headerEnd).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    // curl shows the decoded body, so chunked framing and the recorded length no longer apply.
    if (name === 'transfer-encoding' || name === 'content-length') continue;
    headers[name] = line.slice(colon + 1).trim();
  }

  const rest = text.slice(bodyStart);
  let rawBody: string;
  let body: unknown;
  if (rest.startsWith('{') || rest.startsWith('[')) {
    rawBody = rest.slice(0, endOfJsonValue(rest, 0, relPath));
    body = JSON.parse(rawBody);
  } else {
    // Plain text runs until a blank line followed by annotations, or the end of the file.
    const note = /\n\s*\n#/.exec(rest);
    rawBody = (note ? rest.slice(0, note.index) : rest).replace(/\s+$/, '') + '\n';
    body = rawBody;
  }
  headers['content-length'] = String(Buffer.byteLength(rawBody));
  return { statusCode, headers, rawBody, body };
}

/** Arguments for nock's `.reply(...)`: status, the raw body, the recorded headers. */
export function nockReply(t: Transcript): [number, string, Record<string, string>] {
  return [t.statusCode, t.rawBody, t.headers];
}

/** The recorded NDJSON watch stream as events, and its raw text. */
export function loadWatchEvents(relPath: string): WatchEvent<KubeObject>[] {
  return readFixture(relPath)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as WatchEvent<KubeObject>);
}
