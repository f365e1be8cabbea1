/** Live line charts (uPlot), sized to their container and kept across polls. */
import uPlot from 'uplot';
import { h } from './dom.js';

/** The span every chart shows: the last 5 minutes. */
const WINDOW_SECONDS = 300;

export interface ChartLine {
  readonly label: string;
  /** A CSS custom property of style.css holding the line's colour. */
  readonly colour: string;
}

export class LiveChart {
  readonly element: HTMLElement;
  private readonly area: HTMLElement;
  private plot: uPlot | undefined;
  private data: uPlot.AlignedData;
  private readonly resize: ResizeObserver;

  constructor(
    readonly title: string,
    private readonly lines: readonly ChartLine[],
    private readonly unit: string,
  ) {
    this.area = h('div', { class: 'chart-area' });
    this.element = h('figure', { class: 'chart' }, h('figcaption', {}, title), this.area);
    this.data = [[], ...lines.map(() => [])];
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.area);
  }

  /** `times` in unix seconds; one array of values per line, as long as `times`. */
  update(times: readonly number[], values: readonly (readonly (number | null)[])[]): void {
    this.data = [times.slice(), ...values.map((line) => line.slice())] as uPlot.AlignedData;
    if (this.plot === undefined) this.fit();
    else this.plot.setData(this.data);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }

  private fit(): void {
    const width = Math.floor(this.area.clientWidth);
    if (width === 0) return;
    const size = { width, height: 160 };
    if (this.plot === undefined) {
      this.plot = new uPlot(this.options(size), this.data, this.area);
    } else {
      this.plot.setSize(size);
    }
  }

  private options(size: { width: number; height: number }): uPlot.Options {
    const styles = getComputedStyle(document.documentElement);
    const colour = (name: string): string => styles.getPropertyValue(name).trim() || 'gray';
    const axis = { stroke: colour('--text-muted'), grid: { stroke: colour('--grid'), width: 1 }, ticks: { stroke: colour('--grid'), width: 1 } };
    const unit = this.unit;
    return {
      ...size,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: (_u, _min, max) => [max - WINDOW_SECONDS, max] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [axis, { ...axis, size: 56, values: (_u, ticks) => ticks.map((tick) => `${formatNumber(tick)}${unit}`) }],
      series: [{}, ...this.lines.map((line) => ({ label: line.label, stroke: colour(line.colour), width: 2, points: { show: false } }))],
    };
  }
}

/** 1234 → "1234", 12.345 → "12.3", 0.0123 → "0.012": short, for axes and rates. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const magnitude = Math.abs(value);
  if (magnitude >= 100 || Number.isInteger(value)) return Math.round(value).toString();
  if (magnitude >= 1) return value.toFixed(1).replace(/\.0$/, '');
  return value.toPrecision(2).replace(/0+$/, '').replace(/\.$/, '');
}
