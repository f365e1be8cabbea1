import type pg from 'pg';
import { answerOf, keyId, replayOrRefuse, type RecordedAnswer } from '../../core/idempotency.js';
import type { AllocationOutcome, AllocationRequest } from '../../core/store.js';
import type { Outcomes, Taken } from './batch.js';
import { keyLabels } from './labels.js';
import { KEYS } from './rows.js';

/**
 * Idempotency keys on PostgreSQL (the rule itself: core/idempotency.ts).
 * Several instances may record the same key at once: the primary key
 * (name, key) lets one win; the other turns its answer into a replay of the
 * winner's (its own values are skipped, a gap).
 */

interface KeyRow {
  id: string;
  request_count: string | null;
  first_value: string;
  last_value: string;
  reservation: string | null;
  expires_at: string | null;
  period: string | null;
  formatted: string | null;
  last_formatted: string | null;
}

/** The answers recorded for these requests' keys, by keyId. */
export async function recordedAnswers(db: pg.Pool | pg.PoolClient, requests: readonly AllocationRequest[]): Promise<Map<string, RecordedAnswer>> {
  const { rows } = await db.query<KeyRow>(
    `SELECT name || chr(10) || key AS id, request_count, first_value, last_value, reservation, expires_at,
            period, formatted, last_formatted FROM ${KEYS}
     WHERE (name, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [requests.map((request) => request.name), requests.map((request) => request.idempotency?.key ?? '')],
  );
  return new Map(
    rows.map((row) => [
      row.id,
      {
        requestCount: row.request_count === null ? undefined : BigInt(row.request_count),
        first: BigInt(row.first_value),
        last: BigInt(row.last_value),
        grant: row.reservation === null || row.expires_at === null ? undefined : { id: row.reservation, expiresAt: Number(row.expires_at) },
        labels: keyLabels(row.period, row.formatted, row.last_formatted),
      },
    ]),
  );
}

/** A key recorded by another instance first: its answer stands (a replay, or a refusal for another count). */
export async function settleKeyConflict(pool: pg.Pool, request: AllocationRequest): Promise<AllocationOutcome> {
  const recorded = (await recordedAnswers(pool, [request])).get(keyId(request));
  return recorded === undefined ? { ok: false, reason: 'key_reused' } : replayOrRefuse(recorded, request);
}

/**
 * Records the keys of fresh answers (in `db`: the transaction that took the
 * values, or the pool); a key another instance recorded first turns the
 * answer into what that instance recorded.
 */
export async function recordKeys(db: pg.Pool | pg.PoolClient, pool: pg.Pool, taken: readonly Taken[], outcomes: Outcomes): Promise<void> {
  const keyed = taken.filter(({ slot }) => slot.request.idempotency !== undefined);
  if (keyed.length === 0) return;
  const answers = keyed.map(({ slot, first, last, grant, labels }) => answerOf(slot.request, first, last, grant, labels));
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ${KEYS} (key, name, request_count, first_value, last_value, reservation, expires_at, period, formatted, last_formatted)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::text[], $7::int8[], $8::text[], $9::text[], $10::text[])
     ON CONFLICT (name, key) DO NOTHING RETURNING name || chr(10) || key AS id`,
    [
      keyed.map(({ slot }) => slot.request.idempotency?.key),
      keyed.map(({ slot }) => slot.request.name),
      answers.map((answer) => answer.requestCount?.toString() ?? null),
      answers.map((answer) => answer.first.toString()),
      answers.map((answer) => answer.last.toString()),
      answers.map((answer) => answer.grant?.id ?? null),
      answers.map((answer) => answer.grant?.expiresAt ?? null),
      answers.map((answer) => answer.labels?.period ?? null),
      answers.map((answer) => answer.labels?.formatted ?? null),
      answers.map((answer) => answer.labels?.lastFormatted ?? null),
    ],
  );
  const inserted = new Set(rows.map((row) => row.id));
  for (const { slot } of keyed) {
    if (!inserted.has(keyId(slot.request))) outcomes[slot.index] = await settleKeyConflict(pool, slot.request);
  }
}
