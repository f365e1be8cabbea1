import { isInt64 } from '../core/int64.js';
import { isReservationId, type GaplessImport, type StoredReservation, type StoredValue } from '../core/gapless.js';
import type { AnswerLabels } from '../core/periodic.js';
import type { IssuedRange, SequenceOptions, SequencePosition } from '../core/sequence.js';
import type { Period } from '../core/period.js';
import { reasonProblem } from '../http/inputs.js';
import { labelFields, readLabels, time } from './full-format-periods.js';

/**
 * What the full format (version 3) carries of a gapless sequence beyond its
 * row (core/gapless.ts, GaplessImport): the first value of its series, its
 * values that are not confirmed, and its open reservations, so that a move
 * (SQLite to PostgreSQL) keeps the series unbroken and holders can still
 * settle their reservations on the new store:
 *
 *   "series_first": 1,
 *   "values": [{"value": 3, "state": "void", "reason": "cancelled", "updated_at": "2026-11-30T08:00:00.000Z"},
 *              {"value": 5, "state": "reserved", "reservation": "<id>", "expires_at": "…", "updated_at": "…"}],
 *   "reservations": [{"id": "<id>", "value": 5, "expires_at": "…", "state": "reserved", "reason": null}]
 *
 * With periods or a format (version 4), each value and reservation adds the
 * "period" and "formatted" it was first handed out with
 * (full-format-periods.ts); a value is then known by its period and number.
 *
 * Only open reservations are carried (settled ids answer reservation_not_found
 * after a move); an open one may have expired and its value gone to another.
 * Times are ISO 8601 in UTC with milliseconds. A value of the series without
 * an entry in `values` is confirmed.
 */

const iso = (ms: number): string => JSON.stringify(new Date(ms).toISOString());
const text = (value: string | undefined): string => (value === undefined ? 'null' : JSON.stringify(value));

function valueEntry(stored: StoredValue): string {
  const fields = [`"value": ${stored.value}`, `"state": "${stored.state}"`];
  if (stored.state === 'reserved') fields.push(`"reservation": ${text(stored.reservation)}`, `"expires_at": ${stored.expiresAt === undefined ? 'null' : iso(stored.expiresAt)}`);
  if (stored.state === 'void') fields.push(`"reason": ${text(stored.reason)}`);
  return `{${fields.join(', ')}${labelFields(stored.labels)}, "updated_at": ${iso(stored.updatedAt)}}`;
}

function reservationEntry(reservation: StoredReservation): string {
  return (
    `{"id": ${JSON.stringify(reservation.id)}, "value": ${reservation.value}, "expires_at": ${iso(reservation.expiresAt)}, ` +
    `"state": "${reservation.state}", "reason": ${text(reservation.reason)}${labelFields(reservation.labels)}}`
  );
}

/** A value's key: its period and number (a period restarts the numbers). */
const keyOf = (value: bigint, labels: AnswerLabels | undefined): string => `${labels?.period ?? ''}|${value}`;

/** The gapless fields of a full-format entry, after its other fields (exact integers, never through a float). */
export function gaplessFields(gapless: GaplessImport): string {
  return (
    `, "series_first": ${gapless.seriesFirst ?? 'null'}, "values": [${gapless.values.map(valueEntry).join(', ')}], ` +
    `"reservations": [${gapless.reservations.map(reservationEntry).join(', ')}]`
  );
}

type Fields = Record<string, unknown>;

const int64 = (value: unknown): value is bigint => typeof value === 'bigint' && isInt64(value);

/** A reason: null (none), or a string a void accepts; a problem otherwise. */
function readReason(value: unknown): { reason: string | undefined } | string {
  if (value === null || value === undefined) return { reason: undefined };
  if (typeof value !== 'string') return 'reason must be a string or null';
  return reasonProblem(value) ?? { reason: value };
}

