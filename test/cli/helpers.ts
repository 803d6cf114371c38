// In-process runs of `meshinit inject`: real files from the repository, plus virtual files for
// inputs that only make sense inline (broken YAML, a clashing workload).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runInjectCommand, type InjectIo } from '../../controller/cli/inject-command.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const GOLDEN_DIR = 'test/cli/golden';
export const GOLDEN_MESHCONFIG = `${GOLDEN_DIR}/meshconfig.yaml`;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Files by path relative to the repository root; they shadow real files. */
  files?: Record<string, string>;
  stdin?: string;
}

export async function runInject(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const virtual = new Map(Object.entries(options.files ?? {}).map(([file, text]) => [path.resolve(REPO_ROOT, file), text]));
  const io: InjectIo = {
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdout: { write: (s: string) => stdout.push(s) },
    stderr: { write: (s: string) => stderr.push(s) },
    readFile: async (file: string) => virtual.get(file) ?? readFile(file, 'utf8'),
    cwd: REPO_ROOT,
  };
  const code = await runInjectCommand(argv, io);
  return { code, stdout: stdout.join(''), stderr: stderr.join('') };
}

export function stderrLines(result: RunResult): string[] {
  return result.stderr.split('\n').filter((line) => line !== '');
}

/** An in-process run of `meshinit explain`, with the same virtual files as runInject. */
export async function runExplain(argv: string[], options: RunOptions & { env?: Record<string, string> } = {}): Promise<RunResult> {
  const { runExplainCommand } = await import('../../controller/cli/explain-command.ts');
  const stdout: string[] = [];
  const stderr: string[] = [];
  const virtual = new Map(Object.entries(options.files ?? {}).map(([file, text]) => [path.resolve(REPO_ROOT, file), text]));
  const code = await runExplainCommand(argv, {
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdout: { write: (s: string) => stdout.push(s) },
    stderr: { write: (s: string) => stderr.push(s) },
    readFile: async (file: string) => virtual.get(file) ?? readFile(file, 'utf8'),
    cwd: REPO_ROOT,
    env: options.env ?? {},
    version: '0.0.0-test',
  });
  return { code, stdout: stdout.join(''), stderr: stderr.join('') };
}
