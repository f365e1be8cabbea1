/**
 * Property-based tests (fast-check) of the sequence arithmetic in src/core/sequence.ts against a small
 * reference model that hands out one value at a time: next = last + increment, within the bounds,
 * else the other bound (cycle) or nothing (exhausted). Batches and cache blocks are checked against
 * that stepping; where counts or ranges are too large to step through, the model computes the same
 * thing arithmetically (values of a run are monotone, so a run lies within the bounds when its first
 * and last values do). The example-based tests are in sequence.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { INT64_MAX, INT64_MIN, isInt64 } from '../src/core/int64.js';
import {
  takeValues,
  changeConflict,
  impliedIssued,
  initialPosition,
  InvalidOptionsError,
  lastIssued,
  MAX_CACHE,
  peekNext,
  reserve,
  resetPosition,
  resetReissues,
  reissues,
  resolveOptions,
  seedState,
  valuesLeft,
  type Allocated,
  type OptionChanges,
  type SequenceOptions,
  type SequencePosition,
  type SequenceState,
} from '../src/core/sequence.js';
import { importDecision, type Held } from '../src/core/import-rules.js';

const at = (lastValue: bigint): SequencePosition => ({ lastValue, isCalled: true });
const fresh = (lastValue: bigint): SequencePosition => ({ lastValue, isCalled: false });
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

const within = (value: bigint, options: SequenceOptions): boolean => value >= options.minValue && value <= options.maxValue;
const restartOf = (options: SequenceOptions): bigint => (options.increment > 0n ? options.minValue : options.maxValue);
/** Whether `a` lies strictly beyond `b` in the direction of the sequence. */
const beyond = (a: bigint, b: bigint, options: SequenceOptions): boolean => (options.increment > 0n ? a > b : a < b);

const describeOptions = (o: SequenceOptions): string =>
  `{start ${o.start}, increment ${o.increment}, min ${o.minValue}, max ${o.maxValue}, cycle ${o.cycle}, cache ${o.cache}}`;
const describePosition = (p: SequencePosition): string => `${p.isCalled ? 'at' : 'fresh'}(${p.lastValue})`;

/** Every value the code hands out or shows must lie within the bounds, and so within 64 bits. */
function assertInRange(value: bigint, options: SequenceOptions, label: string): void {
  assert.ok(isInt64(value), `${label}: ${value} is outside the 64-bit range`);
  assert.ok(within(value, options), `${label}: ${value} is outside ${options.minValue}..${options.maxValue}`);
}

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

interface ModelState {
  /** The value the next single take hands out; undefined once exhausted. */
  next: bigint | undefined;
  /** `next` was reached by wrapping past the far bound (nothing is left before the bound). */
  wrapped: boolean;
  /** The last value handed out since the last wrap or reset, if any (for the reissue checks). */
  lapLast: bigint | undefined;
}

const cloneModel = (m: ModelState): ModelState => ({ ...m });
const modelAt = (next: bigint): ModelState => ({ next, wrapped: false, lapLast: undefined });
const modelRestart = (o: SequenceOptions): ModelState => ({ next: restartOf(o), wrapped: true, lapLast: undefined });

/** One step after `value`: value + increment within the bounds, else the other bound (cycle), else none. */
function modelStep(value: bigint, o: SequenceOptions): { next: bigint | undefined; wrapped: boolean } {
  const candidate = value + o.increment;
  if (candidate >= o.minValue && candidate <= o.maxValue) return { next: candidate, wrapped: false };
  if (o.cycle) return { next: restartOf(o), wrapped: true };
  return { next: undefined, wrapped: false };
}

/** The model of a position the code holds (a fresh one hands out lastValue next). */
function modelFromPosition(position: SequencePosition, o: SequenceOptions): ModelState {
  if (!position.isCalled) return modelAt(position.lastValue);
  const step = modelStep(position.lastValue, o);
  return { next: step.next, wrapped: step.wrapped, lapLast: step.wrapped ? undefined : position.lastValue };
}

/** Hands out one value, or undefined (and changes nothing) when exhausted. */
function modelTakeOne(m: ModelState, o: SequenceOptions): bigint | undefined {
  const value = m.next;
  if (value === undefined) return undefined;
  const step = modelStep(value, o);
  m.next = step.next;
  m.wrapped = step.wrapped;
  m.lapLast = step.wrapped ? undefined : value;
  return value;
}

interface ModelBatch {
  readonly first: bigint;
  readonly last: bigint;
  /** The model after the batch. */
  readonly state: ModelState;
  /** Every value, when the batch was stepped one value at a time. */
  readonly values?: readonly bigint[];
}

/** Up to this many values a batch is taken by single steps; above, arithmetically. */
const STEP_LIMIT = 256n;

/** `count` single takes from `start` that do not wrap before the last one, or undefined. */
function stepsFrom(start: ModelState, o: SequenceOptions, count: bigint): ModelBatch | undefined {
  const state = cloneModel(start);
  const values: bigint[] = [];
  for (let i = 0n; i < count; i += 1n) {
    const value = modelTakeOne(state, o);
    if (value === undefined) return undefined;
    values.push(value);
    // A wrap inside the batch would break the run of contiguous values.
    if (i < count - 1n && state.wrapped) return undefined;
  }
  const first = values[0];
  const last = values[values.length - 1];
  assert.ok(first !== undefined && last !== undefined);
  return { first, last, state, values };
}

