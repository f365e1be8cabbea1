import type Database from 'better-sqlite3';
import { statementsOf } from './statements.js';
import type { RecordedAnswer } from '../../core/idempotency.js';
import type { Period, Restart } from '../../core/period.js';
import type { AnswerLabels } from '../../core/periodic.js';
import type { IssuedRange, SequenceState } from '../../core/sequence.js';
import type { ListQuery, SequenceRecord } from '../../core/store.js';

/**
 * The store's tables as statements: how a row reads into a record and how a
 * record, a tombstone or an idempotency key is written. Statements are
 * prepared on first use (a read-only store never prepares the writing ones)
 * and read 64-bit integers as bigint.
 */

const COLUMNS =
  'name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, gapless, lease_seconds, issued_low, issued_high, ' +
  'series_first, restart, time_zone, format, period_label, period_starts_at, period_ends_at, created_at, updated_at, deleted_at';

/** A row of `sequences` as read (64-bit integers as bigint), in the order of COLUMNS. */
export type SequenceRow = [
  string,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint | null,
  bigint | null,
  bigint | null,
  string,
  string,
  string | null,
  string | null,
  bigint | null,
  bigint | null,
  bigint,
  bigint,
  bigint | null,
];

export function toRecord(row: SequenceRow): SequenceRecord {
  const [name, lastValue, isCalled, start, increment, minValue, maxValue, cycle, cache, gapless, lease, low, high, seriesFirst, ...rest] = row;
  const [restart, timeZone, format, label, startsAt, endsAt, createdAt, updatedAt, deletedAt] = rest;
  return {
    name,
    options: {
      start,
      increment,
      minValue,
      maxValue,
      cycle: cycle !== 0n,
      cache,
      gapless: gapless !== 0n,
      leaseSeconds: Number(lease),
      // Written only from options core validated.
      restart: restart as Restart,
      timeZone,
      format,
    },
    position: { lastValue, isCalled: isCalled !== 0n },
    issued: low === null || high === null ? undefined : { low, high },
    createdAt: Number(createdAt),
    updatedAt: Number(updatedAt),
    deletedAt: deletedAt === null ? undefined : Number(deletedAt),
    seriesFirst: seriesFirst ?? undefined,
    period: label === null || startsAt === null || endsAt === null ? undefined : { label, startsAt: Number(startsAt), endsAt: Number(endsAt) },
    // Computed at the store's now by the reader that needs it (gapless-rows.ts).
    gapless: undefined,
  };
}

/** What a row holds beside a sequence's state: the first value of a gapless series, the recorded period. */
export interface RowExtras {
  readonly seriesFirst: bigint | undefined;
  readonly period: Period | undefined;
}

const NO_EXTRAS: RowExtras = { seriesFirst: undefined, period: undefined };

/** The columns period_label, period_starts_at, period_ends_at. */
function periodParams(period: Period | undefined): (string | number | null)[] {
  return [period?.label ?? null, period?.startsAt ?? null, period?.endsAt ?? null];
}

/** The columns last_value … period_ends_at, in the order of COLUMNS. */
function stateParams(state: SequenceState, extras: RowExtras): SequenceRow[number][] {
  return rowOf('', state, extras, 0, 0).slice(1, 20);
}

/** A live sequence's whole row as the batch leaves it (allocation-log.ts logs it; the fold writes it). */
export function rowOf(name: string, state: SequenceState, { seriesFirst, period }: RowExtras, createdAt: number, now: number): SequenceRow {
  const { options, position, issued } = state;
  return [
    name,
    position.lastValue,
    position.isCalled ? 1n : 0n,
    options.start,
    options.increment,
    options.minValue,
    options.maxValue,
    options.cycle ? 1n : 0n,
    options.cache,
    options.gapless ? 1n : 0n,
    BigInt(options.leaseSeconds),
    issued?.low ?? null,
    issued?.high ?? null,
    seriesFirst ?? null,
    options.restart,
    options.timeZone,
    options.format,
    period?.label ?? null,
    period === undefined ? null : BigInt(period.startsAt),
    period === undefined ? null : BigInt(period.endsAt),
    BigInt(createdAt),
    BigInt(now),
    null,
  ];
}

/** A live sequence's record as its row. */
export function rowOfRecord(record: SequenceRecord): SequenceRow {
  return rowOf(record.name, record, record, record.createdAt, record.updatedAt);
}

/** Records newer than the table's rows (the allocation log's overlay), read before them. */
export interface RowOverlay {
  get(name: string): SequenceRecord | undefined;
  /**
   * Its first `limit` names starting with `prefix` from `lower` (excluded when
   * `after`) to `upper` (excluded), in the table's (UTF-8 byte) order.
   */
  namesBetween(lower: string, after: boolean, upper: string | undefined, prefix: string, limit: number): string[];
}

