import type pg from 'pg';
import type { GaplessImport } from '../../core/gapless.js';
import { heldOf, planImport, type ImportEntry } from '../../core/import-rules.js';
import { DEFAULT_OPTIONS, initialPosition } from '../../core/sequence.js';
import type { ImportSummary } from '../../core/store.js';
import { periodKey } from './labels.js';
import { GAPLESS_VALUES, RECORD_COLUMNS, RESERVATIONS, SEQUENCES, burySequence, clearGapless, insertSequence, replaceSequence, toRecord, type RecordRow } from './rows.js';

/**
 * Applies an import in the transaction of `client`, the rows locked, decided
 * by the import rules (core/import-rules.ts); `drop` tells this instance's
 * cached blocks of each name written.
 */
export async function applyImport(client: pg.PoolClient, entries: readonly ImportEntry[], drop: (name: string) => void): Promise<ImportSummary> {
  // Locked in name order, as every transaction that locks several rows here: no deadlock between imports.
  const { rows } = await client.query<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM ${SEQUENCES} WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE`, [
    entries.map((entry) => entry.name),
  ]);
  const held = new Map(rows.map((row) => [row.name, toRecord(row)]));
  const { writes, summary } = planImport(entries, (name) => heldOf(held.get(name)));
  for (const { name, decision } of writes) {
    drop(name);
    const row = held.get(name);
    if (decision.kind === 'deleted') {
      const tombstone = { options: DEFAULT_OPTIONS, position: initialPosition(DEFAULT_OPTIONS), issued: decision.issued, seriesFirst: undefined, period: undefined };
      if (row === undefined) await insertSequence(client, name, tombstone, { deleted: true });
      else await burySequence(client, name, decision.issued);
      continue;
    }
    // A gapless entry brings its series (values and ids replace the name's); otherwise a live row keeps its own.
    const gapless = decision.kind === 'widened' ? undefined : decision.gapless;
    const seriesFirst = gapless !== undefined ? gapless.seriesFirst : row?.deletedAt === undefined ? row?.seriesFirst : undefined;
    // The period the import rules chose (the file's, or the held one if later); widening keeps the held one.
    const period = decision.kind === 'widened' ? (row?.deletedAt === undefined ? row?.period : undefined) : decision.period;
    if (row === undefined) await insertSequence(client, name, { ...decision.state, seriesFirst, period });
    else await replaceSequence(client, name, { ...decision.state, seriesFirst, period });
    if (gapless !== undefined) await writeImported(client, name, gapless);
  }
  return summary;
}

/** Replaces the name's gapless values and reservation ids by an import's (the row locked by this transaction). */
async function writeImported(client: pg.PoolClient, name: string, gapless: GaplessImport): Promise<void> {
  await clearGapless(client, name);
  if (gapless.values.length > 0) {
    const { values } = gapless;
    await client.query(
      `INSERT INTO ${GAPLESS_VALUES} (name, value, state, reservation, expires_at, reason, updated_at, period, formatted)
       SELECT $1, * FROM unnest($2::int8[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::int8[], $8::text[], $9::text[])`,
      [
        name,
        values.map((stored) => stored.value.toString()),
        values.map((stored) => stored.state),
        values.map((stored) => stored.reservation ?? null),
        values.map((stored) => stored.expiresAt ?? null),
        values.map((stored) => stored.reason ?? null),
        values.map((stored) => stored.updatedAt),
        values.map((stored) => periodKey(stored.labels)),
        values.map((stored) => stored.labels?.formatted ?? null),
      ],
    );
  }
  if (gapless.reservations.length > 0) {
    const { reservations } = gapless;
    await client.query(
      `INSERT INTO ${RESERVATIONS} (name, id, value, expires_at, state, reason, period, formatted)
       SELECT $1, * FROM unnest($2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[], $7::text[], $8::text[])`,
      [
        name,
        reservations.map((reservation) => reservation.id),
        reservations.map((reservation) => reservation.value.toString()),
        reservations.map((reservation) => reservation.expiresAt),
        reservations.map((reservation) => reservation.state),
        reservations.map((reservation) => reservation.reason ?? null),
        reservations.map((reservation) => periodKey(reservation.labels)),
        reservations.map((reservation) => reservation.labels?.formatted ?? null),
      ],
    );
  }
}
