import { checkFormat, InvalidFormatError } from './format.js';
import { INT64_MAX, INT64_MIN } from './int64.js';
import { isTimeZone, RESTARTS, type Restart } from './period.js';

/** The lease of a gapless reservation: default and bounds, in seconds (core/gapless.ts has the rest of the rules). */
export const DEFAULT_LEASE_SECONDS = 300;
export const MAX_LEASE_SECONDS = 86_400;

/**
 * Sequence arithmetic with PostgreSQL `CREATE SEQUENCE` semantics, in bigint,
 * free of I/O: stores keep a sequence's options and position, and call these
 * functions to move it. Nothing here can produce a value outside the 64-bit
 * range or the sequence's bounds.
 */

export interface SequenceOptions {
  readonly start: bigint;
  readonly increment: bigint;
  readonly minValue: bigint;
  readonly maxValue: bigint;
  readonly cycle: boolean;
  /** How many values a store reserves ahead and hands out from memory (1: none). */
  readonly cache: bigint;
  /** Values go out as reservations to confirm, release or void (core/gapless.ts); needs cache 1 and no cycle. */
  readonly gapless: boolean;
  /** A gapless reservation's lease, in whole seconds (1 to 86400). */
  readonly leaseSeconds: number;
  /** Calendar periods: the counter starts again at `start` each period (core/period.ts). */
  readonly restart: Restart;
  /** The IANA time zone whose local midnight begins a period, and whose dates a format shows. */
  readonly timeZone: string;
  /** A template for formatted numbers (core/format.ts), or null. */
  readonly format: string | null;
}

/**
 * Where a sequence stands, as PostgreSQL keeps it: `lastValue` with
 * `isCalled` false means `lastValue` is the next value to hand out (after
 * creation and after a reset); with `isCalled` true it was the last one handed out.
 */
export interface SequencePosition {
  readonly lastValue: bigint;
  readonly isCalled: boolean;
}

export const MAX_CACHE = 1_000_000n;

export type OptionName =
  | 'start'
  | 'increment'
  | 'min_value'
  | 'max_value'
  | 'cycle'
  | 'cache'
  | 'gapless'
  | 'lease_seconds'
  | 'restart'
  | 'time_zone'
  | 'format';

/** An option set that cannot be used; `field` names the option at fault. */
export class InvalidOptionsError extends Error {
  constructor(
    readonly field: OptionName | 'next_value',
    message: string,
  ) {
    super(message);
    this.name = 'InvalidOptionsError';
  }
}

export type OptionChanges = Partial<SequenceOptions>;

/**
 * Completes and checks an option set. Defaults follow PostgreSQL: ascending
 * sequences span 1..2^63-1 and start at their minimum, descending ones span
 * -2^63..-1 and start at their maximum.
 */
