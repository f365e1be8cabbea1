import Database from 'better-sqlite3';
import { StoreOpenError, StoreUnavailableError } from '../../core/store.js';

/**
 * SQLite's result codes that are faults of the store (its disk, files, locks
 * or memory), not of the SQL we run: a full disk, an I/O error, a busy or
 * locked database, a file that cannot be opened, read-only or damaged.
 * Anything else SQLite reports (a constraint, a mismatch, a syntax error) is
 * a bug of ours and keeps its own error.
 */
const STORE_FAULT = /^SQLITE_(?:FULL|IOERR|BUSY|LOCKED|CANTOPEN|READONLY|CORRUPT|NOTADB|NOMEM|PROTOCOL|PERM|AUTH)(?:_|$)/;

/** `error` as the store contract reports it: a fault of the store as StoreUnavailableError, anything else as it is. */
export function asStoreFault(error: unknown): unknown {
  // The file guard found the store's files damaged (file-guard.ts): no write will be safe again.
  if (error instanceof StoreOpenError) return new StoreUnavailableError(error.message, { cause: error });
  if (error instanceof Database.SqliteError && STORE_FAULT.test(error.code)) {
    return new StoreUnavailableError(`SQLite: ${error.code}: ${error.message}`, { cause: error });
  }
  return error;
}

/** Runs synchronous store work as a promise: its value, or its error (faults of the store as StoreUnavailableError) as a rejection. */
export function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    const reported = asStoreFault(error);
    return Promise.reject(reported instanceof Error ? reported : new Error(String(reported)));
  }
}
