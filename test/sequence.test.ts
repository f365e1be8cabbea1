import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INT64_MAX, INT64_MIN, isInt64 } from '../src/core/int64.js';
import {
  takeValues,
  positionAfter,
  reissues,
  unite,
  widen,
  changeConflict,
  DEFAULT_OPTIONS,
  firstUseState,
  impliedIssued,
  initialPosition,
  InvalidOptionsError,
  MAX_CACHE,
  peekNext,
  reserve,
  resetPosition,
  resetReissues,
  resolveOptions,
  valuesLeft,
  type Allocated,
  type OptionChanges,
  type OptionName,
  type SequenceOptions,
  type SequencePosition,
} from '../src/core/sequence.js';

/** Positions: `at(v)` has handed out v last; `fresh(v)` hands out v next. */
const at = (lastValue: bigint): SequencePosition => ({ lastValue, isCalled: true });
const fresh = (lastValue: bigint): SequencePosition => ({ lastValue, isCalled: false });

/** Asserts that resolveOptions refuses `given` (on `base`) naming `field`. */
function assertInvalid(given: OptionChanges, field: OptionName, base?: SequenceOptions): void {
  assert.throws(
    () => resolveOptions(given, base),
    (error: unknown) => {
      assert.ok(error instanceof InvalidOptionsError, `expected InvalidOptionsError, got ${String(error)}`);
      assert.equal(error.field, field);
      assert.equal(typeof error.message, 'string');
      return true;
    },
  );
}

/** Asserts a successful allocation of first..last, and that its new position has handed out last. */
function assertTaken(result: Allocated, first: bigint, last: bigint): SequencePosition {
  assert.ok(result.ok, `expected ${first}..${last}, got exhausted`);
  assert.equal(result.first, first);
  assert.equal(result.last, last);
  assert.deepEqual(result.position, at(last));
  return result.position;
}

function assertExhausted(result: Allocated): void {
  assert.deepEqual(result, { ok: false, reason: 'exhausted' });
}

/** Takes `count` single values one after another; returns them and the final position. */
function singles(position: SequencePosition, options: SequenceOptions, count: number): { values: bigint[]; position: SequencePosition } {
  const values: bigint[] = [];
  let current = position;
  for (let i = 0; i < count; i += 1) {
    const result = takeValues(current, options, 1n);
    assert.ok(result.ok, `single ${i + 1} of ${count} was exhausted`);
    assert.equal(result.first, result.last);
    values.push(result.first);
    current = result.position;
  }
  return { values, position: current };
}

describe('resolveOptions: defaults', () => {
  it('gives an ascending sequence 1..2^63-1 starting at 1, step 1, no cycle, cache 1', () => {
    const expected: SequenceOptions = { start: 1n, increment: 1n, minValue: 1n, maxValue: INT64_MAX, cycle: false, cache: 1n, gapless: false, leaseSeconds: 300, restart: 'never', timeZone: 'UTC', format: null };
    assert.deepEqual(resolveOptions({}), expected);
    assert.deepEqual(DEFAULT_OPTIONS, expected);
    assert.equal(INT64_MAX, 9223372036854775807n);
  });

  it('gives a descending sequence -2^63..-1 starting at -1', () => {
    assert.deepEqual(resolveOptions({ increment: -1n }), {
      start: -1n,
      increment: -1n,
      minValue: INT64_MIN,
      maxValue: -1n,
      cycle: false,
      cache: 1n,
      gapless: false,
      leaseSeconds: 300,
      restart: 'never',
      timeZone: 'UTC',
      format: null,
    });
    assert.equal(INT64_MIN, -9223372036854775808n);
    assert.equal(resolveOptions({ increment: -5n, maxValue: 100n }).start, 100n);
  });

  it('starts an ascending sequence at its minimum and a descending one at its maximum', () => {
    assert.equal(resolveOptions({ minValue: -50n }).start, -50n);
    assert.equal(resolveOptions({ minValue: INT64_MIN, maxValue: INT64_MAX }).start, INT64_MIN);
    assert.equal(resolveOptions({ increment: -1n, minValue: INT64_MIN, maxValue: INT64_MAX }).start, INT64_MAX);
  });

  it('keeps the options of the base that are not given', () => {
    const base = resolveOptions({ start: 5n, increment: 3n, minValue: -10n, maxValue: 100n, cycle: true, cache: 7n });
    assert.deepEqual(resolveOptions({}, base), base);
    assert.deepEqual(resolveOptions({ maxValue: 50n }, base), { ...base, maxValue: 50n });
    assert.deepEqual(resolveOptions({ cycle: false, cache: 1n }, base), { ...base, cycle: false, cache: 1n });
  });

  it('accepts the extreme 64-bit options', () => {
    const widest = resolveOptions({ minValue: INT64_MIN, maxValue: INT64_MAX, increment: INT64_MAX, start: INT64_MAX });
    assert.equal(widest.start, INT64_MAX);
    assert.equal(resolveOptions({ increment: INT64_MIN }).increment, INT64_MIN);
    assert.equal(resolveOptions({ cache: MAX_CACHE }).cache, MAX_CACHE);
    assert.equal(resolveOptions({ minValue: INT64_MAX - 1n }).maxValue, INT64_MAX);
  });
});

