/**
 * Fault injection through HTTP: the real app (app.inject) over a real store
 * (SQLite in a temp folder, PostgreSQL from the test server) wrapped in a
 * FaultyStore whose commits fail before writing, fail after writing, or hang.
 * Each fault must answer 503 store_unavailable with Retry-After, answer
 * nothing that is not durable, skip the values of a commit it reported as
 * failed, serve again once the fault clears, and leave the store on disk
 * ahead of everything answered (checked by reopening it).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/app.js';
import { parseJsonLossless } from '../src/json.js';
import { lastIssued } from '../src/core/sequence.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { AllocationRequest, SequenceStore } from '../src/core/store.js';
import { within } from './helpers/cli.js';
import { FaultyStore, type Commit, type FaultMode } from './helpers/faulty-store.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';

/** Where a test's store lives: opened for serving, and read separately to see what is durable. */
interface Place {
  open(): Promise<SequenceStore>;
  /** The last value the store has durably issued (reserved, for a cached sequence), read through a separate connection. */
  durableLastIssued(name: string): Promise<bigint>;
}

interface Backend {
  readonly label: string;
  /** A new, empty store. */
  create(): Promise<Place>;
}

async function lastIssuedIn(store: SequenceStore, name: string): Promise<bigint> {
  const record = await store.getSequence(name);
  assert.ok(record !== undefined, `no sequence ${name} in ${store.location}`);
  return lastIssued(record.position, record.options.increment);
}

const sqlite: Backend = {
  label: 'SQLite',
  create() {
    const path = join(tempDir(), 'faults.db');
    return Promise.resolve({
      open: () => Promise.resolve(SqliteStore.open(path, { mode: 'write' })),
      async durableLastIssued(name) {
        // A read-only connection beside the writer (as `export` does): it sees only committed transactions.
        const reader = SqliteStore.open(path, { mode: 'read' });
        try {
          return await lastIssuedIn(reader, name);
        } finally {
          await reader.close();
        }
      },
    });
  },
};

// One server for the file (started at the top level, so it lives until the file ends), a database per test.
const postgresServer = await startPostgres();

const postgres: Backend = {
  label: 'PostgreSQL',
  async create() {
    const url = await postgresServer.newDatabase();
    return {
      open: () => PostgresStore.open({ url, poolSize: 4, statementTimeoutMs: 5000 }),
      async durableLastIssued(name) {
        const reader = await PostgresStore.open({ url, poolSize: 1, statementTimeoutMs: 5000 }, { migrate: false });
        try {
          return await lastIssuedIn(reader, name);
        } finally {
          await reader.close();
        }
      },
    };
  },
};

/** A cache 1 and a cache 50 sequence. */
const SEQUENCES = [
  { name: 'c1', cache: 1 },
  { name: 'c50', cache: 50 },
] as const;

interface Sent {
  readonly name: string;
  readonly count?: bigint;
  readonly key?: string;
}

interface Answer {
  readonly sent: Sent;
  readonly status: number;
  readonly text: string;
  readonly code: unknown;
  readonly retryAfter: string | undefined;
  readonly replayed: boolean;
  /** The values answered (first … last), for a 200. */
  readonly first: bigint | undefined;
  readonly last: bigint | undefined;
}

function parse(response: LightMyRequestResponse): Record<string, unknown> {
  const parsed = parseJsonLossless(response.body);
  assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `not a JSON object: ${response.body}`);
  return parsed as Record<string, unknown>;
}

async function send(app: FastifyInstance, sent: Sent): Promise<Answer> {
  const response = await app.inject({
    method: 'POST',
    url: `/next/${encodeURIComponent(sent.name)}`,
    query: sent.count === undefined ? {} : { count: sent.count.toString() },
    headers: sent.key === undefined ? {} : { 'idempotency-key': sent.key },
  });
  const body = parse(response);
  const retryAfter = response.headers['retry-after'];
  let first: bigint | undefined;
  let last: bigint | undefined;
  if (response.statusCode === 200) {
    assert.equal(body.sequence_id, sent.name, response.body);
    assert.equal(typeof body.next_value, 'bigint', response.body);
    first = body.next_value as bigint;
    last = sent.count === undefined ? first : (body.last_value as bigint);
    if (sent.count !== undefined) assert.equal(last - first + 1n, sent.count, `a batch of ${sent.count}: ${response.body}`);
  }
  return {
    sent,
    status: response.statusCode,
    text: response.body,
    code: (body.error as { code?: unknown } | undefined)?.code,
    retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
    replayed: response.headers['idempotent-replayed'] === 'true',
    first,
    last,
  };
}

/** One round of traffic, sent concurrently: single values, batches and keyed requests on each sequence. */
function roundOf(label: string): Sent[] {
  return SEQUENCES.flatMap(({ name }) => [
    { name },
    { name },
    { name, count: 3n },
    { name, key: `${label}-${name}-single` },
    { name, count: 2n, key: `${label}-${name}-batch` },
    { name, count: 40n },
  ]);
}

function values(first: bigint, last: bigint): bigint[] {
  const all: bigint[] = [];
  for (let value = first; value <= last; value += 1n) all.push(value);
  return all;
}

