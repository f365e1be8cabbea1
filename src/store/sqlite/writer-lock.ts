import { rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreLockedError, StoreOpenError } from '../../core/store.js';

/** What the lock file remembers of the store beside it, across restarts. */
export interface StoreRecord {
  readonly storeId: string;
  /** The database file carries at least this generation of the store (undefined: not known yet). */
  readonly generation: bigint | undefined;
  /** Why a server found the store's files damaged, if one did: every later start refuses the store. */
  readonly damaged: string | undefined;
  /**
   * The last server on the store stopped after a complete checkpoint, so the
   * database file holds every commit. Otherwise (it was killed, or is
   * running) the -wal holds the latest commits and must be there.
   */
  readonly stoppedCleanly: boolean;
}

/**
 * The one-writer-per-store lock, and the store's record: a small SQLite
 * database beside the store (`<store>.lock`), opened with
 * `locking_mode = EXCLUSIVE`, so that once taken its exclusive lock is kept
 * until the connection closes, through the commits that update the record.
 * SQLite locks with fcntl, so the operating system releases the lock the
 * moment the holder dies, `kill -9` included; no staleness guessing. Older
 * releases take the same lock with a `BEGIN EXCLUSIVE` held open on the
 * same file: each excludes the other. A separate file keeps the store
 * itself readable by `export` and `backup` while a server runs.
 */
export class WriterLock {
  readonly path: string;
  /** The lock file was there before this process opened it. */
  readonly existedBefore: boolean;
  /**
   * The lock file shows that a store was used here: it holds a store's
   * record, or was made by an earlier release (which made it at each start,
   * and kept no record). One made by a start of this release that stopped
   * before its store existed does not.
   */
  readonly showsStore: boolean;
  #record: StoreRecord | undefined;
  #db: Database.Database | undefined;

  private constructor(path: string, db: Database.Database, existedBefore: boolean, showsStore: boolean, record: StoreRecord | undefined) {
    this.path = path;
    this.#db = db;
    this.existedBefore = existedBefore;
    this.showsStore = showsStore;
    this.#record = record;
  }

  /**
   * Takes the lock on `<storePath>.lock` (storePath: the real path), waiting
   * at most `waitMs` for a holder that is exiting. `shownAs` names the store
   * in messages (the path given, with the real one if it differs).
   */
  static acquire(storePath: string, waitMs = 500, shownAs = storePath): WriterLock {
    const path = `${storePath}.lock`;
    const before = statSync(path, { throwIfNoEntry: false });
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: waitMs });
    } catch (error) {
      throw new StoreOpenError(`Cannot open the lock file ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY') {
        throw new StoreLockedError(
          `The store ${shownAs} is in use by another take-a-number process (it holds the lock on ${path}). ` +
            'Only one process may allocate from a SQLite store; stop the other one first.',
        );
      }
      throw new StoreOpenError(`Cannot lock ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      // A starting process that fails removes the lock file it made (discard): the file locked must still be the one at the path.
      const after = statSync(path, { throwIfNoEntry: false });
      if (after === undefined || (before !== undefined && after.ino !== before.ino)) {
        throw new StoreLockedError(`Another take-a-number process was starting on the store ${storePath} at the same moment; try again.`);
      }
      const earlierRelease = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'store_record'").get() === undefined;
      db.exec(`CREATE TABLE IF NOT EXISTS store_record (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        store_id TEXT NOT NULL,
        generation INTEGER,
        damaged TEXT,
        stopped_cleanly INTEGER NOT NULL
      ) STRICT`);
      const row = db
        .prepare('SELECT store_id, generation, damaged, stopped_cleanly FROM store_record WHERE id = 1')
        .raw(true)
        .safeIntegers(true)
        .get() as [string, bigint | null, string | null, bigint] | undefined;
      // In exclusive locking mode the lock outlives the transaction.
      db.exec('COMMIT');
      const record =
        row === undefined ? undefined : { storeId: row[0], generation: row[1] ?? undefined, damaged: row[2] ?? undefined, stoppedCleanly: row[3] !== 0n };
      return new WriterLock(path, db, before !== undefined, before !== undefined && (earlierRelease || record !== undefined), record);
    } catch (error) {
      db.close();
      if (error instanceof StoreLockedError) throw error;
      throw new StoreOpenError(`Cannot read the lock file ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The record as last read or written. */
  get record(): StoreRecord | undefined {
    return this.#record;
  }

  /** Writes the record (one small durable transaction, under the lock). */
  write(record: StoreRecord): void {
    if (this.#db === undefined) throw new Error('the writer lock is released');
    this.#db
      .prepare('INSERT OR REPLACE INTO store_record (id, store_id, generation, damaged, stopped_cleanly) VALUES (1, ?, ?, ?, ?)')
      .run(record.storeId, record.generation ?? null, record.damaged ?? null, record.stoppedCleanly ? 1 : 0);
    this.#record = record;
  }

  release(): void {
    this.#db?.close();
    this.#db = undefined;
  }

  /**
   * Releases the lock after a start that failed, removing the lock file if
   * this process made it: a place where no store was made keeps no trace
   * that a later start would take for a lost store.
   */
  discard(): void {
    if (this.#db !== undefined && !this.existedBefore) {
      // Removed while still held, so no other process can have taken the lock on it.
      for (const suffix of ['', '-journal']) rmSync(this.path + suffix, { force: true });
    }
    this.release();
  }
}
