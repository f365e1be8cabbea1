import { lstatSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { StoreOpenError } from '../../core/store.js';

/**
 * The real path of a store: its folder resolved, and the file itself when
 * it is a symbolic link. The writer lock, SQLite and the file guard all use
 * it, so a second server given another path to the same file (a symbolic
 * link to it or to its folder) meets the same lock. The folder must exist.
 */
export function realStorePath(path: string): string {
  // native: realpath(3), which also gives the stored case of each name on case-insensitive file systems.
  const folder = realpathSync.native(dirname(path));
  const inFolder = join(folder, basename(path));
  const link = lstatSync(inFolder, { throwIfNoEntry: false });
  if (link?.isSymbolicLink() !== true) return inFolder;
  try {
    return realpathSync.native(inFolder);
  } catch (error) {
    throw new StoreOpenError(
      `The store ${path} is a symbolic link to a file that does not exist (${(error as Error).message}). ` +
        'Point it at the store, or give the path of the store itself.',
      { cause: error },
    );
  }
}

/**
 * Refuses a store file with more than one name (hard links): SQLite keeps
 * the -wal beside the name it was given, so a server on each name would
 * write its own log of the same database, and their lock files differ.
 */
export function refuseHardLinks(path: string): void {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats === undefined || stats.nlink <= 1) return;
  throw new StoreOpenError(
    `The store ${path} has ${stats.nlink} names (hard links): a server on each name would write its own -wal and take its own ` +
      'lock, and hand out the same numbers. Remove the other names (find them with `find / -samefile ' +
      `${path}\`), or copy the store with 'take-a-number backup' instead.`,
  );
}
