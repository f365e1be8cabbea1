import type Database from 'better-sqlite3';
import { statementsOf } from './statements.js';
import {
  confirmedThrough,
  seriesOrder,
  viewOf,
  type GaplessImport,
  type GaplessSummary,
  type SettledState,
  type StoredReservation,
  type StoredValue,
  type StoredValueState,
  type ValueView,
} from '../../core/gapless.js';
import type { AnswerLabels } from '../../core/periodic.js';
import type { SequenceRecord, ValuesQuery } from '../../core/store.js';

/**
 * A gapless sequence's tables as statements (core/gapless.ts says what they
 * hold): `gapless_values`, the values not confirmed, and `reservations`,
 * every id issued. A stored reservation past its lease reads as free:
 * `expires_at <= now` below is core's `isExpired`. Reads of the open values
 * go through the partial index (its condition, `state IN ('reserved',
 * 'free')`, is repeated in each query so that SQLite uses it).
 */

const OPEN = "state IN ('reserved', 'free')";
/** An open row that reads as free at `?` (now). */
const FREE_AT = "(state = 'free' OR expires_at <= ?)";

/**
 * A value's or reservation's labels as two columns: its period ('' or NULL for
 * none) and its formatted number (one value: the last formatted is the same).
 */
function toLabels(period: string | null, formatted: string | null): AnswerLabels | undefined {
  const label = period === null || period === '' ? undefined : period;
  if (label === undefined && formatted === null) return undefined;
  return { period: label, formatted: formatted ?? undefined, lastFormatted: formatted ?? undefined };
}

/** The key column `period` of a value with these labels: '' for none. */
export function periodKey(labels: AnswerLabels | undefined): string {
  return labels?.period ?? '';
}

type ValueRow = [bigint, StoredValueState, string | null, bigint | null, string | null, bigint, string, string | null];

function toValue([value, state, reservation, expiresAt, reason, updatedAt, period, formatted]: ValueRow): StoredValue {
  return {
    value,
    state,
    reservation: reservation ?? undefined,
    expiresAt: expiresAt === null ? undefined : Number(expiresAt),
    reason: reason ?? undefined,
    updatedAt: Number(updatedAt),
    labels: toLabels(period, formatted),
  };
}

type ReservationRow = [string, bigint, bigint, StoredReservation['state'], string | null, string | null, string | null];

function toReservation([id, value, expiresAt, state, reason, period, formatted]: ReservationRow): StoredReservation {
  return { id, value, expiresAt: Number(expiresAt), state, reason: reason ?? undefined, labels: toLabels(period, formatted) };
}

const VALUE_COLUMNS = 'value, state, reservation, expires_at, reason, updated_at, period, formatted';
const RESERVATION_COLUMNS = 'id, value, expires_at, state, reason, period, formatted';

export class GaplessRows {
  readonly #sql: (sql: string) => Database.Statement;

  constructor(db: Database.Database) {
    this.#sql = statementsOf(db);
  }

