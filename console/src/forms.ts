/**
 * The options form, for creating a sequence and for changing one. Integers
 * are sent as the decimal strings typed (the API takes them exactly, never
 * through a JS number); only the options filled in (creating) or changed
 * (changing) are sent, so the API's defaults and current values apply.
 */
import type { Sequence } from './api.js';
import { field, h } from './dom.js';

const INTEGER_OPTIONS = ['start', 'increment', 'min_value', 'max_value', 'cache', 'lease_seconds'] as const;
const HINTS: Record<(typeof INTEGER_OPTIONS)[number], string> = {
  start: 'First value (default: min value, or max value counting down)',
  increment: 'Step; negative counts down (default 1)',
  min_value: 'Lowest value (default 1)',
  max_value: 'Highest value (default 9223372036854775807)',
  cache: 'Values reserved ahead in memory, 1 to 1000000 (default 1)',
  lease_seconds: 'Gapless: how long a reservation holds its value (default 300)',
};

export interface OptionsForm {
  readonly element: HTMLFieldSetElement;
  /** The body for PUT, or a message naming the field typed wrong. */
  body(): { ok: true; body: Record<string, unknown> } | { ok: false; message: string };
}

const INTEGER = /^-?\d+$/;

export function optionsForm(current?: Sequence): OptionsForm {
  const integers = INTEGER_OPTIONS.map((name) => {
    const input = h('input', { type: 'text', name, inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false', value: current?.[name] });
    return { name, input, label: field(name, input, HINTS[name]) };
  });
  const checkbox = (name: 'cycle' | 'gapless', hint: string): { name: 'cycle' | 'gapless'; input: HTMLInputElement; label: HTMLElement } => {
    const input = h('input', { type: 'checkbox', name, checked: current?.[name] === true });
    return { name, input, label: h('label', { class: 'check' }, input, h('span', {}, name), h('span', { class: 'hint' }, hint)) };
  };
  const flags = [checkbox('cycle', 'Wrap to the other bound instead of refusing at the end'), checkbox('gapless', 'Values go out as reservations to confirm, release or void')];
  const restart = h(
    'select',
    { name: 'restart' },
    ...['never', 'yearly', 'monthly', 'daily'].map((value) => h('option', { value, selected: (current?.restart ?? 'never') === value }, value)),
  );
  const timeZone = h('input', { type: 'text', name: 'time_zone', autocomplete: 'off', spellcheck: 'false', value: current?.time_zone ?? (current === undefined ? '' : 'UTC') });
  const format = h('input', { type: 'text', name: 'format', autocomplete: 'off', spellcheck: 'false', value: current?.format ?? '' });
  const element = h(
    'fieldset',
    { class: 'options-form' },
    h('legend', {}, 'Options'),
    ...integers.map(({ label }) => label),
    ...flags.map(({ label }) => label),
    field('restart', restart, 'Start again at start each calendar period'),
    field('time_zone', timeZone, 'IANA zone for periods and dates (default UTC)'),
    field('format', format, 'Template, e.g. INV-{yyyy}-{value:6}; empty: none'),
  );

  const body = (): ReturnType<OptionsForm['body']> => {
    const out: Record<string, unknown> = {};
    for (const { name, input } of integers) {
      const text = input.value.trim();
      if (text === (current?.[name] ?? '')) continue;
      if (!INTEGER.test(text)) return { ok: false, message: `${name} must be a whole number, e.g. 42 or -1.` };
      out[name] = text;
    }
    for (const { name, input } of flags) if (input.checked !== (current?.[name] ?? false)) out[name] = input.checked;
    if (restart.value !== (current?.restart ?? 'never')) out.restart = restart.value;
    const zone = timeZone.value.trim();
    if (zone !== (current?.time_zone ?? '') && !(current === undefined && zone === '')) out.time_zone = zone;
    const template = format.value;
    if (template !== (current?.format ?? '')) out.format = template === '' ? null : template;
    return { ok: true, body: out };
  };
  return { element, body };
}