/** The same as stepsFrom for any count: a monotone run lies within the bounds iff its ends do. */
function runFrom(start: ModelState, o: SequenceOptions, count: bigint): ModelBatch | undefined {
  if (count <= STEP_LIMIT) return stepsFrom(start, o, count);
  const first = start.next;
  if (first === undefined) return undefined;
  const last = first + (count - 1n) * o.increment;
  if (!within(last, o)) return undefined;
  const step = modelStep(last, o);
  return { first, last, state: { next: step.next, wrapped: step.wrapped, lapLast: step.wrapped ? undefined : last } };
}

/**
 * A batch of `count`: the next `count` values, or with cycle, when they would cross the bound,
 * `count` values from the other bound; else nothing is taken (undefined).
 */
function modelBatch(m: ModelState, o: SequenceOptions, count: bigint): ModelBatch | undefined {
  return runFrom(m, o, count) ?? (o.cycle ? runFrom(modelRestart(o), o, count) : undefined);
}

/** The largest n <= cap such that n values from `first` stay within the bounds (binary search). */
function maxRun(first: bigint, o: SequenceOptions, cap: bigint): bigint {
  if (!within(first, o)) return 0n;
  const fits = (n: bigint): boolean => n === 0n || within(first + (n - 1n) * o.increment, o);
  let low = 1n; // fits
  let high = cap; // may not fit
  if (fits(high)) return high;
  while (high - low > 1n) {
    const middle = (low + high) / 2n;
    if (fits(middle)) low = middle;
    else high = middle;
  }
  return low;
}

/** Values left before the bound without cycling: by single steps (small ranges) or maxRun. */
function modelValuesLeft(m: ModelState, o: SequenceOptions, stepping: boolean): bigint {
  if (m.next === undefined || m.wrapped) return 0n;
  if (!stepping) return maxRun(m.next, o, 2n ** 65n);
  const state = cloneModel(m);
  let n = 0n;
  while (state.next !== undefined && !state.wrapped) {
    modelTakeOne(state, o);
    n += 1n;
    assert.ok(n <= 1000n, 'modelValuesLeft: the stepping is meant for small ranges');
  }
  return n;
}

/**
 * A cache block as the README describes it: `cache` values (or `count`, if more), or those left
 * before the bound if fewer but enough for `count`; with cycle, a block that does not fit before the
 * bound starts at the other bound, under the same rule.
 */
function modelReserve(m: ModelState, o: SequenceOptions, count: bigint): { first: bigint; last: bigint } | undefined {
  const wanted = max(o.cache, count);
  const from = (first: bigint | undefined): { first: bigint; last: bigint } | undefined => {
    if (first === undefined) return undefined;
    const n = maxRun(first, o, wanted);
    return n >= count ? { first, last: first + (n - 1n) * o.increment } : undefined;
  };
  return from(m.next) ?? (o.cycle ? from(restartOf(o)) : undefined);
}

/** The frontier of a reset check: the next value, or one step past the bound when exhausted. */
function modelReissues(m: ModelState, o: SequenceOptions, nextValue: bigint): boolean {
  const frontier = m.next ?? (o.increment > 0n ? o.maxValue + 1n : o.minValue - 1n);
  return beyond(frontier, nextValue, o);
}

// ---------------------------------------------------------------------------------------------
// Comparing the code with the model
// ---------------------------------------------------------------------------------------------

function assertBatch(actual: Allocated, expected: ModelBatch | undefined, o: SequenceOptions, label: string): void {
  if (expected === undefined) {
    assert.deepEqual(actual, { ok: false, reason: 'exhausted' }, `${label}: expected the batch to be refused whole`);
    return;
  }
  assert.ok(actual.ok, `${label}: expected ${expected.first}..${expected.last}, got exhausted`);
  assert.equal(actual.first, expected.first, `${label}: first`);
  assert.equal(actual.last, expected.last, `${label}: last`);
  assert.deepEqual(actual.position, at(expected.last), `${label}: position`);
  assertInRange(actual.first, o, `${label}: first`);
  assertInRange(actual.last, o, `${label}: last`);
  if (expected.values !== undefined) {
    // The batch is exactly the next `count` single values: contiguous, first to last.
    assert.equal(BigInt(expected.values.length - 1) * o.increment, actual.last - actual.first, `${label}: contiguous`);
  }
}

/** peekNext and valuesLeft of the code's position agree with the model. */
function assertPosition(position: SequencePosition, m: ModelState, o: SequenceOptions, stepping: boolean, label: string): void {
  const next = peekNext(position, o);
  assert.equal(next, m.next, `${label}: peekNext`);
  if (next !== undefined) assertInRange(next, o, `${label}: peekNext`);
  if (position.isCalled) assertInRange(position.lastValue, o, `${label}: lastValue`);
  const left = valuesLeft(position, o);
  assert.equal(left, modelValuesLeft(m, o, stepping), `${label}: valuesLeft`);
  // valuesLeft is the largest batch that fits before the bound: it fits, one more does not.
  const straight = { ...o, cycle: false };
  if (left > 0n) assert.ok(takeValues(position, straight, left).ok, `${label}: a batch of valuesLeft (${left}) fits`);
  assert.equal(takeValues(position, straight, left + 1n).ok, false, `${label}: a batch of valuesLeft + 1 (${left + 1n}) does not fit`);
}

