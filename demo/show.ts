// What both demos print: workload summaries and meshinit's JSON log lines made readable.
import type { Json } from '../test/e2e/cluster.ts';
import type { MeshinitProcess } from '../test/e2e/cluster.ts';

export const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);

export function say(text = ''): void {
  process.stdout.write(`${text}\n`);
}

export function podSpecOf(object: Json): { containers?: Array<{ name: string; image?: string }>; initContainers?: Array<{ name: string }> } {
  return ((object.spec as { template?: { spec?: unknown } } | undefined)?.template?.spec ?? {}) as { containers?: Array<{ name: string }> };
}

export function names(list: Array<{ name: string }> | undefined): string {
  return (list ?? []).map((item) => item.name).join(', ') || '-';
}

export function logLine(line: Json): string {
  const { level, message, timestamp, ...fields } = line;
  const rest = Object.entries(fields).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`).join(' ');
  return `${String(timestamp ?? '').slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${String(message)} ${rest}`;
}

/** Prints meshinit's log so far, then follows it until SIGINT or SIGTERM. */
export async function followLog(meshinit: MeshinitProcess): Promise<void> {
  say('meshinit log (Ctrl-C to stop and tear everything down):');
  for (const line of meshinit.lines) say(`  ${logLine(line)}`);
  let shown = meshinit.lines.length;
  const timer = setInterval(() => {
    for (; shown < meshinit.lines.length; shown++) say(`  ${logLine(meshinit.lines[shown]!)}`);
  }, 200);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(timer);
  say('\nStopping meshinit and the control plane ...');
}

/** Runs a demo's main and exits with its outcome. */
export function runDemo(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`meshinit demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
