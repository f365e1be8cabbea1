import type pg from 'pg';
import { keyId } from '../../core/idempotency.js';
import { totalOf, type Outcomes, type Slot } from './batch.js';
import { settleKeyConflict } from './keys.js';
import { KEYS, SEQUENCES } from './rows.js';

/**
 * The fast path for `cache = 1` (gapless sequences excepted: they take the
 * locked path, reservations.ts; so do sequences with periods or a format,
 * whose period is decided by the database's clock with the row locked): the requests of a batch, for every sequence
 * at once, in one statement: one atomic `UPDATE … RETURNING` per sequence
 * (its total taken in one step), and the idempotency keys recorded in the
 * same statement (so the same commit). Committed before any answer.
 */

/** The last value after taking `total` values, in numeric (no 64-bit overflow), and whether it is within bounds. */
export const ADVANCED = (total: string): string =>
  `(CASE WHEN s.is_called THEN s.last_value + ${total} * s.increment ELSE s.last_value + (${total} - 1) * s.increment END)`;

/** The first value of a run that does not wrap: the next value (in numeric). */
const FIRST = '(CASE WHEN s.is_called THEN s.last_value::numeric + s.increment ELSE s.last_value END)';

/** The marks widened by the run FIRST … `last` (least and greatest ignore a NULL mark). */
export const WIDENED = (last: string): string =>
  `issued_low = least(s.issued_low, ${FIRST}, ${last})::bigint, issued_high = greatest(s.issued_high, ${FIRST}, ${last})::bigint`;

/** A sequence the statement did not serve: missing or deleted, cached, gapless, with periods or a format, at its bound, or cycling. */
export interface Leftover {
  readonly name: string;
  /** A live sequence (else missing or deleted). */
  readonly found: boolean;
  readonly cache: bigint;
  /** Periods or a format (core/periodic.ts `hasLabels`): the locked path, cached or not. */
  readonly labeled: boolean;
}

/** The sequence row `s` has neither periods nor a format (`hasLabels` false): the fast paths may serve it. */
export const PLAIN = "s.restart = 'never' AND s.period_label IS NULL AND s.format IS NULL";

interface Row {
  name: string;
  last_value: string | null;
  increment: string | null;
  found: boolean;
  cache: string | null;
  labeled: boolean | null;
  inserted: string[] | null;
}

/** The columns of the keys to record: key, name, count given, offset in the sequence's run, count taken. */
type KeyColumns = [string[], string[], (string | null)[], string[], string[]];

/** Serves `groups` (by name) in one statement; answers what it served and returns the rest. */
export async function allocateCoalesced(pool: pg.Pool, groups: ReadonlyMap<string, readonly Slot[]>, outcomes: Outcomes): Promise<Leftover[]> {
  const names: string[] = [];
  const totals: string[] = [];
  const keys: KeyColumns = [[], [], [], [], []];
  for (const [name, group] of groups) {
    let offset = 0n;
    for (const { request } of group) {
      if (request.idempotency !== undefined) {
        keys[0].push(request.idempotency.key);
        keys[1].push(name);
        keys[2].push(request.idempotency.requestCount?.toString() ?? null);
        keys[3].push(offset.toString());
        keys[4].push(request.count.toString());
      }
      offset += request.count;
    }
    names.push(name);
    totals.push(offset.toString());
  }
  const { rows } = await pool.query<Row>({
    // Named: each connection parses and plans it once, not once per batch.
    name: 'takeanumber_allocate_4',
    text: `WITH r AS (SELECT * FROM unnest($1::text[], $2::numeric[]) AS r(name, total)),
     u AS (
       UPDATE ${SEQUENCES} s SET last_value = ${ADVANCED('r.total')}::bigint, is_called = true, ${WIDENED(ADVANCED('r.total'))},
         updated_at = now()
       FROM r
       WHERE s.name = r.name AND s.cache = 1 AND NOT s.gapless AND ${PLAIN} AND s.deleted_at IS NULL AND ${ADVANCED('r.total')} BETWEEN s.min_value AND s.max_value
       RETURNING s.name, s.last_value, s.increment
     ),
     k AS (
       INSERT INTO ${KEYS} (key, name, request_count, first_value, last_value)
       SELECT k.key, k.name, k.request_count,
              (u.last_value - (r.total - 1 - k.off) * u.increment)::bigint,
              (u.last_value - (r.total - k.off - k.count) * u.increment)::bigint
       FROM unnest($3::text[], $4::text[], $5::int8[], $6::numeric[], $7::numeric[]) AS k(key, name, request_count, off, count)
       JOIN u ON u.name = k.name JOIN r ON r.name = k.name
       ON CONFLICT (name, key) DO NOTHING
       RETURNING name || chr(10) || key AS id
     )
     SELECT r.name, u.last_value, u.increment, s.name IS NOT NULL AND s.deleted_at IS NULL AS found, s.cache,
            NOT (${PLAIN}) AS labeled,
            (SELECT array_agg(id) FROM k) AS inserted
     FROM r LEFT JOIN u ON u.name = r.name LEFT JOIN ${SEQUENCES} s ON s.name = r.name`,
    values: [names, totals, ...keys],
  });
  const inserted = new Set(rows[0]?.inserted ?? []);
  const leftovers: Leftover[] = [];
  for (const row of rows) {
    const group = groups.get(row.name) ?? [];
    if (row.last_value === null || row.increment === null) {
      leftovers.push({ name: row.name, found: row.found, cache: BigInt(row.cache ?? '1'), labeled: row.labeled === true });
      continue;
    }
    const increment = BigInt(row.increment);
    let next = BigInt(row.last_value) - (totalOf(group) - 1n) * increment;
    for (const slot of group) {
      const first = next;
      const last = first + (slot.request.count - 1n) * increment;
      next = last + increment;
      outcomes[slot.index] =
        slot.request.idempotency === undefined || inserted.has(keyId(slot.request))
          ? { ok: true, first, last, replayed: false, grant: undefined, tookExpired: false, labels: undefined }
          : await settleKeyConflict(pool, slot.request);
    }
  }
  return leftovers;
}
