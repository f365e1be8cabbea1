import type Database from 'better-sqlite3';
import { AllocationLog } from './allocation-log.js';
import { openChecked } from './open.js';

/**
 * Pages per step of the online backup after the first: more than any store
 * has, so the whole copy is made in one step, inside one read transaction of
 * the source. That is what makes it a snapshot: in WAL mode the reader never
 * blocks the server's commits, and a step that copies everything cannot be
 * restarted half-way by them.
 */
const ALL_PAGES = 0x7fffffff;

/** The copy was written but is not a sound store (the message says why); nothing should be kept of it. */
export class CopyCheckError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CopyCheckError';
  }
}

/** A SQLite store opened read-only (and checked) to be copied once with SQLite's online backup API. */
export class SqliteSnapshot {
  readonly #source: Database.Database;

  private constructor(source: Database.Database) {
    this.#source = source;
  }

  /** Opens and checks the store at `path` as `serve` would; throws a StoreOpenError if it is not one. */
  static open(path: string): SqliteSnapshot {
    return new SqliteSnapshot(openChecked(path, 'read'));
  }

  /**
   * Writes a consistent snapshot of the store to `path` (which must not
   * exist), checks the copy as `serve` would (a TakeANumber store, a known
   * schema version, SQLite's quick check), switches it to a rollback journal
   * so the file stands alone (serve switches it back to WAL), and returns
   * its number of sequences. Closes the source. The copy is not fsynced:
   * the caller's atomic write does that. SQLite may leave a -journal, -wal
   * or -shm beside `path` if it fails half-way.
   */
  async copyTo(path: string): Promise<number> {
    try {
      await this.#source.backup(path, { progress: () => ALL_PAGES });
    } finally {
      this.close();
    }
    let copy: Database.Database;
    try {
      copy = openChecked(path, 'write');
    } catch (error) {
      throw new CopyCheckError(`The copy ${path} failed its check, so no backup was written: ${(error as Error).message}`, { cause: error });
    }
    try {
      copy.pragma('journal_mode = DELETE');
      // The allocation log is checked as an open checks it; names only it holds count too.
      const log = new AllocationLog(copy);
      try {
        log.load(path);
      } catch (error) {
        throw new CopyCheckError(`The copy ${path} failed its check, so no backup was written: ${(error as Error).message}`, { cause: error });
      }
      const inTable = copy.prepare('SELECT 1 FROM sequences WHERE name = ?').pluck();
      const logged = log.names().filter((name) => inTable.get(name) === undefined).length;
      return (copy.prepare('SELECT count(*) FROM sequences').pluck().get() as number) + logged;
    } finally {
      copy.close();
    }
  }

  close(): void {
    if (this.#source.open) this.#source.close();
  }
}

/** Files SQLite may leave beside a copy that failed half-way. */
export const COPY_SIDE_FILES = ['-journal', '-wal', '-shm'] as const;