function assertReset(position: SequencePosition, m: ModelState, o: SequenceOptions, nextValue: bigint, label: string): void {
  const reissues = resetReissues(position, o, nextValue);
  assert.equal(reissues, modelReissues(m, o, nextValue), `${label}: resetReissues(${nextValue})`);
  // Soundness: a reset that is not flagged never goes back to or behind a value handed out in this lap.
  if (!reissues && m.lapLast !== undefined) {
    assert.ok(beyond(nextValue, m.lapLast, o), `${label}: reset to ${nextValue} unflagged, though ${m.lapLast} was handed out`);
  }
}

function assertInvalidNextValue(o: SequenceOptions, nextValue: bigint, label: string): void {
  assert.throws(
    () => resetPosition(o, nextValue),
    (error: unknown) => error instanceof InvalidOptionsError && error.field === 'next_value',
    `${label}: resetPosition(${nextValue}) must be refused`,
  );
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** Small sequences: ranges of 2..31 values around zero, so the model can step through them. */
const smallOptions: fc.Arbitrary<SequenceOptions> = fc
  .record({
    low: fc.integer({ min: -20, max: 20 }),
    width: fc.integer({ min: 1, max: 30 }),
    magnitude: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 4 }), weight: 3 }, fc.integer({ min: 5, max: 40 })),
    descending: fc.boolean(),
    startOffset: fc.nat(),
    cycle: fc.boolean(),
    cache: fc.oneof({ arbitrary: fc.constant(1), weight: 2 }, fc.integer({ min: 2, max: 8 }), fc.integer({ min: 9, max: 40 })),
  })
  .map((r) =>
    resolveOptions({
      minValue: BigInt(r.low),
      maxValue: BigInt(r.low + r.width),
      increment: BigInt(r.descending ? -r.magnitude : r.magnitude),
      start: BigInt(r.low + (r.startOffset % (r.width + 1))),
      cycle: r.cycle,
      cache: BigInt(r.cache),
    }),
  );

/** 64-bit values, biased to the edges and to zero. */
const edgeValue: fc.Arbitrary<bigint> = fc.oneof(
  fc.constantFrom(INT64_MIN, INT64_MIN + 1n, -1n, 0n, 1n, INT64_MAX - 1n, INT64_MAX),
  fc.bigInt({ min: INT64_MIN, max: INT64_MIN + 100n }),
  fc.bigInt({ min: INT64_MAX - 100n, max: INT64_MAX }),
  fc.bigInt({ min: -100n, max: 100n }),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
);

const edgeIncrement: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: 1n, max: 5n }),
  fc.bigInt({ min: -5n, max: -1n }),
  fc.constantFrom(INT64_MAX, INT64_MIN, INT64_MAX - 1n, INT64_MIN + 1n, 2n ** 62n, -(2n ** 62n), 2n ** 32n, -(2n ** 32n)),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }).filter((value) => value !== 0n),
);

const edgeCache: fc.Arbitrary<bigint> = fc.oneof(
  fc.constant(1n),
  fc.bigInt({ min: 2n, max: 10n }),
  fc.constantFrom(MAX_CACHE, MAX_CACHE - 1n),
  fc.bigInt({ min: 1n, max: MAX_CACHE }),
);

/** A choice of a value in a range: near its low end, near its high end, or anywhere. */
type Pick = readonly ['low' | 'high' | 'any', bigint];
const pick: fc.Arbitrary<Pick> = fc.tuple(fc.constantFrom('low', 'high', 'any'), fc.bigInt({ min: 0n, max: 2n ** 64n }));

function pickIn(low: bigint, high: bigint, [where, random]: Pick): bigint {
  const size = high - low + 1n;
  if (where === 'low') return low + (random % min(size, 4n));
  if (where === 'high') return high - (random % min(size, 4n));
  return low + (random % size);
}

/** Option sets over the whole 64-bit range: bounds at or near ±2^63, huge increments, large caches. */
const edgeOptions: fc.Arbitrary<SequenceOptions> = fc
  .record({
    bounds: fc.oneof(
      fc.constant(undefined),
      fc.tuple(edgeValue, edgeValue).filter(([a, b]) => a !== b),
    ),
    increment: edgeIncrement,
    start: pick,
    cycle: fc.boolean(),
    cache: edgeCache,
  })
  .map((r) => {
    // Without bounds, PostgreSQL's defaults for the direction (1..2^63-1 or -2^63..-1).
    const bounds = r.bounds === undefined ? resolveOptions({ increment: r.increment }) : { minValue: min(...r.bounds), maxValue: max(...r.bounds) };
    return resolveOptions({
      increment: r.increment,
      minValue: bounds.minValue,
      maxValue: bounds.maxValue,
      start: pickIn(bounds.minValue, bounds.maxValue, r.start),
      cycle: r.cycle,
      cache: r.cache,
    });
  });

