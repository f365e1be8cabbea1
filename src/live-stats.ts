import type { CommitInfo } from './core/allocator.js';
import type { ErrorCode } from './errors.js';
import { RateWindow, type NameRate } from './rates.js';

/** Seconds of history kept: five minutes of 1-second points. */
export const STATS_POINTS = 300;
/** Seconds the per-sequence rates cover. */
export const RATE_WINDOW_SECONDS = 10;
/** Commit durations kept per second for its percentiles; past it, a uniform sample of them. */
const DURATIONS_PER_SECOND = 2048;
/** A second closed this soon after it started is the first, partial one: it runs on to the next boundary. */
const SHORTEST_SECOND_MS = 500;

/** The per-second series, oldest point first; null where a second had no commit. */
export interface StatsSeries {
  /** Unix seconds at which each point's second started. */
  readonly t: number[];
  readonly numbers_per_second: number[];
  readonly requests_per_second: number[];
  readonly errors_per_second: number[];
  readonly commit_p50_ms: (number | null)[];
  readonly commit_p99_ms: (number | null)[];
  /** Mean requests per commit. */
  readonly batch_size: (number | null)[];
  /** Requests waiting for a commit, sampled at the end of the second. */
  readonly pending: number[];
}

type SeriesName = Exclude<keyof StatsSeries, 't'>;
const SERIES: readonly SeriesName[] = [
  'numbers_per_second',
  'requests_per_second',
  'errors_per_second',
  'commit_p50_ms',
  'commit_p99_ms',
  'batch_size',
  'pending',
];

export interface LiveStatsOptions {
  /** Requests waiting for a commit (the allocator's `pending`), sampled once a second. */
  readonly pending?: () => number;
  /** The clock, in ms since the epoch (tests drive their own). */
  readonly now?: () => number;
  /** Most sequence names one second of the rate window keeps. */
  readonly maxNames?: number;
}

/**
 * What the console charts (GET /stats): per-second points of the last five
 * minutes, errors by code since the start, and numbers per second by
 * sequence over the last ten seconds. Recording builds nothing: counters of
 * the running second, one Map increment per allocation (rates.ts), one
 * number per commit. A timer closes each second (`start`); `closeSecond`
 * does it by hand.
 */
