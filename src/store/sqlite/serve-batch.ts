import type { BlockCache, Block } from '../../core/block-cache.js';
import { takeFromBlock } from '../../core/block-cache.js';
import type { Grant } from '../../core/gapless.js';
import { answerOf, keyId, replayOrRefuse, type RecordedAnswer } from '../../core/idempotency.js';
import type { Period } from '../../core/period.js';
import { enterPeriod, hasLabels, hasPeriods, labelsOf, type AnswerLabels } from '../../core/periodic.js';
import { firstUseState, reserve, takeValues, widen, type IssuedRange, type SequenceOptions, type SequencePosition, type SequenceState } from '../../core/sequence.js';
import type { AllocationOutcome, AllocationRequest, SequenceRecord } from '../../core/store.js';
import { reserveIn } from './gapless-batch.js';
import type { GaplessRows } from './gapless-rows.js';
import type { SequenceRows } from './rows.js';

/** A sequence as one batch sees it: read once, written once at the end. */
interface Working {
  options: SequenceOptions;
  position: SequencePosition;
  issued: IssuedRange | undefined;
  /** Gapless sequences: the first value of the series (written with the position). */
  seriesFirst: bigint | undefined;
  /** The period the batch allocates in (core/periodic.ts's enterPeriod), written with the position. */
  period: Period | undefined;
  /** Whether the sequence has periods: its row is written with its period. */
  periodic: boolean;
  /** Whether answers carry labels (hasLabels): other sequences pay nothing for them. */
  labelled: boolean;
  /** How the batch writes it: a new row, a tombstone made live again, or the position of a live one. */
  readonly write: 'insert' | 'revive' | 'position';
  /** When the sequence was created (a new or revived one: now); its row in the allocation log carries it. */
  readonly createdAt: number;
  changed: boolean;
  /** The staged block of a cached sequence; becomes the cached one only after the commit. */
  block: Block | undefined;
}

/** A batch's view of a sequence, always built here with one shape (the allocation loop reads it per request). */
function working(
  state: SequenceState,
  extras: { seriesFirst: bigint | undefined; period: Period | undefined },
  write: Working['write'],
  createdAt: number,
  changed: boolean,
  block: Block | undefined,
): Working {
  const { options, position, issued } = state;
  const { seriesFirst, period } = extras;
  return { options, position, issued, seriesFirst, period, periodic: false, labelled: false, write, createdAt, changed, block };
}

/**
 * A sequence with periods enters the period of `now` before the batch takes
 * values of it: a new one puts the counter back at start, clears its marks and
 * starts a new gapless series, and drops the cached block (reserved in the old one).
 */
function enterNow(state: Working, now: number): void {
  if (!hasPeriods(state.options, state.period)) {
    state.labelled = state.options.format !== null;
    return;
  }
  const entered = enterPeriod(state.options, state, now);
  state.periodic = true;
  state.period = entered.period;
  state.labelled = hasLabels(state.options, entered.period);
  if (entered.restarted) {
    state.position = entered.position;
    state.issued = entered.issued;
    state.seriesFirst = undefined;
    state.block = undefined;
  }
  if (entered.changed) state.changed = true;
}

export interface BatchResult {
  readonly outcomes: AllocationOutcome[];
  /** Blocks reserved by the batch: used only once its commit is durable; undefined: drop the cached one. */
  readonly staged: [string, Block | undefined][];
  /** The plain sequences the batch changed, as it leaves them: for the allocation log, never written into `sequences` here. */
  readonly logged: SequenceRecord[];
}

/**
 * Serves every request of a batch, in order, inside the caller's transaction
 * (SQLite: one transaction, one fsync, for the whole batch). Reading then
 * writing is atomic: this process holds the writer lock and the transaction
 * is BEGIN IMMEDIATE. The arithmetic is bigint (core/sequence.ts), checked
 * before the write: SQLite's integer overflow (a float) never happens.
 */
