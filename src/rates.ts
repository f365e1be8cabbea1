/** A name's numbers per second over the window (live-stats.ts). */
export interface NameRate {
  readonly name: string;
  readonly numbersPerSecond: number;
}

export interface RateWindowOptions {
  /** Seconds the window covers: the running second and the ones before it. */
  readonly seconds?: number;
  /** Most names one second keeps; numbers of further names count only in `untracked`. */
  readonly maxNames?: number;
}

/** A divisor under a second would turn the first numbers after a start into absurd rates. */
const MIN_SPAN_MS = 1000;
/** Windows with more names than this compute `busiest` once per second; smaller ones at every call. */
const CACHE_ABOVE_NAMES = 2000;

/**
 * Numbers handed out per sequence over the last few seconds, bounded in
 * memory and cost whatever the number of sequences: one Map per second (a
 * ring of `seconds` of them), each keeping at most `maxNames` names; the
 * numbers of names beyond that are only summed (`untracked`). Recording is
 * one Map increment and builds nothing; the caller closes each second
 * (`rotate`). Rates divide by the time the window really covers (less after
 * a start; more when a second was closed late).
 */
export class RateWindow {
  readonly #maxNames: number;
  readonly #buckets: Map<string, number>[];
  /** When each bucket started (ms); NaN: never used. */
  readonly #starts: Float64Array;
  readonly #untracked: Float64Array;
  #index = 0;
  #current: Map<string, number>;
  /** The sums of the closed seconds in the window, kept as seconds close: reads never merge the buckets. */
  readonly #closed = new Map<string, number>();
  /** Bumped at every rotation: what `busiest` caches against. */
  #rotations = 0;
  #busiest: { readonly rotations: number; readonly limit: number; readonly rates: readonly NameRate[] } | undefined;

  constructor(now: number, options: RateWindowOptions = {}) {
    const seconds = options.seconds ?? 10;
    this.#maxNames = options.maxNames ?? 5000;
    this.#buckets = Array.from({ length: seconds }, () => new Map<string, number>());
    this.#starts = new Float64Array(seconds).fill(Number.NaN);
    this.#untracked = new Float64Array(seconds);
    this.#starts[0] = now;
    this.#current = this.#buckets[0] as Map<string, number>;
  }

  /** Records `count` numbers of `name` in the running second. */
  add(name: string, count: number): void {
    const bucket = this.#current;
    const had = bucket.get(name);
    if (had !== undefined) bucket.set(name, had + count);
    else if (bucket.size < this.#maxNames) bucket.set(name, count);
    else this.#untracked[this.#index] = (this.#untracked[this.#index] as number) + count;
  }

  /**
   * Closes the running second at `now` (ms) and starts the next, dropping
   * the oldest: its names are added to the window's sums, the oldest's taken
   * out (at most 2 × maxNames Map updates, once a second, off the requests).
   */
  rotate(now: number): void {
    for (const [name, count] of this.#current) this.#closed.set(name, (this.#closed.get(name) ?? 0) + count);
    this.#index = (this.#index + 1) % this.#buckets.length;
    this.#current = this.#buckets[this.#index] as Map<string, number>;
    for (const [name, count] of this.#current) {
      const left = (this.#closed.get(name) ?? 0) - count;
      if (left > 0) this.#closed.set(name, left);
      else this.#closed.delete(name);
    }
    this.#current.clear();
    this.#untracked[this.#index] = 0;
    this.#starts[this.#index] = now;
    this.#rotations += 1;
  }

  /** Milliseconds the window covers at `now`: from its oldest second's start. */
  #spanMs(now: number): number {
    let oldest = this.#starts[this.#index] as number;
    for (const start of this.#starts) if (start < oldest) oldest = start;
    return Math.max(MIN_SPAN_MS, now - oldest);
  }

  /** Numbers per second of each name over the window (0 for names not seen, or not tracked). */
  rates(names: readonly string[], now: number): Map<string, number> {
    const perMs = 1000 / this.#spanMs(now);
    const rates = new Map<string, number>();
    for (const name of names) rates.set(name, ((this.#closed.get(name) ?? 0) + (this.#current.get(name) ?? 0)) * perMs);
    return rates;
  }

  /** Numbers per second over the window of names beyond the per-second limit. */
  untracked(now: number): number {
    let total = 0;
    for (const numbers of this.#untracked) total += numbers;
    return (total * 1000) / this.#spanMs(now);
  }

  /**
   * The `limit` names with the most numbers over the window, busiest first
   * (ties by name). Costs a pass over the window's names (at most
   * seconds × maxNames, no Map built): over many names it is computed once
   * per second at most.
   */
  busiest(limit: number, now: number): readonly NameRate[] {
    const cached = this.#busiest;
    if (cached !== undefined && cached.rotations === this.#rotations && cached.limit === limit) return cached.rates;
    // The top `limit` kept sorted, busiest first: one pass over the window's names, each compared with the last kept.
    const top: [string, number][] = [];
    const consider = (name: string, count: number): void => {
      if (top.length === limit && !before(name, count, top[limit - 1] as [string, number])) return;
      let at = top.length === limit ? limit - 1 : top.length;
      while (at > 0 && before(name, count, top[at - 1] as [string, number])) at -= 1;
      top.splice(at, 0, [name, count]);
      if (top.length > limit) top.pop();
    };
    const current = this.#current;
    for (const [name, count] of this.#closed) consider(name, count + (current.get(name) ?? 0));
    for (const [name, count] of current) if (!this.#closed.has(name)) consider(name, count);
    const perMs = 1000 / this.#spanMs(now);
    const rates = top.map(([name, count]) => ({ name, numbersPerSecond: count * perMs }));
    this.#busiest = this.#closed.size + current.size > CACHE_ABOVE_NAMES ? { rotations: this.#rotations, limit, rates } : undefined;
    return rates;
  }
}

/** Busier first, then by name. */
function before(name: string, count: number, other: readonly [string, number]): boolean {
  return count > other[1] || (count === other[1] && name < other[0]);
}
