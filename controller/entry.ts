// Process entry point: the only place that touches process globals.
import { readFile } from 'node:fs/promises';
import { main } from './main.ts';

async function packageVersion(): Promise<string> {
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const parsed = JSON.parse(await readFile(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'meshinit' && parsed.version) return parsed.version;
    } catch {
      // Not at this level: sources run from controller/, the build from dist/controller/.
    }
  }
  return 'unknown';
}

const argv = process.argv.slice(2);
const code = await main(argv, {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  readFile: (path) => readFile(path, 'utf8'),
  cwd: process.cwd(),
  env: process.env,
  version: await packageVersion(),
  waitForStopSignal: () =>
    new Promise((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    }),
});
process.exitCode = code;
// A stopped controller may still hold keep-alive sockets; its work is done, so leave now.
if (argv[0] === 'run') process.exit(code);
