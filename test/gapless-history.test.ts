import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkGaplessHistory,
  formatGaplessSummary,
  GaplessRecorder,
  type GaplessCheckOptions,
  type GaplessFinal,
  type GaplessOperation,
  type GaplessOutcome,
  type ListedValue,
  type SettleAction,
} from './helpers/gapless-history.js';
import type { Kill } from './helpers/history.js';

/**
 * The gapless history checker on hand-made histories: a clean one (with the
 * legitimate oddities a chaos run produces: lost answers, expired leases,
 * late actions, replays) passes, and each kind of violation planted in it is
 * caught (a checker that cannot fail proves nothing).
 */

const LEASE_MS = 1000;
/** A reservation id of the real shape (22 base64url characters). */
const id = (letter: string): string => letter.repeat(22);
const STATE = { confirm: 'confirmed', release: 'free', void: 'void' } as const;

interface Where {
  readonly process?: string;
  readonly sequence?: string;
}

/** `/next` answered `value` with reservation `letter`; the lease runs LEASE_MS from the answer unless `expiresAt` says. */
function reserve(at: readonly [number, number], value: number, letter: string, extra: Where & { key?: string; replayed?: boolean; expiresAt?: number } = {}): GaplessOperation {
  return {
    kind: 'reserve',
    process: extra.process ?? 'p1',
    sequence: extra.sequence ?? 's',
    leaseSeconds: LEASE_MS / 1000,
    key: extra.key,
    invoked: at[0],
    completed: at[1],
    outcome: { type: 'reserved', value: BigInt(value), reservation: id(letter), expiresAt: extra.expiresAt ?? at[1] + LEASE_MS, replayed: extra.replayed ?? false },
  };
}

/** `/next` without a reservation in the answer. */
function reserveFailed(at: readonly [number, number], outcome: GaplessOutcome, extra: Where & { key?: string } = {}): GaplessOperation {
  return { kind: 'reserve', process: extra.process ?? 'p1', sequence: extra.sequence ?? 's', leaseSeconds: LEASE_MS / 1000, key: extra.key, invoked: at[0], completed: at[1], outcome };
}

/** An action on reservation `letter`: a number is the 200 answer's value (state and reason as promised), else the outcome. */
function settle(at: readonly [number, number], action: SettleAction, letter: string, answer: number | GaplessOutcome, extra: Where & { reason?: string } = {}): GaplessOperation {
  const outcome: GaplessOutcome =
    typeof answer === 'number' ? { type: 'settled', value: BigInt(answer), state: STATE[action], reason: action === 'void' ? (extra.reason ?? null) : null } : answer;
  return { kind: 'settle', process: extra.process ?? 'p1', sequence: extra.sequence ?? 's', reservation: id(letter), action, reason: extra.reason, invoked: at[0], completed: at[1], outcome };
}

const refused = (code: string, status = 409): GaplessOutcome => ({ type: 'error', status, code });
const unknown: GaplessOutcome = { type: 'unknown', reason: 'fetch failed: ECONNRESET' };
const listed = (state: ListedValue['state'], ...values: number[]): ListedValue[] => values.map((value) => ({ value: BigInt(value), state }));

/**
 * A clean run of sequence `s` (lease 1 s), every kind of event once:
 * 1 confirmed; 2 released then re-reserved and voided; 3 abandoned (its late
 * confirm refused as expired) then re-reserved after the lease, confirmed,
 * confirmed again after the lease (same 200) and released (refused as
 * settled); 4 keyed, replayed, its confirm lost in a kill of p1; a /next lost
 * in that kill (5 handed out, answer lost); a 503; then, after every lease,
 * the listing (2 void, 5 free), the drain (5 reserved and confirmed) and the
 * final read.
 */
