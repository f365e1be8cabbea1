import type pg from 'pg';
import type { Period } from '../../core/period.js';
import { enterPeriod, hasLabels, hasPeriods, labelsOf } from '../../core/periodic.js';
import { takeValues, widen } from '../../core/sequence.js';
import type { Outcomes, Slot, Taken } from './batch.js';
import { recordKeys } from './keys.js';
import { advancePeriodic, advanceSequence, nowMs, type RowState, type StoredRecord } from './rows.js';

/** The transaction holding a sequence's row: its client, the pool (for key conflicts), and the store's database clock. */
export interface LockedTransaction {
  readonly client: pg.PoolClient;
  readonly pool: pg.Pool;
  /** A timestamptz SQL expression: clock_timestamp(), or a test's. */
  readonly clock: string;
}

/**
 * Takes the values of a sequence that is not gapless, in order, in the
 * transaction of `client` that holds its row (`record`, read after the
 * lock): the locked path (a batch at a bound, a cycle, a first use) and every
 * sequence with periods or a format. Those read the database's now
 * (`clock`) once the row is locked, so every instance decides the period by
 * the same clock and in the same order as the row's writes; a new period
 * restarts the counter and its marks in this commit (core/periodic.ts).
 */
export async function takeLocked({ client, pool, clock }: LockedTransaction, record: StoredRecord, group: readonly Slot[], outcomes: Outcomes): Promise<void> {
  const { options } = record;
  const labeled = hasLabels(options, record.period);
  const now = labeled ? await databaseNow(client, clock) : 0;
  const entered = periodAt(record, now);
  const { period } = entered;
  let { position, issued } = entered;
  const taken: Taken[] = [];
  for (const slot of group) {
    const allocated = takeValues(position, options, slot.request.count);
    if (!allocated.ok) {
      outcomes[slot.index] = { ok: false, reason: 'exhausted' };
      continue;
    }
    position = allocated.position;
    issued = widen(issued, allocated.first, allocated.last);
    const { first, last } = allocated;
    const labels = labeled ? labelsOf(options, period, now, first, last) : undefined;
    outcomes[slot.index] = { ok: true, first, last, replayed: false, grant: undefined, tookExpired: false, labels };
    taken.push({ slot, first, last, labels });
  }
  await writeMoved(client, record, entered, { position, issued, seriesFirst: record.seriesFirst, period });
  await recordKeys(client, pool, taken, outcomes);
}

/** Where an allocation at `now` starts from: the row's state, or a new period's (core/periodic.ts `enterPeriod`). */
export interface Entered {
  readonly position: StoredRecord['position'];
  readonly issued: StoredRecord['issued'];
  readonly period: Period | undefined;
  /** The sequence has periods (`hasPeriods`): its writes carry the period. */
  readonly periodic: boolean;
  readonly restarted: boolean;
  /** The period changed: written even if no value was taken. */
  readonly changed: boolean;
}

export function periodAt(record: StoredRecord, now: number): Entered {
  const { options, position, issued, period } = record;
  if (!hasPeriods(options, period)) return { position, issued, period, periodic: false, restarted: false, changed: false };
  return { ...enterPeriod(options, { position, issued, period }, now), periodic: true };
}

/** Writes what an allocation moved: the position and marks, and for a sequence with periods its series' first value and period. */
export async function writeMoved(client: pg.PoolClient, record: StoredRecord, entered: Entered, moved: Omit<RowState, 'options'>): Promise<void> {
  if (entered.changed || (entered.periodic && moved.position !== record.position)) await advancePeriodic(client, record.name, moved);
  else if (moved.position !== record.position) await advanceSequence(client, record.name, moved, moved.seriesFirst);
}

/** The database's now in ms (`clock`: clock_timestamp(), or a test's expression), read inside the transaction. */
export async function databaseNow(client: pg.PoolClient, clock: string): Promise<number> {
  const { rows } = await client.query<{ now: string }>(`SELECT ${nowMs(clock)} AS now`);
  return Number(rows[0]?.now);
}
