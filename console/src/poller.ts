/**
 * One poll of GET /stats every second, shared by the views on the page: each
 * says which sequence names it wants live rates for, and is handed every
 * answer. A failed poll is reported once per error code, not every second.
 */
import { api, ApiError, type Stats } from './api.js';

export const POLL_MS = 1000;

type Listener = (stats: Stats) => void;

export class StatsPoller {
  private readonly listeners = new Set<Listener>();
  private names: readonly string[] = [];
  private timer: number | undefined;
  private running = false;
  private lastError = '';
  latest: Stats | undefined;

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
    const query = this.names.length === 0 ? '' : `?names=${this.names.map(encodeURIComponent).join(',')}`;
    try {
      const stats = await api<Stats>('GET', `/stats${query}`);
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