describe('resolveOptions: validation names the offending field', () => {
  it('refuses increment 0', () => {
    assertInvalid({ increment: 0n }, 'increment');
    assertInvalid({ increment: 0n, start: 5n }, 'increment');
  });

  it('refuses min_value >= max_value', () => {
    assertInvalid({ minValue: 5n, maxValue: 5n }, 'min_value');
    assertInvalid({ minValue: 6n, maxValue: 5n }, 'min_value');
    // Only max_value given: it is the one at fault (the default minimum is 1).
    assertInvalid({ maxValue: 1n }, 'max_value');
    assertInvalid({ maxValue: 0n }, 'max_value');
    // Only min_value given against the default maximum.
    assertInvalid({ minValue: INT64_MAX }, 'min_value');
    assertInvalid({ increment: -1n, minValue: -1n }, 'min_value');
  });

  it('refuses a start outside the bounds', () => {
    assertInvalid({ start: 0n }, 'start');
    assertInvalid({ start: INT64_MIN }, 'start');
    assertInvalid({ maxValue: 10n, start: 11n }, 'start');
    assertInvalid({ increment: -1n, start: 0n }, 'start');
    assertInvalid({ increment: -1n, start: INT64_MAX }, 'start');
    const base = resolveOptions({ start: 50n });
    assertInvalid({ maxValue: 40n }, 'start', base);
  });

  it('refuses cache 0, negative, and above MAX_CACHE', () => {
    assertInvalid({ cache: 0n }, 'cache');
    assertInvalid({ cache: -1n }, 'cache');
    assertInvalid({ cache: MAX_CACHE + 1n }, 'cache');
    assertInvalid({ cache: INT64_MAX }, 'cache');
  });
});

