/**
 * The history checker for gapless sequences (issue 13): a log of every
 * reservation (`/next`) and every confirm, release or void the chaos test
 * sent, with when each was invoked and completed on the test's one monotonic
 * clock and what came back, plus what the sequence looked like at the end;
 * checked afterwards against the guarantees of gapless sequences.
 *
 * Outcomes are judged conservatively: an answer with values acknowledges; no
 * answer (or a 5xx) may or may not have been applied, so it is assumed to
 * have happened whenever that could hide a violation, and is never taken as
 * proof of one. `expires_at` is read on the server's clock and recorded on
 * the test's (`GaplessRecorder.toTestClock`); comparisons with it allow
 * `clockToleranceMs` either way.
 *
 * - (1) Confirmed at most once: no value is confirmed by two reservations;
 *   no reservation is settled by two different actions.
 * - (2) No two reservations that were certainly both open at one moment hold
 *   the same value. A reservation is certainly open from its first
 *   acknowledged answer until the earlier of its lease's end and the
 *   invocation of the first confirm, release or void sent for it that may
 *   have been applied (a 4xx refusal changed nothing).
 *   A confirmed or voided value is never reserved again.
 * - (3) Strict leases: a lease is `lease_seconds` long; an action that
 *   certainly arrived after the lease answered 200 only if the same action
 *   may have been applied before it ended; `reservation_expired` only after
 *   the lease could have ended, never for a settled reservation;
 *   `reservation_settled` only after another action may have been applied;
 *   a reservation id acknowledged is never `reservation_not_found`.
 * - (4) Answers: ids of 22 to 64 base64url characters, one id one request
 *   (a keyed retry replays the same reservation), the settled state of the
 *   action with the reserved value, and the reason of the void applied (a
 *   void repeated with another reason answers the first one's).
 * - (5) The series, at the end (`GaplessFinal`): once every client has
 *   stopped and every lease has ended nothing is reserved; the drain
 *   re-reserves exactly the free values, lowest first; after it nothing is
 *   free, the void values are exactly those voided, and every value from the
 *   first to `last_value` is confirmed or void (no gap), with
 *   `confirmed_through` equal to `last_value`.
 */
import { describeGapless, type GaplessFinal, type GaplessHistory, type GaplessOperation, type Reserved, type ReserveOperation, type Settled, type SettleOperation } from './gapless-model.js';
import { Violations } from './history.js';

export * from './gapless-model.js';

export interface GaplessCheckOptions {
  /** Which error answers (other than the gapless refusals, judged by the checker) are expected, e.g. 503. Default: none. */
  readonly acceptError?: (status: number, code: string | undefined) => boolean;
  /** Allowance between the server's clock and the test's (ms). Default 100. */
  readonly clockToleranceMs?: number;
  /** At most this many messages per check (the rest are counted). Default 50. */
  readonly maxMessagesPerCheck?: number;
}

export interface GaplessSummary {
  readonly operations: number;
  /** Acknowledged reservations (replays included) and distinct reservation ids. */
  readonly reserved: number;
  readonly reservations: number;
  readonly confirmed: number;
  readonly released: number;
  readonly voided: number;
  /** `reservation_expired` and `reservation_settled` answers. */
  readonly refused: number;
  /** Other error answers. */
  readonly errors: number;
  readonly unknown: number;
  /** Values re-reserved by the drains. */
  readonly drained: number;
  /** Values of the series checked at the end (first..last_value, every sequence). */
  readonly seriesChecked: number;
  readonly violations: string[];
}

const ACTION_STATE = { confirm: 'confirmed', release: 'free', void: 'void' } as const;
const RESERVATION_ID = /^[A-Za-z0-9_-]{22,64}$/;

type ReserveOp = ReserveOperation;
type SettleOp = SettleOperation;
type ReservedOp = ReserveOp & { readonly outcome: Reserved };
type SettledOp = SettleOp & { readonly outcome: Settled };

/** One reservation id, from its acknowledged answers. */
interface Reservation {
  readonly id: string;
  readonly answers: ReservedOp[];
  readonly sequence: string;
  readonly value: bigint;
  readonly expiresAt: number;
  /** The settle requests sent for it, whatever their outcome. */
  readonly attempts: SettleOp[];
}

