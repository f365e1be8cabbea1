/**
 * A PostgreSQL store missing a table its schema version has (dropped by hand,
 * a partial restore) is refused at start with a message naming it, as a SQLite
 * store is: never a server that starts and then answers 503 for ever.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
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
