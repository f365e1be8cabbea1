import type pg from 'pg';
import { heldOf, planImport, type ImportEntry } from '../../core/import-rules.js';
import {
  allocate as allocateValues,
  DEFAULT_OPTIONS,
  firstUseState,
  initialPosition,
  reserve,
  widen,
  type IssuedRange,
  type SequenceOptions,
  type SequencePosition,
} from '../../core/sequence.js';
import { takeFromBlock, type Block } from '../../core/block-cache.js';
import {
  StoreOpenError,
  type AllocationOutcome,
  type AllocationRequest,
  type ImportSummary,
  type ListQuery,
  type SequenceRecord,
  type SequenceStore,
  type SequenceWrite,
} from '../../core/store.js';
import { promisedTables } from '../schema-tables.js';
import { createPool, redactUrl, type PostgresSettings } from './connection.js';
import { reportingFaults } from './faults.js';
import { LATEST_POSTGRES_VERSION, MIGRATION_LOCK_KEY, POSTGRES_MIGRATIONS } from './migrations.js';
import { PostgresTokens } from './postgres-tokens.js';
import type { TokenStore } from '../../tokens/token-store.js';

const T = 'takeanumber_sequences';
const K = 'takeanumber_idempotency_keys';

const RECORD_COLUMNS = `name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, version,
  issued_low, issued_high, (extract(epoch from created_at) * 1000)::int8 AS created_ms,
  (extract(epoch from updated_at) * 1000)::int8 AS updated_ms, (extract(epoch from deleted_at) * 1000)::int8 AS deleted_ms`;

interface RecordRow {
  name: string;
  last_value: string;
  is_called: boolean;
  start_value: string;
  increment: string;
  min_value: string;
  max_value: string;
  cycle: boolean;
  cache: string;
  version: string;
  issued_low: string | null;
  issued_high: string | null;
  created_ms: string;
  updated_ms: string;
  deleted_ms: string | null;
}

function toRecord(row: RecordRow): SequenceRecord & { version: bigint } {
  return {
    name: row.name,
    options: {
      start: BigInt(row.start_value),
      increment: BigInt(row.increment),
      minValue: BigInt(row.min_value),
      maxValue: BigInt(row.max_value),
      cycle: row.cycle,
      cache: BigInt(row.cache),
    },
    position: { lastValue: BigInt(row.last_value), isCalled: row.is_called },
    issued: row.issued_low === null || row.issued_high === null ? undefined : { low: BigInt(row.issued_low), high: BigInt(row.issued_high) },
    createdAt: Number(row.created_ms),
    updatedAt: Number(row.updated_ms),
    deletedAt: row.deleted_ms === null ? undefined : Number(row.deleted_ms),
    version: BigInt(row.version),
  };
}

const COLUMNS = 'name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, issued_low, issued_high';

/** Parameters $1 … $11, in the order of COLUMNS. */
const rowParams = (
  name: string,
  options: SequenceOptions,
  position: SequencePosition,
  issued: IssuedRange | undefined,
): (string | boolean | null)[] => [
  name,
  position.lastValue.toString(),
  position.isCalled,
  options.start.toString(),
  options.increment.toString(),
  options.minValue.toString(),
  options.maxValue.toString(),
  options.cycle,
  options.cache.toString(),
  issued?.low.toString() ?? null,
  issued?.high.toString() ?? null,
];

async function insertSequence(
  client: pg.PoolClient,
  name: string,
  state: { options: SequenceOptions; position: SequencePosition; issued: IssuedRange | undefined },
  { onConflict = '', deleted = false }: { onConflict?: string; deleted?: boolean } = {},
): Promise<void> {
  await client.query(
    `INSERT INTO ${T} (${COLUMNS}, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, ${deleted ? 'now()' : 'NULL'}) ${onConflict}`,
    rowParams(name, state.options, state.position, state.issued),
  );
}