export class LiveStats {
  readonly startedAt: number;
  readonly #now: () => number;
  readonly #pending: () => number;
  readonly #rates: RateWindow;
  readonly #errors = new Map<ErrorCode, number>();
  // The running second.
  #secondStart: number;
  #numbers = 0;
  #requests = 0;
  #failures = 0;
  #commits = 0;
  #committedRequests = 0;
  readonly #durations = new Float64Array(DURATIONS_PER_SECOND);
  // The closed seconds: a ring of STATS_POINTS points per series (NaN: no value).
  readonly #t = new Float64Array(STATS_POINTS);
  readonly #points: Record<SeriesName, Float64Array>;
  #head = 0;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LiveStatsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#pending = options.pending ?? (() => 0);
    this.startedAt = this.#now();
    this.#secondStart = this.startedAt;
    this.#rates = new RateWindow(this.startedAt, { seconds: RATE_WINDOW_SECONDS, maxNames: options.maxNames });
    this.#points = Object.fromEntries(SERIES.map((name) => [name, new Float64Array(STATS_POINTS)])) as Record<SeriesName, Float64Array>;
  }

  /** Records `count` numbers handed out from sequence `name`. */
  allocated(name: string, count: number): void {
    this.#numbers += count;
    this.#rates.add(name, count);
  }

  /** Records an answered HTTP request. */
  answered(): void {
    this.#requests += 1;
  }

  /** Records an error answer with its code. */
  failed(code: ErrorCode): void {
    this.#failures += 1;
    this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
  }

  /** The allocator's `onCommit` (bound). */
  readonly onCommit = (info: CommitInfo): void => {
    const seen = this.#commits;
    this.#commits += 1;
    this.#committedRequests += info.size;
    // Reservoir sampling past the buffer: every commit of the second equally likely to be kept.
    const slot = seen < DURATIONS_PER_SECOND ? seen : Math.floor(Math.random() * (seen + 1));
    if (slot < DURATIONS_PER_SECOND) this.#durations[slot] = info.durationMs;
  };

  /** Closes a second at every second boundary until `stop` (the timer keeps no process alive). */
  start(): void {
    if (this.#timer !== undefined) return;
    const schedule = (): void => {
      const now = this.#now();
      // A few ms past the boundary, so that each point's t is the second it covered.
      this.#timer = setTimeout(() => {
        if (this.#now() - this.#secondStart >= SHORTEST_SECOND_MS) this.closeSecond();
        schedule();
      }, 1005 - (now % 1000));
      this.#timer.unref();
    };
    schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Ends the running second: its point joins the series, the rate window moves on. */
  closeSecond(): void {
    const now = this.#now();
    const seconds = Math.max(now - this.#secondStart, 1) / 1000;
    const at = (this.#head + this.#size) % STATS_POINTS;
    const previous = this.#size === 0 ? Number.NEGATIVE_INFINITY : (this.#t[(at + STATS_POINTS - 1) % STATS_POINTS] as number);
    this.#t[at] = Math.max(Math.floor(this.#secondStart / 1000), previous + 1);
    const kept = Math.min(this.#commits, DURATIONS_PER_SECOND);
    const durations = this.#durations.subarray(0, kept).sort();
    const point = this.#points;
    point.numbers_per_second[at] = this.#numbers / seconds;
    point.requests_per_second[at] = this.#requests / seconds;
    point.errors_per_second[at] = this.#failures / seconds;
    point.commit_p50_ms[at] = percentile(durations, 0.5);
    point.commit_p99_ms[at] = percentile(durations, 0.99);
    point.batch_size[at] = this.#commits === 0 ? Number.NaN : this.#committedRequests / this.#commits;
    point.pending[at] = this.#pending();
    if (this.#size < STATS_POINTS) this.#size += 1;
    else this.#head = (this.#head + 1) % STATS_POINTS;
    this.#secondStart = now;
    this.#numbers = 0;
    this.#requests = 0;
    this.#failures = 0;
    this.#commits = 0;
    this.#committedRequests = 0;
    this.#rates.rotate(now);
  }

  /** The closed seconds that started after `since` (unix seconds), oldest first. */
  series(since = Number.NEGATIVE_INFINITY): StatsSeries {
    const t: number[] = [];
    const values = Object.fromEntries(SERIES.map((name) => [name, [] as (number | null)[]])) as Record<SeriesName, (number | null)[]>;
    for (let i = 0; i < this.#size; i += 1) {
      const at = (this.#head + i) % STATS_POINTS;
      const start = this.#t[at] as number;
      if (start <= since) continue;
      t.push(start);
      for (const name of SERIES) {
        const value = this.#points[name][at] as number;
        values[name].push(Number.isNaN(value) ? null : round(value));
      }
    }
    // Only the three commit series hold nulls (NaN: a second without commits); the others are always numbers.
    return { t, ...values } as StatsSeries;
  }

  /** Error answers since the start, by code (codes never answered are left out). */
  errors(): Partial<Record<ErrorCode, number>> {
    return Object.fromEntries(this.#errors);
  }

  /** The `limit` busiest sequences over the rate window. */
  busiest(limit: number): readonly NameRate[] {
    return this.#rates.busiest(limit, this.#now());
  }

  /** Numbers per second of these sequences over the rate window. */
  rates(names: readonly string[]): Map<string, number> {
    return this.#rates.rates(names, this.#now());
  }

  /** Seconds since the start. */
  uptimeSeconds(): number {
    return (this.#now() - this.startedAt) / 1000;
  }
}

/** Nearest-rank percentile of sorted values; NaN for none. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
}

/** Three decimals: enough for rates and milliseconds, and short JSON. */
export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
