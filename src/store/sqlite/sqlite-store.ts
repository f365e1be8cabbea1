import type Database from 'better-sqlite3';
import { BlockCache } from '../../core/block-cache.js';
import { heldOf, planImport, type ImportEntry } from '../../core/import-rules.js';
import { DEFAULT_OPTIONS, initialPosition } from '../../core/sequence.js';
import type { GaplessImport, ValueView } from '../../core/gapless.js';
import {
  StoreLockedError,
  StoreOpenError,
  type AllocationOutcome,
  type AllocationRequest,
  type ImportSummary,
  type ListQuery,
  type SequenceRecord,
  type SequenceStore,
  type SequenceWrite,
  type SettleOutcome,
  type SettleRequest,
  type ValuesQuery,
} from '../../core/store.js';
import type { TokenStore } from '../../tokens/token-store.js';
import { AllocationLog } from './allocation-log.js';
import { settleIn } from './gapless-batch.js';
import { GaplessRows } from './gapless-rows.js';
import { serveBatch } from './serve-batch.js';
import type { StoreFileGuard } from './file-guard.js';
import { LATEST_SCHEMA_VERSION } from './migrations.js';
import { openChecked } from './open.js';
import { SequenceRows } from './rows.js';
import { settle } from './settle.js';
import { SqliteTokens } from './sqlite-tokens.js';
import { openWritable } from './writable.js';
import type { WriterLock } from './writer-lock.js';

export interface SqliteStoreOptions {
  /**
   * `write` (serve, import): takes the writer lock, creates the file and its
   * folders if no store was ever there, checks the files and applies
   * migrations (writable.ts). `read` (export): opens an existing store
   * read-only, beside a running server.
   */
  readonly mode: 'write' | 'read';
  /** The store's clock for gapless leases, ms since the epoch (tests inject one); default Date.now. */
  readonly clock?: () => number;
}

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a
 * commit returns only after the WAL is fsynced. All allocations of a batch
 * share one transaction, hence one fsync.
 */
export class SqliteStore implements SequenceStore {
  readonly location: string;
  readonly tokens: TokenStore;
  readonly #db: Database.Database;
  readonly #lock: WriterLock | undefined;
  /** Set in write mode: every write transaction first checks the files are still the ones opened. */
  readonly #files: StoreFileGuard | undefined;
  readonly #rows: SequenceRows;
  /** The allocation log and its overlay (allocation-log.ts), read before the table. */
  readonly #log: AllocationLog;
  readonly #gapless: GaplessRows;
  readonly #blocks = new BlockCache();
  readonly #now: () => number;
  #closed = false;

