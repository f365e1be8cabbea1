import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import pg from 'pg';
import { createPool, inTransaction } from '../src/store/postgres/connection.js';
import { until } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';

/**
 * A connection that dies between two statements of a transaction (the
 * database restarting sends FATAL 57P01 to every connection) fails that
 * transaction, not the process: pg-pool does not listen for the errors of a
 * client while it is checked out, so unhandled, the 'error' event would crash
 * the server. Found by the gapless chaos test (test/chaos-postgres.test.ts),
 * whose reservations and settlements run several statements a transaction.
 */

const postgres = await startPostgres();

test('a connection ended between two statements of a transaction fails the transaction, and the pool carries on', async () => {
  const url = await postgres.newDatabase();
  const idleErrors: Error[] = [];
  const pool = createPool({ url, poolSize: 2, statementTimeoutMs: 5000 }, (error) => idleErrors.push(error));
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    let terminated = false;
    await assert.rejects(
      inTransaction(pool, async (client) => {
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const { rows: ended } = await admin.query<{ ended: boolean }>('SELECT pg_terminate_backend($1) AS ended', [rows[0]?.pid]);
        terminated = ended[0]?.ended === true;
        // The FATAL message arrives while no statement runs on this client.
        await sleep(300);
        await client.query('SELECT 1');
      }),
      /terminat|not queryable|Connection/i,
    );
    assert.ok(terminated, 'the backend was terminated');
    // The broken connection was discarded: the next transactions get working ones.
    for (let i = 0; i < 3; i += 1) {
      const { rows } = await inTransaction(pool, (client) => client.query<{ one: number }>('SELECT 1 AS one'));
      assert.equal(rows[0]?.one, 1);
    }
    await until(() => pool.totalCount <= 2, 2000, () => `pool of ${pool.totalCount} connections`);
    assert.deepEqual(idleErrors, [], 'the error was the transaction’s, not an idle connection’s');
  } finally {
    await admin.end();
    await pool.end();
  }
});
