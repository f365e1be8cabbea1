import { formatParts, parseFormat } from './format.js';
import { formatDay, periodFor, type Period } from './period.js';
import { initialPosition, type IssuedRange, type SequenceOptions, type SequencePosition } from './sequence.js';

/**
 * How calendar periods and formats meet an allocation, once for every store.
 * A store calls `enterPeriod` before taking values of a sequence that has a
 * `restart` other than `never` or a recorded period (`hasPeriods`), writes
 * the period it returns with the position in the same commit, and builds the
 * answer's labels with `labelsOf` (only when `hasLabels`: other sequences pay
 * nothing).
 */

/** What an answer carries beside its values: the period and the formatted numbers. */
export interface AnswerLabels {
  /** The period's label (`2026`, `2026-11`, `2026-11-30`), undefined without periods. */
  readonly period: string | undefined;
  /** The first value formatted, undefined without a format. */
  readonly formatted: string | undefined;
  /** The last value formatted (batches), undefined without a format. */
  readonly lastFormatted: string | undefined;
}

export function hasPeriods(options: SequenceOptions, period: Period | undefined): boolean {
  return options.restart !== 'never' || period !== undefined;
}

export function hasLabels(options: SequenceOptions, period: Period | undefined): boolean {
  return options.format !== null || hasPeriods(options, period);
}

export interface PeriodicState {
  readonly position: SequencePosition;
  readonly issued: IssuedRange | undefined;
  readonly period: Period | undefined;
}

/**
 * The state an allocation at `now` takes values from: the same, or, when a new
 * period begins, the counter back at `start` with no marks (high-water marks
 * are kept per period: a restart is not a move back). `changed` says whether
 * the period or position must be written.
 */
export function enterPeriod(options: SequenceOptions, state: PeriodicState, now: number): PeriodicState & { readonly restarted: boolean; readonly changed: boolean } {
  const decision = periodFor(options.restart, options.timeZone, state.period, now);
  if (decision.restarted) {
    return { position: initialPosition(options), issued: undefined, period: decision.period, restarted: true, changed: true };
  }
  return { ...state, period: decision.period, restarted: false, changed: decision.period !== state.period };
}

/** The labels of an answer taking first..last at `now` in `period`. */
export function labelsOf(options: SequenceOptions, period: Period | undefined, now: number, first: bigint, last: bigint): AnswerLabels {
  if (options.format === null) return { period: period?.label, formatted: undefined, lastFormatted: undefined };
  const day = formatDay(period, options.timeZone, now);
  const parts = parseFormat(options.format);
  return { period: period?.label, formatted: formatParts(parts, first, day), lastFormatted: formatParts(parts, last, day) };
}
