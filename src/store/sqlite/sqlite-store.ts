import type Database from 'better-sqlite3';
import {
  allocate,
  DEFAULT_OPTIONS,
  importOver,
  lastIssued,
  seedState,
  initialPosition,
  reserve,
  type SequenceOptions,
  type SequencePosition,
} from '../../sequence.js';
import { BlockCache, takeFromBlock, type Block } from '../block-cache.js';
import {
  type AllocationOutcome,
  type AllocationRequest,
  type ImportedSequence,
  type ImportSummary,
  type ListQuery,
  type SequenceRecord,
  type SequenceStore,
  type SequenceWrite,
} from '../store.js';
import { openChecked } from './open.js';
import type { TokenStore } from '../token-store.js';
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
  'name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, created_at, updated_at';

type Row = [string, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];

function toRecord(row: Row): SequenceRecord {
  const [name, lastValue, isCalled, start, increment, minValue, maxValue, cycle, cache, createdAt, updatedAt] = row;
  return {
    name,
    options: { start, increment, minValue, maxValue, cycle: cycle !== 0n, cache },
    position: { lastValue, isCalled: isCalled !== 0n },
    createdAt: Number(createdAt),
    updatedAt: Number(updatedAt),
  };
}

/** The columns last_value … cache, in the order of COLUMNS. */
function stateParams(options: SequenceOptions, position: SequencePosition): (bigint | number)[] {
  return [
    position.lastValue,
    position.isCalled ? 1 : 0,
    options.start,
    options.increment,
    options.minValue,
    options.maxValue,
    options.cycle ? 1 : 0,
    options.cache,
  ];
}

/** A sequence as one batch sees it: read once, written once at the end. */
interface Working {
  options: SequenceOptions;
  position: SequencePosition;
  readonly isNew: boolean;
  changed: boolean;
  /** The staged block of a cached sequence; becomes the cached one only after the commit. */
  block: Block | undefined;
}

type AllocateBatch = (requests: readonly AllocationRequest[]) => {
  outcomes: AllocationOutcome[];
  staged: [string, Block][];
};

interface PriorKey {
  readonly name: string;
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

