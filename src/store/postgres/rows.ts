import type pg from 'pg';
import type { Period, Restart } from '../../core/period.js';
import type { IssuedRange, SequenceState } from '../../core/sequence.js';
import type { SequenceRecord } from '../../core/store.js';

/**
 * The sequences table and its rows: how a row reads into a record and how a
 * record is written. Every statement that writes a whole sequence is here.
 */

export const SEQUENCES = 'takeanumber_sequences';
export const KEYS = 'takeanumber_idempotency_keys';
/** Gapless sequences' values that are not confirmed, and every reservation id issued (core/gapless.ts). */
export const GAPLESS_VALUES = 'takeanumber_gapless_values';
export const RESERVATIONS = 'takeanumber_gapless_reservations';

/**
 * The database's now, in ms since the epoch: the clock gapless leases are
 * judged by, the same on every instance. `clock_timestamp()` is the time of
 * the call, not of the transaction's start (`now()`), so a statement run
 * after a lock wait reads a time after the wait.
 */
export const nowMs = (clock: string): string => `floor(extract(epoch FROM ${clock}) * 1000)::int8`;

/** The database clock a store reads: `clock_timestamp()`, unless a test gives another timestamptz expression. */
export const DEFAULT_CLOCK = 'clock_timestamp()';
export const NOW_MS = nowMs(DEFAULT_CLOCK);

/** A record as the table holds it, with its version (it changes with every admin change: instances holding blocks compare it). */
export type StoredRecord = SequenceRecord & { readonly version: bigint };

/** Every column of a record (times in ms since the epoch). */
export const RECORD_COLUMNS = `name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, version,
  issued_low, issued_high, gapless, lease_seconds, series_first, restart, time_zone, format, period_label, period_starts_at,
  period_ends_at, (extract(epoch from created_at) * 1000)::int8 AS created_ms,
  (extract(epoch from updated_at) * 1000)::int8 AS updated_ms, (extract(epoch from deleted_at) * 1000)::int8 AS deleted_ms`;

/** RECORD_COLUMNS of the row `s` (in an UPDATE … RETURNING over `s`). */
export const RECORD_COLUMNS_OF_S = RECORD_COLUMNS.replaceAll('created_at', 's.created_at').replaceAll('updated_at', 's.updated_at');

export interface RecordRow {
  name: string;
  last_value: string;
  is_called: boolean;
  start_value: string;
  increment: string;
  min_value: string;
  max_value: string;
  cycle: boolean;
  cache: string;
  version: string;
  issued_low: string | null;
  issued_high: string | null;
  gapless: boolean;
  lease_seconds: number;
  series_first: string | null;
  restart: Restart;
  time_zone: string;
  format: string | null;
  period_label: string | null;
  period_starts_at: string | null;
  period_ends_at: string | null;
  created_ms: string;
  updated_ms: string;
  deleted_ms: string | null;
}

export function toRecord(row: RecordRow): StoredRecord {
  return {
    name: row.name,
    options: {
      start: BigInt(row.start_value),
      increment: BigInt(row.increment),
      minValue: BigInt(row.min_value),
      maxValue: BigInt(row.max_value),
      cycle: row.cycle,
      cache: BigInt(row.cache),
      gapless: row.gapless,
      leaseSeconds: row.lease_seconds,
      restart: row.restart,
      timeZone: row.time_zone,
      format: row.format,
    },
    position: { lastValue: BigInt(row.last_value), isCalled: row.is_called },
    issued: row.issued_low === null || row.issued_high === null ? undefined : { low: BigInt(row.issued_low), high: BigInt(row.issued_high) },
    createdAt: Number(row.created_ms),
    updatedAt: Number(row.updated_ms),
    deletedAt: row.deleted_ms === null ? undefined : Number(row.deleted_ms),
    seriesFirst: row.series_first === null ? undefined : BigInt(row.series_first),
    period:
      row.period_label === null || row.period_starts_at === null || row.period_ends_at === null
        ? undefined
        : { label: row.period_label, startsAt: Number(row.period_starts_at), endsAt: Number(row.period_ends_at) },
    // Counted apart, only where needed (gapless.ts: withSummary).
    gapless: undefined,
    version: BigInt(row.version),
  };
}

/** The record as the contract shows it (without the version). */
export function withoutVersion(record: StoredRecord): SequenceRecord {
  const { name, options, position, issued, createdAt, updatedAt, deletedAt, seriesFirst, period, gapless } = record;
  return { name, options, position, issued, createdAt, updatedAt, deletedAt, seriesFirst, period, gapless };
}

/** What a write of a whole sequence gives: its state, a gapless series' first value, and the recorded period. */
export type RowState = SequenceState & { readonly seriesFirst: bigint | undefined; readonly period: Period | undefined };

const COLUMNS =
  'name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, issued_low, issued_high, gapless, lease_seconds, series_first, ' +
  'restart, time_zone, format, period_label, period_starts_at, period_ends_at';

/** Parameters $1 … $20, in the order of COLUMNS. */
function rowParams(name: string, { options, position, issued, seriesFirst, period }: RowState): (string | boolean | number | null)[] {
  return [
    name,
    position.lastValue.toString(),
    position.isCalled,
    options.start.toString(),
    options.increment.toString(),
    options.minValue.toString(),
    options.maxValue.toString(),
    options.cycle,
    options.cache.toString(),
    issued?.low.toString() ?? null,
    issued?.high.toString() ?? null,
    options.gapless,
    options.leaseSeconds,
    seriesFirst?.toString() ?? null,
    options.restart,
    options.timeZone,
    options.format,
    period?.label ?? null,
    period?.startsAt ?? null,
    period?.endsAt ?? null,
  ];
}

