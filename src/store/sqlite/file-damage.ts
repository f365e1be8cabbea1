import { StoreOpenError } from '../../core/store.js';

/**
 * What the file guard (file-guard.ts) says when it finds a store's files
 * changed under the running server: which file, what was seen, why the
 * server stops allocating, and how to recover. Every message ends with the
 * way to accept the files on purpose.
 */

export const LOST_COMMITS = 'The commits it held since the last checkpoint are lost to a restart, which would hand out their numbers again';
export const LOST_FILE = 'Commits copied into it since are missing from it, and a restart would hand out their numbers again';

/** The database file or its -wal was removed, or another file renamed over it. */
export function replacedFile(file: string, lockPath: string): StoreOpenError {
  return new StoreOpenError(
    `The store file ${file} was removed or replaced while this server used it: writes would go to a file ` +
      'no one opens again, and a new store would hand out the same numbers again, so this server allocates ' +
      `nothing more. While it runs, the removed file can still be copied from /proc/${process.pid}/fd/. ` +
      `Restore the store (with its -wal file), then remove ${lockPath} to start a server on it again.`,
  );
}

/** Another process could now take a new lock file at the same path and write to the store too. */
export function removedLock(lockPath: string): StoreOpenError {
  return new StoreOpenError(
    `The lock file ${lockPath} was removed or replaced while this server held it: another take-a-number ` +
      'could take a new lock and write to the store too, so this server allocates nothing more. Stop it, and ' +
      'start one server on the store again.',
  );
}

/** A file was rewritten in place: `what` it did, and the `consequence` (LOST_COMMITS, LOST_FILE). */
export function damagedFile(file: string, what: string, consequence: string, lockPath: string): StoreOpenError {
  return new StoreOpenError(
    `The store file ${file} ${what} while this server used it. ${consequence}, so this server allocates nothing more ` +
      `and every later start refuses the store. Restore it from a backup and raise its counters (README, "Restore"), ` +
      `then remove ${lockPath} to accept it.`,
  );
}
