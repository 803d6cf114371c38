// What every runner under bench/ hands to the report (bench/report.ts): figures for the table,
// each beside the baseline measured in the same run, and series for the charts under docs/.
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../test/support/transcripts.ts';

export interface Figure {
  /** What is measured, e.g. "Initializer throughput (1,000 Deployments, 50 creators)". */
  figure: string;
  /** Median over the runs. */
  value: number;
  unit: string;
  /** The baseline measured in the same run, when the target is relative. */
  baseline?: { name: string; value: number };
  /** value / baseline.value */
  ratio?: number;
  /** The target in words, e.g. ">= 0.85 of the floor". */
  target?: string;
  met?: boolean;
}

export interface Series {
  /** File name under docs/ without extension, e.g. "bench-webhook-latency". */
  chart: string;
  title: string;
  xLabel: string;
  yLabel: string;
  lines: Array<{ name: string; points: Array<[number, number]> }>;
}

export interface BenchResult {
  runner: string;
  server?: string;
  measuredAt: string;
  figures: Figure[];
  series?: Series[];
  /** Per-round detail, kept in the JSON only. */
  raw?: unknown;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const RESULTS_DIR = path.join(repoRoot, 'bench', 'results');

/** Writes bench/results/<runner>.json, read by bench/report.ts. */
export function writeResult(result: BenchResult): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, `${result.runner}.json`), `${JSON.stringify(result, null, 2)}\n`);
}