describe('allocate', () => {
  it('hands out 1, 2, 3 from the default options, then batches contiguously', () => {
    const { values, position } = singles(initialPosition(DEFAULT_OPTIONS), DEFAULT_OPTIONS, 3);
    assert.deepEqual(values, [1n, 2n, 3n]);
    const next = assertTaken(takeValues(position, DEFAULT_OPTIONS, 10n), 4n, 13n);
    assert.equal(peekNext(next, DEFAULT_OPTIONS), 14n);
  });

  it('counts down from -1 for a default descending sequence', () => {
    const options = resolveOptions({ increment: -1n });
    const { values, position } = singles(initialPosition(options), options, 3);
    assert.deepEqual(values, [-1n, -2n, -3n]);
    assertTaken(takeValues(position, options, 4n), -4n, -7n);
  });

  it('steps by an increment above 1, singles and batches', () => {
    const options = resolveOptions({ increment: 5n });
    const { values, position } = singles(initialPosition(options), options, 3);
    assert.deepEqual(values, [1n, 6n, 11n]);
    assertTaken(takeValues(position, options, 3n), 16n, 26n);
  });

  it('steps by a negative increment through zero down to the minimum, then is exhausted', () => {
    const options = resolveOptions({ increment: -3n, minValue: -10n, maxValue: 10n });
    assert.equal(options.start, 10n);
    const { values, position } = singles(initialPosition(options), options, 7);
    assert.deepEqual(values, [10n, 7n, 4n, 1n, -2n, -5n, -8n]);
    assertExhausted(takeValues(position, options, 1n));
    assert.equal(peekNext(position, options), undefined);
  });

  it('takes a batch landing exactly on the bound, then nothing is left', () => {
    const options = resolveOptions({ maxValue: 10n });
    const whole = assertTaken(takeValues(initialPosition(options), options, 10n), 1n, 10n);
    assertExhausted(takeValues(whole, options, 1n));
    const partial = assertTaken(takeValues(at(5n), options, 5n), 6n, 10n);
    assertExhausted(takeValues(partial, options, 1n));

    const down = resolveOptions({ increment: -2n, minValue: -9n, maxValue: 1n });
    // 1, -1, -3, -5, -7, -9: six values, the last on the bound.
    assertTaken(takeValues(initialPosition(down), down, 6n), 1n, -9n);
    assertExhausted(takeValues(initialPosition(down), down, 7n));
  });

  it('takes nothing from a batch that would cross the bound', () => {
    const options = resolveOptions({ maxValue: 10n });
    const position = at(7n);
    assertExhausted(takeValues(position, options, 4n));
    // Nothing was taken: the three values left are still there.
    assertTaken(takeValues(position, options, 3n), 8n, 10n);
    assertExhausted(takeValues(at(10n), options, 1n));

    const down = resolveOptions({ increment: -1n, minValue: -5n, maxValue: -1n });
    assertExhausted(takeValues(at(-3n), down, 3n));
    assertTaken(takeValues(at(-3n), down, 2n), -4n, -5n);
  });

  it('refuses a count below 1', () => {
    assert.throws(() => takeValues(initialPosition(DEFAULT_OPTIONS), DEFAULT_OPTIONS, 0n), RangeError);
    assert.throws(() => takeValues(initialPosition(DEFAULT_OPTIONS), DEFAULT_OPTIONS, -1n), RangeError);
  });

  it('wraps single values to the other bound with cycle', () => {
    const up = resolveOptions({ maxValue: 3n, cycle: true });
    assert.deepEqual(singles(initialPosition(up), up, 7).values, [1n, 2n, 3n, 1n, 2n, 3n, 1n]);
    const down = resolveOptions({ increment: -1n, minValue: -3n, cycle: true });
    assert.deepEqual(singles(initialPosition(down), down, 5).values, [-1n, -2n, -3n, -1n, -2n]);
    // With an increment that does not divide the range, the wrap goes to the bound itself.
    const stepped = resolveOptions({ increment: 4n, maxValue: 10n, cycle: true });
    assert.deepEqual(singles(initialPosition(stepped), stepped, 5).values, [1n, 5n, 9n, 1n, 5n]);
  });

  it('wraps a batch that does not fit before the bound, skipping what was left', () => {
    const options = resolveOptions({ maxValue: 10n, cycle: true });
    assertTaken(takeValues(at(8n), options, 2n), 9n, 10n);
    assertTaken(takeValues(at(8n), options, 3n), 1n, 3n);
    assertTaken(takeValues(at(10n), options, 4n), 1n, 4n);
    // A batch of the whole range always fits after the wrap.
    assertTaken(takeValues(at(5n), options, 10n), 1n, 10n);

    const down = resolveOptions({ increment: -1n, minValue: -10n, maxValue: -1n, cycle: true });
    assertTaken(takeValues(at(-9n), down, 2n), -1n, -2n);
  });

  it('is exhausted, even with cycle, for a batch larger than the whole range', () => {
    const options = resolveOptions({ maxValue: 10n, cycle: true });
    assertExhausted(takeValues(initialPosition(options), options, 11n));
    assertExhausted(takeValues(at(3n), options, 11n));
    const stepped = resolveOptions({ increment: 3n, maxValue: 10n, cycle: true });
    // 1, 4, 7, 10 fit; five values do not.
    assertTaken(takeValues(at(4n), stepped, 4n), 1n, 10n);
    assertExhausted(takeValues(at(4n), stepped, 5n));
  });

  it('hands out 2^63-1 and then nothing, never a value past it', () => {
    const options = DEFAULT_OPTIONS;
    const last = assertTaken(takeValues(at(INT64_MAX - 1n), options, 1n), INT64_MAX, INT64_MAX);
    assertExhausted(takeValues(last, options, 1n));
    assertExhausted(takeValues(at(INT64_MAX - 2n), options, 3n));
    assertTaken(takeValues(at(INT64_MAX - 2n), options, 2n), INT64_MAX - 1n, INT64_MAX);
    assert.equal(valuesLeft(last, options), 0n);
    assert.equal(peekNext(last, options), undefined);
  });

  it('hands out -2^63 and then nothing for a descending sequence', () => {
    const options = resolveOptions({ increment: -1n });
    const last = assertTaken(takeValues(at(INT64_MIN + 1n), options, 1n), INT64_MIN, INT64_MIN);
    assertExhausted(takeValues(last, options, 1n));
    const cycling = { ...options, cycle: true };
    assertTaken(takeValues(last, cycling, 1n), -1n, -1n);
  });

  it('stays within 64 bits with increments as large as the range', () => {
    const wide = resolveOptions({ minValue: INT64_MIN, maxValue: INT64_MAX, increment: INT64_MAX });
    assert.equal(wide.start, INT64_MIN);
    const { values, position } = singles(initialPosition(wide), wide, 3);
    assert.deepEqual(values, [INT64_MIN, -1n, INT64_MAX - 1n]);
    assertExhausted(takeValues(position, wide, 1n));
    assertTaken(takeValues(position, { ...wide, cycle: true }, 1n), INT64_MIN, INT64_MIN);
    assertTaken(takeValues(initialPosition(wide), wide, 3n), INT64_MIN, INT64_MAX - 1n);
    assertExhausted(takeValues(initialPosition(wide), wide, 4n));

    const down = resolveOptions({ minValue: INT64_MIN, maxValue: INT64_MAX, increment: INT64_MIN });
    assert.equal(down.start, INT64_MAX);
    const descending = singles(initialPosition(down), down, 2);
    assert.deepEqual(descending.values, [INT64_MAX, -1n]);
    assertExhausted(takeValues(descending.position, down, 1n));
    assertTaken(takeValues(descending.position, { ...down, cycle: true }, 1n), INT64_MAX, INT64_MAX);
  });

  it('takes a batch of 2^64 values spanning the whole 64-bit range exactly, and refuses one more', () => {
    const all = resolveOptions({ minValue: INT64_MIN, maxValue: INT64_MAX });
    assertTaken(takeValues(initialPosition(all), all, 2n ** 64n), INT64_MIN, INT64_MAX);
    assertExhausted(takeValues(initialPosition(all), all, 2n ** 64n + 1n));
    assertExhausted(takeValues(initialPosition(all), { ...all, cycle: true }, 2n ** 64n + 1n));
    assertTaken(takeValues(initialPosition(DEFAULT_OPTIONS), DEFAULT_OPTIONS, INT64_MAX), 1n, INT64_MAX);
    assertExhausted(takeValues(initialPosition(DEFAULT_OPTIONS), DEFAULT_OPTIONS, INT64_MAX + 1n));
    assertTaken(takeValues(at(INT64_MIN), resolveOptions({ minValue: INT64_MIN, increment: 2n }), 2n ** 62n), INT64_MIN + 2n, INT64_MIN + 2n ** 63n);
  });

  it('never returns a value outside the bounds or 64 bits, for huge counts and increments at the edges', () => {
    const increments = [1n, 2n, 3n, 2n ** 62n, INT64_MAX, -1n, -7n, -(2n ** 62n), INT64_MIN];
    const counts = [1n, 2n, 3n, 2n ** 32n, 2n ** 62n, INT64_MAX];
    for (const increment of increments) {
      for (const cycle of [false, true]) {
        const options = resolveOptions({ minValue: INT64_MIN, maxValue: INT64_MAX, increment, cycle });
        const positions = [initialPosition(options), at(INT64_MIN), at(INT64_MAX), at(-1n), at(0n), at(INT64_MAX - 1n), at(INT64_MIN + 1n)];
        for (const position of positions) {
          for (const count of counts) {
            const result = takeValues(position, options, count);
            if (!result.ok) continue;
            const label = `increment ${increment}, cycle ${cycle}, at ${position.lastValue}, count ${count}`;
            for (const value of [result.first, result.last]) {
              assert.ok(isInt64(value) && value >= options.minValue && value <= options.maxValue, label);
            }
            assert.equal(result.last - result.first, (count - 1n) * increment, label);
          }
        }
      }
    }
  });
});

