// The bench report: the table every figure lands in and the SVG charts README.md shows.
import { expect } from 'chai';
import { figureRow, reportTable } from '../../bench/report.ts';
import { niceTicks, renderLineChart } from '../../bench/svg-chart.ts';

describe('bench report', function () {
  it('puts each figure beside its same-run baseline, ratio, target and verdict', function () {
    const row = figureRow('initializer-throughput', { figure: 'Initializer throughput', value: 512.4, unit: 'workloads/s', baseline: { name: 'floor', value: 600 }, ratio: 0.854, target: '>= 0.85 of the floor', met: true });
    expect(row).to.equal('| initializer-throughput | Initializer throughput | 512 workloads/s | floor: 600 workloads/s | 0.85 | >= 0.85 of the floor | met |');
    const missed = figureRow('memory', { figure: 'RSS idle', value: 81.25, unit: 'MB', target: '<= 70 MB', met: false });
    expect(missed).to.include('81.3 MB').and.include('**not met**');
  });

  it('makes one markdown table of every runner\'s figures', function () {
    const table = reportTable([
      { runner: 'a', measuredAt: 'now', figures: [{ figure: 'x', value: 1, unit: 'ms' }, { figure: 'y', value: 2, unit: 'ms' }] },
      { runner: 'b', measuredAt: 'now', figures: [{ figure: 'z', value: 3, unit: 'ms' }] },
    ]);
    const lines = table.split('\n');
    expect(lines).to.have.length(5);
    expect(lines.slice(2).map((l) => l.split('|')[1]!.trim())).to.deep.equal(['a', 'a', 'b']);
  });

  it('picks round axis ticks that cover the data', function () {
    expect(niceTicks(930)).to.deep.equal([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(4.2)).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(niceTicks(0)).to.deep.equal([0, 1]);
  });

  it('draws every line inside the plot area, in well-formed SVG, with the labels escaped', function () {
    const svg = renderLineChart({
      chart: 'c', title: 'latency <vs> load', xLabel: 'requests/s', yLabel: 'ms',
      lines: [{ name: 'p50', points: [[100, 1], [500, 2], [2000, 4]] }, { name: 'p99 & more', points: [[100, 3], [2000, NaN]] }],
    });
    expect(svg).to.include('latency &lt;vs&gt; load').and.include('p99 &amp; more');
    // Every opened element is closed: one root, and as many closing as opening non-empty tags.
    expect((svg.match(/<svg /g) ?? []).length).to.equal(1);
    expect(svg.trim().endsWith('</svg>')).to.equal(true);
    const opened = (svg.match(/<(svg|text|circle|title)[ >]/g) ?? []).length - (svg.match(/<circle [^>]*\/>/g) ?? []).length;
    expect((svg.match(/<\/(svg|text|circle|title)>/g) ?? []).length).to.equal(opened);
    const coords = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(coords).to.have.length(4);
    for (const [x, y] of coords) {
      expect(x).to.be.within(70, 720 - 180);
      expect(y).to.be.within(40, 420 - 60);
    }
  });
});
