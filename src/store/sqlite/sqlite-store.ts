import type Database from 'better-sqlite3';
import { heldOf, planImport, type ImportEntry } from '../../core/import-rules.js';
import {
  allocate,
  DEFAULT_OPTIONS,
  firstUseState,
  initialPosition,
  reserve,
  widen,
  type IssuedRange,
  type SequenceOptions,
  type SequencePosition,
  type SequenceState,
} from '../../core/sequence.js';
import { BlockCache, takeFromBlock, type Block } from '../../core/block-cache.js';
import {
  type AllocationOutcome,
  type AllocationRequest,
  type ImportSummary,
  type ListQuery,
  type SequenceRecord,
  type SequenceStore,
  type SequenceWrite,
} from '../../core/store.js';
import { openChecked } from './open.js';
import type { TokenStore } from '../../tokens/token-store.js';
import type { StoreFileGuard } from './file-guard.js';
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
}


const COLUMNS =
  'name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, issued_low, issued_high, created_at, updated_at, deleted_at';

type Row = [
  string,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint,
  bigint | null,
  bigint | null,
  bigint,
  bigint,
  bigint | null,
];

function toRecord(row: Row): SequenceRecord {
  const [name, lastValue, isCalled, start, increment, minValue, maxValue, cycle, cache, low, high, createdAt, updatedAt, deletedAt] = row;
  return {
    name,
    options: { start, increment, minValue, maxValue, cycle: cycle !== 0n, cache },
    position: { lastValue, isCalled: isCalled !== 0n },
    issued: low === null || high === null ? undefined : { low, high },
    createdAt: Number(createdAt),
    updatedAt: Number(updatedAt),
    deletedAt: deletedAt === null ? undefined : Number(deletedAt),
  };
}

/** The columns last_value … issued_high, in the order of COLUMNS. */
function stateParams(options: SequenceOptions, position: SequencePosition, issued: IssuedRange | undefined): (bigint | number | null)[] {
  return [
    position.lastValue,
    position.isCalled ? 1 : 0,
    options.start,
    options.increment,
    options.minValue,
    options.maxValue,
    options.cycle ? 1 : 0,
    options.cache,
    issued?.low ?? null,
    issued?.high ?? null,
  ];
}

/** A batch's view of a sequence, always built here with one shape (the allocation loop reads it per request). */
function workingState(state: SequenceState, write: Working['write'], changed: boolean, block: Block | undefined): Working {
  return { options: state.options, position: state.position, issued: state.issued, write, changed, block };
}

/** A sequence as one batch sees it: read once, written once at the end. */
interface Working {
  options: SequenceOptions;
  position: SequencePosition;
  issued: IssuedRange | undefined;
  /** How the batch writes it: a new row, a tombstone made live again, or the position of a live one. */
  readonly write: 'insert' | 'revive' | 'position';
  changed: boolean;
  /** The staged block of a cached sequence; becomes the cached one only after the commit. */
  block: Block | undefined;
}

type AllocateBatch = (requests: readonly AllocationRequest[]) => {
  outcomes: AllocationOutcome[];
  staged: [string, Block][];
};

interface PriorKey {
  readonly requestCount: bigint | null;
  readonly first: bigint;
  readonly last: bigint;
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
  readonly #blocks = new BlockCache();
  #closed = false;

  private constructor(path: string, db: Database.Database, writable?: { lock: WriterLock; guard: StoreFileGuard }) {
    this.location = `sqlite:${path}`;
    this.#db = db;
    this.#lock = writable?.lock;
    this.#files = writable?.guard;
    this.tokens = new SqliteTokens(db, (work) => this.#write(work));
  }

  /** Opens (in write mode, creating and upgrading) the store at `path`; see SqliteStoreOptions. */
  static open(path: string, options: SqliteStoreOptions): SqliteStore {
    if (options.mode === 'read') return new SqliteStore(path, openChecked(path, 'read'));
    const { db, lock, guard } = openWritable(path);
    return new SqliteStore(path, db, { lock, guard });
  }

  #transaction: Database.Transaction<(work: () => unknown) => unknown> | undefined;

  /**
   * Every write: the files checked first (file-guard.ts), `work` committed
   * in one transaction (BEGIN IMMEDIATE), then the WAL checked again (and
   * checkpointed once long enough).
   */
  #write<T>(work: () => T): T {
    this.#files?.check();
    this.#transaction ??= this.#db.transaction((inner: () => unknown) => inner());
    const result = this.#transaction.immediate(work) as T;
    this.#files?.committed();
    return result;
  }

