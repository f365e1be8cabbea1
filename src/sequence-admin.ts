import { AppError } from './errors.js';
import {
  changeConflict,
  initialPosition,
  InvalidOptionsError,
  resetPosition,
  resetReissues,
  resolveOptions,
  type OptionChanges,
} from './sequence.js';
import type { SequenceRecord, SequenceStore } from './store/store.js';

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

/**
 * Creates the sequence with the given options (defaults for the rest), or
 * changes the given options of an existing one. A change never moves the
 * counter; one that would put it outside the new bounds, or reverse the
 * direction of a sequence that has handed out values, is refused whole.
 */
export async function defineSequence(
  store: SequenceStore,
  name: string,
  changes: OptionChanges,
): Promise<{ created: boolean; sequence: SequenceRecord }> {
  const created = await store.modifySequence(name, (current) => {
    try {
      if (current === undefined) {
        const options = resolveOptions(changes);
        return { write: { kind: 'put', options, position: initialPosition(options) }, result: true };
      }
      const options = resolveOptions(changes, current.options);
      const conflict = changeConflict(current.options, options, current.position);
      if (conflict !== undefined) throw new AppError('options_conflict', `Cannot change '${name}': ${conflict}`);
      return { write: { kind: 'put', options, position: current.position }, result: false };
    } catch (error) {
      return invalidOptions(error);
    }
  });
  return { created, sequence: await reread(store, name) };
}

/** Sets the next value (`setval`). Moving back over values already handed out needs `force`. */
export async function resetSequence(
  store: SequenceStore,
  name: string,
  nextValue: bigint,
  force: boolean,
): Promise<SequenceRecord> {
  await store.modifySequence(name, (current) => {
    if (current === undefined) throw notFound(name);
    try {
      const position = resetPosition(current.options, nextValue);
      if (!force && resetReissues(current.position, current.options, nextValue)) {
        throw new AppError(
          'would_reissue',
          `Resetting '${name}' to ${nextValue} moves it back, over values it may have handed out; send "force": true to do it anyway.`,
        );
      }
      return { write: { kind: 'put', options: current.options, position }, result: undefined };
    } catch (error) {
      return invalidOptions(error);
    }
  });
  return reread(store, name);
}

/** Deletes the sequence and its idempotency keys; a later use of the name starts afresh. */
export async function deleteSequence(store: SequenceStore, name: string): Promise<void> {
  await store.modifySequence(name, (current) => {
    if (current === undefined) throw notFound(name);
    return { write: { kind: 'delete' }, result: undefined };
  });
}
