/**
 * Calendar periods and formats on PostgreSQL, beyond the store contract: the
 * database's clock decides the period (two instances whose process clocks
 * are a year apart agree, and a clock of the test's, set in a table, crosses
 * boundaries at will), the cached and coalesced paths leave such sequences to
 * the locked one, gapless values keep the period they were first handed out
 * in, and a schema 4 database is migrated once by instances starting together.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import pg from 'pg';
import { defineSequence } from '../src/core/admin.js';
import type { SettleAction } from '../src/core/gapless.js';
import type { AnswerLabels } from '../src/core/periodic.js';
import type { OptionChanges } from '../src/core/sequence.js';
import type { AllocationOutcome, AllocationRequest, SettleOutcome, SequenceStore } from '../src/core/store.js';
import { POSTGRES_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { startPostgres } from './helpers/postgres.js';

const postgres = await startPostgres();

const opened: PostgresStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

/** The test's database clock: a one-row table the store reads in place of clock_timestamp(). */
const TEST_CLOCK = '(SELECT at FROM test_clock)';

async function open(url: string, clock?: string): Promise<PostgresStore> {
  const store = await PostgresStore.open({ url, poolSize: 4, statementTimeoutMs: 5000 }, { migrate: true, ...(clock === undefined ? {} : { clock }) });
  opened.push(store);
  return store;
}

/** A fresh database with the test clock at `at` (ISO), and a function that moves it. */
async function clockedDatabase(at: string): Promise<{ url: string; setClock: (at: string) => Promise<void> }> {
  const url = await postgres.newDatabase();
  const setClock = async (to: string): Promise<void> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE TABLE IF NOT EXISTS test_clock (at timestamptz NOT NULL)');
      await client.query('DELETE FROM test_clock');
      await client.query('INSERT INTO test_clock (at) VALUES ($1)', [to]);
    } finally {
      await client.end();
    }
  };
  await setClock(at);
  return { url, setClock };
}

const next = (name: string, count = 1n, key?: string): AllocationRequest => ({
  name,
  count,
  create: false,
  idempotency: key === undefined ? undefined : { key, requestCount: count === 1n ? undefined : count },
});

type Taken = { first: bigint; last: bigint; labels: AnswerLabels | undefined };

function taken(outcome: AllocationOutcome | undefined): Taken {
  assert.ok(outcome?.ok === true, `refused: ${outcome?.ok === false ? outcome.reason : 'no outcome'}`);
  return { first: outcome.first, last: outcome.last, labels: outcome.labels };
}

async function take(store: SequenceStore, name: string, count = 1n, key?: string): Promise<Taken> {
  const [outcome] = await store.allocateBatch([next(name, count, key)]);
  return taken(outcome);
}

const labels = (period: string | undefined, formatted?: string, lastFormatted = formatted): AnswerLabels => ({ period, formatted, lastFormatted });

async function settle(store: SequenceStore, name: string, id: string, action: SettleAction): Promise<SettleOutcome> {
  const [outcome] = await store.settleBatch([{ name, id, action, reason: undefined }]);
  assert.ok(outcome !== undefined);
  return outcome;
}

const yearly: OptionChanges = { restart: 'yearly', format: 'INV-{yyyy}-{value:6}' };