const isReserve = (op: GaplessOperation): op is ReserveOp => op.kind === 'reserve';
const isSettle = (op: GaplessOperation): op is SettleOp => op.kind === 'settle';
const isReserved = (op: GaplessOperation): op is ReservedOp => op.kind === 'reserve' && op.outcome.type === 'reserved';
const isSettled = (op: GaplessOperation): op is SettledOp => op.kind === 'settle' && op.outcome.type === 'settled';
const isRefusal = (op: GaplessOperation, code: string): boolean => op.outcome.type === 'error' && op.outcome.code === code;
/** May this settle request have been applied? (No answer, or a server fault.) */
const mayHaveApplied = (op: SettleOp): boolean => op.outcome.type === 'settled' || op.outcome.type === 'unknown' || (op.outcome.type === 'error' && op.outcome.status >= 500);
/** The reasons a void answer may echo: of a void sent for the reservation before it completed (its own, if the reservation is unknown). */
function voidReasons(reservation: Reservation | undefined, op: SettleOp): (string | null)[] {
  const sent = reservation?.attempts.filter((other) => other.action === 'void' && other.invoked < op.completed && mayHaveApplied(other)) ?? [op];
  return sent.map((other) => other.reason ?? null);
}
const min = (values: readonly number[]): number => values.reduce((a, b) => Math.min(a, b), Infinity);

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** Checks a gapless history against the guarantees listed at the top of this file. */
export function checkGaplessHistory(history: GaplessHistory, options: GaplessCheckOptions = {}): GaplessSummary {
  const tolerance = options.clockToleranceMs ?? 100;
  const acceptError = options.acceptError ?? (() => false);
  const violations = new Violations(options.maxMessagesPerCheck ?? 50);
  const { operations } = history;
  const d = describeGapless;

  // Reservations by id; one id answers one request (one key, or one request without a key).
  const reservations = new Map<string, Reservation>();
  const requestOf = new Map<string, ReservedOp>();
  for (const op of operations.filter(isReserved)) {
    const { reservation: id, value, expiresAt } = op.outcome;
    const known = reservations.get(id);
    if (known === undefined) {
      reservations.set(id, { id, answers: [op], sequence: op.sequence, value, expiresAt, attempts: [] });
      requestOf.set(id, op);
      continue;
    }
    known.answers.push(op);
    const first = requestOf.get(id) as ReservedOp;
    if (op.key === undefined || op.key !== first.key || op.sequence !== known.sequence) {
      violations.add('reservation id', `${id} answered to two requests: ${d(first)} and ${d(op)}`);
    } else if (value !== known.value || expiresAt !== known.expiresAt) {
      violations.add('idempotency', `key ${op.key} replayed ${id} with another value or lease: ${d(first)} then ${d(op)}`);
    }
  }
  for (const op of operations.filter(isSettle)) reservations.get(op.reservation)?.attempts.push(op);

  // (4) Answers, errors, connections, and the lease's length.
  const killedAt = new Map<string, number>();
  for (const kill of history.kills) killedAt.set(kill.process, Math.min(kill.at, killedAt.get(kill.process) ?? Infinity));
  for (const op of operations) {
    const { outcome } = op;
    if (outcome.type === 'invalid') {
      violations.add('answer', `unreadable answer ${d(op)}`);
    } else if (outcome.type === 'unknown') {
      const killed = killedAt.get(op.process);
      if (killed === undefined || op.completed < killed) {
        violations.add('connection', `no answer from ${op.process}, which was ${killed === undefined ? 'never killed' : `killed only at ${killed.toFixed(1)} ms`} ${d(op)}`);
      }
    } else if (isReserve(op)) {
      if (outcome.type === 'settled') violations.add('answer', `a settlement answered to a reservation ${d(op)}`);
      else if (outcome.type === 'error') {
        if (!acceptError(outcome.status, outcome.code)) violations.add('error', `unexpected error ${d(op)}`);
      } else {
        if (!RESERVATION_ID.test(outcome.reservation)) violations.add('answer', `reservation id not 22 to 64 base64url characters ${d(op)}`);
        const lease = op.leaseSeconds * 1000;
        if (!outcome.replayed && (outcome.expiresAt < op.invoked + lease - tolerance || outcome.expiresAt > op.completed + lease + tolerance)) {
          violations.add('lease', `expires_at is not ${op.leaseSeconds} s after the reservation ${d(op)}`);
        }
      }
    } else if (isSettle(op)) {
      const reservation = reservations.get(op.reservation);
      if (outcome.type === 'reserved') violations.add('answer', `a reservation answered to a settlement ${d(op)}`);
      else if (outcome.type === 'settled') {
        const wrong =
          outcome.state !== ACTION_STATE[op.action]
            ? `state ${outcome.state}`
            : reservation !== undefined && outcome.value !== reservation.value
              ? `value ${outcome.value}, reserved ${reservation.value}`
              : op.action === 'void' && !voidReasons(reservation, op).includes(outcome.reason)
                ? `reason ${JSON.stringify(outcome.reason)}`
                : undefined;
        if (wrong !== undefined) violations.add('answer', `${op.action} answered ${wrong} ${d(op)}`);
      } else if (outcome.code === 'reservation_not_found') {
        if (reservation !== undefined) violations.add('forgotten', `${reservation.id}, acknowledged by ${d(reservation.answers[0] as ReservedOp)}, not found ${d(op)}`);
      } else if (outcome.code !== 'reservation_expired' && outcome.code !== 'reservation_settled' && !acceptError(outcome.status, outcome.code)) {
        violations.add('error', `unexpected error ${d(op)}`);
      }
    }
  }

  // (4) Keyed reservations: a retry after an acknowledged answer is a replay; a replay follows an attempt.
  const byKey = new Map<string, ReserveOp[]>();
  for (const op of operations.filter(isReserve)) if (op.key !== undefined) push(byKey, `${op.sequence}\u0000${op.key}`, op);
  for (const attempts of byKey.values()) {
    const answered = attempts.filter(isReserved);
    const firstDone = min(answered.map((op) => op.completed));
    for (const op of answered) {
      if (!op.outcome.replayed && op.invoked > firstDone) violations.add('idempotency', `key ${op.key} acknowledged before, but a retry was not a replay ${d(op)}`);
      if (op.outcome.replayed && !attempts.some((other) => other !== op && other.invoked < op.completed)) {
        violations.add('idempotency', `key ${op.key} replayed without an earlier attempt ${d(op)}`);
      }
      const reference = answered[0] as ReservedOp;
      if (op.outcome.reservation !== reference.outcome.reservation) {
        violations.add('idempotency', `key ${op.key} answered two reservations: ${d(reference)} then ${d(op)}`);
      }
    }
  }

  // (1) and (3): each reservation's settlements.
  for (const reservation of reservations.values()) {
    const { attempts, expiresAt } = reservation;
    const acked = attempts.filter(isSettled);
    const states = new Set(acked.map((op) => op.outcome.state));
    if (states.size > 1) violations.add('settled', `${reservation.id} settled by two actions: ${acked.map(d).join(' and ')}`);
    const reasons = new Set(acked.filter((op) => op.outcome.state === 'void').map((op) => op.outcome.reason));
    if (reasons.size > 1) violations.add('answer', `${reservation.id} voided with two reasons: ${acked.map(d).join(' and ')}`);
    for (const op of attempts) {
      const { action } = op;
      if (op.outcome.type === 'settled' && op.invoked >= expiresAt + tolerance) {
        const earlier = attempts.some((other) => other.action === action && other.invoked < expiresAt + tolerance && mayHaveApplied(other));
        if (!earlier) violations.add('lease', `${action} of ${reservation.id} sent after its lease ended, answered 200 ${d(op)}`);
      }
      if (isRefusal(op, 'reservation_expired')) {
        if (op.completed < expiresAt - tolerance) violations.add('lease', `${reservation.id} refused as expired before its lease ended ${d(op)}`);
        if (acked.length > 0) violations.add('lease', `${reservation.id} refused as expired, and settled by ${d(acked[0] as SettledOp)}: ${d(op)}`);
      }
      if (isRefusal(op, 'reservation_settled')) {
        const sameDone = acked.some((other) => other.action === action);
        const otherTried = attempts.some((other) => other.action !== action && other.invoked < op.completed && mayHaveApplied(other));
        if (sameDone || !otherTried) violations.add('settled', `${reservation.id} refused as settled by another action, but ${sameDone ? `${action} was acknowledged` : 'none was sent before'} ${d(op)}`);
      }
    }
  }

  // (1) and (2): per value.
  const byValue = new Map<string, Reservation[]>();
  for (const reservation of reservations.values()) push(byValue, `${reservation.sequence}\u0000${reservation.value}`, reservation);
  const keyedStart = new Map<string, number>();
  for (const [key, attempts] of byKey) keyedStart.set(key, min(attempts.map((op) => op.invoked)));
  for (const held of byValue.values()) {
    const value = `${held[0]?.sequence} ${held[0]?.value}`;
    const confirmedBy = held.filter((r) => r.attempts.some((op) => isSettled(op) && op.outcome.state === 'confirmed'));
    if (confirmedBy.length > 1) violations.add('confirmed twice', `${value} confirmed by ${confirmedBy.map((r) => r.id).join(' and ')}`);

    // Certainly open from its first answer until its lease's end or its first settle request that may have been applied.
    const intervals = held
      .map((r) => ({ r, from: min(r.answers.map((op) => op.completed)), to: Math.min(r.expiresAt - tolerance, min(r.attempts.filter(mayHaveApplied).map((op) => op.invoked))) }))
      .filter((i) => i.from < i.to)
      .sort((a, b) => a.from - b.from);
    let reach: (typeof intervals)[number] | undefined;
    for (const interval of intervals) {
      if (reach !== undefined && interval.from < reach.to) {
        violations.add('overlap', `${value} held by two open reservations at ${interval.from.toFixed(1)} ms: ${d(reach.r.answers[0] as ReservedOp)} and ${d(interval.r.answers[0] as ReservedOp)}`);
      }
      if (reach === undefined || interval.to > reach.to) reach = interval;
    }

    // Confirmed or voided: final; no reservation created after that.
    const finals = held.flatMap((r) => r.attempts.filter((op): op is SettledOp => isSettled(op) && op.outcome.state !== 'free'));
    const finalAt = min(finals.map((op) => op.completed));
    for (const r of held) {
      const first = r.answers[0] as ReservedOp;
      const created = first.key === undefined ? min(r.answers.map((op) => op.invoked)) : (keyedStart.get(`${first.sequence}\u0000${first.key}`) ?? first.invoked);
      if (created > finalAt) violations.add('final value', `${value} reserved again after it was ${finals[0]?.outcome.state}: ${d(finals[0] as SettledOp)} then ${d(first)}`);
    }
  }

  // (5) The series at the end.
  let seriesChecked = 0;
  for (const final of history.finals) seriesChecked += checkFinal(final, operations, reservations, tolerance, violations);

  const settled = operations.filter(isSettled);
  return {
    operations: operations.length,
    reserved: operations.filter(isReserved).length,
    reservations: reservations.size,
    confirmed: settled.filter((op) => op.outcome.state === 'confirmed').length,
    released: settled.filter((op) => op.outcome.state === 'free').length,
    voided: settled.filter((op) => op.outcome.state === 'void').length,
    refused: operations.filter((op) => isRefusal(op, 'reservation_expired') || isRefusal(op, 'reservation_settled')).length,
    errors: operations.filter((op) => op.outcome.type === 'error').length - operations.filter((op) => isRefusal(op, 'reservation_expired') || isRefusal(op, 'reservation_settled')).length,
    unknown: operations.filter((op) => op.outcome.type === 'unknown').length,
    drained: history.finals.reduce((sum, final) => sum + final.beforeDrain.filter((v) => v.state === 'free').length, 0),
    seriesChecked,
    violations: violations.list(),
  };
}

