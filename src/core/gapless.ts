import { randomBytes } from 'node:crypto';
import type { AnswerLabels } from './periodic.js';
import { takeValues, widen, type IssuedRange, type SequenceOptions, type SequencePosition } from './sequence.js';

/**
 * Gapless sequences: the rules, once, for every store. A value goes out as a
 * reservation with a lease; its holder confirms it (used, final), releases it
 * (unused: handed out again, lowest first) or voids it (used and cancelled:
 * on record with its reason, never handed out again). A reservation neither
 * settled before `expiresAt` is free from that instant: no sweep is needed,
 * because every reader judges a stored reservation against its own clock
 * (`isExpired`), the same rule in the SQL of both stores.
 *
 * What a store keeps:
 * - the values that are not confirmed: rows (name, value, state, reservation,
 *   expires_at, reason, updated_at) in state `reserved`, `free` or `void`; a
 *   value handed out whose row is gone is confirmed (so are the values handed
 *   out before gapless was turned on);
 * - every reservation id issued, for the life of the sequence (until a forced
 *   reset or a delete): (name, id, value, expires_at, state, reason, settled_at),
 *   state `reserved` until settled, then `confirmed`, `free` or `void`;
 * - per sequence, `seriesFirst`: the first value of its series.
 * Every write of these is in the same transaction as the read it depends on,
 * and durable before the answer, as allocations are.
 */

export { DEFAULT_LEASE_SECONDS, MAX_LEASE_SECONDS } from './sequence.js';
export const MAX_REASON_LENGTH = 500;

/** The stored states of a value that is not confirmed. */
export type StoredValueState = 'reserved' | 'free' | 'void';
/** What a reader sees: a stored reservation past its lease is free. */
export type ValueState = 'reserved' | 'free' | 'void';

export type SettleAction = 'confirm' | 'release' | 'void';
/** The state an action leaves (the answer's `state`). */
export type SettledState = 'confirmed' | 'free' | 'void';

export const SETTLED_STATE: Readonly<Record<SettleAction, SettledState>> = { confirm: 'confirmed', release: 'free', void: 'void' };

/** An unconfirmed value as stored. */
export interface StoredValue {
  readonly value: bigint;
  readonly state: StoredValueState;
  /** The holder's reservation id (state `reserved` only). */
  readonly reservation: string | undefined;
  /** ms since the epoch (state `reserved` only). */
  readonly expiresAt: number | undefined;
  /** Why it was voided (state `void` only; undefined when none was given). */
  readonly reason: string | undefined;
  /** ms since the epoch. */
  readonly updatedAt: number;
  /**
   * The period the value was first handed out in, and its formatted number
   * then (core/periodic.ts): a value handed out again keeps both, so a free
   * value of an earlier period goes out again in its own period. Undefined
   * for a sequence without periods or format.
   */
  readonly labels: AnswerLabels | undefined;
}

/** A value as a reader sees it at a moment (`GET /sequences/{name}/values`): never the reservation id. */
export interface ValueView {
  readonly value: bigint;
  readonly state: ValueState;
  readonly expiresAt: number | undefined;
  readonly reason: string | undefined;
  readonly updatedAt: number;
  /** The period and formatted number the value was first handed out with (sequences with periods or a format). */
  readonly labels: AnswerLabels | undefined;
}

/** A reservation id as stored, for the life of the sequence. */
export interface StoredReservation {
  readonly id: string;
  readonly value: bigint;
  readonly expiresAt: number;
  /** `reserved` while open; the state its action left once settled. */
  readonly state: 'reserved' | SettledState;
  readonly reason: string | undefined;
  /** The period and formatted number it was made with (settle answers carry them). */
  readonly labels: AnswerLabels | undefined;
}

/** What `/next` on a gapless sequence gives beside its value. */
export interface Grant {
  readonly id: string;
  /** ms since the epoch. */
  readonly expiresAt: number;
}