const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Reads the gapless fields of an entry whose options are gapless. Every
 * value must lie within the values the series handed out (from series_first
 * up to the one before the position's next value): a free value beyond them
 * would be handed out twice. With periods, that holds of the values of the
 * current period; a value of an earlier period keeps its own (it cannot be of
 * a later one). Returns the problems found, or the content.
 */
export function readGaplessFields(
  e: Fields,
  options: SequenceOptions,
  position: SequencePosition,
  issued: IssuedRange | undefined,
  period: Period | undefined,
): GaplessImport | string[] {
  const problems: string[] = [];
  if (e.series_first !== null && !int64(e.series_first)) return ['series_first must be null or a 64-bit integer'];
  if (!Array.isArray(e.values) || !Array.isArray(e.reservations)) return ['a gapless sequence needs "values" and "reservations" arrays'];
  const seriesFirst = e.series_first === null ? undefined : e.series_first;
  if (seriesFirst !== undefined && (issued === undefined || seriesFirst < issued.low || seriesFirst > issued.high)) {
    problems.push(`series_first ${seriesFirst} lies outside the values it handed out (issued_low..issued_high)`);
  }
  const nextNew = position.isCalled ? position.lastValue + options.increment : position.lastValue;
  const inSeries = (value: bigint): boolean =>
    seriesFirst !== undefined && (options.increment > 0n ? value >= seriesFirst && value < nextNew : value <= seriesFirst && value > nextNew);
  /** Why a value with these labels cannot have been handed out, or undefined. */
  const notHandedOut = (value: bigint, labels: AnswerLabels | string | undefined): string | undefined => {
    if (typeof labels === 'string') return labels;
    const of = labels?.period;
    if (of === undefined || period === undefined || of === period.label) {
      return inSeries(value) ? undefined : `value ${value} lies outside the values its series handed out`;
    }
    return of < period.label ? undefined : `period ${of} comes after the sequence's period ${period.label}`;
  };

  const values: StoredValue[] = [];
  const seen = new Set<string>();
  for (const [index, entry] of (e.values as unknown[]).entries()) {
    const where = `values[${index}]`;
    if (!isObject(entry) || !int64(entry.value)) {
      problems.push(`${where}: must be an object with a 64-bit integer value`);
      continue;
    }
    const { value, state } = entry;
    const updatedAt = time(entry.updated_at);
    const reason = state === 'void' ? readReason(entry.reason) : { reason: undefined };
    const expiresAt = state === 'reserved' ? time(entry.expires_at) : undefined;
    const reservation = state === 'reserved' ? entry.reservation : undefined;
    const labels = readLabels(entry);
    const outside = notHandedOut(value, labels);
    if (state !== 'reserved' && state !== 'free' && state !== 'void') problems.push(`${where}: state must be reserved, free or void`);
    else if (updatedAt === undefined) problems.push(`${where}: updated_at must be an ISO 8601 time (as 2026-11-30T08:00:00.000Z)`);
    else if (typeof reason === 'string') problems.push(`${where}: ${reason}`);
    else if (state === 'reserved' && (typeof reservation !== 'string' || !isReservationId(reservation) || expiresAt === undefined)) {
      problems.push(`${where}: a reserved value needs a reservation id and an expires_at time`);
    } else if (outside !== undefined) problems.push(`${where}: ${outside}`);
    else if (seen.has(keyOf(value, labels as AnswerLabels | undefined))) problems.push(`${where}: value ${value} appears twice`);
    else {
      seen.add(keyOf(value, labels as AnswerLabels | undefined));
      values.push({ value, state, reservation: reservation as string | undefined, expiresAt, reason: reason.reason, updatedAt, labels: labels as AnswerLabels | undefined });
    }
  }

  const reservations: StoredReservation[] = [];
  const ids = new Set<string>();
  for (const [index, entry] of (e.reservations as unknown[]).entries()) {
    const where = `reservations[${index}]`;
    if (!isObject(entry) || typeof entry.id !== 'string' || !isReservationId(entry.id) || !int64(entry.value)) {
      problems.push(`${where}: must be an object with a reservation id and a 64-bit integer value`);
      continue;
    }
    const { id, value, state } = entry;
    const expiresAt = time(entry.expires_at);
    const reason = readReason(entry.reason);
    const labels = readLabels(entry);
    const outside = notHandedOut(value, labels);
    // Settled ids are not carried (core/gapless.ts): a settled one beside the values could contradict them.
    if (state !== 'reserved') problems.push(`${where}: state must be reserved (only open reservations are carried)`);
    else if (expiresAt === undefined) problems.push(`${where}: expires_at must be an ISO 8601 time`);
    else if (typeof reason === 'string') problems.push(`${where}: ${reason}`);
    else if (ids.has(id)) problems.push(`${where}: reservation ${id} appears twice`);
    else if (outside !== undefined) problems.push(`${where}: ${outside}`);
    else {
      ids.add(id);
      reservations.push({ id, value, expiresAt, state, reason: reason.reason, labels: labels as AnswerLabels | undefined });
    }
  }

  // A reserved value's holder must be an open reservation of it, with the same lease: settling it reads both.
  for (const stored of values) {
    if (stored.state !== 'reserved') continue;
    const holder = reservations.find((r) => r.id === stored.reservation);
    if (holder?.state !== 'reserved' || keyOf(holder.value, holder.labels) !== keyOf(stored.value, stored.labels) || holder.expiresAt !== stored.expiresAt) {
      problems.push(`value ${stored.value} is reserved by ${stored.reservation}, which "reservations" does not hold open for it with the same expires_at`);
    }
  }
  // An open reservation whose value another holds lost it when its lease ended: it must have ended
  // by now (else settling it would find it unexpired without its value, which no store can answer).
  const now = Date.now();
  for (const reservation of reservations) {
    const held = values.find((v) => keyOf(v.value, v.labels) === keyOf(reservation.value, reservation.labels));
    if (held?.reservation !== reservation.id && reservation.expiresAt > now) {
      problems.push(`reservation ${reservation.id} is open until ${new Date(reservation.expiresAt).toISOString()}, but value ${reservation.value} is not reserved by it`);
    }
  }
  return problems.length > 0 ? problems : { seriesFirst, values, reservations };
}
