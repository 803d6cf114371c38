// The meshinit command line: a subcommand switch and nothing else. Each command's module is
// imported when that command runs: the offline commands (inject, explain -f) must start fast, and
// never load the controller or @kubernetes/client-node.
import type { ExplainIo } from './cli/explain-command.ts';
import type { InjectIo } from './cli/inject-command.ts';
import type { RunIo } from './run-command.ts';

export const MAIN_HELP = `meshinit: puts a service-mesh sidecar into Kubernetes workloads, driven by MeshConfig resources.

Usage:
  meshinit run [flags]        Run the controller (initializer mode on 1.7-1.13, webhook mode elsewhere)
  meshinit inject -f FILE     Inject manifests offline and print the result (--diff: a unified diff)
  meshinit explain KIND/NAME  Why a workload is injected or not (live; -f FILE offline)
  meshinit version            Print the version
  meshinit COMMAND --help     Help for a command
`;

export type MainIo = InjectIo & RunIo & ExplainIo;

export async function main(argv: readonly string[], io: MainIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return (await import('./run-command.ts')).runCommand(rest, io);
    case 'inject':
      return (await import('./cli/inject-command.ts')).runInjectCommand(rest, io);
    case 'explain':
      return (await import('./cli/explain-command.ts')).runExplainCommand(rest, io);
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
