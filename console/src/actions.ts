/**
 * The admin actions on one sequence, and creating one. Without the admin
 * scope every button is disabled and says why; the API checks anyway, and
 * any refusal it answers is shown with its code and message.
 */
import { api, sequencePath, type Ability, type Sequence } from './api.js';
import type { View, ViewContext } from './context.js';
import { button, field, h, replace } from './dom.js';
import { optionsForm } from './forms.js';

interface Outcome {
  changed(): void;
  deleted(): void;
}

const INTEGER = /^-?\d+$/;

/** Disables `buttons` with the reason shown next to them (and read out with them). */
function guard(ability: Ability, reasonId: string, ...buttons: HTMLButtonElement[]): HTMLElement | null {
  if (ability.canAct) return null;
  for (const element of buttons) {
    element.disabled = true;
    element.setAttribute('aria-describedby', reasonId);
    element.title = ability.reason;
  }
  return h('p', { class: 'reason', id: reasonId }, ability.reason);
}

function changeForm(sequence: Sequence, ability: Ability, context: ViewContext, outcome: Outcome): HTMLElement {
  const options = optionsForm(sequence);
  const save = h('button', { type: 'submit' }, 'Save options');
  const form = h('form', { class: 'action', 'aria-labelledby': 'change-title' }, h('h4', { id: 'change-title' }, 'Change options'), options.element, save, guard(ability, 'change-reason', save));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = options.body();
    if (!body.ok) return context.showError(new Error(body.message));
    if (Object.keys(body.body).length === 0) return context.showDone('Nothing changed.');
    api<Sequence>('PUT', sequencePath(sequence.name), body.body).then(() => {
      context.showDone(`Options of “${sequence.name}” changed.`);
      outcome.changed();
    }, context.showError);
  });
  return form;
}

function resetForm(sequence: Sequence, ability: Ability, context: ViewContext, outcome: Outcome): HTMLElement {
  const nextValue = h('input', { type: 'text', name: 'next_value', inputmode: 'numeric', autocomplete: 'off', required: true });
  const force = h('input', { type: 'checkbox', name: 'force' });
  const start = h('button', { type: 'submit' }, 'Reset…');
  const confirmation = h('div', { class: 'confirm', role: 'alertdialog', 'aria-labelledby': 'reset-question', hidden: true });
  const form = h(
    'form',
    { class: 'action', 'aria-labelledby': 'reset-title' },
    h('h4', { id: 'reset-title' }, 'Reset'),
    h('p', { class: 'hint' }, 'Sets the value the next allocation returns (like PostgreSQL’s setval).'),
    field('Next value', nextValue),
    h(
      'label',
      { class: 'check' },
      force,
      h('span', {}, 'force'),
      h(
        'span',
        { class: 'hint' },
        sequence.gapless
          ? 'Needed for any reset of a gapless sequence: it starts a new series and forgets its reservations, free and void values.'
          : 'Needed to move back (below the current next value, above it counting down): values already handed out could be handed out again. Moving forward never needs it.',
      ),
    ),
    start,
    guard(ability, 'reset-reason', start),
    confirmation,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = nextValue.value.trim();
    if (!INTEGER.test(value)) return context.showError(new Error('The next value must be a whole number, e.g. 1000.'));
    const confirm = button('Confirm reset', () => {
      confirmation.hidden = true;
      api<Sequence>('POST', sequencePath(sequence.name, '/reset'), { next_value: value, force: force.checked }).then(() => {
        context.showDone(`“${sequence.name}” reset: the next value is ${value}.`);
        outcome.changed();
      }, context.showError);
    });
    const question = `Set the next value of “${sequence.name}” to ${value}${force.checked ? ', with force (values may be handed out again)' : ''}?`;
    replace(confirmation, h('p', { id: 'reset-question' }, question), confirm, button('Cancel', () => (confirmation.hidden = true)));
    confirmation.hidden = false;
    confirm.focus();
  });
  return form;
}

function deleteForm(sequence: Sequence, ability: Ability, context: ViewContext, outcome: Outcome): HTMLElement {
  const typed = h('input', { type: 'text', name: 'confirm_name', autocomplete: 'off', spellcheck: 'false' });
  const forget = h('input', { type: 'checkbox', name: 'forget' });
  const remove = h('button', { type: 'submit', class: 'danger', disabled: true }, 'Delete');
  const reason = guard(ability, 'delete-reason', remove);
  typed.addEventListener('input', () => (remove.disabled = !ability.canAct || typed.value !== sequence.name));
  const form = h(
    'form',
    { class: 'action', 'aria-labelledby': 'delete-title' },
    h('h4', { id: 'delete-title' }, 'Delete'),
    h('p', { class: 'hint' }, 'The name keeps its high-water marks: used again, it continues after every value it handed out.'),
    field('Type the name to confirm', typed),
    h('label', { class: 'check' }, forget, h('span', {}, 'forget'), h('span', { class: 'hint' }, 'Forget the name entirely: used again, it hands out the same numbers again.')),
    remove,
    reason,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (typed.value !== sequence.name) return;
    api<undefined>('DELETE', sequencePath(sequence.name, forget.checked ? '?forget=true' : '')).then(() => {
      context.showDone(`“${sequence.name}” deleted.`);
      outcome.deleted();
    }, context.showError);
  });
  return form;
}

export function actionsPanel(sequence: Sequence, ability: Ability, context: ViewContext, outcome: Outcome): HTMLElement {
  return h(
    'section',
    { class: 'actions', 'aria-labelledby': 'actions-title' },
    h('h3', { id: 'actions-title' }, 'Actions'),
    h('div', { class: 'action-grid' }, resetForm(sequence, ability, context, outcome), deleteForm(sequence, ability, context, outcome), changeForm(sequence, ability, context, outcome)),
  );
}

export const createView: View = (root, context) => {
  const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: '255' });
  const options = optionsForm();
  const create = h('button', { type: 'submit' }, 'Create');
  const reasonSlot = h('div');
  const form = h('form', { class: 'action create' }, field('Name', name, '1 to 255 bytes, no control characters. An existing name is not created again: the options given change it.'), options.element, create, reasonSlot);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = options.body();
    if (!body.ok) return context.showError(new Error(body.message));
    const wanted = name.value;
    api<Sequence>('PUT', sequencePath(wanted), body.body).then((sequence) => {
      context.showDone(`“${sequence.name}” created.`);
      window.location.hash = `#/sequence/${encodeURIComponent(sequence.name)}`;
    }, context.showError);
  });
  replace(root, h('section', { class: 'create-view', 'aria-labelledby': 'create-title' }, h('p', {}, h('a', { href: '#/' }, '← All sequences')), h('h2', { id: 'create-title' }, 'New sequence'), form));
  let alive = true;
  void context.ability().then((ability) => {
    if (alive) replace(reasonSlot, guard(ability, 'create-reason', create));
  });
  return () => {
    alive = false;
  };
};
