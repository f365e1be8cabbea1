import type pg from 'pg';
import { keyId, replayOrRefuse, answerOf } from '../../core/idempotency.js';
import type { ImportEntry } from '../../core/import-rules.js';
import { hasLabels } from '../../core/periodic.js';
import { firstUseState } from '../../core/sequence.js';
import type { GaplessImport, ValueView } from '../../core/gapless.js';
import {
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
import { groupByName, type Outcomes, type Slot, type Taken } from './batch.js';
import { CachedBlocks } from './cached.js';
import { allocateCoalesced } from './coalesced.js';
import { createPool, inTransaction, redactUrl, type PostgresSettings } from './connection.js';
import { reportingFaults } from './faults.js';
import { listValues, readGapless } from './gapless-reads.js';
import { summarizedRecord, summarizedSelect, toSummarized, type SummarizedRow } from './gapless.js';
import { applyImport } from './imports.js';
import { recordedAnswers, recordKeys } from './keys.js';
import { takeLocked } from './locked.js';
import { PostgresTokens } from './postgres-tokens.js';
import { reserveLocked, settleAll } from './reservations.js';
import { burySequence, clearGapless, DEFAULT_CLOCK, forgetSequence, insertSequence, KEYS, lockRow, replaceSequence, withoutVersion } from './rows.js';
import { prepareSchema } from './schema.js';

/**
 * Many stateless instances on one PostgreSQL database. cache = 1: the
 * requests of a batch become one statement for all their sequences
 * (coalesced.ts), committed before any answer. cache > 1: blocks reserved in
 * one statement and served from memory (cached.ts). The rare rest (a
 * sequence to create, one at its bound or cycling, a gapless one:
 * reservations.ts, one with periods or a format, cached or not: locked.ts)
 * sequence by sequence with its row locked. So each sequence's values are taken atomically, but a
 * batch is not one transaction: its sequences commit separately.
 */
export class PostgresStore implements SequenceStore {
  readonly location: string;
  readonly tokens: TokenStore;
  readonly #pool: pg.Pool;
  readonly #blocks: CachedBlocks;
  /** The database clock that decides periods and leases: a timestamptz SQL expression. */
  readonly #clock: string;
  #closed = false;

  private constructor(settings: PostgresSettings, pool: pg.Pool, clock: string) {
    this.location = redactUrl(settings.url);
    this.#pool = pool;
    this.#clock = clock;
    this.#blocks = new CachedBlocks(pool);
    this.tokens = new PostgresTokens(pool);
  }

  /**
   * Connects, checks the schema version and applies missing migrations (unless
   * `migrate` is false). Fails with a StoreOpenError naming the (redacted) URL.
   * `clock` is for tests only: a timestamptz SQL expression read in place of
   * `clock_timestamp()` (periods, leases), e.g. from a table the test sets.
   */
  static async open(
    settings: PostgresSettings,
    options: { readonly migrate: boolean; readonly onIdleError?: (error: Error) => void; readonly clock?: string } = { migrate: true },
  ): Promise<PostgresStore> {
    const pool = createPool(settings, options.onIdleError ?? (() => undefined));
    const store = new PostgresStore(settings, pool, options.clock ?? DEFAULT_CLOCK);
    try {
      await prepareSchema(pool, store.location, options.migrate);
      return store;
    } catch (error) {
      await pool.end().catch(() => undefined);
      if (error instanceof StoreOpenError) throw error;
      throw new StoreOpenError(`Cannot use the PostgreSQL store ${store.location}: ${(error as Error).message}`, { cause: error });
    }
  }

  allocateBatch(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> {
    return reportingFaults(this.#allocate(requests));
  }

  async #allocate(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> {
    const outcomes: Outcomes = new Array<AllocationOutcome | undefined>(requests.length);
    // Idempotency keys: known ones replay (or are refused); a key repeated in the batch follows its first occurrence.
    const keyed = requests.flatMap((request, index) => (request.idempotency === undefined ? [] : [{ index, request }]));
    const firstWithKey = new Map<string, Slot>();
    const followers: Slot[] = [];
    if (keyed.length > 0) {
      const recorded = await recordedAnswers(this.#pool, keyed.map((slot) => slot.request));
      for (const slot of keyed) {
        const id = keyId(slot.request);
        const known = recorded.get(id);
        if (known !== undefined) outcomes[slot.index] = replayOrRefuse(known, slot.request);
        else if (firstWithKey.has(id)) followers.push(slot);
        else firstWithKey.set(id, slot);
      }
    }
    const following = new Set(followers.map((slot) => slot.index));
    const pending: Slot[] = [];
    requests.forEach((request, index) => {
      if (outcomes[index] === undefined && !following.has(index)) pending.push({ index, request });
    });

    await this.#allocatePending(pending, outcomes);

    for (const follower of followers) {
      const leader = firstWithKey.get(keyId(follower.request)) as Slot;
      const answer = outcomes[leader.index];
      outcomes[follower.index] =
        answer?.ok === true
          ? replayOrRefuse(answerOf(leader.request, answer.first, answer.last, answer.grant, answer.labels), follower.request)
          : await this.#allocateOne(follower);
    }
    return outcomes.map((outcome) => {
      if (outcome === undefined) throw new Error('a request of the batch got no outcome');
      return outcome;
    });
  }

  async #allocateOne(slot: Slot): Promise<AllocationOutcome> {
    const outcomes: Outcomes = [];
    await this.#allocatePending([{ index: 0, request: slot.request }], outcomes);
    return outcomes[0] as AllocationOutcome;
  }

  /** Each sequence of the batch by its path: this instance's blocks, the coalesced statement, else locked. */
  async #allocatePending(pending: readonly Slot[], outcomes: Outcomes): Promise<void> {
    if (pending.length === 0) return;
    const groups = groupByName(pending);
    const cached = [...groups.keys()].filter((name) => this.#blocks.has(name));
    const coalesced = new Map([...groups].filter(([name]) => !this.#blocks.has(name)));
    const leftovers = coalesced.size === 0 ? [] : await allocateCoalesced(this.#pool, coalesced, outcomes);
    for (const leftover of leftovers) {
      const group = groups.get(leftover.name) ?? [];
      if (leftover.found && leftover.cache > 1n && !leftover.labeled) cached.push(leftover.name);
      else await this.#allocateLocked(leftover.name, group, outcomes);
    }
    for (const name of cached) await this.#allocateCached(name, groups.get(name) ?? [], outcomes);
  }

  /**
   * The rare cases, sequence by sequence, with the row locked: a missing or
   * deleted sequence (created with defaults), a batch at the bound, a cycle,
   * a gapless sequence, a sequence with periods or a format (cache or not:
   * its period is decided with the row locked, by the database's clock).
   */
  async #allocateLocked(name: string, group: readonly Slot[], outcomes: Outcomes): Promise<void> {
    const cachedNow = await inTransaction(this.#pool, async (client) => {
      let record = await lockRow(client, name);
      if (record === undefined || record.deletedAt !== undefined) {
        if (!group.some((slot) => slot.request.create)) {
          for (const slot of group) outcomes[slot.index] = { ok: false, reason: 'not_found' };
          return false;
        }
        // First use, or first use again after a delete (continuing after its values, the row
        // locked). Another instance may create it at the same moment: theirs or ours, the row is then locked below.
        const state = { ...firstUseState(record?.issued), seriesFirst: undefined, period: undefined };
        if (record === undefined) await insertSequence(client, name, state, { onConflict: 'ON CONFLICT (name) DO NOTHING' });
        else await replaceSequence(client, name, state);
        record = await lockRow(client, name);
        if (record === undefined) throw new Error(`sequence '${name}' vanished while being created`);
      }
      if (record.options.gapless) {
        await reserveLocked({ client, pool: this.#pool, clock: this.#clock }, record, group, outcomes);
        return false;
      }
      if (record.options.cache > 1n && !hasLabels(record.options, record.period)) return true;
      await takeLocked({ client, pool: this.#pool, clock: this.#clock }, record, group, outcomes);
      return false;
    });
    if (cachedNow) await this.#allocateCached(name, group, outcomes);
  }

  /** cache > 1: values from this instance's blocks, refilled (and prefetched) from the database. */
  async #allocateCached(name: string, group: readonly Slot[], outcomes: Outcomes): Promise<void> {
    const taken: Taken[] = [];
    for (const slot of group) {
      const values = await this.#blocks.take(name, slot.request);
      if ((values === 'not_found' && slot.request.create) || values === 'locked') {
        // Deleted meanwhile: created again, with its defaults, after its values. Or made gapless, or given periods or a format.
        await this.#allocateLocked(name, [slot], outcomes);
      } else if (values === 'not_found' || values === 'exhausted') {
        outcomes[slot.index] = { ok: false, reason: values };
      } else {
        outcomes[slot.index] = { ok: true, first: values.first, last: values.last, replayed: false, grant: undefined, tookExpired: false, labels: undefined };
        taken.push({ slot, ...values });
      }
    }
    await recordKeys(this.#pool, this.#pool, taken, outcomes);
  }

  settleBatch(requests: readonly SettleRequest[]): Promise<SettleOutcome[]> {
    return reportingFaults(settleAll(this.#pool, requests, this.#clock));
  }

  listValues(name: string, query: ValuesQuery): Promise<ValueView[] | undefined> {
    return reportingFaults(listValues(this.#pool, name, query, this.#clock));
  }

  readGapless(name: string): Promise<GaplessImport | undefined> {
    return reportingFaults(inTransaction(this.#pool, (client) => readGapless(client, name)));
  }

  /** The record, with a gapless sequence's summary at the database's now (gapless.ts). */
  getSequence(name: string): Promise<SequenceRecord | undefined> {
    return reportingFaults(
      this.#pool
        .query<SummarizedRow>(summarizedSelect('s.name = $1 AND s.deleted_at IS NULL', '', this.#clock), [name])
        .then(({ rows }) => (rows[0] === undefined ? undefined : withoutVersion(toSummarized(rows[0])))),
    );
  }

  listSequences(query: ListQuery): Promise<SequenceRecord[]> {
    const useAfter = query.after !== undefined && query.after >= query.prefix;
    return reportingFaults(
      this.#pool
        .query<SummarizedRow>(
          summarizedSelect(
            `${useAfter ? 's.name > $1' : 's.name >= $1'} AND starts_with(s.name, $2) AND s.deleted_at IS ${query.deleted === true ? 'NOT NULL' : 'NULL'}`,
            'ORDER BY s.name LIMIT $3',
            this.#clock,
          ),
          [useAfter ? query.after : query.prefix, query.prefix, query.limit],
        )
        .then(({ rows }) => rows.map((row) => withoutVersion(toSummarized(row)))),
    );
  }

  modifySequence<R>(
    name: string,
    decide: (current: SequenceRecord | undefined) => { readonly write: SequenceWrite; readonly result: R },
  ): Promise<R> {
    this.#blocks.drop(name);
    return reportingFaults(
      inTransaction(this.#pool, async (client) => {
        let current = await lockRow(client, name);
        // A live gapless sequence: its summary, read once the row is locked (no settlement in between).
        if (current?.options.gapless === true && current.deletedAt === undefined) current = await summarizedRecord(client, name, this.#clock);
        const { write, result } = decide(current === undefined ? undefined : withoutVersion(current));
        if (write.kind === 'put') {
          if (current === undefined) await insertSequence(client, name, write);
          else await replaceSequence(client, name, write);
          if (write.clearGapless) await clearGapless(client, name);
        } else if (write.kind === 'delete' && current !== undefined) await burySequence(client, name, write.tombstone);
        else if (write.kind === 'forget') await forgetSequence(client, name);
        return result;
      }),
    );
  }

  purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    return reportingFaults(
      this.#pool
        .query(
          `DELETE FROM ${KEYS} WHERE (name, key) IN
             (SELECT name, key FROM ${KEYS} WHERE created_at < to_timestamp($1::float8 / 1000) ORDER BY created_at LIMIT $2)`,
          [before, limit],
        )
        .then((result) => result.rowCount ?? 0),
    );
  }

  /** One transaction, the rows locked, decided by the import rules (core/import-rules.ts): all or nothing. */
  importSequences(entries: readonly ImportEntry[]): Promise<ImportSummary> {
    return reportingFaults(inTransaction(this.#pool, (client) => applyImport(client, entries, (name) => this.#blocks.drop(name))));
  }

  ping(): Promise<void> {
    return reportingFaults(this.#pool.query('SELECT 1').then(() => undefined));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#blocks.close();
    await this.#pool.end();
  }
}