export function serveBatch(rows: SequenceRows, gapless: GaplessRows, blocks: BlockCache, requests: readonly AllocationRequest[], now: number): BatchResult {
  const states = new Map<string, Working | null>();
  const answered = new Map<string, RecordedAnswer>();
  const outcomes = requests.map((request): AllocationOutcome => {
    const { name, count, idempotency } = request;
    const id = idempotency === undefined ? undefined : keyId(request);
    if (idempotency !== undefined && id !== undefined) {
      const recorded = answered.get(id) ?? rows.recordedAnswer(name, idempotency.key);
      if (recorded !== undefined) return replayOrRefuse(recorded, request);
    }
    let state = states.get(name);
    if (state === undefined) {
      const stored = rows.read(name);
      state = stored === undefined || stored.deletedAt !== undefined ? null : working(stored, stored, 'position', stored.createdAt, false, blocks.get(name));
      if (state === null && request.create) {
        // First use, or first use again after a delete: then it continues after the deleted one's values.
        const fresh = { seriesFirst: undefined, period: undefined };
        state = working(firstUseState(stored?.issued), fresh, stored === undefined ? 'insert' : 'revive', now, true, undefined);
      }
      if (state !== null) enterNow(state, now);
      states.set(name, state);
    }
    if (state === null) return { ok: false, reason: 'not_found' };
    let taken: { first: bigint; last: bigint; grant: Grant | undefined; tookExpired: boolean; labels: AnswerLabels | undefined } | undefined;
    if (state.options.gapless) {
      if (count !== 1n) return { ok: false, reason: 'gapless_count' };
      taken = reserveGapless(gapless, name, state, now);
    } else {
      const values = take(state, count);
      const labels = values === undefined || !state.labelled ? undefined : labelsOf(state.options, state.period, now, values.first, values.last);
      taken = values === undefined ? undefined : { first: values.first, last: values.last, grant: undefined, tookExpired: false, labels };
    }
    if (taken === undefined) return { ok: false, reason: 'exhausted' };
    if (idempotency !== undefined && id !== undefined) {
      const answer = answerOf(request, taken.first, taken.last, taken.grant, taken.labels);
      answered.set(id, answer);
      rows.recordAnswer(name, idempotency.key, answer, now);
    }
    return { ok: true, first: taken.first, last: taken.last, replayed: false, grant: taken.grant, tookExpired: taken.tookExpired, labels: taken.labels };
  });
  const staged: [string, Block | undefined][] = [];
  const logged: SequenceRecord[] = [];
  for (const [name, state] of states) {
    if (state === null) continue;
    if (state.block !== undefined || state.periodic) staged.push([name, state.block]);
    if (!state.changed) continue;
    // Plain sequences go to the allocation log (allocation-log.ts); gapless ones stay direct writes, beside their values.
    if (!state.options.gapless) logged.push(recordOf(name, state, now));
    else if (state.write === 'insert') rows.insert(name, state, now, null, state);
    else if (state.write === 'revive') rows.replace(name, state, now, true, state);
    else rows.advanceWith(name, state, state, now);
  }
  return { outcomes, staged, logged };
}

/** A plain sequence as the batch leaves it. */
function recordOf(name: string, { options, position, issued, seriesFirst, period, createdAt }: Working, now: number): SequenceRecord {
  return { name, options, position, issued, createdAt, updatedAt: now, deletedAt: undefined, seriesFirst, period, gapless: undefined };
}

/** Reserves one value of a gapless sequence (gapless-batch.ts), moving the batch's view of it. */
function reserveGapless(gapless: GaplessRows, name: string, state: Working, now: number) {
  const { options, period, labelled } = state;
  const reserved = reserveIn(gapless, name, options, state, now, (value) => (labelled ? labelsOf(options, period, now, value, value) : undefined));
  if (reserved === undefined) return undefined;
  if (reserved.state.position !== state.position || reserved.state.seriesFirst !== state.seriesFirst) {
    state.position = reserved.state.position;
    state.issued = reserved.state.issued;
    state.seriesFirst = reserved.state.seriesFirst;
    state.changed = true;
  }
  return { first: reserved.value, last: reserved.value, grant: reserved.grant, tookExpired: reserved.tookExpired, labels: reserved.labels };
}

/** Takes values for one request: from the durable position, or for a cached sequence from its block. */
function take(state: Working, count: bigint): { first: bigint; last: bigint } | undefined {
  if (state.options.cache === 1n) {
    const taken = takeValues(state.position, state.options, count);
    if (!taken.ok) return undefined;
    state.position = taken.position;
    state.issued = widen(state.issued, taken.first, taken.last);
    state.changed = true;
    return taken;
  }
  const fromBlock = state.block === undefined ? undefined : takeFromBlock(state.block, count);
  if (fromBlock !== undefined) {
    state.block = fromBlock.rest;
    return fromBlock;
  }
  const reserved = reserve(state.position, state.options, count);
  if (!reserved.ok) return undefined;
  state.position = reserved.position;
  state.issued = widen(state.issued, reserved.first, reserved.last);
  state.changed = true;
  const taken = takeFromBlock({ options: state.options, next: reserved.first, last: reserved.last }, count);
  if (taken === undefined) throw new Error('a reserved block is smaller than the request it was reserved for');
  state.block = taken.rest;
  return taken;
}
