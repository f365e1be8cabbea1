import type pg from 'pg';
import { decideSettlement, reservedValue, reserveValue, seriesOrder, type GaplessPosition, type StoredValue } from '../../core/gapless.js';
import { keyId, replayOrRefuse } from '../../core/idempotency.js';
import { hasLabels, labelsOf } from '../../core/periodic.js';
import type { SettleOutcome, SettleRequest } from '../../core/store.js';
import type { Outcomes, Slot, Taken } from './batch.js';
import { inTransaction } from './connection.js';
import { freeValues, readHeld, writeReservations, writeSettlement } from './gapless.js';
import { recordedAnswers, recordKeys } from './keys.js';
import { periodAt, writeMoved, type LockedTransaction } from './locked.js';
import { SEQUENCES, type StoredRecord } from './rows.js';

/**
 * The two paths of a gapless sequence on PostgreSQL, both in a transaction
 * holding the sequence's row (`FOR UPDATE`): reserving values (the locked
 * path of an allocation; the coalesced and cached paths never take a gapless
 * sequence) and settling reservations. The rules are core's (core/gapless.ts).
 */

/**
 * Serves a gapless sequence's requests, in order, in the transaction of
 * `client` that holds its row (`record`, read after the lock): one value a
 * request, the lowest free one first (earliest period first: it goes out in
 * its own period with its own labels), else the next new one, in the period
 * of the database's now (`clock`): a new period restarts the counter, the
 * marks and the series.
 */
export async function reserveLocked(locked: LockedTransaction, record: StoredRecord, group: readonly Slot[], outcomes: Outcomes): Promise<void> {
  const { client, pool, clock } = locked;
  const { name, options } = record;
  let pending = group;
  if (group.some((slot) => slot.request.idempotency !== undefined)) {
    // A key recorded by another instance while this one waited for the lock: replayed, reserving nothing.
    const recorded = await recordedAnswers(client, group.filter((slot) => slot.request.idempotency !== undefined).map((slot) => slot.request));
    pending = group.filter((slot) => {
      const known = slot.request.idempotency === undefined ? undefined : recorded.get(keyId(slot.request));
      if (known !== undefined) outcomes[slot.index] = replayOrRefuse(known, slot.request);
      return known === undefined;
    });
  }
  const wanting = pending.filter((slot) => {
    if (slot.request.count !== 1n) outcomes[slot.index] = { ok: false, reason: 'gapless_count' };
    return slot.request.count === 1n;
  });
  if (wanting.length === 0) return;

  const { now, free } = await freeValues(client, name, seriesOrder(options), wanting.length, clock);
  const entered = periodAt(record, now);
  const { period } = entered;
  const labeled = hasLabels(options, period);
  // A new period starts a new series (the unbroken prefix speaks of the current period).
  let state: GaplessPosition = { position: entered.position, issued: entered.issued, seriesFirst: entered.restarted ? undefined : record.seriesFirst };
  let freeUsed = 0;
  const written: StoredValue[] = [];
  const taken: Taken[] = [];
  for (const slot of wanting) {
    const found = free[freeUsed];
    const reservation = reserveValue(options, state, found?.value, now);
    if (!reservation.ok) {
      outcomes[slot.index] = { ok: false, reason: 'exhausted' };
      continue;
    }
    const tookExpired = !reservation.fresh && found?.expired === true;
    if (!reservation.fresh) freeUsed += 1;
    state = reservation.state;
    const { value, grant } = reservation;
    // A free value keeps the labels it was first handed out with; a new one gets those of now.
    const labels = !reservation.fresh ? found?.labels : labeled ? labelsOf(options, period, now, value, value) : undefined;
    written.push(reservedValue(value, grant, now, labels));
    outcomes[slot.index] = { ok: true, first: value, last: value, replayed: false, grant, tookExpired, labels };
    taken.push({ slot, first: value, last: value, grant, labels });
  }
  await writeReservations(client, name, written, now);
  await writeMoved(client, record, entered, { ...state, period });
  await recordKeys(client, pool, taken, outcomes);
}

/**
 * Settles reservations in array order: the requests of one sequence in one
 * transaction holding its row (one lock and one commit for them all), each
 * decided by core's `decideSettlement` on what a statement run after the
 * lock reads, at the database's now. A missing, deleted or non-gapless
 * sequence answers `not_found`.
 */
export async function settleAll(pool: pg.Pool, requests: readonly SettleRequest[], clock: string): Promise<SettleOutcome[]> {
  const outcomes = new Array<SettleOutcome | undefined>(requests.length);
  const byName = new Map<string, number[]>();
  requests.forEach((request, index) => {
    const indexes = byName.get(request.name);
    if (indexes === undefined) byName.set(request.name, [index]);
    else indexes.push(index);
  });
  for (const [name, indexes] of byName) {
    await inTransaction(pool, async (client) => {
      const { rows } = await client.query<{ open: boolean }>(`SELECT gapless AND deleted_at IS NULL AS open FROM ${SEQUENCES} WHERE name = $1 FOR UPDATE`, [name]);
      const open = rows[0]?.open === true;
      for (const index of indexes) {
        const request = requests[index] as SettleRequest;
        if (!open) {
          outcomes[index] = { ok: false, reason: 'not_found' };
          continue;
        }
        const { now, reservation, held } = await readHeld(client, name, request.id, clock);
        const settlement = decideSettlement(reservation, held, request.action, request.reason, now);
        if (settlement.kind === 'refuse') {
          outcomes[index] = { ok: false, reason: settlement.reason };
        } else if (settlement.kind === 'replay') {
          outcomes[index] = { ok: true, answer: settlement.answer, replayed: true };
        } else if (reservation !== undefined) {
          await writeSettlement(client, name, reservation, settlement.answer, settlement.value, now);
          outcomes[index] = { ok: true, answer: settlement.answer, replayed: false };
        }
      }
    });
  }
  return outcomes.map((outcome) => {
    if (outcome === undefined) throw new Error('a settlement of the batch got no outcome');
    return outcome;
  });
}
