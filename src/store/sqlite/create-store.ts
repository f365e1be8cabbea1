import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreOpenError } from '../../core/store.js';
import { migrate } from './open.js';

function fsyncPath(path: string, what: 'file' | 'folder'): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    fsyncSync(fd);
  } catch (error) {
    // Some file systems refuse to fsync a folder; the rename is then as durable as they make it.
    if (what === 'file') throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Makes a new, empty store at `path` (which must not hold one): built whole
 * in a temporary file beside it (rollback journal, every migration, the
 * identity row), fsynced, then renamed into place and the folder fsynced.
 * So the file at the store's path carries the schema and the identity from
 * the moment it exists, not only its -wal: losing the -wal can never turn
 * it back into an empty database. The caller holds the writer lock.
 */
export function createStoreFile(path: string): void {
  const temporary = `${path}.new-${process.pid}`;
  const leftovers = [temporary, `${temporary}-journal`];
  try {
    for (const file of leftovers) rmSync(file, { force: true });
    const db = new Database(temporary);
    try {
      migrate(db);
    } finally {
      db.close();
    }
    fsyncPath(temporary, 'file');
    renameSync(temporary, path);
    fsyncPath(dirname(path), 'folder');
  } catch (error) {
    for (const file of leftovers) rmSync(file, { force: true });
    throw new StoreOpenError(`Cannot create the store ${path}: ${(error as Error).message}`, { cause: error });
  }
}
