/**
 * One sequence: its values and options, a rate chart accumulated from the
 * polls, gapless state, and the actions (change, reset, delete) for a token
 * that may use them.
 */
import { api, sequencePath, type Ability, type Sequence, type ValuePage } from './api.js';
import { formatNumber, LiveChart } from './charts.js';
import type { View, ViewContext } from './context.js';
import { h, replace } from './dom.js';
import { actionsPanel } from './actions.js';
import { optionsSummary } from './sequences.js';

const RATE_POINTS = 300;

function definitionList(rows: readonly [string, string][]): HTMLDListElement {
  return h('dl', { class: 'facts' }, ...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

function optionRows(sequence: Sequence): [string, string][] {
  const rows: [string, string][] = [
    ['start', sequence.start],
    ['increment', sequence.increment],
    ['min_value', sequence.min_value],
    ['max_value', sequence.max_value],
    ['cycle', String(sequence.cycle)],
    ['cache', sequence.cache],
    ['gapless', String(sequence.gapless)],
    ['lease_seconds', sequence.lease_seconds],
  ];
  if (sequence.restart !== undefined) rows.push(['restart', sequence.restart]);
  if (sequence.time_zone !== undefined) rows.push(['time_zone', sequence.time_zone]);
  if (sequence.format !== undefined) rows.push(['format', sequence.format ?? '(none)']);
  return rows;
}

async function gaplessSection(sequence: Sequence, context: ViewContext): Promise<HTMLElement> {
  const section = h(
    'section',
    { class: 'gapless', 'aria-labelledby': 'gapless-title' },
    h('h3', { id: 'gapless-title' }, 'Gapless state'),
    definitionList([
      ['confirmed_through', sequence.confirmed_through ?? '— (none yet)'],
      ['reserved', sequence.reserved ?? '0'],
      ['free', sequence.free ?? '0'],
    ]),
  );
  try {
    const page = await api<ValuePage>('GET', sequencePath(sequence.name, '/values?limit=100'));
    const rows = page.values.map((value) =>
      h(
        'tr',
        {},
        h('td', { class: 'num', 'data-label': 'Value' }, value.formatted ?? value.value),
        h('td', { 'data-label': 'State' }, value.state),
        h('td', { 'data-label': 'Since' }, value.updated_at),
        h('td', { 'data-label': 'Lease ends / reason' }, value.state === 'reserved' ? (value.expires_at ?? '') : value.state === 'void' ? (value.reason ?? '(no reason)') : ''),
      ),
    );
    section.append(
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          {},
          h('caption', {}, page.next_cursor === null ? 'Values not confirmed' : 'Values not confirmed (the first 100)'),
          h('thead', {}, h('tr', {}, ...['Value', 'State', 'Since', 'Lease ends / reason'].map((title) => h('th', { scope: 'col' }, title)))),
          h('tbody', {}, ...(rows.length === 0 ? [h('tr', {}, h('td', { colspan: '4' }, 'Every value handed out is confirmed.'))] : rows)),
        ),
      ),
    );
  } catch (error) {
    context.showError(error);
  }
  return section;
}

export function detailView(name: string): View {
  return (root, context) => {
    const state = { alive: true };
    /** Whether the page has left this view (checked after every await). */
    const left = (): boolean => !state.alive;
    const chart = new LiveChart('Numbers handed out', [{ label: 'numbers/s', colour: '--line-1' }], '/s');
    const times: number[] = [];
    const rates: number[] = [];
    const rateText = h('p', { class: 'big-rate', role: 'status', 'aria-live': 'off' }, '–');
    const body = h('div', { class: 'detail-body' }, h('p', {}, 'Loading…'));
    replace(
      root,
      h(
        'section',
        { class: 'detail', 'aria-labelledby': 'detail-title' },
        h('p', {}, h('a', { href: '#/' }, '← All sequences')),
        h('h2', { id: 'detail-title' }, h('span', { class: 'label' }, 'Sequence '), h('span', { class: 'name' }, name)),
        h('div', { class: 'rate-row' }, h('div', {}, h('span', { class: 'label' }, 'Rate now '), rateText), chart.element),
        body,
      ),
    );
    context.poller.watch([name]);
    context.poller.refresh();
    const unsubscribe = context.poller.subscribe((stats) => {
      const rate = stats.rates?.[name];
      rateText.textContent = rate === undefined ? '–' : `${formatNumber(Number(rate))}/s`;
      times.push(Date.now() / 1000);
      rates.push(rate === undefined ? 0 : Number(rate));
      if (times.length > RATE_POINTS) {
        times.shift();
        rates.shift();
      }
      chart.update(times, [rates]);
    });

    const load = async (): Promise<void> => {
      let sequence: Sequence;
      let ability: Ability;
      try {
        [sequence, ability] = await Promise.all([api<Sequence>('GET', sequencePath(name)), context.ability(name)]);
      } catch (error) {
        if (!left()) replace(body, h('p', { class: 'error-text' }, 'This sequence could not be shown.'));
        context.showError(error);
        return;
      }
      if (left()) return;
      const gapless = sequence.gapless ? await gaplessSection(sequence, context) : null;
      if (left()) return;
      replace(
        body,
        definitionList([
          ['Last value', sequence.last_value ?? '— (none since creation or reset)'],
          ['Next value', sequence.next_value ?? 'exhausted'],
          ['Period', sequence.period ?? '—'],
          ['Created', sequence.created_at],
          ['Updated', sequence.updated_at],
        ]),
        h('h3', {}, 'Options'),
        h('p', { class: 'hint' }, optionsSummary(sequence)),
        definitionList(optionRows(sequence)),
        gapless,
        actionsPanel(sequence, ability, context, {
          changed: () => void load(),
          deleted: () => {
            window.location.hash = '#/';
          },
        }),
      );
    };
    void load();
    return () => {
      state.alive = false;
      unsubscribe();
      chart.destroy();
    };
  };
}
