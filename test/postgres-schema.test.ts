/**
 * The PostgreSQL schema: a store missing a table its schema version has
 * (dropped by hand, a partial restore) is refused at start with a message
 * naming it, as a SQLite store is: never a server that starts and then
 * answers 503 for ever. A store of an older version is migrated once, by
 * several instances starting together, keeping every row.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { LATEST_POSTGRES_VERSION, POSTGRES_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { promisedTables } from '../src/store/schema.js';
import { DEFAULT_OPTIONS } from '../src/core/sequence.js';
import { StoreOpenError } from '../src/core/store.js';
import { runCli } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';

const postgres = await startPostgres();

test('a PostgreSQL store missing its idempotency keys table is refused at start, by serve too, and left untouched', async () => {
  const url = await postgres.newDatabase();
  const store = await PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 });
  await store.allocateBatch([{ name: 'kept', count: 41n, create: true }]);
  await store.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('DROP TABLE takeanumber_idempotency_keys');
  await client.end();

  await assert.rejects(PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 }), (error: unknown) => {
    assert.ok(error instanceof StoreOpenError);
    assert.match(error.message, /has no takeanumber_idempotency_keys table, which its schema version has/);
    return true;
  });
  const served = await runCli(['serve', '--store', url, '--port', '0', '--host', '127.0.0.1']);
  assert.equal(served.code, 1, served.stdout);
  assert.match(served.stderr, /has no takeanumber_idempotency_keys table/);
  assert.doesNotMatch(served.stderr, /postgres:postgres@/, 'the password is never printed');

  const check = new pg.Client({ connectionString: url });
  await check.connect();
  const { rows } = await check.query<{ last_value: string }>("SELECT last_value FROM takeanumber_sequences WHERE name = 'kept'");
  await check.end();
  assert.deepEqual(rows, [{ last_value: '41' }], 'the counter is untouched');
});

test('schema version 4 promises the gapless tables, and a store missing one is refused at start', async () => {
  assert.equal(LATEST_POSTGRES_VERSION, 5);
  assert.deepEqual(promisedTables(POSTGRES_MIGRATIONS, 4).sort(), [
    'takeanumber_api_tokens',
    'takeanumber_gapless_reservations',
    'takeanumber_gapless_values',
    'takeanumber_idempotency_keys',
    'takeanumber_sequences',
  ]);
  assert.deepEqual(promisedTables(POSTGRES_MIGRATIONS, 3).sort(), ['takeanumber_api_tokens', 'takeanumber_idempotency_keys', 'takeanumber_sequences']);
  const url = await postgres.newDatabase();
  const store = await PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 });
  await store.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('DROP TABLE takeanumber_gapless_reservations');
  await client.end();
  await assert.rejects(PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 }), /has no takeanumber_gapless_reservations table/);
});

test('a schema 3 database is migrated once by instances starting together: every sequence not gapless, lease 300, keys replayed', async () => {
  const url = await postgres.newDatabase();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE takeanumber_schema_migrations (version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const migration of POSTGRES_MIGRATIONS.filter((m) => m.version <= 3)) {
      await client.query(migration.sql);
      await client.query('INSERT INTO takeanumber_schema_migrations (version, description) VALUES ($1, $2)', [migration.version, migration.description]);
    }
    await client.query(
      `INSERT INTO takeanumber_sequences (name, last_value, is_called, start_value, increment, min_value, max_value, cycle, cache, issued_low, issued_high)
       VALUES ('orders', 41, true, 1, 1, 1, 9223372036854775807, false, 1, 1, 41), ('blocks', 100, true, 1, 1, 1, 1000, false, 20, 1, 100)`,
    );
    await client.query("INSERT INTO takeanumber_idempotency_keys (key, name, request_count, first_value, last_value) VALUES ('k1', 'orders', NULL, 41, 41)");
  } finally {
    await client.end();
  }

  const stores = await Promise.all(Array.from({ length: 3 }, () => PostgresStore.open({ url, poolSize: 2, statementTimeoutMs: 5000 })));
  try {
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    const { rows } = await check.query<{ version: number }>('SELECT version FROM takeanumber_schema_migrations ORDER BY version');
    await check.end();
    assert.deepEqual(rows.map((row) => row.version), [1, 2, 3, 4, 5], 'each migration recorded once');

    const [store] = stores as [PostgresStore];
    for (const name of ['orders', 'blocks']) {
      const record = await store.getSequence(name);
      assert.ok(record !== undefined);
      assert.deepEqual([record.options.gapless, record.options.leaseSeconds], [false, DEFAULT_OPTIONS.leaseSeconds]);
      assert.equal(DEFAULT_OPTIONS.leaseSeconds, 300);
      assert.deepEqual([record.seriesFirst, record.gapless], [undefined, undefined]);
    }
    assert.equal((await store.getSequence('blocks'))?.options.cache, 20n);
    assert.deepEqual(await store.allocateBatch([{ name: 'orders', count: 1n, create: true, idempotency: { key: 'k1', requestCount: undefined } }]), [
      { ok: true, first: 41n, last: 41n, replayed: true, grant: undefined, tookExpired: false, labels: undefined },
    ]);
    assert.deepEqual(await store.allocateBatch([{ name: 'orders', count: 1n, create: true }]), [
      { ok: true, first: 42n, last: 42n, replayed: false, grant: undefined, tookExpired: false, labels: undefined },
    ]);
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
});
