import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  confirmedThrough,
  decideSettlement,
  isReservationId,
  newReservationId,
  reserveValue,
  seriesFirstWhenTurnedOn,
  viewOf,
  type StoredReservation,
  type StoredValue,
} from '../src/core/gapless.js';
import { ImportConflictError, fullEntries, planImport, type Held } from '../src/core/import-rules.js';
import { InvalidOptionsError, initialPosition, resolveOptions } from '../src/core/sequence.js';

/** The gapless rules of the core, with an injected clock (`now` in ms). */

const options = resolveOptions({ gapless: true, leaseSeconds: 10 });
const NOW = 1_000_000;

const open = (id: string, value: bigint, expiresAt = NOW + 10_000): StoredReservation => ({ id, value, expiresAt, state: 'reserved', reason: undefined, labels: undefined });
const held = (id: string, value: bigint, expiresAt = NOW + 10_000): StoredValue => ({
  value,
  state: 'reserved',
  reservation: id,
  expiresAt,
  reason: undefined,
  updatedAt: NOW,
  labels: undefined,
});

describe('gapless options', () => {
  it('default to off with a 300 s lease, and refuse what cannot be gapless, naming the field', () => {
    assert.equal(resolveOptions({}).gapless, false);
    assert.equal(resolveOptions({}).leaseSeconds, 300);
    const field = (changes: Parameters<typeof resolveOptions>[0]) => {
      try {
        resolveOptions(changes);
        return undefined;
      } catch (error) {
        assert.ok(error instanceof InvalidOptionsError);
        return error.field;
      }
    };
    assert.equal(field({ gapless: true, cache: 2n }), 'gapless');
    assert.equal(field({ gapless: true, cycle: true }), 'gapless');
    assert.equal(field({ leaseSeconds: 0 }), 'lease_seconds');
    assert.equal(field({ leaseSeconds: 86_401 }), 'lease_seconds');
    assert.equal(field({ leaseSeconds: 1.5 }), 'lease_seconds');
    assert.equal(field({ gapless: true, leaseSeconds: 86_400 }), undefined);
  });
});

describe('reserveValue', () => {
  it('takes the lowest free value first, else the next new one, with a lease from now', () => {
    const state = { position: initialPosition(options), issued: undefined, seriesFirst: undefined };
    const fresh = reserveValue(options, state, undefined, NOW);
    assert.ok(fresh.ok);
    assert.equal(fresh.value, 1n);
    assert.equal(fresh.fresh, true);
    assert.equal(fresh.grant.expiresAt, NOW + 10_000);
    assert.equal(fresh.state.seriesFirst, 1n);
    assert.deepEqual(fresh.state.issued, { low: 1n, high: 1n });
    const reused = reserveValue(options, fresh.state, 1n, NOW);
    assert.ok(reused.ok);
    assert.equal(reused.value, 1n);
    assert.equal(reused.fresh, false);
    assert.equal(reused.state, fresh.state);
    assert.notEqual(reused.grant.id, fresh.grant.id);
  });

  it('says exhausted at the bound when nothing is free', () => {
    const bounded = resolveOptions({ gapless: true, maxValue: 2n });
    const state = { position: { lastValue: 2n, isCalled: true }, issued: { low: 1n, high: 2n }, seriesFirst: 1n };
    assert.deepEqual(reserveValue(bounded, state, undefined, NOW), { ok: false });
    assert.equal(reserveValue(bounded, state, 1n, NOW).ok, true);
  });

  it('makes ids of 22 base64url characters, distinct, and knows their shape', () => {
    const ids = new Set(Array.from({ length: 1000 }, newReservationId));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.ok(isReservationId(id) && id.length === 22, id);
    for (const bad of ['', 'short', 'a'.repeat(65), `${'a'.repeat(21)}!`, `${'a'.repeat(21)}/`, `${'a'.repeat(21)}=`]) assert.equal(isReservationId(bad), false, bad);
  });
});