function cleanRun(): { operations: GaplessOperation[]; kills: Kill[]; final: GaplessFinal } {
  const operations = [
    reserve([0, 1], 1, 'A'),
    reserve([2, 3], 2, 'B'),
    settle([10, 11], 'confirm', 'A', 1),
    settle([20, 21], 'release', 'B', 2),
    reserve([30, 31], 2, 'C'),
    settle([40, 41], 'void', 'C', 2, { reason: 'torn' }),
    reserve([50, 51], 3, 'D'),
    reserve([60, 61], 4, 'F', { key: 'k' }),
    reserve([70, 71], 4, 'F', { key: 'k', replayed: true, expiresAt: 61 + LEASE_MS }),
    settle([80, 90], 'confirm', 'F', unknown),
    reserveFailed([100, 110], unknown),
    reserveFailed([120, 121], refused('store_unavailable', 503), { process: 'p2' }),
    reserve([1100, 1101], 3, 'E', { process: 'p2' }),
    settle([1110, 1111], 'confirm', 'E', 3, { process: 'p2' }),
    settle([1200, 1201], 'confirm', 'D', refused('reservation_expired'), { process: 'p2' }),
    settle([2500, 2501], 'confirm', 'E', 3, { process: 'p2' }),
    settle([2600, 2601], 'release', 'E', refused('reservation_settled'), { process: 'p2' }),
    // The drain.
    reserve([5001, 5002], 5, 'G', { process: 'p2' }),
    settle([5003, 5004], 'confirm', 'G', 5, { process: 'p2' }),
  ];
  const final: GaplessFinal = {
    sequence: 's',
    first: 1n,
    listedAt: 5000,
    beforeDrain: [...listed('void', 2), ...listed('free', 5)],
    drainStartedAt: 5001,
    afterDrain: listed('void', 2),
    reserved: 0,
    free: 0,
    confirmedThrough: 5n,
    lastValue: 5n,
  };
  return { operations, kills: [{ at: 85, process: 'p1' }], final };
}

const accept503: GaplessCheckOptions = { acceptError: (status, code) => status === 503 && code === 'store_unavailable' };

function check(operations: GaplessOperation[], extra: { kills?: Kill[]; finals?: GaplessFinal[] } = {}, options: GaplessCheckOptions = accept503) {
  return checkGaplessHistory({ operations, kills: extra.kills ?? [], finals: extra.finals ?? [] }, options);
}

/** The clean run with `change` applied to its operations and final. */
function planted(change: (run: ReturnType<typeof cleanRun>) => void) {
  const run = cleanRun();
  change(run);
  return check(run.operations, { kills: run.kills, finals: [run.final] });
}

/** Exactly `count` violations, all of the given kind. */
function assertCaught(violations: readonly string[], kind: string, count = 1): void {
  assert.equal(violations.length, count, `${count} violation(s) of ${kind} expected, got: ${JSON.stringify(violations, null, 2)}`);
  for (const violation of violations) assert.ok(violation.startsWith(`${kind}: `), violation);
}

