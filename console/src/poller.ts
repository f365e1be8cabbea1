/**
 * One poll of GET /stats every second, shared by the views on the page: each
 * says which sequence names it wants live rates for, and is handed every
 * answer. A failed poll is reported once per error code, not every second.
 */
import { api, ApiError, type Series, type Stats } from './api.js';

export const POLL_MS = 1000;
/** Points kept a series: the 5 minutes /stats keeps. */
const POINTS = 300;

type Listener = (stats: Stats) => void;

export class StatsPoller {
  private readonly listeners = new Set<Listener>();
  private names: readonly string[] = [];
  private timer: number | undefined;
  private running = false;
  private lastError = '';
  latest: Stats | undefined;
  /** The series so far: after the first poll, each asks only for the points after the last one (?since=). */
  private series: Series = {};

  constructor(private readonly onError: (error: ApiError | null) => void) {}

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.latest !== undefined) listener(this.latest);
    return () => this.listeners.delete(listener);
  }

  /** The names whose rates the next polls ask for (at most 100, as /stats takes). */
  watch(names: readonly string[]): void {
    this.names = names.slice(0, 100);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) window.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Polls now (after a change the user made), then every second again. */
  refresh(): void {
    if (this.timer !== undefined) window.clearTimeout(this.timer);
    this.timer = undefined;
    void this.tick();
  }

  private async tick(): Promise<void> {
    const query = new URLSearchParams();
    const last = this.series.t?.at(-1);
    if (typeof last === 'string') query.set('since', last);
    // Names joined by raw commas, each percent-encoded (a comma inside a name is %2C).
    const names = this.names.length === 0 ? '' : `names=${this.names.map(encodeURIComponent).join(',')}`;
    const search = [names, query.toString()].filter((part) => part !== '').join('&');
    try {
      const answer = await api<Stats>('GET', `/stats${search === '' ? '' : `?${search}`}`);
      this.series = appendSeries(this.series, answer.series);
      const stats: Stats = { ...answer, series: this.series };
      this.latest = stats;
      if (this.lastError !== '') this.onError(null);
      this.lastError = '';
      for (const listener of this.listeners) listener(stats);
    } catch (error) {
      const failure = error instanceof ApiError ? error : new ApiError(0, 'client_error', String(error));
      if (failure.code !== this.lastError) this.onError(failure);
      this.lastError = failure.code;
      // Without a token the page waits for one instead of asking every second.
      if (failure.status === 401) {
        this.running = false;
        return;
      }
    }
    if (this.running && this.timer === undefined) this.timer = window.setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, POLL_MS);
  }
}

/**
 * `older` followed by the points of `newer` after its last one (two polls in
 * flight at once may answer the same seconds), each series cut to its last
 * POINTS points.
 */
function appendSeries(older: Series, newer: Series): Series {
  const last = older.t?.at(-1);
  const times = newer.t ?? [];
  const from = last === undefined || last === null ? 0 : times.findIndex((t) => t !== null && Number(t) > Number(last));
  const start = from === -1 ? times.length : from;
  const out: Series = {};
  for (const [key, values] of Object.entries(newer)) {
    out[key] = [...(older[key] ?? []), ...(values ?? []).slice(start)].slice(-POINTS);
  }
  return out;
}