/**
 * Writes new options, position and marks, and a new version: instances
 * holding cached blocks notice it at refill. Over a tombstone the sequence is
 * created anew (live again, a new creation time).
 */
async function replaceSequence(
  client: pg.PoolClient,
  name: string,
  state: { options: SequenceOptions; position: SequencePosition; issued: IssuedRange | undefined },
): Promise<void> {
  await client.query(
    `UPDATE ${T} SET last_value = $2, is_called = $3, start_value = $4, increment = $5, min_value = $6,
       max_value = $7, cycle = $8, cache = $9, issued_low = $10, issued_high = $11, version = nextval('takeanumber_versions'),
       updated_at = now(), created_at = CASE WHEN deleted_at IS NULL THEN created_at ELSE now() END, deleted_at = NULL
     WHERE name = $1`,
    rowParams(name, state.options, state.position, state.issued),
  );
}

/**
 * Makes the row a tombstone with these marks (or updates a tombstone's),
 * deleting the sequence's idempotency keys; a new version tells instances
 * holding its blocks.
 */
async function burySequence(client: pg.PoolClient, name: string, issued: IssuedRange | undefined): Promise<void> {
  await client.query(
    `UPDATE ${T} SET issued_low = $2, issued_high = $3, version = nextval('takeanumber_versions'), updated_at = now(),
       deleted_at = coalesce(deleted_at, now()) WHERE name = $1`,
    [name, issued?.low.toString() ?? null, issued?.high.toString() ?? null],
  );
  await client.query(`DELETE FROM ${K} WHERE name = $1`, [name]);
}

/** The last value after taking `total` values, in numeric (no 64-bit overflow), and whether it is within bounds. */
const ADVANCED = (total: string) =>
  `(CASE WHEN s.is_called THEN s.last_value + ${total} * s.increment ELSE s.last_value + (${total} - 1) * s.increment END)`;

/** The first value of a run that does not wrap: the next value (in numeric). */
const FIRST = '(CASE WHEN s.is_called THEN s.last_value::numeric + s.increment ELSE s.last_value END)';

/** The marks widened by the run FIRST … `last` (least and greatest ignore a NULL mark). */
const WIDENED = (last: string) =>
  `issued_low = least(s.issued_low, ${FIRST}, ${last})::bigint, issued_high = greatest(s.issued_high, ${FIRST}, ${last})::bigint`;

/** One request of a batch, with where its answer goes. */
interface Slot {
  readonly index: number;
  readonly request: AllocationRequest;
}

/** A recorded answer of an idempotency key. */
interface KeyRow {
  request_count: string | null;
  first_value: string;
  last_value: string;
}

/** A cached sequence's blocks on this instance (double buffering, as Leaf's segments). */
interface Segment {
  version: bigint;
  options: SequenceOptions;
  current: Block | undefined;
  next: Block | undefined;
  refilling: Promise<void> | undefined;
}

/**
 * Many stateless instances on one PostgreSQL database. cache = 1: the
 * requests of a batch become one statement for all their sequences, one
 * atomic `UPDATE … RETURNING` per sequence, committed before any answer.
 * cache > 1: blocks are reserved in one statement and served from memory,
 * the next one fetched in the background before the current runs out.
 */
export class PostgresStore implements SequenceStore {
  readonly location: string;
  readonly tokens: TokenStore;
  readonly #pool: pg.Pool;
  readonly #segments = new Map<string, Segment>();
  #closed = false;

  private constructor(settings: PostgresSettings, pool: pg.Pool) {
    this.location = redactUrl(settings.url);
    this.#pool = pool;
    this.tokens = new PostgresTokens(pool);
  }

