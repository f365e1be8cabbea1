import { INT64_MAX } from './int64.js';
import type { AllocationOutcome } from './store/store.js';

/** The value a sequence's counter holds before its first allocation: the first value is 1. */
export const INITIAL_LAST_VALUE = 0n;

/**
 * Takes `count` values after `lastValue`. The arithmetic is bigint, checked
 * against the 64-bit bound before anything is written: a store never sees a
 * value it cannot hold, and a request that does not fit whole takes nothing.
 */
export function allocateAfter(lastValue: bigint, count: bigint): AllocationOutcome {
  if (count < 1n) throw new RangeError(`count must be at least 1, got ${count}`);
  if (lastValue > INT64_MAX - count) return { ok: false, reason: 'exhausted' };
  return { ok: true, first: lastValue + 1n, last: lastValue + count };
}
