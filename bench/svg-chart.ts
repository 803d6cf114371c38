// Line charts as plain SVG, so `make bench` draws its pictures without a plotting dependency and
// README.md can show them (GitHub renders SVG images). Pure: series in, markup out.
import type { Series } from './result.ts';

const WIDTH = 720;
const HEIGHT = 420;
const PLOT = { left: 70, right: 180, top: 40, bottom: 60 };
const COLOURS = ['#1f77b4', '#aec7e8', '#d62728', '#ff9896', '#2ca02c', '#98df8a', '#9467bd', '#c5b0d5'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** 1, 2 or 5 times a power of ten: about `count` ticks from 0 to at least `max`. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function label(value: number): string {
  return Math.abs(value) >= 1000 ? `${Number((value / 1000).toPrecision(3))}k` : String(Number(value.toPrecision(3)));
}

export function renderLineChart(series: Series): string {
  const points = series.lines.flatMap((line) => line.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xTicks = niceTicks(Math.max(0, ...points.map(([x]) => x)));
  const yTicks = niceTicks(Math.max(0, ...points.map(([, y]) => y)));
  const xMax = xTicks[xTicks.length - 1]!;
  const yMax = yTicks[yTicks.length - 1]!;
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const plotHeight = HEIGHT - PLOT.top - PLOT.bottom;
  const sx = (x: number): number => PLOT.left + (x / xMax) * plotWidth;
  const sy = (y: number): number => PLOT.top + plotHeight - (y / yMax) * plotHeight;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(series.title)}</text>`,
  ];
  for (const t of xTicks) {
    out.push(`<line x1="${sx(t).toFixed(1)}" y1="${PLOT.top}" x2="${sx(t).toFixed(1)}" y2="${PLOT.top + plotHeight}" stroke="#eee"/>`);
    out.push(`<text x="${sx(t).toFixed(1)}" y="${PLOT.top + plotHeight + 18}" text-anchor="middle">${label(t)}</text>`);
  }
  for (const t of yTicks) {
    out.push(`<line x1="${PLOT.left}" y1="${sy(t).toFixed(1)}" x2="${PLOT.left + plotWidth}" y2="${sy(t).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${PLOT.left - 8}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${label(t)}</text>`);
  }
  out.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${PLOT.left + plotWidth / 2}" y="${HEIGHT - 15}" text-anchor="middle">${escapeXml(series.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${PLOT.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(series.yLabel)}</text>`);
  series.lines.forEach((line, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const valid = line.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    if (valid.length > 0) {
      out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${valid.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
      for (const [x, y] of valid) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${colour}"><title>${escapeXml(`${line.name}: ${label(x)}, ${label(y)}`)}</title></circle>`);
    }
    const ly = PLOT.top + 10 + i * 20;
    out.push(`<line x1="${WIDTH - PLOT.right + 15}" y1="${ly}" x2="${WIDTH - PLOT.right + 35}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<text x="${WIDTH - PLOT.right + 40}" y="${ly + 4}">${escapeXml(line.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
