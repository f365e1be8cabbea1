/** What every view is given by the page. */
import type { Ability } from './api.js';
import type { StatsPoller } from './poller.js';

export interface ViewContext {
  readonly poller: StatsPoller;
  /** Whether the token may change the sequence `name` (a new one, without a name); learned once per token from GET /token. */
  readonly ability: (name?: string) => Promise<Ability>;
  /** Shows an API error (code and message) or any other failure in the page's notice area. */
  readonly showError: (error: unknown) => void;
  /** Shows a confirmation of what was done. */
  readonly showDone: (message: string) => void;
}

/** A view: draws itself into `root`, returns what to do when the page leaves it. */
export type View = (root: HTMLElement, context: ViewContext) => () => void;
