import type pg from 'pg';
import {
  confirmedThrough,
  seriesOrder,
  type GaplessSummary,
  type StoredReservation,
  type StoredValue,
  type StoredValueState,
} from '../../core/gapless.js';
import type { AnswerLabels } from '../../core/periodic.js';
import { periodKey, valueLabels } from './labels.js';
import { DEFAULT_CLOCK, GAPLESS_VALUES, nowMs, RECORD_COLUMNS, RESERVATIONS, SEQUENCES, toRecord, type RecordRow, type StoredRecord } from './rows.js';

/**
 * A gapless sequence's tables on PostgreSQL (core/gapless.ts says what they
 * hold and decides everything): reads and writes only. Every write here runs
 * with the sequence's row locked (`FOR UPDATE`), which serializes every
 * allocation, settlement and admin change of the sequence across instances;
 * every read that decides is a statement run after that lock was taken, so it
 * sees what the previous holder committed. A stored reservation past its
 * lease reads as free: `expires_at <= now` below is core's `isExpired`, `now`
 * the database's clock (`clock`: clock_timestamp() but in tests), the same for
 * every instance. A value is keyed by its period too ('' for none): free
 * values go out again earliest period first (by label), then in the series'
 * order; the unbroken prefix speaks of the current period.
 */


/** The gapless summary of the sequence row `s` at `n.now` (NULL columns for one that is not gapless or is deleted). */
const SUMMARY_COLUMNS = (() => {
  const when = (sql: string): string => `CASE WHEN s.gapless AND s.deleted_at IS NULL THEN (${sql}) END`;
  const count = (where: string): string => `SELECT count(*) FROM ${GAPLESS_VALUES} g WHERE g.name = s.name AND ${where}`;
  // The earliest open value of the current period in the series' order: the first free one, or the first reserved one. `OFFSET 0`
  // keeps the scan on the partial index of the state: else min/max would walk the primary key, voids and all.
  const edge = (where: string): string => {
    const open = `SELECT g.value FROM ${GAPLESS_VALUES} g WHERE g.name = s.name AND g.period = coalesce(s.period_label, '') AND ${where} OFFSET 0`;
    return `CASE WHEN s.increment > 0 THEN (SELECT min(o.value) FROM (${open}) o) ELSE (SELECT max(o.value) FROM (${open}) o) END`;
  };
  return [
    `${when(count("g.state = 'reserved' AND g.expires_at > n.now"))} AS g_reserved`,
    `${when(count("g.state = 'reserved' AND g.expires_at <= n.now"))} AS g_expired`,
    `${when(count("g.state = 'free'"))} AS g_free`,
    `${when(edge("g.state = 'free'"))} AS g_first_free`,
    `${when(edge("g.state = 'reserved'"))} AS g_first_reserved`,
  ].join(',\n  ');
})();

export interface SummarizedRow extends RecordRow {
  g_reserved: string | null;
  g_expired: string | null;
  g_free: string | null;
  g_first_free: string | null;
  g_first_reserved: string | null;
}

/**
 * One statement reading whole records (`WHERE …` over the sequences table
 * `s`) with, for live gapless ones, their summary at the database's now: one
 * snapshot, so the counts agree with the position.
 */
export function summarizedSelect(where: string, tail = '', clock = DEFAULT_CLOCK): string {
  return `WITH n AS (SELECT ${nowMs(clock)} AS now)
    SELECT ${RECORD_COLUMNS}, ${SUMMARY_COLUMNS} FROM ${SEQUENCES} s, n WHERE ${where} ${tail}`;
}

/** A record with its gapless summary (core computes the unbroken prefix). */
export function toSummarized(row: SummarizedRow): StoredRecord {
  const record = toRecord(row);
  if (row.g_reserved === null || row.g_expired === null || row.g_free === null) return record;
  const candidates = [row.g_first_free, row.g_first_reserved].flatMap((value) => (value === null ? [] : [BigInt(value)]));
  const ascending = seriesOrder(record.options) === 'asc';
  const earliestOpen = candidates.reduce<bigint | undefined>((best, value) => (best === undefined || (ascending ? value < best : value > best) ? value : best), undefined);
  const gapless: GaplessSummary = {
    confirmedThrough: confirmedThrough(record.options, record.position, record.seriesFirst, earliestOpen),
    reserved: Number(row.g_reserved),
    free: Number(row.g_free) + Number(row.g_expired),
  };
  return { ...record, gapless };
}

