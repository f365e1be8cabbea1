/**
 * Calendar periods of a sequence (`restart`: yearly, monthly, daily), in its
 * time zone, and the rule that a period never goes back. Free of I/O: the
 * store supplies its clock (`now`, ms since the epoch: SQLite the process's,
 * PostgreSQL the database's), reads the recorded period, and writes what
 * `periodFor` decides in the same commit as the allocation.
 */

export type Restart = 'never' | 'yearly' | 'monthly' | 'daily';
export const RESTARTS: readonly Restart[] = ['never', 'yearly', 'monthly', 'daily'];

/** A sequence's current period: its label and the instants it spans, [startsAt, endsAt). */
export interface Period {
  /** `2026`, `2026-11` or `2026-11-30`. */
  readonly label: string;
  /** ms since the epoch: local midnight of its first day in the sequence's time zone (when it was recorded). */
  readonly startsAt: number;
  /** ms since the epoch: local midnight of the first day of the next period. */
  readonly endsAt: number;
}

/** A local calendar day. */
export interface Day {
  readonly year: number;
  /** 1 to 12. */
  readonly month: number;
  /** 1 to 31. */
  readonly day: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let format = formatters.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, format);
  }
  return format;
}

/** Whether `zone` is an IANA time zone name this runtime knows (`UTC` included). */
export function isTimeZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64) return false;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The local wall-clock time of `instant` in `zone`, as if it were UTC (ms). */
function wallClock(instant: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(instant)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const { year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = parts;
  return Date.UTC(year, month - 1, day, hour, minute, second) + (instant % 1000 + 1000) % 1000;
}

/** The local calendar day of `instant` in `zone`. */
export function dayAt(instant: number, zone: string): Day {
  const local = new Date(wallClock(instant, zone));
  return { year: local.getUTCFullYear(), month: local.getUTCMonth() + 1, day: local.getUTCDate() };
}

/**
 * The first instant of a local day in `zone`: its midnight, or, where the
 * zone skips midnight (a daylight-saving change at 00:00), the first instant
 * that day has.
 */
export function startOfDay(day: Day, zone: string): number {
  const target = Date.UTC(day.year, day.month - 1, day.day);
  // The offset at a guess, then at the corrected guess: two steps settle every real zone.
  let instant = target - (wallClock(target, zone) - target);
  instant = target - (wallClock(instant, zone) - instant);
  // A skipped midnight: the day starts at the first instant whose local date is that day.
  while (sameDay(dayAt(instant - 60_000, zone), day)) instant -= 60_000;
  while (!sameDay(dayAt(instant, zone), day)) instant += 60_000;
  return instant;
}

function sameDay(a: Day, b: Day): boolean {
  return a.year === b.year && a.month === b.month && a.day === b.day;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** The period of `restart` that contains `now` in `zone`. */
export function periodAt(restart: Exclude<Restart, 'never'>, zone: string, now: number): Period {
  const { year, month, day } = dayAt(now, zone);
  let first: Day;
  let next: Day;
  let label: string;
  if (restart === 'yearly') {
    first = { year, month: 1, day: 1 };
    next = { year: year + 1, month: 1, day: 1 };
    label = pad(year, 4);
  } else if (restart === 'monthly') {
    first = { year, month, day: 1 };
    next = month === 12 ? { year: year + 1, month: 1, day: 1 } : { year, month: month + 1, day: 1 };
    label = `${pad(year, 4)}-${pad(month, 2)}`;
  } else {
    first = { year, month, day };
    const tomorrow = new Date(Date.UTC(year, month - 1, day + 1));
    next = { year: tomorrow.getUTCFullYear(), month: tomorrow.getUTCMonth() + 1, day: tomorrow.getUTCDate() };
    label = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
  }
  return { label, startsAt: startOfDay(first, zone), endsAt: startOfDay(next, zone) };
}

/** What an allocation at `now` does about periods. */
export interface PeriodDecision {
  /** The period the allocation belongs to (undefined: the sequence has none). */
  readonly period: Period | undefined;
  /** True when `period` is a new one: the counter restarts at `start` (and its marks with it) in this commit. */
  readonly restarted: boolean;
}

/**
 * Decides the period of an allocation at `now`. The recorded period stays
 * until it ends (`now < endsAt`), whatever the options say meanwhile: a clock
 * that says an earlier period (stepped back, a skewed instance) allocates in
 * the recorded one, and a change of `restart` or `time_zone` applies from the
 * next period on. Once it has ended, the period of `now` under the current
 * options begins, restarting the counter. A sequence without a recorded
 * period adopts the current one without restarting (nothing of a period was
 * handed out yet); with `restart` `never`, none begins.
 */
export function periodFor(restart: Restart, zone: string, recorded: Period | undefined, now: number): PeriodDecision {
  if (recorded !== undefined && now < recorded.endsAt) return { period: recorded, restarted: false };
  if (restart === 'never') return { period: undefined, restarted: false };
  const current = periodAt(restart, zone, now);
  if (recorded !== undefined && current.label === recorded.label) {
    // The same label again (a zone change moved its bounds): still the recorded period, now ending later.
    return { period: { ...recorded, endsAt: current.endsAt }, restarted: false };
  }
  return { period: current, restarted: recorded !== undefined };
}

/**
 * The day whose date parts a formatted number carries: the allocation's day
 * in `zone`, but never earlier than the first day of its period (a clock
 * stepped back allocates in the recorded period, and its date says so).
 */
export function formatDay(period: Period | undefined, zone: string, now: number): Day {
  const at = period !== undefined && now < period.startsAt ? period.startsAt : now;
  return dayAt(at, zone);
}
