import { decideSettlement, reserveValue, reservedValue, seriesOrder, type GaplessPosition, type Grant } from '../../core/gapless.js';
import type { AnswerLabels } from '../../core/periodic.js';
import type { SequenceOptions } from '../../core/sequence.js';
import type { SettleOutcome, SettleRequest } from '../../core/store.js';
import { periodKey, type GaplessRows } from './gapless-rows.js';
import type { SequenceRows } from './rows.js';

/**
 * The gapless steps of a SQLite batch, inside its transaction (the writer
 * lock and BEGIN IMMEDIATE make each read-then-write atomic): a reservation
 * (core's `reserveValue`) and a settlement (core's `decideSettlement`).
 * Value rows and reservation ids are written at once, so a later request of
 * the same batch sees them; the sequence's position is written with the
 * batch's others.
 */

export interface Reserved {
  readonly value: bigint;
  readonly grant: Grant;
  readonly tookExpired: boolean;
  /** The sequence's state after it (moved only for a new value). */
  readonly state: GaplessPosition;
  /** The value's labels: a free one's stored labels, or those `labelsFor` gave a new one. */
  readonly labels: AnswerLabels | undefined;
}

/**
 * Reserves the lowest free value (of the earliest period, gapless-rows.ts),
 * keeping the labels it was first handed out with, else the next new one,
 * labelled by `labelsFor`; undefined when the sequence is exhausted.
 */
export function reserveIn(
  gapless: GaplessRows,
  name: string,
  options: SequenceOptions,
  state: GaplessPosition,
  now: number,
  labelsFor: (value: bigint) => AnswerLabels | undefined,
): Reserved | undefined {
  const free = gapless.lowestFree(name, seriesOrder(options), now);
  const reservation = reserveValue(options, state, free?.value, now);
  if (!reservation.ok) return undefined;
  const { value, grant } = reservation;
  const labels = free === undefined ? labelsFor(value) : free.labels;
  gapless.putValue(name, reservedValue(value, grant, now, labels));
  gapless.addReservation(name, { id: grant.id, value, expiresAt: grant.expiresAt, state: 'reserved', reason: undefined, labels });
  return { value, grant, tookExpired: free?.expired === true, state: reservation.state, labels };
}

/** Confirms, releases or voids one reservation. */
export function settleIn(rows: SequenceRows, gapless: GaplessRows, request: SettleRequest, now: number): SettleOutcome {
  const { name, id, action, reason } = request;
  const sequence = rows.read(name);
  if (sequence === undefined || sequence.deletedAt !== undefined || !sequence.options.gapless) return { ok: false, reason: 'not_found' };
  const reservation = gapless.reservation(name, id);
  const held = reservation === undefined ? undefined : gapless.value(name, periodKey(reservation.labels), reservation.value);
  const decision = decideSettlement(reservation, held, action, reason, now);
  switch (decision.kind) {
    case 'refuse':
      return { ok: false, reason: decision.reason };
    case 'replay':
      return { ok: true, answer: decision.answer, replayed: true };
    case 'settle':
      gapless.settleReservation(name, id, decision.answer.state, decision.answer.reason, now);
      if (decision.value === undefined) gapless.removeValue(name, periodKey(reservation?.labels), decision.answer.value);
      else gapless.putValue(name, decision.value);
      return { ok: true, answer: decision.answer, replayed: false };
  }
}
