/**
 * The ops page's charts of the last 15 minutes (docs/web.md): uPlot, one point a second from
 * the `metrics` topic, kept in the page (a page opened now starts empty and fills up).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const WINDOW_S = 15 * 60;

export class SeriesChart {
  private readonly xs: number[] = [];
  private readonly ys: (number | null)[] = [];
  private readonly plot: uPlot;

  constructor(el: HTMLElement, label: string, colour: string) {
    this.plot = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height: 160,
        legend: { show: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        series: [{}, { label, stroke: colour, width: 2, fill: `${colour}22` }],
        axes: [{ stroke: '#4a5360' }, { stroke: '#4a5360' }],
      },
      [this.xs, this.ys],
      el,
    );
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(300, el.clientWidth), height: 160 })).observe(el);
  }

  /** Adds a point at `at` (seconds since the epoch); drops points older than 15 minutes. */
  add(at: number, value: number | null): void {
    this.xs.push(at);
    this.ys.push(value);
    while (this.xs.length > 0 && this.xs[0]! < at - WINDOW_S) {
      this.xs.shift();
      this.ys.shift();
    }
    this.plot.setData([this.xs, this.ys]);
  }
}
