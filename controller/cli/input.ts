// Reading what the offline commands (`inject`, `explain -f`) are given: files relative to the
// working directory, or stdin for "-". A read failure names the file.
import path from 'node:path';

export interface InputIo {
  stdin: NodeJS.ReadableStream;
  readFile(path: string): Promise<string>;
  cwd: string;
}

/** Bad input that ends a run; the message is written as is. */
export class InputError extends Error {}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The label messages use for a file: `<stdin>` for "-". */
export function inputLabel(file: string): string {
  return file === '-' ? '<stdin>' : file;
}

export async function readInput(file: string, io: InputIo): Promise<string> {
  try {
    return file === '-' ? await readStdin(io.stdin) : await io.readFile(path.resolve(io.cwd, file));
  } catch (error) {
    throw new InputError(`${inputLabel(file)}: cannot read: ${message(error)}`);
  }
}