function assertStoreUnavailable(answer: Answer): void {
  assert.equal(answer.status, 503, `${JSON.stringify(answer.sent, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}: ${answer.text}`);
  assert.equal(answer.code, 'store_unavailable', answer.text);
  assert.equal(answer.retryAfter, '1', 'a 503 store_unavailable carries Retry-After');
}

/**
 * Every value answered, per sequence, checked as it is recorded: a value is
 * answered once, except to a replay of the same idempotency key (which must
 * answer exactly the recorded values). Commits the store made but reported as
 * failed are "hidden": their values may be answered only to a replay of one
 * of their keys, never to anyone else.
 */
class Ledger {
  readonly #answered = new Map<string, Set<bigint>>();
  readonly #byKey = new Map<string, { first: bigint; last: bigint }>();
  readonly #hidden = new Map<string, { first: bigint; last: bigint }>();
  readonly #hiddenValues = new Map<string, Set<bigint>>();

  hide(commits: readonly Commit[]): void {
    for (const { requests, outcomes } of commits) {
      requests.forEach((request: AllocationRequest, index) => {
        const outcome = outcomes[index];
        if (outcome?.ok !== true || outcome.replayed) return;
        const set = this.#hiddenValues.get(request.name) ?? new Set<bigint>();
        this.#hiddenValues.set(request.name, set);
        for (const value of values(outcome.first, outcome.last)) set.add(value);
        if (request.idempotency !== undefined) this.#hidden.set(request.idempotency.key, { first: outcome.first, last: outcome.last });
      });
    }
  }

  record(answer: Answer): void {
    assert.equal(answer.status, 200, answer.text);
    const { first, last, sent } = answer;
    assert.ok(first !== undefined && last !== undefined);
    if (answer.replayed) {
      assert.ok(sent.key !== undefined, 'only a keyed request is replayed');
      const earlier = this.#byKey.get(sent.key);
      if (earlier !== undefined) {
        assert.deepEqual({ first, last }, earlier, `a replay of ${sent.key} answers what was answered first`);
        return;
      }
      const hidden = this.#hidden.get(sent.key);
      assert.ok(hidden !== undefined, `${sent.key} was replayed, but no commit recorded it: ${answer.text}`);
      assert.deepEqual({ first, last }, hidden, `a replay of ${sent.key} answers the values its commit recorded`);
      this.#hidden.delete(sent.key);
    } else {
      const hidden = this.#hiddenValues.get(sent.name);
      for (const value of values(first, last)) {
        assert.ok(hidden?.has(value) !== true, `${sent.name} answered ${value}, a value of a commit that was reported failed: ${answer.text}`);
      }
    }
    const seen = this.#answered.get(sent.name) ?? new Set<bigint>();
    this.#answered.set(sent.name, seen);
    for (const value of values(first, last)) {
      assert.ok(!seen.has(value), `${sent.name} answered ${value} twice (now: ${answer.text})`);
      seen.add(value);
    }
    if (sent.key !== undefined) this.#byKey.set(sent.key, { first, last });
  }