export function resolveOptions(given: OptionChanges, base?: SequenceOptions): SequenceOptions {
  const increment = given.increment ?? base?.increment ?? 1n;
  if (increment === 0n) throw new InvalidOptionsError('increment', 'increment must not be zero.');
  const ascending = increment > 0n;
  const minValue = given.minValue ?? base?.minValue ?? (ascending ? 1n : INT64_MIN);
  const maxValue = given.maxValue ?? base?.maxValue ?? (ascending ? INT64_MAX : -1n);
  if (minValue >= maxValue) {
    throw new InvalidOptionsError(
      given.maxValue !== undefined && given.minValue === undefined ? 'max_value' : 'min_value',
      `min_value (${minValue}) must be less than max_value (${maxValue}).`,
    );
  }
  const start = given.start ?? base?.start ?? (ascending ? minValue : maxValue);
  if (start < minValue || start > maxValue) {
    throw new InvalidOptionsError('start', `start (${start}) must lie within min_value (${minValue}) and max_value (${maxValue}).`);
  }
  const cache = given.cache ?? base?.cache ?? 1n;
  if (cache < 1n || cache > MAX_CACHE) {
    throw new InvalidOptionsError('cache', `cache must be from 1 to ${MAX_CACHE}, got ${cache}.`);
  }
  const cycle = given.cycle ?? base?.cycle ?? false;
  const gapless = given.gapless ?? base?.gapless ?? false;
  const leaseSeconds = given.leaseSeconds ?? base?.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 1 || leaseSeconds > MAX_LEASE_SECONDS) {
    throw new InvalidOptionsError('lease_seconds', `lease_seconds must be a whole number of seconds from 1 to ${MAX_LEASE_SECONDS}, got ${leaseSeconds}.`);
  }
  if (gapless && cache !== 1n) {
    throw new InvalidOptionsError('gapless', `A gapless sequence hands out its values one reservation at a time: cache must be 1, got ${cache}.`);
  }
  if (gapless && cycle) {
    throw new InvalidOptionsError('gapless', 'A gapless sequence cannot cycle: its values would repeat.');
  }
  const restart = given.restart ?? base?.restart ?? 'never';
  if (!RESTARTS.includes(restart)) {
    throw new InvalidOptionsError('restart', `restart must be one of ${RESTARTS.map((r) => `"${r}"`).join(', ')}.`);
  }
  const timeZone = given.timeZone ?? base?.timeZone ?? 'UTC';
  if (!isTimeZone(timeZone)) throw new InvalidOptionsError('time_zone', `time_zone must be an IANA time zone name such as "Europe/Berlin"; "${timeZone}" is not one.`);
  const format = given.format === undefined ? (base?.format ?? null) : given.format;
  if (format !== null) {
    try {
      checkFormat(format, restart);
    } catch (error) {
      if (error instanceof InvalidFormatError) throw new InvalidOptionsError('format', error.message);
      throw error;
    }
  }
  return { start, increment, minValue, maxValue, cycle, cache, gapless, leaseSeconds, restart, timeZone, format };
}

export const DEFAULT_OPTIONS: SequenceOptions = resolveOptions({});

/** The position of a sequence that has handed out nothing yet. */
export function initialPosition(options: SequenceOptions): SequencePosition {
  return { lastValue: options.start, isCalled: false };
}

const wrapTarget = (options: SequenceOptions): bigint => (options.increment > 0n ? options.minValue : options.maxValue);

const within = (value: bigint, options: SequenceOptions): boolean =>
  value >= options.minValue && value <= options.maxValue;

/** The value the next allocation would return, or undefined when the sequence is exhausted. */
export function peekNext(position: SequencePosition, options: SequenceOptions): bigint | undefined {
  if (!position.isCalled) return position.lastValue;
  const candidate = position.lastValue + options.increment;
  if (within(candidate, options)) return candidate;
  return options.cycle ? wrapTarget(options) : undefined;
}

export type Allocated =
  | { readonly ok: true; readonly first: bigint; readonly last: bigint; readonly position: SequencePosition }
  | { readonly ok: false; readonly reason: 'exhausted' };

/**
 * Takes `count` values: first, first+increment, … last, contiguous. A batch
 * that would cross the bound takes nothing (answer: exhausted); with `cycle`
 * it starts again from the other bound instead, skipping the values left
 * before the bound, and is exhausted only if it does not fit the whole range.
 */
export function takeValues(position: SequencePosition, options: SequenceOptions, count: bigint): Allocated {
  if (count < 1n) throw new RangeError(`count must be at least 1, got ${count}`);
  const span = (count - 1n) * options.increment;
  const first = peekNext(position, options);
  if (first !== undefined && within(first + span, options)) {
    return { ok: true, first, last: first + span, position: { lastValue: first + span, isCalled: true } };
  }
  if (options.cycle) {
    const restart = wrapTarget(options);
    if (within(restart + span, options)) {
      return { ok: true, first: restart, last: restart + span, position: { lastValue: restart + span, isCalled: true } };
    }
  }
  return { ok: false, reason: 'exhausted' };
}

