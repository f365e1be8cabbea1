/**
 * The sequences: a page of GET /sequences by name (the API's cursor for the
 * next page, a stack of cursors for the previous ones, prefix search), or the
 * busiest by rate (from /stats), each row with its live rate.
 */
import { api, ApiError, type Sequence, type SequencePage, type Stats } from './api.js';
import { button, field, h, replace } from './dom.js';
import { formatRate } from './overview.js';
import type { StatsPoller } from './poller.js';

const PAGE_SIZE = 20;
const MAX_INT64 = '9223372036854775807';
const MIN_INT64 = '-9223372036854775808';

export const detailHref = (name: string): string => `#/sequence/${encodeURIComponent(name)}`;

/** The options that differ from the defaults, in a few words. */
export function optionsSummary(sequence: Sequence): string {
  const descending = sequence.increment.startsWith('-');
  const parts = [`step ${sequence.increment}`];
  const defaultMin = descending ? MIN_INT64 : '1';
  const defaultMax = descending ? '-1' : MAX_INT64;
  if (sequence.min_value !== defaultMin || sequence.max_value !== defaultMax) parts.push(`${sequence.min_value}..${sequence.max_value}`);
  if (sequence.cache !== '1') parts.push(`cache ${sequence.cache}`);
  if (sequence.cycle) parts.push('cycle');
  if (sequence.gapless) parts.push(`gapless (lease ${sequence.lease_seconds} s)`);
  if (sequence.restart !== undefined && sequence.restart !== 'never') parts.push(`restarts ${sequence.restart} (${sequence.time_zone ?? 'UTC'})`);
  if (typeof sequence.format === 'string') parts.push(`format ${sequence.format}`);
  return parts.join(', ');
}

export class SequenceTable {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;
  private readonly pager: HTMLElement;
  private readonly search: HTMLInputElement;
  private readonly rateCells = new Map<string, HTMLElement>();
  private cursors: string[] = [''];
  private nextCursor: string | null = null;
  private names: string[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly mode: 'name' | 'busiest',
    private readonly poller: StatsPoller,
    private readonly showError: (error: unknown) => void,
  ) {
    this.search = h('input', { type: 'search', name: 'prefix', autocomplete: 'off', spellcheck: 'false' });
    const form = h('form', { class: 'search', role: 'search' }, field('Names starting with', this.search), h('button', { type: 'submit' }, 'Search'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.cursors = [''];
      void this.load();
    });
    this.body = h('tbody');
    this.status = h('p', { class: 'table-status', role: 'status' });
    this.pager = h('nav', { class: 'pager', 'aria-label': 'Pages of sequences' });
    const tabs = h(
      'nav',
      { class: 'tabs', 'aria-label': 'Order' },
      h('a', { href: '#/', 'aria-current': mode === 'name' ? 'page' : undefined }, 'By name'),
      h('a', { href: '#/busiest', 'aria-current': mode === 'busiest' ? 'page' : undefined }, 'Busiest'),
    );
    const head = mode === 'name' ? ['Name', 'Last value', 'Next value', 'Options', 'Rate'] : ['Name', 'Rate (last ~10 s)'];
    this.element = h(
      'section',
      { class: 'sequences', 'aria-labelledby': 'sequences-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'sequences-title' }, 'Sequences'), h('a', { class: 'button-link', href: '#/new' }, 'New sequence')),
      tabs,
      mode === 'name' ? form : h('p', { class: 'hint' }, 'The sequences that handed out the most numbers lately, busiest first (the service keeps a bounded top list).'),
      h(
        'div',
        { class: 'table-wrap' },
        h('table', { class: 'sequence-table' }, h('thead', {}, h('tr', {}, ...head.map((title) => h('th', { scope: 'col' }, title)))), this.body),
      ),
      this.status,
      mode === 'name' ? this.pager : null,
    );
    this.unsubscribe = poller.subscribe((stats) => this.onStats(stats));
    if (mode === 'name') void this.load();
  }

  destroy(): void {
    this.unsubscribe();
  }

  async load(): Promise<void> {
    const cursor = this.cursors[this.cursors.length - 1] ?? '';
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.search.value !== '') query.set('prefix', this.search.value);
    if (cursor !== '') query.set('cursor', cursor);
    this.status.textContent = 'Loading…';
    try {
      const page = await api<SequencePage>('GET', `/sequences?${query.toString()}`);
      this.nextCursor = page.next_cursor;
      this.render(page.sequences);
    } catch (error) {
      this.status.textContent = error instanceof ApiError ? `Could not list the sequences: ${error.code}` : 'Could not list the sequences.';
      this.showError(error);
    }
  }

  private render(sequences: readonly Sequence[]): void {
    this.rateCells.clear();
    this.names = sequences.map((sequence) => sequence.name);
    replace(
      this.body,
      ...sequences.map((sequence) => {
        const rate = h('td', { class: 'num rate', 'data-label': 'Rate' }, formatRate(this.poller.latest?.rates?.[sequence.name]));
        this.rateCells.set(sequence.name, rate);
        return h(
          'tr',
          {},
          h('th', { scope: 'row', 'data-label': 'Name' }, h('a', { href: detailHref(sequence.name) }, sequence.name)),
          h('td', { class: 'num', 'data-label': 'Last value' }, sequence.last_value ?? '—'),
          h('td', { class: 'num', 'data-label': 'Next value' }, sequence.next_value ?? 'exhausted'),
          h('td', { 'data-label': 'Options' }, optionsSummary(sequence)),
          rate,
        );
      }),
    );
    this.poller.watch(this.names);
    this.poller.refresh();
    const prefix = this.search.value;
    this.status.textContent =
      sequences.length === 0 ? (prefix === '' ? 'No sequences yet.' : `No sequence name starts with “${prefix}”.`) : `Page ${this.cursors.length}: ${sequences.length} sequences.`;
    const previous = button('Previous page', () => {
      this.cursors.pop();
      void this.load();
    });
    previous.disabled = this.cursors.length === 1;
    const next = button('Next page', () => {
      if (this.nextCursor === null) return;
      this.cursors.push(this.nextCursor);
      void this.load();
    });
    next.disabled = this.nextCursor === null;
    replace(this.pager, previous, next);
  }

  private onStats(stats: Stats): void {
    if (this.mode === 'busiest') {
      this.renderBusiest(stats);
      return;
    }
    // A poll sent before this page's names were watched has no rates for them: keep what is shown.
    for (const [name, cell] of this.rateCells) {
      const rate = stats.rates?.[name];
      if (rate !== undefined) cell.textContent = formatRate(rate);
    }
  }

  private renderBusiest(stats: Stats): void {
    replace(
      this.body,
      ...stats.busiest.map((entry) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row', 'data-label': 'Name' }, h('a', { href: detailHref(entry.name) }, entry.name)),
          h('td', { class: 'num rate', 'data-label': 'Rate' }, formatRate(entry.numbers_per_second)),
        ),
      ),
    );
    this.status.textContent = stats.busiest.length === 0 ? 'No sequence has handed out numbers lately.' : '';
  }
}
