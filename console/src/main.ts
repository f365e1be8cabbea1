/**
 * The console's page: header (store, version, uptime), token form, notices,
 * and the view of the current hash route:
 *   #/             overview and the sequences by name
 *   #/busiest      overview and the busiest sequences
 *   #/new          create a sequence
 *   #/sequence/N   one sequence (N percent-encoded)
 */
import { ApiError, learnAbility, onUnauthorized, storedToken, storeToken, type Ability, type Stats } from './api.js';
import { createView } from './actions.js';
import type { View, ViewContext } from './context.js';
import { byId, h, replace } from './dom.js';
import { detailView } from './detail.js';
import { describeStore, formatUptime, Overview } from './overview.js';
import { StatsPoller } from './poller.js';
import { SequenceTable } from './sequences.js';

const view = byId('view');
const notice = byId('notice');
const tokenPanel = byId('token-form') as HTMLFormElement;
const tokenInput = byId('token-input') as HTMLInputElement;
const tokenMessage = byId('token-message');

function showError(error: unknown): void {
  const text =
    error instanceof ApiError
      ? [h('strong', {}, error.code), ` (${error.status === 0 ? 'no answer' : error.status}): `, error.message]
      : [error instanceof Error ? error.message : String(error)];
  replace(notice, h('p', { class: 'notice error', role: 'alert' }, ...text));
}

function showDone(message: string): void {
  replace(notice, h('p', { class: 'notice done', role: 'status' }, message));
}

const poller = new StatsPoller((error) => {
  if (error === null) replace(notice);
  else if (error.status !== 401) showError(error);
});

/** What each token may do, learned once per token (GET /token), then judged per sequence name. */
const abilities = new Map<string, Promise<(name?: string) => Ability>>();
const context: ViewContext = {
  poller,
  ability: async (name) => {
    const key = storedToken() ?? '';
    let judge = abilities.get(key);
    if (judge === undefined) {
      judge = learnAbility();
      abilities.set(key, judge);
    }
    return (await judge)(name);
  },
  showError,
  showDone,
};

const home =
  (mode: 'name' | 'busiest'): View =>
  (root, viewContext) => {
    const overview = new Overview();
    const table = new SequenceTable(mode, viewContext.poller, viewContext.showError);
    if (mode === 'busiest') viewContext.poller.watch([]);
    replace(root, table.element, overview.element);
    const unsubscribe = viewContext.poller.subscribe((stats) => overview.update(stats));
    return () => {
      unsubscribe();
      table.destroy();
      overview.destroy();
    };
  };

function route(hash: string): View {
  if (hash === '#/busiest') return home('busiest');
  if (hash === '#/new') return createView;
  const match = /^#\/sequence\/(.+)$/.exec(hash);
  if (match?.[1] !== undefined) {
    try {
      return detailView(decodeURIComponent(match[1]));
    } catch {
      // a malformed hash: the home page
    }
  }
  return home('name');
}

let leave: () => void = () => undefined;
function render(): void {
  leave();
  replace(notice);
  leave = route(window.location.hash)(view, context);
  poller.start();
}

function renderHeader(stats: Stats): void {
  byId('store').textContent = describeStore(stats.store);
  byId('version').textContent = stats.version;
  byId('uptime').textContent = formatUptime(Number(stats.uptime_seconds));
}

onUnauthorized((error) => {
  tokenMessage.textContent = storedToken() === null ? `The service needs an API token: ${error.message}` : `${error.message} Enter another token.`;
  tokenPanel.hidden = false;
  tokenInput.focus();
});

tokenPanel.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (token === '') return;
  storeToken(token);
  tokenInput.value = '';
  tokenPanel.hidden = true;
  render();
});

byId('token-button').addEventListener('click', () => {
  tokenMessage.textContent = storedToken() === null ? 'No token: the page works as the API does without one.' : 'A token is kept for this tab (sessionStorage).';
  tokenPanel.hidden = !tokenPanel.hidden;
  if (!tokenPanel.hidden) tokenInput.focus();
});

byId('token-forget').addEventListener('click', () => {
  storeToken(null);
  tokenPanel.hidden = true;
  render();
});

poller.subscribe(renderHeader);
window.addEventListener('hashchange', render);
render();
