import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { allocateAfter, INITIAL_LAST_VALUE } from '../../allocation.js';
import {
  StoreOpenError,
  type AllocationOutcome,
  type AllocationRequest,
  type ImportSummary,
  type SequenceStore,
} from '../store.js';
import { APPLICATION_ID, LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.js';
import { WriterLock } from './writer-lock.js';

export interface SqliteStoreOptions {
  /**
   * `write` (serve, import): creates the file and its folders if missing,
   * takes the writer lock and applies migrations. `read` (export): opens an
   * existing store read-only, beside a running server.
   */
  readonly mode: 'write' | 'read';
}

type Statement = Database.Statement;

/** Runs synchronous store work as a promise: its value, or its error as a rejection. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as { code?: unknown }).code === undefined ? undefined : String((error as { code: unknown }).code);
}

/** Opens `path` and checks it is a sound TakeANumber store, or throws a StoreOpenError naming file and cause. */
function openChecked(path: string, mode: 'write' | 'read'): Database.Database {
  if (mode === 'read' && !existsSync(path)) {
    throw new StoreOpenError(`No store at ${path}: the file does not exist.`);
  }
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: mode === 'read', fileMustExist: mode === 'read', timeout: 2000 });
  } catch (error) {
    throw new StoreOpenError(`Cannot open the store ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    checkStore(db, path, mode);
    return db;
  } catch (error) {
    db.close();
    if (error instanceof StoreOpenError) throw error;
    const code = errorCode(error);
    if (code === 'SQLITE_NOTADB' || code?.startsWith('SQLITE_CORRUPT')) {
      throw new StoreOpenError(
        `The store ${path} is not a readable SQLite database (${(error as Error).message}). ` +
          'It is left untouched and no counter is reset: restore it from a backup. ' +
          "(To migrate a Python TakeANumber sequences.json, use 'take-a-number import'.)",
        { cause: error },
      );
    }
    throw new StoreOpenError(`Cannot use the store ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function checkStore(db: Database.Database, path: string, mode: 'write' | 'read'): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const objects = db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
  if (applicationId !== APPLICATION_ID && !(applicationId === 0 && version === 0 && objects === 0)) {
    throw new StoreOpenError(`The file ${path} is a SQLite database but not a TakeANumber store; it is left untouched.`);
  }
  if (version > LATEST_SCHEMA_VERSION) {
    throw new StoreOpenError(
      `The store ${path} has schema version ${version}, written by a newer take-a-number; ` +
        `this one knows versions up to ${LATEST_SCHEMA_VERSION}. Upgrade take-a-number.`,
    );
  }
  if (mode === 'read' && version < LATEST_SCHEMA_VERSION) {
    throw new StoreOpenError(
      `The store ${path} has schema version ${version}; this take-a-number needs ${LATEST_SCHEMA_VERSION}. ` +
        "Run 'take-a-number serve' on it once to upgrade it.",
    );
  }
  const problems = db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
  if (problems.length !== 1 || problems[0]?.quick_check !== 'ok') {
    const detail = problems.slice(0, 3).map((row) => row.quick_check).join('; ');
    throw new StoreOpenError(
      `The store ${path} is corrupt (${detail}). It is left untouched and no counter is reset: restore it from a backup.`,
    );
  }
}

function migrate(db: Database.Database): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }
    db.pragma(`application_id = ${APPLICATION_ID}`);
  }).immediate();
}

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a
 * commit returns only after the WAL is fsynced. All allocations of a batch
 * share one transaction, hence one fsync.
 */
export class SqliteStore implements SequenceStore {
  readonly location: string;
  readonly #db: Database.Database;
  readonly #lock: WriterLock | undefined;
  #closed = false;
  readonly #selectLast: Statement;
  readonly #insert: Statement;
  readonly #update: Statement;
  readonly #ping: Statement;
  readonly #allocateBatch: (requests: readonly AllocationRequest[]) => AllocationOutcome[];