  /**
   * Connects, checks the schema version and applies missing migrations (unless
   * `migrate` is false). Fails with a StoreOpenError naming the (redacted) URL.
   */
  static async open(
    settings: PostgresSettings,
    options: { readonly migrate: boolean; readonly onIdleError?: (error: Error) => void } = { migrate: true },
  ): Promise<PostgresStore> {
    const pool = createPool(settings, options.onIdleError ?? (() => undefined));
    const store = new PostgresStore(settings, pool);
    try {
      await store.#prepareSchema(options.migrate);
      return store;
    } catch (error) {
      await pool.end().catch(() => undefined);
      if (error instanceof StoreOpenError) throw error;
      throw new StoreOpenError(`Cannot use the PostgreSQL store ${store.location}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async #prepareSchema(migrate: boolean): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      // Instances starting together queue here; each migration runs once.
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS takeanumber_schema_migrations (version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM takeanumber_schema_migrations');
      const current = rows[0]?.version ?? 0;
      if (current > LATEST_POSTGRES_VERSION) {
        throw new StoreOpenError(
          `The PostgreSQL store ${this.location} has schema version ${current}, written by a newer take-a-number; ` +
            `this one knows versions up to ${LATEST_POSTGRES_VERSION}. Upgrade take-a-number.`,
        );
      }
      if (current < LATEST_POSTGRES_VERSION && !migrate) {
        throw new StoreOpenError(
          `The PostgreSQL store ${this.location} has schema version ${current}; run 'take-a-number migrate' first.`,
        );
      }
      for (const migration of POSTGRES_MIGRATIONS) {
        if (migration.version <= current) continue;
        await client.query(migration.sql);
        await client.query('INSERT INTO takeanumber_schema_migrations (version, description) VALUES ($1, $2)', [
          migration.version,
          migration.description,
        ]);
      }
      // A table dropped by hand (or a damaged schema) would make every request fail later: refuse now.
      const tables = promisedTables(POSTGRES_MIGRATIONS, LATEST_POSTGRES_VERSION);
      const { rows: found } = await client.query<{ name: string }>(
        "SELECT c.relname AS name FROM pg_class c WHERE c.relkind IN ('r', 'p') AND c.relname = ANY($1::text[]) AND pg_table_is_visible(c.oid)",
        [tables],
      );
      const missing = tables.filter((table) => !found.some((row) => row.name === table));
      if (missing.length > 0) {
        throw new StoreOpenError(
          `The PostgreSQL store ${this.location} has no ${missing.join(', ')} table${missing.length === 1 ? '' : 's'}, which its schema ` +
            'version has: it was changed by hand or damaged. It is left untouched and no counter is reset: restore it from a backup.',
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async #transaction<R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  allocate(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> {
    return reportingFaults(this.#allocate(requests));
  }

  async #allocate(requests: readonly AllocationRequest[]): Promise<AllocationOutcome[]> {
    const outcomes: (AllocationOutcome | undefined)[] = new Array<AllocationOutcome | undefined>(requests.length);
    // Idempotency keys: known ones replay (or are refused); a key repeated in
    // the batch follows its first occurrence.
    const keyed = requests.flatMap((request, index) => (request.idempotency === undefined ? [] : [{ index, request }]));
    const firstWithKey = new Map<string, Slot>();
    const followers: Slot[] = [];
    if (keyed.length > 0) {
      const prior = await this.#keys(keyed.map((slot) => slot.request));
      for (const slot of keyed) {
        const id = keyId(slot.request);
        const known = prior.get(id);
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
          ? replayOrRefuse(
              {
                request_count: leader.request.idempotency?.requestCount?.toString() ?? null,
                first_value: answer.first.toString(),
                last_value: answer.last.toString(),
              },
              follower.request,
            )
          : await this.#allocateOne(follower);
    }
    return outcomes.map((outcome) => {
      if (outcome === undefined) throw new Error('a request of the batch got no outcome');
      return outcome;
    });
  }

  async #allocateOne(slot: Slot): Promise<AllocationOutcome> {
    const outcomes: (AllocationOutcome | undefined)[] = [];
    await this.#allocatePending([{ index: 0, request: slot.request }], outcomes);
    return outcomes[0] as AllocationOutcome;
  }

  /** The coalesced path: one statement for every sequence of the batch; the rare rest per sequence. */
  async #allocatePending(pending: readonly Slot[], outcomes: (AllocationOutcome | undefined)[]): Promise<void> {
    if (pending.length === 0) return;
    const groups = new Map<string, Slot[]>();
    for (const slot of pending) {
      const group = groups.get(slot.request.name);
      if (group === undefined) groups.set(slot.request.name, [slot]);
      else group.push(slot);
    }
    const cached = [...groups.keys()].filter((name) => this.#segments.has(name));
    const coalesced = [...groups.keys()].filter((name) => !this.#segments.has(name));

    const leftovers: { name: string; found: boolean; cache: bigint }[] = [];
    if (coalesced.length > 0) {
      const names: string[] = [];
      const totals: string[] = [];
      const keyColumns: [string[], string[], (string | null)[], string[], string[]] = [[], [], [], [], []];
      for (const name of coalesced) {
        const group = groups.get(name) as Slot[];
        let offset = 0n;
        for (const { request } of group) {
          if (request.idempotency !== undefined) {
            keyColumns[0].push(request.idempotency.key);
            keyColumns[1].push(name);
            keyColumns[2].push(request.idempotency.requestCount?.toString() ?? null);
            keyColumns[3].push(offset.toString());
            keyColumns[4].push(request.count.toString());
          }
          offset += request.count;
        }
        names.push(name);
        totals.push(offset.toString());
      }
      const { rows } = await this.#pool.query<{
        name: string;
        last_value: string | null;
        increment: string | null;
        found: boolean;
        cache: string | null;
        inserted: string[] | null;
      }>({
        // Named: each connection parses and plans it once, not once per batch.
        name: 'takeanumber_allocate_2',
        text: `WITH r AS (SELECT * FROM unnest($1::text[], $2::numeric[]) AS r(name, total)),
         u AS (
           UPDATE ${T} s SET last_value = ${ADVANCED('r.total')}::bigint, is_called = true, ${WIDENED(ADVANCED('r.total'))},
             updated_at = now()
           FROM r
           WHERE s.name = r.name AND s.cache = 1 AND s.deleted_at IS NULL AND ${ADVANCED('r.total')} BETWEEN s.min_value AND s.max_value
           RETURNING s.name, s.last_value, s.increment
         ),
         k AS (
           INSERT INTO ${K} (key, name, request_count, first_value, last_value)
           SELECT k.key, k.name, k.request_count,
                  (u.last_value - (r.total - 1 - k.off) * u.increment)::bigint,
                  (u.last_value - (r.total - k.off - k.count) * u.increment)::bigint
           FROM unnest($3::text[], $4::text[], $5::int8[], $6::numeric[], $7::numeric[]) AS k(key, name, request_count, off, count)
           JOIN u ON u.name = k.name JOIN r ON r.name = k.name
           ON CONFLICT (name, key) DO NOTHING
           RETURNING name || chr(10) || key AS id
         )
         SELECT r.name, u.last_value, u.increment, s.name IS NOT NULL AND s.deleted_at IS NULL AS found, s.cache,
                (SELECT array_agg(id) FROM k) AS inserted
         FROM r LEFT JOIN u ON u.name = r.name LEFT JOIN ${T} s ON s.name = r.name`,
        values: [names, totals, ...keyColumns],
      });
      const inserted = new Set(rows[0]?.inserted ?? []);
      for (const row of rows) {
        const group = groups.get(row.name) as Slot[];
        if (row.last_value === null || row.increment === null) {
          leftovers.push({ name: row.name, found: row.found, cache: BigInt(row.cache ?? '1') });
          continue;
        }
        const increment = BigInt(row.increment);
        let next = BigInt(row.last_value) - (totalOf(group) - 1n) * increment;
        for (const slot of group) {
          const first = next;
          const last = first + (slot.request.count - 1n) * increment;
          next = last + increment;
          outcomes[slot.index] =
            slot.request.idempotency === undefined || inserted.has(keyId(slot.request))
              ? { ok: true, first, last, replayed: false }
              : await this.#settleKeyConflict(slot.request);
        }
      }
    }

    for (const leftover of leftovers) {
      const group = groups.get(leftover.name) as Slot[];
      if (leftover.found && leftover.cache > 1n) cached.push(leftover.name);
      else await this.#allocateLocked(leftover.name, group, outcomes);
    }
    for (const name of cached) await this.#allocateCached(name, groups.get(name) as Slot[], outcomes);
  }

  /**
   * The rare cases, sequence by sequence, with the row locked: a missing
   * sequence (created with defaults), a batch at the bound, a cycle.
   */
  async #allocateLocked(name: string, group: readonly Slot[], outcomes: (AllocationOutcome | undefined)[]): Promise<void> {
    const segmentNeeded = await this.#transaction(async (client) => {
      let record = await this.#lockRow(client, name);
      if (record === undefined || record.deletedAt !== undefined) {
        if (!group.some((slot) => slot.request.create)) {
          for (const slot of group) outcomes[slot.index] = { ok: false, reason: 'not_found' };
          return false;
        }
        // First use, or first use again after a delete (continuing after its values, the row
        // locked). Another instance may create it at the same moment: theirs or ours, the row is then locked below.
        if (record === undefined) {
          await insertSequence(client, name, firstUseState(undefined), { onConflict: 'ON CONFLICT (name) DO NOTHING' });
        } else {
          await replaceSequence(client, name, firstUseState(record.issued));
        }
        record = await this.#lockRow(client, name);
        if (record === undefined) throw new Error(`sequence '${name}' vanished while being created`);
      }
      if (record.options.cache > 1n) return true;
      let position: SequencePosition = record.position;
      let issued = record.issued;
      const keys: { slot: Slot; first: bigint; last: bigint }[] = [];
      for (const slot of group) {
        const taken = allocateValues(position, record.options, slot.request.count);
        if (!taken.ok) {
          outcomes[slot.index] = { ok: false, reason: 'exhausted' };
          continue;
        }
        position = taken.position;
        issued = widen(issued, taken.first, taken.last);
        outcomes[slot.index] = { ok: true, first: taken.first, last: taken.last, replayed: false };
        if (slot.request.idempotency !== undefined) keys.push({ slot, first: taken.first, last: taken.last });
      }
      if (position !== record.position) {
        await client.query(
          `UPDATE ${T} SET last_value = $2, is_called = $3, issued_low = $4, issued_high = $5, updated_at = now() WHERE name = $1`,
          [name, position.lastValue.toString(), position.isCalled, issued?.low.toString() ?? null, issued?.high.toString() ?? null],
        );
      }
      await this.#insertKeys(client, keys, outcomes);
      return false;
    });
    if (segmentNeeded) await this.#allocateCached(name, group, outcomes);
  }

  async #lockRow(client: pg.PoolClient, name: string): Promise<(SequenceRecord & { version: bigint }) | undefined> {
    const { rows } = await client.query<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM ${T} WHERE name = $1 FOR UPDATE`, [name]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  /** Records the keys of fresh answers; a key another instance recorded first turns the answer into its replay. */
  async #insertKeys(
    client: pg.PoolClient | pg.Pool,
    keys: readonly { slot: Slot; first: bigint; last: bigint }[],
    outcomes: (AllocationOutcome | undefined)[],
  ): Promise<void> {
    if (keys.length === 0) return;
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO ${K} (key, name, request_count, first_value, last_value)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[])
       ON CONFLICT (name, key) DO NOTHING RETURNING name || chr(10) || key AS id`,
      [
        keys.map((k) => k.slot.request.idempotency?.key),
        keys.map((k) => k.slot.request.name),
        keys.map((k) => k.slot.request.idempotency?.requestCount?.toString() ?? null),
        keys.map((k) => k.first.toString()),
        keys.map((k) => k.last.toString()),
      ],
    );
    const inserted = new Set(rows.map((row) => row.id));
    for (const { slot } of keys) {
      if (!inserted.has(keyId(slot.request))) outcomes[slot.index] = await this.#settleKeyConflict(slot.request);
    }
  }

  async #settleKeyConflict(request: AllocationRequest): Promise<AllocationOutcome> {
    const known = (await this.#keys([request])).get(keyId(request));
    // Values taken meanwhile are skipped (a gap); the first answer stands.
    return known === undefined ? { ok: false, reason: 'key_reused' } : replayOrRefuse(known, request);
  }

  /** The recorded answers of these requests' idempotency keys (keys are per sequence), by keyId. */
  async #keys(requests: readonly AllocationRequest[]): Promise<Map<string, KeyRow>> {
    const { rows } = await this.#pool.query<KeyRow & { id: string }>(
      `SELECT name || chr(10) || key AS id, request_count, first_value, last_value FROM ${K}
       WHERE (name, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [requests.map((request) => request.name), requests.map((request) => request.idempotency?.key ?? '')],
    );
    return new Map(rows.map((row) => [row.id, row]));
  }

  /** cache > 1: values from this instance's blocks, refilled (and prefetched) from the database. */
  async #allocateCached(name: string, group: readonly Slot[], outcomes: (AllocationOutcome | undefined)[]): Promise<void> {
    const keys: { slot: Slot; first: bigint; last: bigint }[] = [];
    for (const slot of group) {
      const taken = await this.#takeCached(name, slot.request);
      if (taken === 'not_found' && slot.request.create) {
        // Deleted meanwhile: created afresh, with its defaults.
        await this.#allocateLocked(name, [slot], outcomes);
        continue;
      }
      if (taken === 'not_found' || taken === 'exhausted') {
        outcomes[slot.index] = { ok: false, reason: taken };
        continue;
      }
      outcomes[slot.index] = { ok: true, first: taken.first, last: taken.last, replayed: false };
      if (slot.request.idempotency !== undefined) keys.push({ slot, ...taken });
    }
    await this.#insertKeys(this.#pool, keys, outcomes);
  }