  /**
   * The first free value (released, or reserved past its lease): of the
   * earliest period (labels order as their periods do: `2025-12` < `2026` <
   * `2026-01`; '' of no period first), then in the series' order; with its
   * stored state and the labels it was first handed out with.
   */
  lowestFree(name: string, order: 'asc' | 'desc', now: number): { value: bigint; expired: boolean; labels: AnswerLabels | undefined } | undefined {
    const row = this.#sql(
      `SELECT value, state, period, formatted FROM gapless_values WHERE name = ? AND ${OPEN} AND ${FREE_AT}
         ORDER BY period, value ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT 1`,
    )
      .raw(true)
      .get(name, now) as [bigint, StoredValueState, string, string | null] | undefined;
    return row === undefined ? undefined : { value: row[0], expired: row[1] === 'reserved', labels: toLabels(row[2], row[3]) };
  }

  /**
   * The summary `GET /sequences/{name}` shows, at `now`, of the current
   * period (the recorded one; '' for none): its series starts again with it.
   */
  summary(record: SequenceRecord, now: number): GaplessSummary {
    const { name, options } = record;
    const period = record.period?.label ?? '';
    const [reserved, free] = this.#sql(
      `SELECT count(*) FILTER (WHERE NOT ${FREE_AT}), count(*) FILTER (WHERE ${FREE_AT}) FROM gapless_values WHERE name = ? AND period = ? AND ${OPEN}`,
    )
      .raw(true)
      .get(now, now, name, period) as [bigint, bigint];
    const edge = seriesOrder(options) === 'asc' ? 'min' : 'max';
    const earliest = this.#sql(`SELECT ${edge}(value) FROM gapless_values WHERE name = ? AND period = ? AND ${OPEN}`).pluck().get(name, period) as
      | bigint
      | null;
    return {
      confirmedThrough: confirmedThrough(options, record.position, record.seriesFirst, earliest ?? undefined),
      reserved: Number(reserved),
      free: Number(free),
    };
  }

  /** The value of the period `period` ('' for none). */
  value(name: string, period: string, value: bigint): StoredValue | undefined {
    const row = this.#sql(`SELECT ${VALUE_COLUMNS} FROM gapless_values WHERE name = ? AND period = ? AND value = ?`).raw(true).get(name, period, value) as
      | ValueRow
      | undefined;
    return row === undefined ? undefined : toValue(row);
  }

  /** Writes a value's row (insert or replace), under the period of its labels. */
  putValue(name: string, stored: StoredValue): void {
    this.#sql(`INSERT OR REPLACE INTO gapless_values (name, ${VALUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      name,
      stored.value,
      stored.state,
      stored.reservation ?? null,
      stored.expiresAt ?? null,
      stored.reason ?? null,
      stored.updatedAt,
      periodKey(stored.labels),
      stored.labels?.formatted ?? null,
    );
  }

  /** The value is confirmed: its row goes. */
  removeValue(name: string, period: string, value: bigint): void {
    this.#sql('DELETE FROM gapless_values WHERE name = ? AND period = ? AND value = ?').run(name, period, value);
  }

  reservation(name: string, id: string): StoredReservation | undefined {
    const row = this.#sql(`SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE name = ? AND id = ?`).raw(true).get(name, id) as ReservationRow | undefined;
    return row === undefined ? undefined : toReservation(row);
  }

  addReservation(name: string, reservation: StoredReservation): void {
    this.#sql(`INSERT INTO reservations (name, ${RESERVATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(
      name,
      reservation.id,
      reservation.value,
      reservation.expiresAt,
      reservation.state,
      reservation.reason ?? null,
      reservation.labels?.period ?? null,
      reservation.labels?.formatted ?? null,
    );
  }

  settleReservation(name: string, id: string, state: SettledState, reason: string | undefined, now: number): void {
    this.#sql('UPDATE reservations SET state = ?, reason = ?, settled_at = ? WHERE name = ? AND id = ?').run(state, reason ?? null, now, name, id);
  }

  /** A page of values as read at `now`, ascending after `query.after`. */
  list(name: string, query: ValuesQuery, now: number): ValueView[] {
    const filters: Record<string, [string, unknown[]]> = {
      reserved: [`${OPEN} AND state = 'reserved' AND expires_at > ?`, [now]],
      free: [`${OPEN} AND ${FREE_AT}`, [now]],
      void: ["state = 'void'", []],
      all: ['1', []],
    };
    const [filter, params] = filters[query.state ?? 'all'] as [string, unknown[]];
    const after = query.after === undefined ? '' : 'AND (period, value) > (?, ?)';
    const rows = this.#sql(`SELECT ${VALUE_COLUMNS} FROM gapless_values WHERE name = ? ${after} AND ${filter} ORDER BY period, value LIMIT ?`)
      .raw(true)
      .all(name, ...(query.after === undefined ? [] : [query.after.period, query.after.value]), ...params, query.limit) as ValueRow[];
    return rows.map((row) => viewOf(toValue(row), now));
  }

  /** Everything stored of the name, as the full format carries it (open reservation ids only). */
  read(record: SequenceRecord): GaplessImport {
    const values = (
      this.#sql(`SELECT ${VALUE_COLUMNS} FROM gapless_values WHERE name = ? ORDER BY period, value`).raw(true).all(record.name) as ValueRow[]
    ).map(toValue);
    const reservations = (
      this.#sql(`SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE name = ? AND state = 'reserved' ORDER BY period, value, id`)
        .raw(true)
        .all(record.name) as ReservationRow[]
    ).map(toReservation);
    return { seriesFirst: record.seriesFirst, values, reservations };
  }

  /** Replaces the name's values and reservation ids by an import's. */
  write(name: string, gapless: GaplessImport): void {
    this.clear(name);
    for (const value of gapless.values) this.putValue(name, value);
    for (const reservation of gapless.reservations) this.addReservation(name, reservation);
  }

  /** Forgets the name's values and reservation ids (a forced reset, a delete). */
  clear(name: string): void {
    this.#sql('DELETE FROM gapless_values WHERE name = ?').run(name);
    this.#sql('DELETE FROM reservations WHERE name = ?').run(name);
  }
}