  private constructor(path: string, db: Database.Database, lock: WriterLock | undefined) {
    this.location = `sqlite:${path}`;
    this.#db = db;
    this.#lock = lock;
    this.#selectLast = db.prepare('SELECT last_value FROM sequences WHERE name = ?').pluck().safeIntegers(true);
    this.#ping = db.prepare('SELECT count(*) FROM sqlite_schema').pluck();
    if (lock === undefined) {
      // Read-only: the writing statements are never prepared.
      this.#insert = this.#update = this.#ping;
      this.#allocateBatch = () => {
        throw new Error('this store was opened read-only');
      };
      return;
    }
    this.#insert = db.prepare('INSERT INTO sequences (name, last_value, created_at, updated_at) VALUES (?, ?, ?, ?)');
    this.#update = db.prepare('UPDATE sequences SET last_value = ?, updated_at = ? WHERE name = ?');
    // Reading then writing is atomic here: this process holds the writer lock
    // and the transaction is BEGIN IMMEDIATE. Computing in bigint before the
    // write keeps SQLite's integer overflow (which yields a float) out of play.
    const batch = db.transaction((requests: readonly AllocationRequest[]) => {
      const now = Date.now();
      const lastValues = new Map<string, { value: bigint; isNew: boolean; changed: boolean }>();
      const outcomes = requests.map((request) => {
        let state = lastValues.get(request.name);
        if (state === undefined) {
          const stored = this.#selectLast.get(request.name) as bigint | undefined;
          state = { value: stored ?? INITIAL_LAST_VALUE, isNew: stored === undefined, changed: false };
          lastValues.set(request.name, state);
        }
        const outcome = allocateAfter(state.value, request.count);
        if (outcome.ok) {
          state.value = outcome.last;
          state.changed = true;
        }
        return outcome;
      });
      for (const [name, state] of lastValues) {
        if (!state.changed) continue;
        if (state.isNew) this.#insert.run(name, state.value, now, now);
        else this.#update.run(state.value, now, name);
      }
      return outcomes;
    });
    this.#allocateBatch = (requests) => batch.immediate(requests);
  }

  /** Opens (in write mode, creating and upgrading) the store at `path`; see SqliteStoreOptions. */
  static open(path: string, options: SqliteStoreOptions): SqliteStore {
    if (options.mode === 'read') return new SqliteStore(path, openChecked(path, 'read'), undefined);
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (error) {
      throw new StoreOpenError(`Cannot create the folder for the store ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    // The lock comes first: a second writer is refused at once, before any
    // (possibly long) integrity check of a large store.
    const lock = WriterLock.acquire(path);
    let db: Database.Database | undefined;
    try {
      db = openChecked(path, 'write');
      const journal = db.pragma('journal_mode = WAL', { simple: true }) as string;
      if (journal !== 'wal') throw new StoreOpenError(`The store ${path} cannot use WAL mode (got ${journal}).`);
      db.pragma('synchronous = FULL');
      migrate(db);
      return new SqliteStore(path, db, lock);
    } catch (error) {
      db?.close();
      lock.release();
      if (error instanceof StoreOpenError) throw error;
      throw new StoreOpenError(`Cannot prepare the store ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  allocate(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> {
    return settle(() => this.#allocateBatch(requests));
  }

  importLastValues(entries: ReadonlyMap<string, bigint>): Promise<ImportSummary> {
    const run = this.#db.transaction(() => {
      const now = Date.now();
      let created = 0;
      let raised = 0;
      let unchanged = 0;
      for (const [name, value] of entries) {
        const stored = this.#selectLast.get(name) as bigint | undefined;
        if (stored === undefined) {
          this.#insert.run(name, value, now, now);
          created += 1;
        } else if (stored < value) {
          this.#update.run(value, now, name);
          raised += 1;
        } else {
          unchanged += 1;
        }
      }
      return { created, raised, unchanged };
    });
    return settle(() => run.immediate());
  }

  // better-sqlite3 reads synchronously; the contract is async for network stores.
  // eslint-disable-next-line @typescript-eslint/require-await
  async *exportLastValues(): AsyncIterable<readonly [string, bigint]> {
    const rows = this.#db
      .prepare('SELECT name, last_value FROM sequences ORDER BY name')
      .raw(true)
      .safeIntegers(true)
      .iterate() as IterableIterator<[string, bigint]>;
    for (const [name, lastValue] of rows) yield [name, lastValue] as const;
  }

  ping(): Promise<void> {
    return settle(() => {
      this.#ping.get();
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
      this.#lock?.release();
    }
    return Promise.resolve();
  }
}
