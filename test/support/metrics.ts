// Reading the Prometheus exposition text as a scrape would: sample name with its labels as written
// (`name{a="b"}`) to value. Shared by the unit tests (a Metrics instance) and the e2e tests (/metrics).

export type Samples = Map<string, number>;

export function parseExposition(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

export async function scrape(metrics: { render(): Promise<string> }): Promise<Samples> {
  return parseExposition(await metrics.render());
}

/** GET /metrics from a running meshinit's health listener. */
export async function scrapeUrl(url: string): Promise<Samples> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return parseExposition(await response.text());
}

/** How much a sample moved between two scrapes (absent counts as 0). */
export function moved(before: Samples, after: Samples, sample: string): number {
  return (after.get(sample) ?? 0) - (before.get(sample) ?? 0);
}

/** The sum of every sample of a metric whose labels include all of `labels` (e.g. 'mode="webhook"'). */
export function total(samples: Samples, metric: string, ...labels: string[]): number {
  let sum = 0;
  for (const [key, value] of samples) {
    if (key !== metric && !key.startsWith(`${metric}{`)) continue;
    if (labels.every((label) => key.includes(label))) sum += value;
  }
  return sum;
}