/** The record of `name` (a tombstone included) with its summary, read after its row was locked by this transaction. */
export async function summarizedRecord(client: pg.PoolClient, name: string, clock: string): Promise<StoredRecord | undefined> {
  const { rows } = await client.query<SummarizedRow>(summarizedSelect('s.name = $1', '', clock), [name]);
  return rows[0] === undefined ? undefined : toSummarized(rows[0]);
}

/** A free value as found: its value, whether its row was a reservation past its lease, and its labels (it keeps them). */
export interface FreeValue {
  readonly value: bigint;
  readonly expired: boolean;
  readonly labels: AnswerLabels | undefined;
}

/**
 * The database's now and the first `limit` free values, earliest period
 * first, then in the series' order (released ones, and reservations past
 * their lease at that now), for a
 * sequence whose row this transaction has locked. Each branch reads one
 * partial index: the free values in order, and the leases that have ended
 * (`OFFSET 0` keeps that scan on them, then sorts the few it finds: ordered
 * by value, the planner would rather walk the primary key, voids and all).
 */
export async function freeValues(
  client: pg.PoolClient,
  name: string,
  order: 'asc' | 'desc',
  limit: number,
  clock: string,
): Promise<{ now: number; free: FreeValue[] }> {
  const by = `period, value ${order === 'asc' ? 'ASC' : 'DESC'}`;
  const { rows } = await client.query<{ now: string; value: string | null; state: StoredValueState | null; period: string | null; formatted: string | null }>(
    `WITH n AS (SELECT ${nowMs(clock)} AS now)
     SELECT n.now, f.value, f.state, f.period, f.formatted FROM n LEFT JOIN LATERAL (
       (SELECT value, state, period, formatted FROM ${GAPLESS_VALUES} WHERE name = $1 AND state = 'free' ORDER BY ${by} LIMIT $2)
       UNION ALL
       (SELECT value, state, period, formatted FROM (
          SELECT value, state, period, formatted FROM ${GAPLESS_VALUES} WHERE name = $1 AND state = 'reserved' AND expires_at <= n.now OFFSET 0
        ) ended ORDER BY ${by} LIMIT $2)
       ORDER BY ${by} LIMIT $2
     ) f ON true`,
    [name, limit],
  );
  const now = Number(rows[0]?.now);
  const free = rows.flatMap((row) =>
    row.value === null ? [] : [{ value: BigInt(row.value), expired: row.state === 'reserved', labels: valueLabels(row.period ?? '', row.formatted) }],
  );
  return { now, free };
}

/**
 * Writes reservations: each value's row becomes `reserved` by its holder
 * (inserted for a new value, taken over for a free one), and each id is
 * recorded. A row in the way that is neither free nor past its lease is a
 * bug of ours: refused, so that the transaction rolls back.
 */
export async function writeReservations(client: pg.PoolClient, name: string, reserved: readonly StoredValue[], now: number): Promise<void> {
  if (reserved.length === 0) return;
  const { rows } = await client.query<{ written: string }>(
    `WITH x AS (SELECT * FROM unnest($2::int8[], $3::text[], $4::int8[], $5::int8[], $7::text[], $8::text[]) AS x(value, id, expires_at, updated_at, period, formatted)),
     v AS (
       INSERT INTO ${GAPLESS_VALUES} AS g (name, value, state, reservation, expires_at, reason, updated_at, period, formatted)
       SELECT $1, x.value, 'reserved', x.id, x.expires_at, NULL, x.updated_at, x.period, x.formatted FROM x
       ON CONFLICT (name, period, value) DO UPDATE
         SET state = 'reserved', reservation = excluded.reservation, expires_at = excluded.expires_at, reason = NULL, updated_at = excluded.updated_at
         WHERE g.state = 'free' OR (g.state = 'reserved' AND g.expires_at <= $6)
       RETURNING 1
     ),
     r AS (INSERT INTO ${RESERVATIONS} (name, id, value, expires_at, state, period, formatted)
           SELECT $1, x.id, x.value, x.expires_at, 'reserved', x.period, x.formatted FROM x)
     SELECT count(*) AS written FROM v`,
    [
      name,
      reserved.map((stored) => stored.value.toString()),
      reserved.map((stored) => stored.reservation),
      reserved.map((stored) => stored.expiresAt),
      reserved.map((stored) => stored.updatedAt),
      now,
      reserved.map((stored) => periodKey(stored.labels)),
      reserved.map((stored) => stored.labels?.formatted ?? null),
    ],
  );
  if (Number(rows[0]?.written) !== reserved.length) {
    throw new Error(`gapless sequence '${name}': a value to reserve is held (reserved or void) already`);
  }
}