export class SequenceRows {
  readonly #sql: (sql: string) => Database.Statement;
  readonly #overlay: RowOverlay | undefined;

  constructor(db: Database.Database, overlay?: RowOverlay) {
    this.#sql = statementsOf(db);
    this.#overlay = overlay;
  }

  /** The row under `name`, a tombstone included (`deletedAt` set): the overlay's if it has one. */
  read(name: string): SequenceRecord | undefined {
    const newer = this.#overlay?.get(name);
    if (newer !== undefined) return newer;
    const row = this.#sql(`SELECT ${COLUMNS} FROM sequences WHERE name = ?`).raw(true).get(name) as SequenceRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  /** A page by name (keyset pagination over the primary key: a range scan, fast at any depth). */
  list(query: ListQuery): SequenceRecord[] {
    const useAfter = query.after !== undefined && query.after >= query.prefix;
    const lower = useAfter ? 'name > ?' : 'name >= ?';
    const upper = prefixEnd(query.prefix);
    const live = query.deleted === true ? 'deleted_at IS NOT NULL' : 'deleted_at IS NULL';
    const sql = `SELECT ${COLUMNS} FROM sequences WHERE ${lower}${upper === undefined ? '' : ' AND name < ?'} AND ${live} ORDER BY name LIMIT ?`;
    const from = useAfter ? query.after : query.prefix;
    const overlay = this.#overlay;
    const page = (start: unknown, limit: number): SequenceRow[] => {
      const bounds: unknown[] = [start];
      if (upper !== undefined) bounds.push(upper);
      return this.#sql(sql).raw(true).all(...bounds, limit) as SequenceRow[];
    };
    if (overlay === undefined) return page(from, query.limit).map(toRecord);
    return mergeOverlay(overlay, query, page, { lower: from, after: useAfter, upper });
  }

  /** Writes a live sequence's whole row, over whatever the table holds under its name (the fold). */
  upsert(row: SequenceRow): void {
    this.#sql(`INSERT OR REPLACE INTO sequences (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...row);
  }

  /** A new row: a live sequence, or (`deletedAt` given) a tombstone with the state's marks. */
  insert(name: string, state: SequenceState, now: number, deletedAt: number | null = null, extras: RowExtras = NO_EXTRAS): void {
    this.#sql(`INSERT INTO sequences (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      name,
      ...stateParams(state, extras),
      now,
      now,
      deletedAt,
    );
  }