  #read(name: string): SequenceRecord | undefined {
    const row = this.#sql(`SELECT ${COLUMNS} FROM sequences WHERE name = ?`).raw(true).get(name) as Row | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  #insert(name: string, options: SequenceOptions, position: SequencePosition, now: number): void {
    this.#sql(`INSERT INTO sequences (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      name,
      ...stateParams(options, position),
      now,
      now,
    );
  }

  #updatePosition(name: string, position: SequencePosition, now: number): void {
    this.#sql('UPDATE sequences SET last_value = ?, is_called = ?, updated_at = ? WHERE name = ?').run(
      position.lastValue,
      position.isCalled ? 1 : 0,
      now,
      name,
    );
  }

  #updateAll(name: string, options: SequenceOptions, position: SequencePosition, now: number): void {
    this.#sql(
      `UPDATE sequences SET last_value = ?, is_called = ?, start_value = ?, increment = ?, min_value = ?,
         max_value = ?, cycle = ?, cache = ?, updated_at = ? WHERE name = ?`,
    ).run(...stateParams(options, position), now, name);
  }

  #priorKey(key: string): PriorKey | undefined {
    const row = this.#sql('SELECT name, request_count, first_value, last_value FROM idempotency_keys WHERE key = ?')
      .raw(true)
      .get(key) as [string, bigint | null, bigint, bigint] | undefined;
    return row === undefined ? undefined : { name: row[0], requestCount: row[1], first: row[2], last: row[3] };
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
      if (idempotency !== undefined) {
        const prior = keys.get(idempotency.key) ?? this.#priorKey(idempotency.key);
        if (prior !== undefined) {
          const same = prior.name === name && prior.requestCount === (idempotency.requestCount ?? null);
          return same ? { ok: true, first: prior.first, last: prior.last, replayed: true } : { ok: false, reason: 'key_reused' };
        }
      }
      let state = working.get(name);
      if (state === undefined) {
        const stored = this.#read(name);
        state =
          stored === undefined
            ? null
            : { options: stored.options, position: stored.position, isNew: false, changed: false, block: this.#blocks.get(name) };
        working.set(name, state);
      }
      if (state === null) {
        if (!request.create) return { ok: false, reason: 'not_found' };
        state = { options: DEFAULT_OPTIONS, position: initialPosition(DEFAULT_OPTIONS), isNew: true, changed: true, block: undefined };
        working.set(name, state);
      }
      const taken = this.#take(state, count);
      if (taken === undefined) return { ok: false, reason: 'exhausted' };
      if (idempotency !== undefined) {
        const record = { name, requestCount: idempotency.requestCount ?? null, first: taken.first, last: taken.last };
        keys.set(idempotency.key, record);
        this.#sql(
          'INSERT INTO idempotency_keys (key, name, request_count, first_value, last_value, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        ).run(idempotency.key, name, record.requestCount, record.first, record.last, now);
      }
      return { ok: true, first: taken.first, last: taken.last, replayed: false };
    });
    const staged: [string, Block][] = [];
    for (const [name, state] of working) {
      if (state === null) continue;
      if (state.block !== undefined) staged.push([name, state.block]);
      if (!state.changed) continue;
      if (state.isNew) this.#insert(name, state.options, state.position, now);
      else this.#updatePosition(name, state.position, now);
    }
    return { outcomes, staged };
  };

  /** Takes values for one request: from the durable position, or for a cached sequence from its block. */
  #take(state: Working, count: bigint): { first: bigint; last: bigint } | undefined {
    if (state.options.cache === 1n) {
      const taken = allocate(state.position, state.options, count);
      if (!taken.ok) return undefined;
      state.position = taken.position;
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
    return settle(() => this.#read(name));
  }

  listSequences(query: ListQuery): Promise<SequenceRecord[]> {
    return settle(() => {
      // Keyset pagination over the primary key: a range scan, fast at any depth.
      const useAfter = query.after !== undefined && query.after >= query.prefix;
      const lower = useAfter ? 'name > ?' : 'name >= ?';
      const upper = prefixEnd(query.prefix);
      const sql = `SELECT ${COLUMNS} FROM sequences WHERE ${lower}${upper === undefined ? '' : ' AND name < ?'} ORDER BY name LIMIT ?`;
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
      if (current === undefined) this.#insert(name, write.options, write.position, now);
      else this.#updateAll(name, write.options, write.position, now);
    } else if (write.kind === 'delete' && current !== undefined) {
      this.#sql('DELETE FROM sequences WHERE name = ?').run(name);
      this.#sql('DELETE FROM idempotency_keys WHERE name = ?').run(name);
    }
  }

  purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    return settle(() =>
      this.#write(
        () =>
          this.#sql(
            'DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)',
          ).run(before, limit).changes,
      ),
    );
  }

  importLastValues(entries: ReadonlyMap<string, bigint>): Promise<ImportSummary> {
    return this.#import(
      Array.from(entries, ([name, value]) => ({ name, ...seedState(value) })),
      true,
    );
  }

  importSequences(sequences: readonly ImportedSequence[]): Promise<ImportSummary> {
    return this.#import(sequences, false);
  }

  /** Both import formats: one transaction, each sequence created or moved forward (`importOver`). */
  #import(sequences: readonly ImportedSequence[], keepOptions: boolean): Promise<ImportSummary> {
    const run = () => {
      const now = Date.now();
      const summary = { created: 0, raised: 0, unchanged: 0 };
      for (const imported of sequences) {
        const held = this.#read(imported.name);
        const written = held === undefined ? imported : importOver(held, imported, keepOptions);
        if (written === undefined) {
          summary.unchanged += 1;
        } else if (held === undefined) {
          this.#insert(imported.name, written.options, written.position, now);
          summary.created += 1;
        } else {
          this.#updateAll(imported.name, written.options, written.position, now);
          this.#blocks.delete(imported.name);
          summary.raised += 1;
        }
      }
      return summary;
    };
    return settle(() => this.#write(run));
  }

  // better-sqlite3 reads synchronously; the contract is async for network stores.
  // eslint-disable-next-line @typescript-eslint/require-await
  async *exportLastValues(): AsyncIterable<readonly [string, bigint]> {
    const rows = this.#db
      .prepare('SELECT name, last_value, is_called, increment FROM sequences ORDER BY name')
      .raw(true)
      .safeIntegers(true)
      .iterate() as IterableIterator<[string, bigint, bigint, bigint]>;
    for (const [name, lastValue, isCalled, increment] of rows) {
      yield [name, lastIssued({ lastValue, isCalled: isCalled !== 0n }, increment)] as const;
    }
  }

  ping(): Promise<void> {
    return settle(() => {
      this.#files?.check();
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
