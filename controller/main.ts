// The meshinit command line: a subcommand switch and nothing else.
import { INJECT_HELP, runInjectCommand, type InjectIo } from './cli/inject-command.ts';
import { runCommand, type RunIo } from './run-command.ts';

export const MAIN_HELP = `meshinit: puts a service-mesh sidecar into Kubernetes workloads, driven by MeshConfig resources.

Usage:
  meshinit run [flags]        Run the controller (initializer mode on 1.7-1.13, webhook mode elsewhere)
  meshinit inject -f FILE     Inject manifests offline and print the result
  meshinit version            Print the version
  meshinit COMMAND --help     Help for a command
`;

export type MainIo = InjectIo & RunIo;

export async function main(argv: readonly string[], io: MainIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return runCommand(rest, io);
    case 'inject':
      return runInjectCommand(rest, io);
    case 'version':
    case '--version':
      io.stdout.write(`meshinit ${io.version}\n`);
      return 0;
    case undefined:
    case 'help':
    case '-h':
    case '--help':
      io.stdout.write(MAIN_HELP);
      return command === undefined ? 2 : 0;
    default:
      io.stderr.write(`meshinit: unknown command "${command}"\n\n${MAIN_HELP}`);
      return 2;
  }
}

export { INJECT_HELP };