/** The counts and the unbroken prefix of a gapless sequence at a moment (`GET /sequences/{name}`). */
export interface GaplessSummary {
  /** The furthest value V such that every value of the series up to V is confirmed or void; undefined before any. */
  readonly confirmedThrough: bigint | undefined;
  /** Reservations not settled and not expired. */
  readonly reserved: number;
  /** Released values, and reservations past their lease. */
  readonly free: number;
}

/** The order in which the series runs: `asc` for increasing sequences. Stores order free values by it. */
export function seriesOrder(options: SequenceOptions): 'asc' | 'desc' {
  return options.increment > 0n ? 'asc' : 'desc';
}

/** A stored reservation whose lease has ended is free from `expiresAt` on (the same comparison, `expires_at <= now`, in the stores' SQL). */
export function isExpired(expiresAt: number, now: number): boolean {
  return expiresAt <= now;
}

/** How a stored value reads at `now`. */
export function viewOf(stored: StoredValue, now: number): ValueView {
  if (stored.state === 'reserved' && stored.expiresAt !== undefined && isExpired(stored.expiresAt, now)) {
    return {
      value: stored.value,
      state: 'free',
      expiresAt: undefined,
      reason: undefined,
      updatedAt: Math.max(stored.updatedAt, stored.expiresAt),
      labels: stored.labels,
    };
  }
  return {
    value: stored.value,
    state: stored.state,
    expiresAt: stored.state === 'reserved' ? stored.expiresAt : undefined,
    reason: stored.state === 'void' ? stored.reason : undefined,
    updatedAt: stored.updatedAt,
    labels: stored.labels,
  };
}

/** An opaque, unguessable reservation id: 128 random bits, 22 characters of base64url. */
export function newReservationId(): string {
  return randomBytes(16).toString('base64url');
}

/** The shape every reservation id has (22 to 64 base64url characters); anything else is not one of ours. */
export function isReservationId(id: string): boolean {
  return /^[A-Za-z0-9_-]{22,64}$/.test(id);
}

/** A gapless sequence's state as a batch moves it. */
export interface GaplessPosition {
  readonly position: SequencePosition;
  readonly issued: IssuedRange | undefined;
  readonly seriesFirst: bigint | undefined;
}

export type Reservation =
  | {
      readonly ok: true;
      readonly value: bigint;
      /** True when the value is new (the position moved), false when it was a free one. */
      readonly fresh: boolean;
      readonly state: GaplessPosition;
      readonly grant: Grant;
    }
  | { readonly ok: false };

/**
 * Reserves one value: the lowest free one (in the series' order: the store
 * finds it, `lowestFree`, among its stored values that read as free at
 * `now`), else the next new value; `ok: false` when the sequence is exhausted.
 */
export function reserveValue(options: SequenceOptions, state: GaplessPosition, lowestFree: bigint | undefined, now: number): Reservation {
  const grant = { id: newReservationId(), expiresAt: now + options.leaseSeconds * 1000 };
  if (lowestFree !== undefined) return { ok: true, value: lowestFree, fresh: false, state, grant };
  const taken = takeValues(state.position, options, 1n);
  if (!taken.ok) return { ok: false };
  return {
    ok: true,
    value: taken.first,
    fresh: true,
    state: { position: taken.position, issued: widen(state.issued, taken.first, taken.first), seriesFirst: state.seriesFirst ?? taken.first },
    grant,
  };
}

/**
 * The stored value a reservation writes: the holder and its lease, and the
 * labels of the value (a free value keeps those it was first handed out with;
 * a new one gets the labels of its allocation).
 */
export function reservedValue(value: bigint, grant: Grant, now: number, labels: AnswerLabels | undefined): StoredValue {
  return { value, state: 'reserved', reservation: grant.id, expiresAt: grant.expiresAt, reason: undefined, updatedAt: now, labels };
}

/** The answer to a confirm, release or void. */
export interface SettledAnswer {
  readonly value: bigint;
  readonly state: SettledState;
  /** Void only: the reason given, or undefined. */
  readonly reason: string | undefined;
  /** The reservation's period and formatted number. */
  readonly labels: AnswerLabels | undefined;
}