describe('peekNext and valuesLeft', () => {
  it('peek the value the next allocation returns without taking it', () => {
    const options = resolveOptions({ maxValue: 5n });
    assert.equal(peekNext(initialPosition(options), options), 1n);
    assert.equal(peekNext(at(4n), options), 5n);
    assert.equal(peekNext(at(5n), options), undefined);
    assert.equal(peekNext(at(5n), { ...options, cycle: true }), 1n);
    assert.equal(peekNext(fresh(3n), options), 3n);
  });

  it('count the values left before the bound', () => {
    assert.equal(valuesLeft(initialPosition(DEFAULT_OPTIONS), DEFAULT_OPTIONS), INT64_MAX);
    const stepped = resolveOptions({ increment: 3n, maxValue: 10n });
    assert.equal(valuesLeft(initialPosition(stepped), stepped), 4n); // 1, 4, 7, 10
    assert.equal(valuesLeft(at(7n), stepped), 1n);
    assert.equal(valuesLeft(at(10n), stepped), 0n);
    const down = resolveOptions({ increment: -1n });
    assert.equal(valuesLeft(initialPosition(down), down), 2n ** 63n);
    assert.equal(valuesLeft(at(INT64_MIN), down), 0n);
  });
});

describe('reserve', () => {
  it('reserves a whole cache block, or the count when that is larger', () => {
    const options = resolveOptions({ cache: 10n });
    assertTaken(reserve(initialPosition(options), options, 1n), 1n, 10n);
    assertTaken(reserve(at(10n), options, 3n), 11n, 20n);
    assertTaken(reserve(at(10n), options, 25n), 11n, 35n);
    const down = resolveOptions({ increment: -2n, cache: 4n });
    assertTaken(reserve(initialPosition(down), down, 1n), -1n, -7n);
  });

  it('near the bound reserves what is left when it covers the count, else nothing', () => {
    const options = resolveOptions({ maxValue: 10n, cache: 4n });
    assertTaken(reserve(at(8n), options, 1n), 9n, 10n);
    assertTaken(reserve(at(8n), options, 2n), 9n, 10n);
    assertExhausted(reserve(at(8n), options, 3n));
    assertExhausted(reserve(at(10n), options, 1n));

    const top = resolveOptions({ cache: MAX_CACHE });
    assertTaken(reserve(at(INT64_MAX - 3n), top, 1n), INT64_MAX - 2n, INT64_MAX);
    assertExhausted(reserve(at(INT64_MAX), top, 1n));

    const bottom = resolveOptions({ increment: -1n, cache: 100n });
    assertTaken(reserve(at(INT64_MIN + 2n), bottom, 2n), INT64_MIN + 1n, INT64_MIN);
    assertExhausted(reserve(at(INT64_MIN + 2n), bottom, 3n));
  });

  it('with cycle, hands out the values left before the bound before wrapping', () => {
    // PostgreSQL semantics: a cached cycle sequence 1..10 hands out 10 before 1, as an uncached one does.
    const options = resolveOptions({ maxValue: 10n, cycle: true, cache: 3n });
    assertTaken(reserve(at(9n), options, 1n), 10n, 10n);
    // Once at the bound, the next block starts over from the minimum.
    assertTaken(reserve(at(10n), options, 1n), 1n, 3n);
  });
});