  /** The highest value answered, or written by a hidden commit, for a sequence. */
  highest(name: string): bigint {
    let top = 0n;
    for (const value of this.#answered.get(name) ?? []) if (value > top) top = value;
    for (const value of this.#hiddenValues.get(name) ?? []) if (value > top) top = value;
    return top;
  }

  highestAnswered(name: string): bigint {
    let top = 0n;
    for (const value of this.#answered.get(name) ?? []) if (value > top) top = value;
    return top;
  }
}

function lowest(answers: readonly Answer[], name: string): bigint {
  const firsts = answers.filter((a) => a.sent.name === name && !a.replayed).map((a) => a.first as bigint);
  assert.ok(firsts.length > 0, `no fresh answer for ${name}`);
  return firsts.reduce((a, b) => (b < a ? b : a));
}

/** The app over a FaultyStore around a store opened at `place`. */
class Harness {
  private constructor(
    readonly faulty: FaultyStore,
    readonly app: FastifyInstance,
  ) {}

  static async start(place: Place, commitTimeoutMs?: number): Promise<Harness> {
    const faulty = new FaultyStore(await place.open());
    const app = await buildApp({ store: faulty, commitTimeoutMs });
    await app.ready();
    return new Harness(faulty, app);
  }

  /** Sends a round; fails (rather than waits for ever) if it is not all answered within 10 s. */
  round(label: string): Promise<Answer[]> {
    return within(Promise.all(roundOf(label).map((sent) => send(this.app, sent))), 10_000, () => `round ${label}: not all answered within 10 s`);
  }

  async close(): Promise<void> {
    // A test that failed half-way must not leave a commit hanging: the app's close would wait for it.
    await this.faulty.release();
    await this.app.close();
    await this.faulty.close();
  }
}

/** After the current microtasks: the allocator has finished its bookkeeping of a commit that just ended. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function assertDurable(place: Place, ledger: Ledger, when: string): Promise<void> {
  for (const { name } of SEQUENCES) {
    const durable = await place.durableLastIssued(name);
    const answered = ledger.highestAnswered(name);
    assert.ok(answered <= durable, `${when}: ${name} answered ${answered}, but the store has durably issued only up to ${durable}`);
  }
}

/**
 * The whole story of one fault: traffic before, during (all 503) and after
 * it; retries of the failed keyed requests; and a restart from what is on
 * disk, whose values must lie beyond everything answered or hidden.
 */
async function faultStory(backend: Backend, mode: Exclude<FaultMode, 'pass'>): Promise<void> {
  const place = await backend.create();
  const ledger = new Ledger();
  let harness = await Harness.start(place, mode === 'hang' ? 300 : undefined);
  try {
    for (const { name, cache } of SEQUENCES) {
      const created = await harness.app.inject({ method: 'PUT', url: `/sequences/${name}`, payload: { cache } });
      assert.equal(created.statusCode, 201, created.body);
    }

    const before = await harness.round('before');
    for (const answer of before) ledger.record(answer);
    await assertDurable(place, ledger, 'before the fault');

    harness.faulty.setMode(mode);
    const delegatedBefore = harness.faulty.delegated.calls;
    const during = await harness.round('during');
    for (const answer of during) assertStoreUnavailable(answer);

    if (mode === 'fail-before-write') {
      assert.equal(harness.faulty.delegated.calls, delegatedBefore, 'nothing reached the real store');
    }
    if (mode === 'hang') {
      // The commit is still hung: new requests are refused at once, and none reaches the store.
      assert.equal(harness.faulty.hanging, 1, 'one commit is waiting at the gate');
      const stalled = await harness.round('stalled');
      for (const answer of stalled) assertStoreUnavailable(answer);
      assert.equal(harness.faulty.hanging, 1, 'no second commit started while the first hangs');
      const health = await harness.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200, 'the server itself is not blocked');
    }
    await assertDurable(place, ledger, 'during the fault');

    await within(harness.faulty.release(), 10_000, () => 'the released commit did not end within 10 s');
    await nextTurn();
    // The commits the store made but reported as failed (or too late): their values are skipped.
    ledger.hide(harness.faulty.failedAfterWrite);
    if (mode === 'hang') {
      assert.equal(harness.faulty.releasedAfterHang.length, 1, 'the hung commit went on after its release');
      ledger.hide(harness.faulty.releasedAfterHang);
    }
    if (mode === 'fail-after-write') assert.ok(harness.faulty.failedAfterWrite.length >= 1, 'a commit wrote and then failed');

    const after = await harness.round('after');
    for (const answer of after) ledger.record(answer);
    for (const { name } of SEQUENCES) {
      const beforeTop = before.filter((a) => a.sent.name === name).reduce((top, a) => ((a.last as bigint) > top ? (a.last as bigint) : top), 0n);
      assert.ok(lowest(after, name) > beforeTop, `${name}: values after the fault continue beyond those before it`);
    }
    // Values of hidden commits lie below everything answered after the fault (they are skipped, not handed out later).
    for (const { requests, outcomes } of [...harness.faulty.failedAfterWrite, ...(mode === 'hang' ? harness.faulty.releasedAfterHang : [])]) {
      requests.forEach((request, index) => {
        const outcome = outcomes[index];
        if (outcome?.ok === true && !outcome.replayed) {
          assert.ok(outcome.last < lowest(after, request.name), `${request.name}: ${outcome.first}..${outcome.last} of a failed commit are skipped`);
        }
      });
    }

    // The keyed requests that failed, retried now: each gets a valid answer and no one else's values.
    const retried = await within(
      Promise.all(during.filter((a) => a.sent.key !== undefined).map((a) => send(harness.app, a.sent))),
      10_000,
      () => 'the retries were not answered within 10 s',
    );
    for (const answer of retried) {
      ledger.record(answer);
      // Before writing, nothing recorded the key: the retry is new. A commit that wrote recorded it with its values.
      if (mode === 'fail-before-write') assert.equal(answer.replayed, false, answer.text);
    }
    await assertDurable(place, ledger, 'after the fault');

    // What is on disk is ahead of what was in memory: a fresh store and app continue beyond every value.
    await harness.close();
    harness = await Harness.start(place);
    const tops = new Map(SEQUENCES.map(({ name }) => [name, ledger.highest(name)]));
    const reopened = await harness.round('reopened');
    for (const answer of reopened) ledger.record(answer);
    for (const [name, top] of tops) {
      assert.ok(lowest(reopened, name) > top, `${name}: after reopening, values continue beyond ${top}, every value answered or written before`);
    }
    await assertDurable(place, ledger, 'after reopening');
  } finally {
    await harness.close();
  }
}

for (const backend of [sqlite, postgres]) {
  describe(`Faults of the ${backend.label} store, through HTTP`, () => {
    it('a commit that fails before writing: 503 store_unavailable, nothing taken, then serves again', () => faultStory(backend, 'fail-before-write'));
    it('a commit that fails after writing: 503 store_unavailable, its values skipped, then serves again', () => faultStory(backend, 'fail-after-write'));
    it('a hung commit: 503 store_unavailable after the commit timeout and at once while it hangs, then serves again', () =>
      faultStory(backend, 'hang'));
  });
}