/** What a store does for a settle request. */
export type Settlement =
  | { readonly kind: 'refuse'; readonly reason: 'not_found' | 'expired' | 'settled' }
  /** The same action again: the same answer, nothing written. */
  | { readonly kind: 'replay'; readonly answer: SettledAnswer }
  /**
   * Write: the reservation becomes `answer.state` (with its reason, settled
   * at `now`), and the value's row becomes `value` (undefined: removed, the
   * value is confirmed).
   */
  | { readonly kind: 'settle'; readonly answer: SettledAnswer; readonly value: StoredValue | undefined };

/**
 * Decides a confirm, release or void. `reservation` is the stored id on this
 * sequence (undefined: never issued by it, or the sequence is not gapless);
 * `held` the stored row of its value. Settled reservations answer the same
 * action the same way at any time and refuse another; an open one past its
 * lease is refused (another instance may hand its value out already).
 */
export function decideSettlement(
  reservation: StoredReservation | undefined,
  held: StoredValue | undefined,
  action: SettleAction,
  reason: string | undefined,
  now: number,
): Settlement {
  if (reservation === undefined) return { kind: 'refuse', reason: 'not_found' };
  const wanted = SETTLED_STATE[action];
  if (reservation.state !== 'reserved') {
    if (reservation.state !== wanted) return { kind: 'refuse', reason: 'settled' };
    return {
      kind: 'replay',
      answer: { value: reservation.value, state: wanted, reason: wanted === 'void' ? reservation.reason : undefined, labels: reservation.labels },
    };
  }
  if (isExpired(reservation.expiresAt, now)) return { kind: 'refuse', reason: 'expired' };
  if (held?.state !== 'reserved' || held.reservation !== reservation.id) {
    // An open reservation within its lease holds its value, unless a clock judged the lease ended earlier: a
    // store moved by import from a store whose clock runs ahead, or a clock stepped back. Its value may be
    // held by another reservation already, so it is answered as expired, never settled.
    return { kind: 'refuse', reason: 'expired' };
  }
  const answer: SettledAnswer = { value: reservation.value, state: wanted, reason: action === 'void' ? reason : undefined, labels: reservation.labels };
  const value: StoredValue | undefined =
    action === 'confirm'
      ? undefined
      : {
          value: reservation.value,
          state: action === 'void' ? 'void' : 'free',
          reservation: undefined,
          expiresAt: undefined,
          reason: answer.reason,
          updatedAt: now,
          labels: held.labels,
        };
  return { kind: 'settle', answer, value };
}

/**
 * The unbroken prefix of the series: every value from its first up to the
 * value before the earliest open one (reserved or free, in the series'
 * order; `earliestOpen` from the store) is confirmed or void; with none
 * open, every value handed out is. Undefined before anything is settled.
 */
export function confirmedThrough(
  options: SequenceOptions,
  position: SequencePosition,
  seriesFirst: bigint | undefined,
  earliestOpen: bigint | undefined,
): bigint | undefined {
  if (seriesFirst === undefined) return undefined;
  const nextNew = position.isCalled ? position.lastValue + options.increment : position.lastValue;
  const bound = earliestOpen ?? nextNew;
  if (bound === seriesFirst) return undefined;
  return bound - options.increment;
}

/**
 * The first value of the series when gapless is turned on for a sequence:
 * what it handed out before counts as confirmed, so the series starts at its
 * first value (its low mark, or high mark going down); none yet: the first
 * reservation sets it.
 */
export function seriesFirstWhenTurnedOn(options: SequenceOptions, issued: IssuedRange | undefined): bigint | undefined {
  if (issued === undefined) return undefined;
  return options.increment > 0n ? issued.low : issued.high;
}

/**
 * A gapless sequence's state beyond its row, as the full export format
 * carries it: the first value of its series, its values that are not
 * confirmed (reserved ones with their holder and lease), and its open
 * reservation ids (so holders can still settle them after a move). Settled
 * ids are not carried: after an import they answer `reservation_not_found`.
 */
export interface GaplessImport {
  readonly seriesFirst: bigint | undefined;
  readonly values: readonly StoredValue[];
  readonly reservations: readonly StoredReservation[];
}