  async #takeCached(name: string, request: AllocationRequest): Promise<{ first: bigint; last: bigint } | 'not_found' | 'exhausted'> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const segment = this.#segments.get(name);
      if (segment !== undefined) {
        const fromCurrent = segment.current === undefined ? undefined : takeFromBlock(segment.current, request.count);
        if (fromCurrent !== undefined) {
          segment.current = fromCurrent.rest;
          this.#prefetch(name, segment);
          return fromCurrent;
        }
        if (segment.refilling !== undefined) {
          await segment.refilling.catch(() => undefined);
        }
        if (segment.next !== undefined) {
          segment.current = segment.next;
          segment.next = undefined;
          continue;
        }
      }
      const reserved = await this.#reserveBlock(name, request.count);
      if (typeof reserved === 'string') {
        this.#segments.delete(name);
        return reserved;
      }
      if (reserved.block.options.cache === 1n) {
        // No longer cached (changed elsewhere): this block is exactly the request; back to the coalesced path.
        this.#segments.delete(name);
        const taken = takeFromBlock(reserved.block, request.count);
        return taken ?? 'exhausted';
      }
      const fresh = this.#segments.get(name);
      if (fresh === undefined || fresh.version !== reserved.version) {
        this.#segments.set(name, { version: reserved.version, options: reserved.block.options, current: reserved.block, next: undefined, refilling: undefined });
      } else {
        fresh.current = reserved.block;
      }
    }
    return 'exhausted';
  }

  /** Starts fetching the next block once the current one is half used. */
  #prefetch(name: string, segment: Segment): void {
    if (segment.next !== undefined || segment.refilling !== undefined || segment.current === undefined) return;
    const { increment, cache } = segment.options;
    const left = (segment.current.last - segment.current.next) / increment + 1n;
    if (left * 2n > cache) return;
    segment.refilling = this.#reserveBlock(name, 1n)
      .then((reserved) => {
        if (typeof reserved === 'string') return;
        if (reserved.version !== segment.version) {
          // Reset or changed elsewhere: what this instance holds is stale.
          this.#segments.delete(name);
          return;
        }
        segment.next = reserved.block;
      })
      .catch(() => undefined)
      .finally(() => {
        segment.refilling = undefined;
      });
  }

  /** Reserves one block in one statement; at a bound or for a cycle, with the row locked. */
  async #reserveBlock(
    name: string,
    count: bigint,
  ): Promise<{ block: Block; version: bigint } | 'not_found' | 'exhausted'> {
    const { rows } = await this.#pool.query<RecordRow & { total: string }>({
      name: 'takeanumber_reserve_2',
      text: `UPDATE ${T} s SET last_value = ${ADVANCED('greatest($2::numeric, s.cache)')}::bigint, is_called = true,
         ${WIDENED(ADVANCED('greatest($2::numeric, s.cache)'))}, updated_at = now()
       WHERE s.name = $1 AND s.cache > 1 AND s.deleted_at IS NULL AND ${ADVANCED('greatest($2::numeric, s.cache)')} BETWEEN s.min_value AND s.max_value
       RETURNING ${RECORD_COLUMNS.replaceAll('created_at', 's.created_at').replaceAll('updated_at', 's.updated_at')}, greatest($2::numeric, s.cache) AS total`,
      values: [name, count.toString()],
    });
    const row = rows[0];
    if (row !== undefined) {
      const record = toRecord(row);
      const { increment } = record.options;
      const last = record.position.lastValue;
      return { block: { options: record.options, next: last - (BigInt(row.total) - 1n) * increment, last }, version: record.version };
    }
    return this.#transaction(async (client) => {
      const record = await this.#lockRow(client, name);
      if (record === undefined || record.deletedAt !== undefined) return 'not_found';
      const reserved = reserve(record.position, record.options, count);
      if (!reserved.ok) return 'exhausted';
      const issued = widen(record.issued, reserved.first, reserved.last);
      await client.query(`UPDATE ${T} SET last_value = $2, is_called = true, issued_low = $3, issued_high = $4, updated_at = now() WHERE name = $1`, [
        name,
        reserved.position.lastValue.toString(),
        issued.low.toString(),
        issued.high.toString(),
      ]);
      return { block: { options: record.options, next: reserved.first, last: reserved.last }, version: record.version };
    });
  }

  getSequence(name: string): Promise<SequenceRecord | undefined> {
    return reportingFaults(this.#getSequence(name));
  }

  async #getSequence(name: string): Promise<SequenceRecord | undefined> {
    const { rows } = await this.#pool.query<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM ${T} WHERE name = $1 AND deleted_at IS NULL`, [name]);
    return rows[0] === undefined ? undefined : withoutVersion(toRecord(rows[0]));
  }

  listSequences(query: ListQuery): Promise<SequenceRecord[]> {
    return reportingFaults(this.#listSequences(query));
  }

  async #listSequences(query: ListQuery): Promise<SequenceRecord[]> {
    const useAfter = query.after !== undefined && query.after >= query.prefix;
    const { rows } = await this.#pool.query<RecordRow>(
      `SELECT ${RECORD_COLUMNS} FROM ${T}
       WHERE ${useAfter ? 'name > $1' : 'name >= $1'} AND starts_with(name, $2)
         AND deleted_at IS ${query.deleted === true ? 'NOT NULL' : 'NULL'}
       ORDER BY name LIMIT $3`,
      [useAfter ? query.after : query.prefix, query.prefix, query.limit],
    );
    return rows.map((row) => withoutVersion(toRecord(row)));
  }

  modifySequence<R>(
    name: string,
    decide: (current: SequenceRecord | undefined) => { readonly write: SequenceWrite; readonly result: R },
  ): Promise<R> {
    return reportingFaults(this.#modifySequence(name, decide));
  }

  async #modifySequence<R>(
    name: string,
    decide: (current: SequenceRecord | undefined) => { readonly write: SequenceWrite; readonly result: R },
  ): Promise<R> {
    this.#segments.delete(name);
    return this.#transaction(async (client) => {
      const current = await this.#lockRow(client, name);
      const { write, result } = decide(current === undefined ? undefined : withoutVersion(current));
      if (write.kind === 'put' && current === undefined) {
        await insertSequence(client, name, write);
      } else if (write.kind === 'put') {
        await replaceSequence(client, name, write);
      } else if (write.kind === 'delete' && current !== undefined) {
        await burySequence(client, name, write.tombstone);
      } else if (write.kind === 'forget') {
        await client.query(`DELETE FROM ${T} WHERE name = $1`, [name]);
        await client.query(`DELETE FROM ${K} WHERE name = $1`, [name]);
      }
      return result;
    });
  }

  purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    return reportingFaults(this.#purgeIdempotencyKeys(before, limit));
  }

  async #purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    const result = await this.#pool.query(
      `DELETE FROM ${K} WHERE (name, key) IN
         (SELECT name, key FROM ${K} WHERE created_at < to_timestamp($1::float8 / 1000) ORDER BY created_at LIMIT $2)`,
      [before, limit],
    );
    return result.rowCount ?? 0;
  }

  importSequences(entries: readonly ImportEntry[]): Promise<ImportSummary> {
    return reportingFaults(this.#import(entries));
  }

  /** Both import formats: one transaction, the rows locked, decided by the import rules (import-rules.ts), all or nothing. */
  #import(entries: readonly ImportEntry[]): Promise<ImportSummary> {
    return this.#transaction(async (client) => {
      // Locked in name order, as every transaction that locks several rows here: no deadlock between imports.
      const { rows } = await client.query<RecordRow>(
        `SELECT ${RECORD_COLUMNS} FROM ${T} WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE`,
        [entries.map((entry) => entry.name)],
      );
      const held = new Map(rows.map((row) => [row.name, toRecord(row)]));
      const { writes, summary } = planImport(entries, (name) => heldOf(held.get(name)));
      for (const { name, decision } of writes) {
        this.#segments.delete(name);
        const row = held.get(name);
        if (decision.kind === 'deleted') {
          if (row === undefined) {
            await insertSequence(client, name, { options: DEFAULT_OPTIONS, position: initialPosition(DEFAULT_OPTIONS), issued: decision.issued }, { deleted: true });
          } else {
            await burySequence(client, name, decision.issued);
          }
        } else if (row === undefined) {
          await insertSequence(client, name, decision.state);
        } else {
          await replaceSequence(client, name, decision.state);
        }
      }
      return summary;
    });
  }

  ping(): Promise<void> {
    return reportingFaults(this.#ping());
  }

  async #ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#segments.values()].map((segment) => segment.refilling ?? Promise.resolve()));
    await this.#pool.end();
  }
}

function withoutVersion(record: SequenceRecord & { version: bigint }): SequenceRecord {
  const { name, options, position, issued, createdAt, updatedAt, deletedAt } = record;
  return { name, options, position, issued, createdAt, updatedAt, deletedAt };
}

function totalOf(group: readonly Slot[]): bigint {
  return group.reduce((sum, slot) => sum + slot.request.count, 0n);
}

/** Identifies an idempotency key, which is per sequence (a name holds no newline: control characters are refused). */
function keyId(request: AllocationRequest): string {
  return `${request.name}\n${request.idempotency?.key ?? ''}`;
}

function replayOrRefuse(known: KeyRow, request: AllocationRequest): AllocationOutcome {
  const requestCount = request.idempotency?.requestCount?.toString() ?? null;
  return known.request_count === requestCount
    ? { ok: true, first: BigInt(known.first_value), last: BigInt(known.last_value), replayed: true }
    : { ok: false, reason: 'key_reused' };
}