describe('changeConflict', () => {
  const ascending = resolveOptions({ minValue: 1n, maxValue: 100n });

  it('allows changes that keep the direction and the position within the bounds', () => {
    assert.equal(changeConflict(ascending, resolveOptions({ maxValue: 51n }, ascending), at(50n), impliedIssued(ascending, at(50n))), undefined);
    // The next value (6) lies within the new bounds, though the last one handed out (5) does not.
    assert.equal(changeConflict(ascending, resolveOptions({ minValue: 6n, start: 6n }, ascending), at(5n), impliedIssued(ascending, at(5n))), undefined);
    // Already exhausted: a change that keeps it exhausted causes nothing; enabling cycle lets it wrap.
    const capped = resolveOptions({ maxValue: 50n }, ascending);
    assert.equal(changeConflict(capped, resolveOptions({ cache: 10n }, capped), at(50n), impliedIssued(capped, at(50n))), undefined);
    assert.equal(changeConflict(capped, resolveOptions({ cycle: true }, capped), at(50n), impliedIssued(capped, at(50n))), undefined);
    assert.equal(changeConflict(ascending, resolveOptions({ increment: 7n, cache: 5n }, ascending), at(20n), impliedIssued(ascending, at(20n))), undefined);
    assert.equal(changeConflict(ascending, resolveOptions({ minValue: INT64_MIN, maxValue: INT64_MAX }, ascending), at(20n), impliedIssued(ascending, at(20n))), undefined);
  });

  it('refuses to reverse the direction once values have been handed out', () => {
    const reversed = resolveOptions({ increment: -1n }, ascending);
    assert.equal(typeof changeConflict(ascending, reversed, at(1n), impliedIssued(ascending, at(1n))), 'string');
    assert.equal(typeof changeConflict(ascending, reversed, at(50n), impliedIssued(ascending, at(50n))), 'string');
    const descending = resolveOptions({ increment: -1n });
    assert.equal(typeof changeConflict(descending, resolveOptions({ increment: 1n }, descending), at(-5n), impliedIssued(descending, at(-5n))), 'string');
  });

  it('refuses to reverse the direction after a forward reset, judged by the high-water marks', () => {
    const reversed = resolveOptions({ increment: -1n, minValue: INT64_MIN }, DEFAULT_OPTIONS);
    // Handed out 1..41, then reset forward to 1000: the position shows nothing handed out, the marks do.
    const conflict = changeConflict(DEFAULT_OPTIONS, reversed, fresh(1000n), { low: 1n, high: 41n });
    assert.match(conflict ?? '', /handed out values \(1 to 41\)/);
    // After a forced reset back (marks forgotten), or before any value: allowed.
    assert.equal(changeConflict(DEFAULT_OPTIONS, reversed, fresh(1000n), undefined), undefined);
  });

  it('allows reversing the direction before anything was handed out', () => {
    assert.equal(changeConflict(ascending, resolveOptions({ increment: -1n }, ascending), initialPosition(ascending), impliedIssued(ascending, initialPosition(ascending))), undefined);
  });

  it('refuses new bounds that leave the position outside', () => {
    assert.equal(typeof changeConflict(ascending, resolveOptions({ maxValue: 40n }, ascending), at(50n), impliedIssued(ascending, at(50n))), 'string');
    // The change itself would exhaust the sequence: its next value (51) falls outside.
    assert.equal(typeof changeConflict(ascending, resolveOptions({ maxValue: 50n }, ascending), at(50n), impliedIssued(ascending, at(50n))), 'string');
    // Before the first value, the next value (the position) must lie within.
    assert.equal(typeof changeConflict(ascending, resolveOptions({ minValue: 10n, start: 10n }, ascending), initialPosition(ascending), impliedIssued(ascending, initialPosition(ascending))), 'string');
    assert.equal(typeof changeConflict(ascending, resolveOptions({ minValue: 10n, maxValue: 20n, start: 10n }, ascending), fresh(5n), impliedIssued(ascending, fresh(5n))), 'string');
  });
});