/** Where a sequence stands: fresh at its start, or at a value within its bounds, handed out or next. */
type PositionSpec = { readonly kind: 'initial' } | { readonly kind: 'at' | 'fresh'; readonly pick: Pick };
const positionSpec: fc.Arbitrary<PositionSpec> = fc.oneof(
  fc.constant({ kind: 'initial' } as const),
  fc.record({ kind: fc.constant('at' as const), pick }),
  fc.record({ kind: fc.constant('fresh' as const), pick }),
);

function positionOf(spec: PositionSpec, o: SequenceOptions): SequencePosition {
  if (spec.kind === 'initial') return initialPosition(o);
  const value = pickIn(o.minValue, o.maxValue, spec.pick);
  return spec.kind === 'at' ? at(value) : fresh(value);
}

/** A batch size: small, huge (up to past 2^64), or relative to what is left before the bound. */
type CountSpec = { readonly kind: 'count'; readonly count: bigint } | { readonly kind: 'left'; readonly delta: bigint };
const edgeCount: fc.Arbitrary<CountSpec> = fc.oneof(
  fc.record({ kind: fc.constant('count' as const), count: fc.bigInt({ min: 1n, max: 5n }) }),
  fc.record({ kind: fc.constant('count' as const), count: fc.bigInt({ min: 1n, max: 300n }) }),
  fc.record({
    kind: fc.constant('count' as const),
    count: fc.constantFrom(2n ** 32n, 2n ** 62n, INT64_MAX, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 64n + 1n),
  }),
  fc.record({ kind: fc.constant('count' as const), count: fc.bigInt({ min: 1n, max: 2n ** 65n }) }),
  fc.record({ kind: fc.constant('left' as const), delta: fc.bigInt({ min: -2n, max: 2n }) }),
);

function countOf(spec: CountSpec, position: SequencePosition, o: SequenceOptions): bigint {
  if (spec.kind === 'count') return spec.count;
  return max(1n, valuesLeft(position, o) + spec.delta);
}

type Op<C> = { readonly kind: 'take'; readonly count: C } | { readonly kind: 'reset'; readonly value: bigint };

/** Small worlds: mostly single values, some batches up to past the whole range, resets in and out of bounds. */
const smallOps: fc.Arbitrary<Op<bigint>[]> = fc.array(
  fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('take' as const), count: fc.constant(1n) }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('take' as const), count: fc.bigInt({ min: 1n, max: 4n }) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('take' as const), count: fc.bigInt({ min: 1n, max: 40n }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('reset' as const), value: fc.bigInt({ min: -25n, max: 55n }) }), weight: 1 },
  ),
  { maxLength: 40, size: 'max' },
);

