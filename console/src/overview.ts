/** The service at a glance: live charts of the last 5 minutes, errors by code. */
import type { Stats } from './api.js';
import { formatNumber, LiveChart } from './charts.js';
import { h, replace } from './dom.js';

const CHARTS: readonly { title: string; unit: string; lines: readonly { key: string; label: string; colour: string }[] }[] = [
  { title: 'Numbers handed out', unit: '/s', lines: [{ key: 'numbers_per_second', label: 'numbers/s', colour: '--line-1' }] },
  { title: 'Requests', unit: '/s', lines: [{ key: 'requests_per_second', label: 'requests/s', colour: '--line-2' }] },
  {
    title: 'Commit latency',
    unit: ' ms',
    lines: [
      { key: 'commit_p50_ms', label: 'p50 ms', colour: '--line-1' },
      { key: 'commit_p99_ms', label: 'p99 ms', colour: '--line-3' },
    ],
  },
  { title: 'Batch size', unit: '', lines: [{ key: 'batch_size', label: 'requests per commit', colour: '--line-2' }] },
  { title: 'Pending requests', unit: '', lines: [{ key: 'pending', label: 'pending', colour: '--line-4' }] },
  { title: 'Errors', unit: '/s', lines: [{ key: 'errors_per_second', label: 'errors/s', colour: '--line-3' }] },
];

export function numbers(values: readonly (string | null)[] | undefined, length: number): (number | null)[] {
  const out: (number | null)[] = [];
  for (let i = 0; i < length; i++) {
    const value = values?.[i];
    out.push(value === undefined || value === null ? null : Number(value));
  }
  return out;
}

export class Overview {
  readonly element: HTMLElement;
  private readonly charts: { chart: LiveChart; keys: readonly string[] }[];
  private readonly errorsBody: HTMLElement;

  constructor() {
    this.charts = CHARTS.map((spec) => ({
      chart: new LiveChart(spec.title, spec.lines.map(({ label, colour }) => ({ label, colour })), spec.unit),
      keys: spec.lines.map((line) => line.key),
    }));
    this.errorsBody = h('tbody', {}, h('tr', {}, h('td', { colspan: '2' }, 'No errors since the service started.')));
    this.element = h(
      'section',
      { class: 'overview', 'aria-labelledby': 'overview-title' },
      h('h2', { id: 'overview-title' }, 'Overview (last 5 minutes)'),
      h('div', { class: 'charts' }, ...this.charts.map(({ chart }) => chart.element)),
      h(
        'table',
        { class: 'errors' },
        h('caption', {}, 'Errors by code, since the service started'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Code'), h('th', { scope: 'col', class: 'num' }, 'Total'))),
        this.errorsBody,
      ),
    );
  }

  update(stats: Stats): void {
    const times = (stats.series.t ?? []).map(Number);
    for (const { chart, keys } of this.charts) {
      chart.update(times, keys.map((key) => numbers(stats.series[key], times.length)));
    }
    const codes = Object.entries(stats.errors).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    replace(
      this.errorsBody,
      ...(codes.length === 0
        ? [h('tr', {}, h('td', { colspan: '2' }, 'No errors since the service started.'))]
        : codes.map(([code, total]) => h('tr', {}, h('td', {}, h('code', {}, code)), h('td', { class: 'num' }, total)))),
    );
  }

  destroy(): void {
    for (const { chart } of this.charts) chart.destroy();
  }
}

/** "2 d 3 h", "3 h 4 min", "4 min 5 s". */
export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (d > 0) return `${d} d ${hours} h`;
  if (hours > 0) return `${hours} h ${m} min`;
  if (m > 0) return `${m} min ${s} s`;
  return `${s} s`;
}

export function describeStore(store: Stats['store']): string {
  if (store.kind === 'sqlite') return `SQLite ${store.path ?? ''}`.trim();
  if (store.kind === 'postgres') return `PostgreSQL ${store.host ?? ''}${store.port === undefined ? '' : `:${store.port}`}/${store.database ?? ''}`;
  return store.kind;
}

/** A rate as the tables show it: "200/s". */
export function formatRate(rate: string | undefined): string {
  return rate === undefined ? '–' : `${formatNumber(Number(rate))}/s`;
}
