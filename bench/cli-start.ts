// Start time of the offline CLI (issue 12): wall time of the built `node bin/meshinit.js` for
//   inject --help                     nothing but the entry point and the inject command;
//   inject -f <one Deployment>        a small file, the everyday case;
//   explain -f <one Deployment>       the other offline command;
//   inject -f <1,000 documents>       500 Deployments and 500 Services in one stream;
// beside a bare `node -e ''` measured in the same rounds (the floor no CLI can beat), and, with
// --ref REF, the same commands from REF's build (e.g. the commit before a change). Commands run in
// turn within each round, so a busy moment of the machine hits all of them alike; the medians go
// to the table and to bench/results/cli-start.json.
//   node --import tsx bench/cli-start.ts [--rounds 11] [--ref REF]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../test/support/transcripts.ts';
import { median, writeResult, type Figure } from './result.ts';

const TARGET_MS = 300;
const MESHCONFIG = 'test/cli/golden/meshconfig.yaml';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '11' }, ref: { type: 'string' } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);

function deployment(name: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  replicas: 2 # two, for the rollout
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
        - name: ${name}
          image: ghcr.io/example/${name}:1.0
          ports:
            - containerPort: 8080
`;
}

function service(name: string): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector:
    app: ${name}
  ports:
  - port: 80
    targetPort: 8080
`;
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-cli-start-'));
const small = path.join(workDir, 'small.yaml');
const large = path.join(workDir, 'large.yaml');
fs.writeFileSync(small, deployment('web'));
fs.writeFileSync(large, Array.from({ length: 500 }, (_, i) => `${deployment(`app-${i}`)}---\n${service(`app-${i}`)}`).join('---\n'));

/** The built CLI of another commit, in a temporary directory that shares this node_modules. */
function buildRef(ref: string): string {
  const dir = path.join(workDir, 'ref');
  fs.mkdirSync(dir);
  execFileSync('bash', ['-c', `git -C "${repoRoot}" archive "${ref}" | tar -x -C "${dir}"`]);
  fs.symlinkSync(fs.realpathSync(path.join(repoRoot, 'node_modules')), path.join(dir, 'node_modules'));
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  return dir;
}

interface Command {
  name: string;
  argv: string[];
  /** Compared with TARGET_MS. */
  targeted: boolean;
}

function cliCommands(root: string, suffix: string): Command[] {
  const bin = path.join(root, 'bin/meshinit.js');
  const meshConfig = path.join(repoRoot, MESHCONFIG);
  return [
    { name: `inject --help${suffix}`, argv: [bin, 'inject', '--help'], targeted: true },
    { name: `inject -f (1 Deployment)${suffix}`, argv: [bin, 'inject', '-f', small, '--meshconfig', meshConfig], targeted: true },
    { name: `explain -f (1 Deployment)${suffix}`, argv: [bin, 'explain', '-f', small, '--meshconfig', meshConfig], targeted: true },
    { name: `inject -f (1,000 documents)${suffix}`, argv: [bin, 'inject', '-f', large, '--meshconfig', meshConfig], targeted: false },
  ];
}

function wallMs(argv: string[]): number {
  const started = process.hrtime.bigint();
  const run = spawnSync(process.execPath, argv, { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (run.status !== 0) throw new Error(`node ${argv.join(' ')} exited ${run.status}: ${run.stderr}`);
  return elapsed;
}

try {
  const baseline: Command = { name: "node -e ''", argv: ['-e', ''], targeted: false };
  const commands = [baseline, ...cliCommands(repoRoot, '')];
  if (values.ref !== undefined) commands.push(...cliCommands(buildRef(values.ref), ` (${values.ref})`));
  const samples = new Map(commands.map((command) => [command.name, [] as number[]]));
  for (const command of commands) wallMs(command.argv); // warm the file cache
  for (let round = 0; round < rounds; round += 1) {
    for (const command of commands) samples.get(command.name)!.push(wallMs(command.argv));
  }
  const floor = median(samples.get(baseline.name)!);
  const figures: Figure[] = commands.slice(1).map((command) => {
    const value = median(samples.get(command.name)!);
    return {
      figure: `Wall time of meshinit ${command.name} (median of ${rounds})`,
      value,
      unit: 'ms',
      baseline: { name: baseline.name, value: floor },
      ratio: value / floor,
      ...(command.targeted ? { target: `<= ${TARGET_MS} ms`, met: value <= TARGET_MS } : {}),
    };
  });
  process.stdout.write(`node ${process.version}, ${os.cpus().length} CPUs, median of ${rounds} rounds\n`);
  process.stdout.write(`  ${baseline.name.padEnd(50)} ${floor.toFixed(0).padStart(6)} ms\n`);
  for (const figure of figures) process.stdout.write(`  ${figure.figure.replace('Wall time of meshinit ', '').replace(/ \(median of \d+\)/, '').padEnd(50)} ${figure.value.toFixed(0).padStart(6)} ms\n`);
  writeResult({ runner: 'cli-start', measuredAt: new Date().toISOString(), figures, raw: Object.fromEntries(samples) });
} finally {
  fs.rmSync(workDir, { recursive: true, force: true });
}