const edgeOps: fc.Arbitrary<Op<CountSpec>[]> = fc.array(
  fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('take' as const), count: edgeCount }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('reset' as const), value: edgeValue }), weight: 1 },
  ),
  { minLength: 1, maxLength: 8 },
);

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('resolveOptions (properties)', () => {
  const maybe = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arbitrary, { nil: undefined });
  const changes: fc.Arbitrary<OptionChanges> = fc
    .record({
      start: maybe(edgeValue),
      increment: maybe(fc.oneof(edgeIncrement, fc.constant(0n))),
      minValue: maybe(edgeValue),
      maxValue: maybe(edgeValue),
      cycle: maybe(fc.boolean()),
      cache: maybe(fc.oneof(edgeCache, fc.constantFrom(0n, -1n, MAX_CACHE + 1n, INT64_MAX))),
    })
    .map((r) => Object.fromEntries(Object.entries(r).filter(([, value]) => value !== undefined)) as OptionChanges);

  it('accepts exactly the valid option sets, keeps what is given, and fills in PostgreSQL defaults', () => {
    fc.assert(
      fc.property(changes, fc.option(edgeOptions, { nil: undefined }), (given, base) => {
        // The rules, stated directly: given, else the base's, else the default for the direction.
        const increment = given.increment ?? base?.increment ?? 1n;
        const up = increment > 0n;
        const minValue = given.minValue ?? base?.minValue ?? (up ? 1n : INT64_MIN);
        const maxValue = given.maxValue ?? base?.maxValue ?? (up ? INT64_MAX : -1n);
        const start = given.start ?? base?.start ?? (up ? minValue : maxValue);
        const cache = given.cache ?? base?.cache ?? 1n;
        const fault =
          increment === 0n ? 'increment'
          : minValue >= maxValue ? ['min_value', 'max_value']
          : start < minValue || start > maxValue ? 'start'
          : cache < 1n || cache > MAX_CACHE ? 'cache'
          : undefined;
        if (fault !== undefined) {
          assert.throws(
            () => resolveOptions(given, base),
            (error: unknown) => error instanceof InvalidOptionsError && (Array.isArray(fault) ? fault.includes(error.field) : error.field === fault),
          );
          return;
        }
        const options = resolveOptions(given, base);
        assert.deepEqual(options, {
          start,
          increment,
          minValue,
          maxValue,
          cycle: given.cycle ?? base?.cycle ?? false,
          cache,
          gapless: given.gapless ?? base?.gapless ?? false,
          leaseSeconds: given.leaseSeconds ?? base?.leaseSeconds ?? 300,
          restart: base?.restart ?? 'never',
          timeZone: base?.timeZone ?? 'UTC',
          format: base?.format ?? null,
        });
        for (const value of [options.start, options.increment, options.minValue, options.maxValue]) assert.ok(isInt64(value));
        // A resolved set is a fixed point, on its own and as a base.
        assert.deepEqual(resolveOptions(options), options);
        assert.deepEqual(resolveOptions({}, options), options);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('allocate, peekNext, valuesLeft, resets against the one-value-at-a-time model (properties)', () => {
  it('agree on every step of random small sequences: singles, batches, cycles, resets', () => {
    fc.assert(
      fc.property(smallOptions, smallOps, (o, ops) => {
        let position = initialPosition(o);
        const m = modelFromPosition(position, o);
        assertPosition(position, m, o, true, describeOptions(o));
        ops.forEach((op, index) => {
          const label = `${describeOptions(o)}, op ${index} (${op.kind} ${op.kind === 'take' ? op.count : op.value}) at ${describePosition(position)}`;
          if (op.kind === 'take') {
            const expected = modelBatch(m, o, op.count);
            const actual = takeValues(position, o, op.count);
            assertBatch(actual, expected, o, label);
            if (actual.ok && expected !== undefined) {
              position = actual.position;
              Object.assign(m, expected.state);
            }
          } else if (within(op.value, o)) {
            assertReset(position, m, o, op.value, label);
            position = resetPosition(o, op.value);
            assert.deepEqual(position, fresh(op.value), label);
            Object.assign(m, modelAt(op.value));
          } else {
            assertInvalidNextValue(o, op.value, label);
          }
          assertPosition(position, m, o, true, label);
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('agree at the 64-bit edges: bounds at ±2^63, huge increments and counts, batches that just fit or just do not', () => {
    fc.assert(
      fc.property(edgeOptions, positionSpec, edgeOps, (o, spec, ops) => {
        let position = positionOf(spec, o);
        const m = modelFromPosition(position, o);
        assertPosition(position, m, o, false, describeOptions(o));
        ops.forEach((op, index) => {
          const label = `${describeOptions(o)}, op ${index} (${op.kind}) at ${describePosition(position)}`;
          if (op.kind === 'take') {
            const count = countOf(op.count, position, o);
            const expected = modelBatch(m, o, count);
            const actual = takeValues(position, o, count);
            assertBatch(actual, expected, o, `${label}, count ${count}`);
            if (actual.ok && expected !== undefined) {
              position = actual.position;
              Object.assign(m, expected.state);
            }
          } else if (within(op.value, o)) {
            assertReset(position, m, o, op.value, label);
            position = resetPosition(o, op.value);
            Object.assign(m, modelAt(op.value));
          } else {
            assertInvalidNextValue(o, op.value, label);
          }
          assertPosition(position, m, o, false, label);
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('a batch of N is N single steps: refused whole when they would cross the bound, wrapped whole with cycle', () => {
    fc.assert(
      fc.property(edgeOptions, positionSpec, fc.bigInt({ min: 1n, max: 64n }), (o, spec, count) => {
        const position = positionOf(spec, o);
        const label = `${describeOptions(o)} at ${describePosition(position)}, count ${count}`;
        const actual = takeValues(position, o, count);
        // count single steps of the model from where the sequence stands, else (cycle) from the other bound.
        const m = modelFromPosition(position, o);
        const singles = stepsFrom(m, o, count) ?? (o.cycle ? stepsFrom(modelRestart(o), o, count) : undefined);
        if (singles?.values === undefined) {
          assert.deepEqual(actual, { ok: false, reason: 'exhausted' }, `${label}: fewer than ${count} values fit; nothing may be taken`);
          return;
        }
        assert.ok(actual.ok, `${label}: expected ${singles.first}..${singles.last}, got exhausted`);
        singles.values.forEach((value, i) => {
          assert.equal(actual.first + BigInt(i) * o.increment, value, `${label}: value ${i}`);
          assertInRange(value, o, label);
        });
        assert.equal(actual.last, singles.last, label);
        assert.deepEqual(actual.position, at(singles.last), label);
        assert.equal(peekNext(actual.position, o), singles.state.next, `${label}: the batch ends where the singles do`);
      }),
      { numRuns: 1000 },
    );
  });

  it('never hands out a value outside the bounds or 64 bits, whatever the position and count', () => {
    fc.assert(
      fc.property(edgeOptions, positionSpec, edgeCount, (o, spec, countSpec) => {
        const position = positionOf(spec, o);
        const count = countOf(countSpec, position, o);
        for (const result of [takeValues(position, o, count), reserve(position, o, count)]) {
          if (!result.ok) continue;
          const label = `${describeOptions(o)} at ${describePosition(position)}, count ${count}`;
          assertInRange(result.first, o, label);
          assertInRange(result.last, o, label);
          assert.equal((result.last - result.first) % o.increment, 0n, label);
          assert.ok(!beyond(result.first, result.last, o), `${label}: the run goes in the sequence's direction`);
          assert.ok((result.last - result.first) / o.increment + 1n >= count, `${label}: at least count values`);
          const next = peekNext(result.position, o);
          if (next !== undefined) assertInRange(next, o, label);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('reserve (cache blocks) against the model (properties)', () => {
  it('starts where allocate would and takes the block the README describes, at the 64-bit edges', () => {
    fc.assert(
      fc.property(fc.oneof(edgeOptions, smallOptions), positionSpec, edgeCount, (o, spec, countSpec) => {
        const position = positionOf(spec, o);
        const count = countOf(countSpec, position, o);
        const label = `${describeOptions(o)} at ${describePosition(position)}, count ${count}`;
        const actual = reserve(position, o, count);
        const expected = modelReserve(modelFromPosition(position, o), o, count);
        if (expected === undefined) {
          assert.deepEqual(actual, { ok: false, reason: 'exhausted' }, label);
        } else {
          assert.ok(actual.ok, `${label}: expected the block ${expected.first}..${expected.last}, got exhausted`);
          assert.equal(actual.first, expected.first, `${label}: first`);
          assert.equal(actual.last, expected.last, `${label}: last`);
          assert.deepEqual(actual.position, at(expected.last), label);
        }
        // A block serves exactly the requests a cache-1 sequence serves, from the same first value.
        const single = takeValues(position, o, count);
        assert.equal(actual.ok, single.ok, `${label}: reserve and allocate agree on whether the request fits`);
        if (actual.ok && single.ok) {
          assert.equal(actual.first, single.first, label);
          const size = (actual.last - actual.first) / o.increment + 1n;
          assert.ok(size >= count && size <= max(count, o.cache), `${label}: block of ${size}`);
        }
      }),
      { numRuns: 2000 },
    );
  });

  /** A store's use of blocks (as the stores do): serve from the block in memory, else reserve a new one. */
  interface CachedSim {
    position: SequencePosition;
    block: { next: bigint; last: bigint } | undefined;
  }

  function simTake(sim: CachedSim, o: SequenceOptions, count: bigint, label: string): { first: bigint; last: bigint } | undefined {
    const inc = o.increment;
    if (sim.block !== undefined) {
      const last = sim.block.next + (count - 1n) * inc;
      if (!beyond(last, sim.block.last, o)) {
        const taken = { first: sim.block.next, last };
        sim.block = last === sim.block.last ? undefined : { next: last + inc, last: sim.block.last };
        return taken;
      }
    }
    const reserved = reserve(sim.position, o, count);
    if (!reserved.ok) return undefined; // the old block, if any, stays
    assertInRange(reserved.first, o, label);
    assertInRange(reserved.last, o, label);
    const last = reserved.first + (count - 1n) * inc;
    assert.ok(!beyond(last, reserved.last, o), `${label}: the block ${reserved.first}..${reserved.last} does not cover ${count}`);
    sim.position = reserved.position;
    sim.block = last === reserved.last ? undefined : { next: last + inc, last: reserved.last };
    return { first: reserved.first, last };
  }

  /** The model of a cached sequence: blocks are collected one single value at a time. */
  interface CachedModel {
    durable: ModelState;
    block: bigint[];
  }

  function modelCachedTake(cm: CachedModel, o: SequenceOptions, count: bigint): bigint[] | undefined {
    const n = Number(count);
    if (cm.block.length >= n) return cm.block.splice(0, n);
    const wanted = Number(max(o.cache, count));
    const collect = (start: ModelState): { values: bigint[]; state: ModelState } | undefined => {
      const state = cloneModel(start);
      const values: bigint[] = [];
      while (values.length < wanted) {
        const value = modelTakeOne(state, o);
        if (value === undefined) break;
        values.push(value);
        if (state.wrapped) break; // a block never wraps
      }
      return values.length >= n ? { values, state } : undefined;
    };
    const got = collect(cm.durable) ?? (o.cycle ? collect(modelRestart(o)) : undefined);
    if (got === undefined) return undefined;
    cm.durable = got.state;
    cm.block = got.values.slice(n);
    return got.values.slice(0, n);
  }

  it('hands out, one value at a time from blocks, exactly the values of a sequence without cache', () => {
    fc.assert(
      fc.property(smallOptions, fc.array(fc.option(fc.bigInt({ min: -20n, max: 50n }), { nil: undefined, freq: 8 }), { maxLength: 80, size: 'max' }), (o, ops) => {
        const sim: CachedSim = { position: initialPosition(o), block: undefined };
        const m = modelFromPosition(sim.position, o);
        ops.forEach((reset, index) => {
          const label = `${describeOptions(o)}, op ${index} at ${describePosition(sim.position)}`;
          if (reset !== undefined) {
            if (!within(reset, o)) return;
            // A reset drops the block.
            sim.position = resetPosition(o, reset);
            sim.block = undefined;
            Object.assign(m, modelAt(reset));
            return;
          }
          const expected = modelTakeOne(m, o);
          const actual = simTake(sim, o, 1n, label);
          assert.deepEqual(actual?.first, expected, `${label}: single value`);
          if (actual !== undefined) assert.equal(actual.last, actual.first, label);
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('serves batches from blocks as the cache model does: the same values, gaps only where a block is left', () => {
    fc.assert(
      fc.property(smallOptions, smallOps, (o, ops) => {
        const sim: CachedSim = { position: initialPosition(o), block: undefined };
        const cm: CachedModel = { durable: modelFromPosition(sim.position, o), block: [] };
        ops.forEach((op, index) => {
          const label = `${describeOptions(o)}, op ${index} (${op.kind} ${op.kind === 'take' ? op.count : op.value}) at ${describePosition(sim.position)}`;
          if (op.kind === 'reset') {
            if (!within(op.value, o)) return;
            sim.position = resetPosition(o, op.value);
            sim.block = undefined;
            cm.durable = modelAt(op.value);
            cm.block = [];
            return;
          }
          const expected = modelCachedTake(cm, o, op.count);
          const actual = simTake(sim, o, op.count, label);
          if (expected === undefined) {
            assert.equal(actual, undefined, `${label}: expected exhausted`);
          } else {
            assert.ok(actual !== undefined, `${label}: expected ${expected.join(',')}, got exhausted`);
            assert.equal(actual.first, expected[0], `${label}: first`);
            assert.equal(actual.last, expected[expected.length - 1], `${label}: last`);
          }
          // The durable frontier is the model's.
          assert.equal(peekNext(sim.position, o), cm.durable.next, `${label}: durable next value`);
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('regression: a cycle sequence whose cache exceeds its range keeps cycling', () => {
    // 1..10 with cache 20: after the first round the block after the wrap is the whole range.
    const options = resolveOptions({ maxValue: 10n, cycle: true, cache: 20n });
    const first = reserve(initialPosition(options), options, 1n);
    assert.ok(first.ok);
    assert.deepEqual([first.first, first.last], [1n, 10n]);
    const second = reserve(first.position, options, 1n);
    assert.ok(second.ok, 'the second round must not be exhausted');
    assert.deepEqual([second.first, second.last, second.position], [1n, 10n, at(10n)]);
    // Before the bound, what is left comes first; a batch that does not fit wraps to a block of the whole range.
    assert.deepEqual(reserve(at(8n), options, 2n), { ok: true, first: 9n, last: 10n, position: at(10n) });
    assert.deepEqual(reserve(at(8n), options, 3n), { ok: true, first: 1n, last: 10n, position: at(10n) });
    assert.deepEqual(reserve(at(8n), options, 11n), { ok: false, reason: 'exhausted' });
    // A step that does not divide the range: 1, 5, 9 is the whole cycle.
    const stepped = resolveOptions({ increment: 4n, maxValue: 10n, cycle: true, cache: 4n });
    assert.deepEqual(reserve(at(9n), stepped, 1n), { ok: true, first: 1n, last: 9n, position: at(9n) });
    // Descending, at the 64-bit edge.
    const down = resolveOptions({ increment: INT64_MIN, minValue: INT64_MIN, maxValue: INT64_MAX, cycle: true, cache: 5n });
    assert.deepEqual(reserve(at(-1n), down, 1n), { ok: true, first: INT64_MAX, last: -1n, position: at(-1n) });
  });
});

describe('changeConflict (properties)', () => {
  const change = fc.record({
    increment: fc.option(fc.oneof(fc.bigInt({ min: -5n, max: 5n }).filter((v) => v !== 0n), edgeIncrement), { nil: undefined }),
    minValue: fc.option(edgeValue, { nil: undefined }),
    maxValue: fc.option(edgeValue, { nil: undefined }),
    cycle: fc.option(fc.boolean(), { nil: undefined }),
    cache: fc.option(edgeCache, { nil: undefined }),
  });

  it('never objects to keeping the options, or to changing only cache or turning on cycle', () => {
    fc.assert(
      fc.property(fc.oneof(edgeOptions, smallOptions), positionSpec, edgeCache, (o, spec, cache) => {
        const position = positionOf(spec, o);
        const issued = impliedIssued(o, position);
        assert.equal(changeConflict(o, o, position, issued), undefined);
        assert.equal(changeConflict(o, { ...o, cache }, position, issued), undefined);
        assert.equal(changeConflict(o, { ...o, cycle: true }, position, issued), undefined);
      }),
      { numRuns: 1000 },
    );
  });

  it('allows a change only if the next value stays within the new bounds and the direction is kept', () => {
    fc.assert(
      fc.property(fc.oneof(edgeOptions, smallOptions), positionSpec, change, fc.boolean(), (current, spec, given, forgotten) => {
        const position = positionOf(spec, current);
        // The marks a position proves, or none (after a forced reset back, or for a new sequence).
        const issued = forgotten ? undefined : impliedIssued(current, position);
        const changes = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as OptionChanges;
        const increment = changes.increment ?? current.increment;
        const minValue = changes.minValue ?? current.minValue;
        const maxValue = changes.maxValue ?? current.maxValue;
        if (minValue >= maxValue) return;
        // The start is an option only (it does not move the counter): any valid one will do.
        const next = resolveOptions({ ...changes, increment, minValue, maxValue, start: minValue }, current);
        const conflict = changeConflict(current, next, position, issued);
        const label = `${describeOptions(current)} -> ${describeOptions(next)} at ${describePosition(position)}`;
        // The README's rule, from the model: the next value under the new options.
        const before = modelFromPosition(position, current);
        const candidate = position.isCalled ? position.lastValue + next.increment : position.lastValue;
        const reversed = issued !== undefined && current.increment > 0n !== next.increment > 0n;
        const pastFar = next.increment > 0n ? candidate > next.maxValue : candidate < next.minValue;
        const allowed = !reversed && (within(candidate, next) || (pastFar && position.isCalled && (next.cycle || before.next === undefined)));
        assert.equal(conflict === undefined, allowed, `${label}: ${conflict ?? 'allowed'}`);
        if (conflict === undefined) {
          // After an allowed change the sequence goes on within its new bounds, or was exhausted already.
          const after = peekNext(position, next);
          if (after !== undefined) assertInRange(after, next, label);
          else assert.equal(before.next, undefined, `${label}: the change itself exhausted the sequence`);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('seedState, lastIssued, importOver (properties)', () => {
  it('seedState and lastIssued round-trip the seed format', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min: 0n, max: 100n }), fc.bigInt({ min: 0n, max: INT64_MAX })), (issued) => {
        const state = seedState(issued);
        assert.equal(lastIssued(state.position, state.options.increment), issued);
        const next = peekNext(state.position, state.options);
        assert.equal(next, issued === INT64_MAX ? undefined : issued + 1n);
      }),
      { numRuns: 500 },
    );
  });

  const state: fc.Arbitrary<SequenceState> = fc
    .tuple(fc.oneof(edgeOptions, smallOptions), positionSpec, fc.boolean())
    .map(([options, spec, forgotten]) => {
      const position = positionOf(spec, options);
      return { options, position, issued: forgotten ? undefined : impliedIssued(options, position) };
    });
  const held: fc.Arbitrary<Held> = fc.oneof(
    state.map((s): Held => ({ kind: 'live', state: s })),
    state.map((s): Held => ({ kind: 'deleted', issued: s.issued })),
    fc.constant<Held>({ kind: 'absent' }),
  );
  const marksOf = (h: Held): SequenceState['issued'] => (h.kind === 'live' ? h.state.issued : h.kind === 'deleted' ? h.issued : undefined);
  const covers = (outer: SequenceState['issued'], inner: SequenceState['issued']): boolean =>
    inner === undefined || (outer !== undefined && outer.low <= inner.low && outer.high >= inner.high);
  const show = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v));

  it('never makes a name hand out a value it handed out, whatever the imported direction, and keeps every mark', () => {
    fc.assert(
      fc.property(held, state, fc.bigInt({ min: 0n, max: INT64_MAX }), fc.constantFrom('full', 'seed', 'deleted'), (h, other, seed, format) => {
        const imported =
          format === 'deleted'
            ? ({ kind: 'deleted', issued: other.issued } as const)
            : ({ kind: 'sequence', state: format === 'seed' ? seedState(seed) : other, seed: format === 'seed' } as const);
        const decision = importDecision(h, imported);
        const label = `${show(h)} <- ${show(imported)}: ${decision.kind}`;
        const before = marksOf(h);
        const fileMarks = imported.kind === 'deleted' ? imported.issued : imported.state.issued;
        if (decision.kind === 'conflict' || decision.kind === 'unchanged') return;
        if (decision.kind === 'deleted') {
          assert.notEqual(h.kind, 'live', `${label}: a live sequence is never made a tombstone`);
          assert.ok(covers(decision.issued, before) && covers(decision.issued, fileMarks), `${label}: marks lost`);
          return;
        }
        const written = decision.state;
        assert.ok(covers(written.issued, before), `${label}: the held marks were lost`);
        if (!(format === 'seed' && h.kind === 'live')) assert.ok(covers(written.issued, fileMarks), `${label}: the file's marks were lost`);
        // The product: nothing handed out before comes again (a cycle wraps back by design).
        if (!written.options.cycle) assert.ok(!reissues(before, written.options, written.position), `${label}: would hand out a held value again`);
        if (h.kind === 'live' && h.state.issued !== undefined) {
          assert.equal(written.options.increment > 0n, h.state.options.increment > 0n, `${label}: direction changed after values were handed out`);
        }
        if (h.kind === 'live' && imported.kind === 'sequence' && written.options.increment > 0n === h.state.options.increment > 0n) {
          // Never moved back: the next value is the held one or further along.
          const heldNext = peekNext(h.state.position, h.state.options);
          const writtenNext = peekNext(written.position, written.options);
          const wraps = written.options.cycle && written.position.isCalled && writtenNext === restartOf(written.options);
          if (heldNext !== undefined && !wraps) {
            assert.ok(writtenNext === undefined || !beyond(heldNext, writtenNext, written.options), `${label}: moved back from ${heldNext} to ${writtenNext}`);
          }
        }
        if (format === 'seed' && h.kind === 'live' && decision.kind === 'raised' && !written.options.cycle) {
          // A seed raises as if its value had just been handed out: never further, never exhausted before its bound.
          const writtenNext = peekNext(written.position, written.options);
          const after = seed + written.options.increment;
          if (writtenNext === undefined) {
            assert.ok(after > written.options.maxValue, `${label}: exhausted by a seed value within its bounds`);
          } else {
            assert.ok(writtenNext <= max(after, written.options.minValue), `${label}: raised past the seed value`);
          }
        }
        // Importing the same entry again changes nothing more.
        const again = importDecision({ kind: 'live', state: written }, imported);
        if (!written.options.cycle) assert.equal(again.kind, 'unchanged', `${label}: a second import changed it again`);
      }),
      { numRuns: 2000 },
    );
  });
});