/** The row under `name`, a tombstone included, locked until the transaction ends. */
export async function lockRow(client: pg.PoolClient, name: string): Promise<StoredRecord | undefined> {
  const { rows } = await client.query<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM ${SEQUENCES} WHERE name = $1 FOR UPDATE`, [name]);
  return rows[0] === undefined ? undefined : toRecord(rows[0]);
}

/** A new row: a live sequence, or (`deleted`) a tombstone with the state's marks. */
export async function insertSequence(
  client: pg.PoolClient,
  name: string,
  state: RowState,
  { onConflict = '', deleted = false }: { onConflict?: string; deleted?: boolean } = {},
): Promise<void> {
  await client.query(
    `INSERT INTO ${SEQUENCES} (${COLUMNS}, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, ${deleted ? 'now()' : 'NULL'}) ${onConflict}`,
    rowParams(name, state),
  );
}

/**
 * Writes new options, position and marks, and a new version: instances
 * holding cached blocks notice it at refill. Over a tombstone the sequence is
 * created anew (live again, a new creation time).
 */
export async function replaceSequence(client: pg.PoolClient, name: string, state: RowState): Promise<void> {
  await client.query(
    `UPDATE ${SEQUENCES} SET last_value = $2, is_called = $3, start_value = $4, increment = $5, min_value = $6,
       max_value = $7, cycle = $8, cache = $9, issued_low = $10, issued_high = $11,
       gapless = $12, lease_seconds = $13, series_first = $14, restart = $15, time_zone = $16, format = $17,
       period_label = $18, period_starts_at = $19, period_ends_at = $20, version = nextval('takeanumber_versions'),
       updated_at = now(), created_at = CASE WHEN deleted_at IS NULL THEN created_at ELSE now() END, deleted_at = NULL
     WHERE name = $1`,
    rowParams(name, state),
  );
}

/**
 * Moves a live sequence forward (its position and marks, and a gapless
 * series' first value once it has one), keeping its options and version.
 */
export async function advanceSequence(
  client: pg.PoolClient,
  name: string,
  { position, issued }: Omit<SequenceState, 'options'>,
  seriesFirst?: bigint,
): Promise<void> {
  await client.query(
    `UPDATE ${SEQUENCES} SET last_value = $2, is_called = $3, issued_low = $4, issued_high = $5, series_first = coalesce($6, series_first),
       updated_at = now() WHERE name = $1`,
    [name, position.lastValue.toString(), position.isCalled, issued?.low.toString() ?? null, issued?.high.toString() ?? null, seriesFirst?.toString() ?? null],
  );
}

/**
 * Moves a live sequence with periods or a format (core/periodic.ts): its
 * position and marks, its series' first value (a new period clears it) and
 * its recorded period, all as given, keeping its options and version.
 */
export async function advancePeriodic(client: pg.PoolClient, name: string, state: Omit<RowState, 'options'>): Promise<void> {
  const { position, issued, seriesFirst, period } = state;
  await client.query(
    `UPDATE ${SEQUENCES} SET last_value = $2, is_called = $3, issued_low = $4, issued_high = $5, series_first = $6,
       period_label = $7, period_starts_at = $8, period_ends_at = $9, updated_at = now() WHERE name = $1`,
    [
      name,
      position.lastValue.toString(),
      position.isCalled,
      issued?.low.toString() ?? null,
      issued?.high.toString() ?? null,
      seriesFirst?.toString() ?? null,
      period?.label ?? null,
      period?.startsAt ?? null,
      period?.endsAt ?? null,
    ],
  );
}

/**
 * Makes the row a tombstone with these marks (or updates a tombstone's),
 * deleting the sequence's idempotency keys, gapless values and reservation
 * ids; a new version tells instances holding its blocks.
 */
export async function burySequence(client: pg.PoolClient, name: string, issued: IssuedRange | undefined): Promise<void> {
  await client.query(
    `UPDATE ${SEQUENCES} SET issued_low = $2, issued_high = $3, version = nextval('takeanumber_versions'), updated_at = now(),
       deleted_at = coalesce(deleted_at, now()) WHERE name = $1`,
    [name, issued?.low.toString() ?? null, issued?.high.toString() ?? null],
  );
  await client.query(`DELETE FROM ${KEYS} WHERE name = $1`, [name]);
  await clearGapless(client, name);
}

/** Removes every trace of the name: its row (live or tombstone), its keys, gapless values and reservation ids. */
export async function forgetSequence(client: pg.PoolClient, name: string): Promise<void> {
  await client.query(`DELETE FROM ${SEQUENCES} WHERE name = $1`, [name]);
  await client.query(`DELETE FROM ${KEYS} WHERE name = $1`, [name]);
  await clearGapless(client, name);
}

/** Forgets the name's gapless values and reservation ids (a forced reset, a delete, an import replacing them). */
export async function clearGapless(client: pg.PoolClient, name: string): Promise<void> {
  await client.query(`DELETE FROM ${GAPLESS_VALUES} WHERE name = $1`, [name]);
  await client.query(`DELETE FROM ${RESERVATIONS} WHERE name = $1`, [name]);
}
