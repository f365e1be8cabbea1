import type { Period } from '../core/period.js';
import type { AnswerLabels } from '../core/periodic.js';
import type { SequenceRecord } from '../core/store.js';

/**
 * What the full format (version 4) carries of calendar periods and formats
 * (core/period.ts, core/format.ts): the three options and the recorded
 * period of each sequence, and the labels a gapless value or reservation
 * was first handed out with:
 *
 *   "restart": "yearly", "time_zone": "Europe/Berlin", "format": "INV-{yyyy}-{value:6}",
 *   "period": {"label": "2026", "starts_at": "2025-12-31T23:00:00.000Z", "ends_at": "2026-12-31T23:00:00.000Z"}
 *
 *   values: {"value": 5, "state": "free", "period": "2026", "formatted": "INV-2026-000005", "updated_at": "…"}
 *
 * A period is null before the first allocation with periods; a value's
 * "period" and "formatted" are absent when it has neither, each null when it
 * has only the other.
 */

type Fields = Record<string, unknown>;

const iso = (ms: number): string => JSON.stringify(new Date(ms).toISOString());
const text = (value: string | null | undefined): string => (value === undefined || value === null ? 'null' : JSON.stringify(value));

/** An ISO 8601 time as toISOString writes it, in ms since the epoch; undefined if it is not one. */
export function time(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) || new Date(ms).toISOString() !== value ? undefined : ms;
}

const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The period fields of a sequence's entry, after its lease. */
export function periodFields(record: SequenceRecord): string {
  const { options, period } = record;
  const recorded = period === undefined ? 'null' : `{"label": ${text(period.label)}, "starts_at": ${iso(period.startsAt)}, "ends_at": ${iso(period.endsAt)}}`;
  return `"restart": ${text(options.restart)}, "time_zone": ${text(options.timeZone)}, "format": ${text(options.format)}, "period": ${recorded}`;
}

/** The options of an entry (resolveOptions checks their content), or a problem if they are not strings. */
export function readPeriodOptions(e: Fields): { restart: string; timeZone: string; format: string | null } | string {
  if (typeof e.restart !== 'string') return 'restart must be a string';
  if (typeof e.time_zone !== 'string') return 'time_zone must be a string';
  if (e.format !== null && typeof e.format !== 'string') return 'format must be a string or null';
  return { restart: e.restart, timeZone: e.time_zone, format: e.format };
}

const LABEL = /^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$/;

/** The recorded period of an entry: null, or a label and two times, the start first; a problem otherwise. */
export function readPeriod(value: unknown): Period | undefined | string {
  if (value === null) return undefined;
  const problem = 'period must be null or {"label": "2026", "starts_at": <ISO 8601 time>, "ends_at": <a later ISO 8601 time>}';
  if (!isObject(value) || typeof value.label !== 'string' || !LABEL.test(value.label)) return problem;
  const startsAt = time(value.starts_at);
  const endsAt = time(value.ends_at);
  if (startsAt === undefined || endsAt === undefined || startsAt >= endsAt) return problem;
  return { label: value.label, startsAt, endsAt };
}

/** The label fields of a gapless value or reservation (none without labels), each after a comma. */
export function labelFields(labels: AnswerLabels | undefined): string {
  return labels === undefined ? '' : `, "period": ${text(labels.period)}, "formatted": ${text(labels.formatted)}`;
}

/** The labels of a value or reservation entry: none when both fields are absent; a problem if one is not a string or null. */
export function readLabels(entry: Fields): AnswerLabels | undefined | string {
  if (entry.period === undefined && entry.formatted === undefined) return undefined;
  const { period, formatted } = entry;
  if (period !== null && (typeof period !== 'string' || !LABEL.test(period))) return 'period must be null or a period label (2026, 2026-11, 2026-11-30)';
  if (formatted !== null && typeof formatted !== 'string') return 'formatted must be a string or null';
  const shown = formatted ?? undefined;
  return { period: period ?? undefined, formatted: shown, lastFormatted: shown };
}