describe('resetPosition and resetReissues', () => {
  it('sets the next value within the bounds and refuses one outside, naming next_value', () => {
    const options = resolveOptions({ minValue: -5n, maxValue: 5n });
    assert.deepEqual(resetPosition(options, -5n), fresh(-5n));
    assert.deepEqual(resetPosition(options, 5n), fresh(5n));
    for (const value of [-6n, 6n, INT64_MAX, INT64_MIN]) {
      assert.throws(
        () => resetPosition(options, value),
        (error: unknown) => error instanceof InvalidOptionsError && error.field === 'next_value',
      );
    }
  });

  it('flags a move back over issued values of an ascending sequence', () => {
    const options = resolveOptions({ maxValue: 100n });
    // Handed out up to 10: 11 is next.
    assert.equal(resetReissues(at(10n), options, 11n), false);
    assert.equal(resetReissues(at(10n), options, 50n), false);
    assert.equal(resetReissues(at(10n), options, 10n), true);
    assert.equal(resetReissues(at(10n), options, 1n), true);
    assert.equal(resetReissues(fresh(5n), options, 5n), false);
    assert.equal(resetReissues(fresh(5n), options, 4n), true);
  });

  it('flags a move back over issued values of a descending sequence', () => {
    const options = resolveOptions({ increment: -1n });
    assert.equal(resetReissues(at(-10n), options, -11n), false);
    assert.equal(resetReissues(at(-10n), options, -100n), false);
    assert.equal(resetReissues(at(-10n), options, -10n), true);
    assert.equal(resetReissues(at(-10n), options, -1n), true);
  });

  it('treats an exhausted sequence as standing one step past its bound', () => {
    const options = resolveOptions({ maxValue: 10n });
    assert.equal(resetReissues(at(10n), options, 10n), true);
    assert.equal(resetReissues(at(10n), options, 1n), true);
    assert.equal(resetReissues(at(INT64_MAX), DEFAULT_OPTIONS, INT64_MAX), true);
    const down = resolveOptions({ increment: -1n });
    assert.equal(resetReissues(at(INT64_MIN), down, INT64_MIN), true);
  });
});