/** A row of the values table, as the driver reads it. */
export interface StoredValueRow {
  value: string;
  state: StoredValueState;
  reservation: string | null;
  expires_at: string | null;
  reason: string | null;
  updated_at: string;
  period: string;
  formatted: string | null;
}

export function toStoredValue(row: StoredValueRow): StoredValue {
  return {
    value: BigInt(row.value),
    state: row.state,
    reservation: row.reservation ?? undefined,
    expiresAt: row.expires_at === null ? undefined : Number(row.expires_at),
    reason: row.reason ?? undefined,
    updatedAt: Number(row.updated_at),
    labels: valueLabels(row.period, row.formatted),
  };
}

interface HeldRow {
  now: string;
  value: string | null;
  period: string | null;
  formatted: string | null;
  expires_at: string | null;
  state: StoredReservation['state'] | null;
  reason: string | null;
  held_state: StoredValueState | null;
  held_reservation: string | null;
  held_expires_at: string | null;
  held_reason: string | null;
  held_updated_at: string | null;
}

/** What a settlement decides on: the database's now, the reservation id and the row of its value. */
export interface Held {
  readonly now: number;
  readonly reservation: StoredReservation | undefined;
  readonly held: StoredValue | undefined;
}

/** Reads a reservation id and its value's row, after the sequence's row was locked by this transaction. */
export async function readHeld(client: pg.PoolClient, name: string, id: string, clock: string): Promise<Held> {
  const { rows } = await client.query<HeldRow>(
    `SELECT ${nowMs(clock)} AS now, r.value, r.period, r.formatted, r.expires_at, r.state, r.reason, v.state AS held_state, v.reservation AS held_reservation,
            v.expires_at AS held_expires_at, v.reason AS held_reason, v.updated_at AS held_updated_at
     FROM (SELECT 1) AS one
     LEFT JOIN ${RESERVATIONS} r ON r.name = $1 AND r.id = $2
     LEFT JOIN ${GAPLESS_VALUES} v ON v.name = r.name AND v.period = r.period AND v.value = r.value`,
    [name, id],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('the settlement read returned no row');
  const reservation: StoredReservation | undefined =
    row.value === null || row.expires_at === null || row.state === null
      ? undefined
      : {
          id,
          value: BigInt(row.value),
          expiresAt: Number(row.expires_at),
          state: row.state,
          reason: row.reason ?? undefined,
          labels: valueLabels(row.period ?? '', row.formatted),
        };
  const held: StoredValue | undefined =
    row.value === null || row.held_state === null || row.held_updated_at === null
      ? undefined
      : toStoredValue({
          value: row.value,
          state: row.held_state,
          reservation: row.held_reservation,
          expires_at: row.held_expires_at,
          reason: row.held_reason,
          updated_at: row.held_updated_at,
          period: row.period ?? '',
          formatted: row.formatted,
        });
  return { now: Number(row.now), reservation, held };
}

/**
 * Writes a settlement: the reservation id's final state, and its value's row
 * replaced by `value` (released or voided) or removed (`undefined`: confirmed).
 */
export async function writeSettlement(
  client: pg.PoolClient,
  name: string,
  reservation: StoredReservation,
  settled: { readonly state: StoredReservation['state']; readonly reason: string | undefined },
  value: StoredValue | undefined,
  now: number,
): Promise<void> {
  const settle = `UPDATE ${RESERVATIONS} SET state = $3, reason = $4, settled_at = $5 WHERE name = $1 AND id = $2`;
  const params = [name, reservation.id, settled.state, settled.reason ?? null, now, reservation.value.toString(), periodKey(reservation.labels)];
  if (value === undefined) {
    await client.query(`WITH r AS (${settle}) DELETE FROM ${GAPLESS_VALUES} WHERE name = $1 AND period = $7 AND value = $6`, params);
  } else {
    await client.query(
      `WITH r AS (${settle})
       UPDATE ${GAPLESS_VALUES} SET state = $8, reservation = NULL, expires_at = NULL, reason = $9, updated_at = $10
       WHERE name = $1 AND period = $7 AND value = $6`,
      [...params, value.state, value.reason ?? null, value.updatedAt],
    );
  }
}