  private constructor(path: string, db: Database.Database, clock: (() => number) | undefined, writable?: { lock: WriterLock; guard: StoreFileGuard }) {
    this.location = `sqlite:${path}`;
    this.#db = db;
    this.#lock = writable?.lock;
    this.#files = writable?.guard;
    this.#log = new AllocationLog(db);
    this.#rows = new SequenceRows(db, this.#log);
    this.#gapless = new GaplessRows(db);
    this.#now = clock ?? Date.now;
    this.tokens = new SqliteTokens(db, (work) => this.#write(work));
  }

  /** Opens (in write mode, creating and upgrading) the store at `path`; see SqliteStoreOptions. */
  static open(path: string, options: SqliteStoreOptions): SqliteStore {
    if (options.mode === 'read') {
      const store = new SqliteStore(path, openChecked(path, 'read'), options.clock);
      return store.#opened(path, () => store.#log.load(path));
    }
    const { db, lock, guard } = openWritable(path);
    const store = new SqliteStore(path, db, options.clock, { lock, guard });
    // Replay: the log a crash left is read and checked before the first request, into the overlay; it is
    // folded by a pass once due, as if this process had logged it (a fold here would write a page per name at start).
    return store.#opened(path, () => store.#log.load(path));
  }

  /** The store once `prepare` succeeded; if it throws, the store is closed (its lock released) and the error goes on. */
  #opened(path: string, prepare: () => void): this {
    try {
      prepare();
      return this;
    } catch (error) {
      // Closed as close() does, recorded as stopped cleanly (everything is in the database file), but never folded:
      // the overlay may hold part of a damaged log.
      this.#closed = true;
      try {
        this.#files?.closing();
      } finally {
        this.#release();
      }
      if (error instanceof StoreOpenError) throw error;
      throw new StoreOpenError(`Cannot replay the allocation log of the store ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Closes SQLite's connection, then the guard's descriptors (closing one earlier would drop SQLite's locks on its file), then releases the writer lock. */
  #release(): void {
    this.#db.close();
    this.#files?.closeFiles();
    this.#lock?.release();
  }

  /**
   * The token table of the store at `path`, for `token create|list|revoke`,
   * which work while a server runs on the store. A store whose writer lock is
   * free is opened as `import` opens it (created and migrated if need be);
   * one held by a server gets a second connection: tokens live in their own
   * table, and SQLite's locking orders the two writers. That connection never
   * checkpoints: only the server does, checked and recorded (file-guard.ts).
   */
  static openTokens(path: string): { readonly tokens: TokenStore; close(): Promise<void> } {
    try {
      return SqliteStore.open(path, { mode: 'write' });
    } catch (error) {
      if (!(error instanceof StoreLockedError)) throw error;
    }
    const db = openChecked(path, 'write');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== LATEST_SCHEMA_VERSION) {
      db.close();
      throw new StoreOpenError(
        `The store ${path} is served by a take-a-number with schema version ${version}; this one needs ` +
          `${LATEST_SCHEMA_VERSION}. Upgrade the server first (it migrates the store at start).`,
      );
    }
    db.pragma('busy_timeout = 5000');
    db.pragma('wal_autocheckpoint = 0');
    const transaction = db.transaction((work: () => unknown) => work());
    return {
      tokens: new SqliteTokens(db, <T>(work: () => T) => transaction.immediate(work) as T),
      close: () => {
        db.close();
        return Promise.resolve();
      },
    };
  }

  #transaction: Database.Transaction<(work: () => unknown) => unknown> | undefined;

  /**
   * Every write: the files checked first (file-guard.ts), `work` committed
   * in one transaction (BEGIN IMMEDIATE), then the WAL checked again (and
   * checkpointed once long enough).
   */
  #write<T>(work: () => T, onCommit?: (result: T) => void): T {
    this.#files?.check();
    this.#transaction ??= this.#db.transaction((inner: () => unknown) => inner());
    const result = this.#transaction.immediate(work) as T;
    // Before the WAL's check, which may throw: what is committed is what reads must see.
    onCommit?.(result);
    this.#files?.committed();
    return result;
  }

  /** `work` in a transaction that first folds the allocation log: admin writes see, and write over, the table alone. */
  #writeFolded<T>(work: () => T): T {
    return this.#write(
      () => {
        this.#log.fold(this.#rows);
        return work();
      },
      () => this.#log.folded(),
    );
  }

  allocateBatch(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> {
    return settle(() => {
      const { outcomes, staged } = this.#write(
        () => {
          const result = serveBatch(this.#rows, this.#gapless, this.#blocks, requests, this.#now());
          this.#log.append(result.logged);
          // The running fold pass's next chunk, in this transaction (no commit of its own: no fsync of its own).
          return { ...result, step: this.#log.step(this.#rows, result.logged.length) };
        },
        ({ logged, step }) => this.#log.committed(logged, step),
      );
      // Blocks reserved by the batch are used only now that their reservation is durable.
      // A sequence that entered a new period drops its block (undefined): it was reserved in the old one.
      for (const [name, block] of staged) {
        if (block === undefined) this.#blocks.delete(name);
        else this.#blocks.set(name, block);
      }
      return outcomes;
    });
  }

  /**
   * The fold at a clean close: every answer is durable already, so a fold
   * that fails (a full disk) is left for the next open, which replays the
   * log; the log still holds every row.
   */
  #foldQuietly(): void {
    try {
      // A transaction of its own, which only folds.
      this.#writeFolded(() => undefined);
    } catch {
      // Nothing lost: see above.
    }
  }

  settleBatch(requests: readonly SettleRequest[]): Promise<SettleOutcome[]> {
    return settle(() => {
      const now = this.#now();
      return this.#write(() => requests.map((request) => settleIn(this.#rows, this.#gapless, request, now)));
    });
  }

  listValues(name: string, query: ValuesQuery): Promise<ValueView[] | undefined> {
    return settle(() => {
      const record = this.#rows.read(name);
      if (record === undefined || record.deletedAt !== undefined) return undefined;
      return record.options.gapless ? this.#gapless.list(name, query, this.#now()) : [];
    });
  }

  readGapless(name: string): Promise<GaplessImport | undefined> {
    return settle(() => {
      const record = this.#rows.read(name);
      return record?.deletedAt === undefined && record?.options.gapless === true ? this.#gapless.read(record) : undefined;
    });
  }

  getSequence(name: string): Promise<SequenceRecord | undefined> {
    return settle(() => {
      const record = this.#rows.read(name);
      return record?.deletedAt === undefined ? this.#withSummary(record) : undefined;
    });
  }

  listSequences(query: ListQuery): Promise<SequenceRecord[]> {
    return settle(() => this.#rows.list(query).map((record) => this.#withSummary(record) as SequenceRecord));
  }

  /** A live gapless sequence's record with its counts and unbroken prefix at now. */
  #withSummary(record: SequenceRecord | undefined): SequenceRecord | undefined {
    if (record?.options.gapless !== true || record.deletedAt !== undefined) return record;
    return { ...record, gapless: this.#gapless.summary(record, this.#now()) };
  }

  modifySequence<T>(
    name: string,
    decide: (current: SequenceRecord | undefined) => { readonly write: SequenceWrite; readonly result: T },
  ): Promise<T> {
    return settle(() => {
      // The in-memory block goes first: dropping it can only skip values.
      this.#blocks.delete(name);
      return this.#writeFolded(() => {
        const current = this.#withSummary(this.#rows.read(name));
        const { write, result } = decide(current);
        this.#apply(name, current, write);
        return result;
      });
    });
  }

  #apply(name: string, current: SequenceRecord | undefined, write: SequenceWrite): void {
    const now = this.#now();
    if (write.kind === 'put' && current === undefined) this.#rows.insert(name, write, now, null, write);
    else if (write.kind === 'put') this.#rows.replace(name, write, now, current?.deletedAt !== undefined, write);
    else if (write.kind === 'delete' && current !== undefined) this.#rows.bury(name, write.tombstone, now);
    else if (write.kind === 'forget') this.#rows.forget(name);
    if ((write.kind === 'put' && write.clearGapless) || write.kind === 'delete' || write.kind === 'forget') this.#gapless.clear(name);
  }

  purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    return settle(() => this.#write(() => this.#rows.purgeKeys(before, limit)));
  }

  /** One transaction, decided by the import rules (core/import-rules.ts): all or nothing. */
  importSequences(entries: readonly ImportEntry[]): Promise<ImportSummary> {
    const run = (): ImportSummary => {
      const now = this.#now();
      const held = new Map(entries.map(({ name }) => [name, this.#rows.read(name)]));
      const { writes, summary } = planImport(entries, (name) => heldOf(held.get(name)));
      for (const { name, decision } of writes) {
        const row = held.get(name);
        this.#blocks.delete(name);
        if (decision.kind === 'deleted') {
          const tombstone = { options: DEFAULT_OPTIONS, position: initialPosition(DEFAULT_OPTIONS), issued: decision.issued };
          if (row === undefined) this.#rows.insert(name, tombstone, now, now);
          else this.#rows.bury(name, decision.issued, now);
        } else {
          // A gapless entry brings its series; any other write keeps the held one's first value while it stays gapless.
          const seriesFirst = decision.kind === 'widened' || decision.gapless === undefined ? row?.seriesFirst : decision.gapless.seriesFirst;
          // The period the import rules chose (the file's, or the held one if later); widening keeps the held one.
          const period = decision.kind === 'widened' ? row?.period : decision.period;
          if (row === undefined) this.#rows.insert(name, decision.state, now, null, { seriesFirst, period });
          else this.#rows.replace(name, decision.state, now, row.deletedAt !== undefined, { seriesFirst: decision.state.options.gapless ? seriesFirst : undefined, period });
          if (decision.kind !== 'widened' && decision.gapless !== undefined) this.#gapless.write(name, decision.gapless);
        }
      }
      return summary;
    };
    return settle(() => this.#writeFolded(run));
  }

  ping(): Promise<void> {
    return settle(() => {
      this.#files?.checkAll();
      this.#rows.ping();
    });
  }

  /**
   * Closes the store: in write mode after a last checkpoint, recorded in the
   * lock file. Rejects if the store's files are found damaged only now (the
   * store is closed all the same; the next start refuses it).
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    try {
      // A clean close leaves the log empty; if this fold fails, the next open replays it.
      if (this.#files !== undefined) this.#foldQuietly();
      this.#files?.closing();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#release();
    }
  }
}