  // Statements are prepared on first use: a read-only store never prepares the writing ones.
  readonly #statements = new Map<string, Database.Statement>();
  #sql(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql).safeIntegers(true);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** The row under `name`, a tombstone included (`deletedAt` set). */
  #read(name: string): SequenceRecord | undefined {
    const row = this.#sql(`SELECT ${COLUMNS} FROM sequences WHERE name = ?`).raw(true).get(name) as Row | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  #insert(name: string, options: SequenceOptions, position: SequencePosition, issued: IssuedRange | undefined, now: number, deletedAt: number | null = null): void {
    this.#sql(`INSERT INTO sequences (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      name,
      ...stateParams(options, position, issued),
      now,
      now,
      deletedAt,
    );
  }

  #updatePosition(name: string, position: SequencePosition, issued: IssuedRange | undefined, now: number): void {
    this.#sql('UPDATE sequences SET last_value = ?, is_called = ?, issued_low = ?, issued_high = ?, updated_at = ? WHERE name = ?').run(
      position.lastValue,
      position.isCalled ? 1 : 0,
      issued?.low ?? null,
      issued?.high ?? null,
      now,
      name,
    );
  }

  /** Writes a whole live sequence over the row; over a tombstone, the sequence is created anew. */
  #updateAll(name: string, options: SequenceOptions, position: SequencePosition, issued: IssuedRange | undefined, now: number, revive: boolean): void {
    this.#sql(
      `UPDATE sequences SET last_value = ?, is_called = ?, start_value = ?, increment = ?, min_value = ?,
         max_value = ?, cycle = ?, cache = ?, issued_low = ?, issued_high = ?, updated_at = ?,
         created_at = CASE WHEN ? THEN ? ELSE created_at END, deleted_at = NULL WHERE name = ?`,
    ).run(...stateParams(options, position, issued), now, revive ? 1 : 0, now, name);
  }

  /** Deletes a sequence's keys and makes its row a tombstone, or keeps the tombstone's marks up to date. */
  #bury(name: string, issued: IssuedRange | undefined, now: number): void {
    this.#sql('UPDATE sequences SET issued_low = ?, issued_high = ?, updated_at = ?, deleted_at = coalesce(deleted_at, ?) WHERE name = ?').run(
      issued?.low ?? null,
      issued?.high ?? null,
      now,
      now,
      name,
    );
    this.#sql('DELETE FROM idempotency_keys WHERE name = ?').run(name);
  }

  #priorKey(name: string, key: string): PriorKey | undefined {
    const row = this.#sql('SELECT request_count, first_value, last_value FROM idempotency_keys WHERE name = ? AND key = ?')
      .raw(true)
      .get(name, key) as [bigint | null, bigint, bigint] | undefined;
    return row === undefined ? undefined : { requestCount: row[0], first: row[1], last: row[2] };
  }

  // Reading then writing is atomic here: this process holds the writer lock and
  // every transaction is BEGIN IMMEDIATE. The arithmetic is bigint (sequence.ts),
  // checked before the write: SQLite's integer overflow (a float) never happens.
  readonly #allocateBatch: AllocateBatch = (requests) => {
    const now = Date.now();
    const working = new Map<string, Working | null>();
    const keys = new Map<string, PriorKey>();
    const outcomes = requests.map((request): AllocationOutcome => {
      const { name, count, idempotency } = request;
      // Keys are per sequence; a name cannot hold a newline (control character), so this joins them unambiguously.
      const keyId = idempotency === undefined ? undefined : `${name}\n${idempotency.key}`;
      if (idempotency !== undefined && keyId !== undefined) {
        const prior = keys.get(keyId) ?? this.#priorKey(name, idempotency.key);
        if (prior !== undefined) {
          return prior.requestCount === (idempotency.requestCount ?? null)
            ? { ok: true, first: prior.first, last: prior.last, replayed: true }
            : { ok: false, reason: 'key_reused' };
        }
      }
      let state = working.get(name);
      if (state === undefined) {
        const stored = this.#read(name);
        state =
          stored === undefined || stored.deletedAt !== undefined
            ? null
            : workingState(stored, 'position', false, this.#blocks.get(name));
        working.set(name, state);
        if (state === null && request.create) {
          // First use, or first use again after a delete: then it continues after the deleted one's values.
          state = workingState(firstUseState(stored?.issued), stored === undefined ? 'insert' : 'revive', true, undefined);
          working.set(name, state);
        }
      }
      if (state === null) return { ok: false, reason: 'not_found' };
      const taken = this.#take(state, count);
      if (taken === undefined) return { ok: false, reason: 'exhausted' };
      if (idempotency !== undefined && keyId !== undefined) {
        const record = { requestCount: idempotency.requestCount ?? null, first: taken.first, last: taken.last };
        keys.set(keyId, record);
        this.#sql(
          'INSERT INTO idempotency_keys (name, key, request_count, first_value, last_value, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        ).run(name, idempotency.key, record.requestCount, record.first, record.last, now);
      }
      return { ok: true, first: taken.first, last: taken.last, replayed: false };
    });
    const staged: [string, Block][] = [];
    for (const [name, state] of working) {
      if (state === null) continue;
      if (state.block !== undefined) staged.push([name, state.block]);
      if (!state.changed) continue;
      if (state.write === 'insert') this.#insert(name, state.options, state.position, state.issued, now);
      else if (state.write === 'revive') this.#updateAll(name, state.options, state.position, state.issued, now, true);
      else this.#updatePosition(name, state.position, state.issued, now);
    }
    return { outcomes, staged };
  };

  /** Takes values for one request: from the durable position, or for a cached sequence from its block. */
  #take(state: Working, count: bigint): { first: bigint; last: bigint } | undefined {
    if (state.options.cache === 1n) {
      const taken = allocate(state.position, state.options, count);
      if (!taken.ok) return undefined;
      state.position = taken.position;
      state.issued = widen(state.issued, taken.first, taken.last);
      state.changed = true;
      return taken;
    }
    const fromBlock = state.block === undefined ? undefined : takeFromBlock(state.block, count);
    if (fromBlock !== undefined) {
      state.block = fromBlock.rest;
      return fromBlock;
    }
    const reserved = reserve(state.position, state.options, count);
    if (!reserved.ok) return undefined;
    state.position = reserved.position;
    state.issued = widen(state.issued, reserved.first, reserved.last);
    state.changed = true;
    const taken = takeFromBlock({ options: state.options, next: reserved.first, last: reserved.last }, count);
    if (taken === undefined) throw new Error('a reserved block is smaller than the request it was reserved for');
    state.block = taken.rest;
    return taken;
  }

  allocate(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> {
    return settle(() => {
      const { outcomes, staged } = this.#write(() => this.#allocateBatch(requests));
      // Blocks reserved by the batch are used only now that their reservation is durable.
      for (const [name, block] of staged) this.#blocks.set(name, block);
      return outcomes;
    });
  }

  getSequence(name: string): Promise<SequenceRecord | undefined> {
    return settle(() => {
      const record = this.#read(name);
      return record?.deletedAt === undefined ? record : undefined;
    });
  }

  listSequences(query: ListQuery): Promise<SequenceRecord[]> {
    return settle(() => {
      // Keyset pagination over the primary key: a range scan, fast at any depth.
      const useAfter = query.after !== undefined && query.after >= query.prefix;
      const lower = useAfter ? 'name > ?' : 'name >= ?';
      const upper = prefixEnd(query.prefix);
      const live = query.deleted === true ? 'deleted_at IS NOT NULL' : 'deleted_at IS NULL';
      const sql = `SELECT ${COLUMNS} FROM sequences WHERE ${lower}${upper === undefined ? '' : ' AND name < ?'} AND ${live} ORDER BY name LIMIT ?`;
      const params: unknown[] = [useAfter ? query.after : query.prefix];
      if (upper !== undefined) params.push(upper);
      params.push(query.limit);
      return (this.#sql(sql).raw(true).all(...params) as Row[]).map(toRecord);
    });
  }

  modifySequence<T>(
    name: string,
    decide: (current: SequenceRecord | undefined) => { readonly write: SequenceWrite; readonly result: T },
  ): Promise<T> {
    return settle(() => {
      // The in-memory block goes first: dropping it can only skip values.
      this.#blocks.delete(name);
      return this.#write(() => {
        const current = this.#read(name);
        const { write, result } = decide(current);
        this.#apply(name, current, write);
        return result;
      });
    });
  }

  #apply(name: string, current: SequenceRecord | undefined, write: SequenceWrite): void {
    const now = Date.now();
    if (write.kind === 'put') {
      if (current === undefined) this.#insert(name, write.options, write.position, write.issued, now);
      else this.#updateAll(name, write.options, write.position, write.issued, now, current.deletedAt !== undefined);
    } else if (write.kind === 'delete' && current !== undefined) {
      this.#bury(name, write.tombstone, now);
    } else if (write.kind === 'forget') {
      this.#sql('DELETE FROM sequences WHERE name = ?').run(name);
      this.#sql('DELETE FROM idempotency_keys WHERE name = ?').run(name);
    }
  }

  purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    return settle(() =>
      this.#write(
        () =>
          this.#sql(
            'DELETE FROM idempotency_keys WHERE (name, key) IN (SELECT name, key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)',
          ).run(before, limit).changes,
      ),
    );
  }

  importSequences(entries: readonly ImportEntry[]): Promise<ImportSummary> {
    return this.#import(entries);
  }

  /** Both import formats: one transaction, decided by the import rules (import-rules.ts), all or nothing. */
  #import(entries: readonly ImportEntry[]): Promise<ImportSummary> {
    const run = () => {
      const now = Date.now();
      const rows = new Map(entries.map(({ name }) => [name, this.#read(name)]));
      const { writes, summary } = planImport(entries, (name) => heldOf(rows.get(name)));
      for (const { name, decision } of writes) {
        const held = rows.get(name);
        this.#blocks.delete(name);
        if (decision.kind === 'deleted') {
          if (held === undefined) this.#insert(name, DEFAULT_OPTIONS, initialPosition(DEFAULT_OPTIONS), decision.issued, now, now);
          else this.#bury(name, decision.issued, now);
        } else {
          const { options, position, issued } = decision.state;
          if (held === undefined) this.#insert(name, options, position, issued, now);
          else this.#updateAll(name, options, position, issued, now, held.deletedAt !== undefined);
        }
      }
      return summary;
    };
    return settle(() => this.#write(run));
  }

  ping(): Promise<void> {
    return settle(() => {
      this.#files?.checkAll();
      this.#sql('SELECT count(*) FROM sqlite_schema').get();
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
      this.#files?.closing();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#db.close();
      // Only now: closing the guard's descriptors earlier would drop SQLite's locks on the files.
      this.#files?.closeFiles();
      this.#lock?.release();
    }
  }
}

/**
 * The least string greater than every string starting with `prefix` (UTF-8
 * byte order is code point order): its last code point plus one, or
 * undefined when every string starting with `prefix` is unbounded above.
 */
export function prefixEnd(prefix: string): string | undefined {
  // Array.from splits by code point (never inside a surrogate pair), which is what is wanted here.
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = (points.pop() as string).codePointAt(0) as number;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return points.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}