  /** A gapless sequence moved forward: its position, marks, the first value of its series and its period. */
  advanceWith(name: string, { position, issued }: Omit<SequenceState, 'options'>, { seriesFirst, period }: RowExtras, now: number): void {
    this.#sql(
      `UPDATE sequences SET last_value = ?, is_called = ?, issued_low = ?, issued_high = ?, series_first = ?,
         period_label = ?, period_starts_at = ?, period_ends_at = ?, updated_at = ? WHERE name = ?`,
    ).run(position.lastValue, position.isCalled ? 1 : 0, issued?.low ?? null, issued?.high ?? null, seriesFirst ?? null, ...periodParams(period), now, name);
  }

  /** Writes a whole live sequence over the row; over a tombstone (`revive`), the sequence is created anew. */
  replace(name: string, state: SequenceState, now: number, revive: boolean, extras: RowExtras = NO_EXTRAS): void {
    this.#sql(
      `UPDATE sequences SET last_value = ?, is_called = ?, start_value = ?, increment = ?, min_value = ?,
         max_value = ?, cycle = ?, cache = ?, gapless = ?, lease_seconds = ?, issued_low = ?, issued_high = ?,
         series_first = ?, restart = ?, time_zone = ?, format = ?, period_label = ?, period_starts_at = ?, period_ends_at = ?,
         updated_at = ?, created_at = CASE WHEN ? THEN ? ELSE created_at END, deleted_at = NULL WHERE name = ?`,
    ).run(...stateParams(state, extras), now, revive ? 1 : 0, now, name);
  }

  /** Makes the row a tombstone with these marks (or updates a tombstone's), deleting the sequence's keys. */
  bury(name: string, issued: IssuedRange | undefined, now: number): void {
    this.#sql('UPDATE sequences SET issued_low = ?, issued_high = ?, updated_at = ?, deleted_at = coalesce(deleted_at, ?) WHERE name = ?').run(
      issued?.low ?? null,
      issued?.high ?? null,
      now,
      now,
      name,
    );
    this.#sql('DELETE FROM idempotency_keys WHERE name = ?').run(name);
  }

  /** Removes every trace of the name: its row (live or tombstone) and its keys. */
  forget(name: string): void {
    this.#sql('DELETE FROM sequences WHERE name = ?').run(name);
    this.#sql('DELETE FROM idempotency_keys WHERE name = ?').run(name);
  }

  /** The answer recorded for (name, key), if any. */
  recordedAnswer(name: string, key: string): RecordedAnswer | undefined {
    const row = this.#sql(
      `SELECT request_count, first_value, last_value, reservation, expires_at, period, formatted, last_formatted
         FROM idempotency_keys WHERE name = ? AND key = ?`,
    )
      .raw(true)
      .get(name, key) as [bigint | null, bigint, bigint, string | null, bigint | null, string | null, string | null, string | null] | undefined;
    if (row === undefined) return undefined;
    const [requestCount, first, last, reservation, expiresAt, period, formatted, lastFormatted] = row;
    const grant = reservation === null || expiresAt === null ? undefined : { id: reservation, expiresAt: Number(expiresAt) };
    const labels: AnswerLabels | undefined =
      period === null && formatted === null ? undefined : { period: period ?? undefined, formatted: formatted ?? undefined, lastFormatted: lastFormatted ?? undefined };
    return { requestCount: requestCount ?? undefined, first, last, grant, labels };
  }

  recordAnswer(name: string, key: string, answer: RecordedAnswer, now: number): void {
    const { labels } = answer;
    this.#sql(
      `INSERT INTO idempotency_keys (name, key, request_count, first_value, last_value, reservation, expires_at, period, formatted, last_formatted, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      name,
      key,
      answer.requestCount ?? null,
      answer.first,
      answer.last,
      answer.grant?.id ?? null,
      answer.grant?.expiresAt ?? null,
      labels?.period ?? null,
      labels?.formatted ?? null,
      labels?.lastFormatted ?? null,
      now,
    );
  }

  /** Deletes keys recorded before `before`, at most `limit`; how many. */
  purgeKeys(before: number, limit: number): number {
    return this.#sql(
      'DELETE FROM idempotency_keys WHERE (name, key) IN (SELECT name, key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)',
    ).run(before, limit).changes;
  }

  /** Answers whether the store's schema is readable (readiness). */
  ping(): void {
    this.#sql('SELECT count(*) FROM sqlite_schema').get();
  }
}

/**
 * A page of the table with the overlay's rows put in: its rows replace the
 * table's, and (live rows only) add the names the table does not have yet.
 * Table rows are read until `limit` of them are not overlaid (or none is
 * left): every overlay name before the last one read then belongs in the page.
 */
function mergeOverlay(
  overlay: RowOverlay,
  query: ListQuery,
  page: (from: unknown, limit: number) => SequenceRow[],
  range: { lower: string; after: boolean; upper: string | undefined },
): SequenceRecord[] {
  const kept: SequenceRecord[] = [];
  let from = range.lower;
  let last: string | undefined;
  let exhausted = false;
  while (kept.length < query.limit) {
    const rows = page(from, query.limit);
    for (const row of rows) if (overlay.get(row[0]) === undefined) kept.push(toRecord(row));
    last = rows[rows.length - 1]?.[0];
    if (last === undefined || rows.length < query.limit) {
      exhausted = true;
      break;
    }
    // Names have no U+0000 (sequence-name.ts): `last` + U+0000 is the least name after `last`.
    from = range.after ? last : `${last}\u0000`;
  }
  if (query.deleted === true) return kept.slice(0, query.limit);
  // Only the overlay's first `limit` names of the range can be among the page's first `limit`.
  const names = overlay.namesBetween(range.lower, range.after, exhausted || last === undefined ? range.upper : `${last}\u0000`, query.prefix, query.limit);
  if (names.length === 0) return kept.slice(0, query.limit);
  const merged = [...kept, ...names.map((name) => overlay.get(name) as SequenceRecord)].map((record): [Buffer, SequenceRecord] => [Buffer.from(record.name), record]);
  return merged
    .sort((a, b) => Buffer.compare(a[0], b[0]))
    .slice(0, query.limit)
    .map(([, record]) => record);
}

/**
 * The least string greater than every string starting with `prefix` (UTF-8
 * byte order is code point order): its last code point plus one, or
 * undefined when every string starting with `prefix` is unbounded above.
 */
export function prefixEnd(prefix: string): string | undefined {
  // Array.from splits by code point (never inside a surrogate pair), which is what is wanted here.
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = (points.pop() as string).codePointAt(0) as number;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return points.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}
