import { AppError } from '../errors.js';
import {
  changeConflict,
  describeIssued,
  impliedIssued,
  InvalidOptionsError,
  positionAfter,
  reissues,
  resetPosition,
  resetReissues,
  resolveOptions,
  unite,
  type OptionChanges,
  type SequenceOptions,
} from './sequence.js';
import { seriesFirstWhenTurnedOn } from './gapless.js';
import type { SequenceRecord, SequenceStore } from './store.js';

/**
 * The admin operations on one sequence, as PostgreSQL's CREATE/ALTER SEQUENCE,
 * setval and DROP behave, with their safety rules. Each runs atomically in the
 * store (`modifySequence`), so no allocation slips in between check and write.
 */

function invalidOptions(error: unknown): never {
  if (error instanceof InvalidOptionsError) {
    throw new AppError('invalid_options', `Invalid options: ${error.message}`, { field: error.field });
  }
  throw error;
}

function notFound(name: string): AppError {
  return new AppError('sequence_not_found', `No sequence '${name}'.`);
}

async function reread(store: SequenceStore, name: string): Promise<SequenceRecord> {
  const record = await store.getSequence(name);
  if (record === undefined) throw notFound(name);
  return record;
}

/** The live sequence a store row is, or undefined for none or a tombstone (invisible from outside). */
function live(current: SequenceRecord | undefined): SequenceRecord | undefined {
  return current?.deletedAt === undefined ? current : undefined;
}

/**
 * Creates the sequence with the given options (defaults for the rest), or
 * changes the given options of an existing one. A change never moves the
 * counter; one that would put it outside the new bounds, or reverse the
 * direction of a sequence that has handed out values, is refused whole.
 * A name deleted before is created continuing after the values it handed
 * out (its high-water marks stay).
 */
export async function defineSequence(
  store: SequenceStore,
  name: string,
  changes: OptionChanges,
): Promise<{ created: boolean; sequence: SequenceRecord }> {
  const created = await store.modifySequence(name, (row) => {
    try {
      const current = live(row);
      if (current === undefined) {
        const options = resolveOptions(changes);
        const issued = row?.issued;
        const position = positionAfter(issued, options);
        if (position === undefined) {
          throw new AppError(
            'options_conflict',
            `Cannot create '${name}': a sequence of that name, deleted, handed out ${issued === undefined ? 'values' : describeIssued(issued)}, ` +
              'and these options leave no value past them; choose other bounds, or delete it with ?forget=true to hand them out again.',
          );
        }
        // A gapless sequence created over a deleted name starts its series at its first new value.
        return { write: { kind: 'put', options, position, issued, seriesFirst: undefined, period: undefined, clearGapless: true }, result: true };
      }
      const options = resolveOptions(changes, current.options);
      const conflict = changeConflict(current.options, options, current.position, current.issued) ?? gaplessConflict(current, options);
      if (conflict !== undefined) throw new AppError('options_conflict', `Cannot change '${name}': ${conflict}`);
      // Turned on: what it handed out before counts as confirmed, so the series starts at its first value.
      const seriesFirst = options.gapless && !current.options.gapless ? seriesFirstWhenTurnedOn(options, current.issued) : current.seriesFirst;
      return {
        write: { kind: 'put', options, position: current.position, issued: current.issued, seriesFirst, period: current.period, clearGapless: false },
        result: false,
      };
    } catch (error) {
      return invalidOptions(error);
    }
  });
  return { created, sequence: await reread(store, name) };
}

/**
 * Sets the next value (`setval`). Moving back over values already handed out
 * (behind the next value, or into the high-water marks) needs `force`; a
 * forced reset that does so forgets the marks, as for a new sequence.
 */
export async function resetSequence(
  store: SequenceStore,
  name: string,
  nextValue: bigint,
  force: boolean,
): Promise<SequenceRecord> {
  await store.modifySequence(name, (row) => {
    const current = live(row);
    if (current === undefined) throw notFound(name);
    if (current.options.gapless && !force) {
      throw new AppError(
        'options_conflict',
        `Cannot reset '${name}' without "force": true: it is gapless, and a reset skips or repeats values of its series. ` +
          'A forced reset starts a new series and forgets its reservations, free and void values.',
      );
    }
    try {
      const position = resetPosition(current.options, nextValue);
      // A cycle goes back over its values by design; only its next value counts for it.
      const intoIssued = !current.options.cycle && reissues(current.issued, current.options, position);
      if (!force && (intoIssued || resetReissues(current.position, current.options, nextValue))) {
        throw new AppError(
          'would_reissue',
          `Resetting '${name}' to ${nextValue} moves it back, over values it may have handed out` +
            `${current.issued === undefined ? '' : ` (it has handed out ${describeIssued(current.issued)})`}; send "force": true to do it anyway.`,
        );
      }
      const issued = intoIssued ? undefined : current.issued;
      // A gapless series starts over; so does a sequence reset into values it handed out, whose void values (left
      // from when it was gapless) would otherwise stand in the way of the values it hands out again.
      const clear = current.options.gapless || intoIssued;
      return {
        write: { kind: 'put', options: current.options, position, issued, seriesFirst: clear ? undefined : current.seriesFirst, period: current.period, clearGapless: clear },
        result: undefined,
      };
    } catch (error) {
      return invalidOptions(error);
    }
  });
  return reread(store, name);
}

/**
 * Deletes the sequence and its idempotency keys. Its high-water marks stay
 * (a tombstone): the name, used again, continues after every value it handed
 * out. `forget` drops them too, so the name starts afresh and hands out the
 * same numbers again; it also forgets a name deleted before.
 */
export async function deleteSequence(store: SequenceStore, name: string, forget: boolean): Promise<void> {
  await store.modifySequence(name, (row) => {
    if (row === undefined || (!forget && row.deletedAt !== undefined)) throw notFound(name);
    if (forget) return { write: { kind: 'forget' }, result: undefined };
    // Everything before its next value counts as handed out (a forward reset skipped values that were perhaps
    // handed out elsewhere): the name, used again, continues from there at least.
    return { write: { kind: 'delete', tombstone: unite(row.issued, impliedIssued(row.options, row.position)) }, result: undefined };
  });
}

/** Why a gapless sequence cannot take these options now (values reserved or free would be skipped, or lie off its step), else undefined. */
function gaplessConflict(current: SequenceRecord, options: SequenceOptions): string | undefined {
  if (!current.options.gapless || current.gapless === undefined) return undefined;
  const { reserved, free } = current.gapless;
  if (reserved === 0 && free === 0) return undefined;
  const open = `values are reserved (${reserved}) or free (${free}): confirm, release or void them first.`;
  if (!options.gapless) return `gapless cannot be turned off while ${open}`;
  // The series is judged on its step: free values of the old step would lie off the new one.
  if (options.increment !== current.options.increment) return `the increment of a gapless sequence cannot change while ${open}`;
  return undefined;
}