describe('gapless history checker: clean histories pass', () => {
  test('the clean run: lost answers, an expired lease, late actions, replays, the drain', () => {
    const run = cleanRun();
    const summary = check(run.operations, { kills: run.kills, finals: [run.final] });
    assert.deepEqual(summary.violations, []);
    assert.equal(summary.operations, 19);
    assert.equal(summary.reserved, 8);
    assert.equal(summary.reservations, 7);
    assert.equal(summary.confirmed, 4);
    assert.equal(summary.released, 1);
    assert.equal(summary.voided, 1);
    assert.equal(summary.refused, 2);
    assert.equal(summary.errors, 1);
    assert.equal(summary.unknown, 2);
    assert.equal(summary.drained, 1);
    assert.equal(summary.seriesChecked, 5);
  });

  test('a value handed out again after a release, after its lease ended, or concurrently with the release', () => {
    const operations = [
      reserve([0, 1], 1, 'A'),
      settle([5, 6], 'release', 'A', 1),
      // The release was invoked at 5: from then on A may be settled, so B's hold from 5.5 is no overlap.
      reserve([4, 5.5], 1, 'B'),
      // B abandoned; C after B's lease.
      reserve([1600, 1601], 1, 'C'),
      settle([1610, 1611], 'confirm', 'C', 1),
    ];
    assert.deepEqual(check(operations).violations, []);
  });

  test('the same action again, long after the lease, answers the same 200', () => {
    const operations = [reserve([0, 1], 1, 'A'), settle([500, 501], 'void', 'A', 1, { reason: 'x' }), settle([9000, 9001], 'void', 'A', 1, { reason: 'x' })];
    assert.deepEqual(check(operations).violations, []);
  });

  test('a void repeated with another reason (or none) answers the reason of the void applied', () => {
    const operations = [
      reserve([0, 1], 1, 'A'),
      settle([2, 3], 'void', 'A', 1, { reason: 'torn' }),
      settle([4, 5], 'void', 'A', { type: 'settled', value: 1n, state: 'void', reason: 'torn' }),
      settle([6, 7], 'void', 'A', { type: 'settled', value: 1n, state: 'void', reason: 'torn' }, { reason: 'other' }),
    ];
    assert.deepEqual(check(operations).violations, []);
  });

  test('a confirm sent before the lease ended may be answered after it; its lost first attempt may have been applied', () => {
    const operations = [reserve([0, 1], 1, 'A'), settle([990, 1050], 'confirm', 'A', unknown), settle([1500, 1501], 'confirm', 'A', 1, { process: 'p2' })];
    assert.deepEqual(check(operations, { kills: [{ at: 1000, process: 'p1' }] }).violations, []);
  });

  test('reservation_settled after another action that may have been applied', () => {
    const operations = [reserve([0, 1], 1, 'A'), settle([10, 20], 'void', 'A', unknown), settle([30, 31], 'confirm', 'A', refused('reservation_settled'), { process: 'p2' })];
    assert.deepEqual(check(operations, { kills: [{ at: 15, process: 'p1' }] }).violations, []);
  });

  test('the recorder keeps one clock, expires_at converts to it, and the summary line names everything', () => {
    const recorder = new GaplessRecorder();
    const wall = Date.now() + LEASE_MS;
    const expiresAt = recorder.toTestClock(wall);
    assert.ok(Math.abs(expiresAt - (performance.now() + LEASE_MS)) < 50, `${expiresAt} is about a lease from now`);
    recorder.invoke({ kind: 'reserve', process: 'p1', sequence: 's', leaseSeconds: 1 })({ type: 'reserved', value: 1n, reservation: id('A'), expiresAt, replayed: false });
    recorder.invoke({ kind: 'settle', process: 'p1', sequence: 's', reservation: id('A'), action: 'confirm' })({ type: 'settled', value: 1n, state: 'confirmed', reason: null });
    const [first, second] = recorder.operations as [GaplessOperation, GaplessOperation];
    assert.ok(first.invoked <= first.completed && first.completed <= second.invoked);
    const summary = checkGaplessHistory(recorder.history());
    assert.deepEqual(summary.violations, []);
    assert.equal(
      formatGaplessSummary('chaos-gapless', 2, summary),
      'chaos-gapless: 2 cycles, 2 requests (1 reserved, 1 reservations, 1 confirmed, 0 released, 0 voided, 0 refused as expired or settled, 0 errors, 0 unknown), ' +
        '0 values drained, 0 values of the series checked, 0 violations',
    );
  });
});