/** mulberry32: a small seeded PRNG, so a failing case can be replayed. */
function prng(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

/**
 * The reference model: steps one value at a time with plain numbers. A batch
 * is the next value and count-1 steps after it without wrapping; if a step
 * leaves the range, a cycling sequence tries again from the other bound,
 * else (or if that fails too) nothing is taken.
 */
interface ModelState {
  last: number;
  called: boolean;
}

interface ModelOptions {
  readonly min: number;
  readonly max: number;
  readonly increment: number;
  readonly cycle: boolean;
}

function modelBatchFrom(first: number, options: ModelOptions, count: number): number | undefined {
  let value = first;
  for (let i = 1; i < count; i += 1) {
    value += options.increment;
    if (value < options.min || value > options.max) return undefined;
  }
  return value;
}

function modelAllocate(state: ModelState, options: ModelOptions, count: number): { first: number; last: number } | undefined {
  let first: number | undefined = state.last;
  if (state.called) {
    first = state.last + options.increment;
    if (first < options.min || first > options.max) first = options.cycle ? (options.increment > 0 ? options.min : options.max) : undefined;
  }
  let taken: { first: number; last: number } | undefined;
  if (first !== undefined) {
    const last = modelBatchFrom(first, options, count);
    if (last !== undefined) taken = { first, last };
  }
  if (taken === undefined && options.cycle) {
    const restart = options.increment > 0 ? options.min : options.max;
    const last = modelBatchFrom(restart, options, count);
    if (last !== undefined) taken = { first: restart, last };
  }
  if (taken !== undefined) {
    state.last = taken.last;
    state.called = true;
  }
  return taken;
}

describe('allocate against a one-step-at-a-time model (seeded random)', () => {
  it('agrees on every allocation of 400 random small sequences', () => {
    const random = prng(0x5eed);
    for (let trial = 0; trial < 400; trial += 1) {
      const min = random(41) - 20;
      const max = min + 1 + random(30);
      const magnitude = 1 + random(7);
      const increment = random(2) === 0 ? magnitude : -magnitude;
      const start = min + random(max - min + 1);
      const cycle = random(2) === 0;
      const model: ModelOptions = { min, max, increment, cycle };
      const options = resolveOptions({
        minValue: BigInt(min),
        maxValue: BigInt(max),
        increment: BigInt(increment),
        start: BigInt(start),
        cycle,
      });
      const state: ModelState = { last: start, called: false };
      let position = initialPosition(options);
      for (let step = 0; step < 40; step += 1) {
        const count = 1 + random(random(4) === 0 ? 12 : 3);
        const label = `trial ${trial} (min ${min}, max ${max}, increment ${increment}, start ${start}, cycle ${cycle}), step ${step}, count ${count}`;
        const expected = modelAllocate(state, model, count);
        const actual = takeValues(position, options, BigInt(count));
        if (expected === undefined) {
          assert.equal(actual.ok, false, `${label}: expected exhausted`);
          continue;
        }
        assert.ok(actual.ok, `${label}: expected ${expected.first}..${expected.last}, got exhausted`);
        assert.deepEqual([actual.first, actual.last], [BigInt(expected.first), BigInt(expected.last)], label);
        assert.deepEqual(actual.position, at(BigInt(expected.last)), label);
        position = actual.position;
      }
    }
  });
});

describe('high-water marks', () => {
  const ascending = resolveOptions({ maxValue: 100n });
  const descending = resolveOptions({ increment: -2n, minValue: -100n });

  it('widen and unite keep the lowest and highest value ever handed out', () => {
    assert.deepEqual(widen(undefined, 5n, 3n), { low: 3n, high: 5n });
    assert.deepEqual(widen({ low: 3n, high: 5n }, 9n, 12n), { low: 3n, high: 12n });
    assert.deepEqual(widen({ low: 3n, high: 5n }, -1n, -1n), { low: -1n, high: 5n });
    assert.deepEqual(unite(undefined, { low: 1n, high: 2n }), { low: 1n, high: 2n });
    assert.deepEqual(unite({ low: 1n, high: 2n }, { low: -7n, high: 0n }), { low: -7n, high: 2n });
    assert.equal(unite(undefined, undefined), undefined);
  });

  it('reissues: the next value is not strictly beyond the marks in the direction', () => {
    assert.equal(reissues({ low: 1n, high: 41n }, ascending, fresh(42n)), false);
    assert.equal(reissues({ low: 1n, high: 41n }, ascending, fresh(41n)), true);
    assert.equal(reissues({ low: 1n, high: 41n }, ascending, at(40n)), true);
    assert.equal(reissues({ low: 10n, high: 41n }, ascending, fresh(5n)), true, 'ascending from below the marks runs through them');
    assert.equal(reissues({ low: -9n, high: -1n }, descending, fresh(-11n)), false);
    assert.equal(reissues({ low: -9n, high: -1n }, descending, fresh(-9n)), true);
    assert.equal(reissues({ low: 1n, high: 100n }, ascending, at(100n)), false, 'exhausted: hands out nothing');
    assert.equal(reissues(undefined, ascending, fresh(1n)), false);
  });

  it('impliedIssued: what a position proves was handed out, never its next value', () => {
    assert.deepEqual(impliedIssued(ascending, at(41n)), { low: 1n, high: 41n });
    assert.equal(impliedIssued(ascending, fresh(1n)), undefined);
    assert.deepEqual(impliedIssued(ascending, fresh(1000n)), { low: 1n, high: 999n }, 'a forward reset: a superset errs safe');
    assert.deepEqual(impliedIssued(descending, at(-7n)), { low: -7n, high: -1n });
    assert.deepEqual(impliedIssued(descending, fresh(-7n)), { low: -6n, high: -1n });
    // Reset (with force) behind its start: only the last value is proven.
    assert.deepEqual(impliedIssued(resolveOptions({ start: 50n, maxValue: 100n }), at(10n)), { low: 10n, high: 10n });
    for (const position of [at(41n), fresh(1000n), fresh(1n)]) {
      assert.equal(reissues(impliedIssued(ascending, position), ascending, position), false, 'a position never re-issues its own marks');
    }
  });

  it('positionAfter and firstUseState: a name used again continues after its marks', () => {
    assert.deepEqual(positionAfter({ low: 1n, high: 41n }, DEFAULT_OPTIONS), fresh(42n));
    assert.deepEqual(positionAfter({ low: 1n, high: 41n }, resolveOptions({ start: 500n })), fresh(500n), 'already beyond');
    assert.deepEqual(positionAfter({ low: 1n, high: 41n }, resolveOptions({ increment: -1n })), fresh(-1n), 'descending, below the marks');
    assert.deepEqual(positionAfter({ low: -50n, high: 41n }, resolveOptions({ increment: -1n })), fresh(-51n));
    assert.equal(positionAfter({ low: 1n, high: 100n }, ascending), undefined, 'no value past the marks');
    assert.deepEqual(positionAfter(undefined, ascending), initialPosition(ascending));
    assert.deepEqual(firstUseState({ low: 1n, high: 41n }), { options: DEFAULT_OPTIONS, position: fresh(42n), issued: { low: 1n, high: 41n } });
    assert.deepEqual(firstUseState(undefined), { options: DEFAULT_OPTIONS, position: fresh(1n), issued: undefined });
    const full = firstUseState({ low: 1n, high: INT64_MAX });
    assert.equal(peekNext(full.position, full.options), undefined, 'exhausted when nothing past the marks is left');
  });
});
