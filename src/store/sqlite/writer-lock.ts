import Database from 'better-sqlite3';
import { StoreLockedError, StoreOpenError } from '../store.js';

/**
 * The one-writer-per-store lock: an exclusive SQLite transaction held open on
 * a small file beside the store. SQLite locks with fcntl, so the operating
 * system releases the lock the moment the holder dies, `kill -9` included; no
 * staleness guessing. A separate file keeps the store itself readable by
 * `export` while a server runs.
 */
export class WriterLock {
  readonly path: string;
  #db: Database.Database | undefined;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.#db = db;
  }

  /** Takes the lock, waiting at most `waitMs` for a holder that is exiting. */
  static acquire(storePath: string, waitMs = 500): WriterLock {
    const path = `${storePath}.lock`;
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: waitMs });
    } catch (error) {
      throw new StoreOpenError(`Cannot open the lock file ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      db.exec('BEGIN EXCLUSIVE');
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY') {
        throw new StoreLockedError(
          `The store ${storePath} is in use by another take-a-number process (it holds the lock on ${path}). ` +
            'Only one process may allocate from a SQLite store; stop the other one first.',
        );
      }
      throw new StoreOpenError(`Cannot lock ${path}: ${(error as Error).message}`, { cause: error });
    }
    return new WriterLock(path, db);
  }

  release(): void {
    this.#db?.close();
    this.#db = undefined;
  }
}