/**
 * Why changing `current` to `next` at `position` would be unsafe, or
 * undefined if it is not: the next value must stay within the new bounds, and
 * a sequence that has handed out values (`issued`, which resets without
 * force never clear) must keep its direction (else the same values come again).
 */
export function changeConflict(
  current: SequenceOptions,
  next: SequenceOptions,
  position: SequencePosition,
  issued: IssuedRange | undefined,
): string | undefined {
  if (issued !== undefined && current.increment > 0n !== next.increment > 0n) {
    return (
      `the change reverses the direction of a sequence that has handed out values (${describeIssued(issued)}), ` +
      'so they would be handed out again; reset it with force first.'
    );
  }
  const candidate = position.isCalled ? position.lastValue + next.increment : position.lastValue;
  if (within(candidate, next)) return undefined;
  const pastFarBound = next.increment > 0n ? candidate > next.maxValue : candidate < next.minValue;
  // At the far bound the sequence wraps (cycle) or was exhausted already: the change does not cause that.
  if (pastFarBound && position.isCalled && (next.cycle || peekNext(position, current) === undefined)) return undefined;
  return `its next value would be ${candidate}, outside the new bounds ${next.minValue}..${next.maxValue}; reset it first.`;
}

/**
 * The values a sequence has handed out, as its two high-water marks: the
 * lowest and the highest value ever handed out (a reserved block of a cached
 * sequence counts as handed out). Undefined: none since the sequence was
 * created, reset back with force, or forgotten. Allocations only widen it;
 * a reset without force, an option change and a delete keep it.
 */
export interface IssuedRange {
  readonly low: bigint;
  readonly high: bigint;
}

/** The range widened by the run first..last (in either order). */
export function widen(issued: IssuedRange | undefined, first: bigint, last: bigint): IssuedRange {
  const low = first < last ? first : last;
  const high = first < last ? last : first;
  if (issued === undefined) return { low, high };
  return { low: issued.low < low ? issued.low : low, high: issued.high > high ? issued.high : high };
}

/** Both ranges in one (the smallest range covering both). */
export function unite(a: IssuedRange | undefined, b: IssuedRange | undefined): IssuedRange | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return widen(a, b.low, b.high);
}

export function describeIssued(issued: IssuedRange): string {
  return issued.low === issued.high ? `${issued.low}` : `${issued.low} to ${issued.high}`;
}

/**
 * Whether going on from `position` could hand out a value of `issued` again:
 * its next value is not strictly beyond the high-water mark in its direction
 * (above `high` ascending, below `low` descending). An exhausted sequence
 * hands out nothing. (A cycle wraps back by design; this looks at the next value.)
 */
export function reissues(issued: IssuedRange | undefined, options: SequenceOptions, position: SequencePosition): boolean {
  if (issued === undefined) return false;
  const next = peekNext(position, options);
  if (next === undefined) return false;
  return options.increment > 0n ? next <= issued.high : next >= issued.low;
}

/**
 * What a position alone proves a sequence handed out, for stores and files
 * that kept no high-water marks: the last value handed out and everything
 * from `start` up to it; for a position not called, the values from `start`
 * up to (not including) its next value. A superset of the truth errs safe.
 */
export function impliedIssued(options: SequenceOptions, position: SequencePosition): IssuedRange | undefined {
  const ascending = options.increment > 0n;
  const { start } = options;
  const { lastValue } = position;
  const startBehind = ascending ? start < lastValue : start > lastValue;
  if (position.isCalled) return startBehind ? widen(undefined, start, lastValue) : { low: lastValue, high: lastValue };
  if (!startBehind) return undefined;
  return ascending ? { low: start, high: lastValue - 1n } : { low: lastValue + 1n, high: start };
}

/**
 * Where a sequence with `options`, about to start at `position`, must start
 * instead so that it never hands out a value of `issued` (a name deleted and
 * used again continues after its high-water mark): unchanged if it is beyond
 * the mark already, else the first value past it; undefined when no value
 * past it lies within the bounds.
 */
