// Reads a V8 CPU profile (`node --cpu-prof`, or bench/webhook.ts --cpu-prof DIR) and prints where
// the time went: self time by function, and inclusive time of meshinit's own functions (what a
// function and everything it calls cost), as shares of the samples taken while not idle.
// --last S keeps only the samples of the last S seconds (bench/webhook.ts ends each server's run
// with its saturation phase).
//   node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top 25] [--match dist/controller/] [--last 3]
import fs from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*\/(node_modules\/|dist\/|node:)/, '$1').replace(/^file:\/\//, '');
  return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, match: { type: 'string', default: 'dist/controller/' }, last: { type: 'string' } } });
  const file = positionals[0];
  if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile');
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const idle = new Set(profile.nodes.filter((n) => ['(idle)', '(program)', '(garbage collector)'].includes(n.callFrame.functionName)).map((n) => n.id));
  const gc = profile.nodes.find((n) => n.callFrame.functionName === '(garbage collector)')?.id;
  const times: number[] = [];
  profile.timeDeltas.reduce((at, delta) => { times.push(at + delta); return at + delta; }, 0);
  const from = values.last === undefined ? -Infinity : times[times.length - 1]! - Number(values.last) * 1e6;
  const busy = profile.samples.filter((id, i) => times[i]! >= from && (!idle.has(id) || id === gc));
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const pattern = new RegExp(values.match);
  for (const id of busy) {
    const leaf = byId.get(id)!;
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + 1);
    // Each function counted once per sample, however deep its recursion.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at)!;
      if (!pattern.test(node.callFrame.url)) continue;
      const name = label(node);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
    }
  }
  const top = Number(values.top);
  const share = (n: number): string => `${((100 * n) / busy.length).toFixed(1).padStart(5)}%`;
  process.stdout.write(`${busy.length} busy samples of ${profile.samples.length}\n\nself time:\n`);
  for (const [name, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${share(n)}  ${name}\n`);
  process.stdout.write(`\ninclusive time, functions under ${values.match}:\n`);
  for (const [name, n] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${share(n)}  ${name}\n`);
}

main();