describe('decideSettlement', () => {
  it('settles an open reservation within its lease: confirm removes the row, release frees it, void keeps its reason', () => {
    assert.deepEqual(decideSettlement(open('r', 5n), held('r', 5n), 'confirm', undefined, NOW), {
      kind: 'settle',
      answer: { value: 5n, state: 'confirmed', reason: undefined, labels: undefined },
      value: undefined,
    });
    const released = decideSettlement(open('r', 5n), held('r', 5n), 'release', 'ignored', NOW);
    assert.equal(released.kind, 'settle');
    assert.deepEqual([released.answer, released.value?.state, released.value?.reason], [
      { value: 5n, state: 'free', reason: undefined, labels: undefined },
      'free',
      undefined,
    ]);
    const voided = decideSettlement(open('r', 5n), held('r', 5n), 'void', 'torn', NOW);
    assert.deepEqual(voided.kind === 'settle' ? [voided.answer, voided.value?.state, voided.value?.reason] : [], [
      { value: 5n, state: 'void', reason: 'torn', labels: undefined },
      'void',
      'torn',
    ]);
  });

  it('refuses at expires_at exactly and after, even if nobody took the value', () => {
    assert.deepEqual(decideSettlement(open('r', 5n, NOW), held('r', 5n, NOW), 'confirm', undefined, NOW), { kind: 'refuse', reason: 'expired' });
    assert.deepEqual(decideSettlement(open('r', 5n, NOW - 1), undefined, 'release', undefined, NOW), { kind: 'refuse', reason: 'expired' });
    assert.equal(decideSettlement(open('r', 5n, NOW + 1), held('r', 5n, NOW + 1), 'confirm', undefined, NOW).kind, 'settle');
  });

  it('replays the same action on a settled reservation at any time, refuses another, and knows no unknown id', () => {
    const confirmed: StoredReservation = { id: 'r', value: 5n, expiresAt: NOW - 99_999, state: 'confirmed', reason: undefined, labels: undefined };
    assert.deepEqual(decideSettlement(confirmed, undefined, 'confirm', undefined, NOW), { kind: 'replay', answer: { value: 5n, state: 'confirmed', reason: undefined, labels: undefined } });
    assert.deepEqual(decideSettlement(confirmed, undefined, 'void', 'x', NOW), { kind: 'refuse', reason: 'settled' });
    const voided: StoredReservation = { id: 'r', value: 5n, expiresAt: NOW, state: 'void', reason: 'first', labels: undefined };
    assert.deepEqual(decideSettlement(voided, undefined, 'void', 'second', NOW), { kind: 'replay', answer: { value: 5n, state: 'void', reason: 'first', labels: undefined } });
    assert.deepEqual(decideSettlement(undefined, undefined, 'confirm', undefined, NOW), { kind: 'refuse', reason: 'not_found' });
  });

  it('never settles an open reservation that no longer holds its value (a clock judged its lease ended): expired', () => {
    assert.deepEqual(decideSettlement(open('r', 5n), held('other', 5n), 'confirm', undefined, NOW), { kind: 'refuse', reason: 'expired' });
    assert.deepEqual(decideSettlement(open('r', 5n), undefined, 'release', undefined, NOW), { kind: 'refuse', reason: 'expired' });
  });
});

describe('what readers see', () => {
  it('a reservation past its lease reads as free from expires_at on', () => {
    assert.equal(viewOf(held('r', 5n, NOW), NOW).state, 'free');
    assert.deepEqual(viewOf(held('r', 5n, NOW), NOW), { value: 5n, state: 'free', expiresAt: undefined, reason: undefined, updatedAt: NOW, labels: undefined });
    assert.deepEqual(viewOf(held('r', 5n, NOW + 1), NOW), { value: 5n, state: 'reserved', expiresAt: NOW + 1, reason: undefined, updatedAt: NOW, labels: undefined });
  });

  it('confirmed_through: the value before the earliest open one, the last handed out when none is open, none before the first', () => {
    const called = { lastValue: 10n, isCalled: true };
    assert.equal(confirmedThrough(options, called, 1n, 4n), 3n);
    assert.equal(confirmedThrough(options, called, 1n, undefined), 10n);
    assert.equal(confirmedThrough(options, called, 1n, 1n), undefined);
    assert.equal(confirmedThrough(options, initialPosition(options), undefined, undefined), undefined);
    const down = resolveOptions({ gapless: true, increment: -1n, minValue: 1n, maxValue: 100n });
    assert.equal(confirmedThrough(down, { lastValue: 90n, isCalled: true }, 100n, 95n), 96n);
    assert.equal(seriesFirstWhenTurnedOn(down, { low: 90n, high: 100n }), 100n);
    assert.equal(seriesFirstWhenTurnedOn(options, { low: 1n, high: 10n }), 1n);
    assert.equal(seriesFirstWhenTurnedOn(options, undefined), undefined);
  });
});

describe('importing a gapless series', () => {
  const gapless = { seriesFirst: 1n, values: [], reservations: [] };
  const state = { options, position: { lastValue: 5n, isCalled: true }, issued: { low: 1n, high: 5n } };
  const entries = fullEntries([{ name: 'g', ...state, gapless }]);

  it('is taken whole where the store holds nothing of the name, and is unchanged when imported again', () => {
    const absent: Held = { kind: 'absent' };
    const plan = planImport(entries, () => absent);
    assert.equal(plan.writes[0]?.decision.kind, 'created');
    assert.equal(planImport(entries, () => ({ kind: 'live', state })).summary.unchanged, 1);
  });

  it('is refused over a sequence of that name that handed out values, or inside a deleted one', () => {
    const live: Held = { kind: 'live', state: { options: resolveOptions({}), position: { lastValue: 3n, isCalled: true }, issued: { low: 1n, high: 3n } } };
    assert.throws(() => planImport(entries, () => live), ImportConflictError);
    const deleted: Held = { kind: 'deleted', issued: { low: 1n, high: 9n } };
    assert.throws(() => planImport(entries, () => deleted), ImportConflictError);
  });
});