describe('PostgreSQL periods and formats', () => {
  it('restarts at a period boundary of the database clock, never goes back, and replays a key with its labels', async () => {
    const { url, setClock } = await clockedDatabase('2026-12-31T23:59:58Z');
    const store = await open(url, TEST_CLOCK);
    await defineSequence(store, 'inv', yearly);
    await defineSequence(store, 'fmt', { format: 'ORD-{yyyy}{mm}{dd}-{value:3}' });
    await defineSequence(store, 'blocks', { ...yearly, cache: 10n });
    await defineSequence(store, 'plain', {});

    assert.deepEqual(await take(store, 'inv'), { first: 1n, last: 1n, labels: labels('2026', 'INV-2026-000001') });
    assert.deepEqual(await take(store, 'inv', 2n, 'k'), { first: 2n, last: 3n, labels: labels('2026', 'INV-2026-000002', 'INV-2026-000003') });
    assert.deepEqual(await take(store, 'blocks'), { first: 1n, last: 1n, labels: labels('2026', 'INV-2026-000001') });
    assert.equal((await store.getSequence('inv'))?.period?.label, '2026');

    await setClock('2027-01-01T00:00:00Z');
    // One batch: a plain sequence beside sequences with labels, each answered by its own path.
    const outcomes = await store.allocateBatch([next('plain'), next('inv'), next('fmt'), next('blocks'), next('inv')]);
    assert.deepEqual(outcomes.map(taken), [
      { first: 1n, last: 1n, labels: undefined },
      { first: 1n, last: 1n, labels: labels('2027', 'INV-2027-000001') },
      { first: 1n, last: 1n, labels: labels(undefined, 'ORD-20270101-001') },
      { first: 1n, last: 1n, labels: labels('2027', 'INV-2027-000001') },
      { first: 2n, last: 2n, labels: labels('2027', 'INV-2027-000002') },
    ]);
    const record = await store.getSequence('inv');
    assert.deepEqual(record?.period, { label: '2027', startsAt: Date.UTC(2027, 0, 1), endsAt: Date.UTC(2028, 0, 1) });
    assert.deepEqual(record.issued, { low: 1n, high: 2n }, 'the marks are per period');

    // A key answered in 2026 replays its 2026 answer.
    assert.deepEqual(await take(store, 'inv', 2n, 'k'), { first: 2n, last: 3n, labels: labels('2026', 'INV-2026-000002', 'INV-2026-000003') });

    // The database clock stepped back: still the recorded period, and its date never earlier than its first day.
    await setClock('2026-12-31T12:00:00Z');
    assert.deepEqual(await take(store, 'inv'), { first: 3n, last: 3n, labels: labels('2027', 'INV-2027-000003') });
    assert.deepEqual(await take(store, 'blocks'), { first: 2n, last: 2n, labels: labels('2027', 'INV-2027-000002') });
  });

  it('lets the database clock decide: two instances whose process clocks are a year apart agree, across a boundary, under load', async () => {
    const { url, setClock } = await clockedDatabase('2026-12-31T23:59:59Z');
    const a = await open(url, TEST_CLOCK);
    const b = await open(url, TEST_CLOCK);
    await defineSequence(a, 'inv', yearly);
    const realNow = Date.now.bind(Date);
    const answers: Taken[] = [];
    const burst = async (): Promise<void> => {
      // Each instance's requests are made with the process clock a year off in its own direction.
      const ahead = Array.from({ length: 20 }, () => {
        Date.now = () => realNow() + 365 * 86_400_000;
        return a.allocateBatch([next('inv')]);
      });
      const behind = Array.from({ length: 20 }, () => {
        Date.now = () => realNow() - 365 * 86_400_000;
        return b.allocateBatch([next('inv')]);
      });
      try {
        for (const [outcome] of await Promise.all([...ahead, ...behind])) answers.push(taken(outcome));
      } finally {
        Date.now = realNow;
      }
    };
    await burst();
    await setClock('2027-01-01T00:00:00Z');
    await burst();
    const byPeriod = new Map<string, bigint[]>();
    for (const answer of answers) {
      const period = answer.labels?.period ?? '';
      assert.equal(answer.labels?.formatted, `INV-${period}-${answer.first.toString().padStart(6, '0')}`);
      byPeriod.set(period, [...(byPeriod.get(period) ?? []), answer.first]);
    }
    const expected = Array.from({ length: 40 }, (_, i) => BigInt(i + 1));
    assert.deepEqual([...byPeriod.keys()].sort(), ['2026', '2027']);
    for (const values of byPeriod.values()) assert.deepEqual(values.sort((x, y) => (x < y ? -1 : 1)), expected, 'each period 1 to 40, once each');
  });

  it('reads the period from clock_timestamp() by default, whatever the process clock says', async () => {
    const url = await postgres.newDatabase();
    const store = await open(url);
    await defineSequence(store, 'inv', yearly);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ year: string }>("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY') AS year");
    await client.end();
    const realNow = Date.now.bind(Date);
    Date.now = () => Date.UTC(1999, 5, 1);
    try {
      assert.equal((await take(store, 'inv')).labels?.period, rows[0]?.year);
    } finally {
      Date.now = realNow;
    }
  });

  it('keeps each gapless value in the period it was first handed out in; settle answers carry it; confirmed_through speaks of the current period', async () => {
    const { url, setClock } = await clockedDatabase('2026-12-31T23:30:00Z');
    const store = await open(url, TEST_CLOCK);
    await defineSequence(store, 'g', { ...yearly, gapless: true, leaseSeconds: 3600 });
    const r1 = await store.allocateBatch([next('g'), next('g'), next('g')]);
    const grants = r1.map((outcome) => {
      assert.ok(outcome.ok && outcome.grant !== undefined);
      return { value: outcome.first, id: outcome.grant.id, labels: outcome.labels };
    });
    assert.deepEqual(grants.map((grant) => grant.labels?.formatted), ['INV-2026-000001', 'INV-2026-000002', 'INV-2026-000003']);
    const [one, two, three] = grants as [(typeof grants)[0], (typeof grants)[0], (typeof grants)[0]];
    assert.deepEqual(await settle(store, 'g', one.id, 'confirm'), {
      ok: true,
      answer: { value: 1n, state: 'confirmed', reason: undefined, labels: labels('2026', 'INV-2026-000001') },
      replayed: false,
    });
    assert.equal((await settle(store, 'g', two.id, 'release')).ok, true);

    await setClock('2027-01-01T00:00:10Z');
    // The released 2 of 2026 first, in its own period; then the new period from start.
    const r2 = (await store.allocateBatch([next('g'), next('g'), next('g')])).map((outcome) => {
      assert.ok(outcome.ok && outcome.grant !== undefined);
      return { value: outcome.first, id: outcome.grant.id, labels: outcome.labels };
    });
    assert.deepEqual(
      r2.map((grant) => [grant.value, grant.labels?.formatted]),
      [
        [2n, 'INV-2026-000002'],
        [1n, 'INV-2027-000001'],
        [2n, 'INV-2027-000002'],
      ],
    );
    const record = await store.getSequence('g');
    assert.equal(record?.period?.label, '2027');
    assert.equal(record.gapless?.confirmedThrough, undefined, 'nothing of 2027 settled yet');
    assert.equal(record.gapless?.reserved, 4, 'open values of every period are counted');
    const [again2026, first2027] = r2 as [(typeof r2)[0], (typeof r2)[0]];
    assert.deepEqual(await settle(store, 'g', first2027.id, 'confirm'), {
      ok: true,
      answer: { value: 1n, state: 'confirmed', reason: undefined, labels: labels('2027', 'INV-2027-000001') },
      replayed: false,
    });
    assert.deepEqual(await settle(store, 'g', again2026.id, 'void'), {
      ok: true,
      answer: { value: 2n, state: 'void', reason: undefined, labels: labels('2026', 'INV-2026-000002') },
      replayed: false,
    });
    assert.equal((await store.getSequence('g'))?.gapless?.confirmedThrough, 1n, 'the current period: 1 confirmed, 2 open');

    // A lease ends by the test clock: 3 of 2026 goes out again, still of 2026.
    await setClock('2027-01-01T00:45:00Z');
    const [late] = await store.allocateBatch([next('g')]);
    assert.ok(late?.ok === true);
    assert.deepEqual([late.first, late.labels?.formatted, late.tookExpired], [3n, 'INV-2026-000003', true]);
    assert.deepEqual(await settle(store, 'g', three.id, 'confirm'), { ok: false, reason: 'expired' });

    // A full read carries the labels of values and open reservations (an export moves them).
    const stored = await store.readGapless('g');
    assert.ok(stored !== undefined);
    assert.deepEqual(
      stored.values.map((value) => [value.value, value.state, value.labels?.period]),
      [
        [2n, 'void', '2026'],
        [3n, 'reserved', '2026'],
        [2n, 'reserved', '2027'],
      ],
    );
  });

  it('migrates a schema 4 database once, instances starting together: sequences without periods, gapless values of no period, keys replayed', async () => {
    const url = await postgres.newDatabase();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE TABLE takeanumber_schema_migrations (version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      for (const migration of POSTGRES_MIGRATIONS.filter((m) => m.version <= 4)) {
        await client.query(migration.sql);
        await client.query('INSERT INTO takeanumber_schema_migrations (version, description) VALUES ($1, $2)', [migration.version, migration.description]);
      }
      await client.query(
        `INSERT INTO takeanumber_sequences (name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, issued_low, issued_high, gapless, series_first)
         VALUES ('orders', 41, true, 1, 1, 1, 9223372036854775807, false, 1, 1, 41, false, NULL),
                ('g', 3, true, 1, 1, 1, 9223372036854775807, false, 1, 1, 3, true, 1)`,
      );
      await client.query("INSERT INTO takeanumber_idempotency_keys (key, name, request_count, first_value, last_value) VALUES ('k1', 'orders', NULL, 41, 41)");
      const far = Date.now() + 3_600_000;
      await client.query(
        `INSERT INTO takeanumber_gapless_values (name, value, state, reservation, expires_at, reason, updated_at)
         VALUES ('g', 1, 'free', NULL, NULL, NULL, 0), ('g', 3, 'reserved', 'AAAAAAAAAAAAAAAAAAAAAA', $1, NULL, 0)`,
        [far],
      );
      await client.query(
        "INSERT INTO takeanumber_gapless_reservations (name, id, value, expires_at, state) VALUES ('g', 'AAAAAAAAAAAAAAAAAAAAAA', 3, $1, 'reserved')",
        [far],
      );
    } finally {
      await client.end();
    }

    const stores = await Promise.all(Array.from({ length: 3 }, () => open(url)));
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    const { rows } = await check.query<{ version: number }>('SELECT version FROM takeanumber_schema_migrations ORDER BY version');
    await check.end();
    assert.deepEqual(
      rows.map((row) => row.version),
      [1, 2, 3, 4, 5],
      'each migration recorded once',
    );
    const [store] = stores as [PostgresStore];
    const orders = await store.getSequence('orders');
    assert.deepEqual(
      [orders?.options.restart, orders?.options.timeZone, orders?.options.format, orders?.period],
      ['never', 'UTC', null, undefined],
    );
    assert.deepEqual(await store.allocateBatch([{ ...next('orders', 1n, 'k1'), create: true }]), [
      { ok: true, first: 41n, last: 41n, replayed: true, grant: undefined, tookExpired: false, labels: undefined },
    ]);
    assert.deepEqual(await store.allocateBatch([next('orders')]), [
      { ok: true, first: 42n, last: 42n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
    ]);
    // The free 1 goes out again; the open reservation of 3 still settles; then a new value.
    const [free] = await store.allocateBatch([next('g')]);
    assert.deepEqual([free?.ok === true && free.first, free?.ok === true && free.labels], [1n, undefined]);
    assert.deepEqual(await settle(store, 'g', 'AAAAAAAAAAAAAAAAAAAAAA', 'confirm'), {
      ok: true,
      answer: { value: 3n, state: 'confirmed', reason: undefined, labels: undefined },
      replayed: false,
    });
    assert.equal((await take(store, 'g')).first, 4n);
    assert.equal((await store.getSequence('g'))?.gapless?.confirmedThrough, undefined, '1 is still open');

    // Periods given later: the sequence adopts the current period without restarting.
    await defineSequence(store, 'orders', { restart: 'yearly' });
    const after = await take(store, 'orders');
    assert.equal(after.first, 43n);
    assert.equal(after.labels?.period, String(new Date().getUTCFullYear()));
  });
});