/** (5) One sequence at the end; returns how many values of its series were checked. */
function checkFinal(final: GaplessFinal, operations: readonly GaplessOperation[], reservations: ReadonlyMap<string, Reservation>, tolerance: number, violations: Violations): number {
  const name = final.sequence;
  const add = (message: string): void => violations.add('series', `${name}: ${message}`);
  const ops = operations.filter((op) => op.sequence === name);
  const drain = ops.filter((op) => op.invoked >= final.drainStartedAt);
  const live = ops.filter((op) => op.invoked < final.drainStartedAt);
  const lateOp = live.find((op) => op.completed > final.listedAt || (isReserve(op) && op.completed + op.leaseSeconds * 1000 + tolerance > final.listedAt));
  if (lateOp !== undefined || final.drainStartedAt < final.listedAt) {
    add(`listed before every client stopped and every lease ended (a test error) ${lateOp === undefined ? '' : describeGapless(lateOp)}`);
  }

  const ofSequence = [...reservations.values()].filter((r) => r.sequence === name);
  const valueOf = (op: SettleOp): bigint | undefined => reservations.get(op.reservation)?.value;
  const settleOps = ops.filter(isSettle);
  const confirmedLive = new Set(live.filter(isSettled).filter((op) => op.outcome.state === 'confirmed').map((op) => op.outcome.value));
  const confirmed = new Set(settleOps.filter(isSettled).filter((op) => op.outcome.state === 'confirmed').map((op) => op.outcome.value));
  const mayBeConfirmed = new Set(settleOps.filter((op) => op.action === 'confirm' && mayHaveApplied(op)).map(valueOf));
  const voidTried = new Set(settleOps.filter((op) => op.action === 'void').map(valueOf));
  const voided = settleOps.filter(isSettled).filter((op) => op.outcome.state === 'void');

  // Before the drain: nothing reserved; no confirmed value listed.
  for (const listed of final.beforeDrain) {
    if (listed.state === 'reserved') add(`${listed.value} still reserved after every lease ended`);
    if (confirmedLive.has(listed.value)) add(`${listed.value} confirmed, but listed ${listed.state}`);
  }
  // The drain: exactly the free values, lowest first.
  const free = final.beforeDrain.filter((v) => v.state === 'free').map((v) => v.value);
  const drained = drain.filter(isReserved).map((op) => op.outcome.value);
  if (drained.join() !== [...free].sort((a, b) => (a < b ? -1 : 1)).join()) add(`the drain re-reserved ${drained.join(', ') || 'nothing'}, but the free values were ${free.join(', ') || 'none'}`);

  // After the drain: nothing open; void values exactly those voided.
  const voids = new Set<bigint>();
  for (const listed of final.afterDrain) {
    if (listed.state !== 'void') add(`${listed.value} still ${listed.state} after the drain`);
    else voids.add(listed.value);
    if (confirmed.has(listed.value)) add(`${listed.value} confirmed, but listed ${listed.state} after the drain`);
  }
  if (final.reserved !== 0 || final.free !== 0) add(`${final.reserved} reserved and ${final.free} free after the drain`);
  const voidsBefore = final.beforeDrain.filter((v) => v.state === 'void').map((v) => v.value);
  if (voidsBefore.join() !== [...voids].join()) add(`void values changed during the drain: ${voidsBefore.join(', ')} then ${[...voids].join(', ')}`);
  for (const value of voids) if (!voidTried.has(value)) add(`${value} is void, but no void was sent for it`);
  for (const op of voided) if (!voids.has(op.outcome.value)) add(`${op.outcome.value} voided, but not listed void ${describeGapless(op)}`);

  // Every value first..last_value confirmed or void; confirmed_through = last_value.
  const last = final.lastValue;
  const highest = ofSequence.reduce<bigint | undefined>((high, r) => (high === undefined || r.value > high ? r.value : high), undefined);
  if (highest !== undefined && (last === null || highest > last)) add(`${highest} was reserved, above last_value ${last}`);
  const lowest = ofSequence.find((r) => r.value < final.first);
  if (lowest !== undefined) add(`${lowest.value} was reserved, below the series' first value ${final.first}`);
  if (final.confirmedThrough !== last) add(`confirmed_through is ${final.confirmedThrough}, last_value ${last}`);
  if (last === null) return 0;
  for (const value of voids) if (value < final.first || value > last) add(`${value} is void, outside the series ${final.first}..${last}`);
  let gaps = 0;
  for (let value = final.first; value <= last; value += 1n) {
    if (!confirmed.has(value) && !mayBeConfirmed.has(value) && !voids.has(value)) {
      gaps += 1;
      if (gaps <= 10) add(`${value} is neither confirmed nor void`);
    }
  }
  if (gaps > 10) add(`… ${gaps} values of the series neither confirmed nor void`);
  return Number(last - final.first + 1n);
}

/** One line: cycles, requests, what they did, values checked, violations. */
export function formatGaplessSummary(label: string, cycles: number, summary: GaplessSummary): string {
  return (
    `${label}: ${cycles} cycles, ${summary.operations} requests (${summary.reserved} reserved, ${summary.reservations} reservations, ` +
    `${summary.confirmed} confirmed, ${summary.released} released, ${summary.voided} voided, ${summary.refused} refused as expired or settled, ` +
    `${summary.errors} errors, ${summary.unknown} unknown), ${summary.drained} values drained, ${summary.seriesChecked} values of the series checked, ` +
    `${summary.violations.length} violations`
  );
}
