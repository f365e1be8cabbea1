import type pg from 'pg';
import { viewOf, type GaplessImport, type ValueView } from '../../core/gapless.js';
import type { ValuesQuery } from '../../core/store.js';
import { toStoredValue, type StoredValueRow } from './gapless.js';
import { valueLabels } from './labels.js';
import { GAPLESS_VALUES, nowMs, RESERVATIONS, SEQUENCES } from './rows.js';

/**
 * What readers see of a gapless sequence's tables on PostgreSQL: a page of
 * its values at the database's now, and everything it stores for an export.
 */

type Db = pg.Pool | pg.PoolClient;

/** A page's row: the sequence's, and a value's (all null for a page without values). */
type ValueRow = { [K in keyof StoredValueRow]: StoredValueRow[K] | null } & { now: string; gapless: boolean };

/**
 * What a reader asks for, as SQL over the values row `g` at `n.now` (`viewOf`'s
 * rule). Reserved and free values are found on their partial indexes and
 * sorted (`OFFSET 0`: else the planner walks the primary key, voids and all).
 */
const STATE_FILTER: Readonly<Record<NonNullable<ValuesQuery['state']> | 'all', string>> = {
  reserved: "g.state = 'reserved' AND g.expires_at > n.now",
  free: "(g.state = 'free' OR (g.state = 'reserved' AND g.expires_at <= n.now))",
  void: "g.state = 'void'",
  all: 'true',
};

/** A page of a live sequence's values as read at the database's now, ascending; undefined for no live sequence. */
export async function listValues(db: Db, name: string, query: ValuesQuery, clock: string): Promise<ValueView[] | undefined> {
  const { rows } = await db.query<ValueRow>(
    `WITH n AS (SELECT ${nowMs(clock)} AS now)
     SELECT n.now, s.gapless, v.* FROM n JOIN ${SEQUENCES} s ON s.name = $1 AND s.deleted_at IS NULL
     LEFT JOIN LATERAL (
       SELECT * FROM (
         SELECT g.value, g.state, g.reservation, g.expires_at, g.reason, g.updated_at, g.period, g.formatted FROM ${GAPLESS_VALUES} g
         WHERE s.gapless AND g.name = $1 AND ($2::text IS NULL OR (g.period, g.value) > ($2::text, $3::int8)) AND ${STATE_FILTER[query.state ?? 'all']}
         ${query.state === 'reserved' || query.state === 'free' ? 'OFFSET 0' : ''}
       ) g ORDER BY g.period, g.value LIMIT $4
     ) v ON true`,
    [name, query.after?.period ?? null, query.after?.value.toString() ?? null, query.limit],
  );
  if (rows.length === 0) return undefined;
  return rows.flatMap(({ now, value, state, reservation, expires_at, reason, updated_at, period, formatted }) =>
    value === null || state === null || updated_at === null
      ? []
      : [viewOf(toStoredValue({ value, state, reservation, expires_at, reason, updated_at, period: period ?? '', formatted }), Number(now))],
  );
}

/** Everything stored of a live gapless sequence, as the full format carries it (open reservation ids only), in one snapshot. */
export async function readGapless(client: pg.PoolClient, name: string): Promise<GaplessImport | undefined> {
  await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  const { rows: sequences } = await client.query<{ series_first: string | null }>(
    `SELECT series_first FROM ${SEQUENCES} WHERE name = $1 AND deleted_at IS NULL AND gapless`,
    [name],
  );
  const sequence = sequences[0];
  if (sequence === undefined) return undefined;
  const { rows: values } = await client.query<StoredValueRow>(
    `SELECT value, state, reservation, expires_at, reason, updated_at, period, formatted FROM ${GAPLESS_VALUES} WHERE name = $1 ORDER BY period, value`,
    [name],
  );
  const { rows: reservations } = await client.query<{ id: string; value: string; expires_at: string; reason: string | null; period: string; formatted: string | null }>(
    `SELECT id, value, expires_at, reason, period, formatted FROM ${RESERVATIONS} WHERE name = $1 AND state = 'reserved' ORDER BY period, value, id`,
    [name],
  );
  return {
    seriesFirst: sequence.series_first === null ? undefined : BigInt(sequence.series_first),
    values: values.map(toStoredValue),
    reservations: reservations.map((row) => ({
      id: row.id,
      value: BigInt(row.value),
      expiresAt: Number(row.expires_at),
      state: 'reserved',
      reason: row.reason ?? undefined,
      labels: valueLabels(row.period, row.formatted),
    })),
  };
}