describe('gapless history checker: each kind of violation is caught', () => {
  test('(1) a value confirmed by two reservations', () => {
    const operations = [reserve([0, 1], 7, 'A'), reserve([0.5, 2], 7, 'B'), settle([1.5, 1.6], 'confirm', 'A', 7), settle([3, 4], 'confirm', 'B', 7)];
    assertCaught(check(operations).violations, 'confirmed twice');
  });

  test('(1) a reservation settled by two different actions', () => {
    assertCaught(check([reserve([0, 1], 1, 'A'), settle([2, 3], 'confirm', 'A', 1), settle([4, 5], 'release', 'A', 1)]).violations, 'settled');
  });

  test('(2) two open reservations holding one value', () => {
    assertCaught(check([reserve([0, 1], 1, 'A'), reserve([10, 11], 1, 'B', { process: 'p2' })]).violations, 'overlap');
    // The same after A's lease, or after A's release was sent, is fine.
    assert.deepEqual(check([reserve([0, 1], 1, 'A'), reserve([1200, 1201], 1, 'B')]).violations, []);
    assert.deepEqual(check([reserve([0, 1], 1, 'A'), settle([5, 6], 'release', 'A', 1), reserve([10, 11], 1, 'B')]).violations, []);
  });

  test('(2) a refused action does not end the hold: the value held by another meanwhile is caught', () => {
    // Sent before the lease ended, refused as expired after it (legitimate), but it changed nothing: A held 1 until its lease ended.
    const operations = [reserve([0, 1], 1, 'A'), settle([100, 1200], 'confirm', 'A', refused('reservation_expired')), reserve([300, 301], 1, 'B', { process: 'p2' })];
    assertCaught(check(operations).violations, 'overlap');
  });

  test('(2) a confirmed or voided value reserved again', () => {
    for (const action of ['confirm', 'void'] as const) {
      const operations = [reserve([0, 1], 1, 'A'), settle([2, 3], action, 'A', 1), reserve([1500, 1501], 1, 'B')];
      assertCaught(check(operations).violations, 'final value');
    }
  });

  test('(3) a 200 to an action sent after the lease ended', () => {
    assertCaught(check([reserve([0, 1], 1, 'A'), settle([1200, 1201], 'confirm', 'A', 1)]).violations, 'lease');
  });

  test('(3) reservation_expired before the lease ended, and for a settled reservation', () => {
    assertCaught(check([reserve([0, 1], 1, 'A'), settle([500, 501], 'confirm', 'A', refused('reservation_expired'))]).violations, 'lease');
    assertCaught(check([reserve([0, 1], 1, 'A'), settle([10, 11], 'confirm', 'A', 1), settle([1500, 1501], 'release', 'A', refused('reservation_expired'))]).violations, 'lease');
  });

  test('(3) reservation_settled with no other action sent, or after the same action was acknowledged', () => {
    assertCaught(check([reserve([0, 1], 1, 'A'), settle([2, 3], 'confirm', 'A', refused('reservation_settled'))]).violations, 'settled');
    assertCaught(check([reserve([0, 1], 1, 'A'), settle([2, 3], 'release', 'A', 1), settle([4, 5], 'release', 'A', refused('reservation_settled'))]).violations, 'settled');
  });

  test('(3) the lease not lease_seconds long', () => {
    assertCaught(check([reserve([0, 1], 1, 'A', { expiresAt: 2001 })]).violations, 'lease');
  });

  test('(3) an acknowledged reservation id forgotten', () => {
    assertCaught(check([reserve([0, 1], 1, 'A'), settle([2, 3], 'confirm', 'A', refused('reservation_not_found', 404))]).violations, 'forgotten');
  });

  test('(4) one reservation id answered to two requests; an id of the wrong shape', () => {
    assertCaught(check([reserve([0, 1], 1, 'A'), reserve([2, 3], 2, 'A')]).violations, 'reservation id');
    const short = reserve([0, 1], 1, 'A');
    const wrong = { ...short, outcome: { ...(short.outcome as GaplessOutcome & { type: 'reserved' }), reservation: 'abc' } };
    assertCaught(check([wrong]).violations, 'answer');
  });

  test('(4) a key answered with two reservations; a retry after the answer not replayed', () => {
    const two = check([reserve([0, 1], 1, 'A', { key: 'k' }), reserve([2, 3], 2, 'B', { key: 'k', replayed: true })]).violations;
    assertCaught(two, 'idempotency');
    assertCaught(check([reserve([0, 1], 1, 'A', { key: 'k' }), reserve([2, 3], 1, 'A', { key: 'k', expiresAt: 1001 })]).violations, 'idempotency');
  });

  test('(4) answers: the wrong state, the wrong value, the void reason not echoed', () => {
    const base = reserve([0, 1], 1, 'A');
    assertCaught(check([base, settle([2, 3], 'confirm', 'A', { type: 'settled', value: 1n, state: 'free', reason: null })]).violations, 'answer');
    assertCaught(check([base, settle([2, 3], 'confirm', 'A', 2)]).violations, 'answer');
    assertCaught(check([base, settle([2, 3], 'void', 'A', { type: 'settled', value: 1n, state: 'void', reason: null }, { reason: 'torn' })]).violations, 'answer');
    // Repeated: the first void's reason, not another.
    const twice = [base, settle([2, 3], 'void', 'A', 1, { reason: 'torn' }), settle([4, 5], 'void', 'A', 1, { reason: 'other' })];
    assertCaught(check(twice).violations, 'answer');
  });

  test('no answer from a live process; an unexpected error', () => {
    assertCaught(check([reserveFailed([0, 1], unknown)]).violations, 'connection');
    assertCaught(check([reserveFailed([0, 1], refused('internal_error', 500))]).violations, 'error');
    assertCaught(check([reserve([0, 1], 1, 'A'), settle([2, 3], 'confirm', 'A', refused('internal_error', 500))]).violations, 'error');
  });

  test('(5) a value still reserved when every lease had ended', () => {
    const summary = planted((run) => {
      run.final = { ...run.final, beforeDrain: [...run.final.beforeDrain, ...listed('reserved', 6)] };
    });
    assertCaught(summary.violations, 'series');
    assert.equal(summary.violations[0], 'series: s: 6 still reserved after every lease ended');
  });

  test('(5) the drain not re-reserving the free values lowest first', () => {
    const summary = planted((run) => {
      run.final = { ...run.final, beforeDrain: [...run.final.beforeDrain, ...listed('free', 4)] };
    });
    assertCaught(summary.violations, 'series');
    assert.match(summary.violations[0] ?? '', /the drain re-reserved 5, but the free values were 5, 4/);
  });

  test('(5) a value left free after the drain', () => {
    const summary = planted((run) => {
      run.final = { ...run.final, afterDrain: [...listed('void', 2), ...listed('free', 5)], free: 1 };
    });
    assertCaught(summary.violations, 'series', 3);
  });

  test('(5) a gap: a value handed out, neither confirmed nor void', () => {
    const summary = planted((run) => {
      // 1 was confirmed by A: without that confirmation 1 is a gap.
      run.operations.splice(2, 1);
    });
    assertCaught(summary.violations, 'series');
    assert.match(summary.violations[0] ?? '', /s: 1 is neither confirmed nor void/);
  });

  test('(5) void values: one nobody voided, one voided but not listed, one confirmed', () => {
    assertCaught(
      planted((run) => {
        run.final = { ...run.final, beforeDrain: [...listed('void', 2, 3), ...listed('free', 5)], afterDrain: listed('void', 2, 3) };
      }).violations,
      'series',
      3, // 3 is void and confirmed (by E), before and after the drain, and no void was sent for it
    );
    assertCaught(
      planted((run) => {
        run.final = { ...run.final, beforeDrain: listed('free', 5), afterDrain: [] };
      }).violations,
      'series',
      2, // 2 voided but not listed, so 2 is also a gap
    );
  });

  test('(5) confirmed_through not last_value; a value reserved above last_value', () => {
    assertCaught(planted((run) => void (run.final = { ...run.final, confirmedThrough: 4n })).violations, 'series');
    assertCaught(planted((run) => void (run.final = { ...run.final, confirmedThrough: 4n, lastValue: 4n })).violations, 'series');
  });

  test('(5) a confirmed value listed free; the listing read before every lease ended (a test error)', () => {
    const confirmedFree = planted((run) => {
      run.final = { ...run.final, beforeDrain: [...listed('free', 1), ...run.final.beforeDrain] };
    });
    // 1 confirmed but listed free, and the drain did not re-reserve it.
    assertCaught(confirmedFree.violations, 'series', 2);
    const early = planted((run) => {
      run.final = { ...run.final, listedAt: 2000 };
    });
    assertCaught(early.violations, 'series');
    assert.match(early.violations[0] ?? '', /listed before every client stopped and every lease ended/);
  });

  test('many violations of one kind are capped, and the rest counted', () => {
    const operations = Array.from({ length: 10 }, (_, i) => reserve([i, i + 0.5], 1, String.fromCharCode(65 + i), { process: `p${i}` }));
    const { violations } = check(operations, {}, { maxMessagesPerCheck: 3 });
    assert.equal(violations.length, 4);
    assert.match(violations[3] ?? '', /^overlap: … and \d+ more$/);
  });
});