export function positionAfter(
  issued: IssuedRange | undefined,
  options: SequenceOptions,
  position: SequencePosition = initialPosition(options),
): SequencePosition | undefined {
  if (!reissues(issued, options, position) || issued === undefined) return position;
  const next = options.increment > 0n ? issued.high + 1n : issued.low - 1n;
  return within(next, options) ? { lastValue: next, isCalled: false } : undefined;
}

/**
 * A sequence created on first use, with the default options: under a name
 * deleted before, it continues after the values `issued` there (and is
 * exhausted if none is left past them).
 */
export function firstUseState(issued: IssuedRange | undefined): SequenceState {
  const options = DEFAULT_OPTIONS;
  const position = positionAfter(issued, options) ?? { lastValue: options.maxValue, isCalled: true };
  return { options, position, issued };
}

export interface SequenceState {
  readonly options: SequenceOptions;
  readonly position: SequencePosition;
  readonly issued: IssuedRange | undefined;
}

/**
 * A value of the seed format (the Python service's sequences.json): the last
 * number issued, 0 for none, of an ascending sequence with default options.
 */
export function seedState(lastIssued: bigint): SequenceState {
  const position = lastIssued === 0n ? initialPosition(DEFAULT_OPTIONS) : { lastValue: lastIssued, isCalled: true };
  return { options: DEFAULT_OPTIONS, position, issued: impliedIssued(DEFAULT_OPTIONS, position) };
}

/** The seed format's value of a sequence: the last number it issued. */
export function lastIssued(position: SequencePosition, increment: bigint): bigint {
  return position.isCalled ? position.lastValue : position.lastValue - increment;
}

/** How many values are left before the bound, without cycling. */
export function valuesLeft(position: SequencePosition, options: SequenceOptions): bigint {
  const first = position.isCalled ? position.lastValue + options.increment : position.lastValue;
  if (!within(first, options)) return 0n;
  return options.increment > 0n
    ? (options.maxValue - first) / options.increment + 1n
    : (first - options.minValue) / -options.increment + 1n;
}

/**
 * Reserves a block for a cached sequence: `cache` values, or `count` if more,
 * or what is left before the bound if that is less but still covers `count`.
 */
export function reserve(position: SequencePosition, options: SequenceOptions, count: bigint): Allocated {
  const wanted = count > options.cache ? count : options.cache;
  const left = valuesLeft(position, options);
  // What is left before the bound comes first, as with cache 1; only then does a cycle wrap.
  if (left >= count && left < wanted) return takeValues(position, options, left);
  if (left < count && options.cycle) {
    // After the wrap the same rule: the whole range, if that is fewer than wanted but covers `count`.
    const range = valuesLeft({ lastValue: wrapTarget(options), isCalled: false }, options);
    if (range >= count && range < wanted) return takeValues(position, options, range);
  }
  return takeValues(position, options, wanted);
}

/** The position after a reset to `nextValue`, which must lie within the bounds. */
export function resetPosition(options: SequenceOptions, nextValue: bigint): SequencePosition {
  if (!within(nextValue, options)) {
    throw new InvalidOptionsError(
      'next_value',
      `next_value (${nextValue}) must lie within min_value (${options.minValue}) and max_value (${options.maxValue}).`,
    );
  }
  return { lastValue: nextValue, isCalled: false };
}

/**
 * Whether a reset to `nextValue` moves back towards values already handed
 * out (lower for ascending, higher for descending than the next value).
 */
export function resetReissues(position: SequencePosition, options: SequenceOptions, nextValue: bigint): boolean {
  // Past the bound (exhausted), the frontier is one step beyond it.
  const frontier = peekNext(position, options) ?? (options.increment > 0n ? options.maxValue + 1n : options.minValue - 1n);
  return options.increment > 0n ? nextValue < frontier : nextValue > frontier;
}
