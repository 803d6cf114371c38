// The last step of `make bench`: reads what each runner wrote to bench/results/<runner>.json,
// prints one table (each figure beside its same-run baseline and the issue's target), writes
// bench/results/latest.json and draws the series as SVG under docs/.
//   node --import tsx bench/report.ts
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../test/support/transcripts.ts';
import { RESULTS_DIR, type BenchResult, type Figure } from './result.ts';
import { renderLineChart } from './svg-chart.ts';

/** Runners in the order the table shows them. */
export const RUNNERS = ['initializer-throughput', 'blocking-create', 'ceiling', 'webhook', 'memory', 'cli-start'];

function formatNumber(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  const digits = unit === 'CPU-s' || Math.abs(value) < 10 ? 2 : Math.abs(value) < 100 ? 1 : 0;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function figureRow(runner: string, figure: Figure): string {
  const baseline = figure.baseline ? `${figure.baseline.name}: ${formatNumber(figure.baseline.value, figure.unit)} ${figure.unit}` : '';
  const ratio = figure.ratio === undefined ? '' : formatNumber(figure.ratio, 'ratio');
  const met = figure.met === undefined ? '' : figure.met ? 'met' : '**not met**';
  return `| ${runner} | ${figure.figure} | ${formatNumber(figure.value, figure.unit)} ${figure.unit} | ${baseline} | ${ratio} | ${figure.target ?? ''} | ${met} |`;
}

export function reportTable(results: BenchResult[]): string {
  const rows = results.flatMap((result) => result.figures.map((figure) => figureRow(result.runner, figure)));
  return ['| runner | figure | meshinit | baseline (same run) | ratio | target | |', '| --- | --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

function main(): void {
  const results: BenchResult[] = [];
  const missing: string[] = [];
  for (const runner of RUNNERS) {
    const file = path.join(RESULTS_DIR, `${runner}.json`);
    if (!fs.existsSync(file)) {
      missing.push(runner);
      continue;
    }
    results.push(JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResult);
  }
  process.stdout.write(`\n${reportTable(results)}\n`);
  for (const result of results) process.stdout.write(`  ${result.runner}: measured ${result.measuredAt}${result.server ? ` on kube-apiserver ${result.server}` : ''}\n`);
  if (missing.length) process.stdout.write(`  not run: ${missing.join(', ')}\n`);
  const docs = path.join(repoRoot, 'docs');
  fs.mkdirSync(docs, { recursive: true });
  for (const series of results.flatMap((result) => result.series ?? [])) {
    const file = path.join(docs, `${series.chart}.svg`);
    fs.writeFileSync(file, renderLineChart(series));
    process.stdout.write(`  chart: ${path.relative(repoRoot, file)}\n`);
  }
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify({ generatedAt: new Date().toISOString(), table: reportTable(results), results }, null, 2)}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(repoRoot, 'bench/report.ts')) main();
